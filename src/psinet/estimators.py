"""psinet inside scikit-learn: :class:`PsinetClassifier` and :class:`PsinetRegressor`.

Both follow scikit-learn's estimator API (``fit``, ``partial_fit``, ``predict``,
``score``, ``get_params``/``set_params``, ``clone``, pickling), so they work in a
``Pipeline``, ``GridSearchCV`` or ``cross_val_score``; the trained psinet
:class:`~psinet.Network` is ``network_``, ready for :func:`psinet.trace` or
:func:`psinet.interop.to_torch`.

Parameters use scikit-learn's MLP spelling where one exists:

==========================  ==================================================================
``hidden_layer_sizes``      widths of the hidden layers, e.g. ``(100,)``
``activation``              the hidden layers' psinet activation (``"relu"``, ``"tanh"``, …)
``solver``                  a psinet optimizer name: ``"adam"``, ``"sgd"``, ``"adamw"``,
                            ``"rmsprop"``, ``"adagrad"``
``learning_rate_init``      its learning rate η
``batch_size``              ``"auto"`` = min(200, N), or an int
``max_iter``                the number of epochs
``alpha``                   L2 penalty, as in scikit-learn's MLP: psinet's ``l2 = alpha / B``
                            for batches of B samples (B counts sample weight when given;
                            the bias column is never penalised)
``shuffle``                 shuffle the samples every epoch
``early_stopping``          hold out ``validation_fraction`` (stratified for classifiers) and
                            stop when its loss has not improved by more than ``tol`` for
                            ``n_iter_no_change`` epochs; the best epoch's weights are kept
                            (best by validation loss)
``random_state``            None, an int or a ``numpy.random.RandomState``: the seed of the
                            initial weights, the shuffling and the validation split
``verbose``                 print psinet's progress line per epoch
``dtype``                   (psinet's own) ``"float64"`` or ``"float32"``
==========================  ==================================================================

Fitted attributes, as scikit-learn's MLP names them: ``loss_curve_`` (the training loss
of each epoch), ``loss_``, ``n_iter_``, ``n_features_in_``, ``out_activation_``; with
``early_stopping``, ``validation_scores_`` is the *score* on the held-out part after each
epoch (:meth:`score`'s: accuracy for the classifier, R² for the regressor, weighted by
the held-out samples' ``sample_weight``), ``best_validation_score_`` the score of the
epoch whose weights are kept (so it equals ``score`` on the held-out part after ``fit``),
and ``validation_losses_`` the loss on the held-out part after each epoch (psinet's
``val_loss``, L2 penalty included: what early stopping watches). Without early stopping
all three are None. ``partial_fit`` after the first call holds nothing out and leaves
them as they were.

Every call checks everything (X, y, ``sample_weight``, the parameters, ``classes``)
before it sets anything: a refused ``fit`` or ``partial_fit`` leaves the estimator as it
was, fitted or not (and a ``numpy.random.RandomState`` given as ``random_state`` too).

The classifier's output layer and loss follow the number of classes: one sigmoid output
with binary cross-entropy for two classes, a softmax with categorical cross-entropy for
more. The regressor has identity outputs and psinet's mse (½ Σ_k (ŷ_k − y_k)², averaged
over samples). ``fit(X, y, sample_weight=s)`` minimises Σ_n s_n ℓ_n / Σ_n s_n.

scikit-learn is an optional extra (``pip install "psinet[sklearn]"``); only this module
imports it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted
except ImportError as exc:  # pragma: no cover - tested where scikit-learn is absent
    raise ImportError(
        'psinet.estimators needs scikit-learn, an optional extra: pip install "psinet[sklearn]"'
    ) from exc
try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - scikit-learn < 1.6

    def _validate_data(estimator: Any, *args: Any, **kwargs: Any) -> Any:
        return estimator._validate_data(*args, **kwargs)


from . import activations as _activations
from . import losses as _losses
from . import optimizers as _optimizers
from ._checks import as_sample_weight, check_float, check_int
from .network import Network
from .preprocessing import one_hot
from .training import Callback, EarlyStopping, History, _held_out, fit

__all__ = ["PsinetClassifier", "PsinetRegressor"]

Array = np.ndarray

SOLVERS: dict[str, type[_optimizers.Optimizer]] = {
    "adam": _optimizers.Adam,
    "adamw": _optimizers.AdamW,
    "sgd": _optimizers.SGD,
    "rmsprop": _optimizers.RMSprop,
    "adagrad": _optimizers.Adagrad,
}
"""The optimizers ``solver`` names, each built with ``lr=learning_rate_init``."""


class _PsinetEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, the network, training."""

    network_: Network
    n_iter_: int
    loss_curve_: list[float]
    _optimizer_: _optimizers.Optimizer
    _seed_: int

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        *,
        solver: str = "adam",
        learning_rate_init: float = 0.001,
        batch_size: Any = "auto",
        max_iter: int = 200,
        alpha: float = 0.0001,
        shuffle: bool = True,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        random_state: Any = None,
        verbose: bool = False,
        dtype: str = "float64",
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.alpha = alpha
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.verbose = verbose
        self.dtype = dtype

    # ------------------------------------------------------------------ checks
    def _np_dtype(self) -> np.dtype[Any]:
        if self.dtype not in ("float64", "float32", np.float64, np.float32):
            raise ValueError(f"dtype must be 'float64' or 'float32', got {self.dtype!r}")
        return np.dtype(self.dtype)

    def _hidden(self) -> list[int]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
            raise TypeError(
                f"hidden_layer_sizes must be a tuple of ints, got {self.hidden_layer_sizes!r}"
            )
        sizes = list(sizes)
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) for n in sizes):
            raise TypeError(f"hidden_layer_sizes must hold ints, got {self.hidden_layer_sizes!r}")
        if any(n < 1 for n in sizes):
            raise ValueError(f"hidden_layer_sizes must be >= 1 each, got {sizes}")
        return [int(n) for n in sizes]

    def _max_iter(self) -> int:
        if isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral):
            raise TypeError(f"max_iter must be an int >= 1 (epochs), got {self.max_iter!r}")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1 (epochs), got {self.max_iter}")
        return int(self.max_iter)

    def _optimizer(self) -> _optimizers.Optimizer:
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {self.solver!r}")
        return SOLVERS[self.solver](lr=self.learning_rate_init)

    def _batch_size(self, n_samples: int) -> int:
        if isinstance(self.batch_size, str) and self.batch_size == "auto":
            return min(200, n_samples)
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, numbers.Integral):
            raise TypeError(f"batch_size must be 'auto' or an int, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        return int(self.batch_size)

    def _random_state(self) -> int | np.random.RandomState:
        """The seed (an int >= 0) or the generator to draw one from; draws nothing."""
        if isinstance(self.random_state, numbers.Integral) and not isinstance(
            self.random_state, bool
        ):
            if self.random_state < 0:
                raise ValueError(f"random_state must be >= 0, got {self.random_state}")
            return int(self.random_state)
        return check_random_state(self.random_state)

    def _seed(self, random_state: int | np.random.RandomState) -> int:
        """The seed of the initial weights, the shuffling and the validation split."""
        if isinstance(random_state, int):
            return random_state
        return int(random_state.randint(2**31 - 1))

    def _sample_weight(self, sample_weight: Any, X: Array) -> Array | None:
        """None, or the weights as a float array of shape (N,), with psinet's refusals
        (negative, NaN or inf values, all zeros) made here, before anything is set."""
        if sample_weight is None:
            return None
        sw = _check_sample_weight(sample_weight, X)
        as_sample_weight(sw, len(X), np.dtype(np.float64))
        return np.asarray(sw)

    def _early_stopping(self, n_samples: int, first: bool) -> tuple[float, EarlyStopping | None]:
        """(validation_split, the EarlyStopping callback), or (0.0, None) when nothing is
        held out (no early stopping, or a later call of partial_fit); the parameters are
        checked on every call, as scikit-learn checks them."""
        fraction = check_float(
            self.validation_fraction, "validation_fraction", 0.0, 1.0, high_open=True
        )
        patience = check_int(self.n_iter_no_change, "n_iter_no_change", minimum=0)
        tol = check_float(self.tol, "tol", 0.0)
        stopper = EarlyStopping("val_loss", patience=patience, min_delta=tol)
        if not (self.early_stopping and first):
            return 0.0, None
        n_val = round(fraction * n_samples)
        if not 1 <= n_val < n_samples:
            raise ValueError(
                f"validation_fraction={fraction} holds out {n_val} of {n_samples} samples; "
                "it must hold out at least one and keep at least one"
            )
        return fraction, stopper

    def _validate(
        self, X: Any, y: Any, *, first: bool, **kwargs: Any
    ) -> tuple[Array, Array, dict[str, Any]]:
        """X and y checked by scikit-learn, and the attributes to set once all is checked.

        A first call reads ``n_features_in_`` (and ``feature_names_in_``, None when X has
        no names) from a clone, as scikit-learn would set them on the estimator at once.
        """
        dtype = [np.float64, np.float32]
        if not first:
            X, y = _validate_data(self, X, y, reset=False, dtype=dtype, **kwargs)
            return X, y, {}
        probe = clone(self)
        X, y = _validate_data(probe, X, y, reset=True, dtype=dtype, **kwargs)
        names = getattr(probe, "feature_names_in_", None)
        return X, y, {"n_features_in_": probe.n_features_in_, "feature_names_in_": names}

    def _X_y(
        self, X: Any, y: Any, *, first: bool, classes: Any = None
    ) -> tuple[Array, Array, dict[str, Any]]:
        """Checked X and y, and the attributes to set (``_validate``'s and the targets')."""
        raise NotImplementedError

    def _targets(
        self, y: Array, sw: Array | None, fitted: dict[str, Any]
    ) -> tuple[Array, str, str]:
        """(Y for psinet, output activation, loss) for checked labels/values ``y``."""
        raise NotImplementedError

    def _score_of(self, y_hat: Array, y: Array, sw: Array | None, fitted: dict[str, Any]) -> float:
        """:meth:`score` of the network's outputs ``y_hat`` against ``y``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training
    def _train(
        self, X: Any, y: Any, sample_weight: Any, *, epochs: int, first: bool, classes: Any = None
    ) -> _PsinetEstimator:
        # 1. Check everything: X, y, sample_weight, the parameters, classes. Nothing is set
        #    before all checks have passed, so a refused call leaves self as it was.
        dtype = self._np_dtype()
        hidden = self._hidden()
        _activations.get(self.activation)
        random_state = self._random_state()
        new_optimizer = self._optimizer()
        X, y, fitted = self._X_y(X, y, first=first, classes=classes)
        X = np.asarray(X, dtype=dtype if first else self.network_.dtype)
        sw = self._sample_weight(sample_weight, X)
        Y, output, loss = self._targets(y, sw, fitted)
        batch_size = self._batch_size(len(X))
        l2 = self._l2(min(batch_size, len(X)), sw)
        validation_split, stopper = self._early_stopping(len(X), first)

        # 2. Train: a first call trains a new network, which replaces network_ at the end.
        # A RandomState gets its state back if psinet's fit refuses (it can refuse the
        # split's weights: all zero in the held-out part).
        saved: Any = None if isinstance(random_state, int) else random_state.get_state()
        try:
            if first:
                seed = self._seed(random_state)
                sizes = [X.shape[1], *hidden, Y.shape[1]]
                activations = [self.activation] * len(hidden) + [output]
                net = Network(sizes, activations, seed=seed, dtype=dtype)
                optimizer, done = new_optimizer, 0
            else:
                net, optimizer, done, seed = (
                    self.network_,
                    self._optimizer_,
                    self.n_iter_,
                    self._seed_,
                )
            callbacks: list[Callback] = []
            scores = None
            if stopper is not None:  # the rows psinet's fit holds out, drawn alike
                rows = _held_out(Y, _losses.get(loss), validation_split, seed)
                y_val, sw_val = y[rows], None if sw is None else sw[rows]
                scores = _ValidationScores(
                    X[rows], lambda y_hat: self._score_of(y_hat, y_val, sw_val, fitted)
                )
                callbacks = [stopper, scores]
            history: History = fit(
                net,
                X,
                Y,
                loss=loss,
                optimizer=optimizer,
                epochs=done + epochs,
                initial_epoch=done,
                batch_size=batch_size,
                shuffle=bool(self.shuffle),
                seed=seed,
                l2=l2,
                callbacks=callbacks,
                validation_split=validation_split,
                verbose=int(bool(self.verbose)),
                sample_weight=sw,
            )
        except BaseException:
            if not isinstance(random_state, int):
                random_state.set_state(saved)
            raise

        # 3. Set the attributes.
        for name, value in fitted.items():
            if value is not None:
                setattr(self, name, value)
            elif name in vars(self):  # feature_names_in_ of an earlier X
                delattr(self, name)
        self.network_ = net
        self._optimizer_ = optimizer
        self._seed_ = seed
        losses = list(history.history.get("loss", []))
        self.loss_curve_ = (self.loss_curve_ if not first else []) + losses
        self.n_iter_ = done + len(history)
        if first:
            self.validation_losses_ = (
                None if stopper is None else list(history.history.get("val_loss", []))
            )
            self.validation_scores_ = None if scores is None else scores.scores
            best = None if stopper is None else stopper.best_epoch
            self.best_validation_score_ = (
                None if scores is None or best is None else scores.scores[best - 1]
            )
        self.out_activation_ = output
        self.loss_ = self.loss_curve_[-1] if self.loss_curve_ else float("nan")
        return self

    def __getstate__(self) -> dict[str, Any]:
        # The optimizer is kept as its state_dict (it holds a weak reference to the
        # network, which pickle cannot store); partial_fit continues from it after loading.
        state = dict(super().__getstate__())
        optimizer = state.pop("_optimizer_", None)
        if optimizer is not None:
            state["_optimizer_state_"] = optimizer.state_dict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        saved = state.pop("_optimizer_state_", None)
        super().__setstate__(state)
        if saved is not None:
            optimizer = getattr(_optimizers, saved["class"])(**saved["hyper"])
            optimizer.load_state_dict(saved)
            self._optimizer_ = optimizer

    def _l2(self, batch_size: int, sw: Array | None) -> float:
        """psinet's λ: scikit-learn's ``alpha / B`` for batches of B samples of weight 1.

        With sample weights, B counts weight (B times the mean weight), so that weights
        of 2 act as repeated samples, penalty included.
        """
        alpha = float(self.alpha)
        if not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"alpha must be a finite float >= 0, got {self.alpha!r}")
        mean_weight = 1.0 if sw is None else float(np.mean(sw))
        return alpha / (batch_size * mean_weight) if mean_weight > 0 else alpha

    def _output(self, X: Any) -> Array:
        check_is_fitted(self, "network_")
        X = _validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.network_.predict(np.asarray(X, dtype=self.network_.dtype))


class _ValidationScores(Callback):
    """After each epoch, the estimator's score (accuracy, R²) on the held-out part:
    ``score(y_hat)`` of the network's outputs on ``X_val``; NaN for outputs that are not
    finite, as scikit-learn's MLP has it."""

    def __init__(self, X_val: Array, score: Callable[[Array], float]) -> None:
        self.X_val = X_val
        self.score = score
        self.scores: list[float] = []
        self._net: Network | None = None

    def on_train_begin(self, net: Network) -> None:
        self._net, self.scores = net, []

    def on_epoch_end(self, record: dict[str, Any]) -> bool:
        assert self._net is not None
        try:
            y_hat = self._net.predict(self.X_val)
        except ValueError:  # psinet refuses outputs that are not finite
            self.scores.append(float("nan"))
        else:
            self.scores.append(float(self.score(y_hat)))
        return False


def _label_index(y_hat: Array) -> Array:
    """The index into ``classes_`` of each row's most probable class."""
    return (y_hat[:, 0] > 0.5).astype(int) if y_hat.shape[1] == 1 else y_hat.argmax(1)


class PsinetClassifier(ClassifierMixin, _PsinetEstimator):
    """A psinet network as a scikit-learn classifier; parameters: see :mod:`psinet.estimators`.

    ``fit(X, y)``: X of shape (N, n_features), y of N labels of any type (ints, strings…).
    ``predict(X)`` returns labels from ``classes_``, shape (N,); ``predict_proba(X)`` the
    class probabilities, shape (N, n_classes).

    >>> from psinet.datasets import load_iris
    >>> X, y = load_iris()
    >>> clf = PsinetClassifier((16,), max_iter=30, learning_rate_init=0.01, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.9
    True
    >>> clf.network_
    Network(sizes=[4, 16, 3], activations=['relu', 'softmax'], dtype=float64, params=131)
    """

    classes_: Array

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> PsinetClassifier:
        """Train from scratch for ``max_iter`` epochs; returns self.

        ``X``: array of shape (N, n_features); ``y``: labels, shape (N,);
        ``sample_weight``: None or weights >= 0, shape (N,). A refused call changes nothing.
        """
        return self._train(X, y, sample_weight, epochs=self._max_iter(), first=True)

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> PsinetClassifier:
        """One more epoch over ``(X, y)``; the first call needs ``classes`` (all labels).

        ``X``: array of shape (N, n_features); ``y``: labels, shape (N,), each in
        ``classes``; the optimizer's state carries over from call to call. A later call
        may repeat ``classes``, which must then be the same. A refused call changes
        nothing (a refused first call remembers no ``classes``).
        """
        first = not hasattr(self, "network_")
        if first and classes is None:
            raise ValueError("the first call to partial_fit needs classes=, all the labels")
        return self._train(X, y, sample_weight, epochs=1, first=first, classes=classes)

    def _X_y(
        self, X: Any, y: Any, *, first: bool, classes: Any = None
    ) -> tuple[Array, Array, dict[str, Any]]:
        X, y, fitted = self._validate(X, y, first=first)
        check_classification_targets(y)
        if not first:
            known = self.classes_
            if classes is not None:
                given = np.unique(np.asarray(classes))
                if given.tolist() != known.tolist():  # Python's ==: any label types
                    raise ValueError(
                        f"classes={given.tolist()[:10]} is not the same as on the first call "
                        f"to partial_fit: {known.tolist()[:10]}"
                    )
        else:
            known = np.unique(y) if classes is None else np.unique(np.asarray(classes))
        unknown = np.setdiff1d(np.unique(y), known)
        if unknown.size:
            raise ValueError(
                f"y has labels {unknown.tolist()[:5]} that are not among the classes "
                f"{known.tolist()[:10]}"
            )
        if len(known) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, "
                f"got 1 class: {known.tolist()}"
            )
        fitted["classes_"] = known
        return X, y, fitted

    def _targets(
        self, y: Array, sw: Array | None, fitted: dict[str, Any]
    ) -> tuple[Array, str, str]:
        classes = fitted["classes_"]
        index = np.searchsorted(classes, y)
        if sw is not None:
            weighted = np.unique(index[sw > 0])
            if len(weighted) < 2:
                raise ValueError(
                    "sample_weight must give positive weight to samples of at least 2 "
                    f"classes, got {len(weighted)} class(es) with positive weight"
                )
        if len(classes) == 2:
            return index[:, None].astype(float), "sigmoid", "binary_crossentropy"
        return one_hot(index, len(classes)), "softmax", "categorical_crossentropy"

    def _score_of(self, y_hat: Array, y: Array, sw: Array | None, fitted: dict[str, Any]) -> float:
        labels = fitted["classes_"][_label_index(y_hat)]
        return float(accuracy_score(y, labels, sample_weight=sw))

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities, ndarray of shape (N, n_classes), columns as ``classes_``."""
        y_hat = self._output(X)
        if y_hat.shape[1] == 1:
            return np.hstack([1 - y_hat, y_hat])
        return y_hat

    def predict_log_proba(self, X: Any) -> Array:
        """``log`` of :meth:`predict_proba`, ndarray of shape (N, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> Array:
        """The most probable class of each row of X: labels from ``classes_``, shape (N,)."""
        index = _label_index(self._output(X))
        return self.classes_[index]


class PsinetRegressor(RegressorMixin, _PsinetEstimator):
    """A psinet network as a scikit-learn regressor; parameters: see :mod:`psinet.estimators`.

    ``fit(X, y)``: X of shape (N, n_features), y of shape (N,) or (N, n_targets).
    ``predict(X)`` returns an ndarray of y's shape: (N,) or (N, n_targets).

    >>> from psinet.datasets import sine
    >>> X, y = sine(200, seed=0)
    >>> reg = PsinetRegressor((32,), "tanh", max_iter=200, learning_rate_init=0.01,
    ...                       random_state=0)
    >>> reg.fit(X, y.ravel()).score(X, y.ravel()) > 0.9
    True
    """

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def _more_tags(self) -> dict[str, Any]:  # pragma: no cover - scikit-learn < 1.6
        return {"multioutput": True}

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> PsinetRegressor:
        """Train from scratch for ``max_iter`` epochs; returns self.

        ``X``: array of shape (N, n_features); ``y``: shape (N,) or (N, n_targets);
        ``sample_weight``: None or weights >= 0, shape (N,). A refused call changes nothing.
        """
        return self._train(X, y, sample_weight, epochs=self._max_iter(), first=True)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> PsinetRegressor:
        """One more epoch over ``(X, y)``; the optimizer's state carries over. A refused
        call changes nothing."""
        return self._train(X, y, sample_weight, epochs=1, first=not hasattr(self, "network_"))

    def _X_y(
        self, X: Any, y: Any, *, first: bool, classes: Any = None
    ) -> tuple[Array, Array, dict[str, Any]]:
        X, y, fitted = self._validate(X, y, first=first, multi_output=True, y_numeric=True)
        y = np.asarray(y)
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if first:
            fitted.update(_y_1d=y.ndim == 1, n_outputs_=n_outputs)
        elif n_outputs != self.n_outputs_:
            raise ValueError(f"y must have {self.n_outputs_} target(s), got shape {y.shape}")
        return X, y, fitted

    def _targets(
        self, y: Array, sw: Array | None, fitted: dict[str, Any]
    ) -> tuple[Array, str, str]:
        Y = y.reshape(len(y), -1).astype(self._np_dtype())
        return Y, "identity", "mse"

    def _score_of(self, y_hat: Array, y: Array, sw: Array | None, fitted: dict[str, Any]) -> float:
        y_1d = fitted.get("_y_1d", getattr(self, "_y_1d", True))
        return float(r2_score(y, y_hat[:, 0] if y_1d else y_hat, sample_weight=sw))

    def predict(self, X: Any) -> Array:
        """Predicted values, ndarray of shape (N,) or (N, n_targets) like the y of fit."""
        y_hat = self._output(X)
        return y_hat[:, 0] if self._y_1d else y_hat
