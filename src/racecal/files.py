"""Reading a file racecal did not write, and writing one whole, without trusting what sits at a path.

A FIFO would block ``open`` for ever, ``/dev/zero`` would fill memory, a symlink could lead to a
private key whose content then appears in an error message. So: open without blocking, refuse
anything that is not a regular file (by ``fstat`` of the open descriptor, so a path swapped after a
check cannot slip through), and never read more than the limit + 1 byte. A file written whole goes
first to a new file of an unpredictable name (``O_EXCL``): a FIFO or symlink planted at a name that
can be guessed (the process id) would block the write or send it elsewhere.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path


class NotRegularFileError(Exception):
    """The path is a symlink (when not followed), a directory, FIFO, socket or device."""

    def __init__(self, mode: int) -> None:
        self.symlink = stat.S_ISLNK(mode)
        self.kind = describe(mode)  # "a FIFO (named pipe)", for messages
        super().__init__(self.kind)


class TooLargeError(Exception):
    """The file has more than the limit's bytes."""

    def __init__(self, size: int) -> None:
        self.size = size
        super().__init__(size)


def describe(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def read_bounded(path: Path, limit: int, *, follow_symlinks: bool) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Raises NotRegularFileError, TooLargeError, or OSError (missing, unreadable).
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_symlinks and path.is_symlink():
            raise NotRegularFileError(stat.S_IFLNK) from None
        if exc.errno == errno.ENXIO:  # a FIFO's write end or a socket: not something to read
            raise NotRegularFileError(path.stat().st_mode) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(mode)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # a file that grows while it is read is still bounded
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise TooLargeError(max(size, os.fstat(fd).st_size))
        return b"".join(chunks)
    finally:
        os.close(fd)


def new_file(directory: Path, name: str, data: bytes) -> Path:
    """A new file holding ``data`` in ``directory``, under a fresh unpredictable name starting with
    ``.name.``; the caller renames or links it into place (and removes it if that fails)."""
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would create it; mkstemp makes it private
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise
    return Path(temporary)


def _umask() -> int:
    mask = os.umask(0o022)  # reading the mask means setting it: set it straight back
    os.umask(mask)
    return mask


def replace_whole(path: Path, data: bytes) -> None:
    """Replace ``path`` by a file holding ``data``, atomically: readers see the old file or the new one."""
    temporary = new_file(path.parent, path.name, data)
    try:
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
