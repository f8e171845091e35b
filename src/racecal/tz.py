"""VTIMEZONE components from the IANA database, written with yearly RRULEs.

Outlook rejects TZIDs without a VTIMEZONE and has been reported to choke on long RDATE lists, so each
zone is described by one STANDARD and one DAYLIGHT rule ("last Sunday of October") when its
transitions follow such a rule over the years a feed needs, and by explicit one-off observances
otherwise. The offsets come from ``zoneinfo``, so a test can check every parser's UTC against it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from racecal import ics

_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


@dataclass(frozen=True)
class Transition:
    local_before: datetime  # wall-clock time just before the change, in the old offset
    offset_before: timedelta
    offset_after: timedelta
    name_after: str
    is_dst_after: bool


def transitions(zone: ZoneInfo, year: int) -> list[Transition]:
    """Offset changes during ``year``: a daily scan (no zone changes twice a day), refined to the minute."""
    utc = UTC
    found: list[Transition] = []
    t = datetime(year, 1, 1, tzinfo=utc)
    end = datetime(year + 1, 1, 1, tzinfo=utc)
    step = timedelta(days=1)
    previous = t.astimezone(zone).utcoffset()
    while t < end:
        nxt = t + step
        offset = nxt.astimezone(zone).utcoffset()
        if offset != previous:
            low, high = t, nxt
            while high - low > timedelta(minutes=1):
                mid = low + (high - low) / 2
                if mid.astimezone(zone).utcoffset() == previous:
                    low = mid
                else:
                    high = mid
            after = high.astimezone(zone)
            assert previous is not None and offset is not None
            found.append(
                Transition(
                    local_before=(high + previous).replace(tzinfo=None),
                    offset_before=previous,
                    offset_after=offset,
                    name_after=after.tzname() or "",
                    is_dst_after=bool(after.dst()),
                )
            )
            previous = offset
        t = nxt
    return found


def _offset(delta: timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"


def _weekday_rule(moment: datetime) -> str:
    """BYDAY for the n-th (or last) weekday of the month that ``moment`` falls on."""
    last_day = calendar.monthrange(moment.year, moment.month)[1]
    nth = -1 if moment.day + 7 > last_day else (moment.day - 1) // 7 + 1
    return f"FREQ=YEARLY;BYMONTH={moment.month};BYDAY={nth}{_DAYS[moment.weekday()]}"


@cache
def vtimezone(tzid: str, first_year: int, last_year: int) -> tuple[str, ...]:
    """Content lines of a VTIMEZONE valid for every date from ``first_year`` to ``last_year``."""
    zone = ZoneInfo(tzid)
    years = range(first_year, last_year + 1)
    # One year beyond the range must follow the same rule too, or a one-year "pattern" would be
    # generalised by the RRULE to years where it is wrong (Morocco's Ramadan changes, say).
    by_year = {y: transitions(zone, y) for y in range(first_year, last_year + 2)}
    lines = ["BEGIN:VTIMEZONE", ics.line("TZID", tzid)]
    first_changes = by_year[first_year]
    if all(not changes for changes in by_year.values()):
        offset = datetime(first_year, 1, 1, tzinfo=zone).utcoffset()
        name = datetime(first_year, 1, 1, tzinfo=zone).tzname() or ""
        assert offset is not None
        lines += _observance("STANDARD", datetime(1970, 1, 1), offset, offset, name, None)
    elif _yearly_pattern(by_year):
        for change in first_changes:
            kind = "DAYLIGHT" if change.is_dst_after else "STANDARD"
            rule = _weekday_rule(change.local_before)
            lines += _observance(kind, change.local_before, change.offset_before, change.offset_after, change.name_after, rule)
    else:
        # Irregular zones: one observance per change, plus the offset in force on the first day.
        start = datetime(first_year, 1, 1, tzinfo=zone)
        offset = start.utcoffset()
        assert offset is not None
        kind = "DAYLIGHT" if start.dst() else "STANDARD"
        lines += _observance(kind, datetime(first_year, 1, 1), offset, offset, start.tzname() or "", None)
        for year in years:
            for change in by_year[year]:
                kind = "DAYLIGHT" if change.is_dst_after else "STANDARD"
                lines += _observance(kind, change.local_before, change.offset_before, change.offset_after, change.name_after, None)
    lines.append("END:VTIMEZONE")
    return tuple(lines)


def _yearly_pattern(by_year: dict[int, list[Transition]]) -> bool:
    """True when every year has the same two changes on the same weekday rule at the same local time."""
    shapes = set()
    for changes in by_year.values():
        if len(changes) != 2:
            return False
        shapes.add(
            tuple(
                (_weekday_rule(c.local_before), c.local_before.time(), c.offset_before, c.offset_after)
                for c in changes
            )
        )
    return len(shapes) == 1


def _observance(kind: str, start: datetime, before: timedelta, after: timedelta, name: str, rule: str | None) -> list[str]:
    lines = [
        f"BEGIN:{kind}",
        ics.line("DTSTART", ics.format_local(start)),
        ics.line("TZOFFSETFROM", _offset(before)),
        ics.line("TZOFFSETTO", _offset(after)),
    ]
    if rule:
        lines.append(ics.line("RRULE", rule))
    if name:
        lines.append(ics.text("TZNAME", name))
    lines.append(f"END:{kind}")
    return lines
