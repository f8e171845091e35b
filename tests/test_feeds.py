"""The shipped example compiles into feeds that independent parsers read back as the same races."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import PLAN_ID, Project, parse_icalendar, parse_icaljs, parse_vobject

EXPECTED_CONFIRMED = {
    "eugene": ("2024-05-25", "2024-05-26"),
    "bislett": ("2024-05-30", "2024-05-31"),
    "european-championships": ("2024-06-07", "2024-06-13"),  # DTEND exclusive: 7–12 June
    "norwegian-championships": ("2024-06-28", "2024-06-29"),
    "paris-olympics": ("2024-07-26", "2024-08-12"),
}
EXPECTED_TENTATIVE = {"monaco": ("2024-07-12", "2024-07-13")}
EXPECTED_OFF = {"glasgow-indoors": ("2024-03-01", "2024-03-04"), "european-cross-country": ("2023-12-10", "2023-12-11")}


def uid(race: str, feed: str) -> str:
    """Written out, not computed with racecal's own function: docs/history.md, "Identity"."""
    return f"{race}.{PLAN_ID}.{feed}@racecal"


def expected(feed: str) -> dict[str, tuple[str, str, str]]:
    confirmed = {uid(k, feed): (*v, "CONFIRMED") for k, v in EXPECTED_CONFIRMED.items()}
    tentative = {uid(k, feed): (*v, "TENTATIVE") for k, v in EXPECTED_TENTATIVE.items()}
    off = {uid(k, feed): (*v, "CANCELLED") for k, v in EXPECTED_OFF.items()}
    return {"confirmed": confirmed, "tentative": tentative, "all": {**confirmed, **tentative, **off}}[feed]


@pytest.mark.parametrize("feed", ["confirmed", "tentative", "all"])
def test_feed_reads_back_the_same_races_in_three_independent_parsers(built: Project, feed: str) -> None:
    path = built.dist / PLAN_ID / f"{feed}.ics"
    want = expected(feed)

    js = parse_icaljs(path)[str(path)]
    assert {e["uid"]: (e["start"], e["end"], e["status"]) for e in js["events"]} == want
    assert js["calendarUid"] is None  # a UID on the VCALENDAR made vdirsyncer drop events

    vo = parse_vobject(path)
    assert {e["uid"]: (e["start"].isoformat(), e["end"].isoformat(), e["status"]) for e in vo} == want

    ic = parse_icalendar(path)
    assert {e["uid"]: (e["start"].isoformat(), e["end"].isoformat(), e["status"]) for e in ic} == want


def test_tentative_feed_has_monaco_and_no_confirmed_race(built: Project) -> None:
    text = built.feed("tentative").decode()
    assert "DTSTART;VALUE=DATE:20240712" in text
    assert "STATUS:CONFIRMED" not in text
    assert "SUMMARY:Tentative: Jakob Ingebrigtsen – Monaco" in text  # visible where STATUS is not


def test_rome_is_an_all_day_span_with_exclusive_end(built: Project) -> None:
    text = built.feed("confirmed").decode()
    assert "DTSTART;VALUE=DATE:20240607\r\nDTEND;VALUE=DATE:20240613\r\n" in text


def test_calendar_properties(built: Project) -> None:
    text = built.feed("tentative").decode()
    head = text.split("BEGIN:VEVENT")[0]
    for needed in (
        "VERSION:2.0", "PRODID:", "CALSCALE:GREGORIAN", "METHOD:PUBLISH", "NAME:", "X-WR-CALNAME:",
        "DESCRIPTION:", "X-WR-CALDESC:", "COLOR:darkorange", "X-APPLE-CALENDAR-COLOR:#FF8C00",
        "REFRESH-INTERVAL;VALUE=DURATION:PT6H", "X-PUBLISHED-TTL:PT6H", "X-WR-TIMEZONE:Europe/Oslo",
    ):  # fmt: skip
        assert needed in head, needed
    assert "\nUID:" not in head
    assert "COLOR:seagreen" in built.feed("confirmed").decode()


def test_every_line_is_crlf_terminated_and_at_most_75_octets(built: Project) -> None:
    for feed in ("confirmed", "tentative", "all"):
        data = built.feed(feed)
        assert data.endswith(b"END:VCALENDAR\r\n")
        lines = data.split(b"\r\n")[:-1]
        assert all(b"\n" not in line and len(line) <= 75 for line in lines)


def test_withdrawn_races_stay_in_all_feed_as_cancelled_with_reason(built: Project) -> None:
    events = {e["uid"]: e for e in parse_vobject(built.dist / PLAN_ID / "all.ics")}
    glasgow = events[uid("glasgow-indoors", "all")]
    assert glasgow["status"] == "CANCELLED"
    assert "Achilles tendon issue" in glasgow["description"]
    assert "UID:glasgow-indoors." not in built.feed("confirmed").decode()


def test_event_properties(built: Project) -> None:
    text = built.feed("confirmed").decode().replace("\r\n ", "")
    eugene = text.split(f"UID:{uid('eugene', 'confirmed')}")[1].split("END:VEVENT")[0]
    for needed in ("TRANSP:TRANSPARENT", "LOCATION:Hayward Field\\, Eugene\\, USA", "GEO:44.042400;-123.070600",
                   "CATEGORIES:Diamond League,confirmed", "SEQUENCE:0", "DTSTAMP:20240327T120000Z",
                   "LAST-MODIFIED:20240327T120000Z", "Sources:\\n- News report quoting NRK\\, 5 March 2024"):  # fmt: skip
        assert needed in eugene, needed


def test_two_builds_of_the_same_input_are_byte_identical(project: Project, tmp_path: Path) -> None:
    project.build("--out", "one", "--fresh")
    project.build("--out", "two", "--fresh")
    one = {p.relative_to(project.root / "one"): p.read_bytes() for p in (project.root / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(project.root / "two"): p.read_bytes() for p in (project.root / "two").rglob("*") if p.is_file()}
    assert one == two and len(one) > 10


def test_uid_survives_a_change_of_date(built: Project) -> None:
    built.edit("  - id: bislett\n    meet: bislett-games-2024\n", "  - id: bislett\n    meet: bislett-games-2024\n    date: 2024-05-31\n")
    built.build(time="2024-04-10T08:00:00Z")
    events = {e["uid"]: e for e in parse_vobject(built.dist / PLAN_ID / "confirmed.ics")}
    assert events[uid("bislett", "confirmed")]["start"] == date(2024, 5, 31)
    assert events[uid("bislett", "confirmed")]["sequence"] == 1


TIMED_PLAN = """\
athlete: {name: Test Runner, slug: test-runner}
season: 2024
races:
  - id: rome
    name: European Championships
    start: 2024-06-07
    end: 2024-06-12
    timezone: Europe/Rome
    status: confirmed
    sessions:
      - {name: 1500m heats, date: 2024-06-08, time: "10:05", duration_minutes: 45}
      - {name: 1500m final, date: 2024-06-10, time: "21:50"}
  - id: eugene
    name: Prefontaine Classic
    date: 2024-05-25
    timezone: America/Los_Angeles
    status: tentative
    sessions:
      - {name: Bowerman Mile, date: 2024-05-25, time: "13:46"}
  - id: sydney
    name: Sydney Track Classic
    date: 2024-10-06
    timezone: Australia/Sydney
    status: confirmed
    sessions:
      - {name: 1500m, date: 2024-10-06, time: "03:30"}
"""


def test_timed_sessions_resolve_to_the_same_instant_in_every_parser(tmp_path: Path) -> None:
    """Each parser applies racecal's VTIMEZONE (not its own tz database); all must match zoneinfo."""
    from click.testing import CliRunner

    from racecal.cli import cli

    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "test.yaml").write_text(TIMED_PLAN)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["build", "--schedules", str(tmp_path / "schedules"), "--out", str(tmp_path / "dist"), "--time", "2024-03-01T00:00:00Z"]
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / "dist" / "test-runner-2024" / "all.ics"
    text = path.read_text()
    assert "DTSTART;TZID=Europe/Rome:20240608T100500" in text
    assert text.count("BEGIN:VTIMEZONE") == 3
    assert "RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU" in text  # rules, not RDATE lists (Outlook)

    def utc(local: str, tz: str) -> int:
        return int(datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(tz)).timestamp())

    want = {
        "rome.1500m-heats.test-runner-2024.all@racecal": utc("2024-06-08T10:05", "Europe/Rome"),
        "rome.1500m-final.test-runner-2024.all@racecal": utc("2024-06-10T21:50", "Europe/Rome"),
        "eugene.bowerman-mile.test-runner-2024.all@racecal": utc("2024-05-25T13:46", "America/Los_Angeles"),
        # 6 October 2024 is Sydney's DST start (02:00 → 03:00): 03:30 is AEDT, UTC+11.
        "sydney.1500m.test-runner-2024.all@racecal": utc("2024-10-06T03:30", "Australia/Sydney"),
    }
    js = {e["uid"]: e["start"] for e in parse_icaljs(path)[str(path)]["events"]}
    assert js == want
    vo = {e["uid"]: int(e["start"].timestamp()) for e in parse_vobject(path)}
    assert vo == want
    durations = {e["uid"]: e["end"] - e["start"] for e in parse_vobject(path)}
    assert durations["rome.1500m-heats.test-runner-2024.all@racecal"] == timedelta(minutes=45)


def test_output_does_not_depend_on_how_the_schedules_path_is_spelled(project: Project) -> None:
    """Regression: absolute source paths once leaked into state.json, so clones elsewhere differed."""
    project.build("--out", "one", "--fresh", "--schedules", "schedules")
    project.build("--out", "two", "--fresh", "--schedules", str(project.schedules.resolve()))
    one = {p.relative_to(project.root / "one"): p.read_bytes() for p in (project.root / "one").rglob("*") if p.is_file()}
    two = {p.relative_to(project.root / "two"): p.read_bytes() for p in (project.root / "two").rglob("*") if p.is_file()}
    assert one == two


def test_empty_feeds_say_no_races_not_no_all_races(project: Project) -> None:
    """Regression (independent tester): a plan with `races: []` had `SUMMARY:No all races in E 2024 at
    the moment` in all.ics (the journal that keeps an empty feed a valid calendar)."""
    import icalendar

    (project.schedules / "e-2024.yaml").write_text("athlete: {name: E, slug: e}\nseason: 2024\nraces: []\n")
    project.build()
    summaries = {}
    for feed in ("all", "confirmed", "tentative"):
        calendar = icalendar.Calendar.from_ical((project.dist / "e-2024" / f"{feed}.ics").read_bytes())
        (journal,) = calendar.walk("VJOURNAL")
        summaries[feed] = str(journal["SUMMARY"])
    assert summaries == {
        "all": "No races in E 2024 at the moment",
        "confirmed": "No confirmed races in E 2024 at the moment",
        "tentative": "No tentative races in E 2024 at the moment",
    }
