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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from racecal import ics
from racecal.diff import Change, diff_race
from racecal.errors import PreviousBuildError
from racecal.feeds import FEEDS, EventDraft, PlacedEvent, calendar, event_bytes, feeds_for, render_race
from racecal.model import Athlete, Plan, Race, Status, race_from_dict, race_to_dict
from racecal.settings import Settings

GRACE = timedelta(days=30)
MAX_CHANGES_KEPT = 500
STATE_FORMAT = 1


@dataclass
class RaceState:
    seq: int
    stamp: datetime
    fingerprint: str
    snapshot: dict[str, Any]
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

    def plan(self, races: tuple[Race, ...] = ()) -> Plan:
        return Plan(self.athlete, self.season, races, self.source_path, self.timezone)

    @property
    def pending_tombstones(self) -> bool:
        return any(since is not None for r in self.races.values() for f in r.published.values() for since in f.values())


@dataclass
class PlanOutput:
    feeds: dict[str, bytes]
    state: PlanState
    changes: list[Change]
    races: tuple[Race, ...]  # the races the site shows: the plan's own


def _fingerprint(drafts: list[EventDraft], live: frozenset[str], plan: Plan) -> str:
    digest = hashlib.sha256()
    for d in drafts:
        digest.update(d.uid.encode())
        digest.update(d.body.encode())
    digest.update(("|" + ",".join(sorted(live)) + "|" + plan.timezone).encode())
    return digest.hexdigest()[:32]


def _tombstone_reason(race: Race | None, feed: str, session_removed: bool) -> str:
    if race is None:
        return "Removed: this race is no longer in the plan."
    if session_removed:
        return "Removed: this session is no longer in the plan."
    if race.status is Status.CONFIRMED and feed == "tentative":
        return "Now confirmed: this race has moved to the confirmed calendar."
    if race.status is Status.TENTATIVE and feed == "confirmed":
        return "No longer confirmed: this race is now in the tentative calendar."
    if race.status is Status.WITHDRAWN:
        return "Withdrawn" + (f": {race.reason}" if race.reason else ".")
    return "Cancelled" + (f": {race.reason}" if race.reason else ".")


def compile_plan(plan: Plan, previous: PlanState | None, build_time: datetime, settings: Settings, inputs: str) -> PlanOutput:
    """Feeds, new state and typed changes for one plan, given what was published before."""
    old_races = previous.races if previous else {}
    current = {race.id: race for race in plan.races}
    order = [*current, *(rid for rid in old_races if rid not in current)]
    placed: dict[str, list[PlacedEvent]] = {feed: [] for feed in FEEDS}
    states: dict[str, RaceState] = {}
    changes: list[Change] = []
    if previous:
        changes += _plan_changes(previous, plan)

    for race_id in order:
        race = current.get(race_id)
        old = old_races.get(race_id)
        old_race = race_from_dict(old.snapshot) if old else None
        drafts = render_race(plan, race) if race else []
        live = feeds_for(race.status) if race else frozenset()
        fingerprint = _fingerprint(drafts, live, plan) if race else "deleted"
        changed = old is None or old.fingerprint != fingerprint
        seq = 0 if old is None else old.seq + int(changed)
        stamp = build_time if changed or old is None else old.stamp

        published: dict[str, dict[str, datetime | None]] = {}
        for feed in FEEDS:
            entries: dict[str, datetime | None] = dict.fromkeys(d.uid for d in drafts) if feed in live else {}
            for uid, since in (old.published.get(feed, {}) if old else {}).items():
                if uid not in entries:
                    start = since or build_time
                    if build_time - start < GRACE:
                        entries[uid] = start
            if entries:
                published[feed] = entries
        if race is None and not published:
            continue  # deleted long enough ago: forgotten

        live_drafts = {d.uid: d for d in drafts}
        tombstones: dict[tuple[str, str], EventDraft] = {}
        for feed, entries in published.items():
            for uid, since in entries.items():
                if since is None:
                    draft = live_drafts[uid]
                else:
                    key = (feed, uid)
                    if key not in tombstones:
                        source = race if race and uid in live_drafts else old_race
                        assert source is not None
                        reason = _tombstone_reason(race, feed, session_removed=race is not None and uid not in live_drafts)
                        for d in render_race(plan, source, reason):
                            tombstones[(feed, d.uid)] = d
                    draft = tombstones[key]
                placed[feed].append(PlacedEvent(draft.sort_key, draft.tzid, draft.year, event_bytes(draft, seq, stamp)))

        was_live = old is not None and not old.deleted
        if changed:
            changes += diff_race(plan.id, old_race if was_live else None, race)
        states[race_id] = RaceState(
            seq=seq,
            stamp=stamp,
            fingerprint=fingerprint,
            snapshot=race_to_dict(race) if race else (old.snapshot if old else {}),
            published=published,
            deleted=race is None,
        )

    feeds = {feed: calendar(plan, feed, placed[feed], settings) for feed in FEEDS}
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
        "races": {
            rid: {
                "seq": r.seq,
                "stamp": _time_text(r.stamp),
                "fingerprint": r.fingerprint,
                "deleted": r.deleted,
                "snapshot": r.snapshot,
                "published": {f: {uid: _time_text(s) for uid, s in e.items()} for f, e in r.published.items()},
            }
            for rid, r in state.races.items()
        },
        "changes": state.changes,
    }
    # Compact separators keep json on its C encoder: indent= falls back to pure Python, 10× slower.
    return (json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode("utf-8")


class _Field:
    """Reads untrusted JSON with messages that name the file and the field."""

    def __init__(self, where: str) -> None:
        self.where = where

    def get(self, obj: Any, key: str, kind: type | tuple[type, ...], path: str, optional: bool = False) -> Any:
        if not isinstance(obj, dict):
            raise PreviousBuildError(f"{self.where}: {path or 'document'}: expected an object")
        if key not in obj:
            if optional:
                return None
            raise PreviousBuildError(f"{self.where}: {path + '.' if path else ''}{key}: missing")
        value = obj[key]
        if value is None and optional:
            return None
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise PreviousBuildError(f"{self.where}: {path + '.' if path else ''}{key}: unexpected value {value!r:.60}")
        return value

    def time(self, value: Any, path: str) -> datetime:
        try:
            return datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except (TypeError, ValueError):
            raise PreviousBuildError(f"{self.where}: {path}: expected a UTC time like 20240305T120000Z, got {value!r:.60}") from None


def state_from_json(data: bytes, where: str) -> PlanState:
    """Parse a published state file; anything malformed is a PreviousBuildError naming the field."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PreviousBuildError(f"{where}: not valid JSON ({exc})") from None
    f = _Field(where)
    if f.get(raw, "format", int, "") != STATE_FORMAT:
        raise PreviousBuildError(f"{where}: format: this racecal reads format {STATE_FORMAT} only")
    athlete = f.get(raw, "athlete", dict, "")
    races: dict[str, RaceState] = {}
    for rid, r in f.get(raw, "races", dict, "").items():
        path = f"races.{rid}"
        published: dict[str, dict[str, datetime | None]] = {}
        for feed, entries in f.get(r, "published", dict, path).items():
            if feed not in FEEDS or not isinstance(entries, dict):
                raise PreviousBuildError(f"{where}: {path}.published.{feed}: unexpected entry")
            published[feed] = {
                uid: None if since is None else f.time(since, f"{path}.published.{feed}.{uid}") for uid, since in entries.items()
            }
        snapshot = f.get(r, "snapshot", dict, path)
        try:
            race_from_dict(snapshot)
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise PreviousBuildError(f"{where}: {path}.snapshot: malformed ({exc!r:.80})") from None
        seq = f.get(r, "seq", int, path)
        if not 0 <= seq < 1_000_000:
            raise PreviousBuildError(f"{where}: {path}.seq: out of range: {seq}")
        races[rid] = RaceState(
            seq=seq,
            stamp=f.time(f.get(r, "stamp", str, path), f"{path}.stamp"),
            fingerprint=f.get(r, "fingerprint", str, path),
            snapshot=snapshot,
            published=published,
            deleted=bool(f.get(r, "deleted", bool, path)),
        )
    changes = f.get(raw, "changes", list, "")
    if not all(isinstance(c, dict) for c in changes):
        raise PreviousBuildError(f"{where}: changes: expected a list of objects")
    files = f.get(raw, "files", dict, "")
    return PlanState(
        plan_id=f.get(raw, "plan", str, ""),
        athlete=Athlete(
            name=f.get(athlete, "name", str, "athlete"),
            slug=f.get(athlete, "slug", str, "athlete"),
            country=f.get(athlete, "country", str, "athlete", optional=True),
            disciplines=tuple(f.get(athlete, "disciplines", list, "athlete")),
        ),
        season=f.get(raw, "season", int, ""),
        timezone=f.get(raw, "timezone", str, ""),
        source_path=f.get(raw, "source", str, ""),
        inputs=f.get(raw, "inputs", str, ""),
        races=races,
        changes=changes,
        files={str(k): str(v) for k, v in files.items()},
    )
