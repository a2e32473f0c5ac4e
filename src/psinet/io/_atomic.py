"""Replacing a file atomically: write a locked temporary file beside the target, fsync it,
rename it onto the target, and remove what killed writers left behind.

Writing is atomic: the archive goes to a temporary file
``.<name>.<digest>.psinet-tmp-<random>`` beside the target, is flushed to disk, and only
then renamed onto the target; a failed save never damages an existing file, and the next
save to the same path removes what a killed one left behind. :func:`psinet.io.save` and
:func:`psinet.interop.save_safetensors` write through :func:`_atomic_write`.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from ._archive import _file_kind, _write_archive

if sys.platform == "win32":  # pragma: no cover - Windows cannot delete an open file anyway
    _fcntl: Any = None
else:
    import fcntl as _fcntl

Array = np.ndarray


def _atomic_write(
    target: Path,
    members: list[tuple[str, Array]],
    write: Callable[[IO[bytes], list[tuple[str, Array]]], None] | None = None,
) -> None:
    """Write the archive to ``target`` via a temporary file and ``os.replace``.

    ``write(f, members)`` writes the file's bytes (default: the ``.npz`` archive;
    :mod:`psinet.interop` passes its safetensors writer).

    A symlink is followed (as :func:`psinet.io.load` follows it): what it leads to is
    replaced, the link stays. Only a regular file is ever replaced: a target that
    exists and is anything else (a directory, a FIFO, a socket, a device such as
    ``/dev/null``) is refused with a ValueError before any temporary file exists, and
    checked again just before the rename, in case it was swapped in meanwhile.

    Steps: (1) refuse a target that is not a regular file, (2) remove temporary files
    that killed saves to this target left behind, (3) create and lock
    ``.<name>.<digest>.psinet-tmp-<random>`` in the target's directory, (4) write,
    flush and fsync it, (5) check the target again and give the temporary file its
    mode (or the umask's default), (6) ``os.replace`` it onto the target, (7) fsync
    the directory. On any error the temporary file is removed and the error re-raised;
    the target is untouched.
    """
    real = Path(os.path.realpath(target))  # write through a symlink, as np.savez would
    _check_replaceable(target, real)
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
            mode = _check_replaceable(target, real)  # again: it may have been swapped
            if mode is not None:
                os.chmod(tmp, mode & 0o7777)  # keep an existing file's mode
            os.replace(tmp, real)  # the lock (held until close) kept cleaners away until now
        finally:
            f.close()
    except BaseException:
        _unlink(tmp)
        raise
    _fsync_dir(real.parent)


def _check_replaceable(target: Path, real: Path) -> int | None:
    """The mode of the regular file at ``real`` (None if nothing is there), else ValueError.

    ``real`` is ``target`` with its links resolved, so ``lstat`` sees what a rename onto
    it would replace: a link swapped in since is refused too, never followed.
    """
    try:
        mode = os.lstat(real).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISREG(mode):
        return mode
    linked = Path(os.path.abspath(target)) != real
    where = f"{target}, which leads to {real}," if linked else f"{target}, which is"
    kind = "a symbolic link" if stat.S_ISLNK(mode) else _file_kind(mode)
    raise ValueError(
        f"path must name a regular file (or none yet) to be replaced, got {where} {kind}; "
        f"it is left as it is"
    )


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
