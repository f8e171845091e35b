"""A real subscriber follows a sequence of builds: vdirsyncer syncs the three feeds over HTTP, khal reads them.

After each build the client must hold exactly the oracle's events, each once, live or cancelled as
the oracle says, at the oracle's times (UTC instants from zoneinfo), including the sessions on the
day the clocks change, and keep syncing once a feed is empty or its plan is deleted.
"""

from __future__ import annotations

import subprocess
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import FEEDS, FeedView, Oracle
from world import World

from conftest import CLIENT_BIN, need, serving

PLAN = "eva-lindqvist-2024"

KHAL_CONF = """\
[calendars]
{calendars}
[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%dT%H:%M
longdatetimeformat = %Y-%m-%dT%H:%M
default_timezone = UTC
local_timezone = UTC
"""

VDIRSYNCER_PAIR = """\
[pair {feed}]
a = "{feed}_remote"
b = "{feed}_local"
collections = null
conflict_resolution = "a wins"

[storage {feed}_remote]
type = "http"
url = "{origin}/{plan}/{feed}.ics"

[storage {feed}_local]
type = "filesystem"
path = "{root}/{feed}/"
fileext = ".ics"
"""


class Client:
    """One person subscribed to all three feeds of a plan, with vdirsyncer and khal."""

    def __init__(self, root: Path, origin: str) -> None:
        self.root = root
        for feed in FEEDS:
            (root / feed).mkdir(parents=True)
        (root / "status").mkdir()
        pairs = "\n".join(VDIRSYNCER_PAIR.format(feed=feed, origin=origin, plan=PLAN, root=root) for feed in FEEDS)
        self.vdirsyncer = root / "vdirsyncer.conf"
        self.vdirsyncer.write_text(f'[general]\nstatus_path = "{root}/status/"\n\n{pairs}')
        calendars = "\n".join(f"[[{feed}]]\npath = {root / feed}\ntype = calendar" for feed in FEEDS)
        self.khal = root / "khal.conf"
        self.khal.write_text(KHAL_CONF.format(calendars=calendars))
        self.run(str(CLIENT_BIN / "vdirsyncer"), "-c", str(self.vdirsyncer), "discover")

    def run(self, *args: str) -> str:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{' '.join(args[:3])} failed:\n{done.stdout}{done.stderr}"
        return done.stdout

    def sync(self) -> None:
        self.run(str(CLIENT_BIN / "vdirsyncer"), "-c", str(self.vdirsyncer), "sync")

    def agenda(self) -> list[tuple[str, str, bool, str]]:
        """(calendar, title, cancelled, start) for every event khal shows, once per event.

        Not the UID: vdirsyncer stores an item whose UID has characters outside [A-Za-z0-9_.+-] (the
        '@') under a new UID, a hash of the item; which item replaces which is its own bookkeeping.
        """
        out = self.run(
            str(CLIENT_BIN / "khal"), "-c", str(self.khal), "list", "--once", "--day-format", "",
            "--format", "{calendar}|{title}|{cancelled}|{start}", "2023-06-01", "2025-06-01",
        )  # fmt: skip
        rows = []
        for line in out.splitlines():
            if line.strip():
                calendar, title, cancelled, start = line.split("|")
                rows.append((calendar, title, cancelled.strip() == "CANCELLED", start))
        return sorted(rows)


def unmatched(views: dict[tuple[str, str], FeedView], shown: list[tuple[str, str, bool, str]]) -> list[str]:
    """Pair each expected event with one row khal shows (calendar, cancelled, start, names in the
    title); whatever is left on either side is a difference."""
    rows = list(shown)
    missing = []
    for feed in FEEDS:
        for key, event in sorted(views[PLAN, feed].events.items()):
            start = _khal_start(event.start) if event.start else None  # a tombstone's times are not specified
            names = [n for n in (event.race_name, event.session_name) if n]
            for row in rows:
                if (
                    row[0] == feed
                    and row[2] == (event.status == "CANCELLED")
                    and start in (None, row[3])
                    and all(n in row[1] for n in names)
                ):
                    rows.remove(row)
                    break
            else:
                missing.append(f"missing in {feed}: {key} ({event.kind}, {event.status}, start {start})")
    return missing + [f"unexpected: {row}" for row in rows]


def _khal_start(value: date | datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M") if isinstance(value, datetime) else value.isoformat()


def plan(races: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "athlete": {"name": "Eva Lindqvist", "slug": "eva-lindqvist"},
        "season": 2024,
        "timezone": "Europe/Stockholm",
        "races": races,
    }


def race(race_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"id": race_id, **fields, "status": status}


@pytest.mark.external
@pytest.mark.slow
def test_a_real_client_holds_exactly_the_oracles_events_after_every_build(tmp_path: Path) -> None:
    need((CLIENT_BIN / "vdirsyncer").exists() and (CLIENT_BIN / "khal").exists(), "vdirsyncer and khal")
    world = World(tmp_path / "project")
    world.meets = [{"id": "monaco-2024", "name": "Herculis", "date": date(2024, 7, 12), "timezone": "Europe/Monaco"}]
    spring = [  # Stockholm's clocks go forward at 01:00 UTC on 31 March 2024: one session before, one after
        {"id": "heats", "name": "Heats", "date": date(2024, 3, 31), "time": "01:30", "duration_minutes": 90},
        {"id": "final", "name": "Final", "date": date(2024, 3, 31), "time": "03:30"},
    ]
    races = {
        "opener": race("opener", "confirmed", name="Opener", date=date(2024, 6, 1), venue={"city": "Oslo", "country": "Norway"}),
        "monaco": race("monaco", "tentative", meet="monaco-2024"),
        "indoor": race("indoor", "confirmed", name="Indoor", start=date(2024, 3, 30), end=date(2024, 3, 31), timezone="Europe/Stockholm", sessions=spring),
        "cross": race("cross", "withdrawn", name="Cross", date=date(2023, 12, 10), reason="Achilles tendon issue"),
    }  # fmt: skip
    oracle = Oracle()

    def edit(*changes: tuple[str, dict[str, Any] | None]) -> None:
        for race_id, fields in changes:
            if fields is None:
                races.pop(race_id)
            else:
                races[race_id] = {**races.get(race_id, {}), **fields}
        world.plans = {"eva.yaml": plan(list(races.values()))} if races else {}

    steps: list[tuple[str, timedelta, list[tuple[str, dict[str, Any] | None]]]] = [
        ("first build", timedelta(0), []),
        ("promote Monaco, move the opener", timedelta(days=1), [("monaco", {"status": "confirmed"}), ("opener", {"date": date(2024, 6, 2)})]),
        ("withdraw the timed race, delete the cross", timedelta(days=3), [("indoor", {"status": "withdrawn", "reason": "Ill"}), ("cross", None)]),
        ("31 days later: the tombstones expire", timedelta(days=31), []),
        ("re-add the cross, demote the opener", timedelta(0), [("cross", race("cross", "confirmed", name="Cross", date=date(2024, 12, 8))), ("opener", {"status": "tentative"})]),
        ("delete the plan file", timedelta(days=1), [("opener", None), ("monaco", None), ("indoor", None), ("cross", None)]),
        ("31 days later: the deleted plan's feeds are empty, and still valid", timedelta(days=31), []),
    ]  # fmt: skip
    edit()
    with serving(world.dist) as origin:
        client: Client | None = None
        for what, later, changes in steps:
            edit(*changes)
            world.now += later
            world.build()
            views = oracle.build(world.schedules, world.now)
            client = client or Client(tmp_path / "client", origin)
            client.sync()
            shown = client.agenda()
            differences = unmatched(views, shown)
            assert not differences, f"after '{what}' at {world.now:%Y-%m-%d %H:%M}:\n" + "\n".join(differences)
