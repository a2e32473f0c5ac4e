"""The Ψ recursion with its arrays bound once, and the divergence guard's bound.

The textbook's :func:`psinet.backprop.backward` makes new arrays; :class:`Sweep` writes
the same products into the step's buffers, ``∂E/∂W_l = Ψ_lᵀ X̄_l`` into the gradient
arrays and ``Ψ_{l-1}`` into the cache, with each layer's ``⊙ f'`` bound as a move. With
plain SGD, Ψ arrives multiplied by η (see :mod:`psinet.engine.step`); the recursion is
linear in Ψ, so every ``Ψ_l`` and ``∂E/∂W_l`` is η times the textbook's, to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._contract import annotate
from ..layers import Layer
from ..network import ForwardCache, Network
from .moves import backward_move, product
from .patches import changes_rows, fold_move

Array = np.ndarray


class Sweep:
    """The Ψ recursion of one network over one batch size's buffers, bound once.

    ``grad_W``: arrays shaped like ``net.weights`` (C-contiguous) that receive
    ``∂E/∂W_l``; ``l2`` the L2 penalty λ; ``scale`` the factor Ψ arrives with (η or 1).
    :meth:`run` is the sweep itself, from ``Ψ_{L-1}`` (already in ``cache.psi[L-1]``)
    back to layer 0.
    """

    def __init__(
        self,
        net: Network,
        cache: ForwardCache,
        grad_W: Sequence[Array],
        l2: float = 0.0,
        scale: float = 1.0,
    ) -> None:
        W, f = net.weights, net.activations
        X_bar, z, a, psi = cache.X_bar, cache.z, cache.a, cache.psi
        layers = net.layers
        folds = {l: _fold(layers[l], psi[l], psi[l - 1]) for l in range(1, net.n_layers)}
        self.upper = [  # layers L-1 … 1: a gradient, then Ψ one layer down
            (
                l,
                product(q.n_out, len(X_bar[l]), q.n_in + 1, grad_W[l]),  # for Ψ_lᵀ X̄_l
                psi[l].T,
                X_bar[l],
                grad_W[l],
                product(len(X_bar[l]), q.n_out, q.n_in),  # for Ψ_l W_l[:, :-1]
                psi[l],
                W[l][:, :-1],  # the bias column dropped: no neuron of layer l feeds the 1
                folds[l][0],  # Ψ_l W_l[:, :-1]: Ψ_{l-1}'s buffer, or a convolution's rows
                folds[l][1],  # fold them onto Ψ_{l-1}'s buffer (nothing for dense layers)
                backward_move(f[l - 1], psi[l - 1], z[l - 1], a[l - 1]),
            )
            for l, q in reversed(list(enumerate(layers)))
            if l > 0
        ]
        q0 = layers[0]
        self.first = (product(q0.n_out, len(X_bar[0]), q0.n_in + 1, grad_W[0]), psi[0].T, grad_W[0])
        self.W, self.grad_W, self.l2, self.scale = W, grad_W, l2, scale

    def run(self, X_bar_0: Array) -> float:
        """Fill every ``∂E/∂W_l`` and ``Ψ_l`` for l < L-1; returns the L2 penalty (0 without).

        ``X_bar_0``: ``X̄_0``, ndarray of shape (N, n_0 + 1), the batch the forward pass ran.
        """
        l = -1
        try:
            for (
                l,  # noqa: B007 (named in errors)
                grad_product,
                psi_T,
                X_bar_l,
                grad_l,
                psi_product,
                psi_l,
                W_l,
                psi_down,
                fold,
                f_prime,
            ) in self.upper:
                grad_product(psi_T, X_bar_l, grad_l)  # ∂E/∂W_l = Ψ_lᵀ X̄_l   (n_{l+1}, n_l + 1)
                psi_product(psi_l, W_l, psi_down)  # Ψ_l W_l[:, :-1]          (N, n_l)
                if fold is not None:
                    fold()  # ∂E/∂X_l = fold(Ψ_l W_l[:, :-1]), into Ψ_{l-1}'s buffer
                f_prime()  # Ψ_{l-1} = (Ψ_l W_l[:, :-1]) ⊙ f'_{l-1}(z_{l-1}), in place
            grad_product, psi_T, grad_0 = self.first
            grad_product(psi_T, X_bar_0, grad_0)  # ∂E/∂W_0 = Ψ_0ᵀ X̄_0
        except Exception as exc:
            annotate(exc, f"backprop, layer {l - 1}")
            raise
        if self.l2:
            return add_l2(self.W, self.grad_W, self.l2, self.scale)
        return 0.0


def _fold(layer: Layer, psi_l: Array, psi_down: Array) -> tuple[Array, Any]:
    """(where ``Ψ_l W_l[:, :-1]`` is written, the move folding it onto ``psi_down``):
    ``psi_down`` itself and None for a dense layer on a dense one, else a buffer of the
    layer's rows and its :func:`psinet.engine.patches.fold_move`."""
    if not changes_rows(layer):
        return psi_down, None
    rows = np.empty((len(psi_l), layer.n_in), dtype=psi_l.dtype)
    return rows, fold_move(layer, rows, psi_down)


def add_l2(W: Sequence[Array], grad_W: Sequence[Array], l2: float, scale: float = 1.0) -> float:
    """Add ``scale·λ W_l[:, :-1]`` to each gradient (never the bias); return ``λ/2 Σ‖W‖²``."""
    penalty = 0.0
    for W_l, g_l in zip(W, grad_W, strict=True):
        weights = W_l[:, :-1]
        penalty += float(np.vdot(weights, weights))
        g_l[:, :-1] += (scale * l2) * weights
    return l2 / 2 * penalty


_TINY = {np.dtype(t).char: float(np.finfo(t).tiny) for t in (np.float32, np.float64)}


def gradient_bound(
    net: Network, cache: Any, X_bar_norm2: float | None, l2: float, scale: float
) -> float:
    """An upper bound on ``|∂E/∂W_l|`` over every entry of every layer (NaN or inf if unknown).

    Entry (i, j) of ``Ψ_lᵀ X̄_l`` is the dot product of column i of ``Ψ_l`` and column j
    of ``X̄_l``, so by Cauchy–Schwarz it is at most ``‖Ψ_l‖ ‖X̄_l‖`` (Frobenius norms,
    one dot product each over a batch-sized array; ``‖X̄_l‖² = ‖X_l‖² + N`` for the ones
    column). A NaN or inf anywhere in Ψ makes the bound NaN or inf. Each squared entry
    that underflows loses less than the dtype's ``tiny``, so ``size·tiny`` is added back
    to each ‖·‖². The L2 term adds at most ``scale·λ·‖W‖``.
    """
    psi, X_bar = cache.psi, cache.X_bar
    tiny = _TINY[psi[0].dtype.char]

    def norm2(x: Array) -> float:  # ‖x‖², never below the true value
        return float(np.vdot(x, x)) + x.size * tiny

    if X_bar_norm2 is None:
        X_bar_norm2 = norm2(cache.X_bar[0])
    total = norm2(psi[0]) * X_bar_norm2  # a sum keeps any NaN (max would not)
    for l in range(1, len(psi)):
        total += norm2(psi[l]) * norm2(X_bar[l])  # ‖X̄_l‖² = ‖X_l‖² + N (the ones)
    bound = math.sqrt(total)
    if l2:
        w_norm = math.sqrt(sum(float(np.vdot(W, W)) for W in net.weights))
        bound += scale * l2 * max(1.0, w_norm)  # ≥ the scalar scale·λ too: it must fit the dtype
    return bound
