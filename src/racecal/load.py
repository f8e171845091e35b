"""schedules/*.yaml and schedules/meets/*.yaml → model, with every problem located.

PyYAML is used only to *compose* node trees (libyaml's C parser when available, which keeps line and
column marks). Values are then validated here from the raw scalar text, so YAML 1.1 surprises
(``NO`` → False, ``19:30`` → 1170, ``2024-02-30`` → a constructor crash) never reach the model, and
no Python object is ever constructed from a tag.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from racecal.errors import PlanError, Problem
from racecal.model import SLUG_RE, Athlete, Meet, Plan, Race, Result, Session, Source, Status, Venue

# Limits (documented in the README under "Guarantees"). A season plan is a few kilobytes.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_RACES_PER_PLAN = 1000
MAX_SESSIONS_PER_RACE = 50
MAX_SOURCES_PER_RACE = 50
MAX_NESTING = 32
MIN_YEAR, MAX_YEAR = 1900, 2100
MAX_SPAN_DAYS = 60
SHORT_TEXT = 200
LONG_TEXT = 5000

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TIME_RE = re.compile(r"^(\d{1,2}):(\d{2})$")
INT_RE = re.compile(r"^[+-]?\d+$")
FLOAT_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")

_YAML = "tag:yaml.org,2002:"
ALLOWED_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}

PLAN_KEYS = ("athlete", "season", "timezone", "sources", "races")
ATHLETE_KEYS = ("name", "slug", "country", "disciplines")
RACE_KEYS = (
    "id", "meet", "name", "series", "date", "start", "end", "venue", "timezone", "disciplines",
    "status", "reason", "note", "url", "sources", "result", "sessions",
)  # fmt: skip
MEET_KEYS = ("id", "name", "series", "date", "start", "end", "venue", "timezone", "url")
VENUE_KEYS = ("name", "city", "country", "lat", "lon")
SOURCE_KEYS = ("outlet", "title", "url", "published", "quote")
RESULT_KEYS = ("place", "time", "note")
SESSION_KEYS = ("id", "name", "date", "time", "duration_minutes")


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- reading files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """A file's path (as shown in messages), its bytes, and its name within the schedules directory.

    ``key`` is what builds remember a plan by, so the output does not depend on where the repository
    is or how ``--schedules`` was spelled.
    """

    path: str
    data: bytes
    key: str = ""

    @property
    def ident(self) -> str:
        return self.key or self.path

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def read_source(path: Path, problems: list[Problem], base: Path | None = None) -> SourceFile | None:
    shown = str(path)
    key = path.relative_to(base).as_posix() if base else ""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            problems.append(
                Problem(shown, 1, 1, "file", f"is {size / 2**20:.1f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB")
            )
            return None
        return SourceFile(shown, path.read_bytes(), key)
    except OSError as exc:
        problems.append(Problem(shown, 1, 1, "file", f"cannot be read: {exc.strerror or exc}"))
        return None


def discover(schedules: Path) -> tuple[list[Path], list[Path]]:
    """Plan files and catalogue files of a schedules directory, in a stable order."""

    def yamls(d: Path) -> list[Path]:
        return sorted(p for p in d.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()) if d.is_dir() else []

    return yamls(schedules), yamls(schedules / "meets")


# --- YAML → node tree -------------------------------------------------------------------------------


def compose(source: SourceFile, problems: list[Problem]) -> Node | None:
    """Parse one file into a node tree, or record why not. Rejects what YAML allows but plans must not."""
    try:
        text = source.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = source.data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (source.data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = source.data[exc.start : exc.start + 1].hex()
        problems.append(Problem(source.path, line, column, "file", f"is not valid UTF-8 (byte 0x{bad})"))
        return None
    try:
        root = yaml.compose(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Problem(source.path, line, column, "yaml", _yaml_message(exc)))
        return None
    except yaml.YAMLError as exc:  # reader errors (control characters) carry a position only
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        problems.append(Problem(source.path, line, column, "yaml", _yaml_message(exc)))
        return None
    except RecursionError:
        problems.append(Problem(source.path, 1, 1, "yaml", f"nesting is too deep (the limit is {MAX_NESTING})"))
        return None
    if root is None:
        problems.append(Problem(source.path, 1, 1, "file", "is empty"))
        return None
    before = len(problems)
    _check_structure(source.path, root, problems)
    return root if len(problems) == before else None


def _yaml_message(exc: yaml.YAMLError) -> str:
    problem = str(getattr(exc, "problem", "") or exc).strip()
    if "tab" in problem:
        return "tab character: YAML indentation must use spaces"
    if "special characters are not allowed" in problem or "unacceptable character" in problem:
        return "control character in the file; remove it"
    context = getattr(exc, "context", None)
    return f"{context}: {problem}" if context else problem


def _check_structure(path: str, root: Node, problems: list[Problem]) -> None:
    """One pass over the node graph: aliases, tags, duplicate and non-text keys, nesting depth.

    Aliases are refused outright: that keeps "billion laughs" out, and the meet catalogue is the way to
    share data. Everything here is iterative so no input can exhaust the stack.
    """
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            _add(problems, path, node, "yaml", "anchors and aliases (&name / *name) are not supported; use the meet catalogue to share data")
            return
        seen.add(id(node))
        if depth > MAX_NESTING:
            _add(problems, path, node, "yaml", f"nesting is too deep (the limit is {MAX_NESTING})")
            return
        if node.tag not in ALLOWED_TAGS:
            _add(problems, path, node, "yaml", f"unsupported tag {node.tag!r}")
            continue
        if isinstance(node, MappingNode):
            keys: dict[str, Node] = {}
            for key, value in node.value:
                if key.tag == _YAML + "merge":
                    _add(problems, path, key, "yaml", "merge keys (<<) are not supported; use the meet catalogue to share data")
                    continue
                if not isinstance(key, ScalarNode) or key.tag not in ALLOWED_TAGS or key.tag == _YAML + "null":
                    _add(problems, path, key, "yaml", "mapping keys must be plain text")
                    continue
                if key.value in keys:
                    first = keys[key.value].start_mark.line + 1
                    _add(problems, path, key, _join("", key.value), f"duplicate key (first defined on line {first})")
                else:
                    keys[key.value] = key
                stack.append((value, depth + 1))
        elif isinstance(node, SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


def _add(problems: list[Problem], path: str, node: Node, field: str, message: str) -> None:
    problems.append(Problem(path, node.start_mark.line + 1, node.start_mark.column + 1, field, message))


# --- validating nodes -------------------------------------------------------------------------------


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _YAML + "null":
        return "nothing"
    return repr(node.value)


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _join(parent: str, key: str) -> str:
    """A field path like ``races[2].date``; keys that are not plain words are quoted, so an empty or
    odd key (``''``, ``'a: b'``) still reads as a field in a message."""
    shown = key if _PLAIN_KEY.match(key) else repr(key)
    return f"{parent}.{shown}" if parent else shown


@dataclass
class Reader:
    """Validates one file's node tree, collecting problems instead of stopping at the first."""

    path: str
    problems: list[Problem] = field(default_factory=list)

    def error(self, node: Node, name: str, message: str) -> None:
        _add(self.problems, self.path, node, name, message)

    def mapping(self, node: Node, name: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            self.error(node, name or "document", f"expected a mapping, got {_describe(node)}")
            return None
        out: dict[str, Node] = {}
        for key, value in node.value:
            k = key.value
            if k in out:
                continue  # reported as a duplicate key already
            if k not in allowed:
                hint = difflib.get_close_matches(k, allowed, n=1)
                suffix = f"; did you mean '{hint[0]}'?" if hint else f"; expected one of: {', '.join(allowed)}"
                self.error(key, _join(name, k), "unknown key" + suffix)
                continue
            out[k] = value
        for key in required:
            if key not in out:
                self.error(node, name or "document", f"missing required key '{key}'")
        return out

    def items(self, node: Node, name: str, limit: int) -> list[tuple[str, Node]]:
        if not isinstance(node, SequenceNode):
            self.error(node, name, f"expected a list, got {_describe(node)}")
            return []
        if len(node.value) > limit:
            self.error(node, name, f"has {len(node.value)} entries; the limit is {limit}")
            return []
        return [(f"{name}[{i}]", item) for i, item in enumerate(node.value)]

    def text(self, node: Node, name: str, *, multiline: bool = False, limit: int = SHORT_TEXT) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag == _YAML + "null":
            self.error(node, name, f"expected text, got {_describe(node)}")
            return None
        value: str = node.value.strip() if multiline else node.value
        if not value.strip():
            self.error(node, name, "must not be empty")
            return None
        if len(value) > limit:
            self.error(node, name, f"is {len(value)} characters long; the limit is {limit}")
            return None
        for ch in value:
            if ch in "\n\t" and multiline:
                continue
            if ch in "\r\n":
                self.error(node, name, "must be a single line")
                return None
            if unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029":
                self.error(node, name, f"contains the control character U+{ord(ch):04X}")
                return None
        return value

    def texts(self, node: Node, name: str) -> tuple[str, ...]:
        if isinstance(node, ScalarNode):  # a single discipline written without a list
            value = self.text(node, name)
            return (value,) if value else ()
        values = (self.text(item, sub) for sub, item in self.items(node, name, 20))
        return tuple(v for v in values if v)

    def slug(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=64)
        if value is not None and not SLUG_RE.match(value):
            self.error(node, name, f"expected lowercase letters, digits and single hyphens (like 'jakob-ingebrigtsen'), got {value!r}")
            return None
        return value

    def integer(self, node: Node, name: str, low: int, high: int) -> int | None:
        if not isinstance(node, ScalarNode) or not INT_RE.match(node.value):
            self.error(node, name, f"expected a whole number, got {_describe(node)}")
            return None
        value = int(node.value)
        if not low <= value <= high:
            self.error(node, name, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def number(self, node: Node, name: str, low: float, high: float) -> float | None:
        if not isinstance(node, ScalarNode) or not FLOAT_RE.match(node.value):
            self.error(node, name, f"expected a number, got {_describe(node)}")
            return None
        value = float(node.value)
        if not low <= value <= high:
            self.error(node, name, f"must be between {low:g} and {high:g}, got {value:g}")
            return None
        return value

    def day(self, node: Node, name: str) -> date | None:
        if not isinstance(node, ScalarNode) or not DATE_RE.match(node.value):
            self.error(node, name, f"expected a date as YYYY-MM-DD, got {_describe(node)}")
            return None
        try:
            value = date.fromisoformat(node.value)
        except ValueError:
            self.error(node, name, f"{node.value!r} is not a real date")
            return None
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            self.error(node, name, f"year {value.year} is outside {MIN_YEAR}–{MAX_YEAR}")
            return None
        return value

    def clock(self, node: Node, name: str) -> time | None:
        match = TIME_RE.match(node.value) if isinstance(node, ScalarNode) else None
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            shown = repr(node.value) if isinstance(node, ScalarNode) else _describe(node)
            self.error(node, name, f"expected a 24-hour time as HH:MM (quote it: \"19:30\"), got {shown}")
            return None
        return time(int(match[1]), int(match[2]))

    def url(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=2000)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
            self.error(node, name, f"only http:// and https:// URLs are allowed, got {value!r}")
            return None
        return value

    def timezone(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=64)
        if value is None:
            return None
        if value not in known_timezones():
            hint = difflib.get_close_matches(value, sorted(known_timezones()), n=1)
            self.error(node, name, f"unknown timezone {value!r}" + (f"; did you mean '{hint[0]}'?" if hint else " (use an IANA name like 'Europe/Oslo')"))
            return None
        return value

    def status(self, node: Node, name: str) -> Status | None:
        value = self.text(node, name)
        if value is None:
            return None
        try:
            return Status(value)
        except ValueError:
            options = [s.value for s in Status]
            hint = difflib.get_close_matches(value, options, n=1)
            self.error(node, name, f"unknown status {value!r}" + (f"; did you mean '{hint[0]}'?" if hint else f"; expected one of: {', '.join(options)}"))
            return None

    # --- composite fields ---

    def span(self, fields: dict[str, Node], node: Node, name: str) -> tuple[date, date] | None:
        """``date: D`` or ``start: D`` [+ ``end: D``]; None when absent or invalid (errors recorded)."""
        if "date" in fields and ("start" in fields or "end" in fields):
            self.error(fields["date"], _join(name, "date"), "give either 'date' or 'start'/'end', not both")
            return None
        if "date" in fields:
            day = self.day(fields["date"], _join(name, "date"))
            return (day, day) if day else None
        if "end" in fields and "start" not in fields:
            self.error(fields["end"], _join(name, "end"), "'end' needs a 'start'")
            return None
        if "start" not in fields:
            return None
        start = self.day(fields["start"], _join(name, "start"))
        end = self.day(fields["end"], _join(name, "end")) if "end" in fields else start
        if start is None or end is None:
            return None
        if end < start:
            self.error(fields["end"], _join(name, "end"), f"{end} is before start {start}")
            return None
        if (end - start).days >= MAX_SPAN_DAYS:
            self.error(fields["end"], _join(name, "end"), f"a span of {(end - start).days + 1} days is longer than {MAX_SPAN_DAYS}")
            return None
        return start, end

    def venue(self, node: Node, name: str) -> Venue | None:
        fields = self.mapping(node, name, VENUE_KEYS)
        if fields is None:
            return None
        text = {k: self.text(fields[k], _join(name, k)) for k in ("name", "city", "country") if k in fields}
        lat = self.number(fields["lat"], _join(name, "lat"), -90, 90) if "lat" in fields else None
        lon = self.number(fields["lon"], _join(name, "lon"), -180, 180) if "lon" in fields else None
        if ("lat" in fields) != ("lon" in fields):
            self.error(node, name, "give both 'lat' and 'lon', or neither")
        if not any(text.values()):
            self.error(node, name, "needs at least a 'name' or a 'city'")
            return None
        return Venue(text.get("name"), text.get("city"), text.get("country"), lat, lon)

    def source(self, node: Node, name: str) -> Source | None:
        fields = self.mapping(node, name, SOURCE_KEYS, required=("outlet",))
        if fields is None:
            return None
        outlet = self.text(fields["outlet"], _join(name, "outlet")) if "outlet" in fields else None
        title = self.text(fields["title"], _join(name, "title"), limit=500) if "title" in fields else None
        url = self.url(fields["url"], _join(name, "url")) if "url" in fields else None
        published = self.day(fields["published"], _join(name, "published")) if "published" in fields else None
        quote = self.text(fields["quote"], _join(name, "quote"), multiline=True, limit=LONG_TEXT) if "quote" in fields else None
        return Source(outlet, title, url, published, quote) if outlet else None


# --- the meet catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """A model value with the file and node it came from, for messages that point back at it."""

    value: Any
    path: str
    node: Node


def parse_catalogue(sources: Iterable[SourceFile], problems: list[Problem]) -> dict[str, Meet]:
    meets: dict[str, Located] = {}
    for source in sources:
        root = compose(source, problems)
        if root is None:
            continue
        r = Reader(source.path, problems)
        top = r.mapping(root, "", ("meets",), required=("meets",))
        if not top or "meets" not in top:
            continue
        for name, node in r.items(top["meets"], "meets", 10_000):
            meet = _meet(r, node, name)
            if meet is None:
                continue
            if meet.id in meets:
                first = meets[meet.id]
                r.error(node, _join(name, "id"), f"duplicate meet id {meet.id!r} (first in {first.path}:{first.node.start_mark.line + 1})")
                continue
            meets[meet.id] = Located(meet, source.path, node)
    return {k: v.value for k, v in meets.items()}


def _meet(r: Reader, node: Node, name: str) -> Meet | None:
    fields = r.mapping(node, name, MEET_KEYS, required=("id", "name", "timezone"))
    if fields is None:
        return None
    meet_id = r.slug(fields["id"], _join(name, "id")) if "id" in fields else None
    title = r.text(fields["name"], _join(name, "name")) if "name" in fields else None
    series = r.text(fields["series"], _join(name, "series")) if "series" in fields else None
    tz = r.timezone(fields["timezone"], _join(name, "timezone")) if "timezone" in fields else None
    span = r.span(fields, node, name)
    if span is None and not any(k in fields for k in ("date", "start", "end")):
        r.error(node, name, "missing required key 'date' (or 'start' and 'end')")
    venue = r.venue(fields["venue"], _join(name, "venue")) if "venue" in fields else None
    url = r.url(fields["url"], _join(name, "url")) if "url" in fields else None
    if meet_id is None or title is None or tz is None or span is None:
        return None
    return Meet(meet_id, title, span[0], span[1], tz, series, venue, url)


# --- plans -----------------------------------------------------------------------------------------


def parse_plan(source: SourceFile, meets: dict[str, Meet], problems: list[Problem]) -> Plan | None:
    root = compose(source, problems)
    if root is None:
        return None
    before = len(problems)
    r = Reader(source.path, problems)
    top = r.mapping(root, "", PLAN_KEYS, required=("athlete", "season", "races"))
    if top is None:
        return None
    athlete = _athlete(r, top["athlete"]) if "athlete" in top else None
    season = r.integer(top["season"], "season", MIN_YEAR, MAX_YEAR) if "season" in top else None
    tz = r.timezone(top["timezone"], "timezone") if "timezone" in top else "UTC"
    shared_sources: dict[str, Source] = {}
    if "sources" in top:
        fields = r.mapping(top["sources"], "sources", allowed=_keys_of(top["sources"]))
        for key, node in (fields or {}).items():
            if _source_key_ok(r, node, key):
                src = r.source(node, _join("sources", key))
                if src:
                    shared_sources[key] = src
    races: list[Race] = []
    first_seen: dict[str, Node] = {}
    for name, node in r.items(top["races"], "races", MAX_RACES_PER_PLAN) if "races" in top else []:
        race = _race(r, node, name, meets, shared_sources)
        if race is None:
            continue
        if race.id in first_seen:
            id_node = _child(node, "id") or node
            r.error(id_node, _join(name, "id"), f"duplicate race id {race.id!r} (first on line {first_seen[race.id].start_mark.line + 1})")
            continue
        first_seen[race.id] = node
        races.append(race)
    if len(problems) > before or athlete is None or season is None or tz is None:
        return None
    return Plan(athlete, season, tuple(races), source.ident, tz)


def _keys_of(node: Node) -> tuple[str, ...]:
    return tuple(k.value for k, _ in node.value) if isinstance(node, MappingNode) else ()


def _child(node: Node, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if k.value == key:
                found: Node = v
                return found
    return None


def _source_key_ok(r: Reader, node: Node, key: str) -> bool:
    """Shared-source ids are mapping keys; they must be slugs so races can reference them."""
    if SLUG_RE.match(key):
        return True
    r.error(node, _join("sources", key), "source ids must be lowercase letters, digits and hyphens")
    return False


def _athlete(r: Reader, node: Node) -> Athlete | None:
    fields = r.mapping(node, "athlete", ATHLETE_KEYS, required=("name", "slug"))
    if fields is None:
        return None
    name = r.text(fields["name"], "athlete.name") if "name" in fields else None
    slug = r.slug(fields["slug"], "athlete.slug") if "slug" in fields else None
    country = r.text(fields["country"], "athlete.country", limit=64) if "country" in fields else None
    disciplines = r.texts(fields["disciplines"], "athlete.disciplines") if "disciplines" in fields else ()
    if name is None or slug is None:
        return None
    return Athlete(name, slug, country, disciplines)


def _race(r: Reader, node: Node, name: str, meets: dict[str, Meet], shared: dict[str, Source]) -> Race | None:
    fields = r.mapping(node, name, RACE_KEYS, required=("id", "status"))
    if fields is None:
        return None
    before = len(r.problems)
    race_id = r.slug(fields["id"], _join(name, "id")) if "id" in fields else None
    meet: Meet | None = None
    if "meet" in fields:
        meet_id = r.text(fields["meet"], _join(name, "meet"), limit=64)
        if meet_id is not None:
            meet = meets.get(meet_id)
            if meet is None:
                hint = difflib.get_close_matches(meet_id, sorted(meets), n=1)
                r.error(fields["meet"], _join(name, "meet"), f"unknown meet {meet_id!r}" + (f"; did you mean '{hint[0]}'?" if hint else " (meets are defined in schedules/meets/*.yaml)"))
    title = r.text(fields["name"], _join(name, "name")) if "name" in fields else (meet.name if meet else None)
    if title is None and "name" not in fields and "meet" not in fields:
        r.error(node, name, "missing required key 'name' (or a 'meet' from the catalogue)")
    span = r.span(fields, node, name) or ((meet.start, meet.end) if meet and not any(k in fields for k in ("date", "start", "end")) else None)
    if span is None and "meet" not in fields and not any(k in fields for k in ("date", "start", "end")):
        r.error(node, name, "missing required key 'date' (or a 'meet' from the catalogue)")
    tz = r.timezone(fields["timezone"], _join(name, "timezone")) if "timezone" in fields else (meet.timezone if meet else None)
    venue = r.venue(fields["venue"], _join(name, "venue")) if "venue" in fields else (meet.venue if meet else None)
    url = r.url(fields["url"], _join(name, "url")) if "url" in fields else (meet.url if meet else None)
    series = r.text(fields["series"], _join(name, "series")) if "series" in fields else (meet.series if meet else None)
    status = r.status(fields["status"], _join(name, "status")) if "status" in fields else None
    disciplines = r.texts(fields["disciplines"], _join(name, "disciplines")) if "disciplines" in fields else ()
    reason = r.text(fields["reason"], _join(name, "reason"), multiline=True, limit=LONG_TEXT) if "reason" in fields else None
    note = r.text(fields["note"], _join(name, "note"), multiline=True, limit=LONG_TEXT) if "note" in fields else None
    sources = _race_sources(r, fields["sources"], _join(name, "sources"), shared) if "sources" in fields else ()
    result = _result(r, fields["result"], _join(name, "result")) if "result" in fields else None
    sessions: tuple[Session, ...] = ()
    if "sessions" in fields and span is not None:
        sessions = _sessions(r, fields["sessions"], _join(name, "sessions"), span, tz)
    if len(r.problems) > before or race_id is None or title is None or span is None or status is None:
        return None
    return Race(
        id=race_id, name=title, start=span[0], end=span[1], status=status, meet_id=meet.id if meet else None,
        series=series, venue=venue, timezone=tz, disciplines=disciplines, reason=reason, note=note, url=url,
        sources=sources, result=result, sessions=sessions,
    )  # fmt: skip


def _race_sources(r: Reader, node: Node, name: str, shared: dict[str, Source]) -> tuple[Source, ...]:
    out: list[Source] = []
    for sub, item in r.items(node, name, MAX_SOURCES_PER_RACE):
        if isinstance(item, ScalarNode):
            key = r.text(item, sub, limit=64)
            if key is None:
                continue
            if key not in shared:
                hint = difflib.get_close_matches(key, sorted(shared), n=1)
                r.error(item, sub, f"unknown source {key!r}" + (f"; did you mean '{hint[0]}'?" if hint else " (define it under the plan's 'sources')"))
                continue
            out.append(shared[key])
        else:
            src = r.source(item, sub)
            if src:
                out.append(src)
    return tuple(out)


def _result(r: Reader, node: Node, name: str) -> Result | None:
    fields = r.mapping(node, name, RESULT_KEYS)
    if fields is None:
        return None
    place = r.integer(fields["place"], _join(name, "place"), 1, 10_000) if "place" in fields else None
    mark = r.text(fields["time"], _join(name, "time"), limit=32) if "time" in fields else None
    note = r.text(fields["note"], _join(name, "note"), multiline=True, limit=LONG_TEXT) if "note" in fields else None
    return Result(place, mark, note)


def _sessions(r: Reader, node: Node, name: str, span: tuple[date, date], tz: str | None) -> tuple[Session, ...]:
    out: list[Session] = []
    ids: set[str] = set()
    for sub, item in r.items(node, name, MAX_SESSIONS_PER_RACE):
        fields = r.mapping(item, sub, SESSION_KEYS, required=("name", "date", "time"))
        if fields is None:
            continue
        title = r.text(fields["name"], _join(sub, "name")) if "name" in fields else None
        session_id = r.slug(fields["id"], _join(sub, "id")) if "id" in fields else (_slugify(title) if title else None)
        day = r.day(fields["date"], _join(sub, "date")) if "date" in fields else None
        start = r.clock(fields["time"], _join(sub, "time")) if "time" in fields else None
        minutes = r.integer(fields["duration_minutes"], _join(sub, "duration_minutes"), 1, 24 * 60) if "duration_minutes" in fields else 60
        if day is not None and not span[0] <= day <= span[1]:
            r.error(fields["date"], _join(sub, "date"), f"{day} is outside the race's dates {span[0]}..{span[1]}")
            day = None
        if start is not None and day is not None:
            if tz is None:
                r.error(fields["time"], _join(sub, "time"), "a time needs a timezone: set 'timezone' on the race or its meet")
                start = None
            else:
                trouble = _local_time_trouble(day, start, tz)
                if trouble:
                    r.error(fields["time"], _join(sub, "time"), trouble)
                    start = None
        if session_id is not None and session_id in ids:
            r.error(item, _join(sub, "id"), f"duplicate session id {session_id!r}")
            continue
        if None in (title, session_id, day, start, minutes):
            continue
        assert title and session_id and day and start and minutes  # narrowed for mypy
        ids.add(session_id)
        out.append(Session(session_id, title, day, start, minutes))
    return tuple(out)


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64] or "session"


def _local_time_trouble(day: date, start: time, tz: str) -> str | None:
    """Times that do not exist, or exist twice, on a DST change day cannot be published unambiguously."""
    zone = zoneinfo.ZoneInfo(tz)
    local = datetime.combine(day, start, tzinfo=zone)
    if local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset():
        roundtrip = local.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(zone)
        if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
            return f"{start:%H:%M} does not exist in {tz} on {day} (the clocks go forward)"
        return f"{start:%H:%M} occurs twice in {tz} on {day} (the clocks go back); pick another time"
    return None


# --- everything at once ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedules:
    plans: tuple[Plan, ...]
    meets: dict[str, Meet]


def load_schedules(plan_files: Sequence[SourceFile], catalogue_files: Sequence[SourceFile], problems: list[Problem]) -> Schedules:
    """Validate everything; problems accumulate in ``problems`` (the caller decides whether to raise)."""
    meets = parse_catalogue(catalogue_files, problems)
    plans: list[Plan] = []
    owners: dict[str, str] = {}
    for source in plan_files:
        plan = parse_plan(source, meets, problems)
        if plan is None:
            continue
        if plan.id in owners:
            problems.append(Problem(source.path, 1, 1, "athlete.slug", f"plan {plan.id!r} (athlete and season) is also defined in {owners[plan.id]}"))
            continue
        owners[plan.id] = source.path
        plans.append(plan)
    return Schedules(tuple(plans), meets)


def read_all(schedules: Path) -> tuple[list[SourceFile], list[SourceFile], list[Problem]]:
    problems: list[Problem] = []
    if not schedules.is_dir():
        problems.append(Problem(str(schedules), 1, 1, "schedules", "is not a directory"))
        return [], [], problems
    plan_paths, meet_paths = discover(schedules)
    plans = [s for s in (read_source(p, problems, schedules) for p in plan_paths) if s]
    meets = [s for s in (read_source(p, problems, schedules) for p in meet_paths) if s]
    return plans, meets, problems


def load_dir(schedules: Path) -> Schedules:
    """Read and validate a schedules directory; raise PlanError listing every problem."""
    plan_files, meet_files, problems = read_all(schedules)
    result = load_schedules(plan_files, meet_files, problems)
    if problems:
        raise PlanError(problems)
    return result
