"""What a build records about the site it published (cache.py) only ever saves work: a file changed
after the record is caught as before, a record that does not fit is ignored, and the bytes published
are the same with or without it."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from conftest import PLAN_ID, REPO, Project
from racecal import cache, index, previous

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


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_text("{not json"),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "racecal": "0.0.1"})),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "files": {"x": [1, 2, 3, "4", "y"]}})),
        lambda path: path.write_text(json.dumps({**json.loads(path.read_text()), "site_files": {"index.html": 7}})),
        lambda path: path.write_text("[]"),
    ],
    ids=["not-json", "another-version", "wrong-shape", "wrong-site-files", "not-a-record"],
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
    cache.record(path, site, {"p/old.ics": "a" * 64, "p/new.ics": "b" * 64}, {}, "", max(now, ctime))
    recorded = cache.load(path)
    assert "p/new.ics" not in recorded.files
    assert ("p/old.ics" in recorded.files) == (ctime < now)
    cache.record(path, site, {"p/old.ics": "a" * 64, "p/new.ics": "b" * 64}, {}, "", max(now, ctime) + 1)
    assert set(cache.load(path).files) == {"p/old.ics", "p/new.ics"}


def test_a_record_vouches_only_for_the_hash_it_saw(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "p").mkdir(parents=True)
    (site / "p" / "all.ics").write_text("x")
    path = tmp_path / "record.json"
    cache.record(path, site, {"p/all.ics": "a" * 64}, {}, "", time.time_ns() + 10**12)
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
    assert any(e.removed for e in written.entries.values())
    assert any(e.expires for e in written.entries.values())
    assert any(e.view for e in written.entries.values()) == views


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
