"""Preparing data for a network: one-hot targets, train/test splits, standardization.

Everything here is plain NumPy and deterministic given a ``seed``: randomness comes
only from ``np.random.default_rng(seed)``, so the same seed gives the same split.

The usual pipeline::

    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, seed=0)
    X_train, X_test = standardize(X_train, X_test)   # statistics of X_train only
    X = standardize(X)                                # one array in, one array out
    Y_train = one_hot(y_train)                        # ndarray of shape (N, n_classes)
"""

from __future__ import annotations

import numbers
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from ._checks import (
    as_array,
    as_float_array,
    check_bool,
    check_float,
    check_int,
    check_seed,
    objects_as_floats,
    refuse_masked,
)

__all__ = ["NotFittedError", "Standardizer", "one_hot", "standardize", "train_test_split"]

MAX_ONE_HOT_BYTES = 16 * 2**30
"""The largest array :func:`one_hot` makes: 16 GiB (N · n_classes · itemsize bytes).

Past it a class count is almost surely a mistake (an id or a value taken for a label, a
typo in ``n_classes``), and NumPy would answer with a MemoryError or swap; one_hot
refuses it with a ValueError naming the shape and the size instead. (Keras'
``to_categorical`` would allocate it; scikit-learn's encoders return sparse matrices.)
"""


class NotFittedError(ValueError, AttributeError):
    """A :class:`Standardizer` was used before ``fit`` (a ValueError, as in scikit-learn)."""


def _array(value: npt.ArrayLike, name: str) -> np.ndarray:
    """``value`` as an ndarray; a ragged nested list is a TypeError naming ``name``."""
    try:
        return as_array(value)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"{name} must be an array, got {type(value).__name__}: {exc}") from None


def _as_float_2d(X: npt.ArrayLike, name: str = "X") -> np.ndarray:
    """Return ``X`` as a 2-D float32 or float64 array: float32 and float64 kept, float16
    -> float32, ints, bools and wider floats -> float64 (checked to fit before the cast)."""
    refuse_masked(X, name)
    X = objects_as_floats(_array(X, name), name)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        hint = ""
        if X.ndim == 3 and X.shape[0] == 1:
            hint = " (a tuple holding one array? unpack it: X, = ... or X = ...[0])"
        raise ValueError(
            f"{name} must be an ndarray of shape (N, n_features), got shape {X.shape}{hint}"
        )
    if X.dtype.kind == "f" and not np.all(np.isfinite(X)):
        raise ValueError(f"{name} must contain only finite values (no NaN or inf)")
    small = X.dtype.kind == "f" and X.dtype.itemsize <= 4
    return as_float_array(X, name, np.dtype(np.float32 if small else np.float64))


# ---------------------------------------------------------------------------------------
# one_hot
# ---------------------------------------------------------------------------------------


def one_hot(
    labels: npt.ArrayLike, n_classes: int | None = None, dtype: npt.DTypeLike = np.float64
) -> np.ndarray:
    """Encode integer class labels as one-hot rows.

    Row ``i`` of the result is the unit vector ``e_{labels[i]}``:
    ``Y[i, k] = 1`` if ``labels[i] == k`` else ``0``.

    Parameters
    ----------
    labels : ndarray of shape (N,)
        Class labels, integers (or floats with integral values) in ``[0, n_classes)``.
    n_classes : int, optional
        Number of classes (columns). Defaults to ``labels.max() + 1``. The result may
        take at most :data:`MAX_ONE_HOT_BYTES` (16 GiB): a larger one is refused with
        a ValueError naming its shape and size.
    dtype : dtype, default float64
        dtype of the result.

    Returns
    -------
    Y : ndarray of shape (N, n_classes)
        ``Y.argmax(axis=1)`` recovers ``labels``.

    Examples
    --------
    >>> one_hot([0, 2, 1])
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    >>> one_hot([1], n_classes=4, dtype=int)
    array([[0, 1, 0, 0]])
    """
    refuse_masked(labels, "labels")
    labels = _array(labels, "labels")
    if labels.dtype.kind not in "iuf":
        raise TypeError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"labels must be an ndarray of shape (N,), got shape {labels.shape}")
    if labels.size == 0:
        raise ValueError("labels must be non-empty, got an array of length 0")
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError("labels must have integral values, got non-integral floats")
    lowest, highest = labels.min(), labels.max()
    if lowest < 0:
        raise ValueError(f"labels must be >= 0, got {lowest}")
    given = n_classes is not None
    if n_classes is None:
        n_classes = int(highest) + 1
    else:
        n_classes = check_int(n_classes, "n_classes", minimum=1)
        if highest >= n_classes:
            raise ValueError(
                f"labels must be < n_classes={n_classes}, got a label equal to {highest}"
            )

    _refuse_huge_one_hot(labels.shape[0], n_classes, dtype, given, highest)
    Y = np.zeros((labels.shape[0], n_classes), dtype=dtype)  # (N, n_classes)
    Y[np.arange(labels.shape[0]), labels.astype(np.intp)] = 1
    return Y


def _refuse_huge_one_hot(
    n: int, n_classes: int, dtype: npt.DTypeLike, given: bool, highest: Any
) -> None:
    """ValueError when the (n, n_classes) one-hot array would exceed MAX_ONE_HOT_BYTES."""
    size = n * n_classes * max(np.dtype(dtype).itemsize, 1)  # Python ints: no overflow
    if size <= MAX_ONE_HOT_BYTES:
        return
    why = (
        f"for n_classes={n_classes}"
        if given
        else f"as n_classes would be {n_classes} (the largest label, {highest}, plus 1)"
    )
    raise ValueError(
        f"one_hot would make an array of shape ({n}, {n_classes}), {_bytes(size)} of "
        f"{np.dtype(dtype).name}, {why}: psinet refuses one-hot arrays over "
        f"{_bytes(MAX_ONE_HOT_BYTES)} (MAX_ONE_HOT_BYTES). Check n_classes and the labels "
        "(class indices 0 … n_classes − 1, not ids or values)"
    )


def _bytes(size: int) -> str:
    """A byte count as NumPy's MemoryError writes it: ``21.8 TiB``, ``16 GiB``."""
    units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"]
    value, unit = float(size), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{value:.3g} {units[unit]}"


# ---------------------------------------------------------------------------------------
# train_test_split
# ---------------------------------------------------------------------------------------


def _n_test(test_size: float, n: int) -> int:
    """Number of test samples for ``test_size`` (a fraction or a count) out of ``n``."""
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real):
        raise TypeError(
            f"test_size must be a float in (0, 1) or an int count, got {type(test_size).__name__}"
        )
    if isinstance(test_size, numbers.Integral):
        n_test = int(test_size)
        if not 1 <= n_test <= n - 1:
            raise ValueError(f"test_size as a count must be in [1, {n - 1}], got {n_test}")
        return n_test
    fraction = check_float(test_size, "test_size")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"test_size as a fraction must be in (0, 1), got {fraction}")
    n_test = int(np.ceil(fraction * n))
    if not 1 <= n_test <= n - 1:
        raise ValueError(
            f"test_size={fraction} with N={n} samples must leave at least one sample "
            f"in each part, got {n_test} test and {n - n_test} training samples"
        )
    return n_test


def _stratified_test_indices(y: np.ndarray, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Pick ``n_test`` indices so that every class keeps its share of the test set.

    Class ``c`` with ``n_c`` of the ``N`` samples gets ``n_test * n_c / N`` test samples,
    rounded down; the samples still missing go to the classes with the largest remainders
    (largest-remainder rounding), so the counts sum exactly to ``n_test``.
    """
    classes, y_index = np.unique(y, return_inverse=True)
    counts = np.bincount(y_index, minlength=classes.size)  # (n_classes,)
    exact = n_test * counts / y.shape[0]
    per_class = np.floor(exact).astype(np.intp)
    missing = n_test - int(per_class.sum())
    # stable sort: equal remainders are broken by class order, so the split is deterministic
    largest_remainders = np.argsort(-(exact - per_class), kind="stable")[:missing]
    per_class[largest_remainders] += 1

    chosen = [rng.permutation(np.flatnonzero(y_index == c))[:k] for c, k in enumerate(per_class)]
    return rng.permutation(np.concatenate(chosen))


def train_test_split(
    X: npt.ArrayLike,
    y: npt.ArrayLike,
    *,
    test_size: float = 0.25,
    seed: int | None = None,
    stratify: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle the samples and split them into a training part and a test part.

    Parameters
    ----------
    X : ndarray of shape (N, ...)
        Inputs; samples along the first axis.
    y : ndarray of shape (N, ...)
        Targets (labels of shape (N,) or values of shape (N, n_out)).
    test_size : float or int, default 0.25
        A float in (0, 1) is the fraction of samples put in the test part (rounded up);
        an int is the number of test samples. Both parts must be non-empty.
    seed : int, optional
        Seed for ``np.random.default_rng``; the same seed gives the same split.
    stratify : bool, default False
        If True, ``y`` must be class labels of shape (N,) and every class gets
        (up to rounding) the same share of the test part as of the whole data set.

    Returns
    -------
    X_train : ndarray of shape (N - n_test, ...)
    X_test : ndarray of shape (n_test, ...)
    y_train : ndarray of shape (N - n_test, ...)
    y_test : ndarray of shape (n_test, ...)
        Copies, in shuffled order; every sample lands in exactly one part.

    Examples
    --------
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> y = np.arange(10)
    >>> X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, seed=0)
    >>> X_train.shape, X_test.shape, y_train.shape, y_test.shape
    ((7, 2), (3, 2), (7,), (3,))
    """
    refuse_masked(X, "X")
    refuse_masked(y, "y")
    stratify = check_bool(stratify, "stratify")
    seed = check_seed(seed)
    X = _array(X, "X")
    y = _array(y, "y")
    if X.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"X and y must be arrays with samples along axis 0, got shapes {X.shape} and {y.shape}"
        )
    if X.shape[0] != y.shape[0]:
        raise ValueError(
            f"X and y must have the same number of samples, got {X.shape[0]} and {y.shape[0]}"
        )
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"X must have at least 2 samples to split, got {n}")
    n_test = _n_test(test_size, n)
    rng = np.random.default_rng(seed)

    if stratify:
        if y.ndim != 1:
            raise ValueError(
                f"y must be class labels of shape (N,) when stratify=True, got shape {y.shape}"
            )
        test = _stratified_test_indices(y, n_test, rng)
        is_test = np.zeros(n, dtype=bool)
        is_test[test] = True
        train = rng.permutation(np.flatnonzero(~is_test))
    else:
        order = rng.permutation(n)
        test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


# ---------------------------------------------------------------------------------------
# Standardizer
# ---------------------------------------------------------------------------------------


class Standardizer:
    """Rescale every column to mean 0 and standard deviation 1, using training statistics.

    ``fit`` learns, per column ``j`` of the training data, the mean ``μ_j`` and the
    (population) standard deviation ``σ_j``; ``transform`` computes

        z = (x − μ) / σ,        and ``inverse_transform``:  x = z·σ + μ.

    A constant column has ``σ_j = 0``; its scale is taken to be 1, so it becomes all
    zeros instead of a division by zero (so does a column whose ``σ_j`` is too small
    for the dtype: the scale is never 0).

    Float32 inputs stay float32 (so do the learned ``mean_`` and ``scale_``); float16
    inputs become float32, integer inputs float64. The arithmetic runs in float64 and
    cannot overflow on the way (the statistics of data near 1e308 are finite); a result
    too large for the output dtype is a ValueError, never an inf. Using the scaler
    before ``fit`` raises :class:`NotFittedError`.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,) or None
        Column means ``μ`` of the training data (None before ``fit``).
    scale_ : ndarray of shape (n_features,) or None
        Column standard deviations ``σ``, with 1 for constant columns (None before ``fit``).

    Examples
    --------
    >>> scaler = Standardizer().fit([[0.0, 5.0], [2.0, 5.0]])
    >>> scaler.mean_, scaler.scale_
    (array([1., 5.]), array([1., 1.]))
    >>> scaler.transform([[4.0, 5.0]])
    array([[3., 0.]])
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.scale_: np.ndarray | None = None

    def fit(self, X: npt.ArrayLike) -> Standardizer:
        """Learn the column means and standard deviations of ``X``.

        Parameters
        ----------
        X : ndarray of shape (N, n_features)
            Training data, N >= 1.

        Returns
        -------
        self : Standardizer
        """
        X = _as_float_2d(X)
        if X.shape[0] == 0:
            raise ValueError("X must have at least 1 sample to fit, got 0")
        X64 = X.astype(np.float64)  # accumulate in float64 even for float32 data
        # Each column is scaled by a power of two 2^e_j >= max |x_j| first, so that neither
        # the sum nor the squares can overflow; a power of two changes no digit, so the
        # statistics are those of the plain formulas wherever those do not overflow.
        _, e = np.frexp(np.abs(X64).max(axis=0))  # (n_features,)
        X_scaled = np.ldexp(X64, -e)  # |x| < 1                           (N, n_features)
        mean = np.ldexp(X_scaled.mean(axis=0), e)  # (n_features,)
        std = np.ldexp(X_scaled.std(axis=0), e)  # (n_features,)
        # A constant column's computed std is often a rounding residue like 1e-17, not 0:
        # detect constancy exactly, and use the column's own value as its mean.
        constant = np.all(X == X[0], axis=0)  # (n_features,)
        mean[constant] = X64[0, constant]
        scale = std.astype(X.dtype)
        scale[constant | (scale == 0)] = 1.0  # also a σ that rounds to 0 in float32
        self.mean_ = mean.astype(X.dtype)
        self.scale_ = scale
        return self

    def _checked(self, X: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(X, mean_, scale_)`` after checking fit state and width."""
        if self.mean_ is None or self.scale_ is None:
            raise NotFittedError("Standardizer is not fitted yet: call fit(X_train) first")
        X = _as_float_2d(X)
        if X.shape[1] != self.mean_.shape[0]:
            raise ValueError(
                f"X must have {self.mean_.shape[0]} columns (as in fit), got shape {X.shape}"
            )
        return X, self.mean_, self.scale_

    def transform(self, X: npt.ArrayLike) -> np.ndarray:
        """Standardize ``X`` with the statistics learned by ``fit``: ``(X − μ) / σ``.

        Parameters
        ----------
        X : ndarray of shape (N, n_features)

        Returns
        -------
        Z : ndarray of shape (N, n_features)
            A new array, of the same float dtype as ``X`` (float64 for integer ``X``).
        """
        X, mean, scale = self._checked(X)
        X64 = X.astype(np.float64)
        mean64, scale64 = mean.astype(np.float64), scale.astype(np.float64)
        with np.errstate(over="ignore"):  # an overflow is reported by _cast_back
            Z = (X64 / 2 - mean64 / 2) / scale64  # (X − μ)/(2σ): X/2 − μ/2 cannot overflow
            Z *= 2
        return _cast_back(Z, X.dtype, "standardized X")

    def fit_transform(self, X: npt.ArrayLike) -> np.ndarray:
        """``fit(X)`` then ``transform(X)``.

        Parameters
        ----------
        X : ndarray of shape (N, n_features)

        Returns
        -------
        Z : ndarray of shape (N, n_features)
        """
        return self.fit(X).transform(X)

    def inverse_transform(self, Z: npt.ArrayLike) -> np.ndarray:
        """Undo ``transform``: ``Z·σ + μ``.

        Parameters
        ----------
        Z : ndarray of shape (N, n_features)

        Returns
        -------
        X : ndarray of shape (N, n_features)
            Same float dtype as ``Z`` (float64 for integer ``Z``).
        """
        Z, mean, scale = self._checked(Z)
        Z64 = Z.astype(np.float64)
        mean64, scale64 = mean.astype(np.float64), scale.astype(np.float64)
        with np.errstate(over="ignore"):  # an overflow is reported by _cast_back
            X = Z64 * (scale64 / 2) + mean64 / 2  # (Zσ + μ)/2
            X *= 2
        return _cast_back(X, Z.dtype, "inverse_transform(Z)")


def _cast_back(values: np.ndarray, dtype: np.dtype[Any], what: str) -> np.ndarray:
    """``values`` (float64) in ``dtype``, or a ValueError when they do not fit in it."""
    limit = np.finfo(dtype).max
    if values.size and not (-limit <= values.min() and values.max() <= limit):
        raise ValueError(
            f"{what} has values beyond the range of {dtype.name} (|values| <= {limit:.4g}): "
            "the data lie too far outside the range the scaler was fitted on"
        )
    return values.astype(dtype, copy=False)


@overload
def standardize(X_train: npt.ArrayLike) -> np.ndarray: ...
@overload
def standardize(
    X_train: npt.ArrayLike, X_other: npt.ArrayLike, /, *others: npt.ArrayLike
) -> tuple[np.ndarray, ...]: ...
def standardize(
    X_train: npt.ArrayLike, *others: npt.ArrayLike
) -> np.ndarray | tuple[np.ndarray, ...]:
    """Standardize ``X_train`` and any further arrays with the statistics of ``X_train``.

    Shorthand for fitting a :class:`Standardizer` on ``X_train`` and transforming
    ``X_train, *others`` with it; the test data never influences the statistics.
    Like ``Standardizer().fit_transform``, one array in gives one array out.

    Parameters
    ----------
    X_train : ndarray of shape (N, n_features)
    *others : ndarray of shape (M, n_features)
        E.g. validation and test inputs.

    Returns
    -------
    Z_train : ndarray of shape (N, n_features)
        When ``X_train`` is the only argument.
    tuple of ndarray of shape (N, n_features), (M, n_features), ...
        When there are further arrays: one array per argument, in order.

    Examples
    --------
    >>> Z_train, Z_test = standardize([[1.0], [3.0]], [[5.0]])
    >>> Z_train.ravel().tolist(), Z_test.ravel().tolist()
    ([-1.0, 1.0], [3.0])
    >>> standardize([[1.0], [3.0]]).ravel().tolist()
    [-1.0, 1.0]
    """
    scaler = Standardizer().fit(X_train)
    if not others:
        return scaler.transform(X_train)
    return tuple(scaler.transform(X) for X in (X_train, *others))
