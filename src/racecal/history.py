"""What was published before → this build's SEQUENCE, DTSTAMP/LAST-MODIFIED, tombstones and changes.

The published state (``dist/<plan>/state.json``) remembers, per race: its SEQUENCE, the time of the
build that last changed it, a fingerprint of what subscribers saw, a snapshot of the race (to diff
against and to publish a cancellation after it is deleted), and which event UIDs each feed carries,
live or as a tombstone since a given build.

Rules (docs/history.md has the long form):
- SEQUENCE rises by one whenever anything a subscriber can see in any of the race's events changes,
  or the set of feeds carrying it live changes. DTSTAMP and LAST-MODIFIED move to that build's time.
- An event that leaves a feed (race deleted, withdrawn, cancelled, promoted or demoted, session
  removed) stays in that feed as STATUS:CANCELLED with the raised SEQUENCE for GRACE, then is dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from racecal import ics, readback
from racecal.diff import Change, diff_race
from racecal.documents import ATHLETE, LONG_TEXT, MAX_YEAR, MIN_YEAR, encode
from racecal.errors import PreviousBuildError, field_path
from racecal.feeds import EventDraft, PlacedEvent, calendar, event_bytes, event_key, render_race, uid_for
from racecal.index import PLAN_FILES
from racecal.model import FEEDS, SLUG_RE, Athlete, ChangeType, Feed, Plan, Race, Status, feeds_for
from racecal.readback import JsonReader
from racecal.settings import Settings

GRACE = timedelta(days=30)
MAX_CHANGES_KEPT = 500
MAX_SEQUENCE = 10_000  # Google needs a small integer; no race changes this often, a forged state might
MAX_TOMBSTONES_PER_FEED = 2_000  # minimal cancellations (< 1 KiB each): at most about 2 MiB per feed
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

    def plan(self, races: tuple[Race, ...] = ()) -> Plan:
        return Plan(self.athlete, self.season, races, self.source_path, self.timezone)

    @property
    def next_expiry(self) -> datetime | None:
        """When the first pending tombstone expires: the plan must be rebuilt then, even if unchanged."""
        starts = [since for r in self.races.values() for f in r.published.values() for since in f.values() if since is not None]
        return min(starts) + GRACE if starts else None

    @property
    def latest(self) -> datetime | None:
        stamps = [r.stamp for r in self.races.values()] + ([self.newest] if self.newest else [])
        return max(stamps, default=None)


@dataclass
class PlanOutput:
    feeds: dict[str, bytes]
    state: PlanState
    changes: list[Change]
    races: tuple[Race, ...]  # the races the site shows: the plan's own


@dataclass
class _Pending:
    """One race between deciding what each feed carries and rendering it."""

    race_id: str
    race: Race | None
    old: RaceState | None
    drafts: list[EventDraft]
    live: frozenset[Feed]
    fingerprint: str
    changed: bool
    seq: int
    stamp: datetime
    published: dict[str, dict[str, datetime | None]]


def _cap_tombstones(pending: list[_Pending]) -> None:
    """At most MAX_TOMBSTONES_PER_FEED cancellations per feed: beyond that the oldest go early, so a
    plan whose sessions are renamed day after day cannot grow its feeds past what the next build
    reads back (docs/history.md, "Tombstones")."""
    for feed in (f.value for f in FEEDS):
        cancelled = [(since, uid, p) for p in pending for uid, since in p.published.get(feed, {}).items() if since is not None]
        if len(cancelled) <= MAX_TOMBSTONES_PER_FEED:
            continue
        cancelled.sort(key=lambda c: (c[0], c[1]), reverse=True)  # newest first
        for _, uid, p in cancelled[MAX_TOMBSTONES_PER_FEED:]:
            del p.published[feed][uid]
            if not p.published[feed]:
                del p.published[feed]


def _deleted_fingerprint(plan: Plan) -> str:
    return hashlib.sha256(f"deleted|{plan.athlete.name}".encode()).hexdigest()[:32]


def _fingerprint(drafts: list[EventDraft], live: frozenset[str], plan: Plan) -> str:
    digest = hashlib.sha256()
    for d in drafts:
        digest.update(d.key.encode() + b"\0" + d.instants.encode() + b"\0")
        digest.update(d.body.encode())
    digest.update(("|" + ",".join(sorted(live)) + "|" + plan.timezone).encode())
    return digest.hexdigest()[:32]


def _tombstone_reason(race: Race | None, feed: str, session_removed: bool, migrated: bool) -> str:
    if race is None:
        return "Removed: this race is no longer in the plan."
    if session_removed:
        return "Removed: this session is no longer in the plan."
    if migrated:  # a UID of state format 1, replaced by this feed's own (docs/history.md, "Identity")
        return "Replaced: this event is now published under a new identity in this calendar."
    if race.status is Status.CONFIRMED and feed == "tentative":
        return "Now confirmed: this race has moved to the confirmed calendar."
    if race.status is Status.TENTATIVE and feed == "confirmed":
        return "No longer confirmed: this race is now in the tentative calendar."
    if race.status is Status.WITHDRAWN:
        return "Withdrawn" + (f": {race.reason}" if race.reason else ".")
    return "Cancelled" + (f": {race.reason}" if race.reason else ".")


def _tombstone_draft(plan: Plan, key: str, reason: str, candidates: list[Race]) -> EventDraft:
    """The cancelled form of the event ``key``: rendered from the first race that still has it (the
    current race, else the last published snapshot), else as the race's all-day span (an event removed
    from a snapshot that is no longer kept: the UID is what clients match on)."""
    for source in candidates:
        for draft in render_race(plan, source, reason):
            if draft.key == key:
                return draft
    fallback = replace(candidates[0], sessions=())
    return replace(render_race(plan, fallback, reason)[0], key=key)


def compile_plan(
    plan: Plan, previous: PlanState | None, build_time: datetime, now: datetime, settings: Settings, inputs: str,
    floors: dict[str, int] | None = None, removed: bool = False,
) -> PlanOutput:  # fmt: skip
    """Feeds, new state and typed changes for one plan, given what was published before.

    ``build_time`` stamps what changed; ``now`` (publication time) starts and expires tombstones.
    ``floors`` are SEQUENCE floors known from elsewhere (a retired plan's, from the site index).
    """
    old_races = previous.races if previous else {}
    floors = {**(floors or {}), **(previous.floors if previous else {})}
    current = {race.id: race for race in plan.races}
    order = [*current, *(rid for rid in old_races if rid not in current)]
    placed: dict[str, list[PlacedEvent]] = {feed.value: [] for feed in FEEDS}
    states: dict[str, RaceState] = {}
    changes: list[Change] = []
    if previous:
        changes += _plan_changes(previous, plan)

    pending: list[_Pending] = []
    for race_id in order:
        race = current.get(race_id)
        old = old_races.get(race_id)
        drafts = render_race(plan, race) if race else []
        live = feeds_for(race.status) if race else frozenset()
        # A deleted race's only events are its cancellations, which name the athlete: renaming the
        # athlete changes them, so it must raise their SEQUENCE too.
        fingerprint = _fingerprint(drafts, live, plan) if race else _deleted_fingerprint(plan)
        changed = old is None or old.fingerprint != fingerprint
        # A race id seen before and forgotten continues above the SEQUENCE it had: clients that
        # honour SEQUENCE would otherwise keep the old cancellation.
        first_seq = floors[race_id] + 1 if race_id in floors else 0
        seq = first_seq if old is None else old.seq + int(changed)
        if seq > MAX_SEQUENCE:
            raise PreviousBuildError(
                f"{plan.id}: race {race_id}: SEQUENCE would exceed {MAX_SEQUENCE}, more than any calendar client expects; "
                "give the race a new id (its old events are cancelled) or, to start every SEQUENCE over, build with --fresh"
            )
        published: dict[str, dict[str, datetime | None]] = {}
        for feed in (f.value for f in FEEDS):
            entries: dict[str, datetime | None] = {uid_for(plan.id, race_id, d.key, feed): None for d in drafts} if feed in live else {}
            for uid, since in (old.published.get(feed, {}) if old else {}).items():
                if uid not in entries:
                    start = since or now
                    if now - start < GRACE:
                        entries[uid] = start
            if entries:
                published[feed] = entries
        stamp = build_time if changed or old is None else old.stamp
        pending.append(_Pending(race_id, race, old, drafts, live, fingerprint, changed, seq, stamp, published))

    _cap_tombstones(pending)

    for p in pending:
        race, old, race_id = p.race, p.old, p.race_id
        if race is None and not p.published:
            assert old is not None
            floors[race_id] = old.seq  # deleted long enough ago: forgotten, but not its SEQUENCE
            continue
        floors.pop(race_id, None)
        old_race = old.snapshot if old else None

        live_drafts = {d.key: d for d in p.drafts}
        for feed, entries in p.published.items():
            for uid, since in entries.items():
                key = event_key(uid, plan.id, race_id, feed)
                assert key is not None, "published UIDs are validated when the state is read"
                if since is None:
                    draft = live_drafts[key]
                else:
                    reason = _tombstone_reason(race, feed, session_removed=key not in live_drafts, migrated=feed in p.live)
                    draft = _tombstone_draft(plan, key, reason, [r for r in (race, old_race) if r is not None])
                placed[feed].append(PlacedEvent((draft.sort_key[0], uid), draft.tzid, draft.year, event_bytes(draft, uid, p.seq, p.stamp)))

        was_live = old is not None and not old.deleted
        snapshot = race or old_race
        assert snapshot is not None, "a pending race is in the plan or was published"
        if p.changed:
            changes += diff_race(plan.id, old_race if was_live else None, race)
        states[race_id] = RaceState(
            seq=p.seq,
            stamp=p.stamp,
            fingerprint=p.fingerprint,
            snapshot=snapshot,
            published=p.published,
            deleted=race is None,
        )

    # The empty-feed journal's DTSTAMP is the newest stamp the plan ever had, so it never goes back
    # when a race is forgotten; a plan that never had a race dates it from the start of its season.
    newest = max([r.stamp for r in states.values()] + ([previous.latest] if previous and previous.latest else []), default=None)
    latest = newest or datetime(plan.season, 1, 1, tzinfo=UTC)
    feeds = {feed: calendar(plan, feed, placed[feed], settings, latest, removed) for feed in placed}
    stamp_text = ics.format_utc(build_time)
    history = (previous.changes if previous else []) + [{"build": stamp_text, **c.to_dict()} for c in changes]
    state = PlanState(
        plan_id=plan.id,
        athlete=plan.athlete,
        season=plan.season,
        timezone=plan.timezone,
        source_path=plan.source_path,
        inputs=inputs,
        races=states,
        changes=history[-MAX_CHANGES_KEPT:],
        floors=dict(sorted(floors.items())),
        removed=removed,
        newest=newest,
    )
    return PlanOutput(feeds, state, changes, plan.races)


def _plan_changes(previous: PlanState, plan: Plan) -> list[Change]:
    out = []
    for key, old, new in (
        ("athlete.name", previous.athlete.name, plan.athlete.name),
        ("athlete.country", previous.athlete.country, plan.athlete.country),
        ("timezone", previous.timezone, plan.timezone),
    ):
        if old != new:
            out.append(Change(plan.id, None, plan.title, "edited", f"{plan.title}: {key} changed", FEEDS, key, old, new))
    return out


# --- state.json ------------------------------------------------------------------------------------


def _time_text(value: datetime | None) -> str | None:
    return ics.format_utc(value) if value else None


def state_to_json(state: PlanState) -> bytes:
    data = {
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
        "races": {
            rid: {
                "seq": r.seq,
                "stamp": _time_text(r.stamp),
                "fingerprint": r.fingerprint,
                "deleted": r.deleted,
                "snapshot": encode(r.snapshot),
                "published": {f: {uid: _time_text(s) for uid, s in e.items()} for f, e in r.published.items()},
            }
            for rid, r in state.races.items()
        },
        "changes": state.changes,
    }
    if data["athlete"]["country"] is None:  # type: ignore[index]
        del data["athlete"]["country"]  # type: ignore[attr-defined]
    # Compact separators keep json on its C encoder: indent= falls back to pure Python, 10× slower.
    return (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


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
_FINGERPRINT = re.compile(r"^([0-9a-f]{32}|deleted)$")  # "deleted": state written by racecal 0.1
_SOURCE_PATH = re.compile(r"^(?!/)(?!.*(?:^|/)\.\.(?:/|$))[^\x00-\x1f\\]{1,400}$")


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


MAX_SUMMARY = 64 * 1024  # a summary lists a race's sessions: 50 names of up to 200 characters, and more
CHANGE_KEYS = ("build", "plan", "race", "name", "type", "summary", "feeds", "field", "old", "new")


def change_record(r: JsonReader, value: Node, name: str) -> dict[str, Any] | None:
    """One entry of the change history as changes.json, the Atom feed and the page show it."""
    fields = r.mapping(value, name, CHANGE_KEYS, required=("build", "plan", "name", "type", "summary", "feeds"))
    if fields is None:
        return None
    before = len(r.problems)
    out: dict[str, Any] = {}
    if "build" in fields and (stamp := r.stamp(fields["build"], field_path(name, "build"))):
        out["build"] = ics.format_utc(stamp)
    out["plan"] = r.slug(fields["plan"], field_path(name, "plan")) if "plan" in fields else None
    race = fields.get("race")
    out["race"] = None if race is None or race.tag.endswith(":null") else r.slug(race, field_path(name, "race"))
    out["name"] = r.text(fields["name"], field_path(name, "name")) if "name" in fields else None
    kind = r.text(fields["type"], field_path(name, "type"), limit=20) if "type" in fields else None
    if kind is not None and kind not in tuple(ChangeType):
        r.error(fields["type"], field_path(name, "type"), f"unknown change type {kind!r}")
    out["type"] = kind
    out["summary"] = (
        r.text(fields["summary"], field_path(name, "summary"), multiline=True, limit=MAX_SUMMARY) if "summary" in fields else None
    )
    feeds = (
        [f for f in (r.text(item, sub, limit=20) for sub, item in r.items(fields["feeds"], field_path(name, "feeds"), 3)) if f]
        if "feeds" in fields
        else []
    )
    if any(f not in FEEDS for f in feeds):
        r.error(fields["feeds"], field_path(name, "feeds"), f"expected some of {', '.join(FEEDS)}")
    out["feeds"] = feeds
    if "field" in fields:
        out["field"] = r.text(fields["field"], field_path(name, "field"), limit=64)
        for key in ("old", "new"):
            out[key] = _plain_value(r, fields[key], field_path(name, key)) if key in fields else None
    if len(r.problems) > before:
        return None
    return out


def _plain_value(r: JsonReader, value: Node, name: str, depth: int = 0) -> Any:
    """An old/new value of a change: JSON whose every text passes the plan's text checks."""
    if depth > 4:
        r.error(value, name, "nesting is too deep")
        return None
    if isinstance(value, MappingNode):
        return {k.value: _plain_value(r, v, field_path(name, k.value), depth + 1) for k, v in value.value}
    if isinstance(value, SequenceNode):
        return [_plain_value(r, v, f"{name}[{i}]", depth + 1) for i, v in enumerate(value.value)]
    tag = value.tag.rsplit(":", 1)[-1]
    if tag == "null":
        return None
    if tag == "bool":
        return value.value == "true"
    if tag == "int":
        return r.integer(value, name, -(10**9), 10**9)
    if tag == "float":
        return r.number(value, name, -1e9, 1e9)
    return r.text(value, name, multiline=True, limit=LONG_TEXT) if value.value.strip() else value.value
