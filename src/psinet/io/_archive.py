"""psinet's ``.npz`` container: a zip of uncompressed ``.npy`` members, written the same
on every NumPy and read without trusting the file.

psinet writes the members itself (``zipfile`` + ``numpy.lib.format.write_array``), so
every supported NumPy writes the same archive.

Reading never trusts the file: the checks here read what the zip directory (its end
record first) and each ``.npy`` header *declare* (member names, compression, shapes,
dtypes, sizes) and compare it with what the caller expects and the file's size, before
any data is read; a bad file raises :class:`FormatError`, and nothing in it is ever
unpickled. :func:`decode_json_object` is the strict JSON parser for psinet's header and
for safetensors headers.
"""

from __future__ import annotations

import errno
import io as _io
import json
import math
import os
import re
import stat
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
from numpy.lib import format as npy_format

Array = np.ndarray

_NPY_HEADER_LIMIT = 10_000  # a .npy member's own header (NumPy's default max_header_size)
_DIRECTORY_LIMIT = 1 << 20  # the zip's central directory: ~18,000 members of psinet's names
_INT_DIGITS = 18  # JSON integers have at most this many digits (< 2**63)
_CHUNK = 1 << 22  # arrays are read 4 MiB at a time into their final buffer
_ZIP64_FROM = 1 << 30  # members larger than this are written with zip64 sizes
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed member dates: the same net gives the same bytes

_MEMBER = re.compile(r"(header|W_[0-9]+|opt_[A-Za-z_][A-Za-z0-9_]*_[0-9]+)\.npy")
# np.savez(f, allow_pickle=False, **arrays) on NumPy < 2.2 stored this member too:
# files written that way by psinet 0.1.0 still load (the member is checked, never used).
_LEGACY_MEMBER = "allow_pickle.npy"

# Errors the zip and .npy readers raise for a damaged or foreign file (FileNotFoundError,
# PermissionError and IsADirectoryError are let through: they are not about the format).
_NOT_FORMAT_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError)


class FormatError(ValueError):
    """The file is not a valid psinet file: damaged, foreign, newer, or inconsistent."""


# ---------------------------------------------------------------------------- writing


def _write_archive(f: IO[bytes], members: list[tuple[str, Array]]) -> None:
    """An uncompressed zip of ``<name>.npy`` members, the same on every NumPy."""
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name, a in members:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=a.nbytes > _ZIP64_FROM) as member:
                npy_format.write_array(member, np.ascontiguousarray(a), allow_pickle=False)


# ---------------------------------------------------------------------------- reading


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
    source: str = "sizes",
) -> _Declared:
    """A member's declaration, refused unless it is ``shape`` and ``dtype`` and fills the member
    (``source``: where the expected shape came from, for the message)."""
    d = _read_declaration(path, zf, info)
    if d.dtype.hasobject:
        raise FormatError(
            f"{path}: array {name!r} must be a numeric array, found an object array "
            f"(pickled data), which is never loaded"
        )
    if d.dtype.newbyteorder("=") != dtype:  # either byte order: files move between machines
        raise FormatError(f"{path}: {name} must have dtype {dtype.name}, found {d.dtype}")
    if d.shape != shape:
        raise FormatError(
            f"{path}: {name} must have shape {shape} (from {source}), found {d.shape}"
        )
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
