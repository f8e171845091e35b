"""Independent parsers behind one shape: what a subscriber's client reads from a feed.

Each adapter takes feed files and gives ``ParsedFeed``s with times as UTC instants (timed events,
through the feed's own VTIMEZONE, never a zone database looked up by name) and dates for all-day
events. Adding a parser (libical, once tests/c/ lands) is one function and one line in ``PARSERS``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
JS_SCRIPT = REPO / "tests" / "js" / "subscriber.mjs"
LIBICAL_HARNESS = REPO / "tests" / "c" / "build" / "subscriber"  # not there yet: see libical() below


@dataclass(frozen=True)
class ParsedEvent:
    uid: str
    summary: str
    status: str
    sequence: int
    dtstamp: datetime
    last_modified: datetime | None
    start: date | datetime  # a datetime is always an aware UTC instant
    end: date | datetime
    description: str
    location: str | None


@dataclass(frozen=True)
class ParsedFeed:
    name: str | None
    components: tuple[str, ...]  # every component but VTIMEZONE, in order: VEVENT, VJOURNAL, ...
    journals: tuple[str, ...]  # VJOURNAL UIDs
    journal_stamps: tuple[datetime, ...]  # their DTSTAMPs
    events: tuple[ParsedEvent, ...]


def _utc(value: datetime) -> datetime:
    assert value.tzinfo is not None, f"floating time {value}: a client would guess its zone"
    return value.astimezone(UTC)


def _when(value: date | datetime) -> date | datetime:
    return _utc(value) if isinstance(value, datetime) else value


# --- Mozilla ical.js (Thunderbird), under node ---------------------------------------------------


def icaljs_available() -> bool:
    return shutil.which("node") is not None and (REPO / "tests" / "js" / "node_modules" / "ical.js").is_dir()


def icaljs(paths: list[Path]) -> dict[Path, ParsedFeed]:
    done = subprocess.run(["node", str(JS_SCRIPT), *map(str, paths)], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    raw = json.loads(done.stdout)

    def when(is_date: bool, value: str | int) -> date | datetime:
        return date.fromisoformat(str(value)) if is_date else datetime.fromtimestamp(int(value), UTC)

    def stamp(value: int | None) -> datetime | None:
        return None if value is None else datetime.fromtimestamp(value, UTC)

    out = {}
    for path in paths:
        feed = raw[str(path)]
        events = tuple(
            ParsedEvent(
                e["uid"],
                e["summary"],
                e["status"],
                e["sequence"],
                stamp(e["dtstamp"]) or datetime.min,
                stamp(e["lastModified"]),
                when(e["isDate"], e["start"]),
                when(e["isDate"], e["end"]),
                e["description"] or "",
                e["location"],
            )
            for e in feed["events"]
        )
        stamps = tuple(datetime.fromtimestamp(t, UTC) for t in feed["journalStamps"])
        out[path] = ParsedFeed(feed["name"], tuple(feed["components"]), tuple(feed["journals"]), stamps, events)
    return out


# --- vobject (dateutil's tzical reads the VTIMEZONE) -----------------------------------------------


def vobject_(paths: list[Path]) -> dict[Path, ParsedFeed]:
    import vobject
    import vobject.icalendar as vical

    out = {}
    for path in paths:
        # vobject keeps one process-wide TZID → tzinfo map and never replaces an entry: start empty, so
        # each feed is read with its own VTIMEZONE, not one remembered from an earlier feed.
        registry = vars(vical)["__tzidMap"]
        registry.clear()
        registry["UTC"] = vical.utc
        text = path.read_text(encoding="utf-8")
        # vobject registers a VTIMEZONE only when it differs from UTC in 2000–2020 (tzinfo_eq); one that
        # does not (a zone at +0000 then, or a feed's zone that starts after 2020) is looked up in
        # pytz's own database instead, which ends in 2037 and differs from tzdata in places
        # (Antarctica/McMurdo before 1956; Antarctica/Troll's DST in 2051). What is checked here is
        # how vobject reads the feed, so each VTIMEZONE of the feed is registered under its TZID.
        for zone in vobject.readOne(text).contents.get("vtimezone", []):
            registry[zone.tzid.value] = zone.gettzinfo()
        cal = vobject.readOne(text)
        events, journals, kinds, stamps = [], [], [], []
        for comp in cal.getChildren():
            if not isinstance(comp, vobject.base.Component) or comp.name == "VTIMEZONE":
                continue
            kinds.append(comp.name)
            if comp.name == "VJOURNAL":
                journals.append(comp.uid.value)
                stamps.append(_utc(comp.dtstamp.value))
            if comp.name != "VEVENT":
                continue
            last = comp.contents.get("last-modified")
            events.append(
                ParsedEvent(
                    comp.uid.value,
                    comp.summary.value,
                    comp.status.value,
                    int(comp.sequence.value),
                    _utc(comp.dtstamp.value),
                    _utc(last[0].value) if last else None,
                    _when(comp.dtstart.value),
                    _when(comp.dtend.value),
                    comp.description.value if "description" in comp.contents else "",
                    comp.location.value if "location" in comp.contents else None,
                )
            )
        name = cal.contents.get("x-wr-calname")
        out[path] = ParsedFeed(name[0].value if name else None, tuple(kinds), tuple(journals), tuple(stamps), tuple(events))
    return out


# --- icalendar (collective), with each VTIMEZONE turned into a tzinfo -------------------------------


def icalendar_(paths: list[Path]) -> dict[Path, ParsedFeed]:
    import icalendar

    out = {}
    for path in paths:
        cal = icalendar.Calendar.from_ical(path.read_bytes())
        # icalendar resolves a known TZID through zoneinfo and ignores the feed's VTIMEZONE; a client
        # only has the VTIMEZONE, so build the zone from it.
        zones = {str(tz["TZID"]): tz.to_tz(lookup_tzid=False) for tz in cal.walk("VTIMEZONE")}

        def when(prop: object, zones: dict[str, object] = zones) -> date | datetime:
            value = prop.dt  # type: ignore[attr-defined]
            tzid = prop.params.get("TZID")  # type: ignore[attr-defined]
            if isinstance(value, datetime) and tzid:
                assert tzid in zones, f"TZID {tzid} has no VTIMEZONE in the feed"
                return _utc(value.replace(tzinfo=None).replace(tzinfo=zones[tzid]))  # type: ignore[arg-type]
            return _when(value)

        events, journals, kinds, stamps = [], [], [], []
        for comp in cal.subcomponents:
            if comp.name == "VTIMEZONE":
                continue
            kinds.append(comp.name)
            if comp.name == "VJOURNAL":
                journals.append(str(comp["UID"]))
                stamps.append(_utc(comp["DTSTAMP"].dt))
            if comp.name != "VEVENT":
                continue
            events.append(
                ParsedEvent(
                    str(comp["UID"]),
                    str(comp["SUMMARY"]),
                    str(comp["STATUS"]),
                    int(comp["SEQUENCE"]),
                    _utc(comp["DTSTAMP"].dt),
                    _utc(comp["LAST-MODIFIED"].dt) if "LAST-MODIFIED" in comp else None,
                    when(comp["DTSTART"]),
                    when(comp["DTEND"]),
                    str(comp.get("DESCRIPTION", "")),
                    str(comp["LOCATION"]) if "LOCATION" in comp else None,
                )
            )
        name = cal.get("X-WR-CALNAME")
        out[path] = ParsedFeed(str(name) if name is not None else None, tuple(kinds), tuple(journals), tuple(stamps), tuple(events))
    return out


# --- libical (the C library behind Evolution and many servers) ------------------------------------


def libical_available() -> bool:
    return LIBICAL_HARNESS.exists()


def libical(paths: list[Path]) -> dict[Path, ParsedFeed]:
    """Plugs in once tests/c/ builds a harness printing the same JSON as tests/js/subscriber.mjs."""
    done = subprocess.run([str(LIBICAL_HARNESS), *map(str, paths)], capture_output=True, text=True, check=False, timeout=300)
    assert done.returncode == 0, done.stderr
    raw = json.loads(done.stdout)
    out = {}
    for path in paths:
        feed = raw[str(path)]
        events = tuple(
            ParsedEvent(
                e["uid"],
                e["summary"],
                e["status"],
                e["sequence"],
                datetime.fromtimestamp(e["dtstamp"], UTC),
                datetime.fromtimestamp(e["lastModified"], UTC) if e.get("lastModified") is not None else None,
                date.fromisoformat(e["start"]) if e["isDate"] else datetime.fromtimestamp(e["start"], UTC),
                date.fromisoformat(e["end"]) if e["isDate"] else datetime.fromtimestamp(e["end"], UTC),
                e.get("description") or "",
                e.get("location"),
            )
            for e in feed["events"]
        )
        stamps = tuple(datetime.fromtimestamp(t, UTC) for t in feed["journalStamps"])
        out[path] = ParsedFeed(feed["name"], tuple(feed["components"]), tuple(feed["journals"]), stamps, events)
    return out


Parser = Callable[[list[Path]], dict[Path, ParsedFeed]]


def parsers(only: str = "") -> dict[str, Parser]:
    """Every parser this machine has (or those named in ``only``, comma-separated, to chase one bug)."""
    found: dict[str, Parser] = {"vobject": vobject_, "icalendar": icalendar_}
    if icaljs_available():
        found["ical.js"] = icaljs
    if libical_available():
        found["libical"] = libical
    wanted = [name for name in only.split(",") if name]
    return {name: found[name] for name in wanted} if wanted else found
