"""The only module that writes: a complete new site beside the old one, then an atomic swap.

Readers of dist/ (a web server, a deploy step) see either the old site or the new one, never a mix.
A build that fails or is killed leaves only a hidden temporary directory, cleaned up next time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import posixpath
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from racecal.errors import PublishError

_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories (Linux renameat2). False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise PublishError(f"cannot swap {b} into place: {os.strerror(err)}")


def _siblings(out: Path, kind: str) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.{kind}-*"))


@contextlib.contextmanager
def locked(out: Path, timeout: float, on_wait: Callable[[str], None]) -> Iterator[None]:
    """Hold the output directory's lock for a whole build (read previous → write → swap)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out.parent / f".{out.name}.lock"
    lock = FileLock(str(lock_path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        on_wait(f"another build is writing {out}; waiting up to {timeout:g} s for it to finish")
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise PublishError(f"gave up after {timeout:g} s: another build still holds {lock_path}") from None
    try:
        _recover(out)
        yield
    finally:
        lock.release()


def _recover(out: Path) -> None:
    """Undo what a killed build left behind (we hold the lock, so nothing else is writing)."""
    olds = _siblings(out, "old")
    if not out.exists() and olds:
        olds[-1].rename(out)  # killed between the two renames of the fallback swap
        olds = olds[:-1]
    for leftover in [*olds, *_siblings(out, "new")]:
        shutil.rmtree(leftover, ignore_errors=True)


def _safe_target(root: Path, relative: str) -> Path:
    # Checked by shape, not by resolving: the staging directory is ours and holds no symlinks.
    norm = posixpath.normpath(relative)
    if not relative or norm.startswith(("/", "../")) or norm in (".", "..") or "\\" in relative or "\0" in relative:
        raise PublishError(f"refusing to write outside the output directory: {relative!r}")
    return root / norm


class Staging:
    """The new site, written file by file into a hidden directory beside ``out``, then swapped in.

    Worker processes of a parallel build write into the same directory (``attach``); only the
    process that created it swaps or discards it.
    """

    def __init__(self, root: Path, out: Path) -> None:
        self.root = root
        self.out = out
        self._dirs: set[Path] = set()

    @classmethod
    def create(cls, out: Path) -> Staging:
        root = out.parent / f".{out.name}.new-{os.getpid()}"
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        return cls(root, out)

    @classmethod
    def attach(cls, root: Path, out: Path) -> Staging:
        return cls(root, out)

    def _target(self, name: str) -> Path:
        target = _safe_target(self.root, name)
        if target.parent not in self._dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._dirs.add(target.parent)
        return target

    def write(self, name: str, data: bytes) -> None:
        self._target(name).write_bytes(data)

    def link(self, name: str, source: Path) -> None:
        target = self._target(name)
        try:
            os.link(source, target)  # unchanged plans: no bytes copied
        except OSError:
            shutil.copy2(source, target)

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def swap(self) -> None:
        """Make the staged site the published one, atomically where the OS allows."""
        out = self.out
        try:
            if out.exists():
                if _exchange(self.root, out):
                    shutil.rmtree(self.root)
                    return
                old = out.parent / f".{out.name}.old-{os.getpid()}"
                out.rename(old)
                self.root.rename(out)
                shutil.rmtree(old, ignore_errors=True)
            else:
                self.root.rename(out)
        except BaseException:
            self.discard()
            raise


class NullSink:
    """Takes files and keeps nothing: ``racecal diff`` runs the same pipeline without writing."""

    def write(self, name: str, data: bytes) -> None:
        _ = (name, data)

    def link(self, name: str, source: Path) -> None:
        _ = (name, source)

