"""Builds follow what was published before: SEQUENCE, stamps, tombstones, typed changes."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import LATER_TIME, PLAN_ID, Project, feed_files, named_by_diff, parse_icaljs, parse_vobject, serving
from racecal.diff import diff_race
from racecal.feeds import written_events
from racecal.history import compile_plan
from racecal.model import Athlete, Plan, Race, Status, Venue, feeds_for
from racecal.settings import Settings
from racecal.state import GRACE, state_from_json, state_read_written, state_to_json


def uid(race: str, feed: str = "all") -> str:
    """Written out, not computed with racecal's own function: docs/history.md, "Identity"."""
    return f"{race}.{PLAN_ID}.{feed}@racecal"


def events(text: bytes) -> dict[str, str]:
    """UID → the event's exact text, for byte comparisons."""
    return {m.group(1): m.group(0) for m in re.finditer(r"BEGIN:VEVENT\r\nUID:([^\r]+)\r\n.*?END:VEVENT\r\n", text.decode(), re.S)}


def field(event: str, name: str) -> str:
    match = re.search(rf"^{name}[;:]([^\r]*)", event.replace("\r\n ", ""), re.M)
    assert match, name
    return match.group(1)


def make_season_of_changes(p: Project) -> None:
    p.edit("    status: tentative\n", "    status: confirmed\n")  # promote Monaco
    p.edit("  - id: bislett\n    meet: bislett-games-2024\n", "  - id: bislett\n    meet: bislett-games-2024\n    date: 2024-05-31\n")
    p.edit(
        "  - id: norwegian-championships\n    meet: norwegian-championships-2024\n    status: confirmed\n",
        "  - id: norwegian-championships\n    meet: norwegian-championships-2024\n    status: withdrawn\n    reason: Illness.\n",
    )
    text = p.plan_file.read_text()
    start = text.index("  - id: eugene\n")
    end = text.index("  - id: bislett\n")
    p.plan_file.write_text(text[:start] + text[end:])  # delete Eugene
    p.edit("note: '\"And then full focus on the Olympics after that.\"'", "note: Full focus on the Olympics.")


@pytest.fixture
def changed(built: Project) -> Project:
    make_season_of_changes(built)
    return built


def test_diff_names_each_change_with_its_type(changed: Project) -> None:
    result = changed.run("diff", "--format", "json", "--time", LATER_TIME)
    assert result.exit_code == 0, result.output
    got = {(c["race"], c["type"]) for c in json.loads(result.stdout)["changes"]}
    assert got == {
        ("monaco", "promoted"),
        ("bislett", "moved"),
        ("norwegian-championships", "withdrawn"),
        ("norwegian-championships", "edited"),  # the reason is new text subscribers see
        ("eugene", "removed"),
        ("paris-olympics", "edited"),
    }
    moved = next(c for c in json.loads(result.stdout)["changes"] if c["type"] == "moved")
    assert (moved["old"], moved["new"]) == ({"start": "2024-05-30", "end": "2024-05-30"}, {"start": "2024-05-31", "end": "2024-05-31"})
    assert moved["summary"] == "Bislett Games moved from 30 May to 31 May"
    assert moved["feeds"] == ["all", "confirmed"]
    promoted = next(c for c in json.loads(result.stdout)["changes"] if c["type"] == "promoted")
    assert promoted["feeds"] == ["all", "confirmed", "tentative"]


def test_sequence_rises_exactly_where_it_should(changed: Project) -> None:
    before = {feed: events(changed.feed(feed)) for feed in ("all", "confirmed", "tentative")}
    changed.build(time=LATER_TIME)
    after = {feed: events(changed.feed(feed)) for feed in ("all", "confirmed", "tentative")}
    seq = {u: int(field(e, "SEQUENCE")) for u, e in after["all"].items()}
    assert seq == {
        uid("monaco"): 1, uid("bislett"): 1, uid("norwegian-championships"): 1, uid("eugene"): 1,
        uid("paris-olympics"): 1, uid("european-championships"): 0, uid("glasgow-indoors"): 0,
        uid("european-cross-country"): 0,
    }  # fmt: skip
    # Untouched events keep their bytes, in every feed.
    for feed in ("all", "confirmed"):
        assert after[feed][uid("european-championships", feed)] == before[feed][uid("european-championships", feed)]
    assert after["all"][uid("glasgow-indoors")] == before["all"][uid("glasgow-indoors")]
    # Changed ones carry the build that changed them; the rest keep theirs.
    assert field(after["all"][uid("bislett")], "DTSTAMP") == "20240410T080000Z"
    assert field(after["all"][uid("bislett")], "LAST-MODIFIED") == "20240410T080000Z"
    assert field(after["all"][uid("european-championships")], "DTSTAMP") == "20240327T120000Z"


def test_withdrawn_and_deleted_races_are_cancelled_in_every_feed_that_carried_them(changed: Project) -> None:
    changed.build(time=LATER_TIME)
    for feed in ("all", "confirmed"):
        evs = events(changed.feed(feed))
        for race in ("norwegian-championships", "eugene"):
            assert field(evs[uid(race, feed)], "STATUS") == "CANCELLED", (feed, race)
            assert field(evs[uid(race, feed)], "SEQUENCE") == "1"
    assert "Removed: this race is no longer in the plan." in events(changed.feed("all"))[uid("eugene")].replace("\r\n ", "")


def test_promoted_race_is_never_live_twice_for_someone_subscribed_to_both_tracks(changed: Project) -> None:
    changed.build(time=LATER_TIME)
    tentative = parse_vobject(changed.dist / PLAN_ID / "tentative.ics")
    confirmed = parse_vobject(changed.dist / PLAN_ID / "confirmed.ics")
    live = [e for e in tentative + confirmed if e["uid"].startswith("monaco.") and e["status"] != "CANCELLED"]
    assert [(e["uid"], e["status"]) for e in live] == [(uid("monaco", "confirmed"), "CONFIRMED")]
    gone = [e for e in tentative if e["uid"].startswith("monaco.")]
    assert [(e["uid"], e["status"], e["sequence"]) for e in gone] == [(uid("monaco", "tentative"), "CANCELLED", 1)]
    # Each calendar's UIDs are its own: none is live in one and cancelled in the other.
    assert not {e["uid"] for e in tentative} & {e["uid"] for e in confirmed}
    # ical.js agrees.
    path = changed.dist / PLAN_ID / "tentative.ics"
    js = parse_icaljs(path)[str(path)]["events"]
    assert [(e["uid"], e["status"], e["sequence"]) for e in js] == [(uid("monaco", "tentative"), "CANCELLED", 1)]


def test_a_rebuild_with_no_change_is_byte_identical(changed: Project) -> None:
    changed.build(time=LATER_TIME)
    first = changed.tree()
    result = changed.build(time="2024-05-01T00:00:00Z")  # a later clock must not matter
    assert "unchanged" in result.output
    assert changed.tree() == first


def test_tombstones_expire_after_the_grace_period(changed: Project) -> None:
    changed.build(time=LATER_TIME)
    later = (datetime(2024, 4, 10, 8, tzinfo=UTC) + GRACE + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    changed.build(time=later)  # nothing edited: the publication time alone expires them
    all_feed = events(changed.feed("all"))
    assert uid("eugene") not in all_feed  # deleted: dropped everywhere
    assert field(all_feed[uid("norwegian-championships")], "STATUS") == "CANCELLED"  # withdrawn: stays in all
    assert uid("norwegian-championships", "confirmed") not in events(changed.feed("confirmed"))
    assert uid("monaco", "tentative") not in events(changed.feed("tentative"))
    state = json.loads((changed.dist / PLAN_ID / "state.json").read_text())
    assert "eugene" not in state["races"]


def test_diff_names_the_cancellations_that_expire_and_exits_1_for_them(changed: Project) -> None:
    """diff said "No changes." and --exit-code 0 while the next build rewrote the feeds, dropping the
    cancellations whose 30 days were over: a pull request's check said nothing would change."""
    import icalendar

    changed.build(time=LATER_TIME)
    later = (datetime(2024, 4, 10, 8, tzinfo=UTC) + GRACE + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def by_uid(feed: str) -> dict[str, str]:
        calendar = icalendar.Calendar.from_ical(changed.feed(feed))
        return {str(e["UID"]): str(e["STATUS"]) for e in calendar.walk("VEVENT")}

    before = {feed: by_uid(feed) for feed in ("all", "confirmed", "tentative")}
    listed = changed.run("diff", "--exit-code", "--format", "json", "--time", later)
    text = changed.run("diff", "--exit-code", "--time", later)
    markdown = changed.run("diff", "--format", "markdown", "--time", later)
    built = changed.build(time=later)
    after = {feed: by_uid(feed) for feed in before}
    # The oracle: what left each feed, read by icalendar; every one of them was a cancellation.
    left = {feed: sorted(set(before[feed]) - set(after[feed])) for feed in before}
    assert all(before[feed][u] == "CANCELLED" for feed, uids in left.items() for u in uids)
    expected = {feed: len(uids) for feed, uids in left.items() if uids}
    assert sum(expected.values()) >= 3, left  # Eugene deleted, the championships withdrawn, Monaco promoted
    assert listed.exit_code == 1, listed.output
    assert json.loads(listed.stdout) == {"format": 1, "changes": [], "expired": [{"plan": PLAN_ID, "feeds": expected}], "rewritten": []}
    assert text.exit_code == 1
    shown = ", ".join(f"{n} in {feed}" for feed, n in expected.items())
    assert f"  expired    cancelled events leave the feeds, their 30 days over ({shown})" in text.stdout
    assert f"| expired | `cancelled events leave the feeds, their 30 days over ({shown})` |" in markdown.stdout
    assert "no changes; cancelled events expired in 1 calendar" in built.output
    again = changed.run("diff", "--exit-code", "--time", later)
    assert (again.exit_code, again.stdout.strip()) == (0, "No changes.")


def test_history_is_kept_across_builds_and_published_as_json_and_atom(changed: Project) -> None:
    changed.build(time=LATER_TIME)
    history = json.loads((changed.dist / PLAN_ID / "changes.json").read_text())["changes"]
    assert [c["type"] for c in history].count("added") == 8
    later = [c for c in history if c["build"] == "20240410T080000Z"]
    assert {c["type"] for c in later} == {"promoted", "moved", "withdrawn", "edited", "removed"}
    atom = (changed.dist / PLAN_ID / "changes.atom").read_text()
    assert "<title>Monaco Diamond League (Herculis), 12 July: confirmed</title>" in atom
    assert "<title>Bislett Games moved from 30 May to 31 May</title>" in atom
    import xml.etree.ElementTree as ET

    root = ET.fromstring(atom)
    assert len(root.findall("{http://www.w3.org/2005/Atom}entry")) == len(history)


def test_build_prints_the_same_summary_as_diff(changed: Project) -> None:
    diff = changed.run("diff", "--time", LATER_TIME)
    build = changed.build(time=LATER_TIME)
    assert diff.stdout.strip() in build.stdout
    assert "promoted" in diff.stdout and "\x1b[" not in diff.stdout  # not a terminal: no colour


def test_a_country_or_disciplines_edit_is_a_change_to_the_pages_not_to_the_feeds(built: Project) -> None:
    """Regression (independent tester): a changed country was recorded as touching all three feeds,
    whose bytes did not change; changed disciplines, shown on the page beside it, were not recorded."""
    feeds = {name: built.feed(name) for name in ("all", "confirmed", "tentative")}
    built.edit("  country: Norway\n", "  country: NOR\n")
    built.edit("  disciplines: [1500m, 5000m]\n", "  disciplines: [1500m, 5000m, mile]\n")
    diffed = built.run("diff", "--time", LATER_TIME, "--format", "json")
    changes = {c["field"]: c for c in json.loads(diffed.stdout)["changes"]}
    assert set(changes) == {"athlete.country", "athlete.disciplines"}, changes
    assert changes["athlete.country"]["feeds"] == [] and changes["athlete.disciplines"]["feeds"] == []
    assert (changes["athlete.disciplines"]["old"], changes["athlete.disciplines"]["new"]) == (
        ["1500m", "5000m"],
        ["1500m", "5000m", "mile"],
    )
    assert "[pages only]" in built.run("diff", "--time", LATER_TIME).stdout
    # The old and new values in the markdown table too, as in the text (second tester: left out).
    assert (
        "athlete.country changed (Norway → NOR)` | pages only |" in built.run("diff", "--time", LATER_TIME, "--format", "markdown").stdout
    )
    built.build(time=LATER_TIME)
    assert {name: built.feed(name) for name in feeds} == feeds
    assert "athlete.disciplines changed" in (built.dist / PLAN_ID / "changes.json").read_text()


def test_diff_exit_code_and_markdown(changed: Project, built: Project) -> None:
    result = changed.run("diff", "--exit-code", "--format", "markdown", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stdout.startswith("### racecal: calendar changes\n\n| calendar | change | what | feeds |")
    assert (
        "| `jakob-ingebrigtsen-2024` | promoted | `Monaco Diamond League (Herculis), 12 July: confirmed` | all, confirmed, tentative |"
        in result.stdout
    )
    changed.build(time=LATER_TIME)
    assert changed.run("diff", "--exit-code", "--time", LATER_TIME).exit_code == 0


@pytest.fixture
def served(built: Project) -> Iterator[str]:
    with serving(built.dist) as url:
        yield url


def test_previous_dir_elsewhere_still_writes_the_new_output(built: Project) -> None:
    """Nothing changed since dist/, but the new site goes to another directory: it must be written."""
    result = built.build("--out", "site2", "--previous", "dist", time=LATER_TIME)
    assert "wrote site2/" in result.output
    assert (built.root / "site2" / PLAN_ID / "all.ics").read_bytes() == built.feed("all")


def test_previous_build_from_a_live_site_over_http(built: Project, served: str, tmp_path: Path) -> None:
    """CI starts from a clean checkout: the history comes from the published site."""
    clean = Project(tmp_path / "clean")
    shutil.copytree(built.schedules, clean.schedules)
    make_season_of_changes(clean)
    clean.build("--previous", served, time=LATER_TIME)
    seq = {u: field(e, "SEQUENCE") for u, e in events(clean.feed("all")).items()}
    assert seq[uid("monaco")] == "1" and seq[uid("european-championships")] == "0"
    assert field(events(clean.feed("confirmed"))[uid("eugene", "confirmed")], "STATUS") == "CANCELLED"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/nothing-here", "/nothing-here/index.json: HTTP 404 File not found"),
        ("/jakob-ingebrigtsen-2024", "/jakob-ingebrigtsen-2024/index.json: HTTP 404 File not found"),
    ],
)
def test_wrong_previous_url_is_a_clear_error(built: Project, served: str, target: str, message: str) -> None:
    before = built.tree()
    result = built.run("build", "--previous", served + target, "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr == f"error: {served}{message}\n"
    assert built.tree() == before


def test_unreachable_previous_url_is_a_clear_error(built: Project) -> None:
    result = built.run("build", "--previous", "http://127.0.0.1:9/", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: http://127.0.0.1:9/index.json: cannot be reached (")


# --- properties ------------------------------------------------------------------------------------

slugs = st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)
days = st.dates(min_value=date(2023, 1, 1), max_value=date(2026, 12, 31))


# Text a plan can hold (load.py's rules): not blank, no control, format or separator characters.
texts = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")), min_size=1, max_size=40
).filter(lambda t: t.strip() != "")


@st.composite
def races(draw: st.DrawFn, race_id: str | None = None) -> Race:
    start = draw(days)
    return Race(
        id=race_id or draw(slugs),
        name=draw(texts),
        start=start,
        end=start + timedelta(days=draw(st.integers(0, 10))),
        status=draw(st.sampled_from(list(Status))),
        venue=Venue(draw(st.sampled_from(["Bislett", "Hayward Field", "Stade Louis II"])), "City", None),
        note=draw(st.none() | texts),
    )


@st.composite
def plans(draw: st.DrawFn) -> Plan:
    ids = draw(st.lists(slugs, min_size=0, max_size=8, unique=True))
    return Plan(Athlete("A Runner", "a-runner"), 2024, tuple(draw(races(i)) for i in ids), "a-runner-2024.yaml")


NOW = datetime(2024, 3, 1, tzinfo=UTC)
INPUTS = "0" * 64  # a sha256, as a real build passes


@settings(max_examples=150, deadline=None)
@given(plans())
def test_rebuilding_a_plan_against_itself_changes_nothing(plan: Plan) -> None:
    first = compile_plan(plan, None, NOW, NOW, Settings(), INPUTS)
    again = compile_plan(plan, first.state, NOW + timedelta(days=3), NOW + timedelta(days=3), Settings(), INPUTS)
    assert again.changes == []
    assert again.feeds == first.feeds
    assert state_to_json(again.state) == state_to_json(first.state)
    # The state survives its own JSON round trip.
    assert state_to_json(state_from_json(state_to_json(first.state), "state.json", plan.id)) == state_to_json(first.state)


@settings(max_examples=150, deadline=None)
@given(plans(), st.data())
def test_a_state_written_again_from_its_unchanged_races_lines_has_the_bytes_of_one_encoded_anew(plan: Plan, data: st.DataObject) -> None:
    """A rebuild writes an unchanged race's entry in state.json as it read it (one race per line),
    not encoded again: those bytes must be the ones encoding gives, whatever else changed."""
    first = compile_plan(plan, None, NOW, NOW, Settings(), INPUTS)
    written = state_to_json(first.state)
    # As the next build reads a state racecal wrote, and its feeds' events (build.py, previous.py).
    read = state_read_written(written)
    feeds = {feed: written_events(text) for feed, text in first.feeds.items()}
    kept = data.draw(st.lists(st.sampled_from([r.id for r in plan.races]), unique=True) if plan.races else st.just([]))
    edited = [r if r.id in kept else data.draw(races(r.id)) for r in plan.races]
    later = NOW + timedelta(days=data.draw(st.integers(0, 60)))
    again = compile_plan(replace(plan, races=tuple(edited)), read, later, later, Settings(), INPUTS, published_events=feeds.__getitem__)
    assert state_to_json(again.state) == state_to_json(replace(again.state, race_lines={}))
    # The lines were used: every race kept as it was has its line, and the line is its entry.
    same = [r.id for r in edited if r == read.races[r.id].snapshot]
    assert sorted(again.state.race_lines) == sorted(same)
    lines = state_to_json(again.state).decode().split("\n")
    assert all(again.state.race_lines[race_id] + "," in lines or again.state.race_lines[race_id] in lines for race_id in same)
    assert json.loads(state_to_json(again.state)) == json.loads(state_to_json(replace(again.state, race_lines={})))


def test_a_state_written_on_one_line_by_an_earlier_racecal_is_read_and_then_written_one_race_per_line(built: Project) -> None:
    state_path = built.dist / PLAN_ID / "state.json"
    laid_out = state_path.read_bytes()
    lines = laid_out.decode().split("\n")
    assert len(lines) == len(json.loads(laid_out)["races"]) + 3, "the head, a line per race, the tail, the final newline"
    assert all(line.startswith('"') and line.rstrip(",").endswith("}") for line in lines[1:-2])
    # racecal 0.2 wrote the same document on one line: read the same, and no lines to take from it.
    one_line = (json.dumps(json.loads(laid_out), sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    assert one_line.count(b"\n") == 1
    assert state_read_written(one_line) == state_read_written(laid_out)
    assert state_read_written(one_line).race_lines == {}
    assert state_to_json(state_read_written(one_line)) == laid_out


@settings(max_examples=150, deadline=None)
@given(plans())
def test_every_live_race_is_in_exactly_one_track(plan: Plan) -> None:
    out = compile_plan(plan, None, NOW, NOW, Settings(), INPUTS)
    for race in plan.races:
        tracks = [f for f in ("confirmed", "tentative") if f"\r\nUID:{race.id}.{plan.id}.{f}@racecal\r\n".encode() in out.feeds[f]]
        assert len(tracks) == (1 if race.status.is_live else 0)
        assert set(tracks) == feeds_for(race.status) - {"all"}


EDITS = {
    "status": lambda r, d: Race(**{**_fields(r), "status": d.draw(st.sampled_from([s for s in Status if s is not r.status]))}),
    "date": lambda r, d: Race(**{**_fields(r), "start": r.start + timedelta(days=1), "end": r.end + timedelta(days=1)}),
    "venue": lambda r, d: Race(**{**_fields(r), "venue": Venue("Somewhere Else", "Other City", None)}),
    "note": lambda r, d: Race(**{**_fields(r), "note": (r.note or "") + " (updated)"}),
}
EDIT_TYPES = {"date": {"moved"}, "venue": {"venue"}, "note": {"edited"},
              "status": {"promoted", "demoted", "withdrawn", "cancelled", "reinstated"}}  # fmt: skip


def _fields(race: Race) -> dict[str, object]:
    return {name: getattr(race, name) for name in race.__slots__}


@settings(max_examples=200, deadline=None)
@given(races(), st.sampled_from(sorted(EDITS)), st.data())
def test_diff_of_a_race_with_itself_is_empty_and_one_edit_is_one_change(race: Race, edit: str, data: st.DataObject) -> None:
    assert diff_race("p", race, race) == []
    edited = EDITS[edit](race, data)
    changes = diff_race("p", race, edited)
    assert len(changes) == 1, changes
    assert changes[0].type in EDIT_TYPES[edit]


def test_a_meet_edit_rebuilds_only_the_plans_that_use_it(built: Project) -> None:
    """Regression: every plan's inputs hashed the whole catalogue, so one meet edit rebuilt every plan."""
    other = built.schedules / "other-runner-2024.yaml"
    other.write_text(
        "athlete: {name: Other Runner, slug: other-runner}\nseason: 2024\nraces:\n  - {id: bislett, meet: bislett-games-2024, status: confirmed}\n"
    )
    built.build(time=LATER_TIME)
    untouched = (built.dist / "other-runner-2024" / "confirmed.ics").read_bytes()
    catalogue = built.schedules / "meets" / "2024.yaml"
    text = catalogue.read_text()
    assert "name: Monaco Diamond League (Herculis)" in text
    catalogue.write_text(text.replace("name: Monaco Diamond League (Herculis)", "name: Herculis Monaco"))
    result = built.build(time="2024-04-11T08:00:00Z")
    assert "(2 plans, 1 reused as they were; 1 edited)" in result.stdout  # only Jakob runs Monaco
    assert "Herculis Monaco" in built.feed("tentative").decode()
    assert (built.dist / "other-runner-2024" / "confirmed.ics").read_bytes() == untouched
    # A formatting-only edit of the catalogue (a comment) changes no meet: nothing is rebuilt, and only
    # index.json (which records the catalogue's hash) changes.
    before = built.tree()
    catalogue.write_text("# the 2024 meets\n" + catalogue.read_text())
    assert built.build(time="2024-04-12T08:00:00Z").stdout.endswith("wrote dist/ (2 plans, 2 reused as they were; no changes)\n")
    assert {k for k, v in built.tree().items() if before.get(k) != v} == {"index.json"}
    # A meet that the other plan uses moves: that plan (and Jakob's) follow.
    catalogue.write_text(catalogue.read_text().replace("date: 2024-05-30", "date: 2024-05-31", 1))
    # The other plan's empty tentative feed is re-dated with its newest change: said, as diff says it.
    assert "(2 plans, 0 reused as they were; 2 moved; feeds rewritten in 1 calendar)" in built.build(time="2024-04-13T08:00:00Z").stdout


def test_change_summary_of_a_race_named_with_a_leading_space_reads_back_unchanged() -> None:
    """Regression: read-back stripped change summaries like block scalars, so a race named " 0"
    (quoted in YAML) made a no-op rebuild rewrite state.json."""
    race = Race(id="a", name=" 0", start=date(2024, 1, 1), end=date(2024, 1, 1), status=Status.CONFIRMED)
    plan = Plan(Athlete("A Runner", "a-runner"), 2024, (race,), "a-runner-2024.yaml")
    first = compile_plan(plan, None, NOW, NOW, Settings(), INPUTS)
    assert state_to_json(state_from_json(state_to_json(first.state), "state.json", plan.id)) == state_to_json(first.state)


def test_a_plan_without_history_gives_a_build_from_the_live_site_the_atom_feed_a_local_build_gives(
    project: Project, tmp_path: Path
) -> None:
    """Its changes.atom's <updated> was the build time when its history was empty: a build from the
    live site (which compiles every plan) wrote a new one on every scheduled run, where a local build
    kept the file; so did its state.json's and index.json's hashes of it."""
    import xml.etree.ElementTree as ET

    text = project.plan_file.read_text()
    project.plan_file.write_text(text[: text.index("\nraces:")] + "\nraces: []\n")
    project.build(time="2024-03-01T00:00:00Z")
    with serving(project.dist) as url:
        by_url = project.run("build", "-q", "--previous", url + "/", "--out", str(tmp_path / "by-url"), "--time", "2024-03-05T00:00:00Z")
    assert by_url.exit_code == 0, by_url.output
    project.build(time="2024-03-05T00:00:00Z")
    atom = ET.fromstring((tmp_path / "by-url" / PLAN_ID / "changes.atom").read_bytes())
    assert atom.findtext("{http://www.w3.org/2005/Atom}updated") == "2024-03-01T00:00:00Z"  # its first publication
    local = {p.relative_to(project.dist): p.read_bytes() for p in project.dist.rglob("*") if p.is_file()}
    remote = {p.relative_to(tmp_path / "by-url"): p.read_bytes() for p in (tmp_path / "by-url").rglob("*") if p.is_file()}
    assert local == remote


def test_a_plan_without_races_dates_its_empty_feeds_from_its_first_build(project: Project) -> None:
    """Regression (subscriber model): a plan that never had a race dated its empty-feed journal from
    1 January of its season, a time no build had; docs/history.md says the plan's latest build time."""
    text = project.plan_file.read_text()
    project.plan_file.write_text(text[: text.index("\nraces:")] + "\nraces: []\n")
    project.build(time="2024-03-01T00:00:00Z")
    first = project.tree()
    import icalendar  # an independent parser reads the stamp

    for feed in ("all", "confirmed", "tentative"):
        calendar = icalendar.Calendar.from_ical((project.dist / PLAN_ID / f"{feed}.ics").read_bytes())
        (journal,) = calendar.walk("VJOURNAL")
        assert journal["DTSTAMP"].dt == datetime(2024, 3, 1, tzinfo=UTC), feed
    project.build(time="2024-03-09T00:00:00Z")
    assert project.tree() == first  # the stamp is kept: an unchanged plan gives the same bytes


def _diff_then_build(p: Project, time: str) -> tuple[Result, set[str]]:
    """diff --exit-code --format json, then the build it describes: the diff, and which feeds' bytes
    the build changed (read from the files: the oracle)."""
    before = feed_files(p.dist)
    listed = p.run("diff", "--exit-code", "--format", "json", "--time", time)
    p.build(time=time)
    after = feed_files(p.dist)
    return listed, {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}


def test_diff_names_a_plan_removed_with_no_race_left_and_published_again(project: Project) -> None:
    """A deleted plan (or a calendar whose meet left the catalogue) with no race: every feed's name
    and description changed to say "(removed)", and diff said "No changes.", exit 0."""
    text = project.plan_file.read_text()
    project.plan_file.write_text(text[: text.index("\nraces:")] + "\nraces: []\n")
    project.build(time="2024-03-01T00:00:00Z")
    kept = project.plan_file.read_text()
    project.plan_file.unlink()
    listed, rewritten = _diff_then_build(project, "2024-03-02T00:00:00Z")
    assert listed.exit_code == 1, listed.output
    (change,) = json.loads(listed.stdout)["changes"]
    assert (change["race"], change["type"], change["field"], change["old"], change["new"]) == (None, "edited", "removed", False, True)
    assert rewritten == {f"{PLAN_ID}/{feed}" for feed in ("all", "confirmed", "tentative")} == named_by_diff(json.loads(listed.stdout))
    import icalendar

    assert str(icalendar.Calendar.from_ical(project.feed("all"))["X-WR-CALNAME"]).endswith("(removed)")
    project.plan_file.write_text(kept)
    listed, rewritten = _diff_then_build(project, "2024-03-03T00:00:00Z")
    (change,) = json.loads(listed.stdout)["changes"]
    assert (change["field"], change["old"], change["new"]) == ("removed", True, False)
    assert "plan published again" in change["summary"]
    assert rewritten == named_by_diff(json.loads(listed.stdout))


def test_diff_names_every_feed_a_settings_change_rewrites(built: Project) -> None:
    """refresh_hours (or colours) rewrote every feed's header, and diff said "No changes.", exit 0:
    a deployment that publishes only when --exit-code says so would never publish it."""
    (built.root / "racecal.yaml").write_text("refresh_hours: 12\n")
    listed, rewritten = _diff_then_build(built, LATER_TIME)
    assert listed.exit_code == 1, listed.output
    assert json.loads(listed.stdout)["rewritten"] == [{"plan": PLAN_ID, "feeds": ["all", "confirmed", "tentative"]}]
    assert rewritten == named_by_diff(json.loads(listed.stdout))
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT12H" in built.feed("all")


def test_a_change_names_the_feed_where_the_race_has_a_cancellation_its_new_sequence_rewrites(built: Project) -> None:
    """Monaco promoted leaves a cancellation in the tentative feed; an edit of Monaco after that raises
    its SEQUENCE there too, but the change named only the feeds of its status."""
    built.edit("    status: tentative\n", "    status: confirmed\n")  # promote Monaco
    built.build(time=LATER_TIME)
    built.edit("(Diamond League, 12 July).\"'", "(Diamond League, 12 July), confirmed.\"'")  # Monaco's note
    listed, rewritten = _diff_then_build(built, "2024-04-11T08:00:00Z")
    assert f"{PLAN_ID}/tentative" in rewritten
    assert rewritten == named_by_diff(json.loads(listed.stdout))


def test_diff_names_the_empty_feeds_of_a_plan_published_for_the_first_time(built: Project) -> None:
    """A new plan with one confirmed race: diff named its all and confirmed feeds, but the build also
    published its tentative feed, empty (its journal only), named by nothing."""
    (built.schedules / "new-one-2024.yaml").write_text(
        "athlete: {name: New One, slug: new-one}\nseason: 2024\ntimezone: UTC\nraces:\n"
        "  - {id: a, name: Solo Race, date: 2024-07-01, status: confirmed}\n"
    )
    listed, changed = _diff_then_build(built, LATER_TIME)
    assert {"new-one-2024/all", "new-one-2024/confirmed", "new-one-2024/tentative"} <= changed
    assert changed == named_by_diff(json.loads(listed.stdout))
    assert json.loads(listed.stdout)["rewritten"] == [{"plan": "new-one-2024", "feeds": ["tentative"]}]


# --- the plan's display zone is in every feed's header, in no event ----------------------------------


def events_by_uid(path: Path) -> dict[str, tuple[int, str, bytes]]:
    """UID → (SEQUENCE, DTSTAMP, the event's bytes) of a feed, read with icalendar."""
    import icalendar

    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["UID"]): (int(e["SEQUENCE"]), e["DTSTAMP"].to_ical().decode(), e.to_ical()) for e in calendar.walk("VEVENT")}


def x_wr_timezone(path: Path) -> str:
    import icalendar

    return str(icalendar.Calendar.from_ical(path.read_bytes())["X-WR-TIMEZONE"])


def test_a_plans_timezone_edited_rewrites_the_feed_headers_and_raises_no_sequence(built: Project) -> None:
    """The zone was in every race's fingerprint, so editing it raised the SEQUENCE and DTSTAMP of every
    event, though no event's bytes depend on it (docs/history.md: nothing a subscriber can see in an
    event, no new SEQUENCE). The oracle is icalendar's reading of the feeds before and after."""
    before = {feed: events_by_uid(built.dist / PLAN_ID / f"{feed}.ics") for feed in ("all", "confirmed", "tentative")}
    built.edit("timezone: Europe/Oslo", "timezone: Europe/Berlin")
    built.build(time=LATER_TIME)
    for feed, events in before.items():
        path = built.dist / PLAN_ID / f"{feed}.ics"
        assert events_by_uid(path) == events
        assert x_wr_timezone(path) == "Europe/Berlin"
    changes = json.loads((built.dist / PLAN_ID / "changes.json").read_text())["changes"]
    assert [(c["type"], c.get("field"), c["feeds"]) for c in changes if c["build"] == "20240410T080000Z"] == [
        ("edited", "timezone", ["all", "confirmed", "tentative"])
    ]


ZONE_IN_FINGERPRINT = Path(__file__).parent / "fixtures" / "zone-in-fingerprint" / "dist"


def test_a_site_whose_fingerprints_hold_the_zone_is_rebuilt_by_a_new_version_with_no_sequence_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests/fixtures/zone-in-fingerprint/dist is the federation example as racecal published it on
    2024-03-27 12:00 while each race's fingerprint still held the plan's zone. A new version compiles
    every plan and calendar again against it (the version is in every plan's inputs), with a meet's zone
    moved as well: no event may change, the meet calendar's header says the new zone."""
    from conftest import FEDERATION

    shutil.copytree(FEDERATION, tmp_path / "site")
    site = Project(tmp_path / "site")
    shutil.copytree(ZONE_IN_FINGERPRINT, site.dist)
    site.edit("timezone: Atlantic/Canary", "timezone: Europe/Lisbon", site.schedules / "meets" / "2027.yaml")
    monkeypatch.setattr("racecal.build.__version__", "9.9.9")
    output = site.build(time=LATER_TIME).output
    assert "0 reused as they were" in output
    feeds = sorted(ZONE_IN_FINGERPRINT.glob("*/*.ics"))
    assert len(feeds) == 33
    for published in feeds:
        rebuilt = site.dist / published.relative_to(ZONE_IN_FINGERPRINT)
        assert events_by_uid(rebuilt) == events_by_uid(published), rebuilt
    assert x_wr_timezone(site.dist / "island-relays-2027" / "all.ics") == "Europe/Lisbon"
    assert "venue" not in output  # a zone is no venue edit of an all-day race
