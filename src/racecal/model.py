"""The plan model: immutable values, no I/O. ``documents.py`` declares how they are written."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum

# Ids of athletes, plans, races, sessions and meets: they become file names and parts of UIDs.
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\Z")


class Status(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"

    @property
    def is_live(self) -> bool:
        return self in (Status.CONFIRMED, Status.TENTATIVE)


class Feed(StrEnum):
    """The three calendars of a plan. A race is live in its track (confirmed or tentative) and in all."""

    ALL = "all"
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"


FEEDS = tuple(Feed)


def feeds_for(status: Status) -> frozenset[Feed]:
    """The feeds in which a race with this status is published (withdrawn and cancelled ones in
    ``all`` only, as STATUS:CANCELLED)."""
    if status is Status.CONFIRMED:
        return frozenset({Feed.ALL, Feed.CONFIRMED})
    if status is Status.TENTATIVE:
        return frozenset({Feed.ALL, Feed.TENTATIVE})
    return frozenset({Feed.ALL})


class ChangeType(StrEnum):
    """What happened to a race between two builds, in the order a person wants to read them."""

    ADDED = "added"
    REMOVED = "removed"
    PROMOTED = "promoted"
    DEMOTED = "demoted"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"
    REINSTATED = "reinstated"
    MOVED = "moved"
    VENUE = "venue"
    EDITED = "edited"
    RETIRED = "retired"  # a whole calendar: listed under retired: and no longer published


@dataclass(frozen=True, slots=True)
class Venue:
    name: str | None = None
    city: str | None = None
    country: str | None = None
    lat: float | None = None
    lon: float | None = None

    def label(self) -> str:
        return ", ".join(part for part in (self.name, self.city, self.country) if part)


@dataclass(frozen=True, slots=True)
class Source:
    outlet: str
    title: str | None = None
    url: str | None = None
    published: date | None = None
    quote: str | None = None


@dataclass(frozen=True, slots=True)
class Result:
    place: int | None = None
    time: str | None = None
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Session:
    """A timed part of a race (a heat, a final), in the race's local timezone."""

    id: str
    name: str
    day: date
    start: time
    duration_minutes: int


@dataclass(frozen=True, slots=True)
class Race:
    id: str
    name: str
    start: date
    end: date  # inclusive: the last day of competition
    status: Status
    meet_id: str | None = None
    series: str | None = None
    venue: Venue | None = None
    timezone: str | None = None
    disciplines: tuple[str, ...] = ()
    reason: str | None = None
    note: str | None = None
    url: str | None = None
    sources: tuple[Source, ...] = ()
    result: Result | None = None
    sessions: tuple[Session, ...] = ()


@dataclass(frozen=True, slots=True)
class Meet:
    """An entry of the shared meet catalogue; races reference it by id and may override any field."""

    id: str
    name: str
    start: date
    end: date
    timezone: str
    series: str | None = None
    venue: Venue | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Athlete:
    name: str
    slug: str
    country: str | None = None
    disciplines: tuple[str, ...] = ()


def plan_id(slug: str, season: int) -> str:
    """What a plan is known by: its athlete and season (file names, UIDs, the site's paths)."""
    return f"{slug}-{season}"


@dataclass(frozen=True, slots=True)
class Plan:
    athlete: Athlete
    season: int
    races: tuple[Race, ...]
    source_path: str = ""
    timezone: str = "UTC"  # the calendar's display timezone (X-WR-TIMEZONE)
    view: str = ""  # "group" or "meet": a calendar across athletes, its races named after them (groups.py)

    @property
    def id(self) -> str:
        return plan_id(self.athlete.slug, self.season)

    @property
    def title(self) -> str:
        return f"{self.athlete.name} {self.season}"


@dataclass(frozen=True, slots=True)
class Group:
    """A view across athletes defined in the settings (docs/groups.md): its athletes by slug, plus
    every athlete whose plan matches all of its selectors. Each season it has members in is a
    calendar of its own, ``<id>-<season>``, like a plan."""

    id: str
    name: str
    athletes: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()  # selector: the plan's athlete.country is one of these
    disciplines: frozenset[str] = frozenset()  # selector: the plan's athlete has one of these
    timezone: str | None = None  # the calendars' display timezone (X-WR-TIMEZONE); by default UTC
    where: tuple[str, int, int, str] = ("", 1, 1, "groups")  # the id's file, line, column and field, for messages

    def includes(self, athlete: Athlete) -> bool:
        if athlete.slug in self.athletes:
            return True
        if not (self.countries or self.disciplines):
            return False
        if self.countries and _matchable(athlete.country or "") not in {_matchable(c) for c in self.countries}:
            return False
        wanted = {_matchable(d) for d in self.disciplines}
        return not wanted or any(_matchable(d) in wanted for d in athlete.disciplines)

    def fingerprint(self) -> str:
        """What its calendars depend on from the settings (not where it is written)."""
        parts = (self.id, self.name, sorted(self.athletes), sorted(self.countries), sorted(self.disciplines), self.timezone)
        return repr(parts)


def _matchable(text: str) -> str:
    """A country or discipline as a group selector compares it: regardless of case and of spaces
    around or doubled (``"  Nordvik "`` in a plan is Nordvik: an athlete must not drop out of a group
    over a space nobody sees)."""
    return " ".join(text.split()).casefold()
