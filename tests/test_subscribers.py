"""Regressions for what subscribers saw wrong (issue: "what every subscriber sees is exactly the plan").

Each test is named after what broke. Feeds are read with parsers racecal did not write (vobject,
icalendar, ical.js); UIDs are written out from docs/history.md, not computed with racecal's code.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import racecal.cli
from conftest import CLIENT_BIN, PLAN_ID, Project, need, parse_icalendar, parse_icaljs, parse_vobject, serving
from test_client import Subscriber

FORMAT_1_DIST = Path(__file__).parent / "fixtures" / "format1" / "dist"
T0 = datetime(2024, 3, 27, 12, tzinfo=UTC)


def at(days: float) -> str:
    return (T0 + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def uid(race: str, feed: str, plan: str = PLAN_ID) -> str:
    return f"{race}.{plan}.{feed}@racecal"


def vevents(project: Project, feed: str, plan: str = PLAN_ID) -> dict[str, dict[str, object]]:
    """UID → event as vobject reads it; asserts no UID occurs twice in the feed."""
    events = parse_vobject(project.dist / plan / f"{feed}.ics")
    counts = Counter(e["uid"] for e in events)
    assert all(n == 1 for n in counts.values()), counts
    return {e["uid"]: e for e in events}


def delete_race(project: Project, race_id: str) -> str:
    text = project.plan_file.read_text()
    start = text.index(f"  - id: {race_id}\n")
    end = text.find("\n  - id: ", start + 1)
    block = text[start : end + 1] if end != -1 else text[start:]
    project.plan_file.write_text(text.replace(block, ""))
    return block


def test_sequence_does_not_go_back_when_a_race_id_is_reused_after_its_tombstone_expired(built: Project) -> None:
    built.edit("    status: tentative\n", "    status: confirmed\n")  # Monaco: 0 → 1
    built.build(time=at(1))
    built.edit("    status: confirmed\n    note: '\"...then", "    status: tentative\n    note: '\"...then")  # 1 → 2
    built.build(time=at(2))
    block = delete_race(built, "monaco")  # 2 → 3, tombstones
    built.build(time=at(3))
    assert vevents(built, "all")[uid("monaco", "all")]["sequence"] == 3
    built.build(time=at(40))  # tombstones expired: the race is forgotten, its SEQUENCE is not
    assert uid("monaco", "all") not in vevents(built, "all")
    built.plan_file.write_text(built.plan_file.read_text() + block)
    built.build(time=at(41))
    for feed in ("all", "tentative"):
        assert vevents(built, feed)[uid("monaco", feed)]["sequence"] == 4, feed


def test_promotion_never_leaves_one_uid_live_in_one_calendar_and_cancelled_in_another(built: Project) -> None:
    built.edit("    status: tentative\n", "    status: confirmed\n")
    built.build(time=at(1))
    feeds = {feed: vevents(built, feed) for feed in ("all", "confirmed", "tentative")}
    for a in feeds:
        for b in feeds:
            if a < b:
                assert not set(feeds[a]) & set(feeds[b]), (a, b)
    assert feeds["tentative"][uid("monaco", "tentative")]["status"] == "CANCELLED"
    assert feeds["confirmed"][uid("monaco", "confirmed")]["status"] == "CONFIRMED"
    assert feeds["all"][uid("monaco", "all")]["status"] == "CONFIRMED"


def test_format_1_feeds_are_migrated_without_anything_live_twice(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The published example of racecal 0.1 had one UID per race in every feed: it must be carried over."""
    shutil.copytree(FORMAT_1_DIST, project.dist)
    later = datetime(2026, 12, 1, tzinfo=UTC)  # the fixture was published on 21 November 2026
    monkeypatch.setattr(racecal.cli, "_wall_clock", lambda: later + timedelta(days=40))  # --time may not be in the future

    def at(days: float) -> str:
        return (later + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")

    project.build(time=at(1))
    for feed, live_status in (("confirmed", {"CONFIRMED"}), ("tentative", {"TENTATIVE"}), ("all", {"CONFIRMED", "TENTATIVE", "CANCELLED"})):
        events = vevents(project, feed)
        old = {u: e for u, e in events.items() if u.endswith(f".{PLAN_ID}@racecal")}
        new = {u: e for u, e in events.items() if u.endswith(f".{PLAN_ID}.{feed}@racecal")}
        assert set(events) == set(old) | set(new)
        assert old and all(e["status"] == "CANCELLED" and e["sequence"] == 1 for e in old.values()), feed
        assert {e["status"] for e in new.values()} <= live_status
        assert {u.split(".")[0] for u in old} == {u.split(".")[0] for u in new}  # every race carried over
        assert all(e["sequence"] == 1 for e in new.values())  # above what subscribers had
    # The grace period ends the old UIDs; the new ones stay as they are.
    before = vevents(project, "confirmed")
    project.build(time=at(31))
    after = vevents(project, "confirmed")
    assert set(after) == {u for u in before if u.endswith(".confirmed@racecal")}


def test_empty_tentative_feed_is_still_a_valid_calendar(built: Project, tmp_path: Path) -> None:
    built.edit("    status: tentative\n", "    status: confirmed\n")  # the only tentative race
    built.build(time=at(1))
    built.build(time=at(31))  # its tombstone expires: no event left in tentative.ics
    path = built.dist / PLAN_ID / "tentative.ics"
    text = path.read_text()
    assert "BEGIN:VEVENT" not in text
    assert "BEGIN:VJOURNAL" in text
    import icalendar

    components = [c.name for c in icalendar.Calendar.from_ical(path.read_bytes()).subcomponents]
    assert components == ["VJOURNAL"]
    assert parse_icalendar(path) == [] and parse_vobject(path) == []
    assert parse_icaljs(path)[str(path)]["events"] == []


@pytest.mark.external
def test_vdirsyncer_keeps_syncing_a_feed_that_became_empty(built: Project, tmp_path: Path) -> None:
    need((CLIENT_BIN / "vdirsyncer").exists() and (CLIENT_BIN / "khal").exists(), "vdirsyncer and khal")
    with serving(built.dist) as origin:
        me = Subscriber(tmp_path / "client", f"{origin}/{PLAN_ID}/tentative.ics")
        me.sync()
        assert me.agenda() == ["2024-07-12 2024-07-12 Tentative: Jakob Ingebrigtsen – Monaco Diamond League (Herculis)"]
        built.edit("    status: tentative\n", "    status: confirmed\n")
        built.build(time=at(1))
        me.sync()
        assert me.agenda() == ["2024-07-12 2024-07-12 CANCELLED Removed: Jakob Ingebrigtsen – Monaco Diamond League (Herculis)"]
        built.build(time=at(31))
        me.sync()  # vdirsyncer refuses to sync a collection that became empty: this must still pass
        assert me.agenda() == []


def test_tombstones_expire_on_a_later_build_without_a_commit(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: the default build time is the last commit's, so a scheduled rebuild never expired them."""
    delete_race(built, "eugene")
    today = datetime.now(UTC).replace(microsecond=0)  # the data time comes from the file, written just now
    monkeypatch.setattr(racecal.cli, "_wall_clock", lambda: today)
    result = built.run("build")  # no --time, no SOURCE_DATE_EPOCH: data time from the files, publication by the clock
    assert result.exit_code == 0, result.output
    assert vevents(built, "confirmed")[uid("eugene", "confirmed")]["status"] == "CANCELLED"
    stamp = vevents(built, "confirmed")[uid("bislett", "confirmed")]
    monkeypatch.setattr(racecal.cli, "_wall_clock", lambda: today + timedelta(days=20))
    assert "unchanged" in built.run("build").output  # within the grace period nothing changes
    monkeypatch.setattr(racecal.cli, "_wall_clock", lambda: today + timedelta(days=52))
    result = built.run("build")
    assert result.exit_code == 0 and "wrote" in result.output, result.output
    assert uid("eugene", "confirmed") not in vevents(built, "confirmed")
    assert vevents(built, "confirmed")[uid("bislett", "confirmed")] == stamp  # the rest untouched


def test_deleted_plan_feeds_stay_valid_calendars_until_retired(built: Project) -> None:
    plan_text = built.plan_file.read_text()
    built.plan_file.unlink()
    built.build(time=at(1))
    for feed in ("all", "confirmed", "tentative"):
        assert {e["status"] for e in vevents(built, feed).values()} == {"CANCELLED"}, feed
    built.build(time=at(31))
    for feed in ("all", "confirmed", "tentative"):
        path = built.dist / PLAN_ID / f"{feed}.ics"
        text = path.read_text()
        assert "BEGIN:VEVENT" not in text and "BEGIN:VJOURNAL" in text
        assert "X-WR-CALNAME:Jakob Ingebrigtsen 2024 – " in text and "(removed)" in text
        assert parse_vobject(path) == []
    with serving(built.dist) as origin:
        import urllib.request

        assert urllib.request.urlopen(f"{origin}/{PLAN_ID}/all.ics").status == 200
    assert "This plan was removed" in (built.dist / PLAN_ID / "index.html").read_text()
    assert "unchanged" in built.build(time=at(60)).output

    # Retired on purpose: the files go; the SEQUENCE floors stay in index.json.
    (built.root / "racecal.yaml").write_text(f"retired: [{PLAN_ID}]\n")
    built.build(time=at(61))
    assert not (built.dist / PLAN_ID).exists()
    floors = json.loads((built.dist / "index.json").read_text())["retired"][PLAN_ID]
    assert floors["monaco"] == 1
    # A plan with the same id later continues above them.
    (built.root / "racecal.yaml").write_text("title: Races\n")
    built.plan_file.write_text(plan_text)
    built.build(time=at(62))
    assert vevents(built, "tentative")[uid("monaco", "tentative")]["sequence"] == 2


def test_a_plan_deleted_and_retired_in_one_build_first_publishes_its_races_cancelled(built: Project) -> None:
    """Regression (independent tester): deleting a plan's file and listing it under retired: in the
    same build dropped its feeds at once, so subscribers' events stayed live forever (the URL then
    answers 404), and racecal diff said "No changes" with --exit-code 0. The retirement now waits
    until the cancellations have been published for the grace period, and is a change when it comes."""
    live = {feed: set(vevents(built, feed)) for feed in ("all", "confirmed", "tentative")}
    built.plan_file.unlink()
    (built.root / "racecal.yaml").write_text(f"retired: [{PLAN_ID}]\n")
    result = built.build(time=at(1))
    assert f"{PLAN_ID}: listed under retired:, but its feeds still cancel races until {at(31)[:10]}" in result.output
    for feed, uids in live.items():
        events = vevents(built, feed)
        assert set(events) == uids and {e["status"] for e in events.values()} == {"CANCELLED"}, feed
    waiting = built.run("diff", "--time", at(20))  # a pull request's check says so too (second tester)
    assert waiting.stdout == "No changes.\n" and f"{PLAN_ID}: listed under retired:, but its feeds still cancel races" in waiting.stderr
    assert "unchanged" in built.build(time=at(20)).output  # still cancelling: nothing to do yet

    diffed = built.run("diff", "--time", at(31), "--exit-code", "--format", "json")
    assert diffed.exit_code == 1, diffed.output
    change = json.loads(diffed.stdout)["changes"]
    assert [(c["plan"], c["type"], c["race"]) for c in change] == [(PLAN_ID, "retired", None)], change
    assert "retired" in built.build(time=at(31)).output
    assert not (built.dist / PLAN_ID).exists()
    assert json.loads((built.dist / "index.json").read_text())["retired"][PLAN_ID]["monaco"] >= 1


def test_retired_plan_that_still_has_a_file_is_a_located_problem(built: Project) -> None:
    (built.root / "racecal.yaml").write_text(f"retired: [{PLAN_ID}]\n")
    result = built.run("build", "--time", at(1))
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"schedules/{PLAN_ID}.yaml:5:9: athlete.slug: plan '{PLAN_ID}' is listed under 'retired' in the settings; remove it there to publish it again\n"
    )


def test_feed_near_the_google_subscription_limit_warns(project: Project) -> None:
    races = "".join(
        f"  - {{id: r{i}, name: Race {i}, date: 2024-{1 + i % 12:02d}-{1 + i % 28:02d}, status: confirmed}}\n" for i in range(820)
    )
    (project.schedules / "big-2024.yaml").write_text(f"athlete: {{name: Big, slug: big}}\nseason: 2024\nraces:\n{races}")
    result = project.run("build", "--time", at(0))
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert [w.split(" has ")[0] for w in warnings] == ["warning: big-2024/all.ics", "warning: big-2024/confirmed.ics"]
    assert "820 events" in warnings[0] and "drops the rest silently" in warnings[0]


def test_documented_deployment_builds_daily_so_tombstones_expire() -> None:
    """Regression: with builds only on push, tombstones outlived their grace period for want of a commit."""
    import yaml

    workflow = yaml.safe_load((Path(__file__).parent.parent / "docs" / "github-pages.yml").read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert "schedule" in triggers and triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]
    build_steps = [s for s in workflow["jobs"]["build"]["steps"] if "racecal build" in s.get("run", "")]
    assert [s["if"] for s in build_steps] == ["github.event_name != 'pull_request'"]
    assert workflow["jobs"]["deploy"]["if"] == "github.event_name != 'pull_request'"
    # A failing diff piped into tee must fail its step: GitHub's `shell: bash` runs with -eo pipefail.
    piped = [s for s in workflow["jobs"]["build"]["steps"] if "|" in s.get("run", "")]
    assert piped and all(s.get("shell") == "bash" for s in piped)


def test_renamed_sessions_day_after_day_cannot_grow_feeds_past_the_limits(project: Project) -> None:
    """Regression: cancellations repeated each race's notes and sources and accumulated for 30 days, so
    a plan renaming its sessions daily grew all.ics from 6.6 MB to 67 MB until the next build refused it."""
    note = "x" * 4000

    def plan(round_: int) -> str:
        sessions = "".join(
            f'      - {{id: s{k}-v{round_}, name: Heat {k}, date: 2024-06-01, time: "{8 + k // 6:02d}:{k % 6 * 10:02d}"}}\n'
            for k in range(50)
        )
        races = "".join(
            f"  - id: r{r}\n    name: Race {r}\n    date: 2024-06-01\n    timezone: Europe/Oslo\n    status: confirmed\n    note: {note}\n    sessions:\n{sessions}"
            for r in range(4)
        )
        return f"athlete: {{name: Big, slug: big}}\nseason: 2024\nraces:\n{races}"

    sizes = []
    for day in range(12):
        (project.schedules / "big-2024.yaml").write_text(plan(day))
        result = project.run("build", "--time", at(day), "-q")
        assert result.exit_code == 0, result.output
        sizes.append((project.dist / "big-2024" / "all.ics").stat().st_size)
    events = parse_icalendar(project.dist / "big-2024" / "all.ics")
    live = [e for e in events if e["status"] == "CONFIRMED"]
    cancelled = [e for e in events if e["status"] == "CANCELLED"]
    assert len(live) == 200
    assert len(cancelled) == 2_000  # at most 2,000 cancellations per feed: the oldest go early
    tombstone_bytes = sizes[-1] - sizes[0]
    assert tombstone_bytes < 2_000 * 1024, sizes  # each cancellation under 1 KiB: no notes repeated


def test_renaming_the_athlete_raises_sequence_of_a_deleted_race_cancellation(built: Project) -> None:
    """Regression: a tombstone's SUMMARY changed ("Removed: <new name> – …") with the same SEQUENCE."""
    delete_race(built, "bislett")
    built.build(time=at(1))
    before = vevents(built, "confirmed")[uid("bislett", "confirmed")]
    built.edit("  name: Jakob Ingebrigtsen\n", "  name: Jakob I.\n")
    built.build(time=at(2))
    after = vevents(built, "confirmed")[uid("bislett", "confirmed")]
    assert after["summary"] == "Removed: Jakob I. – Bislett Games"
    assert (before["sequence"], after["sequence"]) == (1, 2)


def test_a_tz_database_update_moves_sessions_with_a_higher_sequence(project: Project, tmp_path: Path) -> None:
    """Regression: a new tz database was ignored by incremental builds (the plan was reused), then
    applied later with an unchanged SEQUENCE, so clients kept the old times."""
    import os
    import subprocess
    import sys

    plan = 'athlete: {name: T, slug: t}\nseason: 2024\nraces:\n  - {id: r1, name: R, date: 2024-06-10, timezone: Europe/Oslo, status: confirmed, sessions: [{name: Final, date: 2024-06-10, time: "20:00"}]}\n'
    (project.schedules / "t-2024.yaml").write_text(plan)
    fake = tmp_path / "zi"  # a "new" tz database in which Oslo keeps Tokyo's time
    (fake / "Europe").mkdir(parents=True)
    shutil.copy("/usr/share/zoneinfo/Asia/Tokyo", fake / "Europe" / "Oslo")
    shutil.copy("/usr/share/zoneinfo/UTC", fake / "UTC")
    (fake / "tzdata.zi").write_text("# version 2099z\n")

    def build(time: str, tzpath: Path | None) -> str:
        env = {**os.environ, **({"PYTHONTZPATH": str(tzpath)} if tzpath else {})}
        done = subprocess.run(
            [sys.executable, "-m", "racecal", "build", "--time", time],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    build(at(0), None)
    final = next(e for e in parse_icalendar(project.dist / "t-2024" / "all.ics") if e["summary"].endswith("Final"))
    assert final["start"] == datetime(2024, 6, 10, 18, tzinfo=UTC)  # 20:00 CEST
    out = build(at(1), fake)
    assert "0 reused" in out  # the plan is not reused under another tz database
    final = next(e for e in parse_vobject(project.dist / "t-2024" / "all.ics") if e["summary"].endswith("Final"))
    assert final["start"].astimezone(UTC) == datetime(2024, 6, 10, 11, tzinfo=UTC)  # 20:00 at +09:00
    assert final["sequence"] == 1


def test_a_removed_sessions_cancellation_keeps_its_bytes_while_the_plan_changes_elsewhere(project: Project, tmp_path: Path) -> None:
    """Regression (found by the subscriber model): a removed session's cancellation was drawn from the
    previous snapshot, which the next build no longer had, so when another race of the plan changed
    it turned from the timed session into the race's all-day span under the same SEQUENCE."""
    both = '[{id: heat, name: Heat, date: 2024-06-10, time: "18:00"}, {id: final, name: Final, date: 2024-06-11, time: "20:00"}]'
    heat_only = '[{id: heat, name: Heat, date: 2024-06-10, time: "18:00"}]'
    race = "  - {{id: r1, name: R, start: 2024-06-10, end: 2024-06-11, timezone: Europe/Oslo, status: confirmed, sessions: {}}}\n"
    head = "athlete: {name: T, slug: t}\nseason: 2024\nraces:\n"
    other = "  - {id: r2, name: Other, date: 2024-07-01, status: confirmed}\n"
    path = project.schedules / "t-2024.yaml"
    path.write_text(head + race.format(both))
    project.build(time=at(0))
    path.write_text(head + race.format(heat_only))  # the final is dropped: cancelled
    project.build(time=at(1))
    first = tmp_path / "first.ics"
    first.write_bytes(project.feed("all", "t-2024"))
    path.write_text(head + race.format(heat_only) + other)  # another race is added
    project.build(time=at(2))
    final = uid("r1.final", "all", "t-2024")
    before = {e["uid"]: e for e in parse_icalendar(first)}[final]
    after = {e["uid"]: e for e in parse_icalendar(project.dist / "t-2024" / "all.ics")}[final]
    assert before["status"] == after["status"] == "CANCELLED"
    assert after == before
    assert _event_bytes(first.read_bytes(), final) == _event_bytes(project.feed("all", "t-2024"), final)


def _event_bytes(feed: bytes, event_uid: str) -> bytes:
    events = [e for e in feed.split(b"BEGIN:VEVENT\r\n")[1:] if f"UID:{event_uid}\r\n".encode() in e]
    assert len(events) == 1
    return events[0]
