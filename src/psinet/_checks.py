"""Input checks at the public boundary: clear errors instead of NumPy's deep ones."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

Array = np.ndarray


def as_float_array(value: Any, name: str, dtype: np.dtype[Any]) -> Array:
    """``value`` as an ndarray of ``dtype``; TypeError for non-numeric, ValueError for NaN/inf."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise TypeError(
            f"{name} must be a numeric array, got {type(value).__name__}: {exc}"
        ) from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric (int or float) array, got dtype {array.dtype}")
    array = array.astype(dtype, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must contain only finite numbers, got NaN or inf")
    return array


def as_batch(value: Any, name: str, width: int, dtype: np.dtype[Any]) -> tuple[Array, bool]:
    """``value`` as ndarray of shape (N, width); also says whether a 1-D sample was given."""
    array = as_float_array(value, name, dtype)
    single = array.ndim == 1
    if single:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != width:
        raise ValueError(
            f"{name} must have shape (N, {width}) or ({width},), got shape {np.shape(value)}"
        )
    if array.shape[0] == 0:
        raise ValueError(f"{name} must hold at least one sample, got shape {array.shape}")
    return array, single


def as_targets(value: Any, n_samples: int, width: int, dtype: np.dtype[Any]) -> Array:
    """Targets Y as ndarray of shape (n_samples, width); a 1-D Y is fine for one output."""
    Y = as_float_array(value, "Y", dtype)
    if Y.ndim == 1 and (width == 1 or n_samples == 1):
        Y = Y.reshape(n_samples, width) if Y.size == n_samples * width else Y
    if Y.shape != (n_samples, width):
        hint = ""
        if Y.shape == (n_samples,) and width > 1 and np.array_equal(Y, np.round(Y)):
            hint = f"; these look like class labels: pass psinet.one_hot(Y, {width})"
        raise ValueError(
            f"Y must have shape ({n_samples}, {width}) to match X and the network's "
            f"{width} output(s), got shape {np.shape(value)}{hint}"
        )
    return Y


def check_int(value: object, name: str, minimum: int) -> int:
    """Return ``value`` as an int, or raise if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
