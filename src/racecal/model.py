"""The plan model: immutable values, no I/O.

A race snapshot (``race_to_dict``) is what the published state remembers of a race, so a later build
can diff against it and still publish a cancellation for a race that was deleted from the plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from enum import StrEnum
from typing import Any

# Ids of athletes, plans, races, sessions and meets: they become file names and parts of UIDs.
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class Status(StrEnum):
    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"

    @property
    def is_live(self) -> bool:
        return self in (Status.CONFIRMED, Status.TENTATIVE)


@dataclass(frozen=True, slots=True)
class Venue:
    name: str | None
    city: str | None
    country: str | None
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


@dataclass(frozen=True, slots=True)
class Plan:
    athlete: Athlete
    season: int
    races: tuple[Race, ...]
    source_path: str = ""
    timezone: str = "UTC"  # the calendar's display timezone (X-WR-TIMEZONE)

    @property
    def id(self) -> str:
        return f"{self.athlete.slug}-{self.season}"

    @property
    def title(self) -> str:
        return f"{self.athlete.name} {self.season}"


# --- snapshots: the JSON form kept in the published state -----------------------------------------


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, [], ())}


def race_to_dict(race: Race) -> dict[str, Any]:
    return _drop_none(
        {
            "id": race.id,
            "name": race.name,
            "start": race.start.isoformat(),
            "end": race.end.isoformat(),
            "status": race.status.value,
            "meet_id": race.meet_id,
            "series": race.series,
            "venue": _drop_none(
                {
                    "name": race.venue.name,
                    "city": race.venue.city,
                    "country": race.venue.country,
                    "lat": race.venue.lat,
                    "lon": race.venue.lon,
                }
            )
            if race.venue
            else None,
            "timezone": race.timezone,
            "disciplines": list(race.disciplines),
            "reason": race.reason,
            "note": race.note,
            "url": race.url,
            "sources": [
                _drop_none(
                    {
                        "outlet": s.outlet,
                        "title": s.title,
                        "url": s.url,
                        "published": s.published.isoformat() if s.published else None,
                        "quote": s.quote,
                    }
                )
                for s in race.sources
            ],
            "result": _drop_none(
                {"place": race.result.place, "time": race.result.time, "note": race.result.note}
            )
            if race.result
            else None,
            "sessions": [
                {
                    "id": s.id,
                    "name": s.name,
                    "day": s.day.isoformat(),
                    "start": s.start.strftime("%H:%M"),
                    "duration_minutes": s.duration_minutes,
                }
                for s in race.sessions
            ],
        }
    )


def race_from_dict(d: dict[str, Any]) -> Race:
    """Inverse of ``race_to_dict``; raises KeyError/ValueError/TypeError on malformed input."""
    venue = d.get("venue")
    result = d.get("result")
    return Race(
        id=str(d["id"]),
        name=str(d["name"]),
        start=date.fromisoformat(d["start"]),
        end=date.fromisoformat(d["end"]),
        status=Status(d["status"]),
        meet_id=d.get("meet_id"),
        series=d.get("series"),
        venue=Venue(
            name=venue.get("name"),
            city=venue.get("city"),
            country=venue.get("country"),
            lat=venue.get("lat"),
            lon=venue.get("lon"),
        )
        if venue
        else None,
        timezone=d.get("timezone"),
        disciplines=tuple(str(x) for x in d.get("disciplines", ())),
        reason=d.get("reason"),
        note=d.get("note"),
        url=d.get("url"),
        sources=tuple(
            Source(
                outlet=str(s["outlet"]),
                title=s.get("title"),
                url=s.get("url"),
                published=date.fromisoformat(s["published"]) if s.get("published") else None,
                quote=s.get("quote"),
            )
            for s in d.get("sources", ())
        ),
        result=Result(place=result.get("place"), time=result.get("time"), note=result.get("note"))
        if result
        else None,
        sessions=tuple(
            Session(
                id=str(s["id"]),
                name=str(s["name"]),
                day=date.fromisoformat(s["day"]),
                start=time.fromisoformat(s["start"]),
                duration_minutes=int(s["duration_minutes"]),
            )
            for s in d.get("sessions", ())
        ),
    )
