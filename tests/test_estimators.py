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
