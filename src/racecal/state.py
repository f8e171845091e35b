"""``dist/<plan>/state.json``: what a build published of one plan, as typed values, with its codec.

One owner: ``history.py`` reconciles a new plan against a ``PlanState``; ``build.py`` writes the
bytes ``state_to_json`` gives; ``previous.py`` hands the bytes of a published one to
``state_from_json``, which checks every field as strictly as a plan (``readback.JsonReader``) and
reads format 1 (one UID per race in every feed, migrated on the next build).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from yaml.nodes import Node, ScalarNode

from racecal import ics, readback
from racecal.diff import change_record
from racecal.documents import ATHLETE, MAX_YEAR, MIN_YEAR, SNAPSHOT, decode_written, encode
from racecal.errors import PreviousBuildError, field_path
from racecal.feeds import event_key
from racecal.index import PLAN_FILES
from racecal.model import FEEDS, SLUG_RE, Athlete, Plan, Race
from racecal.readback import JsonReader

GRACE = timedelta(days=30)  # how long a cancelled event stays in a feed (docs/history.md)
MAX_CHANGES_KEPT = 500
MAX_SEQUENCE = 10_000  # Google needs a small integer; no race changes this often, a forged state might
STATE_FORMAT = 2
READABLE_STATE_FORMATS = (1, 2)  # 1: one UID per race in every feed, migrated on the next build


@dataclass
class RaceState:
    seq: int
    stamp: datetime
    fingerprint: str
    snapshot: Race  # the race as last published: to diff against, and to cancel it once deleted
    published: dict[str, dict[str, datetime | None]]  # feed → uid → None (live) or tombstone start
    deleted: bool = False


@dataclass
class PlanState:
    plan_id: str
    athlete: Athlete
    season: int
    timezone: str
    source_path: str
    inputs: str  # hash of everything the plan's output depends on (issue: incremental builds)
    races: dict[str, RaceState]
    changes: list[dict[str, Any]]
    files: dict[str, str] = field(default_factory=dict)  # file name → sha256 of what was published
    floors: dict[str, int] = field(default_factory=dict)  # forgotten race id → the last SEQUENCE it had
    removed: bool = False  # the plan's file was deleted; its feeds stay valid calendars
    newest: datetime | None = None  # the newest stamp the plan ever had, kept when its race is forgotten
    # Race id → its line in state.json, as ``state_to_json`` wrote it, for each race whose RaceState is
    # the very object read from that line (``state_read_written``) or carried unchanged from it
    # (history.compile_plan): written again as it is, not encoded again. Not part of the state itself.
    race_lines: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def plan(self, races: tuple[Race, ...] = ()) -> Plan:
        return Plan(self.athlete, self.season, races, self.source_path, self.timezone)

    def plan_races(self) -> tuple[Race, ...]:
        """The plan's races as last published (its deleted ones left out)."""
        return tuple(r.snapshot for r in self.races.values() if not r.deleted)

    @property
    def next_expiry(self) -> datetime | None:
        """When the first pending tombstone expires: the plan must be rebuilt then, even if unchanged."""
        starts = [since for r in self.races.values() for f in r.published.values() for since in f.values() if since is not None]
        return min(starts) + GRACE if starts else None

    @property
    def latest(self) -> datetime | None:
        stamps = [r.stamp for r in self.races.values()] + ([self.newest] if self.newest else [])
        return max(stamps, default=None)


# --- state.json ------------------------------------------------------------------------------------


def _time_text(value: datetime | None) -> str | None:
    return ics.format_utc(value) if value else None


def state_to_json(state: PlanState) -> bytes:
    """The state's bytes: its keys sorted, compact, one race per line (a race's line is taken from
    ``state.race_lines`` when it has one). A group's or series' calendar rebuilt for one member's
    edit writes thousands of races, nearly all as they were: encoding them again took 0.3 s at
    7,000 races, and the lines keep a state's diff readable too."""
    data: dict[str, Any] = {
        "format": STATE_FORMAT,
        "plan": state.plan_id,
        "athlete": {
            "name": state.athlete.name,
            "slug": state.athlete.slug,
            "country": state.athlete.country,
            "disciplines": list(state.athlete.disciplines),
        },
        "season": state.season,
        "timezone": state.timezone,
        "source": state.source_path,
        "inputs": state.inputs,
        "files": state.files,
        "removed": state.removed,
        "floors": state.floors,
        "latest": _time_text(state.newest),
        "changes": state.changes,
    }
    if data["athlete"]["country"] is None:
        del data["athlete"]["country"]
    kept = state.race_lines
    lines = [kept.get(race_id) or _race_line(race_id, state.races[race_id]) for race_id in sorted(state.races)]
    races = "{\n" + ",\n".join(lines) + "\n}" if lines else "{}"
    # The keys in json's sort_keys order, "races" among them: any JSON reader reads the same document.
    # Compact separators keep json on its C encoder: indent= falls back to pure Python, 10× slower.
    fields = [f"{_json(key)}:{races if key == 'races' else _json(data[key])}" for key in sorted([*data, "races"])]
    return ("{" + ",".join(fields) + "}\n").encode("utf-8")


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _race_line(race_id: str, r: RaceState) -> str:
    entry = {
        "seq": r.seq,
        "stamp": _time_text(r.stamp),
        "fingerprint": r.fingerprint,
        "deleted": r.deleted,
        "snapshot": encode(r.snapshot),
        "published": {f: {uid: _time_text(s) for uid, s in e.items()} for f, e in r.published.items()},
    }
    return f"{_json(race_id)}:{_json(entry)}"


def _written_race_lines(data: bytes, race_ids: list[str]) -> dict[str, str]:
    """Race id → its line in a state.json ``state_to_json`` wrote for the races ``race_ids`` (in the
    order written); nothing when the bytes are not laid out so (a state written by an earlier racecal)."""
    lines = data.decode("utf-8").split("\n")
    if len(lines) != len(race_ids) + 3 or not lines[0].endswith('"races":{') or not lines[-2].startswith("}"):
        return {}  # the head, one line per race, the tail, and after the final newline
    found: dict[str, str] = {}
    for race_id, line in zip(race_ids, lines[1:-2], strict=True):
        text = line.removesuffix(",")
        if not text.startswith(f'"{race_id}":{{') or not text.endswith("}"):  # race ids are slugs: JSON as they are
            return {}
        found[race_id] = text
    return found


STATE_KEYS = (
    "format",
    "plan",
    "athlete",
    "season",
    "timezone",
    "source",
    "inputs",
    "files",
    "removed",
    "floors",
    "latest",
    "races",
    "changes",
)
RACE_STATE_KEYS = ("seq", "stamp", "fingerprint", "deleted", "snapshot", "published")
_FINGERPRINT = re.compile(r"^([0-9a-f]{32}|deleted)\Z")  # "deleted": state written by racecal 0.1
_SOURCE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[^\x00-\x1f\\]{1,400}\Z")


def state_from_json(data: bytes, where: str, plan_id: str) -> PlanState:
    """A published state file, every field checked as strictly as a plan (readback.py); anything
    malformed or forged is a PreviousBuildError listing every problem with its field."""
    r = JsonReader(where)
    try:
        root = readback.node(readback.loads(data, where))
    except PreviousBuildError as exc:
        raise PreviousBuildError(f"{where}: {exc}" if not str(exc).startswith(where) else str(exc)) from None
    top = r.mapping(root, "", STATE_KEYS, required=tuple(k for k in STATE_KEYS if k not in ("removed", "floors", "latest")))
    if top is None:
        r.check()
        raise AssertionError("unreachable")
    version = r.integer(top["format"], "format", 0, 1_000) if "format" in top else None
    if version is not None and version not in READABLE_STATE_FORMATS:
        r.error(top["format"], "format", f"this racecal reads formats {', '.join(map(str, READABLE_STATE_FORMATS))}, got {version}")
        r.check()
    stated_id = r.slug(top["plan"], "plan") if "plan" in top else None
    if stated_id is not None and stated_id != plan_id:
        r.error(top["plan"], "plan", f"{stated_id!r} does not match the index ({plan_id!r})")
    athlete = r.object(ATHLETE, top["athlete"], "athlete") if "athlete" in top else None
    season = r.integer(top["season"], "season", MIN_YEAR, MAX_YEAR) if "season" in top else None
    timezone = r.timezone(top["timezone"], "timezone") if "timezone" in top else None
    source = r.text(top["source"], "source", limit=400) if "source" in top else None
    if source is not None and not _SOURCE_PATH.match(source):
        r.error(top["source"], "source", "expected a relative path inside the schedules directory")
    inputs = r.digest(top["inputs"], "inputs", empty_ok=True) if "inputs" in top else None
    files: dict[str, str] = {}
    for name, value in (r.mapping(top["files"], "files", PLAN_FILES[:-1]) or {}).items() if "files" in top else []:
        digest = r.digest(value, field_path("files", name))
        if digest:
            files[name] = digest
    removed = r.flag(top["removed"], "removed") if "removed" in top else False
    newest = r.stamp(top["latest"], "latest") if "latest" in top and not top["latest"].tag.endswith(":null") else None
    floors: dict[str, int] = {}
    if "floors" in top:
        for race_id, value in (r.mapping(top["floors"], "floors", readback.keys_of(top["floors"])) or {}).items():
            seq = r.integer(value, field_path("floors", race_id), 0, MAX_SEQUENCE)
            if _race_id_ok(r, value, field_path("floors", race_id), race_id) and seq is not None:
                floors[race_id] = seq
    races: dict[str, RaceState] = {}
    for race_id, value in (r.mapping(top["races"], "races", readback.keys_of(top["races"])) or {}).items() if "races" in top else []:
        name = field_path("races", race_id)
        if _race_id_ok(r, value, name, race_id):
            race = _race_state(r, value, name, race_id, plan_id)
            if race is not None:
                races[race_id] = race
    changes = (
        [c for c in (change_record(r, item, sub) for sub, item in r.items(top["changes"], "changes", MAX_CHANGES_KEPT)) if c]
        if "changes" in top
        else []
    )
    r.check()
    assert stated_id and athlete and season and timezone and source is not None and inputs is not None and removed is not None
    return PlanState(stated_id, athlete, season, timezone, source, inputs, races, changes, files, floors, removed, newest)


def state_read_written(data: bytes) -> PlanState:
    """A state.json whose bytes this racecal wrote from validated values (cache.py vouches for that
    by their sha256): read without checking each field again. Anything else goes through
    ``state_from_json``; tests/test_cache.py holds both to the same result on every kind of state a
    build writes."""
    top = json.loads(data)
    athlete = decode_written(ATHLETE, top["athlete"])
    latest = top.get("latest")
    races = {
        race_id: RaceState(
            race["seq"],
            ics.parse_utc(race["stamp"]),
            race["fingerprint"],
            decode_written(SNAPSHOT, race["snapshot"]),
            {
                feed: {uid: ics.parse_utc(since) if since else None for uid, since in uids.items()}
                for feed, uids in race["published"].items()
            },
            race["deleted"],
        )
        for race_id, race in top["races"].items()
    }
    return PlanState(
        top["plan"], athlete, top["season"], top["timezone"], top["source"], top["inputs"], races, top["changes"],
        top["files"], top.get("floors", {}), top.get("removed", False), ics.parse_utc(latest) if latest else None,
        race_lines=_written_race_lines(data, list(races)),
    )  # fmt: skip


def plan_read_written(data: bytes) -> Plan:
    """The plan as last published (its deleted races left out), from a state.json as
    ``state_read_written`` reads it, decoding only what a plan holds: a group's, meet's or series'
    calendar needs this of every member plan it did not compile."""
    top = json.loads(data)
    races = tuple(decode_written(SNAPSHOT, race["snapshot"]) for race in top["races"].values() if not race["deleted"])
    return Plan(decode_written(ATHLETE, top["athlete"]), top["season"], races, top["source"], top["timezone"])


def _race_id_ok(r: JsonReader, value: Node, name: str, race_id: str) -> bool:
    if SLUG_RE.match(race_id) and len(race_id) <= 64:
        return True
    r.error(value, name, "race ids are lowercase letters, digits and single hyphens")
    return False


def _race_state(r: JsonReader, value: Node, name: str, race_id: str, plan_id: str) -> RaceState | None:
    fields = r.mapping(value, name, RACE_STATE_KEYS, required=RACE_STATE_KEYS)
    if fields is None or len(fields) < len(RACE_STATE_KEYS):
        return None
    before = len(r.problems)
    seq = r.integer(fields["seq"], field_path(name, "seq"), 0, MAX_SEQUENCE)
    stamp = r.stamp(fields["stamp"], field_path(name, "stamp"))
    fingerprint = r.text(fields["fingerprint"], field_path(name, "fingerprint"), limit=64)
    if fingerprint is not None and not _FINGERPRINT.match(fingerprint):
        r.error(fields["fingerprint"], field_path(name, "fingerprint"), "expected 32 hex digits")
    deleted = r.flag(fields["deleted"], field_path(name, "deleted"))
    snapshot = r.race_snapshot(fields["snapshot"], field_path(name, "snapshot"))
    if snapshot is not None and snapshot.id != race_id:
        r.error(fields["snapshot"], field_path(name, "snapshot.id"), f"{snapshot.id!r} does not match the race id")
    published: dict[str, dict[str, datetime | None]] = {}
    feeds = r.mapping(fields["published"], field_path(name, "published"), FEEDS) or {}
    for feed, entries in feeds.items():
        where = field_path(field_path(name, "published"), feed)
        published[feed] = {}
        for uid, since in (r.mapping(entries, where, readback.keys_of(entries)) or {}).items():
            if event_key(uid, plan_id, race_id, feed) is None:
                r.error(since, field_path(where, uid), f"not a UID of race {race_id!r} in this feed")
                continue
            if isinstance(since, ScalarNode) and since.tag.endswith(":null"):
                published[feed][uid] = None
            else:
                published[feed][uid] = r.stamp(since, field_path(where, uid))
    if len(r.problems) > before:
        return None
    assert seq is not None and stamp is not None and fingerprint is not None and deleted is not None and snapshot is not None
    return RaceState(seq, stamp, fingerprint, snapshot, published, deleted)
