"""The only module that writes: a complete new site beside the old one, then an atomic swap.

Readers of dist/ (a web server, a deploy step) see either the old site or the new one, never a mix.
A build that fails or is killed leaves only a hidden temporary directory, cleaned up next time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
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
    target = (root / relative).resolve()
    if root.resolve() not in target.parents:
        raise PublishError(f"refusing to write outside the output directory: {relative!r}")
    return target


def unchanged(out: Path, files: dict[str, bytes], reused: dict[str, Path]) -> bool:
    """True when ``out`` already holds exactly these files, so there is nothing to publish."""
    if not out.is_dir():
        return False
    existing = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    if existing != set(files) | set(reused):
        return False
    for name, data in files.items():
        try:
            if (out / name).read_bytes() != data:
                return False
        except OSError:
            return False
    return all(Path(src).resolve() == (out / name).resolve() for name, src in reused.items())


def publish(out: Path, files: dict[str, bytes], reused: dict[str, Path]) -> None:
    """Write ``files`` (and hard links to ``reused`` previous files) as the new ``out``."""
    staging = out.parent / f".{out.name}.new-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        made: set[Path] = set()
        for name, data in files.items():
            target = _safe_target(staging, name)
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            target.write_bytes(data)
        for name, source in reused.items():
            target = _safe_target(staging, name)
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            try:
                os.link(source, target)  # unchanged plans: no bytes copied
            except OSError:
                shutil.copy2(source, target)
        if out.exists():
            if _exchange(staging, out):
                shutil.rmtree(staging)
                return
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
