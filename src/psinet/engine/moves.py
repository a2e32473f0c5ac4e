"""Moves: each layer's forward and backward work, bound once to the arrays it reuses.

A move is a call with no arguments that redoes one piece of a training step in place,
on buffers allocated once per batch size: ``z_l = X̄_l W_lᵀ`` into ``z_l``, ``a = f(z)``
into ``a``, ``Ψ ← Ψ ⊙ f'(z)`` in place. Binding the ufuncs and arrays ahead of time saves
NumPy's per-call overhead (about 1 µs a call), which is most of a small network's step.

Every fast move stands in for a built-in activation's own math, and is used only for a
part that is **exactly** that built-in (:func:`exactly`: every method of the protocol is
the built-in's own, so a subclass that overrides ``value``, ``derivative`` or
``backward`` gets its own math). Any other activation runs through the plain protocol,
``f(z)`` and ``f.chain(grad_a, z, a)``, exactly as in the textbook.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from .. import _raw
from .._contract import exactly
from ..activations import Activation, Identity, ReLU, Sigmoid, Softmax, Tanh

Array = np.ndarray
Move = Callable[[], object]
"""A call with its arrays bound: each call redoes one step's move in place."""


def _constant(value: float, like: Array) -> Array:
    """``value`` as a 0-d array of ``like``'s dtype: a ufunc takes it far faster than a float."""
    return np.array(value, dtype=like.dtype)


def nothing() -> None:
    """The move that does nothing (``Ψ ⊙ 1`` for the identity; an output left to the start)."""
    return None


# ---------------------------------------------------------------------------- forward
def forward_move(f: Activation, z: Array, a: Array) -> Move:
    """A call that writes ``a = f(z)`` into ``a`` (both ndarrays of shape (N, n))."""
    if exactly(f, Sigmoid):
        half = _constant(0.5, a)
        multiply, tanh, add = np.multiply, np.tanh, np.add

        def sigmoid() -> None:  # σ(z) = ½ + ½·tanh(z/2), as Sigmoid.value
            multiply(z, half, a)
            tanh(a, a)
            multiply(a, half, a)
            add(a, half, a)

        return sigmoid
    if exactly(f, Tanh):
        return partial(np.tanh, z, a)
    if exactly(f, ReLU):
        return partial(np.maximum, z, _constant(0.0, a), out=a)
    if exactly(f, Identity):
        return partial(np.copyto, a, z)
    if exactly(f, Softmax):
        return _softmax_move(z, a)

    def plain() -> None:  # any other activation: its own value, checked, copied in
        np.copyto(a, f(z), casting="same_kind")

    return plain


def _softmax_move(z: Array, a: Array) -> Move:
    row_max, row_sum = np.empty(len(z), dtype=a.dtype), np.empty(len(z), dtype=a.dtype)
    m, s, ones = row_max[:, None], row_sum[:, None], np.ones(z.shape[1], dtype=a.dtype)
    reduce_max, subtract, exp, dot, divide = (
        np.maximum.reduce,
        np.subtract,
        np.exp,
        np.dot,
        np.divide,
    )

    def softmax() -> None:  # e^(z − max z) / Σ e^(z − max z), row by row, as Softmax.value
        reduce_max(z, axis=1, out=row_max)
        subtract(z, m, a)
        exp(a, a)
        dot(a, ones, row_sum)  # the row sums, as one matrix-vector product
        divide(a, s, a)

    return softmax


# ---------------------------------------------------------------------------- backward
def backward_move(f: Activation, psi: Array, z: Array, a: Array) -> Move:
    """A call that turns ``psi`` (∂E/∂a, (N, n)) into ``Ψ = psi ⊙ f'(z)``, in place."""
    if exactly(f, Sigmoid):
        scratch = np.empty_like(psi)
        multiply, subtract = np.multiply, np.subtract

        def sigmoid_prime() -> None:  # Ψ ⊙ a ⊙ (1 − a) = Ψ⊙a − (Ψ⊙a)⊙a
            multiply(psi, a, psi)
            multiply(psi, a, scratch)
            subtract(psi, scratch, psi)

        return sigmoid_prime
    if exactly(f, Tanh):
        one, a2 = _constant(1.0, psi), np.empty_like(psi)
        multiply, subtract = np.multiply, np.subtract

        def tanh_prime() -> None:  # Ψ ⊙ (1 − a²)
            multiply(a, a, a2)
            subtract(one, a2, a2)
            multiply(psi, a2, psi)

        return tanh_prime
    if exactly(f, ReLU):
        zero, mask = _constant(0.0, psi), np.empty_like(psi)  # a 0/1 mask in psi's dtype
        greater, multiply = np.greater, np.multiply

        def relu_prime() -> None:  # Ψ ⊙ [z > 0]
            greater(z, zero, mask)
            multiply(psi, mask, psi)

        return relu_prime
    if exactly(f, Identity):
        return nothing  # Ψ ⊙ 1 is Ψ

    def plain() -> None:  # any other activation: its own backward (or derivative), checked
        np.copyto(psi, f.chain(psi, z, a), casting="same_kind")

    return plain


# ---------------------------------------------------------------------------- products
# Products up to this many multiply-adds go through np.dot, which has less overhead per call
# than np.matmul (0.6 against 1.0 µs on tiny ones); above it np.matmul, which is as fast or
# faster (np.dot copies a strided operand such as W_l[:, :-1]).
_DOT_MAX_MULTIPLY_ADDS = 2**20


def product(m: int, k: int, n: int, out: Array | None = None) -> Any:
    """The function that computes an (m, k) by (k, n) product into ``out``, called as
    ``product(A, B, out)``: np.dot for small ones into a C-contiguous ``out`` (None:
    a buffer of psinet's, always C-contiguous), np.matmul otherwise."""
    small = m * k * n <= _DOT_MAX_MULTIPLY_ADDS
    return _raw.dot if small and (out is None or out.flags.c_contiguous) else np.matmul


class TransposedProduct:
    """``z_lᵀ = W_l X̄_lᵀ`` into ``z_T`` (n_{l+1}, N), called like the row-major product
    ``product(X̄_l, W_lᵀ, z_l)`` it stands in for (``z_l`` is ``z_T``'s transpose)."""

    def __init__(self, W: Array, z_T: Array) -> None:
        self.W, self.z_T = W, z_T
        self.product = product(z_T.shape[0], W.shape[1], z_T.shape[1], z_T)

    def __call__(self, X_bar: Array, W_T: Array, z: Array) -> None:
        self.product(self.W, X_bar.T, self.z_T)
