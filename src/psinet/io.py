"""Saving and loading networks (and optimizer state) as one ``.npz`` file.

The file is a plain NumPy ``.npz`` archive that loads without pickle:

* ``W_0 … W_{L-1}``: the weight matrices, ``W_l`` ndarray of shape (n_{l+1}, n_l + 1)
  with the bias as the last column, in the network's dtype;
* ``header``: UTF-8 JSON stored as a 1-D uint8 array::

      {"format": "psinet", "format_version": 1, "psinet_version": "0.1.0",
       "sizes": [n_0, …, n_L], "activations": [{"name": "tanh"}, …],
       "dtype": "float64" or "float32", "n_layers": L,
       "optimizer": {"class": "Adam", "hyper": {…}, "t": 3, "epoch": 0,    # optional
                     "state_names": {"m": L, "v": L}}}

* ``opt_<name>_<i>``: with an optimizer, its state arrays by position, shaped like ``W_i``.

Writing is atomic: the archive goes to a temporary file in the target's directory,
is flushed to disk, and only then renamed onto the target, so a failed save never
damages an existing file. Loading checks the whole file (header keys and types,
array names, shapes, dtypes, finiteness) before building anything, and refuses a bad
file with :class:`FormatError`. Nothing in the file is ever executed or unpickled:
activations, optimizers and schedules are looked up by name among psinet's own classes.

>>> import tempfile, numpy as np
>>> from psinet import Network
>>> net = Network([2, 3, 1], ["tanh", "sigmoid"], seed=0)
>>> with tempfile.TemporaryDirectory() as tmp:
...     path = save(net, f"{tmp}/model")  # the .npz suffix is added
...     again = load(path)
>>> path.name
'model.npz'
>>> all(np.array_equal(a, b) for a, b in zip(net.weights, again.weights))
True
"""

from __future__ import annotations

import json
import os
import secrets
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import activations as _activations
from . import optimizers as _optimizers
from .activations import Activation
from .network import Network
from .optimizers import Optimizer

__all__ = ["FORMAT_VERSION", "FormatError", "load", "load_with_optimizer", "save"]

Array = np.ndarray
PathLike = str | os.PathLike[str]

FORMAT_VERSION = 1
"""The newest file format version this psinet writes and reads."""

_DTYPES: dict[str, np.dtype[Any]] = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
}
_REQUIRED_KEYS = (
    "format",
    "format_version",
    "psinet_version",
    "sizes",
    "activations",
    "dtype",
    "n_layers",
)
_OPTIMIZER_KEYS = ("class", "hyper", "t", "epoch", "state_names")

# Errors NumPy and zipfile raise for a damaged or foreign file (FileNotFoundError,
# PermissionError and IsADirectoryError are let through: they are not about the format).
_READ_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zlib.error,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    NotImplementedError,  # a zip compression method zipfile does not know
)
_NOT_FORMAT_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError)


class FormatError(ValueError):
    """The file is not a valid psinet file: damaged, foreign, newer, or inconsistent."""


def _optimizer_classes() -> dict[str, type[Optimizer]]:
    """The optimizers a file may name: the concrete classes psinet.optimizers exports."""
    table: dict[str, type[Optimizer]] = {}
    for name in _optimizers.__all__:
        cls = getattr(_optimizers, name)
        if isinstance(cls, type) and issubclass(cls, Optimizer) and cls is not Optimizer:
            table[cls.__name__] = cls
    return table


# ---------------------------------------------------------------------------- save


def save(net: Network, path: PathLike, *, optimizer: Optimizer | None = None) -> Path:
    """Write ``net`` (and optionally ``optimizer``'s state) to one ``.npz`` file.

    Parameters
    ----------
    net : Network
        Its weights ``W_l``, ndarray of shape (n_{l+1}, n_l + 1) each, must be finite.
    path : str or path-like
        Where to write; ``.npz`` is appended when the name does not end with it
        (as :func:`numpy.savez` does). An existing file is replaced atomically.
    optimizer : Optimizer or None
        One of :mod:`psinet.optimizers`' classes whose state (if any) is by position
        for ``net.weights``: ndarray of shape (n_{l+1}, n_l + 1) in ``net.dtype``.

    Returns
    -------
    pathlib.Path
        The path written, with its ``.npz`` suffix.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a psinet.Network, got {type(net).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a psinet.optimizers.Optimizer or None, "
            f"got {type(optimizer).__name__}"
        )
    target = Path(os.fspath(path))
    if not target.name.endswith(".npz"):
        target = target.with_name(target.name + ".npz")

    # 1. Everything to be written, checked first: a file load() would refuse is not written.
    from . import __version__  # here, not at import time: psinet/__init__ may import io

    dtype = np.dtype(net.dtype)
    weights = [np.asarray(W) for W in net.weights]
    for l, W in enumerate(weights):
        if not np.isfinite(W).all():
            raise ValueError(f"net.weights[{l}] must be finite to be saved, got NaN or inf")
    header: dict[str, Any] = {
        "format": "psinet",
        "format_version": FORMAT_VERSION,
        "psinet_version": __version__,
        "sizes": list(net.sizes),
        "activations": [f.get_config() for f in net.activations],
        "dtype": dtype.name,
        "n_layers": net.n_layers,
    }
    arrays: dict[str, Array] = {f"W_{l}": W for l, W in enumerate(weights)}
    if optimizer is not None:
        header["optimizer"], opt_arrays = _optimizer_part(optimizer, weights)
        arrays.update(opt_arrays)
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"the header must be finite JSON data, got {header!r}: {exc}") from None
    arrays["header"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    # 2. Write a temporary file beside the target, then rename it over the target.
    _atomic_savez(target, arrays)
    return target


def _optimizer_part(
    optimizer: Optimizer, weights: list[Array]
) -> tuple[dict[str, Any], dict[str, Array]]:
    """The header entry and the ``opt_<name>_<i>`` arrays for ``optimizer``'s state."""
    cls_name = type(optimizer).__name__
    if _optimizer_classes().get(cls_name) is not type(optimizer):
        raise ValueError(
            f"optimizer must be one of psinet.optimizers' classes "
            f"{sorted(_optimizer_classes())}, got {type(optimizer).__module__}.{cls_name}"
        )
    d = optimizer.state_dict()
    arrays: dict[str, Array] = {}
    for name, state in d["state"].items():
        if state and len(state) != len(weights):
            raise ValueError(
                f"optimizer state {name!r} must hold one array per weight matrix "
                f"({len(weights)}), got {len(state)}: was it stepped on another network?"
            )
        for i, (a, W) in enumerate(zip(state, weights, strict=False)):
            if a.shape != W.shape or a.dtype != W.dtype:
                raise ValueError(
                    f"optimizer state {name}[{i}] must match net.weights[{i}] (shape "
                    f"{W.shape}, dtype {W.dtype}), got shape {a.shape} dtype {a.dtype}"
                )
            if not np.isfinite(a).all():
                raise ValueError(f"optimizer state {name}[{i}] must be finite, got NaN or inf")
            arrays[f"opt_{name}_{i}"] = a
    entry = {
        "class": cls_name,
        "hyper": d["hyper"],
        "t": d["t"],
        "epoch": d["epoch"],
        "state_names": {name: len(state) for name, state in d["state"].items()},
    }
    return entry, arrays


def _atomic_savez(target: Path, arrays: Mapping[str, Array]) -> None:
    """``np.savez`` to ``target`` via a temporary file and ``os.replace``.

    Steps: (1) create ``.<name>.<random>.npz.tmp`` in the target's directory, (2) write,
    flush and fsync it, (3) give it the mode the target has (or the umask's default),
    (4) ``os.replace`` it onto the target, (5) fsync the directory. On any error the
    temporary file is removed and the error re-raised; the target is untouched.
    """
    real = Path(os.path.realpath(target))  # write through a symlink, as np.savez would
    tmp, fd = _create_temp(real)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, os.stat(real).st_mode & 0o7777)  # keep an existing file's mode
        except FileNotFoundError:
            pass
        os.replace(tmp, real)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(real.parent)


def _create_temp(real: Path) -> tuple[Path, int]:
    """A new, empty temporary file beside ``real`` and its open descriptor.

    Opened with mode 0o666 so that the umask applies as for any new file
    (``mkstemp`` would make it 0o600, and the saved model private).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = real.with_name(f".{real.name}.{secrets.token_hex(6)}.npz.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file beside {real}")


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); a no-op where directories cannot be opened."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems do not support it; the file itself is already synced
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------- load


def load(path: PathLike) -> Network:
    """Read a network written by :func:`save`.

    Returns a new :class:`Network` with the saved sizes, activations, dtype and
    weights ``W_l``, ndarray of shape (n_{l+1}, n_l + 1), bit for bit. Optimizer state
    in the file is checked too, and ignored; see :func:`load_with_optimizer`.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    FormatError (a ValueError)
        The file is damaged, is not a psinet file, was written by a newer psinet,
        or its contents are inconsistent; the message says what was expected.
    """
    return load_with_optimizer(path)[0]


def load_with_optimizer(path: PathLike) -> tuple[Network, Optimizer | None]:
    """Read a network and, if the file holds one, its optimizer.

    Returns ``(net, optimizer)``; ``optimizer`` is None when the file was saved
    without one, else a new instance of the saved class with its hyper-parameters,
    step count ``t``, epoch and state restored, ready to continue training ``net``.
    Raises like :func:`load`.
    """
    path = Path(os.fspath(path))
    header, arrays = _read(path)

    # 1. Validate everything, building only plain objects: activations and optimizer.
    sizes, dtype, activations = _check_network_header(path, header)
    expected_names = {f"W_{l}" for l in range(len(sizes) - 1)}  # "header" is read already
    weight_shapes = [(sizes[l + 1], sizes[l] + 1) for l in range(len(sizes) - 1)]
    opt_header = header.get("optimizer")
    if opt_header is not None:
        opt_header = _check_optimizer_header(path, opt_header, len(weight_shapes))
        for name, count in opt_header["state_names"].items():
            expected_names |= {f"opt_{name}_{i}" for i in range(count)}
    _check_names(path, set(arrays), expected_names)
    weights = [
        _checked_array(path, f"W_{l}", arrays[f"W_{l}"], shape, dtype)
        for l, shape in enumerate(weight_shapes)
    ]
    optimizer = None
    if opt_header is not None:
        optimizer = _build_optimizer(path, opt_header, arrays, weight_shapes, dtype)

    # 2. Build the network; every check it repeats has passed already.
    net = Network(sizes, activations, dtype=dtype)
    net.weights = weights
    return net, optimizer


def _read(path: Path) -> tuple[dict[str, Any], dict[str, Array]]:
    """The decoded JSON header and every array of the file, read without pickle."""
    try:
        # We open the file ourselves: np.load(path) leaks its handle when the zip is bad.
        with open(path, "rb") as fh:
            npz = np.load(fh, allow_pickle=False)
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise FormatError(
                    f"{path}: expected a psinet .npz archive, found a single .npy array"
                )
            with npz:
                names = list(npz.files)
                if "header" not in names:
                    raise FormatError(
                        f"{path}: not a psinet file: expected an array named 'header', "
                        f"found arrays {sorted(names)}"
                    )
                arrays = {name: _read_array(path, npz, name) for name in names}
    except (FormatError, *_NOT_FORMAT_ERRORS):
        raise
    except _READ_ERRORS as exc:
        # NumPy's own message may suggest allow_pickle=True: never right for a model file.
        detail = "" if "pickle" in str(exc) else f" ({type(exc).__name__}: {exc})"
        raise FormatError(
            f"{path}: expected a psinet .npz archive, found a damaged or non-.npz file{detail}"
        ) from exc
    return _decode_header(path, arrays.pop("header")), arrays


def _read_array(path: Path, npz: Any, name: str) -> Array:
    try:
        return np.asarray(npz[name])
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "pickled" in str(exc):
            raise FormatError(
                f"{path}: array {name!r} must be a numeric array, found an object array "
                f"(pickled data), which is never loaded"
            ) from exc
        raise


def _decode_header(path: Path, raw: Array) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise FormatError(
            f"{path}: 'header' must be a 1-D uint8 array of UTF-8 JSON, "
            f"found dtype {raw.dtype} shape {raw.shape}"
        )
    try:
        header = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise FormatError(f"{path}: 'header' must be valid UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{path}: header must be a JSON object, found {type(header).__name__}")
    if header.get("format") != "psinet":
        raise FormatError(
            f"{path}: not a psinet file: expected header format 'psinet', "
            f"found {header.get('format')!r}"
        )
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"{path}: format_version must be an integer >= 1, found {version!r}")
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


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_network_header(
    path: Path, header: dict[str, Any]
) -> tuple[list[int], np.dtype[Any], list[Activation]]:
    """Sizes, dtype and rebuilt activations from a header whose keys are present."""
    if not isinstance(header["psinet_version"], str):
        raise FormatError(
            f"{path}: psinet_version must be a string, found {header['psinet_version']!r}"
        )
    sizes = header["sizes"]
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(_is_int(n) and n >= 1 for n in sizes)
    ):
        raise FormatError(
            f"{path}: sizes must be a list of at least two integers >= 1, found {sizes!r}"
        )
    n_layers = header["n_layers"]
    if not _is_int(n_layers) or n_layers != len(sizes) - 1:
        raise FormatError(
            f"{path}: n_layers must be len(sizes) - 1 = {len(sizes) - 1}, found {n_layers!r}"
        )
    dtype_name = header["dtype"]
    if not isinstance(dtype_name, str) or dtype_name not in _DTYPES:
        raise FormatError(f"{path}: dtype must be one of {sorted(_DTYPES)}, found {dtype_name!r}")
    configs = header["activations"]
    if not isinstance(configs, list) or len(configs) != n_layers:
        raise FormatError(
            f"{path}: activations must be a list of {n_layers} config objects "
            f"(one per weight layer), found {configs!r}"
        )
    activations = []
    for l, config in enumerate(configs):
        if not isinstance(config, dict) or not isinstance(config.get("name"), str):
            raise FormatError(
                f"{path}: activations[{l}] must be an object with a string 'name', found {config!r}"
            )
        try:
            activations.append(_activations.get(config))
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{path}: activations[{l}] = {config!r} is invalid: {exc}") from None
    return sizes, _DTYPES[dtype_name], activations


def _check_optimizer_header(path: Path, entry: Any, n_layers: int) -> dict[str, Any]:
    """The header's "optimizer" object, its keys and their types checked."""
    if not isinstance(entry, dict):
        raise FormatError(f"{path}: header 'optimizer' must be an object, found {entry!r}")
    missing = [key for key in _OPTIMIZER_KEYS if key not in entry]
    if missing:
        raise FormatError(
            f"{path}: header 'optimizer' must have keys {list(_OPTIMIZER_KEYS)}, missing {missing}"
        )
    known = _optimizer_classes()
    if entry["class"] not in known:
        raise FormatError(
            f"{path}: optimizer class must be one of {sorted(known)}, found {entry['class']!r}"
        )
    if not isinstance(entry["hyper"], dict):
        raise FormatError(f"{path}: optimizer hyper must be an object, found {entry['hyper']!r}")
    for key in ("t", "epoch"):
        if not _is_int(entry[key]) or entry[key] < 0:
            raise FormatError(
                f"{path}: optimizer {key} must be an integer >= 0, found {entry[key]!r}"
            )
    names = entry["state_names"]
    if not isinstance(names, dict) or not all(
        isinstance(name, str) and name.isidentifier() and _is_int(count)
        for name, count in names.items()
    ):
        raise FormatError(
            f"{path}: optimizer state_names must map names to counts, found {names!r}"
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
            f"{path}: expected arrays {sorted(expected)}; missing {missing}, unexpected {extra}"
        )


def _checked_array(
    path: Path, name: str, a: Array, shape: tuple[int, ...], dtype: np.dtype[Any]
) -> Array:
    if a.dtype.newbyteorder("=") != dtype:  # either byte order: files move between machines
        raise FormatError(f"{path}: {name} must have dtype {dtype.name}, found {a.dtype}")
    if a.shape != shape:
        raise FormatError(f"{path}: {name} must have shape {shape} (from sizes), found {a.shape}")
    if not np.isfinite(a).all():
        raise FormatError(f"{path}: {name} must be finite, found NaN or inf")
    return a.astype(dtype, copy=False)  # native byte order


def _build_optimizer(
    path: Path,
    entry: dict[str, Any],
    arrays: dict[str, Array],
    shapes: list[tuple[int, int]],
    dtype: np.dtype[Any],
) -> Optimizer:
    """A new optimizer of the saved class with its state restored, or FormatError."""
    state = {
        name: [
            _checked_array(path, f"opt_{name}_{i}", arrays[f"opt_{name}_{i}"], shapes[i], dtype)
            for i in range(count)
        ]
        for name, count in entry["state_names"].items()
    }
    cls = _optimizer_classes()[entry["class"]]
    optimizer = cls(lr=1.0)  # placeholder: load_state_dict validates and sets every hyper
    try:
        optimizer.load_state_dict(
            {
                "class": entry["class"],
                "hyper": entry["hyper"],
                "t": entry["t"],
                "epoch": entry["epoch"],
                "state": state,
            }
        )
    except (TypeError, ValueError) as exc:
        raise FormatError(
            f"{path}: the saved {entry['class']} optimizer is invalid: {exc}"
        ) from None
    return optimizer
