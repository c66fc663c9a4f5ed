"""Small file-system helpers: checksums, permissions, durable atomic writes."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from .errors import OutputError

# What a write can fail with that is the place's fault, not the program's: the user can
# act on it (free space, pick a folder they may write to).
WRITE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM", "EIO", "ENOTDIR")
    if hasattr(errno, name)
)
_FULL = frozenset(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EFBIG") if hasattr(errno, n))
_NOFOLLOW = os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class UnsafeFile(OSError):
    """A file the tool will not open: ``kind`` is "symbolic link", "hard link" or "not a regular file"."""

    def __init__(self, kind: str, path, links: int = 1):
        super().__init__(f"{path} is a {kind}")
        self.kind = kind
        self.links = links


def open_regular(path, flags: int, *, dir_fd=None, display=None, mode: int = 0o666) -> int:
    """``os.open`` of a regular file, never through a symbolic link as its last component.

    Opened for writing, a file with more than one hard link is refused too: writing to it
    would change the other name's file (a lock file hard-linked to a label file). The
    registry's files and both locks (registry, label store) are opened through here.

    Raises
    ------
    UnsafeFile
        Callers turn it into their own one-line error.
    """
    display = display or path
    try:
        fd = os.open(path, flags | _NOFOLLOW | os.O_NONBLOCK, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.EMLINK) or os.path.islink(display):
            raise UnsafeFile("symbolic link", display) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeFile("not a regular file", display)
        if flags & (os.O_WRONLY | os.O_RDWR) and st.st_nlink > 1:
            raise UnsafeFile("hard link", display, st.st_nlink)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_failure(path, exc: OSError) -> OSError:
    """The one-line error for a failed write of ``path``, or ``exc`` itself if it is a bug.

    The caller has removed its temporary files, so nothing half-written is left.
    """
    if isinstance(exc, OutputError) or exc.errno not in WRITE_ERRNOS:
        return exc
    fix = (
        "free some space or write elsewhere"
        if exc.errno in _FULL
        else "write elsewhere, or fix the permissions"
    )
    return OutputError(f"cannot write {path}: {exc.strerror or exc}; {fix} (nothing was written there)")


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_mode(directory: bool = False) -> int:
    """Permissions a plain open()/mkdir() would give under the current umask."""
    mask = os.umask(0)
    os.umask(mask)
    return (0o777 if directory else 0o666) & ~mask


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file and a rename."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise write_failure(path, exc) from None
    try:
        os.chmod(tmp, default_mode())  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise write_failure(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
