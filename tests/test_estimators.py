"""psinet.estimators against scikit-learn's own estimator checks, and in its tools.

``parametrize_with_checks`` runs every check scikit-learn has for a classifier and a
regressor, with no expected-failure list. The instances are small (16 hidden units, a
learning rate of 0.01, at most 60 epochs) so the whole set stays fast.
"""

import pickle
import subprocess
import sys

import numpy as np
import pytest

from _helpers import require_extra

sklearn = require_extra("sklearn", "sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from psinet import Network, evaluate, one_hot, trace  # noqa: E402
from psinet.datasets import load_digits, load_iris  # noqa: E402
from psinet.estimators import PsinetClassifier, PsinetRegressor  # noqa: E402

DIGITS = dict(learning_rate_init=0.01, max_iter=20, random_state=0)
SMALL = dict(hidden_layer_sizes=(16,), learning_rate_init=0.01, max_iter=60, random_state=0)


_CHECKS = parametrize_with_checks([PsinetClassifier(**SMALL), PsinetRegressor(**SMALL)])
# scikit-learn < 1.5 hands pytest a generator, which newer pytest deprecates: made a list.
_CHECKS = pytest.mark.parametrize(
    _CHECKS.mark.args[0], list(_CHECKS.mark.args[1]), **_CHECKS.mark.kwargs
)


@_CHECKS
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_pipeline_in_grid_search_and_cross_val_score_on_digits():
    X, y = load_digits()
    X, y = X[:600], y[:600]
    clf = PsinetClassifier(learning_rate_init=0.01, max_iter=20, random_state=0)
    pipe = make_pipeline(StandardScaler(), clf)
    grid = GridSearchCV(
        pipe,
        {"psinetclassifier__hidden_layer_sizes": [(16,), (32,)]},
        cv=2,
    )
    grid.fit(X, y)
    assert grid.best_params_["psinetclassifier__hidden_layer_sizes"] in [(16,), (32,)]
    assert grid.best_score_ > 0.85
    scores = cross_val_score(
        make_pipeline(StandardScaler(), PsinetClassifier((32,), **DIGITS)),
        *load_digits(),
        cv=3,
    )
    assert scores.mean() > 0.9, scores


def test_string_labels_binary_and_multiclass():
    X, y = load_iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = PsinetClassifier(**SMALL).fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert clf.predict(X).dtype == names.dtype and clf.score(X, names) > 0.9
    binary = np.where(y == 0, "setosa", "other")
    clf2 = PsinetClassifier(**SMALL).fit(X, binary)
    assert clf2.network_.sizes[-1] == 1 and clf2.out_activation_ == "sigmoid"
    proba = clf2.predict_proba(X)
    assert proba.shape == (150, 2) and np.allclose(proba.sum(1), 1)
    assert np.array_equal(clf2.classes_[proba.argmax(1)], clf2.predict(X))


def test_network_is_the_trained_psinet_network():
    X, y = load_iris()
    clf = PsinetClassifier(**SMALL).fit(X, y)
    net = clf.network_
    assert isinstance(net, Network) and net.sizes == (4, 16, 3)
    assert np.array_equal(net.predict(X), clf.predict_proba(X))
    scores = evaluate(net, X, one_hot(y, 3), "categorical_crossentropy")
    assert scores["accuracy"] == clf.score(X, y)
    assert "Ψ" in str(trace(net, X[:2], one_hot(y[:2], 3), "categorical_crossentropy"))
    assert len(clf.loss_curve_) == clf.n_iter_ == 60 and clf.n_features_in_ == 4
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_clone_pickle_set_params():
    X, y = load_iris()
    clf = PsinetClassifier(**SMALL)
    assert clf.set_params(max_iter=5, activation="tanh") is clf
    assert clf.get_params()["activation"] == "tanh"
    fitted = clf.fit(X, y)
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params() and not hasattr(copy, "network_")
    again = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))
    assert np.array_equal(copy.fit(X, y).predict_proba(X), fitted.predict_proba(X))  # seeded


def test_sample_weight_reaches_psinets_loss():
    X, y = load_iris()
    s = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    a = PsinetClassifier(**{**SMALL, "max_iter": 3}).fit(X, y, sample_weight=s)
    b = PsinetClassifier(**{**SMALL, "max_iter": 3}).fit(X, y)
    assert not np.array_equal(a.network_.weights[0], b.network_.weights[0])
    same = PsinetClassifier(**{**SMALL, "max_iter": 3}).fit(X, y, sample_weight=np.ones(150))
    assert np.array_equal(same.network_.weights[0], b.network_.weights[0])


def test_partial_fit_continues_training_and_needs_classes():
    X, y = load_iris()
    clf = PsinetClassifier(**SMALL)
    with pytest.raises(ValueError, match="classes="):
        clf.partial_fit(X, y)
    for _ in range(3):
        clf.partial_fit(X, y, classes=[0, 1, 2])
    assert clf.n_iter_ == 3 and len(clf.loss_curve_) == 3
    with pytest.raises(ValueError, match="not among the classes"):
        clf.partial_fit(X, np.full(150, 7))


def test_early_stopping_and_bad_parameters():
    X, y = load_iris()
    clf = PsinetClassifier(
        **{**SMALL, "max_iter": 500}, early_stopping=True, n_iter_no_change=3, tol=0.5
    ).fit(X, y)
    assert clf.n_iter_ < 500 and len(clf.validation_scores_) == clf.n_iter_
    assert len(clf.validation_losses_) == clf.n_iter_  # the losses; the scores: accuracies
    assert all(abs(s * 15 - round(s * 15)) < 1e-9 for s in clf.validation_scores_)  # k of 15
    for params, error, words in [
        ({"solver": "lbfgs"}, ValueError, "solver"),
        ({"hidden_layer_sizes": "10"}, TypeError, "hidden_layer_sizes"),
        ({"hidden_layer_sizes": (0,)}, ValueError, ">= 1"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"dtype": "float16"}, ValueError, "dtype"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"max_iter": 2.5}, TypeError, "max_iter"),
        ({"alpha": -1.0}, ValueError, "alpha"),
        ({"activation": "gelu"}, ValueError, "unknown activation"),
    ]:
        with pytest.raises(error, match=words):
            PsinetClassifier(**{**SMALL, **params}).fit(X, y)


def test_regressor_multi_output_and_float32():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    Y = np.column_stack([X[:, 0] - X[:, 1], np.tanh(X[:, 2])])
    reg = PsinetRegressor(
        **{**SMALL, "hidden_layer_sizes": (32,)}, activation="tanh", dtype="float32"
    )
    reg.fit(X, Y)
    assert reg.predict(X).shape == (200, 2) and reg.network_.dtype == np.float32
    assert reg.score(X, Y) > 0.9


def test_missing_sklearn_names_the_extra():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "try:\n    import psinet.estimators\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "psinet[sklearn]"' in out.stdout


def _frozen(value):
    """A value comparable with ==: arrays by dtype, shape and bytes, NaN equal to NaN,
    the network by its sizes, activations, dtype and weights, an optimizer by its state."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, Network):
        weights = tuple(_frozen(np.array(W)) for W in value.weights)
        return ("Network", value.sizes, tuple(map(str, value.activations)), weights)
    if isinstance(value, np.random.RandomState):
        return ("RandomState", _frozen(value.get_state(legacy=False)))
    if hasattr(value, "state_dict"):  # the optimizer
        return (type(value).__name__, _frozen(value.state_dict()))
    if isinstance(value, dict):
        return {k: _frozen(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, *map(_frozen, value))
    if isinstance(value, float) and value != value:
        return "nan"
    return value


def _snapshot(est, X):
    """Every attribute of ``est`` (vars, arrays by value, the network's weights) and,
    when fitted, its predictions on X (or the error they raise)."""
    state = {k: _frozen(v) for k, v in vars(est).items()}
    outputs = []
    if hasattr(est, "network_"):
        for method in ("predict", "predict_proba"):
            try:
                outputs.append(_frozen(getattr(est, method)(X)) if hasattr(est, method) else None)
            except (ValueError, TypeError) as exc:
                outputs.append(repr(exc))
    return state, outputs


def _refusals(Estimator, kind, first, X, y):
    """(what, parameters to set, arguments of the call): each input ``kind`` refuses."""
    n = len(X)
    negative = np.ones(n)
    negative[3] = -1.0
    bad_X = X.copy()
    bad_X[5, 1] = np.nan
    classes = (
        {"classes": np.unique(y)} if kind == "partial_fit" and Estimator is PsinetClassifier else {}
    )
    cases = [
        ("negative sample_weight", {}, (X, y), {"sample_weight": negative, **classes}),
        ("wrong-length sample_weight", {}, (X, y), {"sample_weight": np.ones(n - 1), **classes}),
        ("zero sample_weight", {}, (X, y), {"sample_weight": np.zeros(n), **classes}),
        ("NaN in X", {}, (bad_X, y), classes),
        ("other features", {}, (X[:, :3], y), classes),
        ("wrong-length y", {}, (X, y[:-1]), classes),
        ("bad alpha", {"alpha": -1.0}, (X, y), classes),
        ("bad solver", {"solver": "lbfgs"}, (X, y), classes),
        ("bad learning rate", {"learning_rate_init": -1.0}, (X, y), classes),
        ("bad batch_size", {"batch_size": 0}, (X, y), classes),
        ("bad hidden_layer_sizes", {"hidden_layer_sizes": (0,)}, (X, y), classes),
        ("bad activation", {"activation": "gelu"}, (X, y), classes),
        ("bad dtype", {"dtype": "float16"}, (X, y), classes),
        ("bad max_iter", {"max_iter": 0}, (X, y), classes),
        ("bad validation_fraction", {"early_stopping": True, "validation_fraction": 1.5},
         (X, y), classes),
        ("validation_fraction holding out 0", {"early_stopping": True,
         "validation_fraction": 1e-6}, (X, y), classes),
        ("bad n_iter_no_change", {"early_stopping": True, "n_iter_no_change": -1}, (X, y), classes),
        ("bad tol", {"tol": -1.0}, (X, y), classes),
        ("bad random_state", {"random_state": -1}, (X, y), classes),
    ]  # fmt: skip
    if first:  # a new network takes any number of features
        cases = [c for c in cases if c[0] != "other features"]
        lone = np.zeros(n)
        lone[7] = 1.0  # one side of the split weighs 0: psinet's fit refuses, after the seed
        cases.append(("one weighted sample, early stopping", {"early_stopping": True},
                      (X, y), {"sample_weight": lone, **classes}))  # fmt: skip
    else:  # a later call of partial_fit holds nothing out
        cases = [c for c in cases if c[0] != "validation_fraction holding out 0"]
    if kind == "partial_fit":  # one epoch
        cases = [c for c in cases if c[0] != "bad max_iter"]
    if Estimator is PsinetRegressor:
        return cases
    one_class_weighted = (y == y[0]).astype(float)
    cases.append(
        ("one class weighted", {}, (X, y), {"sample_weight": one_class_weighted, **classes})
    )
    if kind == "partial_fit":
        cases.append(("classes missing a label of y", {}, (X, y), {"classes": [0, 1]}))
        if first:
            cases.append(("no classes", {}, (X, y), {}))
            cases.append(("one class", {}, (X[y == 0], y[y == 0]), {"classes": [0]}))
        else:
            cases.append(("other classes", {}, (X, y), {"classes": [0, 1, 2, 3]}))
    return cases


def _fitted_by(how, est, X, y):
    """``est`` unfitted ("none"), fitted by fit ("fit") or by two partial_fit calls."""
    if how == "fit":
        est.fit(X, y)
    elif how == "partial_fit":
        extra = {"classes": np.unique(y)} if isinstance(est, PsinetClassifier) else {}
        est.partial_fit(X, y, **extra)
        est.partial_fit(X, y)
    return est


@pytest.mark.parametrize("Estimator", [PsinetClassifier, PsinetRegressor])
@pytest.mark.parametrize("kind", ["fit", "partial_fit"])
@pytest.mark.parametrize("how", ["none", "fit", "partial_fit"])
def test_a_refused_call_changes_nothing(Estimator, kind, how):
    """Everything is checked before anything is set: a refused fit or partial_fit leaves
    every attribute (arrays by value, the network's weights, the optimizer's state, a
    RandomState's state) and the predictions as they were, fitted or not."""
    X, y = load_iris()
    X, y = X[::2], y[::2]
    target = y if Estimator is PsinetClassifier else X[:, 0] - y
    first = how == "none" or kind == "fit"
    data = (X, target)  # fit is refused new data, which would replace every attribute:
    if kind == "fit":  # 3 features, other labels (other targets, 2 of them)
        other = target + 10 if Estimator is PsinetClassifier else np.column_stack([target] * 2)
        data = (X[:, :3], other)
    changed = {}
    for what, params, args, kwargs in _refusals(Estimator, kind, first, *data):
        est = Estimator(**{**SMALL, "max_iter": 3, "random_state": np.random.RandomState(0)})
        _fitted_by(how, est, X, target).set_params(**params)
        state, outputs = _snapshot(est, X)
        try:
            getattr(est, kind)(*args, **kwargs)
        except (ValueError, TypeError):
            pass
        else:
            changed[what] = ["not refused"]
            continue
        state_after, outputs_after = _snapshot(est, X)
        keys = sorted(k for k in {*state, *state_after} if state.get(k) != state_after.get(k))
        if keys or outputs_after != outputs:
            changed[what] = keys + (["predictions"] if outputs_after != outputs else [])
    assert not changed, f"a refused {kind} after {how!r} changed: {changed}"


def test_a_refused_call_leaves_no_labels_behind():
    """The issue's two cases: the old network does not answer with the new labels, and a
    refused first partial_fit's classes do not reach a later fit."""
    X, y = load_iris()
    clf = PsinetClassifier(**{**SMALL, "max_iter": 3}).fit(X, y)
    labels = clf.predict(X)
    negative = np.ones(150)
    negative[0] = -1.0
    names = np.array(["a", "b", "c", "d"])[np.arange(150) % 4]
    with pytest.raises(ValueError, match="sample_weight"):
        clf.fit(X[:, :3], names, sample_weight=negative)
    assert list(clf.classes_) == [0, 1, 2] and clf.n_features_in_ == 4
    assert np.array_equal(clf.predict(X), labels)
    fresh = PsinetClassifier(**{**SMALL, "max_iter": 3})
    with pytest.raises(ValueError, match="sample_weight"):
        fresh.partial_fit(X, y, classes=range(7), sample_weight=negative)
    assert not hasattr(fresh, "classes_") and not hasattr(fresh, "n_features_in_")
    assert fresh.fit(X, y).network_.sizes[-1] == 3 and list(fresh.classes_) == [0, 1, 2]


def _held_out_part(est, X, y, sample_weight=None):
    """The rows early stopping held out: psinet's validation_split draw, with the seed
    and the targets the estimator gave psinet's fit."""
    from psinet.losses import get
    from psinet.training import _held_out

    if isinstance(est, PsinetClassifier):
        index = np.searchsorted(est.classes_, y)
        Y, loss = one_hot(index, len(est.classes_)), "categorical_crossentropy"
        if len(est.classes_) == 2:
            Y, loss = index[:, None].astype(float), "binary_crossentropy"
    else:
        Y, loss = np.asarray(y, dtype=float).reshape(len(y), -1), "mse"
    rows = _held_out(Y, get(loss), est.validation_fraction, est._seed_)
    s = None if sample_weight is None else sample_weight[rows]
    return X[rows], y[rows], Y[rows], loss, s


@pytest.mark.parametrize("Estimator", [PsinetClassifier, PsinetRegressor])
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_scores_are_scikit_learns_scores_on_the_held_out_part(Estimator, weighted):
    """validation_scores_ holds the score (accuracy, R²) on the held-out part, as
    scikit-learn's MLP does; the losses are validation_losses_."""
    X, y = load_iris()
    target = y if Estimator is PsinetClassifier else X[:, 0] - 0.5 * y
    s = np.random.default_rng(0).uniform(0.2, 2.0, size=150) if weighted else None
    one = Estimator(  # no L2 penalty: the validation loss is evaluate's alone
        **{**SMALL, "max_iter": 1, "alpha": 0.0}, early_stopping=True, validation_fraction=0.2
    )
    one.fit(X, target, sample_weight=s)
    X_val, y_val, Y_val, loss, s_val = _held_out_part(one, X, target, s)
    assert len(y_val) == 30
    score = one.score(X_val, y_val, sample_weight=s_val)
    assert one.validation_scores_ == [score] and one.best_validation_score_ == score
    assert one.validation_losses_ == [
        pytest.approx(evaluate(one.network_, X_val, Y_val, loss, sample_weight=s_val)["loss"])
    ]
    if Estimator is PsinetClassifier:  # the accuracy, as sklearn's formula has it
        right = (one.predict(X_val) == y_val) * (1.0 if s_val is None else s_val)
        assert score == pytest.approx(right.sum() / (30 if s_val is None else s_val.sum()))
    else:  # R² = 1 - Σ s (y - ŷ)² / Σ s (y - ȳ_s)²
        w = np.ones(30) if s_val is None else s_val
        mean = np.average(y_val, weights=w)
        r2 = 1 - np.sum(w * (y_val - one.predict(X_val)) ** 2) / np.sum(w * (y_val - mean) ** 2)
        assert score == pytest.approx(r2)

    many = Estimator(
        **{**SMALL, "max_iter": 40}, early_stopping=True, n_iter_no_change=5, tol=0.0
    ).fit(X, target, sample_weight=s)
    X_val, y_val, _, _, s_val = _held_out_part(many, X, target, s)
    assert len(many.validation_scores_) == len(many.validation_losses_) == many.n_iter_
    best = int(np.argmin(many.validation_losses_))  # the epoch whose weights are kept
    assert many.best_validation_score_ == many.validation_scores_[best]
    assert many.best_validation_score_ == many.score(X_val, y_val, sample_weight=s_val)

    plain = many.set_params(early_stopping=False).fit(X, target)  # no validation: None
    assert plain.validation_scores_ is None and plain.best_validation_score_ is None
    assert plain.validation_losses_ is None
