"""An .ics calendar (another tool's, or racecal's own) → plan or meet-catalogue YAML for an editor to
review. Parsing real-world calendars is icalendar's home, so icalendar parses; racecal maps.

Mapping: each VEVENT is a race (``--as plan``) or a meet (``--as meets``). All-day events keep their
dates (DTEND is exclusive); a timed event becomes a one-session race in its own zone: a TZID that is
an IANA name is kept, any other (Outlook's "W. Europe Standard Time", a UTC or floating time) is
converted to the zone given with ``--timezone`` (default: the calendar's X-WR-TIMEZONE, else UTC).
Events of a racecal feed are recognised by their UIDs and grouped back into races with sessions, so
importing what racecal published and building it gives the same races. Ids are stable across
re-imports: a racecal race id, else a slug of the title and year (the UID's digest on a clash). A
recurring event is refused with a message; a plan race at a catalogue meet (same first day, similar
name) refers to the meet instead of repeating it.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import unicodedata
import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any

import yaml

from racecal.documents import MAX_YEAR, MIN_YEAR
from racecal.errors import Problem
from racecal.model import SLUG_RE, Meet

_RACECAL_UID = re.compile(
    r"^(?P<race>[a-z0-9]+(?:-[a-z0-9]+)*)(?:\.(?P<session>[a-z0-9]+(?:-[a-z0-9]+)*))?\.(?P<plan>[a-z0-9-]+)\.(?P<feed>all|confirmed|tentative)@racecal\Z"
)
_PREFIXES = ("Tentative: ", "Withdrawn: ", "Cancelled: ", "Removed: ")
_STATUS = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
MAX_EVENTS = 5000


@dataclass
class Imported:
    text: str  # YAML for review ("" when there are problems)
    problems: list[Problem] = field(default_factory=list)
    count: int = 0


@dataclass
class _Event:
    uid: str
    title: str
    start: date
    end: date  # inclusive
    status: str
    timezone: str | None = None
    time: clock | None = None
    minutes: int | None = None
    location: str | None = None
    geo: tuple[float, float] | None = None
    url: str | None = None
    race_id: str | None = None
    plan_id: str | None = None  # a racecal feed's: with the title's athlete, the plan comes back
    athlete: str | None = None
    session_id: str | None = None
    session_name: str | None = None


def import_calendar(
    data: bytes, where: str, *, kind: str, timezone: str | None, athlete: tuple[str, str] | None, meets: dict[str, Meet], season: int
) -> Imported:
    """``data`` (an .ics) as YAML of ``kind`` ("plan" or "meets"); every problem located to ``where``."""
    import icalendar  # only this command needs it

    try:
        calendar = icalendar.Calendar.from_ical(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return Imported("", [Problem(where, data.count(b"\n", 0, exc.start) + 1, 1, "calendar", "is not UTF-8 text")])
    except (ValueError, KeyError, IndexError) as exc:
        return Imported("", [Problem(where, 1, 1, "calendar", f"not a valid iCalendar file ({str(exc)[:120]})")])
    if calendar.name != "VCALENDAR":
        return Imported("", [Problem(where, 1, 1, "calendar", "not a VCALENDAR")])
    target = timezone or _iana(str(calendar.get("X-WR-TIMEZONE", ""))) or "UTC"
    problems: list[Problem] = []
    events: list[_Event] = []
    uids: dict[str, int] = {}
    for index, component in enumerate(calendar.walk("VEVENT")):
        if index >= MAX_EVENTS:
            problems.append(Problem(where, 1, 1, "calendar", f"more than {MAX_EVENTS} events; split the file"))
            break
        event = _event(component, index, target, where, problems)
        if event is not None:
            if "UID" in component and (first := uids.setdefault(event.uid, index)) != index:
                # Two events with one UID are one event to every client (a recurring one is refused above);
                # importing one would lose the other without a word.
                problems.append(Problem(where, 1, 1, f"events[{index}]", f"has the UID of events[{first}]; a calendar's UIDs are unique"))
                continue
            events.append(event)
    if problems:
        return Imported("", problems)
    document = _plan(events, athlete, meets, season) if kind == "plan" else _catalogue(events, meets, target)
    header = f"# Imported from {_one_line(where)} by racecal import: review it, then run racecal check.\n"
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return Imported(header + text, [], len(events))


class _Dumper(yaml.SafeDumper):
    """Writes a value seen twice (a race's date and its session's) twice: plans refuse YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _event(component: Any, index: int, target: str, where: str, problems: list[Problem]) -> _Event | None:
    uid = str(component.get("UID", "")) or f"event-{index}"
    name = f"events[{index}]"
    if "RRULE" in component or "RDATE" in component:
        problems.append(
            Problem(
                where,
                1,
                1,
                name,
                f"{_one_line(str(component.get('SUMMARY', uid)))!r} repeats (RRULE): racecal plans list each race; expand it in your calendar app first",
            )
        )
        return None
    if "DTSTART" not in component:
        problems.append(Problem(where, 1, 1, name, "has no DTSTART"))
        return None
    if twice := [key for key in _SINGLE if isinstance(component.get(key), list)]:
        problems.append(Problem(where, 1, 1, name, f"{twice[0]} is given more than once; an event has one"))
        return None
    title = _one_line(str(component.get("SUMMARY", ""))).strip() or "Untitled"
    if title.startswith("Removed: ") and _RACECAL_UID.match(uid):
        return None  # a racecal cancellation of a race deleted from its plan: not a race
    status = _STATUS.get(str(component.get("STATUS", "CONFIRMED")).upper(), "confirmed")
    if title.startswith("Withdrawn: "):
        status = "withdrawn"
    for prefix in _PREFIXES:
        title = title.removeprefix(prefix)
    try:
        start, end, duration = _times(component)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        problems.append(
            Problem(
                where,
                1,
                1,
                name,
                f"{_one_line(title)!r}: {exc if isinstance(exc, _TimesError) else 'its DTSTART, DTEND or DURATION cannot be read'}",
            )
        )
        return None
    day = start.date() if isinstance(start, datetime) else start
    event = _Event(uid, title, day, day, status)
    if isinstance(start, datetime):
        zone = _zone_of(component["DTSTART"], start, target)
        local = _in_zone(start, zone)
        stop = end if isinstance(end, datetime) else local + (duration or timedelta(hours=1))
        minutes = max(1, min(24 * 60, round((_in_zone(stop, zone) - local).total_seconds() / 60)))
        event.start = event.end = local.date()
        event.timezone, event.time, event.minutes = zone, local.time().replace(second=0, microsecond=0), minutes
    else:
        event.start = start
        last = (
            (end - timedelta(days=1))
            if isinstance(end, date) and end > start
            else start + ((duration or timedelta(days=1)) - timedelta(days=1))
        )
        event.end = max(start, last)
    event.location = _one_line(str(component.get("LOCATION", ""))).strip() or None
    if "GEO" in component:
        geo = component.decoded("GEO")  # (lat, lon) in icalendar 6+
        event.geo = (float(geo[0]), float(geo[1])) if isinstance(geo, tuple) and len(geo) == 2 else None
    url = str(component.get("URL", ""))
    event.url = url if url.startswith(("http://", "https://")) and not any(c.isspace() for c in url) else None
    if found := _RACECAL_UID.match(uid):
        event.race_id, event.session_id, event.plan_id = found["race"], found["session"], found["plan"]
        if found["session"] and ": " in title:
            title, event.session_name = title.rsplit(": ", 1)
        if " – " in title:  # "Athlete – Race"
            event.athlete, event.title = title.split(" – ", 1)
        else:
            event.title = title
    return event


_SINGLE = ("UID", "SUMMARY", "STATUS", "LOCATION", "URL", "GEO", "DTEND", "DURATION")  # at most once in a VEVENT (RFC 5545)


class _TimesError(ValueError):
    pass


def _times(component: Any) -> tuple[date, date | None, timedelta | None]:
    """DTSTART, DTEND and DURATION, each of the type RFC 5545 allows and of one kind (dates, or
    date-times), within the years a plan can hold; else why not."""
    values = []
    for key in ("DTSTART", "DTEND", "DURATION"):
        if key in component and isinstance(component[key], list):
            raise _TimesError(f"{key} is given more than once")
        values.append(component.decoded(key) if key in component else None)
    start, end, duration = values
    if not isinstance(start, date):
        raise _TimesError("DTSTART is not a date or a date-time")
    if end is not None and (not isinstance(end, date) or isinstance(end, datetime) != isinstance(start, datetime)):
        raise _TimesError("DTEND is not of the same kind as DTSTART (both dates, or both date-times)")
    if duration is not None and not isinstance(duration, timedelta):
        raise _TimesError("DURATION is not a duration")
    if isinstance(start, datetime) and isinstance(end, datetime) and (start.tzinfo is None) != (end.tzinfo is None):
        raise _TimesError("DTSTART and DTEND mix a floating time with a zoned one")
    if duration is not None and abs(duration) > timedelta(days=366):
        raise _TimesError("DURATION is longer than a year")
    if not MIN_YEAR <= start.year <= MAX_YEAR or (end is not None and not MIN_YEAR <= end.year <= MAX_YEAR):
        raise _TimesError(f"its dates are outside the years {MIN_YEAR}–{MAX_YEAR} a plan can hold")
    return start, end, duration


def _zone_of(prop: Any, value: datetime, target: str) -> str:
    tzid = prop.params.get("TZID")
    if tzid and _iana(str(tzid)):
        return str(tzid)
    return target  # UTC, floating, or a zone that is not an IANA name: shown in the chosen zone


def _in_zone(value: datetime, zone: str) -> datetime:
    if value.tzinfo is None:  # floating: the wall time as written
        return value.replace(tzinfo=zoneinfo.ZoneInfo(zone))
    return value.astimezone(zoneinfo.ZoneInfo(zone))


def _iana(name: str) -> str | None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return name if name else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _slug(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:48].strip("-") or "event"


def _ids(events: list[_Event]) -> dict[str, str]:
    """UID → race or meet id: a racecal id as it was, else the title's slug and year; on a clash,
    the UID's digest is appended, so re-importing the same calendar gives the same ids."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for event in sorted(events, key=lambda e: (e.start, e.uid)):
        if event.race_id:
            out[event.uid] = event.race_id
            continue
        base = f"{_slug(event.title)}-{event.start.year}"
        chosen = base if base not in taken or taken[base] == event.uid else f"{base}-{hashlib.sha256(event.uid.encode()).hexdigest()[:6]}"
        taken.setdefault(chosen, event.uid)
        out[event.uid] = chosen
    return out


def _venue(event: _Event) -> dict[str, Any] | None:
    if not event.location and not event.geo:
        return None
    venue: dict[str, Any] = {"name": event.location[:200] if event.location else "Venue"}
    if event.geo:
        venue["lat"], venue["lon"] = round(event.geo[0], 6), round(event.geo[1], 6)
    return venue


def _dates(event_start: date, event_end: date) -> dict[str, Any]:
    return {"date": event_start} if event_start == event_end else {"start": event_start, "end": event_end}


def _known_meet(event: _Event, meets: dict[str, Meet]) -> Meet | None:
    """A catalogue meet on the same first day whose name is close to the event's title."""
    same_day = [m for m in meets.values() if m.start == event.start]
    scored = [(difflib.SequenceMatcher(None, m.name.lower(), event.title.lower()).ratio(), m.id, m) for m in same_day]
    best = max(scored, default=None, key=lambda s: (s[0], s[1]))
    return best[2] if best and (best[0] >= 0.6 or best[2].name.lower() in event.title.lower()) else None


def _plan(events: list[_Event], athlete: tuple[str, str] | None, meets: dict[str, Meet], season: int) -> dict[str, Any]:
    years = sorted(e.start.year for e in events) or [season]
    chosen = max(set(years), key=years.count)
    plans = {(e.athlete, e.plan_id) for e in events if e.plan_id}
    if athlete is None and len(plans) == 1 and (found := next(iter(plans)))[0] and found[1]:
        athlete = (str(found[0]), str(found[1]).rsplit("-", 1)[0])  # racecal's plan id is <slug>-<season>
    name, slug = athlete or ("Athlete Name", "athlete-name")
    ids = _ids(events)
    races: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: (e.start, e.time or clock(0), e.uid)):
        race_id = ids[event.uid]
        race = races.get(race_id)
        if race is None:
            meet = _known_meet(event, meets)
            race = {"id": race_id}
            if meet is not None:
                race["meet"] = meet.id
            else:
                race["name"] = event.title[:200]
                race |= _dates(event.start, event.end)
            race["status"] = event.status
            if meet is None and (venue := _venue(event)):
                race["venue"] = venue
            if event.url and (meet is None or meet.url != event.url):
                race["url"] = event.url
            races[race_id] = race
        if event.time is not None:
            if meet_timezone := event.timezone:
                race.setdefault("timezone", meet_timezone)
            session: dict[str, Any] = {
                "name": (event.session_name or event.title)[:200],
                "date": event.start,
                "time": event.time.strftime("%H:%M"),
            }
            if event.session_id and SLUG_RE.match(event.session_id):
                session = {"id": event.session_id, **session}
            if event.minutes and event.minutes != 60:
                session["duration_minutes"] = event.minutes
            race.setdefault("sessions", []).append(session)
            if "date" in race and event.start != race["date"]:  # sessions over several days
                first = race.pop("date")
                race["start"], race["end"] = min(first, event.start), max(first, event.start)
    return {"athlete": {"name": name, "slug": slug}, "season": chosen, "races": list(races.values())}


def _catalogue(events: list[_Event], meets: dict[str, Meet], target: str) -> dict[str, Any]:
    ids = _ids(events)
    out: dict[str, dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: (e.start, e.uid)):
        if _known_meet(event, meets) is not None:
            continue  # already in the catalogue
        meet_id = ids[event.uid]
        if meet_id in out:
            continue  # a racecal feed's sessions of one race
        meet: dict[str, Any] = {"id": meet_id, "name": event.title[:200], **_dates(event.start, event.end)}
        if venue := _venue(event):
            meet["venue"] = venue
        meet["timezone"] = event.timezone or target
        if event.url:
            meet["url"] = event.url
        out[meet_id] = meet
    return {"meets": list(out.values())}
