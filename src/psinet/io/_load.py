"""Reading a network file: :func:`load` and :func:`load_with_optimizer` check the archive
and its header, then rebuild the Network (and optimizer) the header describes.

Loading never trusts the file: before any array is read it checks what the zip
directory and each ``.npy`` header *declare* (member names, compression, shapes, dtypes,
sizes) against the JSON header and the file's size, so memory stays within a small
multiple of the weights' size, and every hyper-parameter goes through the constructors'
checks. A bad file raises :class:`~psinet.io.FormatError`.
"""

from __future__ import annotations

import math
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .. import activations as _activations
from ..activations import Activation
from ..layers import Dense, Layer, from_config
from ..network import Network
from ..optimizers import Optimizer
from ._archive import (
    _LEGACY_MEMBER,
    FormatError,
    _as_format_error,
    _check_declared,
    _check_directory,
    _check_end_record,
    _check_finite,
    _open_regular,
    _read_data,
    _read_declaration,
    _short,
    decode_json_object,
)
from ._format import (
    _ARCHITECTURE_SINCE,
    _DTYPES,
    _REQUIRED_KEYS,
    _STATE_NAME,
    FORMAT_VERSION,
    HEADER_LIMIT,
    _optimizer_classes,
)

Array = np.ndarray
PathLike = str | os.PathLike[str]


def load(path: PathLike) -> Network:
    """Read a network written by :func:`save`.

    Returns a new :class:`Network` with the saved architecture (widths, or an image
    input shape and Conv2D layers), activations, dtype and weights ``W_l``, ndarray of
    shape (n_{l+1}, n_l + 1) (a convolution's (filters, C·kh·kw + 1)), bit for bit.
    Optimizer state in the file is checked too, and ignored; see
    :func:`load_with_optimizer`. Files of format version 1 (psinet 0.1.0) load too.

    Raises
    ------
    FileNotFoundError, IsADirectoryError
        No file at ``path``, or a directory.
    FormatError (a ValueError)
        ``path`` is not a regular file (a FIFO, a device), or the file is damaged, is
        not a psinet file, was written by a newer psinet, or its contents are
        inconsistent; the message says what was expected.
    """
    return _load(Path(os.fspath(path)))[0]


def load_with_optimizer(path: PathLike) -> tuple[Network, Optimizer | None]:
    """Read a network and, if the file holds one, its optimizer.

    Returns ``(net, optimizer)``: a new instance of the saved class with its
    hyper-parameters, step count ``t``, epoch and state restored, ready to continue
    training ``net``. When the file was saved without one, ``optimizer`` is None and a
    UserWarning says so: ``fit(..., optimizer=None, initial_epoch=k)`` would start a
    fresh Adam, not resume (save with ``net.save(path, optimizer=opt)`` to resume
    exactly; :func:`load` is the way to read the network alone, without a warning).
    Raises like :func:`load`.
    """
    path = Path(os.fspath(path))
    net, optimizer = _load(path)
    if optimizer is None:
        warnings.warn(
            f"{path} holds no optimizer state (it was saved without one), so "
            f"load_with_optimizer returns None for it, and fit(..., optimizer=None) would "
            f"start a fresh Adam rather than resume; to resume exactly, save with "
            f"net.save(path, optimizer=opt); to read the network alone, use psinet.io.load",
            UserWarning,
            stacklevel=2,
        )
    return net, optimizer


def _load(path: Path) -> tuple[Network, Optimizer | None]:
    """The network and the optimizer (None if the file holds none) :func:`load` reads."""
    with _open_regular(path) as fh:
        size = os.fstat(fh.fileno()).st_size
        if fh.read(6) == b"\x93NUMPY":
            raise FormatError(f"{path}: expected a psinet .npz archive, found a single .npy array")
        _check_end_record(path, fh, size)
        fh.seek(0)
        with _as_format_error(path):
            zf = zipfile.ZipFile(fh)
        with zf:
            return _load_archive(path, zf, size)


def _load_archive(path: Path, zf: zipfile.ZipFile, size: int) -> tuple[Network, Optimizer | None]:
    # 1. The zip directory: names, compression and sizes, before any member is read.
    infos = _check_directory(path, zf, size)

    # 2. The JSON header (bounded), and everything it describes built as plain objects.
    header = _read_header(path, zf, infos["header.npy"])
    sizes, dtype, activations = _check_network_header(path, header)
    architecture, shapes = _check_architecture(path, header, sizes)
    source = "sizes" if architecture is sizes else "the architecture"
    expected = {f"W_{l}": shape for l, shape in enumerate(shapes)}
    opt_header = header.get("optimizer")
    if opt_header is not None:
        opt_header = _check_optimizer_header(path, opt_header, len(shapes))
        for name, count in opt_header["state_names"].items():
            expected.update({f"opt_{name}_{i}": shapes[i] for i in range(count)})
    found = {name[: -len(".npy")] for name in infos} - {"header"}
    _check_names(path, found - {_LEGACY_MEMBER[: -len(".npy")]}, set(expected))

    # 3. Each member's .npy header: dtype, shape and byte count declared, before any data.
    declared = {
        name: _check_declared(path, zf, infos[f"{name}.npy"], name, shape, dtype, source)
        for name, shape in expected.items()
    }
    if _LEGACY_MEMBER in infos:
        _check_declared(path, zf, infos[_LEGACY_MEMBER], "allow_pickle", (), np.dtype(bool))

    # 4. The arrays, each read once: the weights straight into the new network's own.
    net = Network(architecture, activations, dtype=dtype)
    for l in range(len(shapes)):
        W = _read_data(path, zf, infos[f"W_{l}.npy"], declared[f"W_{l}"], into=net.weights[l])
        _check_finite(path, f"W_{l}", W)
    optimizer = None
    if opt_header is not None:
        state = {}
        for name in sorted(declared.keys() - {f"W_{l}" for l in range(len(shapes))}):
            a = _read_data(path, zf, infos[f"{name}.npy"], declared[name])
            state[name] = np.ascontiguousarray(_check_finite(path, name, a), dtype=dtype)
        optimizer = _build_optimizer(path, opt_header, state)
    return net, optimizer


def _read_header(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> dict[str, Any]:
    """The decoded JSON header, its size bounded by :data:`HEADER_LIMIT`."""
    d = _read_declaration(path, zf, info)
    if d.dtype.hasobject:
        raise FormatError(
            f"{path}: array 'header' must be a numeric array, found an object array "
            f"(pickled data), which is never loaded"
        )
    if d.dtype != np.uint8 or len(d.shape) != 1:
        raise FormatError(
            f"{path}: 'header' must be a 1-D uint8 array of UTF-8 JSON, "
            f"found dtype {d.dtype} shape {d.shape}"
        )
    if not 0 <= d.shape[0] <= HEADER_LIMIT or info.file_size != d.offset + d.shape[0]:
        raise FormatError(
            f"{path}: 'header' must be at most {HEADER_LIMIT} bytes of JSON filling its "
            f"member, found {d.shape[0]} bytes declared in a member of {info.file_size}"
        )
    return _decode_header(path, _read_data(path, zf, info, d).tobytes())


def _decode_header(path: Path, raw: bytes) -> dict[str, Any]:
    header = decode_json_object(path, raw, "'header'")
    if header.get("format") != "psinet":
        raise FormatError(
            f"{path}: not a psinet file: expected header format 'psinet', "
            f"found {_short(header.get('format'))}"
        )
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(
            f"{path}: format_version must be an integer >= 1, found {_short(version)}"
        )
    if version > FORMAT_VERSION:
        raise FormatError(
            f"{path}: written by a newer psinet (file format version {version}, "
            f"this psinet reads up to {FORMAT_VERSION}); upgrade psinet to load it"
        )
    missing = [key for key in _REQUIRED_KEYS if key not in header]
    if missing:
        raise FormatError(
            f"{path}: header must have keys {list(_REQUIRED_KEYS)}, missing {missing}"
        )
    return header


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_network_header(
    path: Path, header: dict[str, Any]
) -> tuple[list[int], np.dtype[Any], list[Activation]]:
    """Sizes, dtype and rebuilt activations from a header whose keys are present."""
    if not isinstance(header["psinet_version"], str):
        raise FormatError(
            f"{path}: psinet_version must be a string, found {_short(header['psinet_version'])}"
        )
    sizes = header["sizes"]
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(_is_int(n) and n >= 1 for n in sizes)
    ):
        raise FormatError(
            f"{path}: sizes must be a list of at least two integers >= 1, found {_short(sizes)}"
        )
    n_layers = header["n_layers"]
    if not _is_int(n_layers) or n_layers != len(sizes) - 1:
        raise FormatError(
            f"{path}: n_layers must be len(sizes) - 1 = {len(sizes) - 1}, found {_short(n_layers)}"
        )
    dtype_name = header["dtype"]
    if not isinstance(dtype_name, str) or dtype_name not in _DTYPES:
        raise FormatError(
            f"{path}: dtype must be one of {sorted(_DTYPES)}, found {_short(dtype_name)}"
        )
    configs = header["activations"]
    if not isinstance(configs, list) or len(configs) != n_layers:
        raise FormatError(
            f"{path}: activations must be a list of {n_layers} config objects "
            f"(one per weight layer), found {_short(configs)}"
        )
    activations = []
    for l, config in enumerate(configs):
        if not isinstance(config, dict) or not isinstance(config.get("name"), str):
            raise FormatError(
                f"{path}: activations[{l}] must be an object with a string 'name', "
                f"found {_short(config)}"
            )
        try:  # the constructor's own checks: a bad parameter is refused as when coded
            activations.append(_activations.get(config))
        except Exception as exc:
            raise FormatError(
                f"{path}: activations[{l}] = {_short(config)} is invalid: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    return sizes, _DTYPES[dtype_name], activations


def _check_architecture(
    path: Path, header: dict[str, Any], sizes: list[int]
) -> tuple[list[Any], list[tuple[int, int]]]:
    """What rebuilds the network (``Network``'s first argument) and each ``W_l``'s shape.

    A dense network's are ``sizes`` itself and (n_{l+1}, n_l + 1). An image network's
    come from the header's "architecture": [C, H, W], then per weight layer a width or a
    ``{"class": ..., ...}`` layer object, each built by the layers' own checks (a stride
    of 0, an unknown class, a kernel larger than its input are refused); the values per
    sample it gives must be ``sizes``. Nothing is allocated: building a layer computes
    its shapes only.
    """
    if "architecture" not in header:
        return sizes, [(sizes[l + 1], sizes[l] + 1) for l in range(len(sizes) - 1)]
    if header["format_version"] < _ARCHITECTURE_SINCE:
        raise FormatError(
            f"{path}: format_version {header['format_version']} describes dense networks "
            f"only, found an 'architecture' entry (format version {_ARCHITECTURE_SINCE} "
            f"added it)"
        )
    entries = header["architecture"]
    if not isinstance(entries, list) or len(entries) != len(sizes):
        raise FormatError(
            f"{path}: architecture must be a list of the input shape and one entry per "
            f"weight layer ({len(sizes)} entries, as sizes), found {_short(entries)}"
        )
    first, *rest = entries
    if (
        not isinstance(first, list)
        or len(first) != 3
        or not all(_is_int(n) and n >= 1 for n in first)
    ):
        raise FormatError(
            f"{path}: architecture[0] must be the image input shape [C, H, W] of three "
            f"integers >= 1, found {_short(first)}"
        )
    shape: tuple[int, ...] = tuple(first)
    spec: list[Any] = [shape]
    built: list[Layer] = []
    for l, entry in enumerate(rest):
        try:
            if _is_int(entry):
                layer: Layer = Dense(entry)
            elif isinstance(entry, dict):
                layer = from_config(entry)
            else:
                raise TypeError(
                    f"expected a dense layer's width or a layer object such as "
                    f'{{"class": "Conv2D", ...}}, found {type(entry).__name__}'
                )
            built.append(layer.build(shape, first=l == 0))  # the layer's own checks
        except (TypeError, ValueError) as exc:
            raise FormatError(
                f"{path}: architecture[{l + 1}] = {_short(entry)} is invalid after an "
                f"input of shape {shape}: {type(exc).__name__}: {exc}"
            ) from None
        spec.append(layer.units if isinstance(layer, Dense) else layer)
        shape = built[-1].out_shape
    if not isinstance(built[-1], Dense):
        raise FormatError(
            f"{path}: architecture's last layer must be dense (the outputs), "
            f"found {_short(rest[-1])}"
        )
    values = [math.prod(built[0].in_shape), *(math.prod(q.out_shape) for q in built)]
    if values != sizes:
        raise FormatError(
            f"{path}: sizes must be the values per sample of each layer of the architecture, "
            f"{_short(values)}, found {_short(sizes)}"
        )
    return spec, [(q.n_out, q.n_in + 1) for q in built]


def _check_optimizer_header(path: Path, entry: Any, n_layers: int) -> dict[str, Any]:
    """The header's "optimizer" object: its class and state names checked.

    Its other keys (hyper-parameters, step count, epoch, ...) are checked by the
    optimizer's own ``load_state_dict`` and constructor, in :func:`_build_optimizer`.
    """
    if not isinstance(entry, dict):
        raise FormatError(f"{path}: header 'optimizer' must be an object, found {_short(entry)}")
    missing = [key for key in ("class", "state_names") if key not in entry]
    if missing:
        raise FormatError(
            f"{path}: header 'optimizer' must have keys 'class' and 'state_names', "
            f"missing {missing}"
        )
    known = _optimizer_classes()
    if not isinstance(entry["class"], str) or entry["class"] not in known:
        raise FormatError(
            f"{path}: optimizer class must be one of {sorted(known)}, "
            f"found {_short(entry['class'])}"
        )
    names = entry["state_names"]
    if not isinstance(names, dict) or not all(
        _STATE_NAME.fullmatch(name) and _is_int(count) for name, count in names.items()
    ):
        raise FormatError(
            f"{path}: optimizer state_names must map names to counts, found {_short(names)}"
        )
    for name, count in names.items():
        if count not in (0, n_layers):
            raise FormatError(
                f"{path}: optimizer state {name!r} must hold 0 or {n_layers} arrays "
                f"(one per weight matrix), found {count}"
            )
    return entry


def _check_names(path: Path, found: set[str], expected: set[str]) -> None:
    missing, extra = sorted(expected - found), sorted(found - expected)
    if missing or extra:
        raise FormatError(
            f"{path}: expected arrays {sorted(expected)[:20]}; "
            f"missing {missing[:20]}, unexpected {extra[:20]}"
        )


def _build_optimizer(path: Path, entry: dict[str, Any], arrays: dict[str, Array]) -> Optimizer:
    """A new optimizer of the saved class with its state restored, or FormatError."""
    d = {key: value for key, value in entry.items() if key != "state_names"}
    d["state"] = {
        name: [arrays[f"opt_{name}_{i}"] for i in range(count)]
        for name, count in entry["state_names"].items()
    }
    try:
        optimizer = _optimizer_classes()[entry["class"]](lr=1.0)  # load_state_dict sets all
        optimizer.load_state_dict(d)
    except Exception as exc:  # the constructor's and load_state_dict's checks, whatever they raise
        raise FormatError(
            f"{path}: the saved {entry['class']} optimizer is invalid: {type(exc).__name__}: {exc}"
        ) from None
    return optimizer
