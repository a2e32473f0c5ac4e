"""Saving and loading networks (and optimizer state) as one ``.npz`` file.

The file is a plain, uncompressed NumPy ``.npz`` archive (``np.load`` reads it, no
pickle involved); each member is one ``.npy`` array:

* ``header.npy``: UTF-8 JSON stored as a 1-D uint8 array (at most 1 MiB)::

      {"format": "psinet", "format_version": 1, "psinet_version": "0.1.0",
       "sizes": [n_0, …, n_L], "activations": [{"name": "tanh"}, …],
       "dtype": "float64" or "float32", "n_layers": L,
       "optimizer": {"class": "Adam", "hyper": {…}, "t": 3, "epoch": 0,    # optional:
                     …,                                                 # state_dict()
                     "state_names": {"m": L, "v": L}}}                  # minus its arrays

* ``W_0.npy … W_{L-1}.npy``: the weight matrices, ``W_l`` ndarray of shape
  (n_{l+1}, n_l + 1) with the bias as the last column, in the network's dtype;
* ``opt_<name>_<i>.npy``: with an optimizer, its state arrays by position, shaped like ``W_i``.

psinet writes the members itself (``zipfile`` + ``numpy.lib.format.write_array``), so
every supported NumPy writes the same archive. Writing is atomic: the archive goes to a
temporary file ``.<name>.<digest>.psinet-tmp-<random>`` beside the target, is flushed to
disk, and only then renamed onto the target; a failed save never damages an existing file,
and the next save to the same path removes what a killed one left behind.

Loading never trusts the file: before any array is read it checks what the zip
directory and each ``.npy`` header *declare* (member names, compression, shapes, dtypes,
sizes) against the JSON header and the file's size, so memory stays within a small
multiple of the weights' size, and every hyper-parameter goes through the constructors'
checks. A bad file raises :class:`FormatError`. Nothing in the file is ever executed or
unpickled: activations, optimizers and schedules are looked up by name among psinet's
classes and those registered with :func:`psinet.register_activation`.

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

import errno
import hashlib
import inspect
import io as _io
import json
import math
import os
import re
import secrets
import stat
import sys
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from numpy.lib import format as npy_format

from . import activations as _activations
from . import optimizers as _optimizers
from . import schedules as _schedules
from .activations import Activation
from .network import Network
from .optimizers import Optimizer

if sys.platform == "win32":  # pragma: no cover - Windows cannot delete an open file anyway
    _fcntl: Any = None
else:
    import fcntl as _fcntl

__all__ = ["FORMAT_VERSION", "FormatError", "load", "load_with_optimizer", "save"]

Array = np.ndarray
PathLike = str | os.PathLike[str]

FORMAT_VERSION = 1
"""The newest file format version this psinet writes and reads."""

HEADER_LIMIT = 1 << 20
"""The largest JSON header, in bytes, that :func:`load` reads (1 MiB)."""

_NPY_HEADER_LIMIT = 10_000  # a .npy member's own header (NumPy's default max_header_size)
_DIRECTORY_LIMIT = 1 << 20  # the zip's central directory: ~18,000 members of psinet's names
_INT_DIGITS = 18  # JSON integers have at most this many digits (< 2**63)
_CHUNK = 1 << 22  # arrays are read 4 MiB at a time into their final buffer
_ZIP64_FROM = 1 << 30  # members larger than this are written with zip64 sizes
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member dates: the same net gives the same bytes

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
_STATE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MEMBER = re.compile(r"(header|W_[0-9]+|opt_[A-Za-z_][A-Za-z0-9_]*_[0-9]+)\.npy")
# np.savez(f, allow_pickle=False, **arrays) on NumPy < 2.2 stored this member too:
# files written that way by psinet 0.1.0 still load (the member is checked, never used).
_LEGACY_MEMBER = "allow_pickle.npy"

# Errors the zip and .npy readers raise for a damaged or foreign file (FileNotFoundError,
# PermissionError and IsADirectoryError are let through: they are not about the format).
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


def _qualname(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# ---------------------------------------------------------------------------- save


def save(net: Network, path: PathLike, *, optimizer: Optimizer | None = None) -> Path:
    """Write ``net`` (and optionally ``optimizer``'s state) to one ``.npz`` file.

    Parameters
    ----------
    net : Network
        Its weights ``W_l``, ndarray of shape (n_{l+1}, n_l + 1) each, must be finite;
        each activation must be built in or registered (``psinet.register_activation``).
    path : str or path-like
        The file to write; ``.npz`` is appended when the name does not end with it
        (as :func:`numpy.savez` does). An existing file is replaced atomically. A path
        ending in a separator or naming a directory is refused.
    optimizer : Optimizer or None
        One of :mod:`psinet.optimizers`' classes whose state (if any) is by position
        for ``net.weights``: ndarray of shape (n_{l+1}, n_l + 1) in ``net.dtype``.

    Returns
    -------
    pathlib.Path
        The path written, with its ``.npz`` suffix.

    Raises
    ------
    TypeError, ValueError
        Before anything is written: something :func:`load` could not rebuild exactly.
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a psinet.Network, got {type(net).__name__}")
    if optimizer is not None and not isinstance(optimizer, Optimizer):
        raise TypeError(
            f"optimizer must be a psinet.optimizers.Optimizer or None, "
            f"got {type(optimizer).__name__}"
        )
    target = _target(path)

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
        "activations": [_activation_config(l, f) for l, f in enumerate(net.activations)],
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
    raw = text.encode("utf-8")
    if len(raw) > HEADER_LIMIT:
        raise ValueError(
            f"the header must be at most {HEADER_LIMIT} bytes of JSON to be loadable, "
            f"got {len(raw)}"
        )

    # 2. Write a temporary file beside the target, then rename it over the target.
    members = [("header", np.frombuffer(raw, dtype=np.uint8)), *arrays.items()]
    _atomic_write(target, members)
    return target


def _target(path: PathLike) -> Path:
    """The file ``save`` writes: ``path`` with ``.npz`` appended unless it ends with it."""
    raw = os.fspath(path)
    if not isinstance(raw, str):
        raise TypeError(f"path must be a str or os.PathLike[str], got {type(raw).__name__}")
    separators = tuple(s for s in (os.sep, os.altsep) if s)
    if not raw or raw.endswith(separators):
        raise ValueError(f"path must name a file, got {raw!r}, which names a directory")
    given = Path(raw)
    if given.name in ("", ".", "..") or given.is_dir():
        raise ValueError(f"path must name a file, got {raw!r}, which is a directory")
    target = given if given.name.endswith(".npz") else given.with_name(given.name + ".npz")
    if target.is_dir():
        raise ValueError(f"path must name a file, got {raw!r}, and {target} is a directory")
    return target


def _activation_config(l: int, f: Activation) -> dict[str, Any]:
    """``f.get_config()``, checked to rebuild ``f`` exactly through the registry."""
    cls = type(f)
    name = getattr(f, "name", None)
    known = _activations.lookup(name) if isinstance(name, str) else None
    if known is not cls:
        reason = (
            f"the name {name!r} is that of {_qualname(known)}"
            if known is not None
            else f"no activation is registered under its name {name!r}"
        )
        raise ValueError(
            f"net.activations[{l}] is a {_qualname(cls)}, which load() could not rebuild: "
            f"{reason}. Give the class its own name = '...' and register it with "
            f"psinet.register_activation before saving (and before loading)"
        )
    config = f.get_config()
    try:
        rebuilt = _activations.get(config)
    except Exception as exc:
        raise ValueError(
            f"net.activations[{l}] cannot be rebuilt from its get_config() {config!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from None
    differs = _differing_parameter(f, rebuilt)
    if type(rebuilt) is not cls or rebuilt.get_config() != config or differs:
        detail = f": its {differs!r} differs" if differs else ""
        raise ValueError(
            f"net.activations[{l}] = {f!r} is not rebuilt by {cls.__qualname__}(**params) from "
            f"its get_config() {config!r}{detail}; get_config() must return every "
            f"constructor argument"
        )
    return config


def _differing_parameter(f: Activation, rebuilt: Activation) -> str | None:
    """A constructor parameter stored on ``f`` whose value ``rebuilt`` does not share."""
    try:
        params = inspect.signature(type(f)).parameters
    except (TypeError, ValueError):  # no signature to inspect: nothing to compare
        return None
    mine, theirs = getattr(f, "__dict__", {}), getattr(rebuilt, "__dict__", {})
    for name in params:
        if name not in mine:
            continue
        a, b = mine[name], theirs.get(name, _MISSING)
        try:
            same = bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else bool(a == b)
        except Exception:
            same = a is b
        if not same:
            return name
    return None


_MISSING = object()


def _optimizer_part(
    optimizer: Optimizer, weights: list[Array]
) -> tuple[dict[str, Any], dict[str, Array]]:
    """The header entry and the ``opt_<name>_<i>`` arrays for ``optimizer``'s state."""
    cls_name = type(optimizer).__name__
    if _optimizer_classes().get(cls_name) is not type(optimizer):
        raise ValueError(
            f"optimizer must be one of psinet.optimizers' classes "
            f"{sorted(_optimizer_classes())}, got {_qualname(type(optimizer))}"
        )
    lr = optimizer.lr
    if isinstance(lr, _schedules.Schedule) and (
        _schedules.SCHEDULES.get(type(lr).__name__) is not type(lr)
    ):
        raise ValueError(
            f"optimizer.lr must be one of psinet.schedules' classes "
            f"{sorted(_schedules.SCHEDULES)} to be saved, got {_qualname(type(lr))}"
        )
    d = optimizer.state_dict()
    arrays: dict[str, Array] = {}
    for name, state in d["state"].items():
        if not isinstance(name, str) or not _STATE_NAME.fullmatch(name):
            raise ValueError(f"optimizer state names must be identifiers, got {name!r}")
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
    # Every plain-data key of state_dict() is stored; load_state_dict() checks them on load.
    entry = {key: value for key, value in d.items() if key != "state"}
    entry["state_names"] = {name: len(state) for name, state in d["state"].items()}
    return entry, arrays


# ---------------------------------------------------------------------------- writing


def _atomic_write(
    target: Path,
    members: list[tuple[str, Array]],
    write: Callable[[IO[bytes], list[tuple[str, Array]]], None] | None = None,
) -> None:
    """Write the archive to ``target`` via a temporary file and ``os.replace``.

    ``write(f, members)`` writes the file's bytes (default: the ``.npz`` archive;
    :mod:`psinet.interop` passes its safetensors writer).

    Steps: (1) remove temporary files that killed saves to this target left behind,
    (2) create and lock ``.<name>.<digest>.psinet-tmp-<random>`` in the target's
    directory, (3) write, flush and fsync it, (4) give it the mode the target has
    (or the umask's default), (5) ``os.replace`` it onto the target, (6) fsync the
    directory. On any error the temporary file is removed and the error re-raised;
    the target is untouched.
    """
    real = Path(os.path.realpath(target))  # write through a symlink, as np.savez would
    if real.is_dir():
        raise ValueError(f"path must name a file, got {target}, which leads to a directory")
    _remove_abandoned_temps(real)
    tmp, fd = _create_temp(real)
    try:
        f = os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        _unlink(tmp)
        raise
    try:
        try:
            (write or _write_archive)(f, members)
            f.flush()
            os.fsync(f.fileno())
            if _fcntl is None:  # pragma: no cover - Windows cannot rename an open file
                f.close()
            try:
                os.chmod(tmp, os.stat(real).st_mode & 0o7777)  # keep an existing file's mode
            except FileNotFoundError:
                pass
            os.replace(tmp, real)  # the lock (held until close) kept cleaners away until now
        finally:
            f.close()
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(real.parent)


def _write_archive(f: IO[bytes], members: list[tuple[str, Array]]) -> None:
    """An uncompressed zip of ``<name>.npy`` members, the same on every NumPy."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in members:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=a.nbytes > _ZIP64_FROM) as member:
                npy_format.write_array(member, np.ascontiguousarray(a), allow_pickle=False)


def _temp_prefix(real: Path) -> str:
    """``.<name>.<digest>.psinet-tmp-``: at most 58 bytes whatever the name's length.

    The digest (of the full name) ties a temporary file to its target; the name itself
    appears shortened to 32 bytes, so people recognise the file.
    """
    digest = hashlib.sha256(os.fsencode(real.name)).hexdigest()[:12]
    short = real.name
    while len(os.fsencode(short)) > 32:
        short = short[:-1]
    return f".{short}.{digest}.psinet-tmp-"


def _create_temp(real: Path) -> tuple[Path, int]:
    """A new, empty, locked temporary file beside ``real`` and its open descriptor.

    Opened with mode 0o666 so that the umask applies as for any new file
    (``mkstemp`` would make it 0o600, and the saved model private). The lock, held
    until the file is renamed, tells other saves' clean-up that it is in use.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    prefix = _temp_prefix(real)
    for _ in range(100):
        tmp = real.with_name(prefix + secrets.token_hex(6))
        try:
            fd = os.open(tmp, flags, 0o666)
        except FileExistsError:
            continue
        if _lock(fd) is False or not _same_file(tmp, fd):
            os.close(fd)  # a clean-up got there between our create and lock: not ours now
            continue
        return tmp, fd
    raise FileExistsError(f"could not create a temporary file beside {real}")


def _lock(fd: int) -> bool | None:
    """Lock ``fd`` exclusively without waiting: True, False (held elsewhere), None (no locks)."""
    if _fcntl is None:  # pragma: no cover
        return None
    try:
        _fcntl.flock(fd, _fcntl.LOCK_EX | _fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None  # the file system has no locks
    return True


def _same_file(path: Path, fd: int) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _remove_abandoned_temps(real: Path) -> None:
    """Delete the temporary files of killed saves to ``real``, and nothing else.

    A candidate must be a regular file whose name is exactly this target's temporary
    name (or psinet 0.1.0's ``.<name>.<12 hex>.npz.tmp``) and that no running save holds
    locked; where the file system has no locks, nothing is deleted.
    """
    names = re.compile(
        re.escape(_temp_prefix(real))
        + "[0-9a-f]{12}|"
        + re.escape(f".{real.name}.")
        + r"[0-9a-f]{12}\.npz\.tmp"
    )
    try:
        with os.scandir(real.parent) as entries:
            found = [
                Path(e.path)
                for e in entries
                if names.fullmatch(e.name) and e.is_file(follow_symlinks=False)
            ]
    except OSError:
        return
    for path in found:
        if _fcntl is None:  # pragma: no cover - Windows refuses to delete a file in use
            try:
                os.unlink(path)
            except OSError:
                pass
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:  # ours to delete: a regular file, unlocked (its writer is dead), still at path
            if stat.S_ISREG(os.fstat(fd).st_mode) and _lock(fd) and _same_file(path, fd):
                os.unlink(path)
        except OSError:
            pass
        finally:
            os.close(fd)


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
    FileNotFoundError, IsADirectoryError
        No file at ``path``, or a directory.
    FormatError (a ValueError)
        ``path`` is not a regular file (a FIFO, a device), or the file is damaged, is
        not a psinet file, was written by a newer psinet, or its contents are
        inconsistent; the message says what was expected.
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


def _check_end_record(path: Path, fh: IO[bytes], size: int) -> None:
    """Refuse a central directory over :data:`_DIRECTORY_LIMIT` bytes before zipfile parses it.

    zipfile turns every directory entry into an object (~10 times its size in memory);
    the directory's size is read here from the end record (zip64's too), which psinet
    writes as the last 22 bytes of the file (it never writes an archive comment).
    """
    end_size, locator_size, zip64_size = 22, 20, 56
    fh.seek(max(size - end_size, 0))
    end = fh.read(end_size)
    if len(end) < end_size or end[:4] != b"PK\x05\x06" or end[20:22] != b"\0\0":
        raise FormatError(
            f"{path}: expected a psinet .npz archive, found a damaged or non-.npz file "
            f"(no zip end record in its last {end_size} bytes)"
        )
    # The directory's size as the end record declares it, and as a zip64 record does,
    # wherever a zip reader may look for one: just before its locator, or where it points.
    directory = int.from_bytes(end[12:16], "little")
    if size >= end_size + locator_size:
        fh.seek(size - end_size - locator_size)
        locator = fh.read(locator_size)
        if locator[:4] == b"PK\x06\x07":
            pointed = int.from_bytes(locator[8:16], "little")
            for offset in (size - end_size - locator_size - zip64_size, pointed):
                if 0 <= offset <= size - zip64_size:
                    fh.seek(offset)
                    record = fh.read(zip64_size)
                    if record[:4] == b"PK\x06\x06":
                        directory = max(directory, int.from_bytes(record[40:48], "little"))
    if directory > _DIRECTORY_LIMIT:
        raise FormatError(
            f"{path}: the zip directory must be at most {_DIRECTORY_LIMIT} bytes "
            f"(psinet's files hold one member per array), found {directory}"
        )


class _Declared(NamedTuple):
    """What a ``.npy`` member's header declares, and where its data starts."""

    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype[Any]
    offset: int


def _load_archive(path: Path, zf: zipfile.ZipFile, size: int) -> tuple[Network, Optimizer | None]:
    # 1. The zip directory: names, compression and sizes, before any member is read.
    infos = _check_directory(path, zf, size)

    # 2. The JSON header (bounded), and everything it describes built as plain objects.
    header = _read_header(path, zf, infos["header.npy"])
    sizes, dtype, activations = _check_network_header(path, header)
    shapes = [(sizes[l + 1], sizes[l] + 1) for l in range(len(sizes) - 1)]
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
        name: _check_declared(path, zf, infos[f"{name}.npy"], name, shape, dtype)
        for name, shape in expected.items()
    }
    if _LEGACY_MEMBER in infos:
        _check_declared(path, zf, infos[_LEGACY_MEMBER], "allow_pickle", (), np.dtype(bool))

    # 4. The arrays, each read once: the weights straight into the new network's own.
    net = Network(sizes, activations, dtype=dtype)
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


@contextmanager
def _as_format_error(path: Path, what: str = "") -> Iterator[None]:
    """Turn what zipfile and NumPy raise for a damaged or foreign file into FormatError."""
    try:
        yield
    except (FormatError, MemoryError, *_NOT_FORMAT_ERRORS):
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, OSError, ValueError, ...
        # NumPy's own message may suggest allow_pickle=True: never right for a model file.
        detail = "" if "pickle" in str(exc) else f" ({type(exc).__name__}: {exc})"
        raise FormatError(
            f"{path}: expected a psinet .npz archive, found a damaged or non-.npz file"
            f"{what}{detail}"
        ) from exc


def _open_regular(path: Path) -> IO[bytes]:
    """``path`` opened for reading, refused unless it is a regular file.

    Checked before opening (a FIFO would block the open, a device may act on it) and
    again on the open descriptor, in case the path was swapped in between.
    """
    mode = os.stat(path).st_mode  # FileNotFoundError passes through
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(
            errno.EISDIR, "expected a psinet .npz file, found a directory", str(path)
        )
    if not stat.S_ISREG(mode):
        raise FormatError(f"{path}: expected a regular file, found {_file_kind(mode)}")
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags | getattr(os, "O_NOCTTY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FormatError(f"{path}: expected a regular file, found {_file_kind(mode)}")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _file_kind(mode: int) -> str:
    kinds = [
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def _check_directory(path: Path, zf: zipfile.ZipFile, size: int) -> dict[str, zipfile.ZipInfo]:
    """The members by name, refused unless psinet could have written them.

    Names: ``header``, ``W_<l>``, ``opt_<name>_<l>`` (``.npy``), each once. Members:
    stored (psinet never compresses), not encrypted, and the sizes they declare fit
    in the file, all of them together included.
    """
    infos = zf.infolist()
    names = [info.filename for info in infos]
    shown = sorted(name.removesuffix(".npy") for name in names)[:20]
    if "header.npy" not in names:
        raise FormatError(
            f"{path}: not a psinet file: expected an array named 'header', found arrays {shown}"
        )
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise FormatError(f"{path}: each array must appear once, found {duplicates[:20]} twice")
    unknown = [n for n in names if not _MEMBER.fullmatch(n) and n != _LEGACY_MEMBER]
    if unknown:
        raise FormatError(
            f"{path}: a psinet file holds only the arrays header, W_<l> and opt_<name>_<l>; "
            f"found unexpected members {sorted(unknown)[:20]}"
        )
    total = 0
    for info in infos:
        name = info.filename
        if info.flag_bits & 0x1:
            raise FormatError(f"{path}: member {name} is encrypted; psinet never writes that")
        if info.compress_type != zipfile.ZIP_STORED:
            raise FormatError(
                f"{path}: member {name} is compressed (zip method {info.compress_type}); "
                f"psinet writes uncompressed members only"
            )
        if info.file_size != info.compress_size or info.header_offset + info.file_size > size:
            raise FormatError(
                f"{path}: member {name} declares {info.file_size} bytes, "
                f"more than the file's {size} bytes hold"
            )
        total += info.file_size
    if total > size:
        raise FormatError(
            f"{path}: the members declare {total} bytes in all, more than the file's {size}"
        )
    return {info.filename: info for info in infos}


def _read_declaration(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Declared:
    """A member's ``.npy`` header, read alone and bounded (no data is read)."""
    with _as_format_error(path, f" (member {info.filename})"), zf.open(info) as fp:
        major, minor = npy_format.read_magic(fp)
        if (major, minor) not in ((1, 0), (2, 0)):
            raise FormatError(
                f"{path}: member {info.filename} must be a .npy array of format 1.0 or 2.0, "
                f"found format {major}.{minor}"
            )
        length_size = 2 if major == 1 else 4
        raw_length = fp.read(length_size)
        header_length = int.from_bytes(raw_length, "little")
        if len(raw_length) != length_size or header_length > _NPY_HEADER_LIMIT:
            raise FormatError(
                f"{path}: member {info.filename}'s .npy header must be at most "
                f"{_NPY_HEADER_LIMIT} bytes, found {header_length}"
            )
        raw = fp.read(header_length)
        reader = (
            npy_format.read_array_header_1_0 if major == 1 else npy_format.read_array_header_2_0
        )
        shape, fortran_order, dtype = reader(_io.BytesIO(raw_length + raw))
    return _Declared(shape, fortran_order, dtype, 8 + length_size + header_length)


def _check_declared(
    path: Path,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
) -> _Declared:
    """A member's declaration, refused unless it is ``shape`` and ``dtype`` and fills the member."""
    d = _read_declaration(path, zf, info)
    if d.dtype.hasobject:
        raise FormatError(
            f"{path}: array {name!r} must be a numeric array, found an object array "
            f"(pickled data), which is never loaded"
        )
    if d.dtype.newbyteorder("=") != dtype:  # either byte order: files move between machines
        raise FormatError(f"{path}: {name} must have dtype {dtype.name}, found {d.dtype}")
    if d.shape != shape:
        raise FormatError(f"{path}: {name} must have shape {shape} (from sizes), found {d.shape}")
    needed = d.offset + math.prod(shape) * dtype.itemsize
    if info.file_size != needed:
        raise FormatError(
            f"{path}: member {info.filename} must be {needed} bytes for shape {shape} "
            f"and dtype {dtype.name}, found {info.file_size}"
        )
    return d


def _read_data(
    path: Path,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    d: _Declared,
    into: Array | None = None,
) -> Array:
    """The array a checked declaration describes, read in chunks into one buffer.

    With ``into`` (ndarray of the declared shape, C order), the values end up there:
    read straight into it when the file has its dtype and order, else converted.
    """
    direct = into is not None and into.dtype == d.dtype and into.flags.c_contiguous
    direct = direct and not d.fortran_order
    if direct and into is not None:
        flat = into.reshape(-1)  # a view: C-contiguous
    else:
        flat = np.empty(math.prod(d.shape), d.dtype)
    buffer = flat.view(np.uint8)
    with _as_format_error(path, f" (member {info.filename})"), zf.open(info) as fp:
        fp.read(d.offset)
        done = 0
        while done < buffer.size:
            chunk = fp.read(min(_CHUNK, buffer.size - done))
            if not chunk:
                raise FormatError(f"{path}: member {info.filename} is truncated")
            buffer[done : done + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
            done += len(chunk)
        fp.read(1)  # at the member's end: zipfile checks its CRC-32 here
    a = flat.reshape(d.shape[::-1]).T if d.fortran_order else flat.reshape(d.shape)
    if into is None or direct:
        return a
    np.copyto(into, a)  # another byte order or Fortran order: into the native buffer
    return into


def _check_finite(path: Path, name: str, a: Array) -> Array:
    if not np.isfinite(a).all():
        raise FormatError(f"{path}: {name} must be finite, found NaN or inf")
    return a


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


def decode_json_object(path: Path, raw: bytes, what: str) -> dict[str, Any]:
    """``raw`` parsed as one strict JSON object, or FormatError naming ``what`` in ``path``.

    Strict: finite floats only (no NaN, Infinity, 1e400), bounded integers, bounded
    nesting. Used for psinet's own header and for safetensors headers.
    """
    try:
        header = json.loads(
            raw.decode("utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except RecursionError:
        raise FormatError(f"{path}: {what} must be JSON, found nesting too deep") from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise FormatError(f"{path}: {what} must be valid UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict):
        raise FormatError(f"{path}: {what} must be a JSON object, found {type(header).__name__}")
    return header


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {_short(text)} is out of range (finite numbers only)")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > _INT_DIGITS:
        raise ValueError(
            f"the integer {_short(text)} is out of range (at most {_INT_DIGITS} digits)"
        )
    return int(text)


def _short(value: Any, limit: int = 80) -> str:
    """``repr(value)``, cut to ``limit`` characters: messages stay readable for any file."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


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
