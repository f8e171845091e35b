"""VTIMEZONE components from the IANA database, and session times as real instants.

Outlook rejects TZIDs without a VTIMEZONE, has been reported to choke on long RDATE lists, and
reduces any VTIMEZONE to one yearly STANDARD/DAYLIGHT pair; so a zone whose changes follow a yearly
rule ("last Sunday of October") over the years a feed needs is written as exactly that pair, with
RRULEs, and any other zone as explicit one-off observances.

Thunderbird's ical.js takes a VTIMEZONE literally: an instant before the first observance's DTSTART
gets offset 0. So every VTIMEZONE here starts with an observance at or before the earliest instant a
feed can use (the last days of the year before its first event) carrying the offset in force then.
Onsets are found by bisection on whole POSIX seconds, so they are exactly zoneinfo's transitions,
and every offset comes from ``zoneinfo``: a test checks every parser's UTC against it.
"""

from __future__ import annotations

import calendar
import hashlib
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from racecal import ics

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_DAY = 86_400
# A scan at this step sees every change a zone makes, as long as no zone changes its offset and back
# within one step; bisection then finds each change's exact second. The closest such pair in tzdata
# is Freetown's 1939 summer time of just under four days (tests/test_tz.py checks every zone over
# every year a feed can use). Three days, not one: a VTIMEZONE is found three times faster, which is
# most of what a feed of many zones costs to rebuild.
_SCAN_STEP = 3 * _DAY
# A feed's events lie in the years it passes; an event that ends on 1 January may start the evening
# before, in any offset up to ±14 h: the zone must be described from two days before the first year.
_MARGIN = timedelta(days=2)


@dataclass(frozen=True)
class Transition:
    at: int  # POSIX seconds of the first instant in the new offset
    offset_before: timedelta
    offset_after: timedelta
    name_after: str
    is_dst_after: bool

    @property
    def local_before(self) -> datetime:
        """The onset as RFC 5545 writes it: wall-clock time in the old offset (naive)."""
        return datetime.fromtimestamp(self.at, UTC).replace(tzinfo=None) + self.offset_before


def _offset_at(zone: ZoneInfo, seconds: int) -> timedelta:
    offset = datetime.fromtimestamp(seconds, zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


_ZONES: dict[str, ZoneInfo] = {}


def zone_of(tzid: str) -> ZoneInfo:
    """``ZoneInfo(tzid)``, kept for the whole process. zoneinfo's own cache keeps only the eight
    zones used last alive; a build over more zones (64 in bench's second corpus) read their files
    again and again: placing 4,869 sessions took 0.32 s, 0.04 s with the zones kept."""
    found = _ZONES.get(tzid)
    if found is None:
        found = _ZONES[tzid] = ZoneInfo(tzid)
    return found


@cache
def transitions(tzid: str, year: int) -> tuple[Transition, ...]:
    """Offset changes whose instant lies in ``year`` (UTC), each at the exact second zoneinfo has it."""
    zone = zone_of(tzid)
    found: list[Transition] = []
    low = _timestamp(datetime(year, 1, 1, tzinfo=UTC))
    end = _timestamp(datetime(year + 1, 1, 1, tzinfo=UTC))
    previous = _offset_at(zone, low - 1)
    while low < end:
        high = min(low + _SCAN_STEP, end)
        offset = _offset_at(zone, high - 1)
        if offset != previous:
            # Invariant: offset at (low - 1) is ``previous``, at (high - 1) it is not.
            lo, hi = low - 1, high - 1
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(zone, mid) == previous:
                    lo = mid
                else:
                    hi = mid
            after = datetime.fromtimestamp(hi, zone)
            new_offset = after.utcoffset()
            assert new_offset is not None
            found.append(Transition(hi, previous, new_offset, after.tzname() or "", bool(after.dst())))
            previous = new_offset
            # Rescan from just after this change, in case the offset changed again within the step.
            low = hi + 1
            continue
        low = high
    return tuple(found)


def _format_offset(delta: timedelta) -> str:
    """UTC offset as RFC 5545 writes it; seconds only where the zone has them (old local mean times)."""
    total = int(delta.total_seconds())
    sign = "-" if total < 0 else "+"
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{seconds:02d}" if seconds else "")


@dataclass(frozen=True)
class _Rule:
    """An RRULE "n-th (or last) weekday of a month" and the wall-clock time of the change."""

    month: int
    nth: int  # 1..4, or -1 for the last
    weekday: int  # 0 = Monday
    clock: time

    @classmethod
    def of(cls, moment: datetime) -> _Rule:
        last_day = calendar.monthrange(moment.year, moment.month)[1]
        nth = -1 if moment.day + 7 > last_day else (moment.day - 1) // 7 + 1
        return cls(moment.month, nth, moment.weekday(), moment.time())

    def rrule(self) -> str:
        return f"FREQ=YEARLY;BYMONTH={self.month};BYDAY={self.nth}{_DAYS[self.weekday]}"

    def in_year(self, year: int) -> datetime:
        days = [d for d in calendar.Calendar().itermonthdates(year, self.month) if d.month == self.month and d.weekday() == self.weekday]
        day = days[-1] if self.nth == -1 else days[self.nth - 1]
        return datetime.combine(day, self.clock)


@cache
def vtimezone(tzid: str, first_year: int, last_year: int) -> tuple[str, ...]:
    """Content lines of a VTIMEZONE true for every instant from shortly before ``first_year`` to the end of ``last_year``."""
    zone = zone_of(tzid)
    window_start = _timestamp(datetime(first_year, 1, 1, tzinfo=UTC) - _MARGIN)
    window_end = _timestamp(datetime(last_year + 1, 1, 1, tzinfo=UTC) + _MARGIN)
    by_year = {year: transitions(tzid, year) for year in range(first_year - 1, last_year + 2)}
    changes = [t for year in by_year.values() for t in year if window_start <= t.at < window_end]
    lines = ["BEGIN:VTIMEZONE", ics.line("TZID", tzid)]
    rules = _yearly_rules(by_year, first_year, last_year, window_start)
    if rules is not None:
        for change, rule in rules:
            # DTSTART in the year before the first: the observance in force when the feed's first
            # instant comes has then already begun, so parsers that take DTSTART literally agree.
            onset = rule.in_year(first_year - 1)
            lines += _observance(change, onset, rule.rrule())
    else:
        begin = datetime.fromtimestamp(window_start, zone)
        offset = begin.utcoffset()
        assert offset is not None
        first = Transition(window_start, offset, offset, begin.tzname() or "", bool(begin.dst()))
        for change in [first, *changes]:
            lines += _observance(change, change.local_before, None)
    lines.append("END:VTIMEZONE")
    return tuple(lines)


def _yearly_rules(
    by_year: dict[int, tuple[Transition, ...]], first_year: int, last_year: int, window_start: int
) -> list[tuple[Transition, _Rule]] | None:
    """The zone's two yearly changes with their rules, if every year the feed needs follows them.

    One year beyond the range must follow them too, or a one-year "pattern" would be generalised
    by the RRULE to years where it is wrong (Morocco's Ramadan changes, say).
    """
    shapes = set()
    for year in range(first_year, last_year + 2):
        changes = by_year[year]
        if len(changes) != 2:
            return None
        shapes.add(tuple((_Rule.of(c.local_before), c.offset_before, c.offset_after, c.name_after, c.is_dst_after) for c in changes))
    if len(shapes) != 1:
        return None
    if any(t.at >= window_start for t in by_year[first_year - 1]):
        return None  # a change in the last days before the first year: describe it literally
    first = by_year[first_year]
    rules = [(c, _Rule.of(c.local_before)) for c in first]
    # The RRULE pair starts a year early; its later onset must come before the window opens.
    later = rules[-1][1].in_year(first_year - 1) - first[-1].offset_before
    if _timestamp(later.replace(tzinfo=UTC)) > window_start:
        return None
    return rules


def _observance(change: Transition, onset: datetime, rule: str | None) -> list[str]:
    kind = "DAYLIGHT" if change.is_dst_after else "STANDARD"
    lines = [
        f"BEGIN:{kind}",
        ics.line("DTSTART", ics.format_local(onset)),
        ics.line("TZOFFSETFROM", _format_offset(change.offset_before)),
        ics.line("TZOFFSETTO", _format_offset(change.offset_after)),
    ]
    if rule:
        lines.append(ics.line("RRULE", rule))
    if change.name_after:
        lines.append(ics.text("TZNAME", change.name_after))
    lines.append(f"END:{kind}")
    return lines


# --- session times --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """A session as two instants: the local start the editor wrote, and start + duration elapsed."""

    start: datetime  # aware, in the session's zone
    end: datetime  # aware, in the session's zone

    @property
    def end_is_ambiguous(self) -> bool:
        """The end's wall-clock time occurs twice (the repeated hour when the clocks go back)."""
        return self.end.replace(fold=0).utcoffset() != self.end.replace(fold=1).utcoffset()


def session_span(day: date, start: time, duration_minutes: int, tzid: str) -> SessionSpan:
    """The start is validated to exist once; the end is real elapsed time, so a 24-hour race that
    crosses the autumn change ends at 23:00 local, not 24:00 (which would make it last 25 hours)."""
    zone = zone_of(tzid)
    begin = datetime.combine(day, start, tzinfo=zone)
    # Aware datetime arithmetic in one zone is wall-clock arithmetic; elapsed time needs UTC.
    finish = (begin.astimezone(UTC) + timedelta(minutes=duration_minutes)).astimezone(zone)
    return SessionSpan(begin, finish)


def session_lines(span: SessionSpan, tzid: str) -> tuple[str, str]:
    """DTSTART and DTEND content lines for a session: local time with the TZID where every parser
    reads it as the same instant, UTC where no local form is read the same way everywhere.

    - An end in the repeated hour (a session from 01:30 local on the autumn change day that really
      lasts 90 minutes ends at the second 02:00) has no local form that names one instant: RFC 5545
      says to take the first occurrence, which puts the end an hour early (before the start, for a
      short session). The start itself is validated never to be there, as the editor must say which
      one they mean; the end is computed, so it is written in UTC, which is exact everywhere.
    - A time in an offset with seconds (the local mean times before about 1970) is written in UTC too:
      ical.js drops the seconds of a TZOFFSETTO, so it would be off by up to a minute.

    Every other time keeps the zone's local form, which is what clients show and edit best.
    """
    return _moment("DTSTART", span.start, tzid, ambiguous=False), _moment("DTEND", span.end, tzid, ambiguous=span.end_is_ambiguous)


def _moment(name: str, moment: datetime, tzid: str, *, ambiguous: bool) -> str:
    offset = moment.utcoffset()
    assert offset is not None
    if ambiguous or offset.seconds % 60:
        return ics.line(name, ics.format_utc(moment))
    return ics.line(name, ics.format_local(moment), tzid=tzid)  # the wall-clock digits


@cache
def is_zone_name(name: str) -> bool:
    """``name in zoneinfo.available_timezones()``, answered for this one name. Listing them all opens
    every file of the database to read its first bytes (about 600): 20 to 35 ms of every build or
    check that meets a timezone. The rules are that function's: the tzdata package's list, then each
    TZPATH folder as ``os.walk`` lists it (not right/ or posix/, no symlinked folder entered, exact
    names), a file counting when it starts with TZif; never posixrules. tests/test_tz.py holds the two
    to the same answer for every path in the database and for arbitrary text."""
    if name == "posixrules":
        return False
    if name in _packaged_zone_names():
        return True
    parts = name.split("/")
    if "\0" in name or any(part in ("", ".", "..") for part in parts) or (len(parts) > 1 and parts[0] in ("right", "posix")):
        return False
    return any(_walk_lists(root, parts) for root in zoneinfo.TZPATH)


@cache
def _packaged_zone_names() -> frozenset[str]:
    from importlib import resources

    try:
        with resources.files("tzdata").joinpath("zones").open("r") as listing:
            return frozenset(line.strip() for line in listing if line.strip())
    except (ImportError, FileNotFoundError):
        return frozenset()


def _walk_lists(root: str, parts: list[str]) -> bool:
    """Whether os.walk(root) lists the file ``parts`` and it starts with TZif."""
    folder = Path(root)
    try:
        for part in parts[:-1]:
            # Names as listed, so that on a case-insensitive disk "europe" is not Europe, as for walk.
            if not any(entry.name == part for entry in folder.iterdir()):
                return False
            folder = folder / part
            if folder.is_symlink() or not folder.is_dir():  # walk does not enter symlinked folders
                return False
        leaf = folder / parts[-1]
        if not any(entry.name == parts[-1] for entry in folder.iterdir()) or leaf.is_dir():
            return False
        with leaf.open("rb") as handle:
            return handle.read(4) == b"TZif"
    except (OSError, ValueError):
        return False


@cache
def database_version() -> str:
    """Which IANA tz database zoneinfo reads (its first directory on TZPATH with data, else the tzdata
    package): a plan's output depends on it, so a tz update rebuilds plans that are otherwise unchanged."""
    for folder in zoneinfo.TZPATH:
        base = Path(folder)
        if (base / "UTC").is_file() or (base / "Etc").is_dir():
            try:
                with (base / "tzdata.zi").open("rb") as handle:
                    first = handle.readline(64).decode("ascii", "replace").strip()
            except OSError:
                first = ""
            if first.startswith("# version "):
                return first[10:]
            # No version stamp: the list of zone files and their sizes stands for the data.
            listing = sorted(f"{p.relative_to(base)}:{p.stat().st_size}" for p in base.rglob("*") if p.is_file())
            return f"{folder}:" + hashlib.sha256("\n".join(listing).encode()).hexdigest()[:16]
    try:
        import tzdata  # type: ignore[import-untyped]

        return str(tzdata.IANA_VERSION)
    except ImportError:
        return "none"
