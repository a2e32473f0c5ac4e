"""Safetensors files of a network's weights, written and read with NumPy alone.

Tensors are named as in ``psinet.interop.to_torch(net).state_dict()`` (``"{i}.weight"``,
``"{i}.bias"`` for the i-th module), so that ``safetensors.torch.load_file`` and
``load_state_dict`` put them into the model ``to_torch`` builds; an image network's
architecture goes into the metadata. Public as :func:`psinet.interop.save_safetensors`
and :func:`psinet.interop.load_safetensors`.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np

from .. import activations as _activations
from .._version import __version__
from ..layers import Conv2D, Layer, from_config
from ..network import Network, _check_sizes, check_network
from ._archive import (
    FormatError,
    _bounded_int,
    _finite_float,
    _open_regular,
    _refuse_constant,
    _short,
    decode_json_object,
)
from ._atomic import _atomic_write
from ._format import _ARCHITECTURE_SINCE, HEADER_LIMIT
from ._load import _check_architecture
from ._save import _architecture

Array = np.ndarray
PathLike = str | os.PathLike[str]

_SAFETENSORS_DTYPES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
}
_TENSOR_NAME = re.compile(r"(0|[1-9][0-9]{0,8})\.(weight|bias)")


class _Layout(NamedTuple):
    """What a checked safetensors header describes, before any tensor is read."""

    entries: dict[str, tuple[tuple[int, ...], tuple[int, int]]]  # name → (shape, data_offsets)
    positions: list[int]  # each weight layer's module position: its tensors' "<i>." prefix
    dtype: np.dtype[Any]  # the one dtype, little-endian
    architecture: list[Any]  # Network's first argument


def _module_tensors(layers: Sequence[Layer]) -> list[tuple[int, tuple[int, ...], tuple[int]]]:
    """Each weight layer's position in ``to_torch(net)`` and its ``weight``'s and ``bias``'s
    shapes there: a Linear's (n_out, n_in), a Conv2d's (filters, C, kh, kw), a bias
    (n_out,). The positions are those :func:`to_torch` gives: ``2l``, one further on from
    the ``nn.Flatten`` before the first dense layer that reads image maps."""
    found = []
    position = 0
    for layer in layers:
        if isinstance(layer, Conv2D):
            weight: tuple[int, ...] = (layer.filters, layer.in_shape[0], *layer.kernel_size)
        else:
            if len(layer.in_shape) == 3:
                position += 1  # the nn.Flatten
            weight = (layer.n_out, layer.n_in)
        found.append((position, weight, (layer.n_out,)))
        position += 2  # the layer's module, then its activation's
    return found


def _tensor_names(net: Network) -> list[tuple[str, Array]]:
    """``to_torch(net).state_dict()``'s names and the arrays, little-endian, in layer order
    (a convolution's weight 4-D, (filters, C, kh, kw), as ``nn.Conv2d``'s)."""
    le = np.dtype(net.dtype).newbyteorder("<")
    tensors = []
    for W, (position, weight, _) in zip(net.weights, _module_tensors(net.layers), strict=True):
        tensors.append(
            (f"{position}.weight", np.ascontiguousarray(W[:, :-1], dtype=le).reshape(weight))
        )
        tensors.append((f"{position}.bias", np.ascontiguousarray(W[:, -1], dtype=le)))
    return tensors


def _safetensors_header(
    net: Network, tensors: list[tuple[str, Array]], architecture: list[Any] | None = None
) -> bytes:
    """The JSON header, padded with spaces to a multiple of 8 bytes; ``architecture`` (an
    image network's, as :func:`psinet.io.save` writes it) goes in ``__metadata__``."""
    code = "F64" if np.dtype(net.dtype) == np.float64 else "F32"
    metadata = {
        "format": "pt",
        "psinet_version": __version__,
        "psinet_activations": json.dumps([f.get_config() for f in net.activations]),
    }
    if architecture is not None:  # not for a dense network: its file stays as it was
        metadata["psinet_architecture"] = json.dumps(architecture, allow_nan=False)
    header: dict[str, Any] = {"__metadata__": metadata}
    offset = 0
    for name, a in tensors:
        header[name] = {
            "dtype": code,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
    raw = json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8")
    return raw + b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as safetensors pads


def save_safetensors(net: Network, path: PathLike) -> Path:
    """Write ``net``'s weights to a ``.safetensors`` file, with NumPy alone.

    The file is an 8-byte little-endian header length, a JSON header (``dtype`` ``"F64"``
    or ``"F32"``, ``shape``, ``data_offsets`` per tensor, and ``__metadata__`` with the
    activations), then the raw little-endian data. Tensors are named and shaped as in
    ``to_torch(net).state_dict()``, so ``to_torch(net).load_state_dict(
    safetensors.torch.load_file(path))`` works: for layer ``l``, a dense layer's
    ``"<i>.weight"``, shape (n_{l+1}, n_l), and ``"<i>.bias"``, shape (n_{l+1},), or a
    :class:`psinet.layers.Conv2D`'s ``"<i>.weight"``, shape (filters, C, kh, kw), and
    ``"<i>.bias"``, shape (filters,); ``i = 2l``, and ``2l + 1`` for the dense layers of
    an image network (after its ``nn.Flatten``).

    An image network's tensors do not record its input's height and width nor the
    convolutions' strides and padding, so its ``__metadata__`` also holds
    ``"psinet_architecture"``: ``net.architecture`` as the JSON that :func:`psinet.io.save`
    writes as ``"architecture"`` (``[[C, H, W], {"class": "Conv2D", "filters": …,
    "kernel_size": [kh, kw], "stride": […], "padding": […]}, …, n_L]``). A dense
    network's file is as before, without it.

    Written atomically (like :func:`psinet.io.save`: a temporary file, then a rename);
    returns the path written.

    Refused before anything is written: non-finite weights, an activation that is not
    built in or registered (:func:`load_safetensors` could not rebuild it), a layer that
    is not psinet's own Dense or Conv2D, a path that exists and is not a regular file (a
    directory, FIFO, socket or device, directly or through a symlink; it is left as it is).
    """
    net = check_network(net)
    for l, W in enumerate(net.weights):
        if not np.isfinite(W).all():
            raise ValueError(f"net.weights[{l}] must be finite to be saved, got NaN or inf")
    for l, f in enumerate(net.activations):
        if type(f) is not _activations.lookup(f.name):
            raise ValueError(
                f"layer {l}'s activation {f!r} must be built in or registered with "
                "psinet.register_activation to be saved"
            )
    # an image network's, checked to rebuild each layer, as psinet.io.save writes it
    architecture = _architecture(net) if len(net.input_shape) != 1 else None
    raw = os.fspath(path)
    if not isinstance(raw, str):
        raise TypeError(f"path must be a str or os.PathLike[str], got {type(raw).__name__}")
    if not raw or raw.endswith(tuple(s for s in (os.sep, os.altsep) if s)) or Path(raw).is_dir():
        raise ValueError(f"path must name a file, got {raw!r}")
    target = Path(raw)
    tensors = _tensor_names(net)
    header = _safetensors_header(net, tensors, architecture)
    if len(header) > HEADER_LIMIT:
        raise ValueError(f"the header must be at most {HEADER_LIMIT} bytes, got {len(header)}")
    _atomic_write(target, [("header", np.frombuffer(header, np.uint8)), *tensors], _write_st)
    return target


def _write_st(f: IO[bytes], members: list[tuple[str, Array]]) -> None:
    """Header length (u64, little-endian), header, then each tensor's bytes in order."""
    (_, header), *tensors = members
    f.write(len(header).to_bytes(8, "little"))
    f.write(header.tobytes())
    for _, a in tensors:
        f.write(a.tobytes())


def load_safetensors(path: PathLike, *, activations: Any = None) -> Network:
    """A :class:`Network` from a ``.safetensors`` file of Linear (and Conv2d) layers.

    The file may come from :func:`save_safetensors` or, for a dense network, from
    ``safetensors.torch.save_file(model.state_dict(), path)`` for a Sequential that
    :func:`from_torch` accepts: tensors ``"<i>.weight"`` (n_{l+1}, n_l) and ``"<i>.bias"``
    (n_{l+1},), float32 or float64, their indices ``i`` increasing with the layer.
    Returns ``W_l = [weight, bias]``, ndarray of shape (n_{l+1}, n_l + 1) (a
    convolution's ``[weight.reshape(filters, -1), bias]``, (filters, C·kh·kw + 1)), bit
    for bit.

    An image network is rebuilt from its ``__metadata__`` ``"psinet_architecture"``
    (see :func:`save_safetensors`), checked as :func:`psinet.io.load` checks an
    ``"architecture"``; every tensor must then be one the architecture gives, named and
    shaped as in ``to_torch(net).state_dict()``, and none missing. A file with 4-D
    (Conv2d) weights and no ``"psinet_architecture"`` is refused: its tensors do not
    record the input's height and width nor the strides and padding. Load such a file
    into the torch model it came from and use ``from_torch(model, input_shape=(C, H, W))``.

    ``activations`` (as for :class:`Network`) is required when the file does not name
    them (a file psinet did not write) and overrides the file's when given.

    Reading is bounded and checked before any array is read: the header length and JSON
    (at most :data:`psinet.io.HEADER_LIMIT` bytes), names, dtypes, shapes, the
    architecture, and offsets that tile the rest of the file exactly. A bad file raises
    :class:`psinet.io.FormatError`, naming the tensor at fault.
    """
    path = Path(os.fspath(path))
    with _open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        first = fh.read(8)
        if len(first) < 8:
            raise FormatError(f"{path}: expected a safetensors file, found {size} bytes")
        n = int.from_bytes(first, "little")
        if n > HEADER_LIMIT or 8 + n > size:
            raise FormatError(
                f"{path}: the safetensors header must be at most {HEADER_LIMIT} bytes and fit "
                f"in the file of {size} bytes, found a declared length of {_short(n)}"
            )
        header = _decode_st_header(path, fh.read(n))
        layout = _check_st_header(path, header, size - 8 - n)
        data: dict[str, Array] = {}
        for name, (shape, (begin, end)) in sorted(layout.entries.items(), key=lambda e: e[1][1]):
            buf = fh.read(end - begin)
            if len(buf) != end - begin:
                raise FormatError(f"{path}: the file ends inside tensor {name!r}")
            a = np.frombuffer(buf, dtype=layout.dtype).reshape(shape)
            if not np.isfinite(a).all():
                raise FormatError(f"{path}: tensor {name!r} must be finite, found NaN or inf")
            data[name] = a
    metadata = header.get("__metadata__") or {}
    if activations is None:
        activations = _activations_from_metadata(path, metadata, len(layout.positions))
    net = Network(layout.architecture, activations, seed=0, dtype=layout.dtype.newbyteorder("="))
    weights = []
    for i in layout.positions:
        weight, bias = data[f"{i}.weight"], data[f"{i}.bias"]
        weights.append(np.concatenate([weight.reshape(len(weight), -1), bias[:, None]], axis=1))
    net.weights = weights
    net.seed = None
    return net


def _decode_st_header(path: Path, raw: bytes) -> dict[str, Any]:
    return decode_json_object(path, raw, "the safetensors header")


def _check_st_header(path: Path, header: dict[str, Any], n_data: int) -> _Layout:
    """Each tensor's shape and offsets, the layers' positions, the one dtype and the
    architecture: from ``__metadata__`` ``"psinet_architecture"`` when the file has one,
    else the widths of its chain of Linear layers."""
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise FormatError(f"{path}: __metadata__ must map strings to strings")
    entries: dict[str, tuple[tuple[int, ...], tuple[int, int]]] = {}
    dtypes = set()
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not _TENSOR_NAME.fullmatch(name):
            raise FormatError(
                f"{path}: expected tensors named '<i>.weight' and '<i>.bias' (a Sequential of "
                f"Linear and Conv2d layers), found {_short(name)}"
            )
        if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
            raise FormatError(
                f"{path}: tensor {name!r} must have exactly dtype, shape and data_offsets, "
                f"found {_short(entry)}"
            )
        code, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if code not in _SAFETENSORS_DTYPES:
            raise FormatError(
                f"{path}: tensor {name!r} must have dtype F64 or F32 (psinet's float64 or "
                f"float32), found {_short(code)}"
            )
        ranks = (2, 4) if name.endswith(".weight") else (1,)
        if not any(_int_list(shape, rank) for rank in ranks) or min(shape) < 1:
            expected = "2 (a Linear's) or 4 (a Conv2d's)" if len(ranks) == 2 else "1"
            raise FormatError(
                f"{path}: tensor {name!r} must have a shape of {expected} positive integers, "
                f"found {_short(shape)}"
            )
        if not _int_list(offsets, 2) or not 0 <= offsets[0] <= offsets[1] <= n_data:
            raise FormatError(
                f"{path}: tensor {name!r} must have data_offsets [begin, end] within the "
                f"{n_data} data bytes, found {_short(offsets)}"
            )
        nbytes = int(np.prod(shape, dtype=object)) * _SAFETENSORS_DTYPES[code].itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise FormatError(
                f"{path}: tensor {name!r} of shape {shape} in {code} needs {nbytes} bytes, "
                f"its data_offsets span {offsets[1] - offsets[0]}"
            )
        dtypes.add(code)
        entries[name] = (tuple(shape), (offsets[0], offsets[1]))
    if not entries:
        raise FormatError(f"{path}: the safetensors file holds no tensors")
    if len(dtypes) > 1:
        raise FormatError(f"{path}: tensors must share one dtype, found {sorted(dtypes)}")
    spans = sorted(offsets for _, offsets in entries.values())
    end = 0
    for begin, stop in spans:
        if begin != end:
            raise FormatError(
                f"{path}: the tensors' data_offsets must tile the data without gaps or "
                f"overlaps, found one starting at {begin} where {end} was expected"
            )
        end = stop
    if end != n_data:
        raise FormatError(
            f"{path}: the tensors' data end at byte {end}, but the file holds {n_data} bytes"
        )
    text = metadata.get("psinet_architecture")
    if text is not None:
        architecture, positions = _st_architecture(path, text, entries)
    else:
        architecture, positions = _st_dense_layers(path, entries)
    return _Layout(entries, positions, _SAFETENSORS_DTYPES[dtypes.pop()], architecture)


def _st_dense_layers(
    path: Path, entries: dict[str, tuple[tuple[int, ...], tuple[int, int]]]
) -> tuple[list[int], list[int]]:
    """The widths [n_0, …, n_L] and the layer indices of a file without an architecture:
    a chain of Linear layers, each taking the previous one's outputs."""
    for name, (shape, _) in entries.items():
        if len(shape) == 4:
            raise FormatError(
                f"{path}: tensor {name!r} of shape {list(shape)} is a Conv2d's weight, but the "
                "file has no __metadata__ 'psinet_architecture', and its tensors do not record "
                "the input's height and width or each convolution's stride and padding, so "
                "psinet cannot rebuild the network; write it with "
                "psinet.interop.save_safetensors, or load it into the torch model it came "
                "from and convert that: from_torch(model, input_shape=(C, H, W))"
            )
    layers = sorted({int(name.split(".")[0]) for name in entries})
    for i in layers:
        for part in ("weight", "bias"):
            if f"{i}.{part}" not in entries:
                raise FormatError(f"{path}: tensor '{i}.{part}' is missing (layer index {i})")
    previous = None
    for i in layers:
        (n_out, n_in), (n_bias,) = entries[f"{i}.weight"][0], entries[f"{i}.bias"][0]
        if n_bias != n_out or (previous is not None and n_in != previous):
            raise FormatError(
                f"{path}: layer '{i}' has weight {(n_out, n_in)} and bias {(n_bias,)}; expected "
                f"a bias of {n_out} and {previous if previous is not None else n_in} inputs"
            )
        previous = n_out
    sizes = [entries[f"{layers[0]}.weight"][0][1]]
    sizes += [entries[f"{i}.weight"][0][0] for i in layers]
    return sizes, layers


_ARCHITECTURE_JSON = (
    'a JSON list: the input shape [C, H, W], then per weight layer a {"class": "Conv2D", '
    "...} object or a dense width, as psinet.io.save writes an image network's architecture"
)


def _st_architecture(
    path: Path, text: str, entries: dict[str, tuple[tuple[int, ...], tuple[int, int]]]
) -> tuple[list[Any], list[int]]:
    """The architecture in ``__metadata__`` ``"psinet_architecture"`` (``Network``'s first
    argument) and its layers' positions, after :func:`psinet.io.load`'s own checks of an
    ``"architecture"``; then every tensor is checked against the layers it gives: its
    name (``to_torch``'s position) and its shape, and none may be missing."""
    described = _metadata_json(path, "psinet_architecture", text, _ARCHITECTURE_JSON)
    if not isinstance(described, list) or len(described) < 2:
        raise FormatError(
            f"{path}: __metadata__ psinet_architecture must be {_ARCHITECTURE_JSON}, with at "
            f"least the input shape and one layer, found {_short(text)}"
        )
    values, layers = _built(described)
    # psinet.io's checks compare an architecture with the values per sample an .npz header
    # declares ("sizes"); a safetensors file declares tensors instead, checked below.
    header = {"architecture": described, "format_version": _ARCHITECTURE_SINCE}
    try:
        spec, _ = _check_architecture(path, header, values)
    except FormatError as exc:  # "{path}: architecture[1] = … is invalid …": say where it is
        detail = str(exc).removeprefix(f"{path}: ")
        raise FormatError(f"{path}: __metadata__ psinet_architecture: {detail}") from None
    if layers is None:  # pragma: no cover - _check_architecture refused what did not build
        raise FormatError(f"{path}: __metadata__ psinet_architecture does not build a network")
    expected: dict[str, tuple[int, tuple[int, ...]]] = {}
    tensors = _module_tensors(layers)
    for l, (position, weight, bias) in enumerate(tensors):
        expected[f"{position}.weight"] = (l, weight)
        expected[f"{position}.bias"] = (l, bias)
    for name, (shape, _) in entries.items():
        if name not in expected:
            raise FormatError(
                f"{path}: tensor {name!r} is not one of those the psinet_architecture gives "
                f"(to_torch(net).state_dict()'s names): {_short(sorted(expected), 200)}"
            )
        l, needed = expected[name]
        if shape != needed:
            q = layers[l]
            raise FormatError(
                f"{path}: tensor {name!r} has shape {list(shape)}, but the psinet_architecture's "
                f"layer {l}, {q!r} on an input of {'×'.join(map(str, q.in_shape))}, gives it "
                f"shape {list(needed)}"
            )
    for name, (l, needed) in expected.items():
        if name not in entries:
            raise FormatError(
                f"{path}: tensor {name!r} (shape {list(needed)}) of the psinet_architecture's "
                f"layer {l}, {layers[l]!r}, is missing"
            )
    return spec, [position for position, _, _ in tensors]


def _built(described: list[Any]) -> tuple[list[int], tuple[Layer, ...] | None]:
    """An architecture in JSON built by :class:`Network`'s own code (shapes only, nothing
    allocated): each layer's values per sample and the layers; zeros and None when it
    does not build (psinet.io's checks then say what is wrong with it)."""
    try:
        first, *rest = described
        spec = [tuple(first), *(from_config(e) if isinstance(e, dict) else e for e in rest)]
        input_shape, layers = _check_sizes(spec)
    except (TypeError, ValueError):
        return [0] * len(described), None
    return [math.prod(input_shape), *(math.prod(q.out_shape) for q in layers)], layers


def _int_list(value: Any, length: int) -> bool:
    return (
        isinstance(value, list)
        and len(value) == length
        and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    )


def _metadata_json(path: Path, key: str, text: str, what: str) -> Any:
    """``__metadata__[key]`` parsed as strict JSON (finite numbers, bounded integers and
    nesting), or FormatError saying it must be ``what``."""
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except (RecursionError, ValueError) as exc:
        raise FormatError(
            f"{path}: __metadata__ {key} must be {what}, found {_short(text)} ({exc})"
        ) from None


def _activations_from_metadata(path: Path, metadata: dict[str, str], n_layers: int) -> Any:
    text = metadata.get("psinet_activations")
    if text is None:
        raise ValueError(
            f"{path} does not name its activations (psinet did not write it); pass them: "
            f"load_safetensors(path, activations=[...]) with {n_layers} entries"
        )
    what = f"a JSON list of {n_layers} psinet activations"
    configs = _metadata_json(path, "psinet_activations", text, what)
    try:
        if not isinstance(configs, list) or len(configs) != n_layers:
            raise ValueError(f"expected a list of {n_layers} activations")
        return [_activations.get(c) for c in configs]
    except (RecursionError, TypeError, ValueError) as exc:
        raise FormatError(
            f"{path}: __metadata__ psinet_activations must be {what}, found {_short(text)} ({exc})"
        ) from None
