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
``random_state``            None, an int or a ``numpy.random.RandomState``: the seed of the
                            initial weights, the shuffling and the validation split
``verbose``                 print psinet's progress line per epoch
``dtype``                   (psinet's own) ``"float64"`` or ``"float32"``
==========================  ==================================================================

The classifier's output layer and loss follow the number of classes: one sigmoid output
with binary cross-entropy for two classes, a softmax with categorical cross-entropy for
more. The regressor has identity outputs and psinet's mse (½ Σ_k (ŷ_k − y_k)², averaged
over samples). ``fit(X, y, sample_weight=s)`` minimises Σ_n s_n ℓ_n / Σ_n s_n.

scikit-learn is an optional extra (``pip install "psinet[sklearn]"``); only this module
imports it.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
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


from . import optimizers as _optimizers
from .network import Network
from .preprocessing import one_hot
from .training import EarlyStopping, History, fit

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

    def _seed(self) -> int:
        if isinstance(self.random_state, numbers.Integral) and not isinstance(
            self.random_state, bool
        ):
            if self.random_state < 0:
                raise ValueError(f"random_state must be >= 0, got {self.random_state}")
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _check_X(self, X: Any, *, reset: bool) -> Array:
        X = _validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        return np.asarray(X, dtype=self._np_dtype())

    def _X_y(self, X: Any, y: Any, *, reset: bool) -> tuple[Array, Array]:
        raise NotImplementedError

    def _targets(self, y: Array, sw: Array | None = None) -> tuple[Array, str, str]:
        """(Y for psinet, output activation, loss) for checked labels/values ``y``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ training
    def _train(
        self, X: Any, y: Any, sample_weight: Any, *, epochs: int, first: bool
    ) -> _PsinetEstimator:
        dtype = self._np_dtype()
        hidden = self._hidden()
        optimizer = self._optimizer() if first else self._optimizer_
        X, y = self._X_y(X, y, reset=first)
        X = np.asarray(X, dtype=dtype)
        sw = None if sample_weight is None else _check_sample_weight(sample_weight, X)
        Y, output, loss = self._targets(y, sw)
        batch_size = self._batch_size(len(X))
        if first:
            seed = self._seed()
            sizes = [X.shape[1], *hidden, Y.shape[1]]
            activations = [self.activation] * len(hidden) + [output]
            net = Network(sizes, activations, seed=seed, dtype=dtype)
            done, self._seed_ = 0, seed
        else:
            net, done = self.network_, self.n_iter_
        callbacks = []
        validation_split = 0.0
        if self.early_stopping and first:
            validation_split = self.validation_fraction
            callbacks.append(
                EarlyStopping("val_loss", patience=self.n_iter_no_change, min_delta=self.tol)
            )
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
            seed=self._seed_,
            l2=self._l2(min(batch_size, len(X)), sw),
            callbacks=callbacks,
            validation_split=validation_split,
            verbose=int(bool(self.verbose)),
            sample_weight=sw,
        )
        self.network_ = net
        self._optimizer_ = optimizer
        self.loss_curve_ = (self.loss_curve_ if not first else []) + list(history["loss"])
        self.n_iter_ = done + len(history)
        if "val_loss" in history.history:
            self.validation_scores_ = list(history["val_loss"])
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
        return self.network_.predict(self._check_X(X, reset=False))


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
    _classes_given: Array | None

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> PsinetClassifier:
        """Train from scratch for ``max_iter`` epochs; returns self.

        ``X``: array of shape (N, n_features); ``y``: labels, shape (N,);
        ``sample_weight``: None or weights >= 0, shape (N,).
        """
        return self._train(X, y, sample_weight, epochs=self._max_iter(), first=True)

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> PsinetClassifier:
        """One more epoch over ``(X, y)``; the first call needs ``classes`` (all labels).

        ``X``: array of shape (N, n_features); ``y``: labels, shape (N,), each in
        ``classes``; the optimizer's state carries over from call to call.
        """
        first = not hasattr(self, "network_")
        if first:
            if classes is None:
                raise ValueError("the first call to partial_fit needs classes=, all the labels")
            self._classes_given = np.unique(np.asarray(classes))
        return self._train(X, y, sample_weight, epochs=1, first=first)

    def _X_y(self, X: Any, y: Any, *, reset: bool) -> tuple[Array, Array]:
        X, y = _validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32])
        check_classification_targets(y)
        given = getattr(self, "_classes_given", None)
        if reset:
            self.classes_ = np.unique(y) if given is None else given
            self._classes_given = None
        unknown = np.setdiff1d(np.unique(y), self.classes_)
        if unknown.size:
            raise ValueError(
                f"y has labels {unknown.tolist()[:5]} that are not among the classes "
                f"{self.classes_.tolist()[:10]}"
            )
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes, "
                f"got 1 class: {self.classes_.tolist()}"
            )
        return X, y

    def _targets(self, y: Array, sw: Array | None = None) -> tuple[Array, str, str]:
        index = np.searchsorted(self.classes_, y)
        if sw is not None:
            weighted = np.unique(index[sw > 0])
            if len(weighted) < 2:
                raise ValueError(
                    "sample_weight must give positive weight to samples of at least 2 "
                    f"classes, got {len(weighted)} class(es) with positive weight"
                )
        if len(self.classes_) == 2:
            return index[:, None].astype(float), "sigmoid", "binary_crossentropy"
        return one_hot(index, len(self.classes_)), "softmax", "categorical_crossentropy"

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
        y_hat = self._output(X)
        index = (y_hat[:, 0] > 0.5).astype(int) if y_hat.shape[1] == 1 else y_hat.argmax(1)
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
        ``sample_weight``: None or weights >= 0, shape (N,).
        """
        return self._train(X, y, sample_weight, epochs=self._max_iter(), first=True)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> PsinetRegressor:
        """One more epoch over ``(X, y)``; the optimizer's state carries over."""
        return self._train(X, y, sample_weight, epochs=1, first=not hasattr(self, "network_"))

    def _X_y(self, X: Any, y: Any, *, reset: bool) -> tuple[Array, Array]:
        X, y = _validate_data(
            self, X, y, reset=reset, dtype=[np.float64, np.float32], multi_output=True,
            y_numeric=True,
        )  # fmt: skip
        y = np.asarray(y)
        if reset:
            self._y_1d = y.ndim == 1
            self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        elif (1 if y.ndim == 1 else y.shape[1]) != self.n_outputs_:
            raise ValueError(f"y must have {self.n_outputs_} target(s), got shape {y.shape}")
        return X, y

    def _targets(self, y: Array, sw: Array | None = None) -> tuple[Array, str, str]:
        Y = y.reshape(len(y), -1).astype(self._np_dtype())
        return Y, "identity", "mse"

    def predict(self, X: Any) -> Array:
        """Predicted values, ndarray of shape (N,) or (N, n_targets) like the y of fit."""
        y_hat = self._output(X)
        return y_hat[:, 0] if self._y_1d else y_hat
