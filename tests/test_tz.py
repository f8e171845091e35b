"""Session times as subscribers see them: every parser must put every session at zoneinfo's instant.

The truth is ``zoneinfo`` (UTC instants), never racecal's own functions; the parsers are four that
racecal did not write and that each apply the feed's own VTIMEZONE: Mozilla's ical.js (Thunderbird),
libical (Evolution, via tests/c/instants.c compiled against Debian's libical-dev), vobject (Radicale,
khal) and icalendar (its VTIMEZONE → tzinfo conversion, not its own zone database).

Longer runs: ``RACECAL_TZ_EXAMPLES=50`` draws 50 years (1900–2100) with their times of day and
durations instead of one per run, and ``RACECAL_TZ_EVERY_DAY=1`` gives vobject and icalendar an
event on every day too (by default they get the first of each month and every clock change; ical.js
and libical always get every day).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import JS_DIR, need
from racecal import ics, tz
from racecal.cli import cli
from racecal.documents import MAX_YEAR, MIN_YEAR
from racecal.load import parse_plan
from racecal.yamlsource import SourceFile

REPO = Path(__file__).resolve().parent.parent
C_HARNESS = REPO / "tests" / "c" / "instants.c"
EXAMPLES = int(os.environ.get("RACECAL_TZ_EXAMPLES", "1"))
EVERY_DAY = os.environ.get("RACECAL_TZ_EVERY_DAY") == "1"
ZONES = sorted(zoneinfo.available_timezones())  # exactly what racecal accepts as a timezone
SHARDS = 2  # the zones are split so that pytest -n 2 parses them on both cores

Instants = dict[str, tuple[int, int]]  # SUMMARY -> (start, end) as POSIX seconds


# --- four parsers, each reading the feed's own VTIMEZONE ------------------------------------------


def icaljs(paths: list[Path]) -> dict[str, Instants]:
    need(shutil.which("node") is not None and (JS_DIR / "node_modules" / "ical.js").is_dir(), "node with ical.js")
    done = subprocess.run(
        ["node", str(JS_DIR / "instants.mjs"), *map(str, paths)], capture_output=True, text=True, check=False, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return {file: {s: (a, b) for s, a, b in events} for file, events in json.loads(done.stdout).items()}


@pytest.fixture(scope="session")
def libical_harness(tmp_path_factory: pytest.TempPathFactory) -> Path:
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libical"], capture_output=True, text=True, check=False)
    need(shutil.which("cc") is not None and flags.returncode == 0, "libical-dev and a C compiler")
    binary = tmp_path_factory.mktemp("libical") / "instants"
    done = subprocess.run(
        ["cc", "-O2", "-Wall", "-Werror", "-o", str(binary), str(C_HARNESS), *flags.stdout.split()],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return binary


def libical(harness: Path, paths: list[Path]) -> dict[str, Instants]:
    done = subprocess.run([str(harness), *map(str, paths)], capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stderr
    out: dict[str, Instants] = {str(p): {} for p in paths}
    for line in done.stdout.splitlines():
        file, summary, start, end = line.split("\t")
        out[file][summary] = (int(start), int(end))
    return out


def vobject_instants(path: Path) -> Instants:
    import vobject
    from vobject.icalendar import registerTzid

    # vobject turns VEVENTs into datetimes before it registers the file's VTIMEZONEs, and then finds
    # a TZID it has not seen in pytz: left alone, it would test pytz, not the feed. So register first.
    cal = vobject.readOne(path.read_text(encoding="utf-8"), transform=False)
    for component in cal.vtimezone_list:
        native = component.transformToNative()
        registerTzid(native.tzid.value, native.tzinfo)
    cal.transformChildrenToNative()
    return {ev.summary.value: (int(ev.dtstart.value.timestamp()), int(ev.dtend.value.timestamp())) for ev in cal.vevent_list}


def icalendar_instants(path: Path) -> Instants:
    import icalendar

    cal = icalendar.Calendar.from_ical(path.read_bytes())
    # lookup_tzid=False: build the tzinfo from the feed's VTIMEZONE, not from icalendar's own database.
    zones = {str(vtz["TZID"]): vtz.to_tz(lookup_tzid=False) for vtz in cal.walk("VTIMEZONE")}

    def instant(prop: object) -> int:
        value: datetime = prop.dt  # type: ignore[attr-defined]
        tzid = prop.params.get("TZID")  # type: ignore[attr-defined]
        if tzid:
            value = value.replace(tzinfo=zones[tzid])
        return int(value.timestamp())

    return {str(ev["SUMMARY"]): (instant(ev["DTSTART"]), instant(ev["DTEND"])) for ev in cal.walk("VEVENT")}


def mismatches(parser: str, want: dict[str, Instants], got: dict[str, Instants]) -> list[str]:
    bad = []
    for file, events in want.items():
        for summary, instants in events.items():
            seen = got.get(file, {}).get(summary)
            if seen != instants:
                bad.append(f"{parser}: {Path(file).name} event {summary}: want {instants}, got {seen}")
    return bad


# --- feeds with many sessions per zone, written by racecal's own writer ---------------------------


@dataclass(frozen=True)
class Draw:
    year: int
    minute: int  # time of day of the first day's session
    step: int  # minutes added to the time of day from one day to the next
    durations: tuple[int, ...]  # minutes, cycled through


def unambiguous(moment: datetime) -> bool:
    """zoneinfo's own answer: the wall-clock time exists and occurs once (racecal rejects others)."""
    wall = moment.replace(tzinfo=None)
    once = wall.replace(tzinfo=moment.tzinfo, fold=0).utcoffset() == wall.replace(tzinfo=moment.tzinfo, fold=1).utcoffset()
    exists = wall.replace(tzinfo=moment.tzinfo).astimezone(UTC).astimezone(moment.tzinfo).replace(tzinfo=None) == wall
    return once and exists


def offset_changes(zone: zoneinfo.ZoneInfo, year: int) -> list[int]:
    """Instants (POSIX seconds) at which zoneinfo's offset changes during ``year``, found independently
    of racecal: a daily scan (no zone has changed twice within a day), then bisection to the second."""
    start = int(datetime(year, 1, 1, tzinfo=UTC).timestamp())
    end = int(datetime(year + 1, 1, 1, tzinfo=UTC).timestamp())

    def offset(t: int) -> timedelta | None:
        return datetime.fromtimestamp(t, zone).utcoffset()

    found = []
    days = [*range(start, end, 86400), end]
    offsets = [offset(t) for t in days]
    for low, high, before, after in zip(days, days[1:], offsets, offsets[1:], strict=False):
        if before != after:
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if offset(mid) == before else (low, mid)
            found.append(high)
    return found


def session_instants(tzid: str, draw: Draw, every_day: bool) -> list[datetime]:
    zone = zoneinfo.ZoneInfo(tzid)
    first = datetime(draw.year, 1, 1, tzinfo=zone)
    days = range((date(draw.year + 1, 1, 1) - date(draw.year, 1, 1)).days)
    chosen = [d for d in days if every_day or (first + timedelta(days=d)).day == 1]
    starts = [(first + timedelta(days=d, minutes=(draw.minute + draw.step * d) % 1440)) for d in chosen]
    starts.append(first)  # midnight on 1 January: before any change of the year
    for change in offset_changes(zone, draw.year):
        for delta in (-7200, -3600, -61, -1, 0, 1, 59, 3600):
            starts.append(datetime.fromtimestamp(change + delta, zone))
    return [s for s in starts if unambiguous(s)]


def write_feed(path: Path, tzid: str, sessions: Iterable[tuple[str, datetime, int]]) -> dict[str, tuple[int, int]]:
    """A feed with racecal's VTIMEZONE and session lines; returns zoneinfo's instants for each SUMMARY."""
    body: list[str] = []
    want: dict[str, tuple[int, int]] = {}
    years: list[int] = []
    for summary, start, minutes in sessions:
        span = tz.session_span(start.date(), start.time(), minutes, tzid)
        years.append(span.end.year)
        body += [
            "BEGIN:VEVENT",
            f"UID:{summary}",
            "DTSTAMP:20240101T000000Z",
            f"SUMMARY:{summary}",
            *tz.session_lines(span, tzid),
            "END:VEVENT",
        ]
        begin = int(start.timestamp())
        want[summary] = (begin, begin + minutes * 60)
    head = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//racecal tests//EN", *tz.vtimezone(tzid, min(years), max(years))]
    path.write_text(ics.join([*head, *body, "END:VCALENDAR"]), encoding="utf-8", newline="")
    return want


def zone_feeds(directory: Path, draw: Draw, every_day: bool, shard: int) -> dict[str, Instants]:
    want: dict[str, Instants] = {}
    for tzid in ZONES[shard::SHARDS]:
        starts = session_instants(tzid, draw, every_day)
        sessions = [(str(i), s, draw.durations[i % len(draw.durations)]) for i, s in enumerate(starts)]
        # Starts on the last day of the year before and ends in it: the feed's first year is then
        # the end's, and the VTIMEZONE must still hold at the start.
        eve = datetime(draw.year - 1, 12, 31, 12, 0, tzinfo=zoneinfo.ZoneInfo(tzid))
        if unambiguous(eve):
            sessions.append(("eve", eve, 24 * 60))
        path = directory / (tzid.replace("/", "~") + ".ics")
        want[str(path)] = write_feed(path, tzid, sessions)
    return want


def draws(first_year: int) -> st.SearchStrategy[Draw]:
    """Hypothesis tries the simplest draw first, and a default run makes just one: arranged so that
    it is ``first_year`` with sessions from 19:00 on, moving 38 minutes a day (every time of day comes
    up), 91 minutes long and 24 hours long. Longer runs range over every year racecal accepts."""
    years = sorted(range(MIN_YEAR, MAX_YEAR + 1), key=lambda y: (abs(y - first_year), y))
    return st.builds(
        Draw,
        year=st.sampled_from(years),
        minute=st.integers(0, 1439).map(lambda m: (m + 19 * 60) % 1440),
        step=st.integers(0, 1438).map(lambda s: (s + 37) % 1439 + 1),
        durations=st.lists(st.integers(0, 24 * 60 - 1).map(lambda d: (d + 90) % 1440 + 1), min_size=1, max_size=4).map(
            lambda ds: (*ds, 24 * 60)
        ),
    )


# Each example parses hundreds of thousands of events; shrinking would repeat that for minutes, and
# the failing draw is printed anyway.
many_zones = settings(
    max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck), database=None
)


@pytest.mark.parametrize("shard", range(SHARDS))
@many_zones
@given(draw=draws(first_year=2024))
def test_every_zone_every_day_resolves_to_zoneinfo_instants_in_icaljs_and_libical(
    draw: Draw, shard: int, tmp_path_factory: pytest.TempPathFactory, libical_harness: Path
) -> None:
    directory = tmp_path_factory.mktemp("zones")
    want = zone_feeds(directory, draw, every_day=True, shard=shard)
    paths = [Path(p) for p in want]
    bad = mismatches("libical", want, libical(libical_harness, paths)) + mismatches("ical.js", want, icaljs(paths))
    assert not bad, f"{len(bad)} wrong instants for {draw}, first: " + "\n".join(bad[:20])


@pytest.mark.parametrize("shard", range(SHARDS))
@many_zones
@given(draw=draws(first_year=MIN_YEAR))  # local mean time offsets with seconds; 2024 is covered above and below
def test_every_zone_resolves_to_zoneinfo_instants_in_vobject_and_icalendar(
    draw: Draw, shard: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("zones")
    want = zone_feeds(directory, draw, every_day=EVERY_DAY, shard=shard)
    bad: list[str] = []
    for file in want:
        bad += mismatches("vobject", {file: want[file]}, {file: vobject_instants(Path(file))})
        bad += mismatches("icalendar", {file: want[file]}, {file: icalendar_instants(Path(file))})
    assert not bad, f"{len(bad)} wrong instants for {draw}, first: " + "\n".join(bad[:20])


# --- whole builds: what a subscriber of a real plan gets ------------------------------------------


def build_plan(tmp_path: Path, races: str) -> Path:
    schedules = tmp_path / "schedules"
    schedules.mkdir(exist_ok=True)
    (schedules / "test.yaml").write_text(
        "athlete: {name: Test Runner, slug: test-runner}\nseason: 2024\nraces:\n" + races, encoding="utf-8"
    )
    args = ["build", "--schedules", str(schedules), "--out", str(tmp_path / "dist"), "--time", "2024-01-01T00:00:00Z"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp_path / "dist" / "test-runner-2024" / "all.ics"


def race(race_id: str, tzid: str, start: str, end: str, sessions: list[tuple[str, str, str, int]]) -> str:
    lines = [f"  - {{id: {race_id}, name: {race_id}, start: {start}, end: {end}, timezone: {tzid}, status: confirmed, sessions: ["]
    lines += [f'      {{name: "{n}", date: {d}, time: "{t}", duration_minutes: {m}}},' for n, d, t, m in sessions]
    return "\n".join(lines) + "]}\n"


def every_parser(path: Path, harness: Path) -> dict[str, Instants]:
    """Each parser's instants, keyed by the session's name (the tail of its SUMMARY)."""

    def by_name(events: Instants) -> Instants:
        return {summary.rsplit(": ", 1)[-1]: instants for summary, instants in events.items()}

    return {
        "ical.js": by_name(icaljs([path])[str(path)]),
        "libical": by_name(libical(harness, [path])[str(path)]),
        "vobject": by_name(vobject_instants(path)),
        "icalendar": by_name(icalendar_instants(path)),
    }


def zoneinfo_instants(tzid: str, day: str, clock: str, minutes: int) -> tuple[int, int]:
    start = int(datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=zoneinfo.ZoneInfo(tzid)).timestamp())
    return start, start + minutes * 60


def assert_every_parser_agrees(path: Path, harness: Path, expected: dict[str, tuple[int, int]]) -> None:
    for parser, got in every_parser(path, harness).items():
        assert got == expected, parser


def test_sydney_session_before_first_transition_is_not_11h_off(tmp_path: Path, libical_harness: Path) -> None:
    """Regression: each observance began at the year's first change, so ical.js gave 9 March in Sydney
    offset 0 (11 h off), vobject 1 h off; New York and Oslo in January were wrong the same way."""
    sessions = {
        ("Australia/Sydney", "2024-03-09", "10:00"),
        ("America/New_York", "2024-01-15", "19:00"),
        ("Europe/Oslo", "2024-01-02", "00:30"),
        ("Pacific/Auckland", "2024-01-01", "00:00"),
    }
    races = "".join(race(f"r{i}", z, d, d, [(f"{z} {d}", d, t, 60)]) for i, (z, d, t) in enumerate(sorted(sessions)))
    path = build_plan(tmp_path, races)
    assert_every_parser_agrees(path, libical_harness, {f"{z} {d}": zoneinfo_instants(z, d, t, 60) for z, d, t in sessions})


def test_onset_has_no_stray_seconds() -> None:
    """Regression: onsets found by bisection to the minute carried its residue (DTSTART:20241027T030028),
    which put a 03:00 Oslo session on the autumn change day an hour early in vobject. Every onset must
    be the exact second at which zoneinfo's offset changes, in every zone."""
    from dateutil.rrule import rrulestr

    year = 2024
    for tzid in ZONES:
        zone = zoneinfo.ZoneInfo(tzid)
        lines = tz.vtimezone(tzid, year, year)
        blocks = "\n".join(lines).split("BEGIN:")[2:]
        for block in blocks:
            props = dict(line.split(":", 1) for line in block.splitlines()[1:] if ":" in line and not line.startswith("END"))
            before = _parse_offset(props["TZOFFSETFROM"])
            onset = datetime.strptime(props["DTSTART"], "%Y%m%dT%H%M%S")
            if "RRULE" in props:  # the yearly onset as it falls in the feed's year
                onset = next(o for o in rrulestr(props["RRULE"], dtstart=onset) if o.year == year)
            elif props["TZOFFSETFROM"] == props["TZOFFSETTO"]:
                continue  # the offset in force when the feed begins: not a change
            at = int((onset - before).replace(tzinfo=UTC).timestamp())
            assert datetime.fromtimestamp(at - 1, zone).utcoffset() == before, (tzid, props)
            assert datetime.fromtimestamp(at, zone).utcoffset() == _parse_offset(props["TZOFFSETTO"]), (tzid, props)


def _parse_offset(text: str) -> timedelta:
    sign = -1 if text[0] == "-" else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5]), seconds=int(text[5:7] or 0))


def test_oslo_onsets_are_the_laws_whole_hours() -> None:
    """EU rule: clocks change at 01:00 UTC on the last Sundays of March and October (02:00 CET, 03:00 CEST)."""
    text = "\n".join(tz.vtimezone("Europe/Oslo", 2024, 2024))
    assert "DTSTART:20230326T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU" in text
    assert "DTSTART:20231029T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU" in text
    assert text.count("BEGIN:STANDARD") == 1 and text.count("BEGIN:DAYLIGHT") == 1  # one pair, as Outlook keeps


ENDS = [
    # (zone, date, local start, minutes): each must last exactly its minutes in every parser.
    ("Europe/Oslo", "2024-10-26", "12:00", 1440),  # 24-hour race across the autumn change
    ("Europe/Oslo", "2024-03-30", "12:00", 1440),  # 24-hour race across the spring change
    ("Europe/Oslo", "2024-10-27", "01:30", 60),  # ends at the first 02:30 (repeated hour)
    ("Europe/Oslo", "2024-10-27", "01:45", 90),  # ends at the second 02:15 (repeated hour)
    ("Europe/Oslo", "2024-10-27", "01:00", 120),  # ends at the second 02:00
    ("Europe/Oslo", "2024-10-27", "03:00", 45),  # starts at the change instant itself
    ("Europe/Oslo", "2024-03-31", "01:30", 60),  # ends across the gap, at 03:30
    ("America/New_York", "2024-11-03", "00:30", 90),  # ends at the second 01:00
    ("America/New_York", "2024-03-10", "01:00", 180),
    ("Australia/Sydney", "2024-04-07", "01:50", 60),  # ends at the first 02:50 (southern autumn)
    ("Australia/Sydney", "2024-04-07", "01:30", 120),  # ends at the second 02:30
    ("Australia/Sydney", "2024-10-05", "20:00", 1440),  # 24 hours across the southern spring change
    ("Australia/Lord_Howe", "2024-04-07", "01:00", 75),  # half-hour change: ends in the repeated half hour
]


def test_24h_race_across_autumn_change_lasts_24h(tmp_path: Path, libical_harness: Path) -> None:
    """Regression: ends were naive clock arithmetic, so 24 hours from 12:00 on 26 October in Oslo ended
    at 12:00 the next day, 25 hours later; and ends in the repeated hour were read differently by each
    parser (some before the start). Every parser must agree with zoneinfo on start and elapsed end."""
    races = "".join(
        race(f"r{i}", z, d, (date.fromisoformat(d) + timedelta(days=1)).isoformat(), [(f"{z} {d} {t} +{m}", d, t, m)])
        for i, (z, d, t, m) in enumerate(ENDS)
    )
    path = build_plan(tmp_path, races)
    assert_every_parser_agrees(path, libical_harness, {f"{z} {d} {t} +{m}": zoneinfo_instants(z, d, t, m) for z, d, t, m in ENDS})


def test_only_an_end_in_the_repeated_hour_is_written_in_utc(tmp_path: Path) -> None:
    text = (
        build_plan(
            tmp_path,
            race(
                "r",
                "Europe/Oslo",
                "2024-10-26",
                "2024-10-27",
                [("Relay", "2024-10-26", "12:00", 1440), ("Late", "2024-10-27", "01:30", 60)],
            ),
        )
        .read_bytes()
        .decode()
    )
    assert "DTSTART;TZID=Europe/Oslo:20241026T120000\r\nDTEND;TZID=Europe/Oslo:20241027T110000\r\n" in text  # 24 h, not 25
    assert "DTSTART;TZID=Europe/Oslo:20241027T013000\r\nDTEND:20241027T003000Z\r\n" in text  # 02:30 CEST, the first 02:30


# --- session ids --------------------------------------------------------------------------------


def load_sessions(sessions: str) -> tuple[list[str], list[str]]:
    """The ids racecal gives a race's sessions, and the problems it reports, for ``sessions`` as YAML."""
    text = (
        "athlete: {name: Test Runner, slug: test-runner}\nseason: 2024\nraces:\n"
        "  - id: one\n    name: Meet One\n    date: 2024-05-25\n    timezone: Europe/Oslo\n    status: confirmed\n    sessions:\n"
        + sessions
    )
    problems: list = []
    plan = parse_plan(SourceFile("schedules/x.yaml", text.encode("utf-8")), {}, problems)
    ids = [s.id for s in plan.races[0].sessions] if plan else []
    return ids, [str(p) for p in problems]


def sessions_named(*names: str) -> str:
    return "".join(f'      - {{name: "{n}", date: 2024-05-25, time: "{10 + i}:00"}}\n' for i, n in enumerate(names))


def test_cjk_and_emoji_session_names_get_distinct_ids(tmp_path: Path) -> None:
    """Regression: every name without ASCII letters became 'session', so a second one was refused
    with an error about an id the editor never wrote."""
    names = ("决赛", "半决赛", "予選", "🏃", "🥇", "Final 🏃", "Final 🥇")
    ids, problems = load_sessions(sessions_named(*names))
    assert problems == []
    assert len(set(ids)) == len(names)
    assert (ids, []) == load_sessions(sessions_named(*names)), "ids must be the same in every build"
    assert load_sessions(sessions_named(*reversed(names)))[0] == list(reversed(ids)), "an id must not depend on position"
    # And the whole build carries each as its own event.
    path = build_plan(
        tmp_path, race("r", "Asia/Tokyo", "2024-05-25", "2024-05-25", [(n, "2024-05-25", f"{10 + i}:00", 30) for i, n in enumerate(names)])
    )
    summaries = [s.rsplit(": ", 1)[-1] for s in vobject_instants(path)]
    assert sorted(summaries) == sorted(names)
    uids = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("UID:")]
    assert len(set(uids)) == len(names)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Økt 1", "okt-1"),
        ("Ærlig løp", "aerlig-lop"),
        ("Élite mile", "elite-mile"),
        ("Straße 5 km", "strasse-5-km"),
        ("1500m heats", "1500m-heats"),
    ],
)
def test_okt_1_keeps_its_letters(name: str, expected: str) -> None:
    """Regression: "Økt 1" became 'kt-1': letters outside ASCII were dropped, not spelt."""
    assert load_sessions(sessions_named(name)) == ([expected], [])


@pytest.mark.parametrize(
    ("sessions", "expected"),
    [
        pytest.param(
            sessions_named("Final", "final"),
            [
                "schedules/x.yaml:11:16: races[0].sessions[1].name: session 'final' gets the same id as session 'Final' ('final'); give one of them its own 'id:'"
            ],
            id="generated-ids-collide",
        ),
        pytest.param(
            '      - {id: a, name: Heat, date: 2024-05-25, time: "10:00"}\n      - {id: a, name: Final, date: 2024-05-25, time: "11:00"}\n',
            ["schedules/x.yaml:11:14: races[0].sessions[1].id: duplicate session id 'a': session 'Heat' has it too"],
            id="explicit-ids-collide",
        ),
    ],
)
def test_colliding_session_ids_are_reported_by_name(sessions: str, expected: list[str]) -> None:
    assert load_sessions(sessions)[1] == expected


def test_colliding_names_are_fixed_by_an_id(tmp_path: Path) -> None:
    ids, problems = load_sessions(
        '      - {name: Final, date: 2024-05-25, time: "10:00"}\n      - {id: final-b, name: final, date: 2024-05-25, time: "11:00"}\n'
    )
    assert (ids, problems) == (["final", "final-b"], [])


def test_check_exit_code_for_colliding_names(tmp_path: Path) -> None:
    schedules = tmp_path / "schedules"
    schedules.mkdir()
    plan = "athlete: {name: Test Runner, slug: test-runner}\nseason: 2024\nraces:\n" + race(
        "r", "Europe/Oslo", "2024-05-25", "2024-05-25", [("Final", "2024-05-25", "10:00", 30), ("final", "2024-05-25", "11:00", 30)]
    )
    (schedules / "test.yaml").write_text(plan, encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", str(schedules)], catch_exceptions=False)
    assert result.exit_code == 1
    assert "session 'final' gets the same id as session 'Final' ('final')" in result.output


def test_no_zone_changes_its_offset_and_back_within_the_scan_step() -> None:
    """tz.transitions scans at _SCAN_STEP and would miss a change made and undone within one step.
    Checked on the tz data itself, read by the standard library's pure-Python TZif reader (not by
    racecal's scan): every explicit transition of every zone, and the yearly rule after them, over
    every year a feed can use."""
    from zoneinfo import _zoneinfo  # type: ignore[attr-defined]

    from racecal.documents import MAX_YEAR, MIN_YEAR
    from racecal.tz import _SCAN_STEP

    low = datetime(MIN_YEAR - 2, 1, 1, tzinfo=UTC).timestamp()
    high = datetime(MAX_YEAR + 2, 1, 1, tzinfo=UTC).timestamp()
    closest = (float("inf"), "")
    for name in sorted(zoneinfo.available_timezones()):
        zone = _zoneinfo.ZoneInfo.no_cache(name)
        changes = [(at, info.utcoff) for at, info in zip(zone._trans_utc, zone._ttinfos, strict=True) if low <= at < high]
        tail = zone._tz_after
        if isinstance(tail, _zoneinfo._TZStr):  # the POSIX rule after the last explicit transition
            last = datetime.fromtimestamp(zone._trans_utc[-1], UTC).year if zone._trans_utc else MIN_YEAR - 3
            for year in range(max(last + 1, MIN_YEAR - 2), MAX_YEAR + 2):  # the years after the explicit ones
                start, end = tail.transitions(year)
                changes += sorted([(start, tail.dst.utcoff), (end, tail.std.utcoff)])
        before = zone._tti_before.utcoff if zone._tti_before else changes[0][1] if changes else None
        timeline = [(low, before), *changes]
        offsets = [entry for i, entry in enumerate(timeline) if i == 0 or entry[1] != timeline[i - 1][1]]  # real changes only
        for (_, was), (first, _), (back, now) in zip(offsets, offsets[1:], offsets[2:], strict=False):  # consecutive triples
            if was == now and back - first < closest[0]:  # changed at ``first``, and back at ``back``
                closest = (back - first, name)
    assert closest[0] > _SCAN_STEP, f"{closest[1]} changes its offset and back within {closest[0] / 86400:.2f} days"
    assert closest[0] < 2 * _SCAN_STEP, closest  # the check sees such pairs at all (Freetown, 1939: 3.99 days)


# --- which names are timezones: tz.is_zone_name against zoneinfo.available_timezones ------------


def _every_path_in(roots: Iterable[str]) -> set[str]:
    """Every file and folder name under the TZPATH roots, relative to its root, symlinks included."""
    found: set[str] = set()
    for root in roots:
        for folder, dirs, files in os.walk(root, followlinks=True):
            for name in [*dirs, *files]:
                found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def test_a_timezone_is_accepted_exactly_when_zoneinfo_lists_it() -> None:
    """Every name zoneinfo.available_timezones() gives, and every path in the database that it does
    not (right/, posix/, posixrules, tables, folders), asked one at a time."""
    listed = zoneinfo.available_timezones()
    names = listed | _every_path_in(zoneinfo.TZPATH)
    tz.is_zone_name.cache_clear()
    wrong = sorted(name for name in names if tz.is_zone_name(name) != (name in listed))
    assert not wrong, wrong[:20]
    assert len(names) > len(listed)  # the database has paths that are not zones, and they were asked


@given(st.text(alphabet=st.sampled_from("EuropeOslAmriNwYk/_.-+01tzposixrhgTZ\0 "), max_size=24) | st.sampled_from(ZONES).map(str.lower))
@settings(max_examples=300, deadline=None)
def test_arbitrary_text_is_a_timezone_only_when_zoneinfo_lists_it(name: str) -> None:
    assert tz.is_zone_name(name) == (name in _LISTED)


_LISTED = zoneinfo.available_timezones()


def test_a_database_of_odd_files_is_read_as_zoneinfo_lists_it(tmp_path: Path) -> None:
    """A TZPATH folder with what os.walk treats specially: symlinked folders (not entered), right/ and
    posix/ at the top, a file named like a zone that is not TZif, names differing only in case, a
    symlink to a zone file, a broken symlink, posixrules."""
    tzif = Path("/usr/share/zoneinfo/Europe/Oslo").read_bytes() if Path("/usr/share/zoneinfo/Europe/Oslo").is_file() else None
    if tzif is None:
        pytest.skip("needs a system tz database to copy a zone file from")
    root = tmp_path / "zoneinfo"
    for name in ("Area/City", "Area/Sub/Town", "right/Area/City", "posix/Area/City", "posixrules", "Top", "right", "Linked/City"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        if not (root / name).exists():
            (root / name).write_bytes(tzif)
    (root / "Area" / "Table").write_bytes(b"# not a zone\n")
    (root / "Mirror").symlink_to(root / "Area", target_is_directory=True)
    (root / "Area" / "Alias").symlink_to(root / "Area" / "City")
    (root / "Area" / "Broken").symlink_to(root / "Area" / "Missing")
    (root / "Area" / "Folder").symlink_to(root / "Area" / "Sub", target_is_directory=True)
    zoneinfo.reset_tzpath([str(root)])
    try:
        tz.is_zone_name.cache_clear()
        listed = zoneinfo.available_timezones()
        names = _every_path_in([str(root)]) | {"area/city", "Mirror/City", "Area//City", "./Top", "Area/City/"}
        assert {n for n in names if tz.is_zone_name(n)} == {n for n in names if n in listed}
        assert tz.is_zone_name("Area/Alias") and not tz.is_zone_name("Mirror/City") and not tz.is_zone_name("right/Area/City")
    finally:
        zoneinfo.reset_tzpath()
        tz.is_zone_name.cache_clear()
