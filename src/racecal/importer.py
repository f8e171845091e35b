"""An .ics calendar (another tool's, or racecal's own) → plan or meet-catalogue YAML for an editor to
review. Parsing real-world calendars is icalendar's home, so icalendar parses; racecal maps.

Mapping: each VEVENT is a race (``--as plan``) or a meet (``--as meets``). All-day events keep their
dates (DTEND is exclusive); a timed event becomes a one-session race in its own zone: a TZID that is
an IANA name is kept, any other (Outlook's "W. Europe Standard Time", a UTC or floating time) is
converted to the zone given with ``--timezone`` (default: a Windows zone name's IANA zone by CLDR's
mapping; otherwise the calendar's X-WR-TIMEZONE, else UTC).
A timed event longer than a day, and an Outlook all-day event (X-MICROSOFT-CDO-ALLDAYEVENT, written
as midnight to midnight), become a race over its days.
Events of a racecal feed are recognised by their UIDs and grouped back into races with sessions, so
importing what racecal published and building it gives the same races. Ids are stable across
re-imports: a racecal race id, else a slug of the title and year (the UID's digest on a clash: the
first such event by date keeps the plain id, so a same-named event added earlier in the year takes
it over; the imported YAML is for review, and its ids are fixed once it is committed). A recurring
event is refused with a message; a plan race at a catalogue meet (same first day, similar name)
refers to the meet instead of repeating it. Whatever a plan cannot hold (see ``racecal check``) is
reported and nothing is written.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import zoneinfo
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from typing import Any
from urllib.parse import urlsplit

import yaml

from racecal.documents import MAX_YEAR, MIN_YEAR
from racecal.errors import Problem
from racecal.model import SLUG_RE, Meet
from racecal.text import slugify, uri_escaped

_RACECAL_UID = re.compile(
    r"^(?P<race>[a-z0-9]+(?:-[a-z0-9]+)*)(?:\.(?P<session>[a-z0-9]+(?:-[a-z0-9]+)*))?\.(?P<plan>[a-z0-9-]+)\.(?P<feed>all|confirmed|tentative)@racecal\Z"
)
_PREFIXES = ("Tentative: ", "Withdrawn: ", "Cancelled: ", "Removed: ")
_STATUS = {"CONFIRMED": "confirmed", "TENTATIVE": "tentative", "CANCELLED": "cancelled"}
MAX_EVENTS = 5000
_BEGIN_VEVENT = re.compile(rb"(?im)^BEGIN:VEVENT\r?$")
_FOLD = re.compile(rb"\r?\n[ \t]")


@dataclass
class Imported:
    text: str  # YAML for review ("" when there are problems)
    problems: list[Problem] = field(default_factory=list)
    count: int = 0
    origins: list[tuple[int, int]] = field(default_factory=list)  # per race or meet written: its first event's index and line


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
    reason: str | None = None  # a racecal event's: why it was withdrawn or cancelled
    note: str | None = None
    index: int = 0  # its place in the calendar, for messages
    line: int = 1


def import_calendar(
    data: bytes, where: str, *, kind: str, timezone: str | None, athlete: tuple[str, str] | None, meets: dict[str, Meet], season: int
) -> Imported:
    """``data`` (an .ics) as YAML of ``kind`` ("plan" or "meets"); every problem located to ``where``."""
    import icalendar  # only this command needs it

    # Where each event starts, for messages (icalendar keeps no positions); counted before parsing,
    # so a calendar far over the limit is refused without building it in memory.
    lines = _event_lines(data)
    if len(lines) > MAX_EVENTS:
        return Imported(
            "", [Problem(where, lines[MAX_EVENTS], 1, "calendar", f"has {len(lines)} events; the limit is {MAX_EVENTS}: split the file")]
        )
    # Unfolded before decoding: a folded line may split a UTF-8 character (RFC 5545, 3.1).
    unfolded = _FOLD.sub(b"", data)
    try:
        calendar = icalendar.Calendar.from_ical(unfolded.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        return Imported("", [Problem(where, _line_of(data, exc.start), 1, "calendar", "is not UTF-8 text")])
    except (ValueError, KeyError, IndexError) as exc:
        return Imported("", [Problem(where, 1, 1, "calendar", f"not a valid iCalendar file ({str(exc)[:120]})")])
    if calendar.name != "VCALENDAR":
        return Imported("", [Problem(where, 1, 1, "calendar", "not a VCALENDAR")])
    target = timezone or _iana(str(calendar.get("X-WR-TIMEZONE", ""))) or "UTC"
    problems: list[Problem] = []
    events: list[_Event] = []
    uids: dict[str, int] = {}
    vtimezones = {str(vtz.get("TZID", "")): vtz for vtz in calendar.walk("VTIMEZONE")}
    # racecal names a calendar "<athlete> <season> – <feed> races": its athlete, whose name may hold " – ".
    calendar_name = re.sub(r" \(removed\)\Z", "", str(calendar.get("X-WR-CALNAME", ""))).rpartition(" – ")[0]
    known_athlete = athlete[0] if athlete else re.sub(r" [0-9]{4}\Z", "", calendar_name) or None
    for index, component in enumerate(calendar.walk("VEVENT")):
        if index >= MAX_EVENTS:  # nested or lower-case ones the count above did not see
            problems.append(Problem(where, 1, 1, "calendar", f"more than {MAX_EVENTS} events; split the file"))
            break
        line = lines[index] if index < len(lines) else 1
        event = _event(component, index, line, (target, timezone), vtimezones, known_athlete, where, problems)
        if event is not None:
            if "UID" in component and (first := uids.setdefault(event.uid, index)) != index:
                # Two events with one UID are one event to every client (a recurring one is refused above);
                # importing one would lose the other without a word.
                problems.append(
                    Problem(where, line, 1, f"events[{index}]", f"has the UID of events[{first}]; a calendar's UIDs are unique")
                )
                continue
            events.append(event)
    athletes = sorted({e.athlete for e in events if e.plan_id and e.athlete})
    if kind == "plan" and len(athletes) > 1:
        # A racecal group's or meet's calendar: one plan cannot hold several athletes' races.
        shown = ", ".join(athletes[:3]) + (", …" if len(athletes) > 3 else "")
        problems.append(
            Problem(where, 1, 1, "calendar", f"has the races of {len(athletes)} athletes ({shown}); import each athlete's own feed")
        )
    if problems:
        return Imported("", problems)
    origins: list[_Event] = []
    document = _plan(events, athlete, meets, season, target, origins) if kind == "plan" else _catalogue(events, meets, target, origins)
    header = f"# Imported from {_shown_source(where)} by racecal import: review it, then run racecal check.\n"
    text = yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    return Imported(header + text, [], len(events), [(e.index, e.line) for e in origins])


class _Dumper(yaml.SafeDumper):
    """Writes a value seen twice (a race's date and its session's) twice: plans refuse YAML aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _event_lines(data: bytes) -> list[int]:
    """The line of each BEGIN:VEVENT, in one pass (counting from the start for each would take hours
    on a calendar of half a million events)."""
    lines, line, last = [], 1, 0
    for found in _BEGIN_VEVENT.finditer(data):
        line += data.count(b"\n", last, found.start())
        last = found.start()
        lines.append(line)
    return lines


def _shown_source(where: str) -> str:
    """The source as the YAML's first line names it: a URL by its host only, since calendar URLs
    often carry a secret (Google's "secret address", a token) that must not be committed."""
    if where.lower().startswith(("http://", "https://")):
        return f"a calendar on {urlsplit(where).hostname or 'the web'}"
    return _one_line(where)


def _line_of(data: bytes, offset: int) -> int:
    """The line in ``data`` of byte ``offset`` of its unfolded form (each fold removed a line break)."""
    removed = 0
    for fold in _FOLD.finditer(data):
        if fold.start() - removed > offset:
            break
        removed += len(fold.group())
    return data.count(b"\n", 0, offset + removed) + 1


def _event(
    component: Any, index: int, line: int, zones: tuple[str, str | None], vtimezones: dict[str, Any], known_athlete: str | None,
    where: str, problems: list[Problem],
) -> _Event | None:  # fmt: skip
    """``zones``: the zone times without an IANA TZID are shown in, and the one the editor chose (if any)."""
    # An event without a UID is known by its title and start, not its place in the file: adding an
    # event elsewhere must not change its id.
    start_prop = component.get("DTSTART")
    start_text = start_prop.to_ical().decode() if hasattr(start_prop, "to_ical") else ""  # two DTSTARTs: refused below
    own = f"{component.get('SUMMARY', '')}|{start_text}"
    uid = str(component.get("UID", "")) or f"no-uid-{hashlib.sha256(own.encode()).hexdigest()[:16]}"
    name = f"events[{index}]"
    if "RRULE" in component or "RDATE" in component:
        problems.append(
            Problem(
                where,
                line,
                1,
                name,
                f"{_one_line(str(component.get('SUMMARY', uid)))!r} repeats ({'RRULE' if 'RRULE' in component else 'RDATE'}): racecal plans list each race; expand it in your calendar app first",
            )
        )
        return None
    if "DTSTART" not in component:
        problems.append(Problem(where, line, 1, name, "has no DTSTART"))
        return None
    if twice := [key for key in _SINGLE if isinstance(component.get(key), list)]:
        problems.append(Problem(where, line, 1, name, f"{twice[0]} is given more than once; an event has one"))
        return None
    title = _one_line(str(component.get("SUMMARY", ""))).strip() or "Untitled"
    if title.startswith("Removed: ") and _RACECAL_UID.match(uid):
        return None  # a racecal cancellation of a race deleted from its plan: not a race
    status = _STATUS.get(str(component.get("STATUS", "CONFIRMED")).upper(), "confirmed")
    if _RACECAL_UID.match(uid):  # racecal's own words: its title prefixes say the status
        if title.startswith("Withdrawn: "):
            status = "withdrawn"
        for prefix in _PREFIXES:
            title = title.removeprefix(prefix)
    else:  # another tool's title that says it: the status too, unless the event's STATUS says more
        for prefix, said in _TITLE_STATUS.items():
            if title.lower().startswith(prefix) and status == "confirmed":
                title, status = title[len(prefix) :].strip() or title, said
    try:
        start, end, duration = _times(component)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        problems.append(
            Problem(
                where,
                line,
                1,
                name,
                f"{_one_line(title)!r}: {exc if isinstance(exc, _TimesError) else 'its DTSTART, DTEND or DURATION cannot be read'}",
            )
        )
        return None
    if isinstance(start, datetime) and str(component.get("X-MICROSOFT-CDO-ALLDAYEVENT", "")).upper() == "TRUE":
        # Outlook writes an all-day event as midnight to midnight in its author's zone: its days are
        # the dates as written, whatever zone the plan is in.
        start, end = start.date(), (end.date() if isinstance(end, datetime) else None)
        duration = timedelta(days=max(1, duration.days)) if duration else None
    day = start.date() if isinstance(start, datetime) else start
    event = _Event(uid, title, day, day, status, index=index, line=line)
    if isinstance(start, datetime):
        start, end = _own_zone(component, "DTSTART", start, vtimezones), _own_zone(component, "DTEND", end, vtimezones)
        zone = _zone_of(component["DTSTART"], *zones)
        local = _in_zone(start, zone)
        # Elapsed time, in UTC: a difference of two times in one zone is wall-clock time, an hour
        # off across a DST change.
        stop = (
            _in_zone(end, zone) if isinstance(end, datetime) else _in_zone(local.astimezone(UTC) + (duration or timedelta(hours=1)), zone)
        )
        if stop.astimezone(UTC) - local.astimezone(UTC) > timedelta(days=1):  # a timed event over several days: a race over those days
            final = stop - timedelta(microseconds=1)  # an end at midnight does not take the next day
            event.start, event.end = local.date(), max(local.date(), final.date())
            event.timezone = zone
        else:
            minutes = max(1, round((stop.astimezone(UTC) - local.astimezone(UTC)).total_seconds() / 60))
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
    # Characters a URI cannot hold are percent-encoded here (the address is the same), as racecal
    # check would refuse them; a URL with whitespace is left out, as where it ends is a guess.
    event.url = uri_escaped(url) if url.startswith(("http://", "https://")) and not any(c.isspace() for c in url) else None
    if found := _RACECAL_UID.match(uid):
        event.race_id, event.session_id, event.plan_id = found["race"], found["session"], found["plan"]
        _racecal_words(event, title, str(component.get("DESCRIPTION", "")), found["session"], known_athlete)
    return event


def _racecal_words(event: _Event, title: str, description: str, session_id: str | None, athlete: str | None) -> None:
    """What a racecal event's words give back: the athlete and the race (its SUMMARY is "Athlete –
    Race[: Session]", and either name may hold " – " or ": "), the session, and a withdrawal's
    reason and the note (its DESCRIPTION starts with the race's name and has "Status:" and "Note:"
    lines). ``athlete``: the calendar's, from its X-WR-CALNAME, when it names one."""
    if athlete and title.startswith(athlete + " – "):
        event.athlete, rest = athlete, title[len(athlete) + 3 :]
    elif " – " in title:
        event.athlete, rest = title.split(" – ", 1)
    else:
        rest = title
    lines = description.split("\n")
    race = lines[0] if lines else ""
    for name in (race, re.sub(r" \([^()]*\)\Z", "", race)):  # the first line may add " (series)"
        if name and (rest == name or rest.startswith(name + ": ")):
            event.title = name
            if session_id:
                event.session_name = rest[len(name) + 2 :] or name  # a session named as its race is not repeated
            break
    else:
        event.title, event.session_name = _split_session(rest, session_id) if session_id else (rest, None)
    for index, line in enumerate(lines):
        if status := re.fullmatch(r"Status: (?:withdrawn|cancelled) \((.*)\)", line):
            event.reason = status[1]
        elif line.startswith("Note: "):
            ends = [i for i, later in enumerate(lines[index + 1 :], index + 1) if later.startswith(("Result: ", "Sources:", "More: "))]
            event.note = "\n".join([line[6:], *lines[index + 1 : ends[0] if ends else len(lines)]])


_TITLE_STATUS = {"cancelled: ": "cancelled", "canceled: ": "cancelled", "tentative: ": "tentative"}
_SINGLE = ("UID", "SUMMARY", "STATUS", "LOCATION", "URL", "GEO", "DTEND", "DURATION")  # at most once in a VEVENT (RFC 5545)


def _split_session(title: str, session_id: str) -> tuple[str, str]:
    """racecal titles a session "Race: Session"; either name may hold ": " itself. The split whose
    session part racecal would have given this id wins; else the last one."""
    cuts = [m.start() for m in re.finditer(": ", title)]
    for cut in cuts:
        if slugify(title[cut + 2 :]) == session_id:
            return title[:cut], title[cut + 2 :]
    if not cuts or slugify(title) == session_id:  # the session is named as its race, which racecal does not repeat
        return title, title
    return title[: cuts[-1]], title[cuts[-1] + 2 :]


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


def _region(tzid: str) -> bool:
    """An IANA zone of a place (Europe/Oslo, or Etc/GMT+12), not a legacy name (EST, CET) that a
    calendar may use for a zone of its own that its VTIMEZONE defines (vobject writes EST with the
    New York rules)."""
    return "/" in tzid and _iana(tzid) is not None


def _own_zone(component: Any, key: str, value: date | None, vtimezones: dict[str, Any]) -> Any:
    """``value`` as the calendar's own VTIMEZONE defines its TZID, when that is not a region name
    (icalendar reads TZID:EST as the fixed-offset IANA zone, ignoring the calendar's rules)."""
    if not isinstance(value, datetime) or value.tzinfo is None or key not in component:
        return value
    tzid = str(component[key].params.get("TZID") or "")
    if not tzid or _region(tzid) or tzid not in vtimezones:
        return value
    try:
        own = vtimezones[tzid].to_tz(lookup_tzid=False)  # its own rules, not the IANA zone of that name
    except (ValueError, KeyError, TypeError, AttributeError):
        return value  # a VTIMEZONE icalendar cannot use: its own reading stands
    return value.replace(tzinfo=None).replace(tzinfo=own)


def _zone_of(prop: Any, target: str, chosen: str | None) -> str:
    tzid = str(prop.params.get("TZID") or "")
    if tzid and _region(tzid):
        return tzid
    if chosen is None and (zone := _windows_zone(tzid)):  # Outlook's "W. Europe Standard Time": its IANA zone (CLDR's mapping)
        return zone
    return target  # UTC, floating, a Windows zone with --timezone given, or one no mapping knows


def _windows_zone(tzid: str) -> str | None:
    from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

    zone = WINDOWS_TO_OLSON.get(tzid)
    return zone if isinstance(zone, str) and _iana(zone) else None


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
    """As racecal spells session ids ("Økt" → "okt"; a digest for scripts with no ASCII spelling)."""
    slug = slugify(text, "event")
    if len(slug) <= 48:  # room for "-<year>" and a clash's "-<digest>" within a race id's 64
        return slug
    return f"{slug[:39].strip('-')}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _ids(events: list[_Event], race_ids: bool = True) -> dict[str, str]:
    """UID → race or meet id: a racecal race id as it was (``race_ids``: a plan's races), else the
    title's slug and year; on a clash, the UID's digest is appended, so re-importing the same
    calendar gives the same ids."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for event in sorted(events, key=lambda e: (e.start, e.uid)):
        if event.race_id and race_ids:
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
    """A catalogue meet this event is, and nothing else: the same first day (and, for an all-day
    event, the same last day), and the same name give or take a few letters or a note in brackets
    ("Bislett Games (Oslo DL)"). A race that refers to a meet takes the meet's name, dates and
    place, so a looser match ("Oslo 5k" for "Oslo 10k", a watch party on the day) would publish
    the wrong race."""
    title = event.title.lower()
    candidates = [m for m in meets.values() if m.start == event.start and (event.time is not None or m.end == event.end)]
    scored = [(difflib.SequenceMatcher(None, m.name.lower(), title).ratio(), m.id, m) for m in candidates]
    best = max(scored, default=None, key=lambda s: (s[0], s[1]))
    if best is None:
        return None
    ratio, _, meet = best
    noted = title.startswith(meet.name.lower() + " (") and title.endswith(")")
    return meet if ratio >= 0.9 or noted else None


def _plan(
    events: list[_Event], athlete: tuple[str, str] | None, meets: dict[str, Meet], season: int, zone: str, origins: list[_Event]
) -> dict[str, Any]:  # fmt: skip
    """``origins`` gets each race's first event, in the order the races are written."""
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
            if event.reason and event.status in ("withdrawn", "cancelled"):
                race["reason"] = event.reason
            if event.note:
                race["note"] = event.note
            if meet is None and (venue := _venue(event)):
                race["venue"] = venue
            if event.url and (meet is None or meet.url != event.url):
                race["url"] = event.url
            races[race_id] = race
            origins.append(event)
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
            elif "start" in race:
                race["start"], race["end"] = min(race["start"], event.start), max(race["end"], event.start)
    shown_in = {"timezone": zone} if zone != "UTC" else {}  # the calendar's display zone (racecal's own X-WR-TIMEZONE)
    return {"athlete": {"name": name, "slug": slug}, "season": chosen, **shown_in, "races": list(races.values())}


def _catalogue(events: list[_Event], meets: dict[str, Meet], target: str, origins: list[_Event]) -> dict[str, Any]:
    """One meet per race (the sessions of a racecal race are one meet, over all their days) and per
    name and first day (a group's feed has each athlete's race at a meet). ``origins`` gets each
    meet's first event, in the order the meets are written."""
    ids = _ids(events, race_ids=False)
    found: dict[str, list[_Event]] = {}  # meet id → its events
    named: dict[tuple[str, date | None], str] = {}
    for event in sorted(events, key=lambda e: (e.start, e.time or clock(0), e.uid)):
        # A racecal feed's events of one race name are one meet over all their days (a meet's own
        # calendar has each athlete's race there); another tool's, one per name and first day.
        key = (event.title, None if event.plan_id else event.start)
        meet_id = named.setdefault(key, ids[event.uid])
        found.setdefault(meet_id, []).append(event)
    out = []
    for meet_id, same in found.items():
        if any(_known_meet(e, meets) is not None for e in same):
            continue  # already in the catalogue
        first = same[0]
        origins.append(first)
        meet: dict[str, Any] = {"id": meet_id, "name": first.title[:200]}
        meet |= _dates(min(e.start for e in same), max(e.end for e in same))
        if venue := _venue(first):
            meet["venue"] = venue
        meet["timezone"] = first.timezone or target
        if first.url:
            meet["url"] = first.url
        out.append(meet)
    return {"meets": out}
