"""The way out to PyTorch: the same network, weight for weight, as a ``torch.nn.Sequential``.

A psinet layer ``z_l = X̄_l W_lᵀ`` is a ``torch.nn.Linear`` with ``weight = W_l[:, :-1]``
(n_{l+1}, n_l) and ``bias = W_l[:, -1]`` (n_{l+1},), followed by its activation module:

=================  ===================================================================
psinet             torch.nn
=================  ===================================================================
``sigmoid``        ``Sigmoid()``
``tanh``           ``Tanh()``
``relu``           ``ReLU()``
``leaky_relu``     ``LeakyReLU(negative_slope=alpha)``
``elu``            ``ELU(alpha=alpha)``
``softplus``       ``Softplus(beta=1, threshold=40)``: psinet's softplus has no linear
                   switch; above 40 ``log(1 + e^z)`` *is* ``z`` in float32 and float64
``identity``       ``Identity()``
``softmax``        ``Softmax(dim=-1)`` (after a convolution ``Softmax(dim=1)``: psinet's
                   runs over the channels at each position)
=================  ===================================================================

A :class:`psinet.layers.Conv2D` layer is a ``torch.nn.Conv2d(C, filters, kernel_size,
stride, padding)`` with ``weight = W_l[:, :-1].reshape(filters, C, kh, kw)`` and
``bias = W_l[:, -1]``; psinet's dense layers read the maps flattened in (C, H, W) order,
which is an ``nn.Flatten()`` before the first Linear. The image input's height and width
are recorded nowhere in a torch model, so :func:`from_torch` is told them:
``input_shape=(C, H, W)``.

Outputs agree to rounding, not bit for bit. Measured (torch 2.13, NumPy 2.4, random
networks of 2-3 layers, 256 samples): ``to_torch(net)(X)`` and ``net.predict(X)`` differ by
at most 8 ulps of the output's scale, ``max|diff| ≤ 8 eps · max|ŷ|`` (≤ 1.6e-15 in
float64, ≤ 8.7e-7 in float32), for every activation; they are never bit-identical, as
``Linear`` adds the bias after the product (psinet inside it) and the BLAS sums in
another order, so an output near 0 can differ by much more *relative* to itself. The
activation modules alone are bit-identical for ReLU, LeakyReLU and Identity (the same
operations) and a few ulps apart for the others (ELU's ``expm1`` differs by an ulp now
and then), with one exception: psinet's sigmoid is ``½(1 + tanh(z/2))``, which never
overflows but loses *relative* precision far in the negative tail (about 2e-10 at
z = −16 in float64; 0 instead of 4e-18 at z = −40), while its absolute difference from
``nn.Sigmoid`` stays within 1 eps (measured: ≤ 2.2e-16 in float64, ≤ 1.2e-7 in float32).
``nn.Sigmoid`` keeps full relative precision there.

* :func:`to_torch` builds that Sequential in the network's dtype (float64 stays float64);
  ``logits=True`` leaves out the output activation, for ``BCEWithLogitsLoss`` and
  ``CrossEntropyLoss``.
* :func:`from_torch` reads such a Sequential back (``to_torch``'s, or hand-written ones of
  the same kinds) and refuses anything else, naming the module and its position.
  ``from_torch(to_torch(net), input_shape=net.input_shape)`` has the very same weights,
  bit for bit (``input_shape`` is needed for image networks only).
* :func:`save_safetensors` / :func:`load_safetensors` write and read the safetensors
  format with NumPy alone; the tensors are ``to_torch(net).state_dict()``'s, names and
  shapes (``"0.weight"``, ``"0.bias"``, ``"2.weight"``, …; a Conv2d's weight 4-D,
  (filters, C, kh, kw)), so ``model.load_state_dict(safetensors.torch.load_file(path))``
  works. An image network's architecture (input shape, kernels, strides, padding:
  what tensors do not record) goes in the file's ``__metadata__``, as JSON.

PyTorch is an optional extra (``pip install "psinet[torch]"``), imported only when
:func:`to_torch` or :func:`from_torch` is called; the safetensors functions need NumPy only.

Losses carry over with psinet's conventions (sum over the outputs, mean over the samples):
psinet's ``mse`` is ``½ Σ_k (ŷ_k − y_k)²`` averaged over samples, so ``nn.MSELoss()`` (a mean
over all N·k entries) is ``2/k`` times it; ``binary_crossentropy`` is ``k × nn.BCELoss()``;
``categorical_crossentropy`` with one-hot targets is ``nn.CrossEntropyLoss()`` on the logits.

>>> import tempfile, numpy as np
>>> from psinet import Network
>>> net = Network([3, 4, 2], ["tanh", "softmax"], seed=0)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = save_safetensors(net, f"{tmp}/model.safetensors")
...     again = load_safetensors(path)
>>> all(np.array_equal(a, b) for a, b in zip(net.weights, again.weights))
True
>>> again.activations
(Tanh(), Softmax())
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from . import activations as _activations
from ._checks import check_bool
from .activations import Activation
from .io._safetensors import load_safetensors, save_safetensors
from .layers import Conv2D, Dense
from .network import Network, check_network

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["from_torch", "load_safetensors", "save_safetensors", "to_torch"]

Array = np.ndarray
PathLike = str | os.PathLike[str]

SOFTPLUS_THRESHOLD = 40.0
"""The ``threshold`` of the ``nn.Softplus`` that :func:`to_torch` makes.

Above it torch returns ``z``; ``log(1 + e^z)`` rounds to ``z`` there in float32 and float64
(``e^(−40) ≈ 4e-18``), so the switch is invisible and ``e^z`` cannot overflow below it.
"""

_MIN_SOFTPLUS_THRESHOLD = 20.0  # torch's default; its switch there is off by e^(−20) ≈ 2e-9


def _torch() -> Any:
    """The ``torch`` module, or an ImportError naming the extra to install."""
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - tested where torch is absent
        raise ImportError(
            "psinet.interop.to_torch/from_torch need PyTorch, an optional extra: "
            'pip install "psinet[torch]"'
        ) from exc
    return torch


def _torch_dtype(dtype: np.dtype[Any]) -> Any:
    torch = _torch()
    return torch.float64 if np.dtype(dtype) == np.float64 else torch.float32


# ---------------------------------------------------------------------------- to_torch


def _activation_module(l: int, f: Activation, *, conv: bool = False) -> Any:
    """The ``torch.nn`` module computing psinet's activation ``f`` of layer ``l``
    (``conv``: of a convolution, whose softmax runs over the channels, ``dim=1``)."""
    nn = _torch().nn
    if type(f) is not _activations.lookup(f.name) or f.name not in _activations.ACTIVATIONS:
        raise ValueError(
            f"to_torch: layer {l}'s activation {f!r} is not one of psinet's built-ins "
            f"{sorted(_activations.ACTIVATIONS)}, so it has no torch.nn module"
        )
    if isinstance(f, _activations.LeakyReLU):
        return nn.LeakyReLU(negative_slope=f.alpha)
    if isinstance(f, _activations.ELU):
        return nn.ELU(alpha=f.alpha)
    if isinstance(f, _activations.Softplus):
        return nn.Softplus(beta=1.0, threshold=SOFTPLUS_THRESHOLD)
    if isinstance(f, _activations.Softmax):
        return nn.Softmax(dim=1 if conv else -1)
    simple = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "identity": nn.Identity}
    return simple[f.name]()


def to_torch(net: Network, *, logits: bool = False) -> torch.nn.Sequential:
    """``net`` as a ``torch.nn.Sequential`` of ``Linear`` (and ``Conv2d``) and activation
    modules.

    A dense layer ``l`` becomes ``Linear(n_l, n_{l+1})`` with ``weight = W_l[:, :-1]``,
    shape (n_{l+1}, n_l), and ``bias = W_l[:, -1]``, shape (n_{l+1},), followed by its
    activation (see the module's table); for a dense network at positions ``2l`` and
    ``2l + 1``. A :class:`psinet.layers.Conv2D` layer becomes ``Conv2d(C, filters,
    kernel_size, stride, padding)`` with ``weight = W_l[:, :-1].reshape(filters, C, kh,
    kw)`` and ``bias = W_l[:, -1]`` (its softmax is ``Softmax(dim=1)``, over the
    channels, as psinet's); an ``nn.Flatten()`` goes before the first Linear that reads
    image maps (psinet flattens them in the same (C, H, W) order). Parameters are
    copies, in ``net.dtype`` (float64 stays float64), on the CPU.

    ``logits=True`` leaves out the output activation: the model returns ``z_{L-1}``, for
    ``BCEWithLogitsLoss`` (after a sigmoid) or ``CrossEntropyLoss`` (after a softmax).
    A model input ``X`` of shape (N, n_0), or (N, C, H, W) for an image network, gives
    an output of shape (N, n_L).

    Raises ImportError (naming the ``torch`` extra) without PyTorch, ValueError for a
    custom activation or layer, which has no torch module.
    """
    net = check_network(net)
    logits = check_bool(logits, "logits")
    for l, layer in enumerate(net.layers):
        if type(layer) not in (Conv2D, Dense) or {"unfold", "fold"} & vars(layer).keys():
            raise ValueError(
                f"to_torch: layer {l} is {type(layer).__name__}, a layer of its own, which "
                "has no torch module; to_torch converts psinet's Dense and Conv2D layers"
            )
    torch = _torch()
    dtype = _torch_dtype(net.dtype)
    acts = [  # every activation checked first, before anything is built
        _activation_module(l, f, conv=isinstance(layer, Conv2D))
        for l, (f, layer) in enumerate(zip(net.activations, net.layers, strict=True))
    ]
    modules: list[Any] = []
    for l, (W, layer) in enumerate(zip(net.weights, net.layers, strict=True)):
        if isinstance(layer, Conv2D):
            C, kh, kw = layer.in_shape[0], *layer.kernel_size
            weight = W[:, :-1].reshape(layer.filters, C, kh, kw)  # (channel, row, column)
            make: Any = torch.nn.Conv2d(
                C,
                layer.filters,
                layer.kernel_size,
                layer.stride,
                layer.padding,
                dtype=dtype,
                device="meta",
            )
        else:
            if len(layer.in_shape) == 3:  # image maps: flattened in (C, H, W) order
                modules.append(torch.nn.Flatten())
            weight = W[:, :-1]
            make = torch.nn.Linear(layer.n_in, layer.n_out, dtype=dtype, device="meta")
        # Built on the meta device, then given memory: torch's random init never runs.
        module = make.to_empty(device="cpu")
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(np.array(weight)))  # W_l[:, :-1]
            module.bias.copy_(torch.from_numpy(np.array(W[:, -1])))  # the bias column
        modules.append(module)
        if not (logits and l == net.n_layers - 1):
            modules.append(acts[l])
    return torch.nn.Sequential(*modules)


# ---------------------------------------------------------------------------- from_torch


def _where(position: int, name: str, module: Any) -> str:
    return f"module {position} ({name!r}: {module!r})"


def _psinet_activation(
    position: int, name: str, module: Any, *, conv: bool = False
) -> Activation | None:
    """psinet's activation for a torch module, None if it is no activation psinet has
    (``conv``: it follows a Conv2d, whose softmax must run over the channels)."""
    nn = _torch().nn
    kind = type(module)
    where = _where(position, name, module)
    simple = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu", nn.Identity: "identity"}
    if kind in simple:
        return _activations.get(simple[kind])
    try:
        if kind is nn.LeakyReLU:
            return _activations.LeakyReLU(alpha=module.negative_slope)
        if kind is nn.ELU:
            return _activations.ELU(alpha=module.alpha)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"from_torch: {where} has parameters psinet does not accept: {exc}"
        ) from None
    if kind is nn.Softplus:
        if module.beta != 1 or not module.threshold >= _MIN_SOFTPLUS_THRESHOLD:
            raise ValueError(
                f"from_torch: {where}: psinet's softplus is log(1 + e^z), so it needs beta=1 "
                f"and threshold >= {_MIN_SOFTPLUS_THRESHOLD:g} (a linear switch below that "
                f"changes the function), got beta={module.beta!r}, "
                f"threshold={module.threshold!r}"
            )
        return _activations.Softplus()
    if kind is nn.Softmax:
        if conv and module.dim not in (1, -3):
            raise ValueError(
                f"from_torch: {where}: psinet's softmax after a convolution runs over the "
                f"channels at each position, dim=1 (or -3), got dim={module.dim!r}"
            )
        if not conv and module.dim not in (1, -1):
            raise ValueError(
                f"from_torch: {where}: psinet's softmax runs over each sample's outputs, "
                f"dim=-1 (or 1), got dim={module.dim!r}"
            )
        return _activations.Softmax()
    return None


_SUPPORTED = (
    "Linear (with bias) followed by one of Sigmoid, Tanh, ReLU, LeakyReLU(0 <= slope < 1), "
    "ELU(alpha > 0), Softplus(beta=1, threshold >= 20), Identity, Softmax(dim=-1); for "
    "images first Conv2d layers (with bias, dilation=1, groups=1, padding_mode='zeros'), "
    "each followed by one of those (Softmax(dim=1)), then Flatten()"
)


def _conv_layer(where: str, conv: Any) -> Conv2D:
    """psinet's :class:`~psinet.layers.Conv2D` for a ``torch.nn.Conv2d``, or a ValueError
    naming each setting psinet's convolution does not have."""
    refused = []
    if tuple(conv.dilation) != (1, 1):
        refused.append(f"dilation={conv.dilation} (psinet's kernels are not dilated: 1)")
    if conv.groups != 1:
        refused.append(f"groups={conv.groups} (every psinet filter sees every channel: 1)")
    if conv.padding_mode != "zeros":
        refused.append(f"padding_mode={conv.padding_mode!r} (psinet pads with zeros)")
    padding = conv.padding
    if padding == "valid":
        padding = (0, 0)
    elif padding == "same":  # stride 1: torch pads k - 1 in all, the extra one at the end
        kh, kw = conv.kernel_size
        if kh % 2 == 0 or kw % 2 == 0:
            refused.append(
                f"padding='same' with the even kernel {tuple(conv.kernel_size)} (torch pads it "
                f"unevenly, psinet's padding is the same on both sides)"
            )
        padding = ((kh - 1) // 2, (kw - 1) // 2)
    if refused:
        raise ValueError(
            f"from_torch: {where} has {'; '.join(refused)}; psinet's Conv2D is torch's "
            "Conv2d with bias, dilation=1, groups=1, padding_mode='zeros' and int or pair "
            "padding"
        )
    return Conv2D(conv.out_channels, tuple(conv.kernel_size), tuple(conv.stride), padding)


def _parameters_dtype(where: str, child: Any, dtype: Any) -> Any:
    """The torch dtype of a Linear's or Conv2d's parameters: refused without a bias, in
    another dtype than float32/float64, or than the layers before (``dtype``)."""
    torch = _torch()
    if child.bias is None:
        raise ValueError(
            f"from_torch: {where} has bias=False; every psinet layer has a bias "
            "column (use bias=True, initialised to zeros if you want none)"
        )
    if child.weight.dtype not in (torch.float32, torch.float64):
        raise ValueError(
            f"from_torch: {where} has dtype {child.weight.dtype}; psinet networks "
            "are float32 or float64"
        )
    if child.bias.dtype != child.weight.dtype or dtype not in (None, child.weight.dtype):
        raise ValueError(
            f"from_torch: {where} has dtype {child.bias.dtype}/{child.weight.dtype}, "
            f"but the layers before are {dtype}; psinet needs one dtype"
        )
    return child.weight.dtype


class _Read:
    """What :func:`from_torch` reads off a Sequential, module by module: each weight
    layer (position, name, module), its psinet layer spec (a Conv2D or a width) and
    activation, where the Flatten is, and the one dtype."""

    def __init__(self) -> None:
        self.weighted: list[tuple[int, str, Any]] = []
        self.specs: list[Any] = []
        self.acts: list[Activation | None] = []
        self.flatten: int | None = None
        self.dtype: Any = None

    def last_is(self, kind: Any) -> bool:
        """Whether the last weight layer so far is a ``kind`` (Linear or Conv2d)."""
        return bool(self.weighted) and type(self.weighted[-1][2]) is kind


def _read_modules(children: list[tuple[str, Any]]) -> _Read:
    """The Sequential's children checked in order: ``[Conv2d, activation]*``, ``Flatten``
    (before the first Linear that reads image maps), ``[Linear, activation]*``; the last
    activation may be missing."""
    nn = _torch().nn
    read = _Read()
    for position, (name, child) in enumerate(children):
        where = _where(position, name, child)
        kind = type(child)
        if kind is nn.Linear or kind is nn.Conv2d:
            if read.acts and read.acts[-1] is None:
                before, _, previous = read.weighted[-1]
                raise ValueError(
                    f"from_torch: {where} follows another {type(previous).__name__} (module "
                    f"{before}); psinet needs an activation between two Linear or Conv2d "
                    "layers (torch.nn.Identity() for none)"
                )
            read.dtype = _parameters_dtype(where, child, read.dtype)
            if kind is nn.Conv2d:
                if read.flatten is not None or read.last_is(nn.Linear):
                    raise ValueError(
                        f"from_torch: {where} comes after a Flatten or a Linear; psinet's "
                        "Conv2D layers come first, on the image input"
                    )
                spec: Any = _conv_layer(where, child)
                if read.weighted and child.in_channels != read.weighted[-1][2].out_channels:
                    raise ValueError(
                        f"from_torch: {where} takes in_channels={child.in_channels}, but the "
                        f"Conv2d before gives out_channels={read.weighted[-1][2].out_channels}"
                    )
            else:
                if read.last_is(nn.Conv2d) and read.flatten is None:
                    raise ValueError(
                        f"from_torch: {where} follows a Conv2d without a Flatten; psinet's "
                        "dense layers read the maps flattened in (C, H, W) order, so put "
                        "torch.nn.Flatten() before it (a Linear alone acts on the last axis)"
                    )
                if (
                    read.last_is(nn.Linear)
                    and child.in_features != read.weighted[-1][2].out_features
                ):
                    raise ValueError(
                        f"from_torch: {where} takes {child.in_features} inputs, but the layer "
                        f"before gives {read.weighted[-1][2].out_features}"
                    )
                spec = child.out_features
            read.weighted.append((position, name, child))
            read.specs.append(spec)
            read.acts.append(None)
            continue
        if kind is nn.Flatten:
            if child.start_dim != 1 or child.end_dim != -1:
                raise ValueError(
                    f"from_torch: {where}: psinet flattens each sample whole, start_dim=1 and "
                    f"end_dim=-1, got start_dim={child.start_dim}, end_dim={child.end_dim}"
                )
            if read.flatten is not None or read.last_is(nn.Linear):
                raise ValueError(
                    f"from_torch: {where}: psinet flattens once, after the image input or the "
                    "last Conv2d and before the first Linear"
                )
            if read.acts and read.acts[-1] is None:
                raise ValueError(
                    f"from_torch: {where} follows a Conv2d without an activation; psinet has "
                    "exactly one activation after each Conv2d (torch.nn.Identity() for none)"
                )
            read.flatten = position
            continue
        f = _psinet_activation(position, name, child, conv=read.last_is(nn.Conv2d))
        if f is None:
            raise ValueError(
                f"from_torch: {where} has no psinet counterpart; expected {_SUPPORTED}"
            )
        if not read.weighted or read.acts[-1] is not None:
            raise ValueError(
                f"from_torch: {where} is an activation that does not follow a Linear or "
                "Conv2d; psinet has exactly one activation after each Linear or Conv2d"
            )
        read.acts[-1] = f
    return read


def _input_shape(read: _Read, input_shape: Any) -> Any:
    """``Network``'s first entry: the first Linear's ``in_features``, or for a Sequential
    that starts with a Conv2d or a Flatten the ``input_shape`` (C, H, W) it needs."""
    nn = _torch().nn
    position, name, first = read.weighted[0]
    where = _where(position, name, first)
    if type(first) is nn.Linear and read.flatten is None:
        if input_shape is not None and input_shape not in (
            first.in_features,
            (first.in_features,),
        ):
            raise ValueError(
                f"from_torch: input_shape={input_shape!r} does not fit {where}, which takes "
                f"inputs of shape (N, {first.in_features}); an image shape (C, H, W) is for "
                "a Sequential that starts with a Conv2d or a Flatten"
            )
        return first.in_features
    starts = where if type(first) is nn.Conv2d else f"a Flatten (module {read.flatten})"
    channels = first.in_channels if type(first) is nn.Conv2d else "C"
    if input_shape is None:
        raise ValueError(
            f"from_torch: the Sequential starts with {starts}, and torch modules do not "
            f"record the height and width of their input; pass input_shape=(C, H, W), one "
            f"image's shape, e.g. from_torch(model, input_shape=({channels}, 28, 28))"
        )
    if (
        not isinstance(input_shape, (tuple, list))
        or len(input_shape) != 3
        or not all(_is_count(n) for n in input_shape)
    ):
        raise ValueError(
            f"from_torch: input_shape must be one image's shape (C, H, W), three ints >= 1, "
            f"got {input_shape!r}"
        )
    shape = tuple(int(n) for n in input_shape)
    if type(first) is nn.Conv2d and shape[0] != first.in_channels:
        raise ValueError(
            f"from_torch: input_shape={shape} has C = {shape[0]} input channels, but {where} "
            f"takes C = {first.in_channels}"
        )
    return shape


def _is_count(n: Any) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, (bool, np.bool_)) and int(n) > 0


def from_torch(module: Any, *, output_activation: Any = None, input_shape: Any = None) -> Network:
    """A psinet :class:`Network` with the weights of a ``torch.nn.Sequential``.

    The Sequential must alternate ``Linear`` layers (with bias) and the activation
    modules of :func:`to_torch`'s table, starting with a Linear; the last Linear may
    stand alone, meaning an identity output (a ``logits=True`` model). Layer ``l``'s
    ``W_l``, ndarray of shape (n_{l+1}, n_l + 1), is ``[weight, bias]``, copied in the
    parameters' dtype (float32 or float64, the same for all).

    For images it may start with ``Conv2d`` layers (with bias, ``dilation=1``,
    ``groups=1``, ``padding_mode='zeros'``, padding an int, a pair, ``'valid'``, or
    ``'same'`` with an odd kernel), each followed by an activation (a softmax over the
    channels, ``Softmax(dim=1)``), then ``Flatten()`` and the Linear layers; or with
    ``Flatten()`` and Linear layers alone. A Conv2d's ``W_l``, ndarray of shape
    (filters, C·kh·kw + 1), is ``[weight.reshape(filters, -1), bias]``. torch modules do
    not record the height and width of their input, so ``input_shape=(C, H, W)``, one
    image's shape, is then required (a ValueError says so when it is missing); for a
    Sequential that starts with a Linear it may be given as its ``(in_features,)``.

    ``output_activation`` (a psinet activation name or object), when given, is used for
    a last Linear that stands alone: ``from_torch(to_torch(net, logits=True),
    output_activation="softmax")`` gives ``net`` back.

    Anything else is refused with a ValueError (TypeError for a non-Sequential) that
    names the module and its position: GELU, SiLU, Dropout, BatchNorm, pooling,
    ``bias=False``, two Linear layers in a row, an activation first or twice,
    LeakyReLU/ELU/Softplus/Softmax parameters psinet does not accept, a Conv2d's
    dilation, groups or padding mode, a Linear after a Conv2d without a Flatten, a
    Conv2d after a Linear or last, mixed dtypes, non-finite weights.
    ``from_torch(to_torch(net), input_shape=net.input_shape)`` has ``net``'s weights bit
    for bit.
    """
    torch = _torch()
    if not isinstance(module, torch.nn.Sequential):
        raise TypeError(
            f"from_torch expects a torch.nn.Sequential of {_SUPPORTED}, got {type(module).__name__}"
        )
    if type(module) is not torch.nn.Sequential:
        raise TypeError(
            f"from_torch expects a torch.nn.Sequential itself, got the subclass "
            f"{type(module).__name__}, whose forward may compute something else"
        )
    output = None if output_activation is None else _activations.get(output_activation)
    children = list(module.named_children())
    for position, (name, child) in enumerate([("", module), *children]):
        if _has_hooks(child):
            where = "the Sequential" if not name else _where(position - 1, name, child)
            raise ValueError(
                f"from_torch: {where} has forward hooks, which may change what it computes; "
                "remove them (e.g. weight_norm/spectral_norm) before converting"
            )
    if not children:
        raise ValueError("from_torch: the Sequential is empty; expected at least one Linear")
    read = _read_modules(children)
    if not read.weighted:
        raise ValueError("from_torch: the Sequential holds no Linear; expected at least one")
    if not read.last_is(torch.nn.Linear):
        position, name, last = read.weighted[-1]
        raise ValueError(
            f"from_torch: {_where(position, name, last)} is the last layer; psinet's last "
            "layer is dense (the outputs): end with Flatten() and a Linear"
        )
    acts = read.acts
    if acts[-1] is None:
        acts[-1] = output if output is not None else _activations.Identity()
    elif output is not None:
        raise ValueError(
            f"from_torch: output_activation={output!r} is only for a Sequential that ends "
            f"with a Linear; this one ends with {acts[-1]!r}"
        )
    first = _input_shape(read, input_shape)
    np_dtype = np.float64 if read.dtype == torch.float64 else np.float32
    try:
        net = Network(
            [first, *read.specs], [f for f in acts if f is not None], seed=0, dtype=np_dtype
        )
    except ValueError as exc:  # a kernel larger than its padded input, a width of 0
        given = f" with input_shape={first}" if isinstance(first, tuple) else ""
        raise ValueError(f"from_torch: the layers do not make a network{given}: {exc}") from None
    weights = []
    for (position, name, child), layer in zip(read.weighted, net.layers, strict=True):
        if type(child) is torch.nn.Linear and child.in_features != layer.n_in:
            raise ValueError(
                f"from_torch: {_where(position, name, child)} takes {child.in_features} "
                f"inputs, but for input_shape={first} it receives maps of "
                f"{'×'.join(map(str, layer.in_shape))} = {layer.n_in} values"
            )
        weight = child.weight.detach().cpu().numpy().reshape(len(child.weight), -1)
        bias = child.bias.detach().cpu().numpy()
        weights.append(np.concatenate([weight, bias[:, None]], axis=1))  # [weight, bias]
    net.weights = weights  # checked: shapes, finite values
    net.seed = None
    return net


def _has_hooks(module: Any) -> bool:
    return any(
        len(getattr(module, name, ()) or ())
        for name in ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks")
    )
