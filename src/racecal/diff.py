"""Previous race → new race: a list of typed changes. Pure.

The JSON form of a change (``Change.to_dict``) is a documented, stable interface (docs/changes.md):
``racecal diff --format json`` prints it and ``dist/<plan>/changes.json`` keeps it. ``old`` and
``new`` are machine-readable values (ISO dates and times, status names, venue fields); ``summary`` is
the same change in words for a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from racecal.documents import encode
from racecal.model import ChangeType, Race, Status, feeds_for
from racecal.words import short_day, short_span

# Every change type, in the order a person wants to read them.
TYPES = tuple(ChangeType)

_WHEN_FIELDS = ("start", "end", "sessions")
_VENUE_FIELDS = ("venue", "timezone")
_STATUS_FIELDS = ("status",)


@dataclass(frozen=True)
class Change:
    plan: str
    race: str | None  # None for a change to the plan itself (the athlete's name, say)
    name: str
    type: str
    summary: str
    feeds: tuple[str, ...]
    field: str | None = None
    old: Any = None
    new: Any = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "plan": self.plan,
            "race": self.race,
            "name": self.name,
            "type": self.type,
            "summary": self.summary,
            "feeds": list(self.feeds),
        }
        if self.field is not None:
            out.update(field=self.field, old=self.old, new=self.new)
        return out


def _when(race: Race) -> str:
    text = short_span(race.start, race.end)
    if race.sessions:
        text += " (" + ", ".join(f"{s.name} {short_day(s.day)} {s.start:%H:%M}" for s in race.sessions) + ")"
    return text


def _venue(race: Race) -> str:
    label = race.venue.label() if race.venue else "no venue"
    return label + (f" ({race.timezone})" if race.timezone else "")


def when_value(race: Race) -> dict[str, Any]:
    """When a race is, for machines: ISO dates, and each session's local start with its zone."""
    value: dict[str, Any] = {"start": race.start.isoformat(), "end": race.end.isoformat()}
    if race.sessions:
        value["sessions"] = [
            {"id": s.id, "name": s.name, "start": f"{s.day.isoformat()}T{s.start:%H:%M}", "duration_minutes": s.duration_minutes}
            for s in race.sessions
        ]
        value["timezone"] = race.timezone
    return value


def venue_value(race: Race) -> dict[str, Any]:
    """Where a race is, for machines: the venue's fields and the IANA zone."""
    venue = race.venue
    fields = {"name": venue.name, "city": venue.city, "country": venue.country, "lat": venue.lat, "lon": venue.lon} if venue else {}
    return {**{k: v for k, v in fields.items() if v is not None}, "timezone": race.timezone}


def diff_race(plan_id: str, old: Race | None, new: Race | None) -> list[Change]:
    """What changed for one race id. ``old`` is None for a new race, ``new`` None for a deleted one."""
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        feeds = tuple(sorted(feeds_for(new.status)))
        return [Change(plan_id, new.id, new.name, "added", f"{new.name}, {_when(new)}: added ({new.status.value})", feeds)]
    if new is None:
        feeds = tuple(sorted(feeds_for(old.status)))
        return [Change(plan_id, old.id, old.name, "removed", f"{old.name}, {_when(old)}: removed from the plan", feeds)]

    feeds = tuple(sorted(feeds_for(old.status) | feeds_for(new.status)))
    changes: list[Change] = []
    label = f"{new.name}, {short_span(new.start, new.end)}"

    if old.status is not new.status:
        kind = _status_change(old.status, new.status)
        words = {
            "promoted": "confirmed",
            "demoted": "no longer confirmed, now tentative",
            "withdrawn": "withdrawn" + (f" ({new.reason})" if new.reason else ""),
            "cancelled": "cancelled" + (f" ({new.reason})" if new.reason else ""),
            "reinstated": f"back on, {new.status.value}",
        }[kind]
        changes.append(Change(plan_id, new.id, new.name, kind, f"{label}: {words}", feeds, "status", old.status.value, new.status.value))

    old_d, new_d = encode(old), encode(new)
    if any(old_d.get(k) != new_d.get(k) for k in _WHEN_FIELDS):
        changes.append(
            Change(
                plan_id,
                new.id,
                new.name,
                "moved",
                f"{new.name} moved from {_when(old)} to {_when(new)}",
                feeds,
                "when",
                when_value(old),
                when_value(new),
            )
        )
    if any(old_d.get(k) != new_d.get(k) for k in _VENUE_FIELDS):
        changes.append(
            Change(
                plan_id,
                new.id,
                new.name,
                "venue",
                f"{label}: venue changed from {_venue(old)} to {_venue(new)}",
                feeds,
                "venue",
                venue_value(old),
                venue_value(new),
            )
        )
    handled = {*_WHEN_FIELDS, *_VENUE_FIELDS, *_STATUS_FIELDS, "id"}
    for key in sorted((old_d.keys() | new_d.keys()) - handled):
        if old_d.get(key) != new_d.get(key):
            changes.append(
                Change(plan_id, new.id, new.name, "edited", f"{label}: {key} changed", feeds, key, old_d.get(key), new_d.get(key))
            )
    return changes


def _status_change(old: Status, new: Status) -> str:
    if old is Status.TENTATIVE and new is Status.CONFIRMED:
        return "promoted"
    if old is Status.CONFIRMED and new is Status.TENTATIVE:
        return "demoted"
    if new is Status.WITHDRAWN:
        return "withdrawn"
    if new is Status.CANCELLED:
        return "cancelled"
    return "reinstated"
