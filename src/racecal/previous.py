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
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racecal.errors import PreviousBuildError
from racecal.files import NotRegularFileError, TooLargeError, read_bounded
from racecal.history import PlanState, state_from_json
from racecal.load import SLUG_RE
from racecal.site import SITE_FORMAT

MAX_PREVIOUS_FILE = 64 * 1024 * 1024
URL_TIMEOUT_SECONDS = 20  # per socket operation
URL_DEADLINE_SECONDS = 120.0  # per file, from connecting to the last byte
_FILE_NAME = re.compile(r"^[a-z0-9]+(\.[a-z]+)+$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Entry:
    """What index.json says about one published plan."""

    plan_id: str
    source: str
    inputs: str
    latest: str  # newest stamp in the plan, YYYYMMDDTHHMMSSZ
    pending: bool  # tombstones waiting to expire: the plan must be rebuilt even if unchanged
    files: dict[str, str]  # file name → sha256, state.json included
    summary: dict[str, Any]


@dataclass
class Previous:
    location: str | None = None
    local_dir: Path | None = None  # set when files can be reused (hard-linked) from it
    entries: dict[str, Entry] = field(default_factory=dict)
    get: Callable[[str], bytes] | None = None
    _states: dict[str, PlanState] = field(default_factory=dict)

    def state(self, plan_id: str) -> PlanState | None:
        """The plan's published state, read, validated and checked against the manifest on first use."""
        if plan_id not in self.entries:
            return None
        if plan_id not in self._states:
            assert self.get is not None
            self.verify(plan_id, only=("state.json",))
            where = f"{self.location}/{plan_id}/state.json"
            state = state_from_json(self.get(where), where)
            if state.plan_id != plan_id:
                raise PreviousBuildError(f"{where}: plan: {state.plan_id!r} does not match the index ({plan_id!r})")
            self.verify(plan_id)
            self._states[plan_id] = state
        return self._states[plan_id]

    def verify(self, plan_id: str, only: tuple[str, ...] | None = None) -> None:
        """Local builds only: every file must still have the bytes that were published."""
        if self.local_dir is None:
            return
        assert self.get is not None
        for name, digest in self.entries[plan_id].files.items():
            if only and name not in only:
                continue
            where = f"{self.location}/{plan_id}/{name}"
            if hashlib.sha256(self.get(where)).hexdigest() != digest:
                raise PreviousBuildError(
                    f"{where}: changed since it was published; "
                    "restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over"
                )


def read_previous(location: str | Path | None) -> Previous:
    if location is None:
        return Previous()
    text = str(location)
    if text.startswith(("http://", "https://")):
        return _read(text.rstrip("/"), _fetch, local_dir=None)
    path = Path(location)
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return Previous(location=text)  # a first build: nothing published yet
    if not path.is_dir():
        raise PreviousBuildError(f"{path}: not a directory")
    if not (path / "index.json").exists():
        raise PreviousBuildError(
            f"{path}: has files but no index.json, so it is not a racecal build; "
            "choose another --out, or pass --fresh to replace it"
        )
    return _read(str(path), _read_local, local_dir=path)


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


def _fetch(url: str) -> bytes:
    """One file of a live site, within a total deadline.

    urllib's timeout applies to each socket operation, so a server dripping a byte every few
    seconds (or a DNS lookup that hangs, which no timeout covers) could hold a build for ever. The
    fetch runs in a daemon thread and is abandoned at the deadline; the process does not wait for it.
    """
    outcome: list[bytes | BaseException] = []

    def fetch() -> None:
        try:
            outcome.append(_fetch_unbounded(url))
        except BaseException as exc:  # handed to the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=fetch, name="racecal-fetch", daemon=True)
    worker.start()
    worker.join(URL_DEADLINE_SECONDS)
    if not outcome:
        raise PreviousBuildError(f"{url}: no complete answer within {URL_DEADLINE_SECONDS:g} s; giving up")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _fetch_unbounded(url: str) -> bytes:
    # Only http(s) URLs reach here (read_previous checks the scheme).
    request = urllib.request.Request(url, headers={"User-Agent": "racecal", "Accept-Encoding": "identity"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_SECONDS) as response:  # noqa: S310
            data: bytes = response.read(MAX_PREVIOUS_FILE + 1)
    except urllib.error.HTTPError as exc:
        raise PreviousBuildError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PreviousBuildError(f"{url}: cannot be reached ({reason})") from None
    if len(data) > MAX_PREVIOUS_FILE:
        raise PreviousBuildError(f"{url}: larger than {MAX_PREVIOUS_FILE // 2**20} MiB")
    return data


def _read(base: str, get: Callable[[str], bytes], local_dir: Path | None) -> Previous:
    where = f"{base}/index.json"
    try:
        index = json.loads(get(where).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PreviousBuildError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(index, dict) or index.get("generator") != "racecal" or not isinstance(index.get("plans"), list):
        raise PreviousBuildError(f"{where}: not a racecal site index")
    if index.get("format") != SITE_FORMAT:
        raise PreviousBuildError(f"{where}: format: this racecal reads format {SITE_FORMAT} only")
    previous = Previous(location=base, local_dir=local_dir, get=get)
    for i, raw in enumerate(index["plans"]):
        entry = _entry(raw, f"{where}: plans[{i}]")
        if entry.plan_id in previous.entries:
            raise PreviousBuildError(f"{where}: plans[{i}].id: {entry.plan_id!r} is listed twice")
        previous.entries[entry.plan_id] = entry
    return previous


def _entry(raw: Any, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise PreviousBuildError(f"{where}: expected an object")
    plan_id = raw.get("id")
    if not isinstance(plan_id, str) or not SLUG_RE.match(plan_id):
        raise PreviousBuildError(f"{where}.id: not a valid plan id: {plan_id!r:.60}")
    files = raw.get("files")
    if (
        not isinstance(files, dict)
        or "state.json" not in files
        or not all(isinstance(k, str) and _FILE_NAME.match(k) and isinstance(v, str) and _SHA256.match(v) for k, v in files.items())
    ):
        raise PreviousBuildError(f"{where}.files: expected file names with their sha256, state.json included")
    for key in ("source", "inputs", "latest"):
        if not isinstance(raw.get(key), str):
            raise PreviousBuildError(f"{where}.{key}: expected text")
    if not isinstance(raw.get("pending"), bool):
        raise PreviousBuildError(f"{where}.pending: expected true or false")
    return Entry(plan_id, raw["source"], raw["inputs"], raw["latest"], raw["pending"], dict(files), raw)
