"""What a previous build wrote, read back through the same checks as a plan.

A published ``state.json`` or ``index.json`` is untrusted input: it may be hand-edited, forged with an
updated hash, or fetched from a server that was tampered with. Its fields reach feeds and pages, so
they go through the very validators that YAML plans go through (``load.Reader``: text without control
or format characters, http(s) URLs, slugs, real dates, IANA zones, ranges). JSON values are wrapped in
YAML nodes for that, so there is one validation path, not a second codec that checks less.

Messages name the file and the field (``dist/p/state.json: races.monaco.snapshot.url: …``); JSON
written by racecal is one line, so a line and column would say nothing.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from yaml import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from racecal.errors import PreviousBuildError, Problem
from racecal.load import LONG_TEXT, Reader, _join
from racecal.model import Race, Result, Session, Source, Status

_TAG = "tag:yaml.org,2002:"
_MARK = Mark("json", 0, 0, 0, None, None)  # type: ignore[arg-type]  # no buffer: JSON has no useful position
_STAMP = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
MAX_JSON_DEPTH = 64

SNAPSHOT_KEYS = (
    "id", "name", "start", "end", "status", "meet_id", "series", "venue", "timezone", "disciplines",
    "reason", "note", "url", "sources", "result", "sessions",
)  # fmt: skip
SNAPSHOT_SESSION_KEYS = ("id", "name", "day", "start", "duration_minutes")


def loads(data: bytes, where: str) -> Any:
    """JSON from a previous build, or a PreviousBuildError naming the file."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PreviousBuildError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise PreviousBuildError(f"{where}: nesting is too deep") from None
    except ValueError as exc:  # integers longer than Python converts (4,300 digits)
        raise PreviousBuildError(f"{where}: not valid JSON ({str(exc)[:80]})") from None


def node(value: Any, depth: int = 0) -> Node:
    """A JSON value as the YAML node the plan validators read."""
    if depth > MAX_JSON_DEPTH:
        raise PreviousBuildError("nesting is too deep")
    if isinstance(value, dict):
        pairs = [(ScalarNode(_TAG + "str", str(k), _MARK, _MARK), node(v, depth + 1)) for k, v in value.items()]
        return MappingNode(_TAG + "map", pairs, _MARK, _MARK)
    if isinstance(value, list):
        return SequenceNode(_TAG + "seq", [node(v, depth + 1) for v in value], _MARK, _MARK)
    if value is None:
        return ScalarNode(_TAG + "null", "null", _MARK, _MARK)
    if isinstance(value, bool):
        return ScalarNode(_TAG + "bool", "true" if value else "false", _MARK, _MARK)
    if isinstance(value, int):
        return ScalarNode(_TAG + "int", str(value), _MARK, _MARK)
    if isinstance(value, float):
        text = repr(value)
        return ScalarNode(_TAG + "float", f"{value:.12f}" if "e" in text or "n" in text else text, _MARK, _MARK)
    return ScalarNode(_TAG + "str", str(value), _MARK, _MARK)


def keys_of(value: Node) -> tuple[str, ...]:
    """The keys a JSON object has: for maps keyed by ids, where the keys are checked one by one."""
    return tuple(k.value for k, _ in value.value) if isinstance(value, MappingNode) else ()


class JsonReader(Reader):
    """A Reader over JSON-made nodes; ``check`` raises every problem found, as one error."""

    published = True

    def check(self) -> None:
        if self.problems:
            raise PreviousBuildError("\n".join(f"{p.path}: {p.field}: {p.message}" for p in sorted(self.problems)))

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.path, 1, 1, name, message))

    def stamp(self, value: Node, name: str) -> datetime | None:
        text = value.value if isinstance(value, ScalarNode) and value.tag == _TAG + "str" else None
        if text is None or not _STAMP.match(text):
            shown = repr(text[:40]) if text is not None else "something else"
            self.error(value, name, f"expected a UTC time like 20240305T120000Z, got {shown}")
            return None
        try:
            moment = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            self.error(value, name, f"{text!r} is not a real time")
            return None
        if not 1970 <= moment.year <= 2100:
            self.error(value, name, f"year {moment.year} is outside 1970–2100")
            return None
        return moment

    def flag(self, value: Node, name: str) -> bool | None:
        if isinstance(value, ScalarNode) and value.tag == _TAG + "bool":
            return bool(value.value == "true")
        self.error(value, name, "expected true or false")
        return None

    def digest(self, value: Node, name: str, *, empty_ok: bool = False) -> str | None:
        text: str | None = value.value if isinstance(value, ScalarNode) and value.tag == _TAG + "str" else None
        if text is None or not (re.fullmatch(r"[0-9a-f]{64}", text) or (empty_ok and text == "")):
            self.error(value, name, "expected a sha256 in hex")
            return None
        return text

    def race_snapshot(self, value: Node, name: str) -> Race | None:
        """A race as ``model.race_to_dict`` wrote it, with every field checked as in a plan."""
        fields = self.mapping(value, name, SNAPSHOT_KEYS, required=("id", "name", "start", "end", "status"))
        if fields is None:
            return None
        before = len(self.problems)

        def opt(key: str, read: Any) -> Any:
            return read(fields[key], _join(name, key)) if key in fields else None

        race_id = opt("id", self.slug)
        title = opt("name", self.text)
        start = opt("start", self.day)
        end = opt("end", self.day)
        status: Status | None = opt("status", self.status)
        meet_id = opt("meet_id", self.slug)
        series = opt("series", self.text)
        venue = opt("venue", self.venue)
        timezone = opt("timezone", self.timezone)
        disciplines = opt("disciplines", self.texts) or ()
        reason = opt("reason", lambda n, f: self.text(n, f, multiline=True, limit=LONG_TEXT))
        note = opt("note", lambda n, f: self.text(n, f, multiline=True, limit=LONG_TEXT))
        url = opt("url", self.url)
        sources: list[Source] = []
        for sub, item in self.items(fields["sources"], _join(name, "sources"), 50) if "sources" in fields else []:
            source = self.source(item, sub)
            if source:
                sources.append(source)
        result = opt("result", self._result)
        sessions: list[Session] = []
        for sub, item in self.items(fields["sessions"], _join(name, "sessions"), 50) if "sessions" in fields else []:
            session = self._session(item, sub)
            if session:
                sessions.append(session)
        if start and end and end < start:
            self.error(fields["end"], _join(name, "end"), f"{end} is before start {start}")
        if sessions and timezone is None:
            self.error(value, name, "sessions need a timezone")
        if len(self.problems) > before or None in (race_id, title, start, end, status):
            return None
        assert race_id and title and start and end and status
        return Race(
            id=race_id, name=title, start=start, end=end, status=status, meet_id=meet_id, series=series,
            venue=venue, timezone=timezone, disciplines=tuple(disciplines), reason=reason, note=note, url=url,
            sources=tuple(sources), result=result, sessions=tuple(sessions),
        )  # fmt: skip

    def _result(self, value: Node, name: str) -> Result | None:
        fields = self.mapping(value, name, ("place", "time", "note"))
        if fields is None:
            return None
        place = self.integer(fields["place"], _join(name, "place"), 1, 10_000) if "place" in fields else None
        mark = self.text(fields["time"], _join(name, "time"), limit=32) if "time" in fields else None
        note = self.text(fields["note"], _join(name, "note"), multiline=True, limit=LONG_TEXT) if "note" in fields else None
        return Result(place, mark, note)

    def _session(self, value: Node, name: str) -> Session | None:
        fields = self.mapping(value, name, SNAPSHOT_SESSION_KEYS, required=SNAPSHOT_SESSION_KEYS)
        if fields is None or len(fields) < len(SNAPSHOT_SESSION_KEYS):
            return None
        session_id = self.slug(fields["id"], _join(name, "id"))
        title = self.text(fields["name"], _join(name, "name"))
        day = self.day(fields["day"], _join(name, "day"))
        start = self.clock(fields["start"], _join(name, "start"))
        minutes = self.integer(fields["duration_minutes"], _join(name, "duration_minutes"), 1, 24 * 60)
        if session_id is None or title is None or day is None or start is None or minutes is None:
            return None
        return Session(session_id, title, day, start, minutes)
