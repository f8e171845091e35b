"""Read the previously published build: a local directory (usually dist/ itself) or a live site URL.

The previous build is untrusted input too: every file is validated, plan ids must be slugs (they
become paths), and local feeds must still have the bytes the state recorded, so a hand-edited feed is
caught instead of silently overwritten.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from racecal.errors import PreviousBuildError
from racecal.history import PlanState, state_from_json
from racecal.load import SLUG_RE

MAX_PREVIOUS_FILE = 64 * 1024 * 1024
URL_TIMEOUT_SECONDS = 20


@dataclass
class Previous:
    location: str | None = None
    local_dir: Path | None = None  # set when files can be reused (hard-linked) from it
    states: dict[str, PlanState] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not self.states


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
        if path.stat().st_size > MAX_PREVIOUS_FILE:
            raise PreviousBuildError(f"{path}: larger than {MAX_PREVIOUS_FILE // 2**20} MiB")
        return path.read_bytes()
    except FileNotFoundError:
        raise PreviousBuildError(f"{path}: missing from the previous build") from None
    except OSError as exc:
        raise PreviousBuildError(f"{path}: cannot be read ({exc.strerror})") from None


def _fetch(url: str) -> bytes:
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


def _read(base: str, get: Any, local_dir: Path | None) -> Previous:
    where = f"{base}/index.json"
    try:
        index = json.loads(get(where).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PreviousBuildError(f"{where}: not valid JSON ({exc})") from None
    if not isinstance(index, dict) or index.get("generator") != "racecal" or not isinstance(index.get("plans"), list):
        raise PreviousBuildError(f"{where}: not a racecal site index")
    previous = Previous(location=base, local_dir=local_dir)
    for i, entry in enumerate(index["plans"]):
        plan_id = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(plan_id, str) or not SLUG_RE.match(plan_id):
            raise PreviousBuildError(f"{where}: plans[{i}].id: not a valid plan id: {plan_id!r:.60}")
        state_where = f"{base}/{plan_id}/state.json"
        state = state_from_json(get(state_where), state_where)
        if state.plan_id != plan_id:
            raise PreviousBuildError(f"{state_where}: plan: {state.plan_id!r} does not match the index ({plan_id!r})")
        if local_dir is not None:
            for name, digest in state.files.items():
                data = get(f"{base}/{plan_id}/{name}")
                if hashlib.sha256(data).hexdigest() != digest:
                    raise PreviousBuildError(
                        f"{base}/{plan_id}/{name}: changed since it was published; "
                        "restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over"
                    )
        previous.states[plan_id] = state
        previous.summaries[plan_id] = entry
    return previous
