"""`racecal import`: calendars other tools wrote, and racecal's own, become YAML an editor reviews.
Checked on calendars from ical-generator (node), vobject (Python) and hand-made fixtures in the
shapes Google, Outlook and Apple export, on broken ones, and by a round trip through racecal."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import JS_DIR, PLAN_ID, REPO, Project, need, parse_icalendar, serving

FIXTURES = REPO / "tests" / "fixtures" / "ics"


def imported(project: Project, *args: str) -> dict[str, object]:
    result = project.run("import", *args)
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.stdout)
    assert isinstance(document, dict)
    return document


def events(path: Path) -> dict[str, tuple[object, ...]]:
    """UID → what a subscriber sees of the event's time, status and place (icalendar's reading)."""
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    out = {}
    for event in calendar.walk("VEVENT"):
        start, end = event.decoded("DTSTART"), event.decoded("DTEND")
        instant = lambda v: v.astimezone(UTC) if isinstance(v, datetime) else v  # noqa: E731
        out[str(event["UID"])] = (instant(start), instant(end), str(event["STATUS"]), str(event.get("LOCATION", "")), str(event["SUMMARY"]))
    return out


def test_importing_racecals_own_feed_and_building_it_gives_the_same_races(built: Project, tmp_path: Path) -> None:
    """The round trip: what racecal published, imported against the same catalogue and built again,
    gives the same events (UIDs, times, statuses, places, titles) in every feed."""
    again = Project(tmp_path / "again")
    (again.schedules / "meets").mkdir(parents=True)
    shutil.copytree(built.schedules / "meets", again.schedules / "meets", dirs_exist_ok=True)
    source = built.dist / PLAN_ID / "all.ics"
    result = again.run("import", str(source), "--athlete", "Jakob Ingebrigtsen", "--out", f"schedules/{PLAN_ID}.yaml")
    assert result.exit_code == 0, result.output
    assert again.run("check").output == "ok: 1 plan, no problems\n"
    again.build()
    for feed in ("all", "confirmed", "tentative"):
        assert events(again.dist / PLAN_ID / f"{feed}.ics") == events(built.dist / PLAN_ID / f"{feed}.ics"), feed


def reimported(project: Project, tmp_path: Path, plan_id: str, plan_yaml: str) -> tuple[Project, dict[str, Any]]:
    """Build ``plan_yaml`` in ``project``, import its all.ics into a fresh project (no --athlete: a
    racecal feed names its plan) and return that project and the imported plan."""
    (project.schedules / f"{plan_id}.yaml").write_text(plan_yaml)
    project.build()
    again = Project(tmp_path / "again")
    (again.schedules / "meets").mkdir(parents=True)
    assert again.run("import", str(project.dist / plan_id / "all.ics"), "--out", f"schedules/{plan_id}.yaml").exit_code == 0
    return again, yaml.safe_load((again.schedules / f"{plan_id}.yaml").read_text())


def test_sessions_in_a_zone_come_back_as_sessions_at_the_same_instants(project: Project, tmp_path: Path) -> None:
    again, plan = reimported(
        project, tmp_path, "s-2025",
        "athlete: {name: S Runner, slug: s}\nseason: 2025\nraces:\n"
        "  - {id: worlds, name: World Championships, start: 2025-09-13, end: 2025-09-15, timezone: Asia/Tokyo, status: confirmed,\n"
        "     sessions: [{name: Heats, date: 2025-09-13, time: '19:05', duration_minutes: 40}, {name: Final, date: 2025-09-15, time: '21:20'}]}\n",
    )  # fmt: skip
    assert plan["athlete"] == {"name": "S Runner", "slug": "s"}
    race = plan["races"][0]
    assert race["timezone"] == "Asia/Tokyo" and [s["id"] for s in race["sessions"]] == ["heats", "final"]
    again.build()
    assert events(again.dist / "s-2025" / "all.ics") == events(project.dist / "s-2025" / "all.ics")


def test_a_calendar_written_by_ical_generator_under_node(project: Project, tmp_path: Path) -> None:
    need(shutil.which("node") is not None and (JS_DIR / "node_modules" / "ical-generator").is_dir(), "node with ical-generator")
    written = subprocess.run(
        ["node", str(JS_DIR / "generate.mjs")], capture_output=True, check=True, env={**os.environ, "TZ": "Europe/Oslo"}
    )
    (tmp_path / "federation.ics").write_bytes(written.stdout)
    plan = imported(project, str(tmp_path / "federation.ics"), "--athlete", "Anna Kowalska")
    assert plan["athlete"] == {"name": "Anna Kowalska", "slug": "anna-kowalska"} and plan["season"] == 2025
    races = plan["races"]
    assert isinstance(races, list)
    assert races[0]["name"] == "Bislett Games 1500m" and races[0]["timezone"] == "Europe/Oslo"
    assert races[0]["sessions"] == [
        {"name": "Bislett Games 1500m", "date": datetime(2025, 6, 12).date(), "time": "19:30", "duration_minutes": 45}
    ]
    assert races[0]["venue"] == {"name": "Bislett stadion, Oslo"} and races[0]["url"] == "https://example.org/bislett"
    assert races[1] == {"id": "european-championships-2025", "name": "European Championships", "start": datetime(2025, 8, 11).date(),
                        "end": datetime(2025, 8, 16).date(), "status": "tentative"}  # fmt: skip


def test_a_calendar_written_by_vobject(project: Project, tmp_path: Path) -> None:
    import vobject
    from vobject.icalendar import utc

    calendar = vobject.iCalendar()
    event = calendar.add("vevent")
    event.add("uid").value = "one@vobject.example"
    event.add("summary").value = "Diamond League Final"
    event.add("dtstart").value = datetime(2025, 8, 28, 18, 0, tzinfo=utc)  # UTC: shown in --timezone
    event.add("dtend").value = datetime(2025, 8, 28, 18, 30, tzinfo=utc)
    event.add("location").value = "Letzigrund"
    event.add("geo").value = "47.3826;8.5045"
    (tmp_path / "v.ics").write_text(calendar.serialize())
    plan = imported(project, str(tmp_path / "v.ics"), "--athlete", "A", "--timezone", "Europe/Zurich")
    race = plan["races"][0]  # type: ignore[index]
    assert race["timezone"] == "Europe/Zurich" and race["sessions"][0]["time"] == "20:00"
    assert race["venue"] == {"name": "Letzigrund", "lat": 47.3826, "lon": 8.5045}


def test_outlook_windows_zone_names_are_converted_to_the_chosen_zone(project: Project) -> None:
    plan = imported(project, str(FIXTURES / "outlook.ics"), "--athlete", "A", "--timezone", "Europe/Monaco")
    race = plan["races"][0]  # type: ignore[index]
    assert race["id"] == "herculis-5000m-2025" and race["timezone"] == "Europe/Monaco"
    assert race["sessions"] == [{"name": "Herculis 5000m", "date": datetime(2025, 7, 5).date(), "time": "19:30"}]


def test_google_export_all_day_and_utc_times_in_the_calendars_zone(project: Project) -> None:
    plan = imported(project, str(FIXTURES / "google.ics"), "--athlete", "A")
    first, second = plan["races"]  # type: ignore[misc]
    assert (first["start"], first["end"], first["status"]) == (datetime(2025, 6, 14).date(), datetime(2025, 6, 15).date(), "confirmed")
    assert second["timezone"] == "Europe/Oslo" and second["sessions"][0]["time"] == "19:30" and second["status"] == "tentative"


def test_reimporting_gives_the_same_ids_and_text(project: Project) -> None:
    once = project.run("import", str(FIXTURES / "google.ics"), "--athlete", "A").stdout
    assert once == project.run("import", str(FIXTURES / "google.ics"), "--athlete", "A").stdout
    assert [r["id"] for r in yaml.safe_load(once)["races"]] == ["prefontaine-classic-2025", "zurich-weltklasse-1500m-2025"]


def test_meets_already_in_the_catalogue_are_recognised(project: Project, tmp_path: Path) -> None:
    """Bislett Games on the catalogue's day is the catalogue's meet, whatever the title's wording."""
    (tmp_path / "b.ics").write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//x//EN\r\nBEGIN:VEVENT\r\nUID:b@x\r\nDTSTAMP:20240101T000000Z\r\n"
        "DTSTART;VALUE=DATE:20240530\r\nSUMMARY:Bislett Games\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    plan = imported(project, str(tmp_path / "b.ics"), "--athlete", "A")
    assert plan["races"] == [{"id": "bislett-games-2024", "meet": "bislett-games-2024", "status": "confirmed"}]
    assert imported(project, str(tmp_path / "b.ics"), "--as", "meets") == {"meets": []}


def test_recurring_and_broken_calendars_are_refused_and_nothing_is_written(project: Project, tmp_path: Path) -> None:
    out = "schedules/new.yaml"
    recurring = project.run("import", str(FIXTURES / "apple-recurring.ics"), "--athlete", "A", "--out", out)
    assert recurring.exit_code == 1 and not (project.root / out).exists()
    assert "events[0]: 'Track session' repeats (RRULE)" in recurring.stderr
    (tmp_path / "broken.ics").write_text("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:2025-13-45\r\nEND:VEVENT\r\n")
    broken = project.run("import", str(tmp_path / "broken.ics"), "--out", out)
    assert broken.exit_code == 1 and not (project.root / out).exists()
    assert broken.stderr.startswith(f"{tmp_path / 'broken.ics'}:1:1: calendar: ")
    (project.root / out).write_text("mine\n")
    assert project.run("import", str(FIXTURES / "google.ics"), "--out", out).exit_code == 2
    assert (project.root / out).read_text() == "mine\n"


def _calendar(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\n{e}END:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n"


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (["UID:a\r\nSUMMARY:Bad\r\nDTSTART:notadate\r\n"], "events[0]: 'Bad': DTSTART is not a date or a date-time"),
        (["UID:a\r\nSUMMARY:Feb\r\nDTSTART;VALUE=DATE:20250230\r\n"], "events[0]: 'Feb': DTSTART is not a date or a date-time"),
        (["UID:a\r\nSUMMARY:P\r\nDTSTART;VALUE=PERIOD:20250601T100000Z/PT1H\r\n"], "events[0]: 'P': DTSTART is not a date or a date-time"),
        (
            ["UID:a\r\nSUMMARY:Mixed\r\nDTSTART;VALUE=DATE:20250601\r\nDTEND:20250603T180000Z\r\n"],
            "DTEND is not of the same kind as DTSTART",
        ),
        (["UID:a\r\nSUMMARY:D\r\nDTSTART:20250601T100000Z\r\nDURATION:P99999999D\r\n"], "events[0]: 'D': DURATION is longer than a year"),
        (
            ["UID:a\r\nSUMMARY:Two\r\nDTSTART:20250601T100000Z\r\nDTSTART:20250602T100000Z\r\n"],
            "events[0]: 'Two': DTSTART is given more than once",
        ),
        (["UID:a\r\nSUMMARY:One\r\nSUMMARY:Two\r\nDTSTART;VALUE=DATE:20250601\r\n"], "events[0]: SUMMARY is given more than once"),
        (
            ["UID:a\r\nSUMMARY:First\r\nDTSTART;VALUE=DATE:20250601\r\n", "UID:a\r\nSUMMARY:Second\r\nDTSTART;VALUE=DATE:20250701\r\n"],
            "events[1]: has the UID of events[0]",
        ),
        (
            ["UID:a\r\nSUMMARY:\u202eevil\r\nDTSTART;VALUE=DATE:20250601\r\n"],
            "4:1: events[0] (name): the plan it makes would not pass racecal check: contains the invisible",
        ),
        (["UID:a\r\nSUMMARY:Year\r\nDTSTART;VALUE=DATE:22000601\r\n"], "its dates are outside the years 1900–2100"),
        (
            ["UID:a\r\nSUMMARY:Geo\r\nGEO:200;400\r\nDTSTART;VALUE=DATE:20250601\r\n"],
            "4:1: events[0] (venue.lat): the plan it makes would not pass racecal check: must be between -90 and 90",
        ),
    ],
    ids=[
        "not-a-date",
        "feb-30",
        "period",
        "date-and-date-time",
        "huge-duration",
        "two-dtstarts",
        "two-summaries",
        "duplicate-uid-lost-an-event",
        "bidi-name-check-refused",
        "year-2200",
        "geo-out-of-range",
    ],
)
def test_what_crashed_or_was_written_for_check_to_refuse_is_a_located_problem(
    project: Project, tmp_path: Path, events: list[str], expected: str
) -> None:
    """Regressions from an independent tester: these tracebacked, lost an event without a word, or
    wrote YAML that racecal check then refused. Now: one located line each, exit 1, nothing written."""
    source = tmp_path / "in.ics"
    source.write_text(_calendar(*events), newline="")
    out = project.root / "schedules" / "new.yaml"
    done = project.run("import", str(source), "--athlete", "Test Runner", "--out", str(out))
    assert done.exit_code == 1, done.output
    assert expected in done.stderr and done.stderr.startswith(f"{source}:")
    assert "Traceback" not in done.output and not out.exists()


def test_a_malformed_url_is_an_error_not_a_traceback(project: Project) -> None:
    done = project.run("import", "http://[::1")
    assert done.exit_code == 1 and "not a valid URL" in done.stderr and "Traceback" not in done.output


def test_a_race_with_sessions_on_three_days_comes_back_with_its_names_and_zone(project: Project, tmp_path: Path) -> None:
    """Regression (independent tester): sessions on a third day fell outside the race's imported
    dates (check refused the plan), "Økt 1: warmup" came back as "warmup", and the plan's own zone
    (X-WR-TIMEZONE) was lost. The events of the rebuilt feed are the original's."""
    again, plan = reimported(
        project, tmp_path, "anna-k-2025",
        "athlete: {name: Anna K, slug: anna-k}\nseason: 2025\ntimezone: America/New_York\nraces:\n"
        "  - {id: rome, name: European Championships, start: 2025-06-08, end: 2025-06-11, timezone: Europe/Rome, status: confirmed,\n"
        "     sessions: [{name: 1500m heats, date: 2025-06-08, time: '10:05', duration_minutes: 45},\n"
        "                {name: 1500m final, date: 2025-06-10, time: '21:50'},\n"
        "                {name: 'Økt 1: warmup', date: 2025-06-11, time: '23:30', duration_minutes: 120}]}\n",
    )  # fmt: skip
    assert again.run("check").exit_code == 0
    assert plan["timezone"] == "America/New_York"
    race = plan["races"][0]
    assert (race["start"], race["end"]) == (datetime(2025, 6, 8).date(), datetime(2025, 6, 11).date())
    assert [s["name"] for s in race["sessions"]] == ["1500m heats", "1500m final", "Økt 1: warmup"]
    again.build()
    for feed in ("all", "confirmed"):
        assert events(again.dist / "anna-k-2025" / f"{feed}.ics") == events(project.dist / "anna-k-2025" / f"{feed}.ics")


def test_multi_day_timed_and_outlook_all_day_events_become_races_over_their_days(project: Project, tmp_path: Path) -> None:
    """Regression (independent tester): both became one day with a 24-hour session (Outlook's a day
    early, at 22:00 UTC)."""
    source = tmp_path / "in.ics"
    source.write_text(
        _calendar(
            "UID:a\r\nSUMMARY:Three days\r\nDTSTART;TZID=Europe/Oslo:20250601T090000\r\nDTEND;TZID=Europe/Oslo:20250603T180000\r\n",
            'UID:b\r\nSUMMARY:Nationals\r\nX-MICROSOFT-CDO-ALLDAYEVENT:TRUE\r\nDTSTART;TZID="W. Europe Standard Time":20250612T000000\r\n'
            'DTEND;TZID="W. Europe Standard Time":20250615T000000\r\n',
            'UID:c\r\nSUMMARY:Evening meet\r\nDTSTART;TZID="W. Europe Standard Time":20250701T190000\r\n'
            'DTEND;TZID="W. Europe Standard Time":20250701T203000\r\n',
        ),
        newline="",
    )
    plan = imported(project, str(source), "--athlete", "Åsa Ørn-Ærø")
    assert plan["athlete"] == {"name": "Åsa Ørn-Ærø", "slug": "asa-orn-aero"}  # spelt, not dropped
    three, nationals, evening = plan["races"]  # type: ignore[misc]
    assert (three["start"], three["end"], "sessions" in three) == (datetime(2025, 6, 1).date(), datetime(2025, 6, 3).date(), False)
    assert (nationals["start"], nationals["end"]) == (datetime(2025, 6, 12).date(), datetime(2025, 6, 14).date())
    # Without --timezone, a Windows zone name is its IANA zone (CLDR's mapping), at the time as written.
    assert evening["timezone"] == "Europe/Berlin" and evening["sessions"][0]["time"] == "19:00"


def test_problems_name_the_line_of_their_event_and_a_fold_may_split_a_character(project: Project, tmp_path: Path) -> None:
    """Regressions (independent tester): every problem was at 1:1; a line folded inside a UTF-8
    character (RFC 5545 3.1 says to unfold bytes first) was refused as not UTF-8."""
    source = tmp_path / "in.ics"
    source.write_bytes(
        _calendar(
            "UID:a\r\nSUMMARY:First\r\nDTSTART;VALUE=DATE:20250601\r\n", "UID:a\r\nSUMMARY:Second\r\nDTSTART;VALUE=DATE:20250701\r\n"
        ).encode()
    )
    done = project.run("import", str(source), "--athlete", "A")
    assert done.stderr.startswith(f"{source}:9:1: events[1]: has the UID of events[0]")
    source.write_bytes(
        _calendar("UID:a\r\nSUMMARY:\xc3\r\n \x98kt\r\nDTSTART;VALUE=DATE:20250601\r\n".encode("latin-1").decode("latin-1")).encode(
            "latin-1"
        )
    )
    plan = imported(project, str(source), "--athlete", "A")
    assert plan["races"][0]["name"] == "Økt"  # type: ignore[index]


def test_a_secret_calendar_address_is_not_copied_into_the_yaml(project: Project, tmp_path: Path) -> None:
    """Regression (independent tester): the URL, with its token, was the YAML's first line."""
    site = tmp_path / "site"
    (site / "private-0123456789abcdef").mkdir(parents=True)
    shutil.copy(FIXTURES / "google.ics", site / "private-0123456789abcdef" / "basic.ics")
    with serving(site) as url:
        done = project.run("import", f"{url}/private-0123456789abcdef/basic.ics", "--athlete", "A")
        assert done.exit_code == 0, done.output
        assert "0123456789abcdef" not in done.stdout and done.stdout.startswith("# Imported from a calendar on 127.0.0.1 ")
        webcal = project.run("import", url.replace("http://", "webcal://") + "/private-0123456789abcdef/basic.ics", "--athlete", "A")
        # webcal:// names an https calendar (this test server speaks plain http, so the TLS handshake fails).
        assert webcal.exit_code == 1 and f"{url.replace('http://', 'https://')}/private" in webcal.stderr
        credentials = project.run("import", url.replace("http://", "http://user:pw@") + "/x.ics")
        assert credentials.exit_code == 2 and "user name or password" in credentials.output


def test_an_imported_one_event_race_is_not_named_twice_in_its_feed(project: Project, tmp_path: Path) -> None:
    """Regression (independent tester): the feed said "Anna – Mityng: Mityng"."""
    source = tmp_path / "in.ics"
    source.write_text(
        _calendar("UID:a\r\nSUMMARY:Mityng\r\nDTSTART;TZID=Europe/Warsaw:20250601T180000\r\nDTEND;TZID=Europe/Warsaw:20250601T190000\r\n"),
        newline="",
    )
    assert project.run("import", str(source), "--athlete", "Anna", "--out", "schedules/anna-2025.yaml").exit_code == 0
    project.build()
    assert [e[4] for e in events(project.dist / "anna-2025" / "all.ics").values()] == ["Anna – Mityng"]


# Regressions from a second independent tester.


@given(st.lists(st.sampled_from([b"BEGIN:VEVENT\r\n", b"X:1\r\n", b"\r\n", b"begin:vevent\n", b"SUMMARY:BEGIN:VEVENT\r\n"]), max_size=40))
def test_event_lines_are_counted_in_one_pass_as_a_naive_count_would(parts: list[bytes]) -> None:
    """The count was quadratic (a 62 MB calendar hung for hours); the one-pass count must agree
    with counting newlines before each BEGIN:VEVENT from the start."""
    from racecal.importer import _BEGIN_VEVENT, _event_lines

    data = b"".join(parts)
    assert _event_lines(data) == [data.count(b"\n", 0, m.start()) + 1 for m in _BEGIN_VEVENT.finditer(data)]


def _built_instants(project: Project, tmp_path: Path, calendar: str, plan_id: str) -> list[tuple[datetime, datetime]]:
    """``calendar`` imported as ``plan_id`` and built: its timed events as UTC instants, by icalendar."""
    source = tmp_path / "in.ics"
    source.write_text(calendar, newline="")
    athlete = plan_id.rsplit("-", 1)[0].upper()  # "D" for d-2025: its slug makes the plan id
    assert project.run("import", str(source), "--athlete", athlete, "--out", f"schedules/{plan_id}.yaml").exit_code == 0
    project.build()
    events = parse_icalendar(project.dist / plan_id / "all.ics")
    return sorted((e["start"].astimezone(UTC), e["end"].astimezone(UTC)) for e in events if isinstance(e["start"], datetime))


def test_events_across_a_dst_change_keep_their_instants(project: Project, tmp_path: Path) -> None:
    """An hour at 00:30Z on Oslo's spring-forward night became 120 minutes; a three-hour event over
    the autumn change became 120. Compared as UTC instants after a build."""
    calendar = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nX-WR-TIMEZONE:Europe/Oslo\r\n"
        "BEGIN:VEVENT\r\nUID:s\r\nSUMMARY:Spring\r\nDTSTART:20250330T003000Z\r\nDTEND:20250330T013000Z\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:f\r\nSUMMARY:Autumn\r\nDTSTART:20251025T233000Z\r\nDTEND:20251026T023000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    assert _built_instants(project, tmp_path, calendar, "d-2025") == [
        (datetime(2025, 3, 30, 0, 30, tzinfo=UTC), datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),
        (datetime(2025, 10, 25, 23, 30, tzinfo=UTC), datetime(2025, 10, 26, 2, 30, tzinfo=UTC)),
    ]


def test_a_legacy_tzid_follows_the_calendars_own_vtimezone(project: Project, tmp_path: Path) -> None:
    """vobject writes TZID:EST with New York's rules in the VTIMEZONE; read as the fixed-offset IANA
    zone EST, a July 18:00 came out an hour late (23:00Z instead of 22:00Z)."""
    rules = "".join(
        f"BEGIN:{kind}\r\nDTSTART:{start}\r\nRRULE:FREQ=YEARLY;BYDAY={day};BYMONTH={month}\r\nTZNAME:{name}\r\n"
        f"TZOFFSETFROM:{before}\r\nTZOFFSETTO:{after}\r\nEND:{kind}\r\n"
        for kind, start, day, month, name, before, after in (
            ("STANDARD", "20071104T020000", "1SU", 11, "EST", "-0400", "-0500"),
            ("DAYLIGHT", "20070311T020000", "2SU", 3, "EDT", "-0500", "-0400"),
        )
    )
    calendar = (
        f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:EST\r\n{rules}END:VTIMEZONE\r\n"
        "BEGIN:VEVENT\r\nUID:b\r\nSUMMARY:Boston summer\r\nDTSTART;TZID=EST:20250710T180000\r\nDTEND;TZID=EST:20250710T190000\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n"
    )
    assert _built_instants(project, tmp_path, calendar, "b-2025") == [
        (datetime(2025, 7, 10, 22, tzinfo=UTC), datetime(2025, 7, 10, 23, tzinfo=UTC))
    ]


def test_only_the_same_meet_is_taken_from_the_catalogue_and_title_status_words_are_kept(project: Project, tmp_path: Path) -> None:
    """ "Oslo 5k" became the catalogue's "Oslo 10k", a three-day "Bislett Games" the one-day meet, a
    watch party the meet itself; "Cancelled: Bergen 10k" from another tool was published confirmed."""
    (project.schedules / "meets" / "m.yaml").write_text(
        "meets:\n  - {id: oslo-10k-2025, name: Oslo 10k, date: 2025-09-20, timezone: Europe/Oslo}\n"
        "  - {id: bislett-2025, name: Bislett Games, date: 2025-06-12, timezone: Europe/Oslo}\n"
    )
    source = tmp_path / "in.ics"
    source.write_text(
        _calendar(
            "UID:a\r\nSUMMARY:Oslo 5k\r\nDTSTART;VALUE=DATE:20250920\r\n",
            "UID:b\r\nSUMMARY:Bislett Games\r\nDTSTART;VALUE=DATE:20250612\r\nDTEND;VALUE=DATE:20250615\r\n",
            "UID:c\r\nSUMMARY:Bislett Games watch party\r\nDTSTART;TZID=America/New_York:20250612T100000\r\n",
            "UID:d\r\nSUMMARY:Bislett Games (Oslo DL)\r\nDTSTART;VALUE=DATE:20250612\r\n",
            "UID:e\r\nSUMMARY:Cancelled: Bergen 10k\r\nDTSTART;VALUE=DATE:20250801\r\n",
            "UID:f\r\nSUMMARY:Tentative: Oslo Mile\r\nDTSTART;VALUE=DATE:20250802\r\n",
        ),
        newline="",
    )
    races = {r["id"]: r for r in imported(project, str(source), "--athlete", "M")["races"]}  # type: ignore[union-attr]
    assert "meet" not in races["oslo-5k-2025"] and "meet" not in races["bislett-games-watch-party-2025"]
    assert "meet" not in races["bislett-games-2025"] and races["bislett-games-2025"]["end"] == datetime(2025, 6, 14).date()
    assert [r for r in races.values() if "meet" in r] == [
        {"id": "bislett-games-oslo-dl-2025", "meet": "bislett-2025", "status": "confirmed"}
    ]
    assert (races["bergen-10k-2025"]["name"], races["bergen-10k-2025"]["status"]) == ("Bergen 10k", "cancelled")
    assert (races["oslo-mile-2025"]["name"], races["oslo-mile-2025"]["status"]) == ("Oslo Mile", "tentative")


def test_a_group_feed_is_refused_as_a_plan_and_gives_one_meet_per_meet(project: Project, tmp_path: Path) -> None:
    """A group feed became one "Athlete Name" with everyone's races; as meets, each meet once per athlete."""
    fed = tmp_path / "fed"
    shutil.copytree(REPO / "examples" / "federation", fed)
    fed_project = Project(fed)
    fed_project.build(time="2026-11-01T00:00:00Z")
    feed = str(fed / "dist" / "team-nordvik-2027" / "all.ics")
    refused = project.run("import", feed)
    assert refused.exit_code == 1 and "has the races of 3 athletes (Ada Fjell, Erik Stav, Tomas Berg)" in refused.stderr
    catalogue = imported(project, feed, "--as", "meets")
    names = [(m["name"], m.get("date", m.get("start"))) for m in catalogue["meets"]]  # type: ignore[union-attr]
    assert len(names) == len(set(names)) and ("Nordvik Championships", datetime(2027, 6, 26).date()) in names


def test_out_is_a_file_in_an_existing_folder_or_standard_output(project: Project, tmp_path: Path) -> None:
    """--out made missing folders on the way, wrote a file named "-", and blamed an existing file."""
    google = str(FIXTURES / "google.ics")
    assert project.run("import", google, "--out", str(tmp_path / "missing" / "x.yaml")).exit_code == 2
    assert not (tmp_path / "missing").exists()
    assert "is not a folder" in project.run("import", google, "--out", f"{google}/x.yaml").output
    to_stdout = project.run("import", google, "--out", "-")
    assert to_stdout.exit_code == 0 and to_stdout.stdout.startswith("# Imported from") and not (project.root / "-").exists()
    ftp = project.run("import", "ftp://example.org/x.ics")
    assert ftp.exit_code == 2 and "give a file, or an http(s) or webcal URL" in ftp.output


def test_ids_of_events_without_a_uid_do_not_depend_on_the_other_events(project: Project, tmp_path: Path) -> None:
    one, two = tmp_path / "one.ics", tmp_path / "two.ics"
    parkrun = "SUMMARY:parkrun\r\nDTSTART;VALUE=DATE:20250607\r\n"
    twin = "SUMMARY:parkrun\r\nDTSTART;VALUE=DATE:20250614\r\n"
    one.write_text(_calendar(parkrun, twin), newline="")
    two.write_text(_calendar("SUMMARY:Other\r\nDTSTART;VALUE=DATE:20250101\r\n", parkrun, twin), newline="")
    ids = [[r["id"] for r in imported(project, str(p), "--athlete", "P")["races"] if r["name"] == "parkrun"] for p in (one, two)]  # type: ignore[union-attr,index]
    assert ids[0] == ids[1]


# Regressions from a third independent tester.


def _descriptions(path: Path) -> dict[str, str]:
    return {str(e["UID"]): str(e.get("DESCRIPTION", "")) for e in icalendar.Calendar.from_ical(path.read_bytes()).walk("VEVENT")}


def test_names_with_dashes_and_colons_reasons_and_notes_come_back(project: Project, tmp_path: Path) -> None:
    """An athlete named "Maria – Luisa: Test" came back as "Maria", a race named "Withdrawn: Gala –
    Night" with a session of that name was split at its colon, and a withdrawal's reason was lost,
    though the feed carries all of them. Events, descriptions included, must come back the same."""
    again, plan = reimported(
        project, tmp_path, "ml-2025",
        'athlete: {name: "Maria – Luisa: Test", slug: ml}\nseason: 2025\nraces:\n'
        '  - {id: abc, name: "A: B: C – D", date: 2025-05-01, status: confirmed, note: "Two lines:\\nsecond – line"}\n'
        '  - {id: gala, name: "Withdrawn: Gala – Night", date: 2025-06-01, timezone: Europe/Oslo, status: tentative,\n'
        '     sessions: [{name: "Withdrawn: Gala – Night", date: 2025-06-01, time: "20:00"}, {name: "Cancelled: x", date: 2025-06-01, time: "21:00"}]}\n'
        '  - {id: gone, name: Gone, date: 2025-07-01, status: withdrawn, reason: "Injury: calf – two weeks"}\n',
    )  # fmt: skip
    assert plan["athlete"] == {"name": "Maria – Luisa: Test", "slug": "ml"}
    races = {r["id"]: r for r in plan["races"]}
    assert races["abc"]["name"] == "A: B: C – D" and races["abc"]["note"] == "Two lines:\nsecond – line"
    assert races["gala"]["name"] == "Withdrawn: Gala – Night"
    assert [s["name"] for s in races["gala"]["sessions"]] == ["Withdrawn: Gala – Night", "Cancelled: x"]
    assert races["gone"]["reason"] == "Injury: calf – two weeks"
    again.build()
    for feed in ("all", "confirmed", "tentative"):
        original, rebuilt = project.dist / "ml-2025" / f"{feed}.ics", again.dist / "ml-2025" / f"{feed}.ics"
        assert events(rebuilt) == events(original) and _descriptions(rebuilt) == _descriptions(original), feed


def test_an_etc_zone_keeps_its_local_date(project: Project, tmp_path: Path) -> None:
    """TZID=Etc/GMT+12 was converted to UTC, which moved an evening race to the next day."""
    source = tmp_path / "in.ics"
    source.write_text(_calendar("UID:e\r\nSUMMARY:Late\r\nDTSTART;TZID=Etc/GMT+12:20250401T200000\r\n"), newline="")
    race = imported(project, str(source), "--athlete", "E")["races"][0]  # type: ignore[index]
    assert (race["date"], race["timezone"], race["sessions"][0]["time"]) == (datetime(2025, 4, 1).date(), "Etc/GMT+12", "20:00")


def test_a_meet_calendar_imported_as_meets_is_one_meet(project: Project, tmp_path: Path) -> None:
    """A meet's calendar (each athlete's race there, one over all its days, one in sessions) gave
    two meets on different days, and one even when the catalogue had the meet."""
    fed = tmp_path / "fed"
    shutil.copytree(REPO / "examples" / "federation", fed)
    ada = fed / "schedules" / "ada-fjell-2027.yaml"
    ada.write_text(ada.read_text().replace(
        "    meet: nordvik-championships-2027\n    status: confirmed\n",
        "    meet: nordvik-championships-2027\n    status: confirmed\n    sessions: [{name: Final, date: 2027-06-27, time: '18:00'}]\n",
    ))  # fmt: skip
    Project(fed).build(time="2026-11-01T00:00:00Z")
    feed = str(fed / "dist" / "nordvik-championships-2027" / "all.ics")
    assert "Ada Fjell – Nordvik Championships: Final" in Path(feed).read_text()  # sessions on the second day
    empty = tmp_path / "empty"
    empty.mkdir()
    meets = imported(project, feed, "--as", "meets", "--schedules", str(empty))["meets"]  # type: ignore[index]
    assert [(m["name"], m["start"], m["end"]) for m in meets] == [
        ("Nordvik Championships", datetime(2027, 6, 26).date(), datetime(2027, 6, 28).date())
    ]
    assert imported(project, feed, "--as", "meets", "--schedules", str(fed / "schedules"))["meets"] == []
