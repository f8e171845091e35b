"""A throw-away racecal project that tests edit as YAML, build with the real CLI, and read with real parsers.

The plans live here as plain dicts and are written with ``yaml.safe_dump`` before each build; the
oracle reads them back from disk, never from these dicts. Also: hypothesis strategies for plans
whose sessions fall on every kind of day in every zone (before the year's first transition, on
change days, around the change itself).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import yaml
from click.testing import CliRunner
from hypothesis import strategies as st
from oracle import FEEDS, FeedView
from parsers import ParsedEvent, ParsedFeed

from racecal.cli import cli  # the system under test, run only as its command line

# Every zone a plan may name ('localtime' is this machine's copy of one, not an IANA name);
# RACECAL_MODEL_ZONES=UTC,Europe/Oslo narrows them to chase a history bug past a timezone one.
ZONES = (
    os.environ.get("RACECAL_MODEL_ZONES", "").split(",")
    if os.environ.get("RACECAL_MODEL_ZONES")
    else sorted(z for z in available_timezones() if z != "localtime")
)
ATHLETES = ["Anna Kowalska", "Ben Osei", "Chloé Martin", "Dmitri Ivanov", "Eva Lindqvist", "Farah Haddad"]
WORDS = ["Alpha", "Bislett", "Coastal", "Delta", "Eastern", "Fjord", "Golden", "Harbour", "Indoor", "Jubilee", "Kestrel", "Lakeside"]
CITIES = [("Oslo", "Norway"), ("Rome", "Italy"), ("Eugene", "USA"), ("Nairobi", "Kenya"), ("Tokyo", "Japan"), ("Lima", "Peru")]
STEPS = [timedelta(0), timedelta(hours=1), timedelta(days=1), timedelta(days=3), timedelta(days=10),
         timedelta(days=29, hours=23), timedelta(days=30), timedelta(days=31), timedelta(days=45)]  # fmt: skip
FIRST_BUILD = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)


class PlainDumper(yaml.SafeDumper):
    """Writes a value seen twice (a date, a venue) twice: racecal refuses YAML anchors, on purpose."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(doc: Any) -> str:
    return yaml.dump(doc, Dumper=PlainDumper, sort_keys=False, allow_unicode=True)


def slug(text: str) -> str:
    out = "".join(c if c.isalnum() and c.isascii() else "-" for c in text.lower())
    return "-".join(p for p in out.split("-") if p)


# --- local times in a zone, from zoneinfo ---------------------------------------------------------


def valid_local(day: date, clock: time, zone: str) -> bool:
    """A wall time that exists exactly once (racecal refuses the others, as it should)."""
    naive = datetime.combine(day, clock)
    tz = ZoneInfo(zone)
    early, late = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    return early.utcoffset() == late.utcoffset() and early.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == naive


@cache
def transitions(zone: str, year: int) -> tuple[datetime, ...]:
    """UTC instants (to the second) where the zone's UTC offset changes during ``year``."""
    tz = ZoneInfo(zone)
    begin = datetime(year, 1, 1, tzinfo=UTC) - timedelta(days=1)
    found = []
    step = timedelta(hours=1)
    at, offset = begin, begin.astimezone(tz).utcoffset()
    while at < datetime(year + 1, 1, 2, tzinfo=UTC):
        nxt = at + step
        new = nxt.astimezone(tz).utcoffset()
        if new != offset:
            lo, hi = at, nxt  # offset(lo) is the old one, offset(hi) the new
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                lo, hi = (mid, hi) if mid.astimezone(tz).utcoffset() == offset else (lo, mid)
            local_year = hi.astimezone(tz).year
            if local_year == year:
                found.append(hi.replace(microsecond=0))
            offset = new
        at = nxt
    return tuple(found)


@st.composite
def local_moment(draw: st.DrawFn, zone: str, year: int) -> tuple[date, time]:
    """A wall time that exists once: any day of the year, before the first transition, or around one."""
    changes = transitions(zone, year)
    kind = draw(st.sampled_from(["any day", "before the first transition", "around a transition", "change day"]))
    tz = ZoneInfo(zone)
    if kind == "around a transition" and changes:
        at = draw(st.sampled_from(changes))
        minutes = draw(st.sampled_from([-181, -121, -61, -60, -59, -31, -1, 0, 1, 29, 59, 60, 61, 121, 181]))
        local = (at + timedelta(minutes=minutes)).astimezone(tz)
        day, clock = local.date(), local.time().replace(second=0, microsecond=0, tzinfo=None)
    elif kind == "change day" and changes:
        day = draw(st.sampled_from(changes)).astimezone(tz).date()
        clock = time(draw(st.integers(0, 23)), draw(st.sampled_from([0, 15, 30, 59])))
    else:
        last = date(year, 12, 31)
        if kind == "before the first transition" and changes:
            last = max(date(year, 1, 1), changes[0].astimezone(tz).date() - timedelta(days=1))
        day = date(year, 1, 1) + timedelta(days=draw(st.integers(0, (last - date(year, 1, 1)).days)))
        clock = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    for hours in range(25):  # a skipped or repeated wall time: the nearest later one that exists once
        moved = (datetime.combine(day, clock) + timedelta(hours=hours)).time()
        if valid_local(day, moved, zone):
            return day, moved
    raise AssertionError(f"no valid time on {day} in {zone}")


@st.composite
def sessions_for(draw: st.DrawFn, zone: str, year: int, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """1–3 sessions within three days, each at a wall time that exists once in ``zone``."""
    ids = ids or [f"s{i}" for i in range(draw(st.integers(1, 3)))]
    first_day, first_time = draw(local_moment(zone, year))
    out = []
    for n, session_id in enumerate(ids):
        if n == 0:
            day, clock = first_day, first_time
        else:
            day = first_day + timedelta(days=draw(st.integers(0, 2)))
            clock = time(draw(st.integers(0, 23)), draw(st.integers(0, 59)))
            while not valid_local(day, clock, zone):
                clock = (datetime.combine(day, clock) + timedelta(hours=1)).time()
        session: dict[str, Any] = {"id": session_id, "name": f"Heat {session_id.upper()}", "date": day, "time": f"{clock:%H:%M}"}
        if draw(st.booleans()):
            session["duration_minutes"] = draw(st.sampled_from([1, 45, 90, 180, 600, 1440]))
        out.append(session)
    return out


def sessions_span(sessions: list[dict[str, Any]]) -> tuple[date, date]:
    days = [s["date"] for s in sessions]
    return min(days), max(days)


# --- the project on disk ----------------------------------------------------------------------------


@dataclass
class World:
    """A racecal project whose YAML the state machine edits, built with ``racecal build --time``."""

    root: Path
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # file name → plan document
    comments: dict[str, str] = field(default_factory=dict)  # file name → a leading comment (invisible)
    meets: list[dict[str, Any]] = field(default_factory=list)
    now: datetime = FIRST_BUILD
    builds: int = 0
    build_times: list[datetime] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)  # plan ids under retired: in racecal.yaml

    @property
    def schedules(self) -> Path:
        return self.root / "schedules"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    def write(self) -> None:
        (self.schedules / "meets").mkdir(parents=True, exist_ok=True)
        for old in self.schedules.glob("*.yaml"):
            if old.name not in self.plans:
                old.unlink()
        for name, doc in self.plans.items():
            text = dump(doc)
            (self.schedules / name).write_text(self.comments.get(name, "") + text, encoding="utf-8")
        (self.schedules / "meets" / "catalogue.yaml").write_text(dump({"meets": self.meets}), encoding="utf-8")
        settings = self.root / "racecal.yaml"
        if self.retired:
            settings.write_text(dump({"retired": sorted(self.retired)}), encoding="utf-8")
        elif settings.exists():
            settings.unlink()

    def build(self) -> str:
        self.write()
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            stamp = self.now.strftime("%Y-%m-%dT%H:%M:%SZ")
            result = CliRunner().invoke(cli, ["build", "--time", stamp, "-j", "1", "-q"], catch_exceptions=False)
        finally:
            os.chdir(cwd)
        assert result.exit_code == 0, f"racecal build --time {stamp} failed:\n{result.output}"
        self.builds += 1
        self.build_times.append(self.now)
        return result.output

    def feed_path(self, plan_id: str, feed: str) -> Path:
        return self.dist / plan_id / f"{feed}.ics"

    def races(self) -> Iterator[tuple[str, dict[str, Any]]]:
        for name, doc in self.plans.items():
            for race in doc["races"]:
                yield name, race

    def plan_id(self, name: str) -> str:
        doc = self.plans[name]
        return f"{doc['athlete']['slug']}-{doc['season']}"


# --- comparing what the parsers read with the oracle ------------------------------------------------


def compare(views: dict[tuple[str, str], FeedView], parsed: dict[Path, ParsedFeed], world: World, parser: str) -> list[str]:
    """Every way the feeds differ from what the docs say subscribers must see, as readable lines."""
    problems = []
    for (plan_id, feed), view in sorted(views.items()):
        path = world.feed_path(plan_id, feed)
        where = f"[{parser}] {plan_id}/{feed}.ics"
        got = parsed.get(path)
        if view.retired:
            if got is not None or path.exists():
                problems.append(f"{where}: still published, though retired and carrying nothing any more")
            continue
        if got is None:
            problems.append(f"{where}: missing (a published feed URL must keep answering until the plan is retired)")
            continue
        if not got.components:
            problems.append(f"{where}: a calendar with no component (sabre/vobject rejects it)")
        want_journals = (f"empty.{plan_id}.{feed}@racecal",) if view.journal else ()
        if got.journals != want_journals:
            problems.append(f"{where}: VJOURNAL {list(got.journals)}, expected {list(want_journals)}")
        for stamp in got.journal_stamps:  # "the plan's latest build time": a time some build of it had
            if stamp not in world.build_times:
                problems.append(
                    f"{where}: VJOURNAL DTSTAMP {stamp:%Y-%m-%d %H:%M}, which no build had (builds: {_times(world.build_times)})"
                )
        says_removed = "(removed)" in (got.name or "")
        if (view.removed and not says_removed) or (view.present and says_removed):
            problems.append(f"{where}: calendar name {got.name!r}, {'expected' if view.removed else 'unexpected'} '(removed)'")
        seen: dict[str, ParsedEvent] = {}
        for event in got.events:
            if event.uid in seen:
                problems.append(f"{where}: UID {event.uid} twice")
            seen[event.uid] = event
        for missing in sorted(set(view.events) - set(seen)):
            e = view.events[missing]
            problems.append(f"{where}: missing {e.kind} {missing} (SEQUENCE {e.seq})")
        for extra in sorted(set(seen) - set(view.events)):
            problems.append(f"{where}: unexpected {extra} ({seen[extra].status}, SEQUENCE {seen[extra].sequence}, {seen[extra].summary!r})")
        for key in sorted(set(seen) & set(view.events)):
            problems += [f"{where}: {key}: {p}" for p in _event_problems(view.events[key], seen[key], feed, world, plan_id)]
        live = {k.rsplit(".", 1)[0] for k, e in seen.items() if e.status != "CANCELLED"}
        if feed == "confirmed":
            other = parsed.get(world.feed_path(plan_id, "tentative"))
            both = live & {e.uid.rsplit(".", 1)[0] for e in (other.events if other else ()) if e.status != "CANCELLED"}
            if both:
                problems.append(f"[{parser}] {plan_id}: live in both confirmed.ics and tentative.ics: {sorted(both)}")
    return problems


def _event_problems(want: Any, got: ParsedEvent, feed: str, world: World, plan_id: str) -> list[str]:
    out = []
    if got.status != want.status:
        out.append(f"STATUS {got.status}, expected {want.status}")
    if got.sequence != want.seq:
        out.append(f"SEQUENCE {got.sequence}, expected {want.seq}")
    if got.dtstamp != want.stamp:
        out.append(f"DTSTAMP {got.dtstamp:%Y-%m-%d %H:%M}, expected {want.stamp:%Y-%m-%d %H:%M} (the build that last changed it)")
    if got.last_modified != want.stamp:
        out.append(f"LAST-MODIFIED {got.last_modified}, expected {want.stamp:%Y-%m-%d %H:%M}")
    title = got.summary
    if want.kind == "tombstone":
        if not title.startswith("Removed:"):
            out.append(f"tombstone title {title!r} does not start with 'Removed:'")
        return out
    if want.race_name not in title or (want.session_name and want.session_name not in title):
        out.append(f"title {title!r} does not name {want.race_name!r}" + (f" / {want.session_name!r}" if want.session_name else ""))
    if feed == "tentative" and not title.startswith("Tentative:"):
        out.append(f"title {title!r} in tentative.ics does not start with 'Tentative:'")
    if feed == "confirmed" and title.startswith(("Tentative:", "Removed:")):
        out.append(f"title {title!r} in confirmed.ics")
    if want.reason and want.reason not in got.description:
        out.append(f"the reason {want.reason!r} is not in the description")
    if (got.start, got.end) != (want.start, want.end):
        out.append(f"from {_show(got.start)} to {_show(got.end)}, expected {_show(want.start)} to {_show(want.end)}")
    return out


def _times(values: list[datetime]) -> str:
    return ", ".join(f"{v:%Y-%m-%d %H:%M}" for v in values)


def _show(value: date | datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%SZ") if isinstance(value, datetime) else str(value)


ALL_FEEDS = FEEDS
