"""NumPy plumbing for the training step: calls without dispatch, flat views.

The functions here are NumPy's own, without the ``__array_function__`` dispatch.

``np.dot``, ``np.vdot`` and ``np.copyto`` first call a small Python dispatcher (so that
other array libraries can override them); on the tiny arrays of a small network that
costs as much as the work itself (``np.vdot`` 0.74 µs, without the dispatcher 0.32).
psinet passes only its own ndarrays here, so the dispatch has nothing to do.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def _implementation(function: Any) -> Any:
    return getattr(function, "_implementation", function)


dot = _implementation(np.dot)
vdot = _implementation(np.vdot)
copyto = _implementation(np.copyto)


def flat_view(arrays: Sequence[np.ndarray]) -> np.ndarray | None:
    """One 1-d view of all ``arrays`` when they lie back to back, in order, in one
    C-contiguous buffer (as :func:`flat_arrays_like` makes them), else None."""
    if not arrays:
        return None
    first = arrays[0]
    base = first.base if first.base is not None else first
    if base.ndim != 1 or not base.flags.c_contiguous or base.dtype != first.dtype:
        return None
    if base.size != sum(a.size for a in arrays):
        return None
    address = base.__array_interface__["data"][0]
    for a in arrays:
        if a.base is not base or not a.flags.c_contiguous:
            return None
        if a.__array_interface__["data"][0] != address:
            return None
        address += a.nbytes
    return base


def flat_arrays_like(shapes: Sequence[tuple[int, ...]], dtype: Any) -> list[np.ndarray]:
    """New arrays of these shapes, views back to back into one flat buffer (uninitialized)."""
    flat = np.empty(sum(math.prod(shape) for shape in shapes), dtype=dtype)
    arrays, offset = [], 0
    for shape in shapes:
        size = math.prod(shape)
        arrays.append(flat[offset : offset + size].reshape(shape))
        offset += size
    return arrays
