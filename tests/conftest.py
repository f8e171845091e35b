"""Shared test helpers: a throw-away copy of the shipped example, the CLI, and independent parsers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from racecal.cli import cli
from racecal.serve import make_server

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "schedules"
FEDERATION = REPO / "examples" / "federation"  # the fictional federation: groups, meet and series calendars
JS_DIR = REPO / "tests" / "js"
CLIENT_BIN = REPO / ".venv-client" / "bin"
PLAN_ID = "jakob-ingebrigtsen-2024"
FIRST_TIME = "2024-03-27T12:00:00Z"
LATER_TIME = "2024-04-10T08:00:00Z"
IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(autouse=True)
def own_cache_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own cache directory (racecal records what it checked in a site there), so no
    test sees another's record, nor the user's."""
    home = tmp_path_factory.mktemp("cache-home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


def need(available: bool, what: str) -> None:
    """Skip with a visible reason outside CI; in CI a missing tool is a failure, never a skip."""
    if available:
        return
    message = f"{what} is not installed (scripts/test installs it)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class Project:
    root: Path

    @property
    def schedules(self) -> Path:
        return self.root / "schedules"

    @property
    def plan_file(self) -> Path:
        return self.schedules / f"{PLAN_ID}.yaml"

    @property
    def dist(self) -> Path:
        return self.root / "dist"

    def feed(self, name: str, plan: str = PLAN_ID) -> bytes:
        return (self.dist / plan / f"{name}.ics").read_bytes()

    def edit(self, old: str, new: str, path: Path | None = None) -> None:
        target = path or self.plan_file
        text = target.read_text()
        assert old in text, f"{old!r} not in {target}"
        target.write_text(text.replace(old, new, 1))

    def run(self, *args: str) -> Result:
        runner = CliRunner()
        cwd = os.getcwd()
        os.chdir(self.root)
        try:
            return runner.invoke(cli, list(args), catch_exceptions=False)
        finally:
            os.chdir(cwd)

    def build(self, *args: str, time: str = FIRST_TIME) -> Result:
        result = self.run("build", "--time", time, *args)
        assert result.exit_code == 0, result.output
        return result

    def tree(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.dist)): p.read_bytes() for p in sorted(self.dist.rglob("*")) if p.is_file()}


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """racecal's own preview server on a free loopback port, for as long as the block runs."""
    server = make_server(directory, "127.0.0.1", 0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def project(tmp_path: Path) -> Project:
    shutil.copytree(EXAMPLE, tmp_path / "schedules")
    return Project(tmp_path)


@pytest.fixture
def built(project: Project) -> Project:
    project.build()
    return project


# --- independent parsers ------------------------------------------------------------------------


def icaljs_available() -> bool:
    return shutil.which("node") is not None and (JS_DIR / "node_modules" / "ical.js").is_dir()


def parse_icaljs(*paths: Path) -> dict[str, Any]:
    need(icaljs_available(), "node with ical.js")
    done = subprocess.run(["node", str(JS_DIR / "parse.mjs"), *map(str, paths)], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def parse_vobject(path: Path) -> list[dict[str, Any]]:
    import vobject
    from vobject.icalendar import registerTzid

    # vobject converts event times before it registers the file's VTIMEZONEs and would then use pytz's
    # zone of that name: register the feed's own first, so the feed is what gets tested.
    cal = vobject.readOne(path.read_text(encoding="utf-8"), transform=False)
    for component in getattr(cal, "vtimezone_list", []):
        native = component.transformToNative()
        registerTzid(native.tzid.value, native.tzinfo)
    cal.transformChildrenToNative()
    events = []
    for ev in cal.vevent_list if hasattr(cal, "vevent_list") else []:
        start = ev.dtstart.value
        end = ev.dtend.value
        events.append(
            {
                "uid": ev.uid.value,
                "summary": ev.summary.value,
                "status": ev.status.value,
                "sequence": int(ev.sequence.value),
                "start": start,
                "end": end,
                "description": ev.description.value,
            }
        )
    return events


def parse_icalendar(path: Path) -> list[dict[str, Any]]:
    import icalendar

    cal = icalendar.Calendar.from_ical(path.read_bytes())
    return [
        {
            "uid": str(ev["UID"]),
            "summary": str(ev["SUMMARY"]),
            "status": str(ev["STATUS"]),
            "sequence": int(ev["SEQUENCE"]),
            "start": ev.decoded("DTSTART"),
            "end": ev.decoded("DTEND"),
        }
        for ev in cal.walk("VEVENT")
    ]


def to_iso(value: date | datetime) -> str:
    return value.isoformat()


EditFn = Callable[[Project], None]


def feed_files(dist: Path) -> dict[str, bytes]:
    """Calendar/feed → the feed's bytes, for every feed of a site (none before its first build)."""
    return {f"{p.parent.name}/{p.stem}": p.read_bytes() for p in sorted(dist.glob("*/*.ics"))}


def named_by_diff(listed: dict[str, Any]) -> set[str]:
    """Calendar/feed for every feed ``racecal diff --format json`` says the next build changes."""
    named = {f"{c['plan']}/{feed}" for c in listed["changes"] for feed in c["feeds"]}
    named |= {f"{e['plan']}/{feed}" for e in listed["expired"] for feed in e["feeds"]}
    return named | {f"{r['plan']}/{feed}" for r in listed["rewritten"] for feed in r["feeds"]}
