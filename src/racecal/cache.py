"""What this machine already checked in a published site, so an unchanged rebuild reads almost nothing.

Before a build links a published file into the new site, the file must still have the bytes the
manifest recorded (previous.py). Hashing every file (123 MB at 20,000 races) was most of a no-op
rebuild, so after each build racecal records, for every file of every plan it published, what the
filesystem reports about it (device, inode, size, modification and change times in nanoseconds)
beside its sha256, as git's index does. A file that reports the same still has those bytes: any
write changes its change time (ctime), which no program can set back short of changing the clock.
Entries whose ctime is not older than the moment of recording are left out (git's "racily clean"
files): a write in the same clock tick after the recording could otherwise keep every value.

It also records the sha256 of the index.json that build wrote and validated: an index with exactly
those bytes is read without checking every field again (``index.read_written``).

The cache is a hint, never a source of truth. It lives outside the site (under the user's cache
directory, keyed by the site's real path), and when it is missing, unreadable, made by another racecal
version, or wrong in any way, every file is hashed and every field validated as before. Deleting it
costs one slower build.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from racecal import __version__
from racecal.files import NotRegularFileError, TooLargeError, read_bounded, replace_whole
from racecal.model import SLUG_RE, Meet, Venue
from racecal.text import forbidden_char
from racecal.tz import database_version

CACHE_FORMAT = 1
MAX_RECORD_BYTES = 256 * 1024 * 1024  # about 150 bytes a file; a site of 1,000,000 files stays under it
# A file's identity: (inode, size, mtime_ns, ctime_ns); the device is kept once per site.
Identity = tuple[int, int, int, int]
# What a build saw of a file when it found the file's bytes to be the published ones: (inode, size,
# mtime_ns). Linking and unlinking change a file's ctime, so the ctime is compared only once recorded.
Seen = tuple[int, int, int]


def seen(path: str | Path) -> Seen | None:
    """What ``path`` is now, to compare with what it was when its bytes were checked; None if missing."""
    try:
        stat = os.lstat(path)
    except OSError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


@dataclass
class SiteCache:
    """One published site's record: the index it wrote and, per file, its identity and sha256."""

    index: str = ""  # sha256 of the index.json last written there
    device: int = -1
    files: dict[str, tuple[Identity, str]] = field(default_factory=dict)  # "plan/file" → (identity, sha256)
    site_inputs: str = ""  # what the site files below were made from (build.py's digest)
    site_files: dict[str, str] = field(default_factory=dict)  # landing page, index, static files → sha256
    # "plan/state.json" and "plan/<feed>.ics" → the sha256 of the bytes racecal wrote there from
    # validated values: a state with exactly those bytes is read without checking each field again
    # (state.state_read_written), and a feed's unchanged events are taken from it (history.compile_plan).
    written: dict[str, str] = field(default_factory=dict)
    misses: int = 0  # files that had to be hashed this run: the record is worth refreshing

    def has(self, site: Path, name: str, sha256: str) -> Seen | None:
        """What the site's file ``name`` is now, when the record vouches that it holds the bytes with
        ``sha256``; else None (and the file must be hashed)."""
        return self.has_in(site, "", {name: sha256})[0].get(name)

    def has_in(self, site: Path, folder: str, files: Mapping[str, str]) -> tuple[dict[str, Seen], list[str]]:
        """``has`` for the files of one folder of the site (name → sha256): what each vouched file is
        now, by its path in the site, and the names that must be hashed. A build checks every plan's
        files (7,000 at 20,000 races) a folder at a time: 107 ms file by file, the lstat calls alone 55."""
        found: dict[str, Seen] = {}
        missed: list[str] = []
        known_files, device, lstat = self.files, self.device, os.lstat
        prefix = f"{folder}/" if folder else ""
        base = f"{site}/{prefix}"
        for name, sha256 in files.items():
            relative = prefix + name
            known = known_files.get(relative)
            if known is not None and known[1] == sha256:
                try:
                    stat = lstat(base + name)
                except OSError:
                    stat = None
                if (
                    stat is not None
                    and stat.st_dev == device
                    and (stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns) == known[0]
                ):
                    found[relative] = known[0][:3]
                    continue
            self.misses += 1
            missed.append(name)
        return found, missed

    def has_site(self, site: Path, inputs: str) -> dict[str, Seen] | None:
        """The site files made from ``inputs`` (landing page, index, static files → what each is now)
        when the record vouches that ``site`` has them; else None."""
        if not self.site_files or inputs != self.site_inputs:
            return None
        found, unknown = self.has_in(site, "", self.site_files)
        return None if unknown else found


@functools.cache
def code_digest() -> str:
    """racecal's own code, for what the cache keeps that this code made from other inputs (parsed
    meets, compiled templates): a development checkout changes code without a new version."""
    digest = hashlib.sha256(f"{CACHE_FORMAT}\0{__version__}\0".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- parsed meet catalogues ---------------------------------------------------------------------------
# A build that compiles one plan needs the meets it races at, and parsing and validating a catalogue
# of 400 meets took longer than compiling the plan. The meets parsed from a catalogue without
# problems are kept, keyed by the catalogue's bytes, the tz database and racecal's code; they are
# plain values (no pickle), read back with every type checked, and anything else is parsed again.
CATALOGUES_KEPT = 8
MAX_CATALOGUE_BYTES = 64 * 1024 * 1024


def catalogue_path(cache_root: Path, catalogue_digest: str, tz_version: str) -> Path:
    key = hashlib.sha256(f"{code_digest()}\0{tz_version}\0{catalogue_digest}".encode()).hexdigest()[:32]
    return cache_root / "catalogues" / f"{key}.json"


def load_meets(path: Path) -> dict[str, Meet] | None:
    """The meets kept at ``path``; None when there are none or they are not exactly what ``store_meets`` writes."""
    try:
        document = json.loads(read_bounded(path, MAX_CATALOGUE_BYTES, follow_symlinks=False))
        if document["key"] != path.stem:  # a kept catalogue copied or renamed is another catalogue's
            return None
        return {meet.id: meet for meet in map(_meet_from_row, document["meets"])}
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError, NotRegularFileError, TooLargeError):
        return None


def store_meets(path: Path, meets: dict[str, Meet]) -> None:
    """Keep ``meets`` at ``path``, and only the few catalogues stored most recently. Best effort."""
    rows = [_meet_row(meet) for meet in meets.values()]
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_whole(path, json.dumps({"key": path.stem, "meets": rows}, separators=(",", ":"), ensure_ascii=False).encode())
        keep_newest(path.parent, CATALOGUES_KEPT)


def keep_newest(directory: Path, count: int) -> None:
    """Remove all but the ``count`` most recently modified entries of ``directory``, one of racecal's
    own under its cache directory (files, or folders of compiled templates). Best effort."""
    with contextlib.suppress(OSError):
        entries = sorted(directory.iterdir(), key=lambda p: p.lstat().st_mtime_ns, reverse=True)
        for old in entries[count:]:
            with contextlib.suppress(OSError):
                if old.is_dir() and not old.is_symlink():
                    shutil.rmtree(old)
                else:
                    old.unlink()


def _meet_row(meet: Meet) -> list[object]:
    venue = meet.venue
    where = None if venue is None else [venue.name, venue.city, venue.country, venue.lat, venue.lon]
    return [meet.id, meet.name, meet.start.isoformat(), meet.end.isoformat(), meet.timezone, meet.series, where, meet.url]


def _meet_from_row(row: list[Any]) -> Meet:
    """A kept meet, with what racecal writes checked by shape (a forged row must not crash a build):
    texts without control characters, an id that is a slug, a zone zoneinfo has, dates in order,
    finite coordinates in range."""
    meet_id, name, start, end, timezone, series, where, url = row
    v_name = city = country = lat = lon = None
    if where is not None:
        v_name, city, country, lat, lon = where
        if not all(t is None or (type(t) is float and math.isfinite(t) and abs(t) <= bound) for t, bound in ((lat, 90), (lon, 180))):
            raise TypeError("not a kept venue")
    texts = (meet_id, name, start, end, timezone, series, url, v_name, city, country)
    if not all(t is None or (type(t) is str and forbidden_char(t) is None) for t in texts) or None in (meet_id, name, start, end, timezone):
        raise TypeError("not a kept meet")
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    if not SLUG_RE.match(meet_id) or first > last or not _zone_exists(timezone):
        raise ValueError("not a kept meet")
    venue = None if where is None else Venue(v_name, city, country, lat, lon)
    return Meet(meet_id, name, first, last, timezone, series, venue, url)


@functools.cache
def _zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def files_written(files: dict[str, str], wrote: set[str], before: dict[str, str]) -> dict[str, str]:
    """The plan states and feeds of a new site ("plan/file" → sha256) that racecal wrote from validated
    values: those this build wrote (``wrote``), and those it kept whose bytes an earlier build wrote
    (``before``, the record's). A file only found to match a manifest is not among them: whoever
    rewrote it could have rewritten its hash in index.json too, so a state is read through the checks
    and a feed's events are rendered again."""
    return {
        name: sha256
        for name, sha256 in files.items()
        if name.endswith(("/state.json", ".ics")) and (name in wrote or before.get(name) == sha256)
    }


def location(cache_root: Path, site: Path) -> Path:
    """Where a site's record lives under racecal's cache directory: one file per site, named by a
    hash of its real path."""
    key = hashlib.sha256(os.fsencode(site.resolve())).hexdigest()[:32]
    return cache_root / "sites" / f"{key}.json"


def load(path: Path | None) -> SiteCache:
    """The record at ``path``; an empty one when it is missing or not exactly what ``record`` writes
    (read as any file racecal did not write: never a FIFO, device or symlink, never without bound)."""
    if path is None:
        return SiteCache()
    try:
        document = json.loads(read_bounded(path, MAX_RECORD_BYTES, follow_symlinks=False))
        # Another racecal, this checkout with other code, or another tz database (which moves session
        # times in the feeds it vouches for): not believed.
        if document.get("format") != CACHE_FORMAT or document.get("racecal") != code_digest() or document.get("tz") != database_version():
            return SiteCache()
        index, device, rows = document["index"], document["device"], document["files"]
        site_inputs, site_files = document["site_inputs"], document["site_files"]
        files: dict[str, tuple[Identity, str]] = {}
        for name, (inode, size, mtime, ctime, sha256) in rows.items():  # 7,000 rows at 20,000 races: no generator per row
            if not (type(inode) is int and type(size) is int and type(mtime) is int and type(ctime) is int and type(sha256) is str):
                return SiteCache()
            files[name] = ((inode, size, mtime, ctime), sha256)
        if not all(type(t) is str for t in (index, site_inputs, *site_files)) or type(device) is not int:
            return SiteCache()
        written = document["written"]
        if not all(type(sha256) is str for sha256 in (*site_files.values(), *written, *written.values())):
            return SiteCache()
        return SiteCache(index=index, device=device, files=files, site_inputs=site_inputs, site_files=site_files, written=written)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, RecursionError, NotRegularFileError, TooLargeError):
        return SiteCache()


def record(
    path: Path, site: Path, files: dict[str, str], checked: dict[str, Seen], site_files: dict[str, str], site_inputs: str, now_ns: int,
    written: dict[str, str],
) -> None:  # fmt: skip
    """Record at ``path`` what ``site`` holds: ``files`` ("plan/file" → sha256) and ``site_files`` (the
    landing page, index.json and static files → sha256, made from ``site_inputs``), and which plan
    states and feeds racecal wrote itself (``written``, see ``files_written``).

    Only a file that is still what the build saw when it checked or wrote its bytes (``checked``) is
    recorded: one changed since, while the build ran, is left out and hashed next time. So is one
    whose ctime is not older than ``now_ns``, the filesystem's present (a write in the same clock tick
    could keep every value). Best effort: a record that cannot be written is no error.
    """
    try:
        device = site.stat().st_dev
        rows: dict[str, list[int | str]] = {}
        # Once for every file of a site (7,000 at 20,000 races): strings, not Paths, and no context
        # manager or tuple slice per file (42 -> 32 ms).
        lstat, prefix, saw = os.lstat, f"{site}/", checked.get
        for name, sha256 in {**files, **site_files}.items():
            try:
                stat = lstat(prefix + name)
            except OSError:
                continue
            if stat.st_dev == device and stat.st_ctime_ns < now_ns and (stat.st_ino, stat.st_size, stat.st_mtime_ns) == saw(name):
                rows[name] = [stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, sha256]
        stable = all(name in rows for name in site_files)  # else the site files are compared byte by byte next time
        document = {
            "format": CACHE_FORMAT,
            "racecal": code_digest(),
            "tz": database_version(),
            "site": str(site),
            "index": site_files.get("index.json", ""),
            "device": device,
            "files": rows,
            "site_inputs": site_inputs if stable else "",
            "site_files": site_files if stable else {},
            "written": written,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_whole(path, json.dumps(document, separators=(",", ":")).encode())
    except OSError:
        return
