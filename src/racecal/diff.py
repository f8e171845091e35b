"""Previous race → new race: a list of typed changes. Pure.

The JSON form of a change (``Change.to_dict``, read back by ``change_record``) is a documented,
stable interface (docs/changes.md):
``racecal diff --format json`` prints it and ``dist/<plan>/changes.json`` keeps it. ``old`` and
``new`` are machine-readable values (ISO dates and times, status names, venue fields); ``summary`` is
the same change in words for a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from racecal import ics
from racecal.documents import LONG_TEXT, encode
from racecal.errors import field_path
from racecal.model import FEEDS, ChangeType, Race, Status, feeds_for
from racecal.readback import JsonReader
from racecal.words import day_words, short_day, short_span, span_words

# Every change type, in the order a person wants to read them.
TYPES = tuple(ChangeType)

_WHEN_FIELDS = ("start", "end", "sessions")
_VENUE_FIELDS = ("venue", "timezone")
_STATUS_FIELDS = ("status",)


@dataclass(frozen=True, slots=True)
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


def _when(race: Race, with_year: bool = False) -> str:
    text = span_words(race.start, race.end) if with_year else short_span(race.start, race.end)
    if race.sessions:
        day = day_words if with_year else short_day
        text += " (" + ", ".join(f"{s.name} {day(s.day)} {s.start:%H:%M}" for s in race.sessions) + ")"
    return text


def _moved(old: Race, new: Race) -> str:
    """Where a race moved from and to, with the years when it changes year or the days alone read
    the same."""
    before, after = _when(old), _when(new)
    if before == after or old.start.year != new.start.year:
        before, after = _when(old, with_year=True), _when(new, with_year=True)
    return f"{new.name} moved from {before} to {after}"


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


def diff_race(plan_id: str, old: Race | None, new: Race | None, view: str = "") -> list[Change]:
    """What changed for one race id. ``old`` is None for a new race, ``new`` None for a deleted one.
    ``view``: set for a group's, meet's or series' calendar, which a race also leaves when its
    athlete leaves the group (docs/groups.md)."""
    if old is None and new is None:
        return []
    if old is None:
        assert new is not None
        feeds = tuple(sorted(feeds_for(new.status)))
        return [Change(plan_id, new.id, new.name, "added", f"{new.name}, {_when(new)}: added ({new.status.value})", feeds)]
    if new is None:
        feeds = tuple(sorted(feeds_for(old.status)))
        gone = "no longer in this calendar" if view else "removed from the plan"
        return [Change(plan_id, old.id, old.name, "removed", f"{old.name}, {_when(old)}: {gone}", feeds)]

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
                _moved(old, new),
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


# --- change records read back (changes.json, state.json) ---------------------------------------


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
