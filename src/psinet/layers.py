"""What a layer is: the rows its weights multiply, and how a gradient goes back to its input.

Every layer of a :class:`psinet.Network` is the same equation, ``z_l = X̄_l W_lᵀ``
with the bias as the last column of ``W_l`` and a 1 at the end of every row of
``X̄_l``. Layers differ only in what a *row* is:

* :class:`Dense` (a plain int in ``Network([...])``): one row per sample, the
  sample's values; ``W_l`` has shape (n_out, n_in + 1).
* :class:`Conv2D`: one row per sample *and output position*, the patch of the
  input under the kernel there (channel, kernel row, kernel column, as PyTorch's
  ``weight.reshape(filters, -1)``); ``W_l`` has shape (filters, C·kh·kw + 1),
  each filter one row.

So a layer needs two functions, one each way:

* ``unfold(X_l)``: the rows of ``X̄_l`` without its ones column, from the layer
  below's output (or the data, for the first layer);
* ``fold(G)``: the inverse direction for gradients: ``G = Ψ_l W_l[:, :-1]``
  (∂E/∂ of every row's values) back onto the values the rows were made of. A
  pixel that sits in several patches gets the sum of their gradients: fold *adds*.

Layouts. The data is (N, n_0) for a dense network and (N, C, H, W) for images
(channels first, as PyTorch). A convolution's ``z_l``, ``X_{l+1}`` and ``Ψ_l`` are
(N·Ho·Wo, filters): one row per sample and position, sample-major, positions in
reading order; ``maps(a)`` views them as (N, filters, Ho, Wo). A dense layer after a
convolution sees the maps flattened in (C, H, W) order, as ``torch.nn.Flatten``.

>>> import numpy as np
>>> conv = Conv2D(1, 2).build((1, 3, 3), first=True)
>>> X = np.arange(9.0).reshape(1, 1, 3, 3)
>>> conv.unfold(X)            # 4 positions, each a 2×2 patch
array([[0., 1., 3., 4.],
       [1., 2., 4., 5.],
       [3., 4., 6., 7.],
       [4., 5., 7., 8.]])
>>> conv.fold(np.ones((4, 4)))[0, 0]   # how many patches each pixel is in
array([[1., 2., 1.],
       [2., 4., 2.],
       [1., 2., 1.]])
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ._checks import shown

Array = np.ndarray
Shape = tuple[int, ...]


class Layer:
    """What every layer has once :meth:`build` placed it in a network.

    ``in_shape``: one sample's input, (n,) or (C, H, W); ``out_shape``: one sample's
    output, (n,) or (filters, Ho, Wo); ``n_in``, ``n_out``: ``W_l`` has shape
    (n_out, n_in + 1); ``positions``: the rows per sample (1 for a dense layer);
    ``first``: whether the layer reads the data (else the layer below's rows).
    """

    in_shape: Shape = ()
    out_shape: Shape = ()
    n_in: int = 0
    n_out: int = 0
    positions: int = 1
    first: bool = False

    @property
    def built(self) -> bool:
        """Whether the layer knows its input shape."""
        return bool(self.in_shape)

    def build(self, in_shape: Shape, *, first: bool) -> Layer:  # pragma: no cover - abstract
        """A copy of this layer placed after an input of shape ``in_shape``."""
        raise NotImplementedError

    def unfold(self, X: Array) -> Array:  # pragma: no cover - abstract
        """The rows of ``X̄_l`` without the ones column, ndarray of shape
        (N·positions, n_in)."""
        raise NotImplementedError

    def fold(self, G: Array) -> Array:  # pragma: no cover - abstract
        """``G`` (N·positions, n_in), ∂E/∂ of each row, back onto the layer's input."""
        raise NotImplementedError

    def maps(self, rows: Array) -> Array:
        """This layer's ``z_l``, ``X_{l+1}`` or ``Ψ_l`` (N·positions, n_out) per sample:
        (N, n_out) for a dense layer, a view of shape (N, filters, Ho, Wo) for a
        convolution."""
        return rows

    def get_config(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """The arguments that rebuild the layer."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is type(self)
            and self.get_config() == other.get_config()
            and self.in_shape == other.in_shape
        )

    def __hash__(self) -> int:
        return hash((repr(self), self.in_shape))


class Dense(Layer):
    """A fully connected layer of ``units`` neurons: one row per sample.

    After a convolution (or on image data) it sees each sample's maps flattened in
    (C, H, W) order, as ``torch.nn.Flatten``: ``unfold`` flattens, ``fold`` puts
    gradients back in the layer below's layout. Otherwise both return their input.
    """

    def __init__(self, units: int) -> None:
        self.units = _check_positive(units, "units")

    def build(self, in_shape: Shape, *, first: bool) -> Dense:
        """A copy with ``n_in = prod(in_shape)``; see :class:`Layer`."""
        layer = copy.copy(self)  # a subclass stays itself
        layer.in_shape, layer.first = tuple(in_shape), first
        layer.n_in, layer.n_out, layer.out_shape = math.prod(in_shape), self.units, (self.units,)
        return layer

    def unfold(self, X: Array) -> Array:
        """(N, n_in): the input itself, or image maps flattened in (C, H, W) order."""
        if len(self.in_shape) == 1:
            return X
        if self.first:  # the data, (N, C, H, W)
            return X.reshape(len(X), -1)
        C, H, W = self.in_shape  # the rows of the convolution below, (N·H·W, C)
        return X.reshape(-1, H * W, C).transpose(0, 2, 1).reshape(-1, self.n_in)

    def fold(self, G: Array) -> Array:
        """(N, n_in) back into the layer below's layout (the inverse of :meth:`unfold`)."""
        if len(self.in_shape) == 1:
            return G
        if self.first:
            return G.reshape(len(G), *self.in_shape)
        C, H, W = self.in_shape
        return G.reshape(len(G), C, H * W).transpose(0, 2, 1).reshape(-1, C)

    def get_config(self) -> dict[str, Any]:
        """``{"units": units}``."""
        return {"units": self.units}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.units})"


class Conv2D(Layer):
    """A 2-D convolution (cross-correlation, as PyTorch's ``nn.Conv2d``) of ``filters``
    kernels of ``kernel_size``, moved by ``stride``, over an input zero-padded by
    ``padding`` on every side. Each may be an int or a (rows, columns) pair; ``padding``
    may also be ``"valid"`` (0) or ``"same"`` (stride 1 and an odd kernel: (k − 1)/2 on
    each side, so that the maps keep their size), as in Keras and PyTorch.

    ``W_l`` has shape (filters, C·kh·kw + 1): row f is filter f's weights in
    (channel, kernel row, kernel column) order, then its bias.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
    ) -> None:
        self.filters = _check_positive(filters, "Conv2D filters")
        self.kernel_size = _pair(kernel_size, "Conv2D kernel_size", 1)
        self.stride = _pair(stride, "Conv2D stride", 1)
        self.padding = _padding(padding, self.kernel_size, self.stride)

    def build(self, in_shape: Shape, *, first: bool) -> Conv2D:
        """A copy placed after an input (C, H, W); refuses a kernel larger than the
        padded input."""
        if len(in_shape) != 3:
            raise ValueError(
                f"{self!r} needs an image input (C, H, W): the input tuple first or another "
                f"Conv2D below it, got an input of shape {tuple(in_shape)}"
            )
        C, H, W = in_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        if kh > H + 2 * ph or kw > W + 2 * pw:
            raise ValueError(
                f"{self!r}: kernel {kh}×{kw} is larger than its padded input "
                f"{H + 2 * ph}×{W + 2 * pw} (input {C}×{H}×{W} as channels×height×width, "
                f"padding {ph}, {pw})"
            )
        layer = copy.copy(self)  # a subclass stays itself
        layer.in_shape, layer.first = (C, H, W), first
        Ho, Wo = (H + 2 * ph - kh) // sh + 1, (W + 2 * pw - kw) // sw + 1
        layer.out_shape, layer.positions = (self.filters, Ho, Wo), Ho * Wo
        layer.n_in, layer.n_out = C * kh * kw, self.filters
        return layer

    def _padded_maps(self, X: Array) -> Array:
        """The input as (N, H, W, C) maps (a view), zero-padded (a copy) if asked."""
        C, H, W = self.in_shape
        maps = X.transpose(0, 2, 3, 1) if self.first else X.reshape(-1, H, W, C)
        ph, pw = self.padding
        return np.pad(maps, ((0, 0), (ph, ph), (pw, pw), (0, 0))) if ph or pw else maps

    def unfold(self, X: Array) -> Array:
        """The patches: ndarray of shape (N·Ho·Wo, C·kh·kw), one row per sample and
        position, from the data (N, C, H, W) or the rows (N·H·W, C) of the layer below."""
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        _, Ho, Wo = self.out_shape
        windows = sliding_window_view(self._padded_maps(X), (kh, kw), axis=(1, 2))
        patches = windows[:, every(0, Ho, sh), every(0, Wo, sw)]  # (N, Ho, Wo, C, kh, kw)
        return patches.reshape(-1, self.n_in)

    def fold(self, G: Array) -> Array:
        """``G`` (N·Ho·Wo, C·kh·kw), one gradient per patch value, added back onto the
        pixel each value was read from: the input's gradient, (N, C, H, W) for the
        data or (N·H·W, C) rows for the layer below. The adjoint of :meth:`unfold`."""
        C, H, W = self.in_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        _, Ho, Wo = self.out_shape
        G = G.reshape(-1, Ho, Wo, C, kh, kw)
        grad = np.zeros((len(G), H + 2 * ph, W + 2 * pw, C), dtype=G.dtype)
        for i in range(kh):  # each kernel offset: its value of every patch, onto its pixel
            for j in range(kw):
                grad[:, every(i, Ho, sh), every(j, Wo, sw)] += G[..., i, j]
        grad = grad[:, ph : ph + H, pw : pw + W]  # the padding's gradients dropped
        return grad.transpose(0, 3, 1, 2) if self.first else grad.reshape(-1, C)

    def maps(self, rows: Array) -> Array:
        """(N·Ho·Wo, filters) viewed as (N, filters, Ho, Wo), PyTorch's layout."""
        F, Ho, Wo = self.out_shape
        return rows.reshape(-1, Ho, Wo, F).transpose(0, 3, 1, 2)

    def get_config(self) -> dict[str, Any]:
        """The constructor's arguments, pairs as lists."""
        return {
            "filters": self.filters,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
        }

    def __repr__(self) -> str:
        def short(pair: tuple[int, int]) -> str:
            return str(pair[0]) if pair[0] == pair[1] else str(pair)

        args = [str(self.filters), short(self.kernel_size)]
        if self.stride != (1, 1):
            args.append(f"stride={short(self.stride)}")
        if self.padding != (0, 0):
            args.append(f"padding={short(self.padding)}")
        return f"{type(self).__name__}({', '.join(args)})"


def every(offset: int, n: int, stride: int) -> slice:
    """The ``n`` rows (or columns) ``offset, offset + stride, …`` that kernel offset
    ``offset`` reads, one per output position."""
    return slice(offset, offset + stride * (n - 1) + 1, stride)


def _check_positive(value: Any, name: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {shown(value)}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return int(value)


def _pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each >= minimum, as a pair."""
    pair = tuple(value) if isinstance(value, (tuple, list)) else (value, value)
    if len(pair) != 2 or any(
        isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)) for v in pair
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {shown(value)}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {shown(value)}")
    return int(pair[0]), int(pair[1])


def _padding(value: Any, kernel: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int]:
    """``padding`` as a pair of ints, from an int, a pair, ``"valid"`` or ``"same"``."""
    if not isinstance(value, str):
        return _pair(value, "Conv2D padding", 0)
    if value == "valid":
        return 0, 0
    if value != "same":
        raise ValueError(
            f"Conv2D padding must be an int, a pair of ints, 'valid' or 'same', got {value!r}"
        )
    if stride != (1, 1) or kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
        raise ValueError(
            "Conv2D padding='same' needs stride 1 and an odd kernel size (the zeros then split "
            f"evenly, as in PyTorch), got kernel_size {kernel} and stride {stride}"
        )
    return (kernel[0] - 1) // 2, (kernel[1] - 1) // 2


def from_config(config: dict[str, Any]) -> Layer:
    """The (unbuilt) layer a :meth:`Layer.get_config` dict with a ``"class"`` key names."""
    config = dict(config)
    kind = config.pop("class", None)
    if kind == "Conv2D":
        return Conv2D(**config)
    if kind == "Dense":
        return Dense(**config)
    raise ValueError(f"unknown layer class {kind!r}: expected 'Dense' or 'Conv2D'")
