"""The only module that writes: a complete new site beside the old one, then an atomic swap.

Readers of dist/ (a web server, a deploy step) see either the old site or the new one, never a mix.
A build that fails or is killed leaves only a hidden temporary directory, cleaned up next time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import posixpath
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from racecal.cache import Seen, seen
from racecal.errors import PublishError
from racecal.files import NotRegularFileError, TooLargeError, new_file, read_bounded, replace_whole
from racecal.model import SLUG_RE

_RENAME_EXCHANGE = 2
MAX_INDEX_BYTES = 64 * 1024 * 1024
# What build writes in each plan's directory (tests/test_files.py checks this against the golden tree).
PLAN_FILES = frozenset({"confirmed.ics", "tentative.ics", "all.ics", "index.html", "changes.atom", "changes.json", "state.json"})


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
    raise OSError(err, os.strerror(err), str(b))


def _siblings(out: Path, kind: str) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.{kind}-*"))


class BuildLock:
    """The output directory's lock file, open and flock()ed by this process."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def filesystem_now(self) -> int:
        """The present as the output's filesystem stamps it (a change time, in ns), for cache.record.

        Taken from the lock file (through the descriptor held, never by its name again: it could have
        been replaced meanwhile), not the clock: a network or coarse filesystem keeps its own time."""
        os.utime(self.fd)
        return os.fstat(self.fd).st_ctime_ns


@contextlib.contextmanager
def locked(out: Path, timeout: float, on_wait: Callable[[str], None], *, reader: bool = False) -> Iterator[BuildLock | None]:
    """Hold the output directory's lock for a whole build (read previous → write → swap).

    ``racecal diff`` takes it as a ``reader``, so it never reads a build half-way through its swap.
    Readers hold it alone too: shared, a stream of overlapping diffs kept a build out until it gave
    up (an independent tester's finding). A reader that may not create or open the lock file (a
    read-only checkout, another user's site) reads without it: it cannot publish there either.
    """
    lock_path = out.parent / f".{out.name}.lock"
    fd = _acquire(out, lock_path, timeout, on_wait, reader)
    try:
        if not reader:
            _recover(out)
        elif not out.exists() and _siblings(out, "old"):
            raise PublishError(f"{out} is missing: a build was stopped while it swapped in a new site; run racecal build to put it back")
        yield BuildLock(fd) if fd is not None else None
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock (workers forked meanwhile have exited)


_LOCK_POLL = 0.05  # seconds between tries while another build holds the lock
# A reader that gets one of these opening the lock file reads without it (see ``locked``).
_MAY_NOT_LOCK = (errno.EROFS, errno.EACCES, errno.EPERM)


def _acquire(out: Path, lock_path: Path, timeout: float, on_wait: Callable[[str], None], reader: bool) -> int | None:
    """An open descriptor of the lock file, flock()ed by this process alone; None for a reader that
    may not open it.

    By hand rather than with the filelock package: importing filelock took 17 ms, 5% of a no-op
    build (docs/architecture.md, "Why the build lock is taken by hand"). Every POSIX system has
    flock. A lock file planted as a symlink is refused (O_NOFOLLOW), not followed, and so is
    anything else that is not a regular file."""
    if reader and not out.parent.is_dir():
        return None
    try:
        if not reader:
            out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file took the place of a folder on the way since the build checked --out
        why = output_shape_problem(out) or f"cannot create {out.parent}: {exc.strerror or exc}"
        raise PublishError(f"{why}; nothing was published") from None
    flags = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | flags, 0o644)
        except OSError as exc:
            if not (reader and exc.errno in _MAY_NOT_LOCK):
                raise
            # A read-only checkout, or another user's lock file: a reader locks through a read-only
            # descriptor where the system allows (NFS does not: then it reads without the lock).
            fd = os.open(lock_path, os.O_RDONLY | flags)
    except OSError as exc:
        if reader and exc.errno in (*_MAY_NOT_LOCK, errno.ENOENT):
            return None
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO, errno.EOPNOTSUPP):
            why = "it is a symbolic link" if exc.errno == errno.ELOOP else "it is not a regular file"
            raise PublishError(f"cannot use {lock_path} as the lock: {why} (remove it); {out} was left as it was") from None
        raise PublishError(f"cannot create {lock_path}: {exc.strerror or exc}; {out} was left as it was") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a FIFO or a device planted there
        os.close(fd)
        raise PublishError(f"cannot use {lock_path} as the lock: it is not a regular file (remove it); {out} was left as it was")
    tries = round(timeout / _LOCK_POLL)  # counted, not timed: only cli.py reads the clock
    for attempt in range(tries + 1):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if attempt == 0:
                on_wait(f"another racecal build or diff is using {out}; waiting up to {timeout:g} s for it to finish")
            if attempt < tries:
                time.sleep(_LOCK_POLL)
        except OSError as exc:
            os.close(fd)
            if reader:  # a read-only descriptor where locks need a writable one (NFS): as above
                return None
            raise PublishError(f"cannot lock {lock_path}: {exc.strerror or exc}; {out} was left as it was") from None
    os.close(fd)
    raise PublishError(f"gave up after {timeout:g} s: another racecal build or diff still holds {lock_path}")


def _recover(out: Path) -> None:
    """Undo what a killed build left behind (we hold the lock, so nothing else is writing)."""
    olds = _siblings(out, "old")
    try:
        if not out.exists() and olds:
            olds[-1].rename(out)  # killed between the two renames of the fallback swap
            olds = olds[:-1]
    except OSError as exc:
        raise PublishError(f"cannot restore {olds[-1]} to {out}: {exc.strerror or exc}") from None
    for leftover in [*olds, *_siblings(out, "new")]:
        _remove(leftover)


def _remove(path: Path) -> None:
    """Remove a leftover of ours, whatever it became (an older racecal could leave a symlink here)."""
    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(OSError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _safe_relative(relative: str) -> str:
    # Checked by shape, not by resolving: the staging directory is ours and holds no symlinks.
    norm = posixpath.normpath(relative)
    if not relative or norm.startswith(("/", "../")) or norm in (".", "..") or "\\" in relative or "\0" in relative:
        raise PublishError(f"refusing to write outside the output directory: {relative!r}")
    return norm


def _safe_target(root: Path, relative: str) -> Path:
    return root / _safe_relative(relative)


class Staging:
    """The new site, written file by file into a hidden directory beside ``out``, then swapped in.

    Forked worker processes of a parallel build write into the same directory through their copy of
    this object; only the process that created it swaps or discards it.
    """

    def __init__(self, root: Path, out: Path, *, from_spare: bool = False) -> None:
        self.root = root
        self.out = out
        self._dirs: set[str] = set()
        self.linked: set[str] = set()  # names linked from the previous build (by this process; workers only write)
        # Started from the site before the published one (``spare_path``): it holds files already,
        # so every name is replaced, never written into (a file there may be the published one).
        self.from_spare = from_spare
        self.settled: set[str] = set()  # folders of a spare that this process made exactly as the new site has them

    @classmethod
    def create(cls, out: Path, *, use_spare: bool = False) -> Staging:
        """A new staging directory; with ``use_spare``, the spare (the site before the published one)
        when there is one of ours, else an empty directory."""
        root = out.parent / f".{out.name}.new-{os.getpid()}"
        _remove(root)
        if use_spare and is_spare(spare_path(out)):
            with contextlib.suppress(OSError):
                spare_path(out).rename(root)
                return cls(root, out, from_spare=True)
        try:
            root.mkdir(parents=True)
        except OSError as exc:
            raise _cannot_write(root, out, exc) from None
        return cls(root, out)

    def _folder(self, folder: str) -> str:
        """The directory ``folder`` (a path inside the root, made safe) as a real directory, made once.
        In a spare each directory on the way is checked once: nothing there may lead elsewhere."""
        if folder in self._dirs or folder == str(self.root):
            return folder
        if self.from_spare:
            self._folder(folder.rpartition("/")[0])
            try:
                if stat.S_ISDIR(os.lstat(folder).st_mode):
                    self._dirs.add(folder)
                    return folder
                Path(folder).unlink()  # a file of that name (ours, from an earlier site): the directory replaces it
            except FileNotFoundError:
                pass
        Path(folder).mkdir(parents=True, exist_ok=True)
        self._dirs.add(folder)
        return folder

    def _target(self, name: str) -> str:
        # Strings, not Paths: a build links every unchanged file (7,000 at 20,000 races) through here.
        target = f"{self.root}/{_safe_relative(name)}"
        self._folder(target.rpartition("/")[0])
        if self.from_spare:
            _clear(target)
        return target

    def write(self, name: str, data: bytes) -> None:
        try:
            target = self._target(name)
            if self.from_spare:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
                with os.fdopen(fd, "wb") as file:
                    file.write(data)
            else:
                Path(target).write_bytes(data)
        except OSError as exc:
            raise _cannot_write(self.root / name, self.out, exc) from None

    def link(self, name: str, source: Path | str) -> None:
        self.linked.add(name)
        try:
            target = self._target(name)
            try:
                os.link(source, target)  # unchanged plans: no bytes copied
            except OSError:
                shutil.copy2(source, target)
        except OSError as exc:
            raise _cannot_write(self.root / name, self.out, exc) from None

    def link_folder(self, folder: str, names: Iterable[str], source: str, seen: Mapping[str, Seen] | None = None) -> None:
        """Link the files ``names`` of the folder ``source`` into ``folder`` of the new site: an
        unchanged plan's files, with one check and one mkdir for the folder. File by file through
        ``link``, the 7,000 files of 20,000 races took 135 ms, of which the links themselves 60.

        From a spare, a file that already is the published one (the same inode: the spare and the
        published site share every file the last build did not change) is left as it is, and what
        else the spare has in the folder is removed. ``seen``: what the build found the published
        files to be ("folder/name" → inode, …), which spares a stat call per file."""
        target = self._folder(f"{self.root}/{_safe_relative(folder)}")  # the folder checked and made once
        there = _inodes(target) if self.from_spare else {}
        for name in names:
            if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
                raise PublishError(f"refusing to write outside the output directory: {folder + '/' + name!r}")
            relative = f"{folder}/{name}"
            self.linked.add(relative)
            try:
                if there:
                    inode = there.pop(name, None)
                    if inode is not None:
                        known = seen.get(relative) if seen is not None else None
                        if inode == (known[0] if known is not None else os.lstat(f"{source}/{name}").st_ino):
                            continue
                        _clear(f"{target}/{name}")
                try:
                    os.link(f"{source}/{name}", f"{target}/{name}")  # no bytes copied
                except OSError:
                    shutil.copy2(f"{source}/{name}", f"{target}/{name}")
            except OSError as exc:
                raise _cannot_write(self.root / folder / name, self.out, exc) from None
        if self.from_spare:
            for name in there:  # what the spare had here and this site has not
                _clear(f"{target}/{name}")
            self.settled.add(_safe_relative(folder))

    def discard(self) -> None:
        """Remove what was staged; a staging started from the spare goes back to being the spare
        (whatever this build wrote in it: a spare is any site of ours, checked file by file when used)."""
        if self.from_spare and _keep_as_spare(self.root, self.out):
            return
        _remove(self.root)

    def written(self, names: Iterable[str]) -> dict[str, tuple[int, int, int]]:
        """What each of ``names`` that this build wrote (not linked) is in the staged site, before the
        swap shows it to anyone: cache.record requires it to be the same afterwards."""
        found = {}
        for name in names:
            if name not in self.linked and (now := seen(f"{self.root}/{name}")) is not None:
                found[name] = now
        return found

    def swap(self, indexed: Mapping[str, Iterable[str]] | None = None, site: Iterable[str] | None = None) -> None:
        """Make the staged site the published one, atomically where the OS allows.

        What is in ``out`` but was not published by racecal (a CNAME, .git/, .well-known/) is
        carried into the new site first, as hard links, so it survives every build. ``indexed``:
        what ``out``'s index.json lists (plan id → file names), when the build read it there.
        ``site``: every file of the new site (relative paths), which a staging started from the
        spare needs, to remove what the site before had and this one has not. The site replaced
        becomes the spare, when ``site`` is given.
        """
        out = self.out
        try:
            if self.from_spare:
                if site is None:
                    raise PublishError("a staging started from the spare needs the new site's files to swap")
                _prune(self.root, set(site), self.settled)
            if not out.exists():
                self.root.rename(out)
                return
            foreign = self._keep_foreign_files(indexed)
            self.root.chmod(stat.S_IMODE(out.stat().st_mode))  # a web root keeps its permissions
            if _exchange(self.root, out):
                self._retire(self.root, foreign, site)  # now the site before
                return
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            try:
                self.root.rename(out)
            except OSError:
                old.rename(out)  # put it back (a failure here is undone by the next run's _recover)
                raise
            self._retire(old, foreign, site)
        except OSError as exc:
            self.discard()
            if exc.errno in (errno.EBUSY, errno.EXDEV):
                raise PublishError(
                    f"cannot swap the new site into {out}: it is a mount point (or on another filesystem than the directory beside it), "
                    "and racecal publishes by renaming a whole directory; "
                    f"publish into a directory inside the mount (--out {out}/site) or make --out a symbolic link to such a directory; "
                    f"{out} was left as it was"
                ) from None
            raise PublishError(f"cannot swap the new site into {out}: {exc.strerror or exc}; {out} was left as it was") from None
        except BaseException:
            self.discard()
            raise

    def _keep_foreign_files(self, indexed: Mapping[str, Iterable[str]] | None) -> list[str]:
        foreign = foreign_entries(self.out, indexed)
        clashing = [name for name in foreign if os.path.lexists(self.root / name)]
        if clashing:
            raise PublishError(
                f"{self.out}: {', '.join(clashing)}: not written by racecal, and the new site has a file of the same name; "
                "move it away and build again"
            )
        for name in foreign:
            (self.root / name).parent.mkdir(parents=True, exist_ok=True)
            _replicate(self.out / name, self.root / name)
        return foreign

    def _retire(self, old: Path, foreign: list[str], site: Iterable[str] | None) -> None:
        """The site just replaced: kept as the spare when the build said what its sites hold, else
        removed. What in it was not racecal's (now carried into the new site) is removed first, so
        the spare holds only files racecal wrote, and nothing of the user's is in two places."""
        if site is not None:
            for name in foreign:
                _remove(old / name)
            if _keep_as_spare(old, self.out):
                return
        _remove(old)


def _cannot_write(where: Path, out: Path, exc: OSError) -> PublishError:
    return PublishError(f"cannot write {where}: {exc.strerror or exc}; {out} was left as it was")


# --- the spare: the site before the published one, the next build's start ---------------------------
# A build that changed one race linked the 7,000 unchanged files of 20,000 races into a new directory
# and, once it was swapped in, unlinked the 7,000 of the site it replaced: most of its publishing
# time, for nothing that changed. The replaced site is kept instead, beside the output, and the next
# build starts from it: a file there that is the published one (the same inode) stays, the rest is
# replaced or removed. It shares every unchanged file with the published site, so it costs the disk
# only what the last build changed. It holds only what racecal wrote (foreign files are removed from
# it), and a marker, so that a directory of that name that is not racecal's is never touched.
_SPARE_MARKER = ".gitignore"
_SPARE_MARKER_TEXT = b"# racecal: the site before the published one, where the next build starts; not for git\n*\n"


def spare_path(out: Path) -> Path:
    return out.parent / f".{out.name}.spare"


def is_spare(path: Path) -> bool:
    """Whether ``path`` is a spare racecal kept: a real directory with racecal's marker in it."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return False
        return read_bounded(path / _SPARE_MARKER, len(_SPARE_MARKER_TEXT), follow_symlinks=False) == _SPARE_MARKER_TEXT
    except (OSError, NotRegularFileError, TooLargeError):
        return False


def _keep_as_spare(directory: Path, out: Path) -> bool:
    """Make ``directory`` (a site of racecal's files only) the spare of ``out``; False when the place
    is taken (by a directory that is not a spare of ours) or the filesystem says no."""
    spare = spare_path(out)
    try:
        if os.path.lexists(spare):
            if not is_spare(spare):
                return False
            _remove(spare)
        marker = directory / _SPARE_MARKER
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        marker.write_bytes(_SPARE_MARKER_TEXT)
        directory.rename(spare)
    except OSError:
        return False
    return True


def _clear(path: str) -> None:
    """Remove what is at ``path`` in a spare (a file, or whatever an earlier site had there)."""
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass
    except OSError:
        if stat.S_ISDIR(os.lstat(path).st_mode):
            shutil.rmtree(path)
        else:
            raise


def _inodes(folder: str) -> dict[str, int]:
    """What ``folder`` holds: name → inode for a regular file (from the directory listing: no stat
    call), -1 for anything else (a symlink, a directory), which no published file can be."""
    with os.scandir(folder) as entries:
        return {e.name: e.inode() if e.is_file(follow_symlinks=False) else -1 for e in entries}


def _prune(root: Path, site: set[str], settled: set[str]) -> None:
    """Remove from ``root`` (a staging started from the spare) everything that is not one of ``site``'s
    files or on the way to one. Symbolic links are removed, never followed. The ``settled`` folders
    (``Staging.link_folder`` made them exactly so) are not looked into again."""
    folders = {name.rpartition("/")[0] for name in site}
    for parent in list(folders):
        while "/" in parent:
            parent = parent.rpartition("/")[0]
            folders.add(parent)
    pending = [""]
    while pending:
        folder = pending.pop()
        with os.scandir(f"{root}/{folder}" if folder else root) as entries:
            for entry in entries:
                relative = f"{folder}/{entry.name}" if folder else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if relative in folders:
                        if relative not in settled:
                            pending.append(relative)
                    else:
                        shutil.rmtree(entry.path)
                elif relative not in site or not entry.is_file(follow_symlinks=False):
                    Path(entry.path).unlink()


# --- files in the output that racecal did not publish -------------------------------------------------


def _site_files() -> frozenset[str]:
    from racecal import site  # only when the output is looked at (not on an unchanged rebuild's start)

    return frozenset({"index.html", "index.json", *site.static_file_names()})


def published_names(out: Path, indexed: Mapping[str, Iterable[str]] | None = None) -> set[str]:
    """What racecal published in ``out``, as relative paths: the site-level files, and each plan's
    directory with its files, as dist/index.json lists them (``indexed``: plan id → file names, when
    the caller has read that index already; parsing it again cost 15–20 ms at 1,000 plans).

    A directory is racecal's when the index lists it. So that --fresh can replace a build whose
    index is damaged or gone, a directory the index does not list also counts when its state.json is
    a racecal plan state for a plan of that name; any other directory (a web app with its own
    state.json) is foreign, kept as it is. In a plan directory, the files racecal writes in every plan directory count as its own.
    """
    names: set[str] = set(_site_files())
    for plan_id, files in _plan_files(out, _entries(out), indexed).items():
        names.add(plan_id)
        names.update(f"{plan_id}/{name}" for name in files)
    return names


def _plan_files(out: Path, entries: list[os.DirEntry[str]], indexed: Mapping[str, Iterable[str]] | None) -> dict[str, set[str]]:
    """Plan directory → the names racecal publishes in it (``published_names``' rule)."""
    plan_files = {plan_id: set(files) for plan_id, files in (indexed if indexed is not None else _indexed_plan_files(out)).items()}
    for entry in entries:
        if (
            entry.name not in plan_files
            and SLUG_RE.match(entry.name)
            and entry.is_dir(follow_symlinks=False)
            and is_plan_state(Path(entry.path) / "state.json", entry.name)
        ):
            plan_files[entry.name] = set()
    return {plan_id: {name for name in files | PLAN_FILES if "/" not in name} for plan_id, files in plan_files.items()}


def _indexed_plan_files(out: Path) -> dict[str, set[str]]:
    """Plan id → file names, as ``out``'s index.json lists them; none when there is no readable racecal index."""
    try:
        index = json.loads(read_bounded(out / "index.json", MAX_INDEX_BYTES, follow_symlinks=False))
    except (OSError, ValueError, NotRegularFileError, TooLargeError):
        return {}
    if not isinstance(index, dict) or index.get("generator") != "racecal" or not isinstance(index.get("plans"), list):
        return {}
    plan_files: dict[str, set[str]] = {}
    for plan in index["plans"]:
        plan_id = plan.get("id") if isinstance(plan, dict) else None
        files = plan.get("files") if isinstance(plan, dict) else None
        if isinstance(plan_id, str) and SLUG_RE.match(plan_id):
            plan_files[plan_id] = {name for name in files if isinstance(name, str)} if isinstance(files, dict) else set()
    return plan_files


def is_plan_state(path: Path, plan_id: str) -> bool:
    """Whether ``path`` is a racecal plan state for ``plan_id`` (the shape only: a JSON object of a
    format racecal writes, naming that plan, with races). Read bounded; a symlink is not followed."""
    from racecal.state import READABLE_STATE_FORMATS  # the state module's validators are not needed here

    try:
        state = json.loads(read_bounded(path, MAX_INDEX_BYTES, follow_symlinks=False))
    except (OSError, ValueError, NotRegularFileError, TooLargeError):
        return False
    return (
        isinstance(state, dict)
        and type(state.get("format")) is int
        and state["format"] in READABLE_STATE_FORMATS
        and state.get("plan") == plan_id
        and isinstance(state.get("races"), dict)
    )


def owned_entries(out: Path) -> list[str]:
    """Entries of ``out`` that a build would replace: site-level files and plan directories."""
    published = published_names(out)
    return [entry.name for entry in _entries(out) if entry.name in published]


def foreign_entries(out: Path, indexed: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Entries of ``out`` racecal did not publish (relative paths, a directory as one entry)."""
    entries = _entries(out)
    site_files, plan_files = _site_files(), _plan_files(out, entries, indexed)
    foreign: list[str] = []
    for entry in entries:
        ours = plan_files.get(entry.name)
        if ours is None and entry.name not in site_files:
            foreign.append(entry.name)
        elif entry.is_dir(follow_symlinks=False) and ours is not None:
            # Names compared as a set, not as 7,000 "plan/file" strings: this runs on every build.
            foreign += [f"{entry.name}/{name}" for name in sorted(_names(entry.path) - ours)]
        elif entry.is_dir(follow_symlinks=False):
            foreign.append(entry.name)  # a directory named like a site file: not ours
    return sorted(foreign)


def _names(directory: str) -> set[str]:
    try:
        with os.scandir(directory) as entries:
            return {entry.name for entry in entries}
    except OSError as exc:
        raise PublishError(f"cannot list {directory}: {exc.strerror or exc}") from None


def _entries(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as entries:
            return sorted(entries, key=lambda e: e.name)
    except OSError as exc:
        raise PublishError(f"cannot list {directory}: {exc.strerror or exc}") from None


def _replicate(source: Path, target: Path) -> None:
    """A copy made of hard links (no bytes copied); symlinks stay symlinks and are not followed."""
    try:
        if source.is_symlink():
            target.symlink_to(source.readlink())
        elif source.is_dir():
            shutil.copytree(source, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(source), str(target))
    except (OSError, shutil.Error) as exc:
        raise PublishError(f"cannot carry {source} (not written by racecal) into the new site: {exc}") from None


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError:
        mode = os.lstat(source).st_mode
        if stat.S_ISREG(mode):
            shutil.copy2(source, target)
        elif stat.S_ISFIFO(mode):
            os.mkfifo(target, stat.S_IMODE(mode))
        # A socket or device node cannot be copied to another filesystem; it holds no data.


# --- where racecal may publish ----------------------------------------------------------------------


def output_refusal(out: Path, schedules: Path, cwd: Path) -> str | None:
    """Why ``out`` must not be published to, or None.

    Publishing replaces the output directory as a whole, so it must be a directory of its own:
    never the plans, the project, a repository or the filesystem root.
    """
    target = _resolved(out)
    if target is None:
        return f"{str(out)!r} is a symbolic link that leads round in a loop; remove it or choose another --out"
    plans = _resolved(schedules) or schedules.absolute()  # a looping --schedules is "not a directory" where it is read
    reason = _refusal_reason(out, target, schedules, plans, cwd)
    if reason is None:
        return None
    shown = repr(str(out)) if target == out.absolute() else f"{str(out)!r} (which is {str(target)!r})"
    return f"{shown} {reason}. Give the site a directory of its own, such as dist"


def _refusal_reason(out: Path, target: Path, schedules: Path, plans: Path, cwd: Path) -> str | None:
    if target == Path(target.anchor):
        return "is the root of the filesystem; refusing to publish there"
    if target == plans:
        return "is the schedules directory; refusing to publish there, as the site would replace your plans"
    if target in plans.parents:
        return f"contains the schedules directory {str(schedules)!r}; refusing to publish there, as the site would replace your plans"
    if plans in target.parents:
        return f"lies inside the schedules directory {str(schedules)!r}; refusing to publish there"
    if ".git" in target.parts:
        return "is or lies inside a .git directory; refusing to publish into git's own files"
    if _is_git_directory(target):
        return "is a git directory (it has HEAD, objects and refs); refusing to publish into git's own files"
    if bare := next((p for p in target.parents if _is_git_directory(p)), None):
        return f"lies inside the bare git repository {str(bare)!r}; refusing to publish into git's own files"
    if target == cwd or target in cwd.parents:
        return "is or contains the current directory (your project); refusing to publish there"
    for repository in sorted({r for r in (_repository_root(plans), _repository_root(cwd)) if r is not None}):
        if target == repository or target in repository.parents:
            return f"is or contains the git repository {str(repository)!r}; refusing to publish there"
    if os.path.lexists(target / ".git") and not is_racecal_build(target):
        return "is the root of a git repository (it has a .git entry) and holds no racecal build; refusing to publish there"
    return None


def _resolved(path: Path) -> Path | None:
    """``path`` through its symbolic links; None when they lead round in a loop (RuntimeError up to
    Python 3.12, OSError with strict resolution)."""
    try:
        return path.resolve()
    except (RuntimeError, OSError):
        return None


def _is_git_directory(path: Path) -> bool:
    """The shape git itself checks for (a .git directory or a bare repository)."""
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _repository_root(inside: Path) -> Path | None:
    for candidate in (inside, *inside.parents):
        if os.path.lexists(candidate / ".git"):
            return candidate
    return None


def is_racecal_build(directory: Path) -> bool:
    try:
        index = json.loads(read_bounded(directory / "index.json", MAX_INDEX_BYTES, follow_symlinks=False))
    except (OSError, ValueError, NotRegularFileError, TooLargeError):
        return False
    return isinstance(index, dict) and index.get("generator") == "racecal"


def output_shape_problem(out: Path) -> str | None:
    """Why no site can be published at ``out`` whatever the plans: it is, or lies under, something
    that is not a directory (a file racecal would have to replace, a symbolic link to one or to
    nothing). None for a directory, a link to one, or a path where one can be created."""
    shown = repr(str(out))
    if out.is_symlink():
        target = _resolved(out) or out
        if target.is_dir():
            return None
        if os.path.lexists(target):
            return f"{shown} is a symbolic link to {str(target)!r}, which {_not_a_directory(target)}; point it at a directory or choose another --out"
        return f"{shown} is a symbolic link to {str(target)!r}, which is not a directory; create it or remove the link"
    if os.path.lexists(out):
        if out.is_dir():
            return None
        return f"{shown} {_not_a_directory(out)}; racecal publishes a directory there and never replaces a file: move it away or choose another --out"
    # The nearest part of the path that is there must be a directory, or nothing can be created below it.
    there = next((parent for parent in out.parents if os.path.lexists(parent)), None)
    if there is None or there.is_dir():
        return None
    return f"{shown} cannot be created: {str(there)!r} {_not_a_directory(there)}"


def _not_a_directory(path: Path) -> str:
    return "is a file, not a directory" if path.is_file() and not path.is_symlink() else "is not a directory"


def real_output(out: Path) -> Path:
    """Where to publish: a symlinked output directory (to a web root) is published through, so the
    link stays and the directory it points to is swapped atomically."""
    if not out.is_symlink():
        if os.path.lexists(out) and not out.is_dir():
            raise PublishError(f"{out} exists and is not a directory; racecal publishes a directory there, so move the file away")
        return out
    target = out.resolve()
    if not target.is_dir():
        raise PublishError(f"{out} is a symbolic link to {target}, which is not a directory; create it or remove the link")
    return target


class NullSink:
    """Takes files and keeps nothing: ``racecal diff`` runs the same pipeline without writing."""

    def write(self, name: str, data: bytes) -> None:
        _ = (name, data)

    def link(self, name: str, source: Path | str) -> None:
        _ = (name, source)

    def link_folder(self, folder: str, names: Iterable[str], source: str, seen: Mapping[str, Seen] | None = None) -> None:
        _ = (folder, names, source, seen)


def write_generated(path: Path, text: str, is_ours: Callable[[bytes], bool]) -> bool:
    """Write ``text`` to ``path`` atomically, replacing only a file ``is_ours`` recognises as one
    racecal generated (a file of the same name written by someone else is kept: returns False)."""
    if path.is_symlink() or (path.exists() and (not path.is_file() or not is_ours(path.read_bytes()))):
        return False
    try:
        replace_whole(path, text.encode("utf-8"))
    except OSError as exc:
        raise _cannot_write(path, path.parent, exc) from None
    return True


def write_new(root: Path, files: dict[str, str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Create each of ``files`` (relative path → text) under ``root`` that does not exist yet, with its
    folders; never replace or follow anything that is there (a file, a folder, a symlink, dangling
    or not, as the file or as any folder on the way). Returns (written, kept with the reason). Each
    file appears whole or not at all."""
    written: list[str] = []
    kept: list[tuple[str, str]] = []
    for relative, text in files.items():
        target = _safe_target(root, relative)
        if reason := _in_the_way(root, target):
            kept.append((relative, reason))
            continue
        temporary: Path | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if reason := _in_the_way(root, target):  # appeared meanwhile
                kept.append((relative, reason))
                continue
            temporary = new_file(target.parent, target.name, text.encode("utf-8"))
            os.link(temporary, target)  # fails if the target appeared meanwhile: never replaces
        except FileExistsError:
            kept.append((relative, "exists"))
            continue
        except OSError as exc:
            raise PublishError(
                f"cannot write {target}: {exc.strerror or exc}" + (f" (wrote {', '.join(written)})" if written else "")
            ) from None
        finally:
            with contextlib.suppress(OSError):
                if temporary is not None:
                    temporary.unlink(missing_ok=True)
        written.append(relative)
    return written, kept


def _in_the_way(root: Path, target: Path) -> str | None:
    """Why ``target`` (inside ``root``) cannot be created without replacing or following something."""
    for part in [*reversed(target.relative_to(root).parents[:-1]), target.relative_to(root)]:
        here = root / part
        if here.is_symlink():
            return f"{part.as_posix()} is a symbolic link; racecal does not write through it"
        if here == target and here.exists():
            return "exists"
        if here != target and here.exists() and not here.is_dir():
            return f"{part.as_posix()} is a file, not a folder"
    return None
