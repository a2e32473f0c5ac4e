"""A convolution's unfold and fold, bound to the step's buffers.

The textbook (:mod:`psinet.layers`) makes new arrays: ``unfold`` a new patch matrix,
then ``np.hstack`` a new ``X̄_l`` with its ones column; ``fold`` a new padded image of
zeros. Here each is one write into a buffer allocated once per batch size: the patches
go straight into ``X̄_l[:, :-1]`` (whose ones column was written once), read through a
window view of the layer below's output buffer made once; fold adds each kernel
offset's gradients into views of the buffer ``Ψ_{l-1}`` is made in, made once. The
same values, added in the same order (one kernel offset after another), so the same
numbers to rounding.

A dense layer after a convolution flattens the maps in (C, H, W) order: one copy
through a transposed view each way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import _raw
from ..layers import Conv2D, Dense, Layer, every

Array = np.ndarray
Put = Callable[[Array, Array], Any]
"""``put(dst, src)``: a layer's rows from ``src`` written into ``dst``."""


def _view(array: Array, shape: tuple[int, ...]) -> Array:
    """``array`` seen with ``shape``, never a copy (a copy would lose the writes)."""
    view = array.reshape(shape)
    if not np.may_share_memory(view, array):  # reshape copied: the memory cannot be seen so
        raise ValueError(f"an array of shape {array.shape} cannot be viewed as {shape}")
    return view


def _windows(layer: Conv2D, maps: Array) -> Array:
    """The (N, Ho, Wo, C, kh, kw) patch view of ``maps`` (N, Hp, Wp, C)."""
    (kh, kw), (sh, sw) = layer.kernel_size, layer.stride
    _, Ho, Wo = layer.out_shape
    windows = sliding_window_view(maps, (kh, kw), axis=(1, 2))
    return windows[:, every(0, Ho, sh), every(0, Wo, sw)]


def built_in(layer: Layer, cls: type[Layer]) -> bool:
    """Whether ``layer`` is exactly ``cls`` (Dense or Conv2D) with its own unfold and fold:
    only then do the moves below stand in for them. A subclass, or a layer of the user's
    own, runs its own ``unfold`` and ``fold`` (copied into the buffers), as in the textbook."""
    return type(layer) is cls and not {"unfold", "fold"} & vars(layer).keys()


def changes_rows(layer: Layer) -> bool:
    """Whether unfold and fold do anything: not for a built-in dense layer on a dense one."""
    return not (built_in(layer, Dense) and len(layer.in_shape) == 1)


def unfold_put(layer: Layer, src: Array, dst: Array) -> Put:
    """``put(dst, src)`` writing ``layer.unfold(src)`` into ``dst`` (rows, n_in), for the
    layer below's output buffer ``src`` (rows, C) and a view ``dst`` of ``X̄_l[:, :-1]``.

    Plain ``copyto`` where unfold changes nothing (a dense layer after a dense one)."""
    if not changes_rows(layer):
        return _raw.copyto
    if not (built_in(layer, Dense) or built_in(layer, Conv2D)):  # its own unfold
        return lambda dst, src: np.copyto(dst, layer.unfold(src))
    C, H, W = layer.in_shape
    N = src.shape[0] // (H * W)
    if isinstance(layer, Dense):  # the maps flattened in (C, H, W) order
        flat = _view(dst, (N, C, H * W))
        source = src.reshape(N, H * W, C).transpose(0, 2, 1)
        return lambda _dst, _src: np.copyto(flat, source)
    assert isinstance(layer, Conv2D)
    (kh, kw), (ph, pw) = layer.kernel_size, layer.padding
    _, Ho, Wo = layer.out_shape
    patches = _view(dst, (N, Ho, Wo, C, kh, kw))
    maps = src.reshape(N, H, W, C)
    if not (ph or pw):
        windows = _windows(layer, maps)
        return lambda _dst, _src: np.copyto(patches, windows)
    padded = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=src.dtype)  # borders stay 0
    inside, windows = padded[:, ph : ph + H, pw : pw + W], _windows(layer, padded)

    def padded_put(_dst: Array, _src: Array) -> None:
        np.copyto(inside, maps)
        np.copyto(patches, windows)

    return padded_put


def unfold_data(layer: Layer, X_b: Array, X_bar: Array) -> Array:
    """``X̄_0`` (rows, n_in + 1) of a batch of images ``X_b`` (B, C, H, W) written into
    the buffer ``X_bar``, whose ones column is already there; returns ``X_bar``."""
    rows = X_bar[:, :-1]
    if not built_in(layer, Conv2D):  # a dense layer on images, or a layer's own unfold
        np.copyto(rows, layer.unfold(X_b))
        return X_bar
    assert isinstance(layer, Conv2D)
    C = layer.in_shape[0]
    (kh, kw), (ph, pw) = layer.kernel_size, layer.padding
    _, Ho, Wo = layer.out_shape
    maps = X_b.transpose(0, 2, 3, 1)
    if ph or pw:
        maps = np.pad(maps, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    np.copyto(_view(rows, (len(X_b), Ho, Wo, C, kh, kw)), _windows(layer, maps))
    return X_bar


def fold_move(layer: Layer, G: Array, psi_down: Array) -> Callable[[], None]:
    """A call that writes ``layer.fold(G)`` into ``psi_down`` (the layer below's rows,
    (rows, C)), for ``G`` = Ψ_l W_l[:, :-1] (rows_l, n_in), a buffer of its own (only
    for a layer that :func:`changes_rows`)."""
    if not (built_in(layer, Dense) or built_in(layer, Conv2D)):  # its own fold
        return lambda: np.copyto(psi_down, layer.fold(G))
    C, H, W = layer.in_shape
    N = psi_down.shape[0] // (H * W)
    if isinstance(layer, Dense):  # back from (C, H, W) order to the rows below
        target = _view(psi_down, (N, H * W, C))
        source = G.reshape(N, C, H * W).transpose(0, 2, 1)
        return lambda: np.copyto(target, source)
    assert isinstance(layer, Conv2D)
    (kh, kw), (sh, sw), (ph, pw) = layer.kernel_size, layer.stride, layer.padding
    _, Ho, Wo = layer.out_shape
    G6 = _view(G, (N, Ho, Wo, C, kh, kw))
    below = _view(psi_down, (N, H, W, C))
    grad = np.zeros((N, H + 2 * ph, W + 2 * pw, C), dtype=G.dtype) if ph or pw else below
    pairs = [  # (the pixels kernel offset (i, j) read, that offset's value in every patch)
        (grad[:, every(i, Ho, sh), every(j, Wo, sw)], G6[..., i, j])
        for i in range(kh)
        for j in range(kw)
    ]
    inside = grad[:, ph : ph + H, pw : pw + W]
    add = np.add

    def fold() -> None:
        grad[...] = 0
        for pixels, values in pairs:  # each offset's values added onto its pixels
            add(pixels, values, out=pixels)
        if grad is not below:
            np.copyto(below, inside)  # the padding's gradients dropped

    return fold
