"""A real subscriber follows a sequence of builds: vdirsyncer syncs the three feeds over HTTP, khal reads them.

After each build the client must hold exactly the oracle's events, each once, live or cancelled as
the oracle says, at the oracle's times (UTC instants from zoneinfo), including the sessions on the
day the clocks change, and keep syncing once a feed is empty or its plan is deleted.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import FEEDS, FeedView, Oracle
from world import World

from conftest import CLIENT_BIN, need, serving
from khal_client import Client

PLAN = "eva-lindqvist-2024"


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
            client = client or Client(tmp_path / "client", {feed: f"{origin}/{PLAN}/{feed}.ics" for feed in FEEDS})
            client.sync()
            shown = client.agenda()
            differences = unmatched(views, shown)
            assert not differences, f"after '{what}' at {world.now:%Y-%m-%d %H:%M}:\n" + "\n".join(differences)
