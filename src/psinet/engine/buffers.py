"""The step's arrays, allocated once per batch size, and the forward pass bound to them.

The textbook's forward pass (:meth:`psinet.Network._forward`) makes new arrays for every
``X̄_l``, ``z_l`` and ``X_{l+1}``; the engine's writes the same numbers into buffers that
every step of one batch size reuses, each layer's product and activation bound to them
once (:mod:`psinet.engine.moves`). What changes, and why the result is the same:

* **Buffers.** ``X̄_l`` gets its column of ones once, when allocated; each step writes
  ``X_{l+1}`` into ``X̄_{l+1}[:, :-1]``: the same values as ``[X_{l+1}, 1]`` (for a
  convolution, its patches, :mod:`psinet.engine.patches`). A convolution's arrays have
  a row per sample and output position.
* **Transposed layouts.** A wide float32 layer's ``z_l`` is computed as ``z_lᵀ = W_l
  X̄_lᵀ`` (OpenBLAS is faster that way round), and a built-in softmax output keeps
  ``z_{L-1}`` as the transpose of an (n_L, N) array (its row maxima run along contiguous
  memory): the cache's ``z_l`` is a transposed view, the same matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .._contract import annotate, exactly
from ..activations import Softmax
from ..network import ForwardCache, Network
from .moves import TransposedProduct, forward_move, product
from .patches import unfold_put

Array = np.ndarray

# In float32, OpenBLAS computes a wide layer's z_l faster as z_lᵀ = W_l X̄_lᵀ: the product
# alone takes 0.72× the time for 6566 → 256 (batch 32), 0.93× for 785 → 256, 1.55× for
# 257 → 10. Through fit (the elementwise work then reads z_l transposed) it paid for
# 6566 → 256 (0.88× per step) and not for 785 → 256 (1.10×); in float64 it did not pay.
_TRANSPOSED_MIN_FAN_IN, _TRANSPOSED_MIN_WIDTH = 2048, 64


def _transposed(dtype: np.dtype[Any], n_in: int, n_out: int) -> bool:
    """Whether the buffers hold z_l as the transpose of a (n_out, N) product."""
    return dtype == np.float32 and n_in >= _TRANSPOSED_MIN_FAN_IN and n_out >= _TRANSPOSED_MIN_WIDTH


class Buffers:
    """One batch size's arrays: ``cache`` (a :class:`psinet.network.ForwardCache` whose
    lists are the buffers, ``cache.psi`` included), ``X_bar_0`` (the cache's own X̄_0
    buffer) and ``moves``, per layer ``(l, product, W_lᵀ, z_l, f_l's move, a_l,
    X̄_{l+1}[:, :-1], X̄_{l+1}, put)`` (the two X̄ None for l = L-1; ``put(X̄_{l+1}[:,
    :-1], a_l)`` writes the next layer's rows: a copy, or a convolution's patches)."""

    def __init__(self, net: Network, n_samples: int) -> None:
        dtype, N, layers = net.dtype, n_samples, net.layers
        # each layer's rows: N (dense) or N·P (a convolution: one per sample and position)
        rows = [N * q.positions for q in layers]
        X_bar = [np.empty((R, q.n_in + 1), dtype=dtype) for R, q in zip(rows, layers, strict=True)]
        for X_bar_l in X_bar:
            X_bar_l[:, -1] = 1  # the bias "input", written once and never overwritten
        last = len(layers) - 1
        softmax_out = exactly(net.activations[-1], Softmax)
        self.z_T = [
            np.empty((q.n_out, N), dtype=dtype)
            if q.positions == 1
            and (_transposed(dtype, q.n_in, q.n_out) or (softmax_out and l == last))
            else None
            for l, q in enumerate(layers)
        ]
        z = [
            np.empty((R, q.n_out), dtype=dtype) if zt is None else zt.T
            for R, q, zt in zip(rows, layers, self.z_T, strict=True)
        ]
        psi = [np.zeros((R, q.n_out), dtype=dtype) for R, q in zip(rows, layers, strict=True)]
        a = [np.empty((R, q.n_out), dtype=dtype) for R, q in zip(rows, layers, strict=True)]
        self.cache = ForwardCache(X_bar=X_bar, z=z, a=a, psi=psi)
        self.X_bar_0 = X_bar[0]
        self.n_samples = N
        self.moves = self._bind(net)

    def _bind(self, net: Network) -> list[tuple[Any, ...]]:
        """Each layer's forward moves, bound to these arrays (the weights are the network's
        own arrays for its whole life, so the views stay valid)."""
        cache, moves = self.cache, []
        for l, (W, f) in enumerate(zip(net.weights, net.activations, strict=True)):
            R = len(cache.X_bar[l])  # the layer's rows
            z_product, W_T = product(R, W.shape[1], W.shape[0]), W.T
            z_T = self.z_T[l]
            if z_T is not None:  # the same z_l, written as z_lᵀ = W_l X̄_lᵀ (see _transposed)
                z_product = TransposedProduct(W, z_T)
            X_bar_next = cache.X_bar[l + 1] if l + 1 < net.n_layers else None
            X_next = None if X_bar_next is None else X_bar_next[:, :-1]
            put = None if X_next is None else unfold_put(net.layers[l + 1], cache.a[l], X_next)
            move = forward_move(f, cache.z[l], cache.a[l])
            moves.append((l, z_product, W_T, cache.z[l], move, cache.a[l], X_next, X_bar_next, put))
        return moves


def forward(X_bar_0: Array, buffers: Buffers, moves: Sequence[tuple[Any, ...]]) -> None:
    """The forward pass into ``buffers`` from an ``X̄_0`` (N, n_0 + 1) that already ends in
    a ones column (a view of fit's arranged data: nothing copied). ``moves``: the
    buffers' own, or a step plan's variant of them."""
    cache = buffers.cache
    cache.X_bar[0] = X_bar_0
    X_bar_l, l = X_bar_0, 0
    try:
        for l, z_product, W_T, z_l, f_l, a_l, X_next, X_bar_next, put in moves:  # noqa: B007
            z_product(X_bar_l, W_T, z_l)  # z_l = X̄_l W_lᵀ              (N, n_{l+1})
            f_l()  # a_l = X_{l+1} = f_l(z_l)                           (N, n_{l+1})
            if X_bar_next is not None:
                put(X_next, a_l)  # X̄_{l+1} = [X_{l+1}, 1]           (N, n_{l+1} + 1)
            X_bar_l = X_bar_next
    except Exception as exc:
        annotate(exc, f"the forward pass, layer {l}")
        raise
