"""Group calendars (docs/groups.md), checked against what the YAML says, read without racecal's code.

Membership is worked out here from the plans' YAML and the documented rule; feeds are read with
icalendar, vobject and ical.js; a group event is compared with the same race in the athlete's own
track, so "exactly as in the athlete's feed" means what another parser sees, not what racecal meant.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FEDERATION, parse_icalendar, parse_icaljs, parse_vobject, serving
from racecal.cli import cli

if TYPE_CHECKING:
    from click.testing import Result
TIMES = [f"2026-11-{day:02d}T12:00:00Z" for day in range(1, 29)]
TRACKS = {"confirmed": "confirmed", "tentative": "tentative"}


@dataclass
class Site:
    root: Path
    step: int = 0

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    def build(self, *extra: str, expect: int = 0) -> str:
        result = self.run("build", "--time", TIMES[self.step], *extra)
        self.step += 1
        assert result.exit_code == expect, result.output
        return result.output

    def run(self, *args: str) -> Result:
        """A racecal command in the site's folder, as an editor types it there."""
        from click.testing import CliRunner

        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            return CliRunner().invoke(cli, list(args), catch_exceptions=False)
        finally:
            os.chdir(cwd)

    def plans(self) -> dict[str, dict[str, Any]]:
        return {p.stem: yaml.safe_load(p.read_text()) for p in sorted((self.root / "schedules").glob("*.yaml"))}

    def groups(self) -> list[dict[str, Any]]:
        return list(yaml.safe_load((self.root / "racecal.yaml").read_text()).get("groups", []))

    def edit(self, name: str, old: str, new: str) -> None:
        path = self.root / name
        text = path.read_text()
        assert old in text, (old, name)
        path.write_text(text.replace(old, new, 1))


@pytest.fixture
def site(tmp_path: Path) -> Site:
    shutil.copytree(FEDERATION, tmp_path / "fed")
    return Site(tmp_path / "fed")


def members(site: Site, group: dict[str, Any]) -> list[str]:
    """docs/groups.md: listed by slug, or matching every selector given (country; any discipline)."""
    out = []
    for plan_id, plan in site.plans().items():
        athlete = plan["athlete"]
        listed = athlete["slug"] in group.get("athletes", [])
        selectors = [k for k in ("country", "disciplines") if k in group]
        countries = [group["country"]] if isinstance(group.get("country"), str) else group.get("country", [])
        wanted = group.get("disciplines", [])
        matches = bool(selectors) and (
            ("country" not in group or str(athlete.get("country", "")).casefold() in {c.casefold() for c in countries})
            and ("disciplines" not in group or any(d in wanted for d in athlete.get("disciplines", [])))
        )
        if listed or matches:
            out.append(plan_id)
    return out


def group_uid(plan_id: str, race_id: str, group_plan: str, feed: str) -> str:
    """docs/groups.md, "Identity": the race id's first 40 characters, a hyphen, 12 hex digits of
    sha256(plan id NUL race id); then the group calendar's id and the feed, as athletes' UIDs."""
    digest = hashlib.sha256(f"{plan_id}\0{race_id}".encode()).hexdigest()[:12]
    return f"{race_id[:40].rstrip('-')}-{digest}.{group_plan}.{feed}@racecal"


def by_uid(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    uids = [e["uid"] for e in events]
    assert len(uids) == len(set(uids)), "a UID twice in one calendar"
    return {e["uid"]: e for e in events}


def check_group_feeds(site: Site) -> None:
    """Every live event of every member is in each group feed exactly as in the athlete's own feed
    (instants, status, title), and nothing else is live there. A cancellation in the athlete's feed
    is cancelled in the group's too, or absent when the group never carried the event live (the
    athlete joined after it was cancelled)."""
    plans = site.plans()
    for group in site.groups():
        for feed in ("all", "confirmed", "tentative"):
            expected: dict[str, dict[str, Any]] = {}
            for plan_id in members(site, group):
                plan = plans[plan_id]
                suffix = f".{plan_id}.{feed}@racecal"
                for athlete_uid, event in by_uid(parse_icalendar(site.dist / plan_id / f"{feed}.ics")).items():
                    if not athlete_uid.endswith(suffix):
                        continue  # the empty calendar's journal
                    race_id, _, session = athlete_uid[: -len(suffix)].partition(".")
                    own_uid = group_uid(plan_id, race_id, f"{group['id']}-{plan['season']}", feed)
                    expected[own_uid.replace(".", f".{session}.", 1) if session else own_uid] = {
                        **event,
                        "athlete": plan["athlete"]["name"],
                    }
            seasons = {plans[p]["season"] for p in members(site, group)}
            got: dict[str, dict[str, Any]] = {}
            for season in seasons:
                got |= by_uid(parse_icalendar(site.dist / f"{group['id']}-{season}" / f"{feed}.ics"))
            live = {u: e for u, e in got.items() if e["status"] != "CANCELLED"}
            assert set(live) == {u for u, e in expected.items() if e["status"] != "CANCELLED"}, (group["id"], feed)
            for event_uid, want in expected.items():
                withdrawn = str(want["summary"]).startswith(("Withdrawn: ", "Cancelled: "))  # in the plan, not a tombstone
                if want["status"] == "CANCELLED" and event_uid not in got and not (feed == "all" and withdrawn):
                    continue  # a cancellation the group never needed: it never carried the event live
                have = got[event_uid]
                assert (have["start"], have["end"], have["status"]) == (want["start"], want["end"], want["status"]), event_uid
                assert have["summary"] == want["summary"] or have["status"] == want["status"] == "CANCELLED", event_uid


def test_group_feeds_carry_every_members_races_as_their_own_feeds_do(site: Site) -> None:
    site.build()
    assert {p.name for p in site.dist.iterdir() if p.is_dir()} >= {"team-nordvik-2027", "distance-squad-2027"}
    check_group_feeds(site)
    # The guest from another country is in no group; the squad has its two named athletes.
    assert members(site, site.groups()[0]) == ["ada-fjell-2027", "erik-stav-2027", "tomas-berg-2027"]
    assert members(site, site.groups()[1]) == ["ada-fjell-2027", "tomas-berg-2027"]


def test_group_feeds_parse_in_vobject_and_icaljs_with_the_same_events(site: Site) -> None:
    site.build()
    paths = [site.dist / "team-nordvik-2027" / f"{feed}.ics" for feed in ("all", "confirmed", "tentative")]
    seen = parse_icaljs(*paths)
    for path in paths:
        reference = {e["uid"]: e["status"] for e in parse_icalendar(path)}
        assert {e["uid"]: e["status"] for e in parse_vobject(path)} == reference
        assert {e["uid"]: e["status"] for e in seen[str(path)]["events"]} == reference
        assert reference  # every feed of this group has events


def test_leaving_and_rejoining_a_group_is_a_change_of_the_same_events(site: Site) -> None:
    site.build()
    team = "team-nordvik-2027"
    nationals = group_uid("tomas-berg-2027", "nationals", team, "confirmed")
    first = by_uid(parse_icalendar(site.dist / team / "confirmed.ics"))[nationals]
    assert first["status"] == "CONFIRMED"
    site.edit("schedules/tomas-berg-2027.yaml", "country: Nordvik", "country: Solmark")  # he changes federation
    site.build()
    gone = by_uid(parse_icalendar(site.dist / team / "confirmed.ics"))[nationals]
    assert gone["status"] == "CANCELLED" and gone["sequence"] > first["sequence"]
    # The change history says what happened to the group's calendar, not that his plan lost a race.
    left = [c for c in json.loads((site.dist / team / "changes.json").read_text())["changes"] if c["type"] == "removed"]
    assert left and all(c["summary"].endswith(": no longer in this calendar") for c in left)
    assert any(c["race"].startswith("nationals-") for c in left)  # a view's race id: the race's, then its plan's hash
    check_group_feeds(site)
    site.edit("schedules/tomas-berg-2027.yaml", "country: Solmark", "country: Nordvik")  # and back
    site.build()
    back = by_uid(parse_icalendar(site.dist / team / "confirmed.ics"))[nationals]
    assert back["status"] == "CONFIRMED" and back["sequence"] > gone["sequence"]
    assert (back["start"], back["end"]) == (first["start"], first["end"])
    check_group_feeds(site)


def test_a_promotion_in_a_plan_moves_the_race_between_the_groups_tracks(site: Site) -> None:
    site.build()
    site.edit("schedules/ada-fjell-2027.yaml", "    status: tentative", "    status: confirmed")
    out = site.build()
    assert "team-nordvik-2027:" in out and "promoted" in out  # the build names the group's change
    check_group_feeds(site)
    tentative = by_uid(parse_icalendar(site.dist / "team-nordvik-2027" / "tentative.ics"))
    assert tentative[group_uid("ada-fjell-2027", "fjord-classic", "team-nordvik-2027", "tentative")]["status"] == "CANCELLED"


def test_group_calendars_are_rebuilt_only_when_their_inputs_change(site: Site) -> None:
    site.build()
    inode = {g: (site.dist / g / "all.ics").stat().st_ino for g in ("team-nordvik-2027", "distance-squad-2027")}
    site.edit("schedules/lina-sol-2027.yaml", "status: confirmed", "status: tentative")  # in no group
    site.build()
    # Reused calendars are hard-linked from the previous build, never written again.
    assert {g: (site.dist / g / "all.ics").stat().st_ino for g in inode} == inode
    site.edit("schedules/erik-stav-2027.yaml", "status: tentative", "status: withdrawn")  # in the team, not the squad
    site.build()
    assert (site.dist / "team-nordvik-2027" / "all.ics").stat().st_ino != inode["team-nordvik-2027"]
    assert (site.dist / "distance-squad-2027" / "all.ics").stat().st_ino == inode["distance-squad-2027"]
    check_group_feeds(site)
    before = {p: p.read_bytes() for p in site.dist.rglob("*") if p.is_file()}
    assert "unchanged" in site.build()
    assert {p: p.read_bytes() for p in site.dist.rglob("*") if p.is_file()} == before


def test_a_redefined_group_takes_its_new_members(site: Site) -> None:
    site.build()
    site.edit("racecal.yaml", "athletes: [ada-fjell, tomas-berg]", "athletes: [ada-fjell, lina-sol]")
    site.edit("racecal.yaml", "disciplines: [10000m]", "disciplines: [800m]")
    site.build()
    check_group_feeds(site)
    squad = by_uid(parse_icalendar(site.dist / "distance-squad-2027" / "all.ics"))
    assert squad[group_uid("lina-sol-2027", "island-relays", "distance-squad-2027", "all")]["status"] == "CONFIRMED"
    assert squad[group_uid("tomas-berg-2027", "nationals", "distance-squad-2027", "all")]["status"] == "CANCELLED"


def test_a_removed_groups_feeds_stay_valid_calendars(site: Site) -> None:
    site.build()
    text = (site.root / "racecal.yaml").read_text()
    (site.root / "racecal.yaml").write_text(text[: text.index("  # A squad")])
    site.build()
    events = parse_icalendar(site.dist / "distance-squad-2027" / "all.ics")
    assert events and all(e["status"] == "CANCELLED" for e in events)
    parse_vobject(site.dist / "distance-squad-2027" / "confirmed.ics")


def test_a_new_plan_cannot_take_over_a_removed_groups_calendar(site: Site) -> None:
    """Regression (independent tester): a plan whose id was a removed group's calendar was published
    in its place, exit 0, handing the group's subscribers one athlete's races under its old UIDs."""
    site.build()
    text = (site.root / "racecal.yaml").read_text()
    (site.root / "racecal.yaml").write_text(text[: text.index("  # A squad")])
    site.build()
    published = (site.dist / "distance-squad-2027" / "all.ics").read_bytes()
    lina = (site.root / "schedules" / "lina-sol-2027.yaml").read_text()
    (site.root / "schedules" / "distance-squad-2027.yaml").write_text(
        lina.replace("slug: lina-sol", "slug: distance-squad").replace("name: Lina Sol", "name: Squad Person")
    )
    out = site.build(expect=1)
    assert "distance-squad-2027.yaml:" in out and "would take over the group calendar published under that id" in out, out
    assert "Traceback" not in out
    assert (site.dist / "distance-squad-2027" / "all.ics").read_bytes() == published
    # check says so too, from the published site the build compares with (it said "ok").
    checked = site.run("check")
    (site.root / "schedules" / "distance-squad-2027.yaml").unlink()
    # The other way round: a group whose calendar id is a removed plan's, in check as in the build.
    (site.root / "schedules" / "lina-sol-2027.yaml").unlink()
    assert "wrote dist/" in site.build()
    with (site.root / "racecal.yaml").open("a") as settings_file:
        settings_file.write("  - {id: lina-sol, name: Lina's, athletes: [ada-fjell]}\n")
    group_over_plan = site.run("check")
    assert checked.exit_code == 1 and "would take over the group calendar published under that id" in checked.output, checked.output
    taken = "the calendar of group 'lina-sol' would be 'lina-sol-2027', which is already a calendar published earlier"
    assert group_over_plan.exit_code == 1 and taken in group_over_plan.output, group_over_plan.output
    assert taken in site.build(expect=1)


def test_retiring_a_calendar_that_still_has_races_is_refused_not_silently_dropped(site: Site) -> None:
    """Regression (independent tester): listing a live group's or meet's calendar under 'retired'
    deleted its feeds with exit 0, without a cancelled event or a message."""
    site.build()
    before = {name: (site.dist / name / "all.ics").read_bytes() for name in ("distance-squad-2027", "harbour-games-2027")}
    with (site.root / "racecal.yaml").open("a") as settings_file:
        settings_file.write("retired: [distance-squad-2027, harbour-games-2027]\n")
    checked = site.run("check")  # check says so as the build does (second independent tester: check said "ok")
    assert checked.exit_code == 1, checked.output
    assert "'distance-squad-2027', is listed under 'retired' but still has races" in checked.output, checked.output
    assert "the calendar of meet 'harbour-games-2027' is listed under 'retired' but still has races" in checked.output, checked.output
    out = site.build(expect=1)
    assert "the calendar of group 'distance-squad', 'distance-squad-2027', is listed under 'retired' but still has races" in out, out
    # A meet's id that is its calendar's is said once (third tester: "'harbour-games-2027', 'harbour-games-2027'").
    assert "the calendar of meet 'harbour-games-2027' is listed under 'retired'" in out, out
    assert {name: (site.dist / name / "all.ics").read_bytes() for name in before} == before


def test_a_group_removed_and_retired_in_one_build_first_publishes_its_races_cancelled(site: Site) -> None:
    """Once nobody is in it (the group removed), a group's calendar can be retired. Regression
    (independent tester): removed and retired in one build, its feeds went at once, so its races
    stayed live in subscribers' calendars for ever and racecal diff said "No changes". Its races are
    now published cancelled for the grace period first; then it is retired, as a change."""

    def build(when: str) -> str:
        result = site.run("build", "--time", when)
        assert result.exit_code == 0, result.output
        return result.output

    build("2025-01-01T12:00:00Z")
    text = (site.root / "racecal.yaml").read_text()
    (site.root / "racecal.yaml").write_text(text[: text.index("  # A squad")] + "retired: [distance-squad-2027]\n")
    out = build("2025-01-02T12:00:00Z")
    assert "distance-squad-2027: listed under retired:, but its feeds still cancel races until 2025-02-01 12:00 UTC" in out, out
    events = parse_icalendar(site.dist / "distance-squad-2027" / "all.ics")
    assert events and {e["status"] for e in events} == {"CANCELLED"}, events
    assert site.run("diff", "--time", "2025-01-20T12:00:00Z", "--exit-code").exit_code == 0  # still cancelling
    diffed = site.run("diff", "--time", "2025-02-01T12:00:00Z", "--exit-code")
    assert diffed.exit_code == 1 and "retired" in diffed.stdout, diffed.output
    assert "1 retired" in build("2025-02-01T12:00:00Z")
    assert not (site.dist / "distance-squad-2027").exists()
    assert "never published" not in build("2025-02-02T12:00:00Z")  # retired earlier: known, and quiet


def test_an_edited_index_cannot_put_someone_in_a_group(site: Site) -> None:
    """Regression (second independent tester): the memberships kept in a published index.json were
    trusted, so an edited index put Lina Sol (of Solmark, listed in no group) into both groups."""
    site.build()
    index = site.dist / "index.json"
    index.write_text(index.read_text().replace('"id":"lina-sol-2027",', '"groups":["team-nordvik","distance-squad"],"id":"lina-sol-2027",'))
    assert '"groups":["team-nordvik","distance-squad"],"id":"lina-sol-2027"' in index.read_text()
    site.edit("schedules/ada-fjell-2027.yaml", "Entry depends on how the Harbour Games go.", "Entry depends on the Harbour Games.")
    site.build()
    check_group_feeds(site)
    for calendar in ("team-nordvik-2027", "distance-squad-2027"):
        assert b"Lina Sol" not in (site.dist / calendar / "all.ics").read_bytes(), calendar
    assert '"groups":["team-nordvik","distance-squad"],"id":"lina-sol-2027"' not in index.read_text()


def test_check_reports_a_published_index_the_build_would_refuse(site: Site) -> None:
    """Regression (second independent tester): check said "ok" over a dist/index.json the build
    refuses (a view of a kind racecal does not write)."""
    site.build()
    index = site.dist / "index.json"
    index.write_text(index.read_text().replace('"view":"group"', '"view":"plan"', 1))
    checked = site.run("check")
    assert checked.exit_code == 1, checked.output
    assert re.search(r"^dist/index\.json:1:1: plans\[\d+\]\.view: expected one of group, meet, series$", checked.output, re.M), (
        checked.output
    )
    assert "expected one of group, meet, series" in site.build(expect=1)


def test_the_landing_page_lists_groups_apart_from_athletes(site: Site) -> None:
    site.build()
    page = (site.dist / "index.html").read_text()
    assert page.index('<h2 id="groups">Groups</h2>') < page.index('href="team-nordvik-2027/index.html"') < page.index('<h2 id="athletes">')
    assert page.index('<h2 id="athletes">Athletes</h2>') < page.index('href="lina-sol-2027/index.html"')
    group_page = (site.dist / "team-nordvik-2027" / "index.html").read_text()
    assert "Team Nordvik" in group_page and "all.ics" in group_page and "Tomas Berg – Nordvik Championships" in group_page


def test_a_group_nobody_is_in_and_an_unknown_athlete_are_located_warnings(site: Site) -> None:
    """Regression (independent tester): a typo in a group's athletes or country matched nobody, and
    check and build said nothing; the group silently had no calendar."""
    with (site.root / "racecal.yaml").open("a") as settings_file:
        settings_file.write(
            "  - {id: typos, name: Typos, athletes: [ada-fjel, no-such-athlete]}\n  - {id: atlantis, name: A, country: Atlantis}\n"
        )
    lines = (site.root / "racecal.yaml").read_text().splitlines()
    typos = next(i for i, line in enumerate(lines, 1) if "id: typos" in line)
    expected = [
        f"racecal.yaml:{typos}:10: groups[2].athletes: warning: no plan has the athlete 'ada-fjel'; did you mean 'ada-fjell'?",
        f"racecal.yaml:{typos}:10: groups[2].athletes: warning: no plan has the athlete 'no-such-athlete'",
        f"racecal.yaml:{typos}:10: groups[2].id: warning: group 'typos' matches no plan's athlete, so it has no calendar",
        f"racecal.yaml:{typos + 1}:10: groups[3].id: warning: group 'atlantis' matches no plan's athlete, so it has no calendar",
    ]
    checked, strict = site.run("check"), site.run("check", "--strict")
    assert checked.exit_code == 0 and strict.exit_code == 1, (checked.output, strict.output)
    assert [line for line in checked.output.splitlines() if line.startswith("racecal.yaml:")] == expected
    built = site.build()
    assert [line for line in built.splitlines() if line.startswith("racecal.yaml:")] == expected
    assert not (site.dist / "typos-2027").exists()


def test_build_and_diff_report_every_settings_problem_and_calendar_clash_in_one_run_as_check_does(site: Site) -> None:
    """Regression (independent tester): with a group defined twice, build and diff reported only the
    duplicate; the calendar ids the other groups took from a plan, a meet and a series came one fix
    later, while check listed all four."""
    (site.root / "racecal.yaml").write_text(
        "meet_calendars: true\nseries_calendars: true\ngroups:\n"
        "  - {id: team-nordvik, name: A, athletes: [ada-fjell]}\n"
        "  - {id: team-nordvik, name: B, athletes: [ada-fjell]}\n"
        "  - {id: ada-fjell, name: C, athletes: [ada-fjell]}\n"
        "  - {id: harbour-games, name: D, athletes: [ada-fjell]}\n"
        "  - {id: coastal-tour, name: E, athletes: [ada-fjell]}\n"
    )

    def run(*args: str) -> list[str]:
        result = site.run(*args)
        assert result.exit_code == 1, result.output
        return sorted(line for line in result.output.splitlines() if line.startswith("racecal.yaml:"))

    checked = run("check")
    assert len(checked) == 4, checked
    assert run("build", "--time", TIMES[0]) == checked
    assert run("diff", "--time", TIMES[0]) == checked


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        ("groups:\n  - {id: Team, name: T, country: X}\n", "racecal.yaml:2:10: groups[0].id: expected lowercase letters"),
        ("groups:\n  - {id: t, name: T}\n", "racecal.yaml:2:5: groups[0]: a group needs 'athletes'"),
        (
            "groups:\n  - {id: t, name: T, country: X}\n  - {id: t, name: U, country: Y}\n",
            "racecal.yaml:3:10: groups[1].id: 't' is defined twice",
        ),
        ("groups:\n  - {id: t, name: T, contry: X}\n", "racecal.yaml:2:22: groups[0].contry:"),
        ("groups:\n  - {id: t, name: T, athletes: [Ada]}\n", "racecal.yaml:2:33: groups[0].athletes[0]: expected lowercase letters"),
        ("groups:\n  - {id: t, name: T, country: X, timezone: Mars/Base}\n", "racecal.yaml:2:44: groups[0].timezone: unknown timezone"),
        (
            "groups:\n  - {id: ada-fjell, name: T, country: Nordvik}\n",
            "racecal.yaml:2:10: groups[0].id: the calendar of group 'ada-fjell' would be 'ada-fjell-2027', which is already the plan of schedules/ada-fjell-2027.yaml",
        ),
    ],
    ids=["id-not-a-slug", "no-members", "duplicate-id", "unknown-key", "athlete-not-a-slug", "bad-timezone", "id-makes-a-plan-id"],
)
def test_group_definitions_are_checked_with_located_messages(site: Site, groups: str, expected: str) -> None:
    (site.root / "racecal.yaml").write_text(groups)
    out = site.build(expect=1)
    assert expected in out, out
    assert "Traceback" not in out
    assert not site.dist.exists()


def test_a_group_defined_twice_is_reported_when_the_first_has_other_problems(site: Site) -> None:
    """Regression (independent tester, the same finding for race ids): ids were compared over the
    valid groups only, so a group with a misspelt zone took its duplicate id with it."""
    (site.root / "racecal.yaml").write_text(
        "groups:\n  - {id: t, name: T, country: X, timezone: Mars/Base}\n  - {id: t, name: U, country: Y}\n"
    )
    result = site.run("check")
    assert result.exit_code == 1
    assert [line for line in result.output.splitlines() if line.startswith("racecal.yaml:")] == [
        "racecal.yaml:2:44: groups[0].timezone: unknown timezone 'Mars/Base' (use an IANA name like 'Europe/Oslo')",
        "racecal.yaml:3:10: groups[1].id: 't' is defined twice",
    ]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(st.sampled_from(["ada-fjell", "tomas-berg", "erik-stav", "lina-sol"]), st.sampled_from(
    ["confirmed", "tentative", "withdrawn", "cancelled", "Nordvik", "Solmark"])), min_size=1, max_size=4))  # fmt: skip
def test_group_feeds_follow_any_sequence_of_edits(tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[str, str]]) -> None:
    root = tmp_path_factory.mktemp("fed") / "fed"
    shutil.copytree(FEDERATION, root)
    site = Site(root)
    site.build()
    for slug, change in steps:
        path = root / "schedules" / f"{slug}-2027.yaml"
        plan = yaml.safe_load(path.read_text())
        if change in ("Nordvik", "Solmark"):
            plan["athlete"]["country"] = change
        else:
            plan["races"][0]["status"] = change
            plan["races"][0].setdefault("reason", "Changed.") if change in ("withdrawn", "cancelled") else plan["races"][0].pop(
                "reason", None
            )
        path.write_text(yaml.safe_dump(plan, allow_unicode=True))
        site.build()
        check_group_feeds(site)
        check_meet_feeds(site)
        check_series_feeds(site)


# --- meet calendars ----------------------------------------------------------------------------


def check_meet_feeds(site: Site) -> None:
    """docs/groups.md, "Meet calendars": every race a plan has at a catalogue meet is in that meet's
    feeds as in the athlete's own (the catalogue ids here end in their season, so that is the id)."""
    raced = {race["meet"] for plan in site.plans().values() for race in plan["races"] if "meet" in race}
    assert raced
    for meet_id in raced:
        check_view_feeds(site, meet_id, {meet_id})


def check_series_feeds(site: Site) -> None:
    """docs/groups.md, "Series calendars": every race at a meet the catalogue puts in a series is in
    the series' calendar of the meet's year, as in the athlete's own feed."""
    catalogue = yaml.safe_load((site.root / "schedules" / "meets" / "2027.yaml").read_text())["meets"]
    series: dict[str, set[str]] = {}
    for meet in catalogue:
        if "series" in meet:
            series.setdefault(f"{meet['series'].lower().replace(' ', '-')}-{str(meet.get('date', meet.get('start')))[:4]}", set()).add(
                meet["id"]
            )
    assert series
    for calendar_id, meet_ids in series.items():
        check_view_feeds(site, calendar_id, meet_ids)


def check_view_feeds(site: Site, calendar_id: str, meet_ids: set[str]) -> None:
    """Every event of every race a plan has at ``meet_ids`` is in ``calendar_id``'s feeds as in the
    athlete's own feed, and nothing else is live there."""
    plans = site.plans()
    entered = [(plan_id, race) for plan_id, plan in plans.items() for race in plan["races"] if race.get("meet") in meet_ids]
    for feed in ("all", "confirmed", "tentative"):
        expected: dict[str, dict[str, Any]] = {}
        for plan_id, race in entered:
            suffix = f".{plan_id}.{feed}@racecal"
            for athlete_uid, event in by_uid(parse_icalendar(site.dist / plan_id / f"{feed}.ics")).items():
                own_race, _, session = athlete_uid.removesuffix(suffix).partition(".")
                if athlete_uid.endswith(suffix) and own_race == race["id"]:
                    own_uid = group_uid(plan_id, race["id"], calendar_id, feed)
                    expected[own_uid.replace(".", f".{session}.", 1) if session else own_uid] = event
        got = by_uid(parse_icalendar(site.dist / calendar_id / f"{feed}.ics"))
        live = {u for u, e in got.items() if e["status"] != "CANCELLED"}
        assert live == {u for u, e in expected.items() if e["status"] != "CANCELLED"}, (calendar_id, feed)
        for event_uid, want in expected.items():
            if want["status"] == "CANCELLED" and event_uid not in got:
                continue  # a cancellation the calendar never needed
            have = got[event_uid]
            assert (have["start"], have["end"], have["status"], have["summary"]) == (
                want["start"],
                want["end"],
                want["status"],
                want["summary"],
            )


def test_every_meet_raced_at_has_a_calendar_of_everyone_entered(site: Site) -> None:
    site.build()
    check_meet_feeds(site)
    check_series_feeds(site)
    assert "Coastal Tour 2027" in (site.dist / "index.html").read_text()
    harbour = by_uid(parse_icalendar(site.dist / "harbour-games-2027" / "all.ics"))
    assert harbour[group_uid("tomas-berg-2027", "harbour-games", "harbour-games-2027", "all")]["status"] == "CANCELLED"  # withdrawn
    assert "Meets" in (site.dist / "index.html").read_text()
    parse_vobject(site.dist / "harbour-games-2027" / "all.ics")


def test_a_meet_calendar_follows_withdrawals_and_moves_and_is_rebuilt_only_for_its_own_meet(site: Site) -> None:
    site.build()
    island = site.dist / "island-relays-2027" / "all.ics"
    inode = island.stat().st_ino
    first = by_uid(parse_icalendar(site.dist / "harbour-games-2027" / "all.ics"))
    ada = group_uid("ada-fjell-2027", "harbour-games", "harbour-games-2027", "all").replace(".", ".5000m-final.", 1)
    site.edit(
        "schedules/ada-fjell-2027.yaml", "    status: confirmed\n    sessions:", "    status: withdrawn\n    reason: Ill.\n    sessions:"
    )
    site.build()
    check_meet_feeds(site)
    after = by_uid(parse_icalendar(site.dist / "harbour-games-2027" / "all.ics"))
    assert after[ada]["status"] == "CANCELLED" and after[ada]["sequence"] > first[ada]["sequence"]
    assert island.stat().st_ino == inode  # nobody at the Island Relays changed
    fjord = group_uid("erik-stav-2027", "fjord-classic", "fjord-classic-2027", "all")
    before = by_uid(parse_icalendar(site.dist / "fjord-classic-2027" / "all.ics"))[fjord]
    site.edit("schedules/meets/2027.yaml", "    date: 2027-06-13", "    date: 2027-06-14")  # the Fjord Classic moves
    site.build()
    check_meet_feeds(site)
    moved = by_uid(parse_icalendar(site.dist / "fjord-classic-2027" / "all.ics"))[fjord]
    assert moved["start"] == before["start"] + timedelta(days=1) and moved["sequence"] > before["sequence"]
    assert island.stat().st_ino == inode


def calendar_inodes(site: Site) -> dict[str, int]:
    return {p.name: (p / "all.ics").stat().st_ino for p in site.dist.iterdir() if (p / "all.ics").is_file()}


def test_a_race_edit_rebuilds_the_calendars_of_its_own_meet_and_series_only(site: Site) -> None:
    """Regression (#12/#13 scale): a meet's and a series' calendar depended on every member's whole
    plan, so one race edited anywhere in a plan rebuilt every meet and series calendar that athlete
    was in (15 s for one note at 20,000 races)."""
    site.build()
    before = calendar_inodes(site)
    site.edit("schedules/ada-fjell-2027.yaml", "  - id: nationals\n    meet: nordvik-championships-2027\n    status: confirmed",
              "  - id: nationals\n    meet: nordvik-championships-2027\n    status: tentative")  # fmt: skip
    site.build()
    check_meet_feeds(site)
    check_series_feeds(site)
    after = calendar_inodes(site)
    rebuilt = {name for name in before if after[name] != before[name]}
    # Her own calendar, her groups', and the championships' (in no series); not the Harbour Games',
    # the Fjord Classic's or the Coastal Tour's, which she is in too.
    assert rebuilt == {"ada-fjell-2027", "team-nordvik-2027", "distance-squad-2027", "nordvik-championships-2027"}
    site.edit("schedules/ada-fjell-2027.yaml", "Entry depends on how the Harbour Games go.", "Entry confirmed after the Harbour Games.")
    site.build()
    check_meet_feeds(site)
    check_series_feeds(site)
    again = calendar_inodes(site)
    assert {name for name in after if again[name] != after[name]} == {
        "ada-fjell-2027", "team-nordvik-2027", "distance-squad-2027", "fjord-classic-2027", "coastal-tour-2027",
    }  # fmt: skip
    import icalendar

    tour = icalendar.Calendar.from_ical((site.dist / "coastal-tour-2027" / "all.ics").read_bytes())
    uid = group_uid("ada-fjell-2027", "fjord-classic", "coastal-tour-2027", "all")
    assert [str(e["DESCRIPTION"]).count("Entry confirmed after the Harbour Games.") for e in tour.walk("VEVENT") if e["UID"] == uid] == [1]
    site.edit("schedules/ada-fjell-2027.yaml", "name: Ada Fjell,", "name: Ada Fjell-Strand,")  # her name is in every title
    site.build()
    check_meet_feeds(site)
    check_series_feeds(site)
    renamed = calendar_inodes(site)
    assert {name for name in again if renamed[name] != again[name]} >= {
        "harbour-games-2027", "fjord-classic-2027", "nordvik-championships-2027", "coastal-tour-2027",
    }  # fmt: skip


def test_an_athletes_disciplines_or_country_edited_rebuild_no_meet_or_series_calendar(site: Site) -> None:
    """Regression (independent tester, #12): what a plan gives a meet's calendar was digested with the
    athlete's whole record, so a country edited (shown on the athlete's page only) rebuilt every
    meet and series calendar the athlete raced in: 22 calendars, the Diamond League's 7,181 races
    among them, 2.4 s of CPU against 0.7 for the plan alone at 20,000 races."""
    site.build()
    before = calendar_inodes(site)
    site.edit("schedules/erik-stav-2027.yaml", "disciplines: [1500m]", "disciplines: [1500m, 800m]")
    site.build()
    after = calendar_inodes(site)
    assert {name for name in before if after[name] != before[name]} == {"erik-stav-2027", "team-nordvik-2027"}
    site.edit("schedules/ada-fjell-2027.yaml", "country: Nordvik", "country: Solmark")  # she leaves Team Nordvik
    site.build()
    check_meet_feeds(site)
    check_series_feeds(site)
    again = calendar_inodes(site)
    assert {name for name in after if again[name] != after[name]} == {"ada-fjell-2027", "team-nordvik-2027", "distance-squad-2027"}


def test_a_site_published_without_per_meet_digests_rebuilds_its_meet_calendars_correctly(site: Site) -> None:
    """Sites published before the per-meet digests (or while meet calendars were off) have no
    ``at`` in index.json: a meet's calendar then depends on its members' whole plans."""
    site.build()
    index = site.dist / "index.json"
    text = index.read_text()
    stripped = re.sub(r'"at":\{[^}]*\},', "", text)  # sorted keys: it comes first
    assert stripped != text
    index.write_text(stripped)
    site.edit("schedules/erik-stav-2027.yaml", "status: confirmed", "status: tentative")
    site.build()
    check_meet_feeds(site)
    check_series_feeds(site)
    assert '"at":{' in index.read_text()


def test_a_meet_moved_into_the_next_year_keeps_its_calendar_and_the_move_names_the_years(site: Site) -> None:
    """Regression (independent tester): a meet moved from 13 June 2027 to 13 June 2028 was reported
    as "moved from 13 June to 13 June", and its calendar changed id (fjord-classic-2027-2028), so its
    subscribers saw every event cancelled."""
    site.build()
    site.edit("schedules/meets/2027.yaml", "    date: 2027-06-13", "    date: 2028-06-13")
    out = site.build()
    assert "moved from 13 June 2027 to 13 June 2028" in out, out
    assert not (site.dist / "fjord-classic-2027-2028").exists()
    check_meet_feeds(site)
    live = [e for e in parse_icalendar(site.dist / "fjord-classic-2027" / "all.ics") if e["status"] != "CANCELLED"]
    assert live and all(e["start"].year == 2028 for e in live)
    changes = json.loads((site.dist / "fjord-classic-2027" / "changes.json").read_text())["changes"]
    assert any(c["type"] == "moved" and "13 June 2027 to 13 June 2028" in c["summary"] for c in changes)


def test_a_renamed_group_or_meet_is_a_calendar_name_change_and_the_summary_counts_calendars_apart(site: Site) -> None:
    """Regression (independent tester): renaming a group or a catalogue meet was reported as
    "athlete.name changed", and the build's summary counted every calendar as a plan."""
    out = site.build()
    assert "(4 plans, 7 group, meet or series calendars, 0 reused as they were;" in out, out
    site.edit("racecal.yaml", "name: Distance squad", "name: Distance & guests")
    site.edit("schedules/meets/2027.yaml", "name: Harbour Games", "name: Harbour Games Invitational")
    out = site.build()
    assert "Distance & guests 2027: calendar name changed" in out, out
    assert "athlete.name" not in out, out
    changes = json.loads((site.dist / "harbour-games-2027" / "changes.json").read_text())["changes"]
    renamed = [c for c in changes if c["race"] is None]
    assert renamed == [{**renamed[0], "field": "name", "old": "Harbour Games", "new": "Harbour Games Invitational"}]


def test_two_spellings_of_a_series_name_are_one_series(site: Site) -> None:
    """Regression (independent tester): "Coastal tour" on one meet and "Coastal Tour" on another
    clashed over coastal-tour-2027, and the error pointed at racecal.yaml, not the catalogue."""
    site.build()
    tour = (site.dist / "coastal-tour-2027" / "all.ics").read_bytes()
    text = (site.root / "schedules" / "meets" / "2027.yaml").read_text()
    (site.root / "schedules" / "meets" / "2027.yaml").write_text(text.replace("series: Coastal Tour", "series: Coastal tour", 1))
    assert site.run("check").exit_code == 0
    site.build()
    check_series_feeds(site)
    # Named as most of its meets write it; with one of each, the first in sorted order.
    assert b"X-WR-CALNAME:Coastal Tour 2027" in (site.dist / "coastal-tour-2027" / "all.ics").read_bytes()
    assert tour.count(b"BEGIN:VEVENT") == (site.dist / "coastal-tour-2027" / "all.ics").read_bytes().count(b"BEGIN:VEVENT")


def test_a_meet_moved_across_new_year_stays_in_its_series_season_and_the_move_names_the_years(site: Site) -> None:
    """Regression (second independent tester): the Harbour Games moved to 3 January 2028 left the
    Coastal Tour 2027 for a new coastal-tour-2028, and the move read "from 30 May to 3 January"."""
    site.build()
    site.edit("schedules/meets/2027.yaml", "    date: 2027-05-30", "    date: 2028-01-03")
    site.edit("schedules/ada-fjell-2027.yaml", "date: 2027-05-30", "date: 2028-01-03")
    out = site.build()
    assert "moved from 30 May 2027 (5000m final 30 May 2027 20:15) to 3 January 2028 (5000m final 3 January 2028 20:15)" in out, out
    assert not (site.dist / "coastal-tour-2028").exists()
    live = [e for e in parse_icalendar(site.dist / "coastal-tour-2027" / "all.ics") if e["status"] != "CANCELLED"]
    assert any(e["summary"].startswith("Ada Fjell – Harbour Games") for e in live)


def test_check_does_not_blame_a_group_for_a_plan_that_failed_to_load(site: Site) -> None:
    """Regression (second independent tester): with a plan in error, check also warned that no
    plan has its athlete, who is listed in a group."""
    site.edit("schedules/tomas-berg-2027.yaml", "meet: island-relays-2027", "meet: island-relayz-2027")
    checked = site.run("check")
    assert checked.exit_code == 1 and "unknown meet 'island-relayz-2027'" in checked.output, checked.output
    assert "no plan has the athlete" not in checked.output, checked.output


def test_turning_meet_calendars_off_keeps_their_feeds_valid(site: Site) -> None:
    site.build()
    site.edit("racecal.yaml", "meet_calendars: true", "meet_calendars: false")
    site.build()
    events = parse_icalendar(site.dist / "harbour-games-2027" / "all.ics")
    assert events and all(e["status"] == "CANCELLED" for e in events)
    (site.root / "racecal.yaml").write_text("meet_calendars: maybe\n")
    assert "racecal.yaml:1:17: meet_calendars: expected true or false" in site.build(expect=1)


# --- pages in a real browser -------------------------------------------------------------------


def _more_athletes(site: Site, count: int) -> None:
    """Fictional extra members of Team Nordvik, so the front page has more than a screenful; one
    named with letters a keyboard may not have, and a slug that starts with another letter."""
    (site.root / "schedules" / "zz-2027.yaml").write_text(
        "athlete: {name: Émile Øst, slug: zz, country: Nordvik}\nseason: 2027\n"
        "races:\n  - {id: fjord, meet: fjord-classic-2027, status: tentative}\n"
    )
    for i in range(count):
        slug = f"{chr(ord('a') + i % 26)}runner-{i}"
        (site.root / "schedules" / f"{slug}-2027.yaml").write_text(
            f"athlete: {{name: Runner {i}, slug: {slug}, country: Nordvik}}\nseason: 2027\n"
            "races:\n  - {id: fjord, meet: fjord-classic-2027, status: tentative}\n"
        )


def test_views_compiled_in_workers_give_the_bytes_of_one_process(site: Site, tmp_path: Path) -> None:
    """Group, meet and series calendars are compiled in forked workers once a site has enough
    plans: every file must be what one process writes, cold and after an edit."""
    _more_athletes(site, 70)

    def tree(out: Path) -> dict[str, bytes]:
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    trees = []
    for jobs in ("1", "2"):
        out = tmp_path / f"j{jobs}"
        site.build("--out", str(out), "-j", jobs)
        site.step -= 1  # the same build time for both
        trees.append(tree(out))
    assert trees[0] == trees[1] and len(trees[0]) > 300
    site.step += 1
    site.edit("schedules/ada-fjell-2027.yaml", "status: tentative", "status: confirmed")
    for jobs in ("1", "2"):
        site.build("--out", str(tmp_path / f"j{jobs}"), "-j", jobs)
        site.step -= 1
    assert tree(tmp_path / "j1") == tree(tmp_path / "j2") != trees[0]


@pytest.mark.external
def test_front_page_finder_and_group_and_meet_pages_in_headless_chromium(site: Site) -> None:
    from playwright.sync_api import sync_playwright

    from conftest import need, serving
    from test_site import CHROMIUM, CHROMIUM_ARGS, chromium_available

    need(chromium_available(), "Chromium (Debian package) with Playwright")
    _more_athletes(site, 12)
    site.build()
    problems: list[str] = []
    with serving(site.dist) as origin, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(f"{origin}/index.html")
        entries = page.locator(".plans > li")
        total = entries.count()
        assert total == 17 + 2 + 4 + 1  # athletes, groups, meets, series
        page.get_by_label("Find an athlete, group or meet").fill("fjord")
        visible = [" ".join(e.inner_text().split()) for e in entries.all() if e.is_visible()]
        assert visible == ["Fjord Classic 2027 1 confirmed · 14 tentative · 0 withdrawn or cancelled"]
        assert page.locator("#find-count").inner_text() == f"1 of {total}"
        page.get_by_label("Find an athlete, group or meet").fill("émile")  # found without its accent too
        assert [e.inner_text().splitlines()[0] for e in entries.all() if e.is_visible()] == ["Émile Øst: 2027"]
        page.get_by_label("Find an athlete, group or meet").fill("emile ost")
        assert [e.inner_text().splitlines()[0] for e in entries.all() if e.is_visible()] == ["Émile Øst: 2027"]
        page.get_by_label("Find an athlete, group or meet").fill("team")
        assert [e.inner_text().splitlines()[0] for e in entries.all() if e.is_visible()] == ["Team Nordvik: 2027"]
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        page.get_by_role("link", name="Team Nordvik: 2027").click()
        page.wait_for_load_state()
        card = page.locator("section[aria-labelledby=feed-confirmed]")
        webcal = "webcal://" + f"{origin}/team-nordvik-2027/confirmed.ics".split("://")[1]
        assert card.get_by_role("link", name="Apple Calendar").get_attribute("href") == webcal
        assert page.locator("li.race").count() == 3 + 3 + 2 + 12 + 1  # Ada, Tomas, Erik, the extra runners
        assert "every athlete" in page.get_by_role("heading", level=1).inner_text()
        assert "Races the athletes are confirmed to run." in page.locator("main").inner_text()
        page.goto(f"{origin}/harbour-games-2027/index.html")
        text = page.locator("main").inner_text()
        for entered in ("Ada Fjell – Harbour Games", "Lina Sol – Harbour Games", "Tomas Berg – Harbour Games"):
            assert entered in text, entered
        assert page.locator("li.race").count() == 3
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        context = browser.new_context(java_script_enabled=False)  # the finder without JavaScript
        plain = context.new_page()
        plain.goto(f"{origin}/index.html")
        assert not plain.get_by_label("Find an athlete, group or meet").is_visible()
        letters = plain.locator("nav.letters a")
        assert letters.count() >= 3
        for href in letters.evaluate_all("links => links.map(a => a.getAttribute('href'))"):
            assert plain.locator(href).count() == 1, href  # every letter lands on an athlete
        # Filed by name, not slug: Émile Øst (slug zz) under E.
        assert plain.locator("#athletes-e").inner_text().startswith("Émile Øst")
        browser.close()
    assert problems == []


@pytest.mark.external
def test_without_javascript_the_front_page_links_its_sections_and_files_many_meets_by_letter(site: Site) -> None:
    """Regression (independent tester): without JavaScript only the athletes had an index; with
    hundreds of meets, the meets and series were one flat list."""
    from playwright.sync_api import sync_playwright

    from conftest import need, serving
    from test_site import CHROMIUM, CHROMIUM_ARGS, chromium_available

    need(chromium_available(), "Chromium (Debian package) with Playwright")
    names = ["Åsane Games", "Bergen Mile", "Cedar Relays", "Delta Meet", "Eastgate Open", "Fjellby Cup", "Granite Games",
             "Hillside Classic", "Ice Fjord Meet", "Juniper Games", "Kestrel Cup", "Lakeside Open", "Moorland Mile"]  # fmt: skip
    lines = ["meets:"]
    for i, name in enumerate(names):
        lines += [f"  - id: extra-{i}-2027", f"    name: {name}", f"    date: 2027-07-{i + 1:02d}", "    timezone: Europe/Oslo"]
    (site.root / "schedules" / "meets" / "extra.yaml").write_text("\n".join(lines) + "\n")
    races = "".join(f"  - {{id: extra-{i}, meet: extra-{i}-2027, status: tentative}}\n" for i in range(len(names)))
    (site.root / "schedules" / "runner-2027.yaml").write_text(
        f"athlete: {{name: Runner, slug: runner, country: Solmark}}\nseason: 2027\nraces:\n{races}"
    )
    site.build()
    with serving(site.dist) as origin, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{origin}/index.html")
        sections = page.locator("nav.sections a")
        assert sections.all_inner_texts() == ["Groups", "Meets", "Series", "Athletes"]
        for href in sections.evaluate_all("links => links.map(a => a.getAttribute('href'))"):
            assert page.locator(href).count() == 1, href
        meet_letters = page.locator("nav[aria-label='Meets by first letter'] a")
        hrefs = meet_letters.evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert len(hrefs) >= 13
        for href in hrefs:
            assert page.locator(href).count() == 1 and page.locator(href).get_attribute("id", timeout=1000), href
        assert page.locator("#meets-a").inner_text().startswith("Åsane Games 2027")  # filed under A, as a reader looks for it
        page.locator("a[href='#meets-m']").click()
        assert page.evaluate("location.hash") == "#meets-m"
        browser.close()


# --- a real subscriber -----------------------------------------------------------------------------


@pytest.mark.external
def test_a_real_client_subscribed_to_a_group_and_a_meet_follows_joins_promotions_moves_and_withdrawals(site: Site, tmp_path: Path) -> None:
    """vdirsyncer syncs the group's and a meet's feeds over HTTP after every build; khal must then
    show exactly the events the feeds hold (as icalendar reads them), each once."""
    from conftest import CLIENT_BIN, need, serving
    from khal_client import Client

    need((CLIENT_BIN / "vdirsyncer").exists() and (CLIENT_BIN / "khal").exists(), "vdirsyncer and khal")
    subscribed = {
        "team_all": "team-nordvik-2027/all.ics",
        "team_confirmed": "team-nordvik-2027/confirmed.ics",
        "fjord_all": "fjord-classic-2027/all.ics",
    }

    def expected() -> list[tuple[str, str, bool, str]]:
        rows = []
        for name, path in subscribed.items():
            for event in parse_icalendar(site.dist / path):
                start = event["start"]
                shown = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if isinstance(start, datetime) else start.isoformat()
                rows.append((name, event["summary"], event["status"] == "CANCELLED", shown))
        return sorted(rows)

    edits = [
        ("schedules/tomas-berg-2027.yaml", "country: Nordvik", "country: Solmark"),  # leaves Team Nordvik
        ("schedules/ada-fjell-2027.yaml", "    status: tentative", "    status: confirmed"),  # Fjord Classic promoted
        ("schedules/meets/2027.yaml", "    date: 2027-06-13", "    date: 2027-06-14"),  # the Fjord Classic moves
        ("schedules/erik-stav-2027.yaml", "    status: confirmed", "    status: withdrawn\n    reason: Ill."),  # withdraws
        ("schedules/tomas-berg-2027.yaml", "country: Solmark", "country: Nordvik"),  # and Tomas comes back
    ]
    site.build()
    with serving(site.dist) as origin:
        client = Client(tmp_path / "client", {name: f"{origin}/{path}" for name, path in subscribed.items()})
        for step in range(len(edits) + 1):
            client.sync()
            shown = client.agenda("2027-01-01", "2028-01-01")
            assert len(shown) == len(set(shown)), f"after step {step}: an event shown twice"
            assert shown == expected(), f"after step {step}"
            if step < len(edits):
                site.edit(*edits[step])
                site.build()
    # Erik withdrew from the Fjord Classic: Ada's promoted race is the one live there, on its new day.
    assert [row for row in shown if row[0] == "fjord_all" and not row[2]] == [
        ("fjord_all", "Ada Fjell – Fjord Classic", False, "2027-06-14")
    ]


def test_check_reports_a_calendar_id_taken_twice_naming_both(site: Site) -> None:
    """Regression (third tester): check said ok, and the build blamed "the plan of meet"."""
    site.edit(
        "racecal.yaml", "  - id: distance-squad", "  - id: harbour-games\n    name: Clash\n    country: Nordvik\n  - id: distance-squad"
    )
    checked = site.run("check")
    assert checked.exit_code == 1
    assert (
        "the calendar of meet 'harbour-games-2027' would be 'harbour-games-2027', which is already the calendar of group 'harbour-games'"
        in checked.output
    )
    assert "which is already the calendar of group 'harbour-games'" in site.build(expect=1)


def test_a_meet_calendar_keeps_each_plans_race_when_an_athlete_has_two_seasons(site: Site) -> None:
    """Regression (third tester): member races were told apart by athlete, not plan, so a 2028 plan
    racing a 2027 meet replaced the 2027 plan's entry (confirmed shown as withdrawn)."""
    (site.root / "schedules" / "ada-fjell-2028.yaml").write_text(
        "athlete: {name: Ada Fjell, slug: ada-fjell, country: Nordvik}\nseason: 2028\n"
        "races:\n  - {id: fjord-classic, meet: fjord-classic-2027, status: withdrawn, reason: Wrong season.}\n"
    )
    site.build()
    fjord = by_uid(parse_icalendar(site.dist / "fjord-classic-2027" / "all.ics"))
    assert fjord[group_uid("ada-fjell-2027", "fjord-classic", "fjord-classic-2027", "all")]["status"] == "TENTATIVE"
    assert fjord[group_uid("ada-fjell-2028", "fjord-classic", "fjord-classic-2027", "all")]["status"] == "CANCELLED"


def test_joining_a_group_leaves_the_other_members_events_as_they_were(site: Site) -> None:
    """Regression (third tester): the group's display zone followed its members' most common, so a
    member joining could change it and raise the SEQUENCE of every other event."""
    (site.root / "racecal.yaml").write_text("groups:\n  - {id: pair, name: Pair, athletes: [lina-sol]}\n")  # Atlantic/Canary
    site.build()
    before = (site.dist / "pair-2027" / "all.ics").read_bytes()
    (site.root / "racecal.yaml").write_text(
        "groups:\n  - {id: pair, name: Pair, athletes: [lina-sol, ada-fjell, erik-stav]}\n"
    )  # two in Oslo
    site.build()
    after = (site.dist / "pair-2027" / "all.ics").read_bytes()
    events = re.compile(rb"BEGIN:VEVENT\r\n.*?END:VEVENT\r\n", re.S)
    kept = events.findall(before)
    assert kept and set(kept) <= set(events.findall(after))  # every other member's event, byte for byte


def test_a_retired_id_never_published_is_a_located_warning(site: Site) -> None:
    """Regression (second independent tester): 'retired:' took ids that were never published (a
    typo retires nothing) without a word."""
    site.build()
    with (site.root / "racecal.yaml").open("a") as settings_file:
        settings_file.write("retired: [distance-squad-2072]\n")
    line = (site.root / "racecal.yaml").read_text().splitlines().index("retired: [distance-squad-2072]") + 1
    expected = (  # at the id itself, not at the list's '[' (second tester)
        f"racecal.yaml:{line}:11: retired[0]: warning: 'distance-squad-2072' was never published here, so retiring it does nothing; "
        "did you mean 'distance-squad-2027'?"
    )
    checked = site.run("check")
    assert checked.exit_code == 0 and expected in checked.output, checked.output
    assert site.run("check", "--strict").exit_code == 1
    assert expected in site.build()
    # An id being retired, or retired earlier, is known: retiring it stays quiet on every later build.
    text = (site.root / "racecal.yaml").read_text()
    (site.root / "racecal.yaml").write_text(text[: text.index("  # A squad")] + "retired: [distance-squad-2027]\n")
    assert "never published" not in site.build()
    assert (site.dist / "distance-squad-2027").exists()  # its races cancelled first, for the grace period
    again = site.build()
    assert "never published" not in again, again


def test_a_removed_calendar_says_it_is_no_longer_published_not_removed_from_the_plans(site: Site) -> None:
    """Regression (second independent tester): the empty feeds of a group taken out of the
    settings said the group 'was removed from the plans'."""
    site.build()
    text = (site.root / "racecal.yaml").read_text()
    start = text.index("  # A squad picked by name")
    end = text.index("    disciplines: [10000m]\n") + len("    disciplines: [10000m]\n")
    (site.root / "racecal.yaml").write_text(text[:start] + text[end:])
    site.build()
    feed = (site.dist / "distance-squad-2027" / "all.ics").read_bytes().decode()
    assert "removed from the plans" not in feed
    assert "Distance squad 2027 is no longer published" in feed.replace("\r\n ", ""), feed
    for name in ("confirmed", "tentative"):
        cal = parse_icalendar(site.dist / "distance-squad-2027" / f"{name}.ics")
        assert cal, name  # still a valid calendar with a component


def test_what_a_build_counts_as_its_own_in_dist_is_what_index_json_lists(site: Site) -> None:
    """publish.swap takes the index the build read instead of parsing dist/index.json again: both must
    name the same files as racecal's, with views, a removed plan, foreign files and an unlisted plan
    directory beside them (else a foreign file could be dropped, or a stale plan file kept)."""
    from racecal.previous import read_previous
    from racecal.publish import foreign_entries, published_names

    site.build()
    removed = next(p for p in sorted((site.root / "schedules").glob("*.yaml")))
    removed.unlink()
    site.build()
    for name, data in {"CNAME": "races.example.org\n", "extra/page.html": "<p>mine</p>\n"}.items():
        (site.dist / name).parent.mkdir(exist_ok=True)
        (site.dist / name).write_text(data)
    entries = json.loads((site.dist / "index.json").read_text())["plans"]
    plan_dirs = [site.dist / e["id"] for e in entries if not e.get("view")]
    views = [site.dist / e["id"] for e in entries if e.get("view")]
    assert views and plan_dirs, "plans and calendars both published"
    removed_id = next(e["id"] for e in entries if e["removed"])  # its feeds go on, emptied
    for directory in (plan_dirs[0], views[0]):
        (directory / "notes.txt").write_text("kept beside the feeds\n")
    unlisted = site.dist / "unlisted-2024"  # a plan directory copied in by hand, not in the index
    shutil.copytree(plan_dirs[0], unlisted)
    state = json.loads((unlisted / "state.json").read_text())
    (unlisted / "state.json").write_text(json.dumps({**state, "plan": "unlisted-2024"}))

    listed = read_previous(str(site.dist)).files_listed()
    assert removed_id in listed and set(listed) == {e["id"] for e in entries}
    assert published_names(site.dist, listed) == published_names(site.dist)
    foreign = foreign_entries(site.dist, listed)
    assert foreign == foreign_entries(site.dist)
    assert {"CNAME", "extra", f"{plan_dirs[0].name}/notes.txt", f"{views[0].name}/notes.txt"} <= set(foreign)
    assert "unlisted-2024" not in foreign  # a plan directory by its state, as before
    # And by the rule itself, from published_names alone: every entry, and every entry in a published
    # directory, that it does not name (more kinds planted: a folder in a plan folder, a file named
    # like a plan, a folder named like a site file).
    (plan_dirs[1] / "drafts").mkdir()
    (site.dist / "zz-not-a-plan-2024").write_text("a file named like a plan\n")
    (site.dist / "style.css").unlink()
    (site.dist / "style.css").mkdir()
    published = published_names(site.dist, listed)
    site_level = {"index.html", "index.json", "style.css", "site.js", "_headers", ".htaccess", ".nojekyll"}
    expected = [e.name for e in site.dist.iterdir() if e.name not in published or (e.name in site_level and e.is_dir())]
    for directory in site.dist.iterdir():
        if directory.name in published and directory.name not in site_level and directory.is_dir() and not directory.is_symlink():
            expected += [f"{directory.name}/{i.name}" for i in directory.iterdir() if f"{directory.name}/{i.name}" not in published]
    assert foreign_entries(site.dist, listed) == sorted(expected), sorted(expected)
    (site.dist / "style.css").rmdir()
    (site.dist / "zz-not-a-plan-2024").unlink()
    (plan_dirs[1] / "drafts").rmdir()
    site.build()  # style.css comes back

    site.edit(f"schedules/{sorted((site.root / 'schedules').glob('*.yaml'))[0].name}", "status: tentative", "status: confirmed")
    (unlisted.parent / "unlisted-2024").rename(site.root / "moved-away")  # its name would not clash; keep the build simple
    site.build()
    assert (site.dist / "CNAME").read_text() == "races.example.org\n"
    assert (site.dist / "extra" / "page.html").read_text() == "<p>mine</p>\n"
    assert (site.dist / plan_dirs[0].name / "notes.txt").is_file() and (site.dist / views[0].name / "notes.txt").is_file()


meet_ids = st.sampled_from(["m1", "m2", "m3", "m4"])


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(meet_ids, st.just("d" * 32)),
    st.dictionaries(meet_ids, st.text("0123456789abcdef", min_size=1, max_size=4)),
    st.frozensets(meet_ids, min_size=1),
)
def test_what_a_member_gives_a_meet_calendar_is_its_digests_there_or_its_inputs(
    meets: dict[str, str], at: dict[str, str], of: frozenset[str]
) -> None:
    """docs/groups.md, "What a meet or series calendar depends on": per meet it races at, the digest
    its entry keeps (``at``), in meet order; its whole inputs when one is missing. (A meet's calendar
    takes a shortcut for its single meet; it must say the same.)"""
    from datetime import UTC, datetime

    from racecal.build import _at
    from racecal.index import IndexEntry

    entry = IndexEntry("p-2024", "P", 2024, {}, "p.yaml", "INPUTS", datetime(2024, 1, 1, tzinfo=UTC), None, {}, meets=meets, at=at)
    used = sorted(of & meets.keys())
    expected = "plan\0INPUTS" if any(m not in at for m in used) else ",".join(f"{m}={at[m]}" for m in used)
    assert _at(entry, of) == expected


@given(
    country=st.sampled_from(["Nordvik", "nordvik", "  Nordvik ", "NORDVIK\t", "Nord vik", "Nordvik2"]),
    discipline=st.sampled_from(["1500m", " 1500M ", "1500 m", "800m"]),
)
def test_a_selector_matches_regardless_of_case_and_surrounding_spaces(country: str, discipline: str) -> None:
    """Regression (independent tester): a plan's country written "  Nordvik " (quoted, with spaces
    nobody sees) silently left the group Team Nordvik, though case was already ignored. The rule,
    stated on its own: words compared case-insensitively, whatever the spaces around and between."""
    from racecal.model import Athlete, Group

    group = Group(id="g", name="G", countries=frozenset({"Nordvik"}), disciplines=frozenset({"1500m"}))
    athlete = Athlete(name="A", slug="a", country=country, disciplines=(discipline,))
    expected = country.strip().casefold() == "nordvik" and discipline.strip().casefold() == "1500m"
    assert group.includes(athlete) is expected


def test_a_retired_typo_in_a_block_list_is_located_at_its_own_line(site: Site) -> None:
    """Regression (second tester): the warning pointed at the list, not at the id that is wrong."""
    site.build()
    with (site.root / "racecal.yaml").open("a") as settings_file:
        settings_file.write("retired:\n  - never-2020\n  - distance-squad-2072\n")
    line = (site.root / "racecal.yaml").read_text().splitlines().index("  - distance-squad-2072") + 1
    checked = site.run("check").output
    assert f"racecal.yaml:{line}:5: retired[1]: warning: 'distance-squad-2072' was never published here" in checked, checked
    assert f"racecal.yaml:{line - 1}:5: retired[0]: warning: 'never-2020' was never published here" in checked, checked


GALA_CATALOGUE = """meets:
  - {id: gala-2027, name: Gala, date: 2027-06-01, venue: {city: Rome}, timezone: Europe/Rome}
  - {id: fest-2027, name: Fest, date: 2027-07-01, venue: {city: Oslo}, timezone: Europe/Oslo}
"""
ADA_PLAN = """athlete: {name: Ada, slug: ada}
season: 2027
timezone: Europe/Oslo
races:
  - {id: g, meet: gala-2027, status: confirmed}
  - {id: f, meet: fest-2027, status: confirmed}
"""


def _run_in(root: Path, *args: str) -> Result:
    from click.testing import CliRunner

    cwd = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        os.chdir(cwd)


def _emptied_meet_calendar(root: Path) -> None:
    """A site with meet calendars whose Gala calendar nobody races in any more (Ada dropped it)."""
    (root / "schedules" / "meets").mkdir(parents=True)
    (root / "racecal.yaml").write_text("meet_calendars: true\n")
    (root / "schedules" / "meets" / "m.yaml").write_text(GALA_CATALOGUE)
    (root / "schedules" / "ada-2027.yaml").write_text(ADA_PLAN)
    assert _run_in(root, "build", "-q", "--time", "2026-01-01T00:00:00Z").exit_code == 0
    (root / "schedules" / "ada-2027.yaml").write_text(ADA_PLAN.replace("  - {id: g, meet: gala-2027, status: confirmed}\n", ""))
    assert _run_in(root, "build", "-q", "--time", "2026-01-02T00:00:00Z").exit_code == 0


def test_a_meet_calendar_nobody_races_in_follows_a_catalogue_edit_of_its_meet_locally_and_by_url(tmp_path: Path) -> None:
    """Its inputs took the meet's digest from when it was published, so a local build and diff
    said "No changes" and kept the old name and zone in its feeds, while a build by URL renamed it."""
    root = tmp_path / "site"
    _emptied_meet_calendar(root)
    catalogue = root / "schedules" / "meets" / "m.yaml"
    catalogue.write_text(GALA_CATALOGUE.replace("name: Gala,", "name: Gala Two,").replace("Europe/Rome", "Europe/Paris"))
    time = ["--time", "2026-01-03T00:00:00Z"]
    with serving(root / "dist") as url:
        by_url = _run_in(root, "diff", "--exit-code", "--previous", url + "/", *time)
        built_by_url = _run_in(root, "build", "-q", "--out", str(tmp_path / "by-url"), "--previous", url + "/", *time)
    local = _run_in(root, "diff", "--exit-code", *time)
    for diffed in (local, by_url):
        assert diffed.exit_code == 1, diffed.output
        assert "calendar name changed (Gala → Gala Two)" in diffed.output
        assert "timezone changed (Europe/Rome → Europe/Paris)" in diffed.output
    assert built_by_url.exit_code == 0, built_by_url.output
    assert _run_in(root, "build", "-q", *time).exit_code == 0
    for dist in (root / "dist", tmp_path / "by-url"):
        import icalendar

        feed = icalendar.Calendar.from_ical((dist / "gala-2027" / "all.ics").read_bytes())
        assert str(feed["X-WR-CALNAME"]) == "Gala Two 2027 – all races"
        assert str(feed["X-WR-TIMEZONE"]) == "Europe/Paris"
    assert (root / "dist" / "gala-2027" / "all.ics").read_bytes() == (tmp_path / "by-url" / "gala-2027" / "all.ics").read_bytes()


@pytest.mark.parametrize("by_url", [False, True])
def test_a_meet_removed_from_the_catalogue_after_its_calendar_emptied_builds_on_without_a_traceback(tmp_path: Path, by_url: bool) -> None:
    """A removed meet's calendar, compiled again (by URL at once, locally once its cancellations
    expired), asserted that its meet was in the catalogue: a traceback on every later build."""
    root = tmp_path / "site"
    _emptied_meet_calendar(root)
    catalogue = root / "schedules" / "meets" / "m.yaml"
    catalogue.write_text("".join(line for line in GALA_CATALOGUE.splitlines(keepends=True) if "gala-2027" not in line))
    for time in ("2026-01-03T00:00:00Z", "2026-02-15T00:00:00Z"):
        if by_url:
            with serving(root / "dist") as url:
                diffed = _run_in(root, "diff", "--previous", url + "/", "--time", time)
                result = _run_in(root, "build", "-q", "--previous", url + "/", "--out", str(tmp_path / "by-url"), "--time", time)
        else:
            diffed = _run_in(root, "diff", "--time", time)
            result = _run_in(root, "build", "-q", "--time", time)
        for ran in (diffed, result):
            assert ran.exit_code == 0, ran.output
            assert ran.exception is None or isinstance(ran.exception, SystemExit), ran.exception
            assert "Traceback" not in ran.output
    out = tmp_path / "by-url" if by_url else root / "dist"
    entries = {e["id"]: e for e in json.loads((out / "index.json").read_bytes())["plans"]}
    # The emptied calendar goes on as a removed one (docs/groups.md): listed, valid, with no event.
    assert {k: (e.get("view", ""), e["removed"]) for k, e in entries.items()} == {
        "ada-2027": ("", False), "fest-2027": ("meet", False), "gala-2027": ("meet", True),
    }  # fmt: skip
    assert parse_icalendar(out / "gala-2027" / "all.ics") == []
    for plan in ("ada-2027", "fest-2027"):
        assert [(e["summary"], e["status"]) for e in parse_icalendar(out / plan / "all.ics")] == [("Ada – Fest", "CONFIRMED")]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_meet_and_series_calendars_turned_on_and_off_give_a_local_build_the_bytes_of_a_build_from_the_live_site(tmp_path: Path) -> None:
    """A plan reused locally kept the index entry it was published with, without what it gives each
    meet's calendar (``at``) when meet calendars were off then; a build from the live site compiles
    every plan and wrote it. The index and the calendars' states then differed by how they were built."""
    settings_steps = [
        "title: T\n",
        "title: T\nmeet_calendars: true\n",
        "title: T\nmeet_calendars: true\nseries_calendars: true\n",
        "title: T\nseries_calendars: true\n",
        "title: T\n",
        "title: T\nmeet_calendars: true\n",
    ]
    catalogue = GALA_CATALOGUE.replace("timezone: Europe/Rome}", "timezone: Europe/Rome, series: Tour}").replace(
        "timezone: Europe/Oslo}", "timezone: Europe/Oslo, series: Tour}"
    )
    local, live = tmp_path / "local", tmp_path / "live"
    for root in (local, live):
        (root / "schedules" / "meets").mkdir(parents=True)
        (root / "schedules" / "meets" / "m.yaml").write_text(catalogue)
        (root / "schedules" / "ada-2027.yaml").write_text(ADA_PLAN)
        (root / "schedules" / "bo-2027.yaml").write_text(
            ADA_PLAN.replace("ada", "bo").replace("Ada", "Bo").replace("  - {id: f, meet: fest-2027, status: confirmed}\n", "")
        )
    published = tmp_path / "published-0"
    for step, settings_text in enumerate(settings_steps):
        time = ["--time", f"2026-01-{step + 1:02d}T00:00:00Z"]
        for root in (local, live):
            (root / "racecal.yaml").write_text(settings_text)
        assert _run_in(local, "build", "-q", *time).exit_code == 0
        out = tmp_path / f"published-{step + 1}"
        if step == 0:
            result = _run_in(live, "build", "-q", "--out", str(out), *time)
        else:
            with serving(published) as url:
                result = _run_in(live, "build", "-q", "--previous", url + "/", "--out", str(out), *time)
        assert result.exit_code == 0, result.output
        published = out
        assert _tree(local / "dist") == _tree(published), f"step {step + 1}: {settings_text!r}"


def _events(feed: bytes) -> dict[str, str]:
    """UID → the event's exact text."""
    return {m.group(1): m.group(0) for m in re.finditer(r"BEGIN:VEVENT\r\nUID:([^\r]+)\r\n.*?END:VEVENT\r\n", feed.decode(), re.S)}


def test_renaming_a_group_leaves_the_cancellations_in_its_calendar_as_they_were(site: Site) -> None:
    """A cancellation in a group's calendar names the member and the race, not the group; renaming
    the group raised its SEQUENCE and DTSTAMP with not a byte of it changed (docs/history.md: nothing
    a subscriber can see, SEQUENCE unchanged)."""
    site.build()
    site.edit("schedules/tomas-berg-2027.yaml", "  - id: island-relays\n", "  - id: island-relays-gone\n")
    site.build()  # Tomas's Island Relays race leaves: cancelled in the squad's calendar
    feed = site.dist / "distance-squad-2027" / "all.ics"
    cancelled = {uid: text for uid, text in _events(feed.read_bytes()).items() if "STATUS:CANCELLED" in text}
    assert cancelled, "a cancellation to watch"
    site.edit("racecal.yaml", "name: Distance squad", "name: Distance Squad B")
    out = site.build()
    assert "calendar name changed" in out
    after = _events(feed.read_bytes())
    assert {uid: after[uid] for uid in cancelled} == cancelled  # the same bytes: SEQUENCE, DTSTAMP and all
    import icalendar

    assert str(icalendar.Calendar.from_ical(feed.read_bytes())["X-WR-CALNAME"]).startswith("Distance Squad B")  # the header is renamed


@pytest.mark.parametrize("command", ["check", "build"])
def test_a_plan_with_a_problem_still_holds_its_id_against_a_group_calendar(site: Site, command: str) -> None:
    """A group whose calendar id is a plan's was reported only once that plan had no other problem:
    the editor fixed the status and was refused again, a run later."""
    site.edit("racecal.yaml", "groups:\n", "groups:\n  - {id: ada-fjell, name: Ada group, country: Nordvik}\n")
    site.edit("schedules/ada-fjell-2027.yaml", "status: confirmed", "status: confirmd")
    result = site.run(command, *(["--time", TIMES[0]] if command == "build" else []))
    assert result.exit_code == 1, result.output
    problems = [line for line in result.stderr.splitlines() if ": warning: " not in line]
    assert problems == [
        "racecal.yaml:9:10: groups[0].id: the calendar of group 'ada-fjell' would be 'ada-fjell-2027', "
        "which is already the plan of schedules/ada-fjell-2027.yaml; give one of them another id",
        "schedules/ada-fjell-2027.yaml:9:13: races[0].status: unknown status 'confirmd'; did you mean 'confirmed'?",
        "2 problems in 2 files",
    ]
    assert not (site.root / "dist").exists()
