"""What a build records about the site it published (cache.py) only ever saves work: a file changed
after the record is caught as before, a record that does not fit is ignored, and the bytes published
are the same with or without it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import FEDERATION, PLAN_ID, REPO, Project
from racecal import cache, index, previous
from racecal.model import Meet

sys.path.insert(0, str(REPO / "bench"))
from corpus import generate

CHANGED = "changed since it was published"


def records(home: Path) -> list[Path]:
    return sorted((home / "racecal" / "sites").glob("*.json"))


def read_local_calls(project: Project, monkeypatch: pytest.MonkeyPatch, *args: str) -> list[str]:
    """The published files a build read (and hashed), in order."""
    calls: list[str] = []
    original = previous._read_local

    def counting(location: str) -> bytes:
        calls.append(os.path.relpath(location, project.dist))
        return original(location)

    monkeypatch.setattr(previous, "_read_local", counting)
    result = project.run("build", *args)
    assert result.exit_code == 0, result.output
    return calls


def test_an_unchanged_rebuild_with_a_record_reads_only_the_index(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    first = read_local_calls(built, monkeypatch, "--time", "2024-03-27T12:00:00Z")
    # The first rebuild may hash what the first build wrote in its last clock tick; after it, nothing.
    again = read_local_calls(built, monkeypatch, "--time", "2024-03-27T12:00:00Z")
    assert again == ["index.json"], again
    assert len(first) >= 1


def test_without_a_record_every_published_file_is_hashed(built: Project, own_cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.rmtree(own_cache_home / "racecal")
    calls = read_local_calls(built, monkeypatch, "--time", "2024-03-27T12:00:00Z")
    assert sorted(calls) == sorted(["index.json", *(f"{PLAN_ID}/{name}" for name in index.PLAN_FILES)])


def test_a_feed_edited_after_the_record_is_caught_even_with_its_size_and_times_restored(built: Project) -> None:
    built.build()  # records every file, none of them in its last tick any more
    feed = built.dist / PLAN_ID / "confirmed.ics"
    before = feed.stat()
    data = feed.read_bytes()
    feed.write_bytes(data.replace(b"Bislett", b"Bisletx", 1))
    os.utime(feed, ns=(before.st_atime_ns, before.st_mtime_ns))  # only the change time still tells
    assert feed.stat().st_size == before.st_size
    result = built.run("build", "--time", "2024-03-27T12:00:00Z")
    assert result.exit_code == 1
    assert f"dist/{PLAN_ID}/confirmed.ics: {CHANGED}" in result.output


def test_a_landing_page_edited_after_the_record_is_restored_by_an_unchanged_rebuild(built: Project) -> None:
    built.build()
    page = built.dist / "index.html"
    published = page.read_bytes()
    page.write_bytes(published.replace(b"<title>", b"<title>defaced ", 1))
    result = built.build()
    assert "wrote dist/" in result.output
    assert page.read_bytes() == published


def test_an_index_edited_after_the_record_is_validated_again(built: Project) -> None:
    built.build()
    path = built.dist / "index.json"
    path.write_text(path.read_text().replace(f'"id":"{PLAN_ID}"', '"id":"../../etc"', 1))
    result = built.run("build", "--time", "2024-03-27T12:00:00Z")
    assert result.exit_code == 1
    assert "dist/index.json: plans[0].id: expected lowercase letters" in result.output


FORGED_ROWS: dict[str, tuple[int | str, object]] = {
    "a latitude of 10**400": ("lat", 10**400),
    "a latitude that is NaN": ("lat", float("nan")),
    "an unknown timezone": (4, "Mars/Olympus"),
    "an end before the start": (3, "2000-01-01"),
    "a name with a line break": (1, "Meet\r\nBEGIN:VEVENT"),
    "an id that is not a slug": (0, "../x"),
}


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_text("{not json"),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "racecal": "0.0.1"})),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "files": {"x": [1, 2, 3, "4", "y"]}})),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "files": {"x": [1, 2, 3, 4, 5]}})),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "site_files": {"index.html": 7}})),
        lambda path: path.write_text("[]"),
        lambda path: path.write_text("[" * 100_000 + "]" * 100_000),
        lambda path: (path.unlink(), os.mkfifo(path)),
        lambda path: (path.unlink(), path.symlink_to("/dev/zero")),
    ],
    ids=[
        "not-json",
        "another-version",
        "wrong-shape",
        "wrong-hash",
        "wrong-site-files",
        "not-a-record",
        "deeply-nested",
        "fifo",
        "symlink-to-dev-zero",
    ],
)
def test_a_record_that_does_not_fit_is_ignored(
    built: Project, own_cache_home: Path, damage: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    built.build()
    (record,) = records(own_cache_home)
    damage(record)  # type: ignore[operator]
    assert cache.load(record) == cache.SiteCache()
    calls = read_local_calls(built, monkeypatch, "--time", "2024-03-27T12:00:00Z")
    assert len(calls) == 1 + len(index.PLAN_FILES)  # everything hashed again, and the run still succeeds


def test_files_changed_in_the_recording_tick_are_left_out(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "p").mkdir(parents=True)
    (site / "p" / "old.ics").write_text("old")
    (site / "p" / "new.ics").write_text("new")
    now = (site / "p" / "new.ics").stat().st_ctime_ns
    os.utime(site / "p" / "old.ics", ns=(0, 0))  # sets its ctime to now as well …
    ctime = (site / "p" / "old.ics").stat().st_ctime_ns
    path = tmp_path / "record.json"
    files = {"p/old.ics": "a" * 64, "p/new.ics": "b" * 64}
    checked = {name: cache.seen(site / name) for name in files}
    # The present is the tick new.ics was written in. (It was max(now, ctime): when the utime above
    # fell in a later clock tick, new.ics was older than that present and rightly recorded, and the
    # test failed now and then.)
    cache.record(path, site, files, checked, {}, "", now, {})  # type: ignore[arg-type]
    recorded = cache.load(path)
    assert "p/new.ics" not in recorded.files
    assert ("p/old.ics" in recorded.files) == (ctime < now)  # never: its ctime is the utime's, later
    cache.record(path, site, files, checked, {}, "", max(now, ctime) + 1, {})  # type: ignore[arg-type]
    assert set(cache.load(path).files) == {"p/old.ics", "p/new.ics"}


def test_a_record_vouches_only_for_the_hash_it_saw(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "p").mkdir(parents=True)
    (site / "p" / "all.ics").write_text("x")
    path = tmp_path / "record.json"
    checked = {"p/all.ics": cache.seen(site / "p" / "all.ics")}
    cache.record(path, site, {"p/all.ics": "a" * 64}, checked, {}, "", time.time_ns() + 10**12, {})  # type: ignore[arg-type]
    recorded = cache.load(path)
    assert recorded.has(site, "p/all.ics", "a" * 64)
    assert not recorded.has(site, "p/all.ics", "b" * 64)  # a manifest naming other bytes: hash them
    assert not recorded.has(site, "p/other.ics", "a" * 64)
    (site / "p" / "all.ics").unlink()
    (site / "p" / "all.ics").write_text("y")  # a new file (a new inode) in its place
    assert not recorded.has(site, "p/all.ics", "a" * 64)


@pytest.mark.parametrize("views", [False, True], ids=["plans", "with-views"])
def test_an_index_read_as_written_equals_the_index_validated(tmp_path: Path, views: bool) -> None:
    """``index.read_written`` skips the checks only for bytes racecal wrote: on every index a build
    writes (plans, removed plans, groups, meet and series calendars) it must read what decode reads."""
    generate(tmp_path, 40, 12, 7)
    if views:
        (tmp_path / "racecal.yaml").write_text(
            "groups:\n  - {id: milers, name: Milers, disciplines: [1500m]}\n  - {id: c1, name: C1, country: Country 1}\n"
            "meet_calendars: true\nseries_calendars: true\n"
        )
    project = Project(tmp_path)
    project.build()
    (tmp_path / "schedules" / "athlete-0003.yaml").unlink()  # a removed plan, with tombstones pending
    project.build("--time", "2024-04-01T00:00:00Z")
    data = (project.dist / "index.json").read_bytes()
    written = index.read_written(data)
    assert written == index.decode(data, "index.json")
    # and encoded again it is the same bytes, which an unchanged rebuild publishes without encoding
    ordered = [written.entries[k] for k in sorted(written.entries)]
    assert index.encode(ordered, written.retired, written.catalogue, written.groups).encode() == data
    # Lines taken from those bytes for every entry, or for every other one, give the same bytes.
    lines = index.written_lines(data, list(written.entries))
    assert sorted(lines) == sorted(written.entries)
    for kept in (lines, {plan_id: line for n, (plan_id, line) in enumerate(lines.items()) if n % 2}):
        assert index.encode(ordered, written.retired, written.catalogue, written.groups, kept).encode() == data
    assert index.written_lines(data, list(written.entries)[1:]) == {}  # lines that are not those plans: none
    assert any(e.removed for e in written.entries.values())
    assert any(e.expires for e in written.entries.values())
    assert any(e.view for e in written.entries.values()) == views


@pytest.mark.parametrize("views", [False, True], ids=["plans", "with-views"])
def test_a_state_read_as_written_equals_the_state_validated(tmp_path: Path, views: bool) -> None:
    """``state.state_read_written`` skips the checks only for bytes racecal wrote: on every state a
    build writes (races with sessions, results and sources; tombstones; change records; a removed
    plan; group, meet and series calendars) it must give what ``state_from_json`` gives."""
    from racecal.state import plan_read_written, state_from_json, state_read_written

    generate(tmp_path, 40, 12, 7, "wide")
    if views:
        (tmp_path / "racecal.yaml").write_text(
            "groups:\n  - {id: milers, name: Milers, disciplines: [1500m]}\n  - {id: c1, name: C1, country: Country 1}\n"
            "meet_calendars: true\nseries_calendars: true\n"
        )
    shutil.copy(REPO / "schedules" / f"{PLAN_ID}.yaml", tmp_path / "schedules")  # results, reasons, quotes, venues
    shutil.copy(next((REPO / "schedules" / "meets").glob("*.yaml")), tmp_path / "schedules" / "meets" / "example.yaml")
    raced = tmp_path / "schedules" / "athlete-0002.yaml"
    raced.write_text(
        raced.read_text().replace(
            "    status: confirmed\n", '    status: confirmed\n    result: {place: 2, time: "3:31.05", note: PB}\n', 1
        )
    )
    project = Project(tmp_path)
    project.build()
    plan = tmp_path / "schedules" / "athlete-0001.yaml"
    plan.write_text(plan.read_text().replace("status: confirmed", "status: tentative", 2))
    (tmp_path / "schedules" / "athlete-0003.yaml").unlink()  # a removed plan, with tombstones pending
    project.build("--time", "2024-04-01T00:00:00Z")
    states = sorted(project.dist.glob("*/state.json"))
    assert len(states) > 40
    kinds = set()
    for path in states:
        data = path.read_bytes()
        validated = state_from_json(data, str(path), path.parent.name)
        assert state_read_written(data) == validated, path
        assert plan_read_written(data) == validated.plan(validated.plan_races()), path  # a member as a calendar reads it
        kinds |= {"changes"} if validated.changes else set()
        kinds |= {"removed"} if validated.removed else set()
        kinds |= (
            {"tombstones"} if any(since for r in validated.races.values() for f in r.published.values() for since in f.values()) else set()
        )
        kinds |= {"sessions"} if any(r.snapshot.sessions for r in validated.races.values()) else set()
        kinds |= {"results"} if any(r.snapshot.result for r in validated.races.values()) else set()
    assert kinds == {"changes", "removed", "tombstones", "sessions", "results"}


def test_builds_give_the_same_bytes_with_and_without_a_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generate(tmp_path / "a", 30, 10, 11)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    with_record, without = Project(tmp_path / "a"), Project(tmp_path / "b")
    kept, dropped = tmp_path / "kept-cache", tmp_path / "dropped-cache"
    edits = [
        ("athlete-0001.yaml", "status: confirmed", "status: tentative"),
        ("athlete-0002.yaml", "status: tentative", "status: confirmed"),
        ("meets/meets.yaml", "name: Meet 000", "name: Renamed Meet 000"),
        ("athlete-0004.yaml", "pacing planned", "no pacing"),
    ]
    for step, edit in enumerate([None, *edits]):
        if edit:
            name, old, new = edit
            for project in (with_record, without):
                project.edit(old, new, project.schedules / name)
        when = f"2024-03-{10 + step:02d}T12:00:00Z"
        monkeypatch.setenv("XDG_CACHE_HOME", str(kept))
        with_record.build("--time", when)
        with_record.build("--time", when)  # and the unchanged rebuild, which trusts the record
        assert records(kept)
        monkeypatch.setenv("XDG_CACHE_HOME", str(dropped))
        without.build("--time", when)
        shutil.rmtree(dropped)
        assert with_record.tree() == without.tree()


def tamper_just_before_the_record(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Change ``path`` in place, keeping its size, at the last moment before the build records what it
    checked: as an editor or another tool writing into dist/ while a build runs."""
    from racecal import publish

    real = publish.BuildLock.filesystem_now
    done: list[bool] = []

    def late_write(lock: publish.BuildLock) -> int:
        if not done:  # once: the next build is left alone
            done.append(True)
            data = path.read_bytes()
            with path.open("r+b") as file:
                file.write(b"X" if data[:1] != b"X" else b"Y")
            time.sleep(0.05)  # clock ticks later: the change time alone no longer tells (that rule has its own test)
        return real(lock)

    monkeypatch.setattr(publish.BuildLock, "filesystem_now", late_write)


def test_a_linked_file_edited_while_a_build_runs_is_caught_by_the_next_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (independent tester): the record paired each file with the hash checked at the
    start of the build, so a file written into dist/ during the build was recorded as clean and
    every later build trusted it."""
    generate(tmp_path, 3, 5, 3)
    project = Project(tmp_path)
    project.build("--time", "2024-03-01T00:00:00Z")
    project.build("--time", "2024-03-01T00:00:00Z")
    project.edit("pacing planned", "no pacing", project.schedules / "athlete-0001.yaml")
    reused = project.dist / "athlete-0002-2024" / "all.ics"
    tamper_just_before_the_record(monkeypatch, reused)
    project.build("--time", "2024-03-02T00:00:00Z")  # links the other plans' files, then records
    result = project.run("build", "--time", "2024-03-02T00:00:00Z")
    assert result.exit_code == 1, result.output
    assert f"dist/athlete-0002-2024/all.ics: {CHANGED}" in result.output


def test_a_file_edited_while_an_unchanged_rebuild_records_is_caught_next_time(
    built: Project, own_cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.rmtree(own_cache_home / "racecal")  # so the unchanged rebuild hashes everything and records
    tamper_just_before_the_record(monkeypatch, built.dist / PLAN_ID / "tentative.ics")
    assert "unchanged: dist/" in built.build().output
    result = built.run("build", "--time", "2024-03-27T12:00:00Z")
    assert result.exit_code == 1, result.output
    assert f"dist/{PLAN_ID}/tentative.ics: {CHANGED}" in result.output


def test_without_a_home_directory_a_build_keeps_no_record(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (independent tester): a user without a home directory (a container's) and without
    XDG_CACHE_HOME got a traceback."""

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert "unchanged: dist/" in built.build().output
    result = built.run("diff")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("inside", ["dist", "schedules"])
def test_a_cache_directory_inside_the_site_or_the_plans_is_not_used(built: Project, monkeypatch: pytest.MonkeyPatch, inside: str) -> None:
    """Regression (independent tester): XDG_CACHE_HOME=$PWD/dist put the record into the site, where
    the next build kept it as a file of someone else's, to be deployed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(built.root / inside))
    built.build("--fresh")
    built.build()
    assert not list(built.root.rglob("sites/*.json"))
    assert not (built.dist / "racecal").exists() and not (built.schedules / "racecal").exists()


def test_an_unchanged_rebuild_follows_every_setting_the_landing_page_can_show(built: Project) -> None:
    """Regression (independent tester): the landing page's inputs were taken as the plans' settings
    fingerprint, which leaves out 'retired'; a site template showing it stayed stale."""
    (built.root / "tpl").mkdir()
    (built.root / "tpl" / "index.html").write_text(
        '{% extends "page.html" %}{% block body %}retired={{ settings.retired|sort|join(",") }}{% endblock %}'
    )
    (built.root / "racecal.yaml").write_text("templates: tpl\nretired: [someone-2023]\n")
    built.build()
    built.build()
    assert "retired=someone-2023" in (built.dist / "index.html").read_text()
    (built.root / "racecal.yaml").write_text("templates: tpl\nretired: [other-2022]\n")
    built.build()
    assert "retired=other-2022" in (built.dist / "index.html").read_text()


def test_an_unchanged_rebuild_follows_racecal_s_own_static_files(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (independent tester): a packaged static file changed without a new version (a
    development checkout) stayed stale on a no-op rebuild, while a build without a record rewrote it."""
    from racecal import build as build_module
    from racecal import settings, site

    time.sleep(0.05)  # the first build's last files are racily clean: the next records them
    built.build()
    assert read_local_calls(built, monkeypatch, "--time", "2024-03-27T12:00:00Z") == ["index.json"]  # all vouched for
    real_text, real_digest = site.static_text, settings.packaged_digest
    monkeypatch.setattr(
        site, "static_text", lambda name, settings: real_text(name, settings) + ("/* new */\n" if name == "style.css" else "")
    )
    monkeypatch.setattr(build_module, "packaged_digest", lambda: real_digest() + "-new")
    built.build()
    assert (built.dist / "style.css").read_text().endswith("/* new */\n")


# --- parsed catalogues and compiled templates kept between runs --------------------------------------


def kept_catalogues(home: Path) -> list[Path]:
    return sorted((home / "racecal" / "catalogues").glob("*.json"))


def parsed(schedules: Path) -> dict[str, Meet]:
    from racecal.load import parse_catalogue
    from racecal.yamlsource import read_all

    _, catalogue, problems = read_all(schedules)
    meets = parse_catalogue(catalogue, problems)
    assert not problems
    return meets


@pytest.mark.parametrize("corpus", ["example", "generated"])
def test_kept_meets_are_the_meets_a_parse_gives(tmp_path: Path, corpus: str) -> None:
    """What a later build reads instead of parsing the catalogue must be the parse's values exactly,
    down to what a plan's inputs digest takes from them (``repr``: a float stays a float)."""
    if corpus == "generated":
        generate(tmp_path, 20, 8, 3)
    else:
        shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    meets = parsed(tmp_path / "schedules")
    assert meets
    path = cache.catalogue_path(tmp_path / "cache", "a" * 64, "2024a")
    cache.store_meets(path, meets)
    kept = cache.load_meets(path)
    assert kept == meets
    assert kept is not None and [repr(m) for m in kept.values()] == [repr(m) for m in meets.values()]


@pytest.mark.parametrize(
    "damage",
    [
        "not json", "wrong key", "a latitude that is true", "a date that is a number", "a symlink", "a fifo",
        # Regression (independent tester): right types, wrong values, believed; a huge int crashed the feeds.
        "a latitude of 10**400", "a latitude that is NaN", "an unknown timezone", "an end before the start",
        "a name with a line break", "an id that is not a slug",
    ],
)  # fmt: skip
def test_kept_meets_that_do_not_fit_are_parsed_again(tmp_path: Path, damage: str) -> None:
    meets = parsed(REPO / "schedules")
    path = cache.catalogue_path(tmp_path, "b" * 64, "2024a")
    cache.store_meets(path, meets)
    document = json.loads(path.read_text())
    if damage == "not json":
        path.write_text("{")
    elif damage == "wrong key":
        other = path.with_name("0" * 32 + ".json")
        path.rename(other)
        path = other
    elif damage == "a latitude that is true":
        document["meets"][0][6] = ["x", None, None, True, None]
        path.write_text(json.dumps(document))
    elif damage == "a date that is a number":
        document["meets"][0][2] = 20240101
        path.write_text(json.dumps(document))
    elif damage in FORGED_ROWS:
        column, value = FORGED_ROWS[damage]
        row = document["meets"][0]
        if column == "lat":
            row[6] = ["Stadium", None, None, value, 10.0]
        else:
            row[column] = value
        path.write_text(json.dumps(document))
    elif damage == "a symlink":
        real = tmp_path / "real.json"
        path.rename(real)
        path.symlink_to(real)
    else:
        path.unlink()
        os.mkfifo(path)
    assert cache.load_meets(path) is None


def test_a_catalogue_with_problems_is_reported_by_every_build_not_kept(built: Project, own_cache_home: Path) -> None:
    catalogue = next((built.schedules / "meets").glob("*.yaml"))
    text = catalogue.read_text()
    assert "start: 2024-" in text
    catalogue.write_text(text.replace("start: 2024-", "start: 2024-13-", 1))
    before = kept_catalogues(own_cache_home)
    for _ in range(2):
        result = built.run("build", "--time", "2024-03-27T12:00:00Z")
        assert result.exit_code == 1 and "start" in result.output, result.output
    assert kept_catalogues(own_cache_home) == before


def test_a_meet_renamed_after_its_catalogue_was_kept_shows_its_new_name(built: Project, own_cache_home: Path) -> None:
    """The kept meets are keyed by the catalogue's bytes: an edit is parsed, never served stale, and
    the plan edited after it is compiled against the edited meet (checked with icalendar)."""
    import icalendar

    catalogue = next((built.schedules / "meets").glob("*.yaml"))
    text = catalogue.read_text()
    name = text.split("    name: ", 1)[1].split("\n", 1)[0]
    built.build("--time", "2024-03-27T12:00:00Z")
    assert kept_catalogues(own_cache_home)
    catalogue.write_text(text.replace(f"    name: {name}\n", "    name: Renamed Meet\n", 1))
    built.build("--time", "2024-03-28T12:00:00Z")
    built.edit("status: tentative", "status: confirmed")  # a plan compiled against the kept (renamed) catalogue
    built.build("--time", "2024-03-29T12:00:00Z")
    events = icalendar.Calendar.from_ical(built.feed("all")).walk("VEVENT")
    locations = " ".join(str(e.get("LOCATION", "")) + str(e.get("SUMMARY", "")) + str(e.get("DESCRIPTION", "")) for e in events)
    assert "Renamed Meet" in locations
    assert name not in locations


def test_a_build_renders_pages_from_compiled_templates_it_kept(
    built: Project, own_cache_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The compiled templates are read back, not only written: a build whose Jinja2 cannot compile
    still renders every page, from what the first build kept."""
    from racecal import site

    compiled = list((own_cache_home / "racecal" / "templates").glob("*/*.cache"))
    assert compiled
    first = built.tree()
    site._environment.cache_clear()

    def no_compiling(*args: object, **kwargs: object) -> object:
        raise AssertionError("a template was compiled again")

    monkeypatch.setattr(site._Environment, "compile", no_compiling)
    built.build("--fresh")
    assert built.tree() == first


def test_a_site_template_edited_between_runs_is_rendered_from_its_new_text(tmp_path: Path) -> None:
    """Compiled templates are kept per template text: a site's own template edited in place, at the
    same size, is compiled again (each run a separate process, as a user's builds are)."""
    import subprocess

    shutil.copytree(REPO / "schedules", tmp_path / "schedules")
    (tmp_path / "tpl").mkdir()
    template = tmp_path / "tpl" / "index.html"
    (tmp_path / "racecal.yaml").write_text("templates: tpl\n")
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    for word in ("alpha", "omega"):
        template.write_text('{% extends "page.html" %}{% block body %}' + word + "{% endblock %}")
        run = subprocess.run(
            [sys.executable, "-m", "racecal", "build", "--time", "2024-03-27T12:00:00Z"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        assert word in (tmp_path / "dist" / "index.html").read_text()
    assert list((tmp_path / "cache" / "racecal" / "templates").glob("*/sandboxed/*.cache"))  # apart from the packaged ones


# --- plan states racecal wrote ------------------------------------------------------------------------


def validated_states(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The plan states a build reads through every check, by plan id."""
    from racecal.state import state_from_json as original

    calls: list[str] = []

    def counting(data: bytes, where: str, plan_id: str) -> object:
        calls.append(plan_id)
        return original(data, where, plan_id)

    monkeypatch.setattr(previous, "state_from_json", counting)
    return calls


def test_a_state_racecal_wrote_is_read_without_checking_it_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group's calendar rebuilt for one race of one member read its whole state back through the
    validators (7,181 races for a series at 20,000 races): a state whose bytes racecal wrote is
    read as written. The site is the same either way (checked against a build without a record)."""
    generate(tmp_path / "a", 30, 10, 5)
    (tmp_path / "a" / "racecal.yaml").write_text(
        "groups:\n  - {id: everyone, name: Everyone, country: [Country 1, Country 2, Country 3]}\n"
        "meet_calendars: true\nseries_calendars: true\n"
    )
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    with_record, without = Project(tmp_path / "a"), Project(tmp_path / "b")
    for project, home in ((with_record, "kept"), (without, "none")):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / home))
        project.build()
        project.edit("status: confirmed", "status: tentative", project.schedules / "athlete-0001.yaml")
    shutil.rmtree(tmp_path / "none")  # no record: every state the next build needs is read through the checks
    runs = {}
    for project, home in ((with_record, "kept"), (without, "none")):
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / home))
        runs[home] = validated_states(monkeypatch)
        project.build("--time", "2024-03-28T12:00:00Z", "-j", "1")  # in this process, where the reads are counted
    assert runs["kept"] == [], runs  # the plan and the calendars were reconciled with states read as written
    assert {"athlete-0001-2024", "everyone-2024"} <= set(runs["none"]), runs
    assert any(name.startswith("diamond-league") for name in runs["none"]), runs  # a series calendar was rebuilt
    assert with_record.tree() == without.tree()  # members read from states as written give the same calendars


def test_a_state_rewritten_with_its_hash_in_the_index_is_read_through_the_checks(built: Project) -> None:
    """A state.json someone rewrote, with its new hash written into index.json, matches the manifest
    and is linked into the next build; the record must not then vouch for it as racecal's own, or
    the build that compiles the plan would read a forged UID into the feeds unchecked."""
    state_path = built.dist / PLAN_ID / "state.json"
    state = json.loads(state_path.read_text())
    race = next(iter(state["races"].values()))
    feed, uids = next(iter(race["published"].items()))
    uids["forged\r\nBEGIN:VEVENT"] = None
    forged = (json.dumps(state, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    state_path.write_bytes(forged)
    index_path = built.dist / "index.json"
    listed = json.loads(index_path.read_text())
    for entry in listed["plans"]:
        if entry["id"] == PLAN_ID:
            entry["files"]["state.json"] = hashlib.sha256(forged).hexdigest()
    index_path.write_text(json.dumps(listed))
    built.build("--time", "2024-03-27T12:00:00Z")  # the plan is unchanged: its forged state is linked
    built.build("--time", "2024-03-27T12:00:00Z")
    built.edit("status: tentative", "status: confirmed")
    result = built.run("build", "--time", "2024-03-28T12:00:00Z")
    assert result.exit_code == 1, result.output
    assert "state.json" in result.output and "not a UID of race" in result.output, result.output
    assert b"forged" not in built.feed(feed)


def test_a_fifo_at_a_guessable_temporary_name_does_not_block_writing_the_cache(tmp_path: Path) -> None:
    """Regression (independent tester): the cache was written to `.<name>.<pid>` first; a FIFO planted
    there for the next process ids blocked the build for ever. Run in a child with a deadline, which
    plants the FIFO at its own process id before writing."""
    import subprocess

    script = (
        "import os, sys; from pathlib import Path; from racecal.files import replace_whole\n"
        "target = Path(sys.argv[1]); os.mkfifo(target.parent / f'.{target.name}.{os.getpid()}')\n"
        "replace_whole(target, b'kept')\n"
    )
    target = tmp_path / "record.json"
    subprocess.run([sys.executable, "-c", script, str(target)], check=True, timeout=30)
    assert target.read_bytes() == b"kept"


def test_a_cache_directory_that_holds_the_project_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (independent tester): with XDG_CACHE_HOME the parent of a checkout named racecal,
    racecal's cache directory was the project itself; compiled templates went into its templates
    folder, and the next build failed on them. A cache directory that holds, or lies in, the site,
    the plans or the site's own templates is not used."""
    project = Project(tmp_path / "racecal")
    shutil.copytree(REPO / "schedules", project.schedules)
    (project.root / "templates").mkdir()
    page = (REPO / "src" / "racecal" / "templates" / "page.html").read_text()
    (project.root / "templates" / "page.html").write_text(page.replace("<body", "<!--own--><body", 1))
    (project.root / "racecal.yaml").write_text("templates: templates\n")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    before = sorted(p.name for p in project.root.iterdir())
    project.build()
    project.edit("status: tentative", "status: confirmed")
    project.build("--time", "2024-03-28T12:00:00Z")
    assert sorted(p.name for p in project.root.iterdir() if p.name not in ("dist", ".dist.lock", ".dist.spare")) == before
    assert [p.name for p in (project.root / "templates").iterdir()] == ["page.html"]
    assert "<!--own-->" in (project.dist / "index.html").read_text()


def test_a_forged_catalogue_digest_in_the_index_does_not_hide_a_broken_catalogue(built: Project) -> None:
    """Regression (independent tester): the catalogue was not parsed when its digest matched the
    published index's; an index edited to name the digest of a broken catalogue hid its problems
    (with or without a record). The digest is believed only from an index this machine wrote."""
    from racecal.build import catalogue_digest
    from racecal.yamlsource import read_all

    catalogue = next((built.schedules / "meets").glob("*.yaml"))
    text = catalogue.read_text()
    zone = text.split("timezone: ", 1)[1].split("\n", 1)[0]
    catalogue.write_text(text.replace(f"timezone: {zone}", "timezone: Mars/Olympus", 1))
    _, files, _ = read_all(built.schedules)
    listed = json.loads((built.dist / "index.json").read_text())
    listed["catalogue"] = catalogue_digest(files)
    (built.dist / "index.json").write_text(json.dumps(listed))
    for command in ("build", "diff"):
        result = built.run(command, "--time", "2024-03-28T12:00:00Z")
        assert result.exit_code == 1, result.output
        assert "Mars/Olympus" in result.output and "timezone" in result.output, result.output


def test_changed_code_without_a_new_version_renders_the_landing_page_again(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (independent tester): in a development checkout, a change to the page code without
    a new version left the landing page stale on a rebuild with a warm record, which vouched for it by
    racecal's version alone. The record and the site files' inputs follow racecal's code."""
    from racecal import build as build_module
    from racecal import site

    time.sleep(0.05)  # the first build's last files are racily clean: the next records them
    built.build()
    real_page = site.index_page
    monkeypatch.setattr(site, "index_page", lambda *args: real_page(*args).replace("<body", "<!--new code--><body", 1))
    monkeypatch.setattr(build_module, "code_digest", lambda: "another checkout")
    monkeypatch.setattr(cache, "code_digest", lambda: "another checkout")
    built.build()
    assert "<!--new code-->" in (built.dist / "index.html").read_text()


@pytest.mark.parametrize(
    ("edit", "rendered"),
    [
        (("Entry depends on how the Harbour Games go.", "Entry depends on the Harbour Games."), False),  # a note
        (
            (
                "  - id: fjord-classic\n    meet: fjord-classic-2027\n    status: tentative",
                "  - id: fjord-classic\n    meet: fjord-classic-2027\n    status: confirmed",
            ),
            True,
        ),  # counts
        (("Ada Fjell", "Ada Fjell-Stav"), True),  # a name the page lists
    ],
    ids=["note", "promoted", "renamed"],
)
def test_the_landing_page_is_made_again_only_when_what_it_lists_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: tuple[str, str], rendered: bool
) -> None:
    """A rebuild renders the landing page when a plan's or calendar's name, season, counts, kind or
    removal changes, and otherwise links it as published (at 20,000 races that was 35 ms of a
    one-race rebuild). Either way it is byte for byte the page a build from nothing makes."""
    from racecal import site

    shutil.copytree(FEDERATION, tmp_path / "site")
    project = Project(tmp_path / "site")
    project.build()
    time.sleep(0.05)  # the first build's last files are racily clean: the next build records them
    project.build(time="2024-03-28T00:00:00Z")
    calls: list[int] = []
    real = site.index_page
    monkeypatch.setattr(site, "index_page", lambda *args: calls.append(1) or real(*args))
    project.edit(*edit, path=project.schedules / "ada-fjell-2027.yaml")
    project.build(time="2024-03-29T00:00:00Z")
    assert bool(calls) is rendered
    monkeypatch.setattr(site, "index_page", real)
    project.build("--out", "from-nothing", time="2024-03-29T00:00:00Z")
    for name in ("index.html", "style.css", "site.js", "_headers"):
        assert (project.dist / name).read_bytes() == (project.root / "from-nothing" / name).read_bytes(), name


def test_own_landing_page_templates_are_given_every_index_entry_so_any_edit_renders_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site's own index.html is given each plan's whole index entry (its files' hashes, say), so a
    note edited renders it again; so does one with only its own page.html."""
    from racecal import site

    shutil.copytree(FEDERATION, tmp_path / "site")
    project = Project(tmp_path / "site")
    (project.root / "own").mkdir()
    (project.root / "own" / "index.html").write_text(
        '{% extends "page.html" %}{% block body %}{% for p in plans %}<p>{{ p.entry.files["all.ics"] }}</p>{% endfor %}{% endblock %}'
    )
    settings = project.root / "racecal.yaml"
    settings.write_text(settings.read_text() + "templates: own\n")
    project.build()
    time.sleep(0.05)
    project.build(time="2024-03-28T00:00:00Z")
    calls: list[int] = []
    real = site.index_page
    monkeypatch.setattr(site, "index_page", lambda *args: calls.append(1) or real(*args))
    project.edit(
        "Entry depends on how the Harbour Games go.", "Entry depends on the Harbour Games.", path=project.schedules / "ada-fjell-2027.yaml"
    )
    project.build(time="2024-03-29T00:00:00Z")
    assert calls
    feed = hashlib.sha256((project.dist / "ada-fjell-2027" / "all.ics").read_bytes()).hexdigest()
    assert f"<p>{feed}</p>" in (project.dist / "index.html").read_text()  # the feed as published now
