"""Reading a file racecal did not write, without trusting what sits at its path.

A FIFO would block ``open`` for ever, ``/dev/zero`` would fill memory, a symlink could lead to a
private key whose content then appears in an error message. So: open without blocking, refuse
anything that is not a regular file (by ``fstat`` of the open descriptor, so a path swapped after a
check cannot slip through), and never read more than the limit + 1 byte.
"""

from __future__ import annotations

import errno
import os
import stat
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
    with os.fdopen(fd, "rb", buffering=0) as handle:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(mode)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:  # a file that grows while it is read is still bounded
            chunk = handle.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise TooLargeError(max(size, os.fstat(fd).st_size))
        return b"".join(chunks)
