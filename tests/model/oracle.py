"""An independent model of what every subscriber must see, from the YAML plans and docs/history.md alone.

Nothing here imports racecal: the plans are read with ``yaml.safe_load``, a race is resolved against
the meet catalogue as README.md's "plan format" says, and the history rules are docs/history.md's:

- feeds: confirmed → confirmed + all; tentative → tentative + all; withdrawn/cancelled → all only,
  as STATUS:CANCELLED for as long as the race is in the plan;
- one UID per event per feed: ``<race>[.<session>].<plan>.<feed>@racecal``;
- one SEQUENCE per race (0 when first created, RFC 5545 3.8.7.4), +1 on any visible change or change
  of the feeds carrying it live, never back for a race id (floors outlive forgotten races);
- DTSTAMP = LAST-MODIFIED = time of the build that last changed the race;
- an event that leaves a feed stays as a "Removed:" tombstone for 30 days of publication time,
  counted from the build that first published it, dropped by the first build 30+ days later;
- a feed with no events carries one VJOURNAL ``empty.<plan>.<feed>@racecal``; a deleted plan's feeds
  stay, and once empty their name says "(removed)".

Build time and publication time are both the ``--time`` the test passes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

FEEDS = ("all", "confirmed", "tentative")
GRACE = timedelta(days=30)
LIVE_STATUS = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "withdrawn": "CANCELLED", "cancelled": "CANCELLED"}


def feeds_carrying(status: str) -> frozenset[str]:
    """docs/history.md, "What each feed carries"."""
    if status == "confirmed":
        return frozenset({"all", "confirmed"})
    if status == "tentative":
        return frozenset({"all", "tentative"})
    return frozenset({"all"})


def uid(plan_id: str, race_id: str, session_id: str | None, feed: str) -> str:
    head = f"{race_id}.{session_id}" if session_id else race_id
    return f"{head}.{plan_id}.{feed}@racecal"


def empty_uid(plan_id: str, feed: str) -> str:
    return f"empty.{plan_id}.{feed}@racecal"


# --- the plans as written ----------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    """Hashable, order-preserving form of what YAML gave (so equal content compares equal)."""
    if isinstance(value, dict):
        return tuple(sorted((str(k), _freeze(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True)
class Session:
    id: str
    name: str
    day: date
    start: time
    minutes: int


@dataclass(frozen=True)
class Race:
    """A race with everything its meet gives resolved (README: the race may write or override any of it)."""

    id: str
    name: str
    start: date
    end: date  # inclusive
    status: str
    timezone: str | None
    reason: str | None
    sessions: tuple[Session, ...]
    visible: Any  # everything a subscriber can see, frozen: equal iff nothing visible changed

    def events(self, plan_id: str, feed: str) -> dict[str, Expected]:
        """The events this race puts in one feed, as the docs describe them (live or cancelled)."""
        if feed not in feeds_carrying(self.status):
            return {}
        status = LIVE_STATUS[self.status]
        kind = "cancelled" if status == "CANCELLED" else "live"  # all.ics keeps withdrawn races, cancelled
        if not self.sessions:
            key = uid(plan_id, self.id, None, feed)
            return {key: Expected(key, self.id, None, status, kind, self.name, None, self.start, self.end + timedelta(days=1), self.reason)}
        out = {}
        assert self.timezone
        zone = ZoneInfo(self.timezone)
        for s in self.sessions:
            key = uid(plan_id, self.id, s.id, feed)
            # The local time at the venue, as an instant; the end is elapsed time, whatever the clocks do.
            begin = datetime.combine(s.day, s.start, tzinfo=zone).astimezone(UTC)
            out[key] = Expected(
                key, self.id, s.id, status, kind, self.name, s.name, begin, begin + timedelta(minutes=s.minutes), self.reason
            )
        return out


@dataclass(frozen=True)
class PlanInput:
    id: str
    athlete: str
    races: dict[str, Race]
    timezone: str = ""  # the plan's display zone: every feed's header says it, no event does


def _span(fields: dict[str, Any]) -> tuple[date, date] | None:
    if "date" in fields:
        return fields["date"], fields["date"]
    if "start" in fields:
        return fields["start"], fields.get("end", fields["start"])
    return None


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def read_project(schedules: Path) -> dict[str, PlanInput]:
    meets: dict[str, dict[str, Any]] = {}
    for path in sorted((schedules / "meets").glob("*.yaml")):
        for meet in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("meets", []):
            meets[meet["id"]] = meet
    plans = {}
    for path in sorted(schedules.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        plan_id = f"{doc['athlete']['slug']}-{doc['season']}"
        athlete = doc["athlete"]["name"]
        shared = doc.get("sources", {})
        races = {}
        for raw in doc["races"]:
            meet = meets.get(raw.get("meet", ""), {})
            merged = {k: v for k, v in meet.items() if k not in ("id", "date", "start", "end")}
            merged.update({k: v for k, v in raw.items() if k not in ("date", "start", "end", "meet")})
            span = _span(raw) or _span(meet)
            assert span, raw
            sessions = tuple(
                Session(s.get("id") or s["name"], s["name"], s["date"], _clock(s["time"]), s.get("duration_minutes", 60))
                for s in raw.get("sessions", [])
            )
            sources = tuple(shared[s] if isinstance(s, str) else s for s in raw.get("sources", []))
            shown = {k: v for k, v in merged.items() if k not in ("timezone", "sources", "sessions")}
            visible = _freeze(
                {
                    "athlete": athlete,
                    "fields": shown,
                    "span": span,
                    "sources": list(sources),
                    "sessions": [vars(s) for s in sessions],
                    # A zone is visible only through timed events (TZID, instants).
                    "timezone": merged.get("timezone") if sessions else None,
                }
            )
            races[raw["id"]] = Race(
                raw["id"], merged["name"], span[0], span[1], raw["status"], merged.get("timezone"), raw.get("reason"), sessions, visible
            )
        plans[plan_id] = PlanInput(plan_id, athlete, races, doc.get("timezone", ""))
    return plans


# --- what subscribers must see -----------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    uid: str
    race: str
    session: str | None
    status: str  # CONFIRMED, TENTATIVE, CANCELLED
    kind: str  # live, cancelled (a withdrawn or cancelled race in all.ics), tombstone
    race_name: str
    session_name: str | None
    start: date | datetime | None  # datetimes are UTC instants; None for tombstones (not specified)
    end: date | datetime | None
    reason: str | None
    seq: int = 0
    stamp: datetime | None = None


@dataclass(frozen=True)
class FeedView:
    plan: str
    feed: str
    events: dict[str, Expected]
    present: bool  # the plan file is there: the name must not say "(removed)"
    removed: bool  # a deleted plan whose feeds are empty: the name must say "(removed)" (in between: either)
    digest: Any  # equal between two builds ⇒ the feed's bytes must be identical
    retired: bool = False  # listed under retired: and carrying nothing any more: the feed must be gone

    @property
    def journal(self) -> bool:
        return not self.events


def _expires_now(memory: RaceMemory, at: datetime) -> bool:
    """Every event of a race no longer in its plan is a tombstone whose grace period is over at ``at``."""
    return all(since is not None and at - since >= GRACE for entries in memory.feeds.values() for since in entries.values())


def _deleted(visible: Any) -> bool:
    return isinstance(visible, tuple) and len(visible) == 2 and visible[0] == "deleted"


@dataclass
class RaceMemory:
    seq: int
    stamp: datetime
    visible: Any  # ("deleted", athlete) once deleted
    race: Race  # the last version published (a deleted race's tombstones are of it)
    feeds: dict[str, dict[str, datetime | None]]  # feed → uid → None (in the feed) or tombstone since


@dataclass
class PlanMemory:
    athlete: str
    timezone: str = ""
    present: bool = True
    races: dict[str, RaceMemory] = field(default_factory=dict)
    floors: dict[str, int] = field(default_factory=dict)
    changed: datetime | None = None  # the plan's latest build time: an empty feed's VJOURNAL carries it
    retired: bool = False  # no longer published (docs/history.md, "Deleted and retired plans")


class Oracle:
    """Feed contents after each build, given the plans on disk at that build and its --time."""

    def __init__(self) -> None:
        self.plans: dict[str, PlanMemory] = {}

    def build(self, schedules: Path, at: datetime, retired: frozenset[str] = frozenset()) -> dict[tuple[str, str], FeedView]:
        return self.build_from(read_project(schedules), at, retired)

    def build_from(
        self, inputs: dict[str, PlanInput], at: datetime, retired: frozenset[str] = frozenset()
    ) -> dict[tuple[str, str], FeedView]:
        for plan_id, plan in inputs.items():
            memory = self.plans.setdefault(plan_id, PlanMemory(plan.athlete))
            memory.athlete, memory.present, memory.retired = plan.athlete, True, False
            if plan.timezone:  # a removed plan's feeds keep the zone they had
                memory.timezone = plan.timezone
            self._plan(memory, plan_id, plan.races, at)
        for plan_id, memory in self.plans.items():
            if plan_id not in inputs:
                memory.present = False
                self._plan(memory, plan_id, {}, at)
                # Retired on purpose, its files go once its feeds carry nothing, not even a cancellation:
                # a race still cancelling is published until its grace period is over.
                memory.retired = plan_id in retired and not memory.races
        return self.views()

    def _plan(self, memory: PlanMemory, plan_id: str, races: dict[str, Race], at: datetime) -> None:
        for race_id in [*races, *(r for r in memory.races if r not in races)]:
            race = races.get(race_id)
            old = memory.races.get(race_id)
            # A deleted race's cancellations still name the athlete ("Removed: <athlete> – <race>"), so
            # renaming the athlete is a visible change to them too (docs/history.md: any visible change).
            visible = race.visible if race else ("deleted", memory.athlete)
            if old is None:
                assert race is not None
                seq = memory.floors.pop(race_id) + 1 if race_id in memory.floors else 0
                old = RaceMemory(seq, at, visible, race, {feed: {} for feed in FEEDS})
                memory.races[race_id] = old
                memory.changed = at
            elif old.visible != visible:
                # A deleted race whose last cancellations leave the feeds in this very build is
                # forgotten at the SEQUENCE subscribers last saw: its change was never published.
                if race is not None or not _expires_now(old, at):
                    old.seq, old.stamp = old.seq + 1, at
                old.visible = visible
                memory.changed = at
            if race is not None:
                old.race = race
            for feed in FEEDS:
                wanted = race.events(plan_id, feed) if race else {}
                entries = old.feeds[feed]
                for key in list(entries):
                    if key in wanted:
                        continue
                    since = entries[key] if entries[key] is not None else at
                    if at - since >= GRACE:
                        del entries[key]
                    else:
                        entries[key] = since
                for key in wanted:
                    entries[key] = None
            if race is None and not any(old.feeds.values()):
                memory.floors[race_id] = old.seq  # forgotten, but SEQUENCE never goes back for it
                del memory.races[race_id]

    def views(self) -> dict[tuple[str, str], FeedView]:
        out = {}
        for plan_id, memory in self.plans.items():
            for feed in FEEDS:
                events: dict[str, Expected] = {}
                for race_id, mem in memory.races.items():
                    shapes = {}
                    for full in FEEDS:  # a tombstone's shape: the event as last carried in any feed
                        shapes.update({k.rsplit(".", 2)[0]: e for k, e in mem.race.events(plan_id, full).items()})
                    current = mem.race.events(plan_id, feed) if not _deleted(mem.visible) else {}
                    for key, since in mem.feeds[feed].items():
                        if since is None:
                            base = current[key]
                        else:
                            stem = key.rsplit(".", 2)[0]
                            session = stem[len(race_id) + 1 :] or None if stem.startswith(race_id) else None
                            known = shapes.get(stem)
                            base = Expected(
                                key,
                                race_id,
                                session,
                                "CANCELLED",
                                "tombstone",
                                mem.race.name,
                                known.session_name if known else None,
                                None,
                                None,
                                None,
                            )
                        events[key] = Expected(**{**vars(base), "seq": mem.seq, "stamp": mem.stamp})
                removed = not memory.present and not events
                digest = (
                    memory.athlete,
                    memory.timezone,  # X-WR-TIMEZONE
                    memory.present,
                    removed,
                    memory.retired,  # gone: no bytes at all
                    # An empty feed's journal carries "the plan's latest build time"; the docs leave open
                    # whether forgetting an expired race moves it, so an empty feed claims less.
                    (memory.changed, sorted((r, m.seq, m.stamp) for r, m in memory.races.items())) if not events else None,
                    sorted((k, e.seq, e.stamp, e.kind, memory.races[e.race].visible) for k, e in events.items()),
                )
                out[plan_id, feed] = FeedView(plan_id, feed, events, memory.present, removed, copy.deepcopy(digest), memory.retired)
        return out
