"""Read the previously published build: a local directory (usually dist/ itself) or a live site URL.

``index.json`` is the manifest: per plan, the hash of its inputs, the sha256 of every file it
published, and whether tombstones are pending. A plan's ``state.json`` is read only when the plan is
rebuilt, so an unchanged site is checked without parsing any history.

The previous build is untrusted input too: every file is validated, plan ids must be slugs (they
become paths), and local files must still have the bytes the manifest recorded, so a hand-edited
feed is caught instead of being silently overwritten or reused.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from racecal import index
from racecal.cache import Seen, SiteCache, seen
from racecal.errors import PreviousBuildError
from racecal.feeds import written_events
from racecal.files import NotRegularFileError, TooLargeError, read_bounded
from racecal.index import IndexEntry
from racecal.model import Plan
from racecal.publish import owned_entries
from racecal.state import PlanState, plan_read_written, state_from_json, state_read_written

MAX_PREVIOUS_FILE = 64 * 1024 * 1024


@dataclass
class Previous:
    location: str | None = None
    local_dir: Path | None = None  # set when files can be reused (hard-linked) from it
    entries: dict[str, IndexEntry] = field(default_factory=dict)
    retired: dict[str, dict[str, int]] = field(default_factory=dict)  # plan id → race id → last SEQUENCE
    catalogue: str = ""  # sha256 of the catalogue files the previous build was made from
    groups: dict[str, str] = field(default_factory=dict)  # group id → digest of its definition then
    get: Callable[[str], bytes] | None = None
    cache: SiteCache = field(default_factory=SiteCache)  # what this machine already checked there (local only)
    written_index: bytes | None = None  # index.json's bytes, when the record vouches racecal wrote them as they are
    # "plan/file" → its (inode, size, mtime) when its bytes were found to be the published ones: what
    # cache.record requires it still to have at the end of the build (docs/architecture.md).
    checked: dict[str, Seen] = field(default_factory=dict)
    _states: dict[str, PlanState] = field(default_factory=dict)

    def files_listed(self) -> dict[str, list[str]]:
        """Plan id → the file names its index entry lists (what ``publish`` counts as racecal's)."""
        return {plan_id: list(entry.files) for plan_id, entry in self.entries.items()}

    def state(self, plan_id: str) -> PlanState | None:
        """The plan's published state, read, validated and checked against the manifest on first use."""
        if plan_id not in self.entries:
            return None
        if plan_id not in self._states:
            data = self.fetch(plan_id, "state.json")  # its sha256 is the manifest's, or it raises
            # Bytes the record vouches racecal wrote from validated values (cache.py) are read without
            # checking each field again.
            written = self._written(plan_id, "state.json")
            where = f"{self.location}/{plan_id}/state.json"
            self._states[plan_id] = state_read_written(data) if written else state_from_json(data, where, plan_id)
            self.verify(plan_id)
        return self._states[plan_id]

    def vouched_state(self, plan_id: str) -> bool:
        """Whether the record vouches that racecal wrote the plan's published state as it is."""
        return plan_id in self.entries and self._written(plan_id, "state.json")

    def plan_as_written(self, plan_id: str) -> Plan | None:
        """The plan as last published (``state.plan_read_written``), when the record vouches that
        racecal wrote its state (as ``state`` reads it); else None."""
        if not self._written(plan_id, "state.json"):
            return None
        return plan_read_written(self.fetch(plan_id, "state.json"))

    def events_as_written(self, plan_id: str) -> Callable[[str], dict[str, str]] | None:
        """Feed → UID → event text of the plan's published feeds, when the record vouches that racecal
        wrote them and the plan's state with this code and tz database (history.compile_plan takes an
        unchanged race's events from there); else None. A feed it does not vouch for has no events."""
        if plan_id not in self.entries or not self._written(plan_id, "state.json"):
            return None
        feeds: dict[str, dict[str, str]] = {}

        def events(feed: str) -> dict[str, str]:
            if feed not in feeds:
                name = f"{feed}.ics"
                feeds[feed] = written_events(self.fetch(plan_id, name)) if self._written(plan_id, name) else {}
            return feeds[feed]

        return events

    def _written(self, plan_id: str, name: str) -> bool:
        published = self.entries[plan_id].files.get(name)
        return published is not None and self.cache.written.get(f"{plan_id}/{name}") == published

    def fetch(self, plan_id: str, name: str) -> bytes:
        """A published file's bytes, which must be those the manifest recorded (locally or remotely:
        a hand-edited file, or a CDN serving a new index with an old file, is caught here)."""
        assert self.get is not None
        self._refuse_linked_folder(plan_id)
        where = f"{self.location}/{plan_id}/{name}"
        data = self.get(where)
        if hashlib.sha256(data).hexdigest() != self.entries[plan_id].files[name]:
            raise PreviousBuildError(
                f"{where}: changed since it was published; "
                "restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over"
            )
        return data

    def verify(self, plan_id: str) -> None:
        """Local builds only (files are linked from there): every file must still have its published bytes."""
        if self.local_dir is None:
            return
        self._refuse_linked_folder(plan_id)
        vouched, unknown = self.cache.has_in(self.local_dir, plan_id, self.entries[plan_id].files)
        self.checked.update(vouched)
        for name in unknown:
            self._read_steady(f"{plan_id}/{name}", partial(self.fetch, plan_id, name))  # hashed against the manifest

    def _refuse_linked_folder(self, plan_id: str) -> None:
        """A plan's folder in a local site must be a folder, as its files must be files: racecal never
        publishes a link, and one would have the build read (and vouch for) files outside the site."""
        if self.local_dir is not None and _is_link(f"{self.local_dir}/{plan_id}"):
            raise PreviousBuildError(
                f"{self.local_dir}/{plan_id}: is a symbolic link, which racecal never publishes; remove it or pass --fresh"
            )

    def published_bytes(self, name: str) -> bytes | None:
        """A site file of the local previous build (index.html, style.css), None if it cannot be read;
        noted as checked when it did not change while it was read (the caller compares the bytes)."""
        assert self.local_dir is not None
        path = self.local_dir / name
        try:
            return self._read_steady(name, lambda: read_bounded(path, MAX_PREVIOUS_FILE, follow_symlinks=False))
        except (OSError, NotRegularFileError, TooLargeError):
            return None

    def _read_steady(self, relative: str, read: Callable[[], bytes]) -> bytes:
        """``read()``'s bytes; the file is noted as checked only if it did not change while it was read."""
        assert self.local_dir is not None
        before = seen(self.local_dir / relative)
        data = read()
        if before is not None and before == seen(self.local_dir / relative):
            self.checked[relative] = before
        return data

    def site_files_vouched(self, inputs: str) -> dict[str, str] | None:
        """The site files (name → sha256) the record vouches this local build has, made from ``inputs``."""
        if self.local_dir is None or (found := self.cache.has_site(self.local_dir, inputs)) is None:
            self.cache.misses += 1  # they are rendered and compared: worth recording for the next build
            return None
        self.checked.update(found)
        return dict(self.cache.site_files)


def read_previous(location: str | Path | None, cache: SiteCache | None = None) -> Previous:
    """The published build at ``location``; ``cache`` is what this machine recorded about it, if local."""
    if location is None:
        return Previous()
    text = str(location)
    if text.startswith(("http://", "https://")):
        from racecal.remote import fetch_url  # only a build against a live site needs HTTP

        return _read(text.rstrip("/"), fetch_url, local_dir=None)
    path = Path(location)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return Previous(location=text)  # a first build: nothing published yet
    if not path.is_dir():
        raise PreviousBuildError(f"{path}: not a directory")
    if not os.path.lexists(path / "index.json"):
        # Files racecal did not write (a CNAME) are kept by every build, so a web root holding only
        # those is a first build. What a build would overwrite must not be lost without a word.
        owned = owned_entries(path)
        if not owned:
            return Previous(location=text)
        raise PreviousBuildError(
            f"{path}: has no index.json but holds {_listed(owned)}, which a build would replace, so it is not a racecal build "
            "(or its index.json was lost); move them away or choose another --out, or pass --fresh to replace them "
            "(files racecal did not write are kept)"
        )
    return _read(str(path), _read_local, local_dir=path, cache=cache)


def _listed(names: list[str], shown: int = 4) -> str:
    if len(names) <= shown:
        return ", ".join(names)
    return f"{', '.join(names[:shown])} and {len(names) - shown} more"


def _is_link(path: str) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)  # a str: once for every plan of a site
    except OSError:
        return False  # a missing folder is reported by the read that needs it


def _read_local(location: str) -> bytes:
    path = Path(location)
    try:
        # Not followed: racecal never publishes a symlink, and a FIFO planted in dist/ must not block.
        return read_bounded(path, MAX_PREVIOUS_FILE, follow_symlinks=False)
    except NotRegularFileError as exc:
        raise PreviousBuildError(f"{path}: is {exc.kind}, which racecal never publishes; remove it or pass --fresh") from None
    except TooLargeError:
        raise PreviousBuildError(f"{path}: larger than {MAX_PREVIOUS_FILE // 2**20} MiB") from None
    except FileNotFoundError:
        raise PreviousBuildError(f"{path}: missing from the previous build") from None
    except OSError as exc:
        raise PreviousBuildError(f"{path}: cannot be read ({exc.strerror})") from None


def _read(base: str, get: Callable[[str], bytes], local_dir: Path | None, cache: SiteCache | None = None) -> Previous:
    data = get(f"{base}/index.json")
    written = cache is not None and bool(cache.index) and hashlib.sha256(data).hexdigest() == cache.index
    if written:
        site = index.read_written(data)  # the very bytes this machine's last build wrote, from validated values
    else:
        site = index.decode(data, f"{base}/index.json")
        if cache is not None:
            cache.misses += 1  # a record of another index: worth refreshing after this build
    return Previous(
        location=base,
        local_dir=local_dir,
        entries=site.entries,
        retired=site.retired,
        catalogue=site.catalogue,
        groups=site.groups,
        get=get,
        cache=cache or SiteCache(),
        written_index=data if written else None,
    )
