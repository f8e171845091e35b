"""A real calendar client subscribes over HTTP: vdirsyncer's http storage syncs into a folder, khal reads it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import CLIENT_BIN, LATER_TIME, PLAN_ID, Project, need, serving

KHAL_CONF = """\
[calendars]
[[races]]
path = {cal}
type = calendar
[locale]
timeformat = %H:%M
dateformat = %Y-%m-%d
longdateformat = %Y-%m-%d
datetimeformat = %Y-%m-%d %H:%M
longdatetimeformat = %Y-%m-%d %H:%M
default_timezone = Europe/Oslo
local_timezone = Europe/Oslo
"""

VDIRSYNCER_CONF = """\
[general]
status_path = "{status}/"

[pair races]
a = "races_remote"
b = "races_local"
collections = null
conflict_resolution = "a wins"

[storage races_remote]
type = "http"
url = "{url}"

[storage races_local]
type = "filesystem"
path = "{cal}/"
fileext = ".ics"
"""


class Subscriber:
    def __init__(self, root: Path, url: str) -> None:
        self.cal = root / "calendar"
        self.cal.mkdir(parents=True)
        (root / "status").mkdir()
        self.vdirsyncer_conf = root / "vdirsyncer.conf"
        self.vdirsyncer_conf.write_text(VDIRSYNCER_CONF.format(status=root / "status", url=url, cal=self.cal))
        self.khal_conf = root / "khal.conf"
        self.khal_conf.write_text(KHAL_CONF.format(cal=self.cal))

    def run(self, *args: str) -> str:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def sync(self) -> None:
        self.run(str(CLIENT_BIN / "vdirsyncer"), "-c", str(self.vdirsyncer_conf), "discover")
        self.run(str(CLIENT_BIN / "vdirsyncer"), "-c", str(self.vdirsyncer_conf), "sync")

    def agenda(self) -> list[str]:
        out = self.run(
            str(CLIENT_BIN / "khal"), "-c", str(self.khal_conf), "list", "--once", "--day-format", "",
            "--format", "{start-date} {end-date} {cancelled}{title}", "2023-12-01", "2024-09-01",
        )  # fmt: skip
        return sorted(line for line in out.splitlines() if line.strip())


@pytest.mark.external
def test_calendar_client_follows_a_moved_and_a_withdrawn_race(built: Project, tmp_path: Path) -> None:
    need((CLIENT_BIN / "vdirsyncer").exists() and (CLIENT_BIN / "khal").exists(), "vdirsyncer and khal")
    with serving(built.dist) as origin:
        me = Subscriber(tmp_path / "client", f"{origin}/{PLAN_ID}/all.ics")
        me.sync()
        assert me.agenda() == [
            "2023-12-10 2023-12-10 CANCELLED Withdrawn: Jakob Ingebrigtsen – European Cross Country Championships",
            "2024-03-01 2024-03-03 CANCELLED Withdrawn: Jakob Ingebrigtsen – World Athletics Indoor Championships",
            "2024-05-25 2024-05-25 Jakob Ingebrigtsen – Eugene Diamond League (Prefontaine Classic)",
            "2024-05-30 2024-05-30 Jakob Ingebrigtsen – Bislett Games",
            "2024-06-07 2024-06-12 Jakob Ingebrigtsen – European Athletics Championships",
            "2024-06-28 2024-06-28 Jakob Ingebrigtsen – Norwegian Championships",
            "2024-07-12 2024-07-12 Tentative: Jakob Ingebrigtsen – Monaco Diamond League (Herculis)",
            "2024-07-26 2024-08-11 Jakob Ingebrigtsen – Olympic Games Paris 2024",
        ]

        built.edit(
            "  - id: bislett\n    meet: bislett-games-2024\n", "  - id: bislett\n    meet: bislett-games-2024\n    date: 2024-05-31\n"
        )
        built.edit(
            "  - id: norwegian-championships\n    meet: norwegian-championships-2024\n    status: confirmed\n",
            "  - id: norwegian-championships\n    meet: norwegian-championships-2024\n    status: withdrawn\n",
        )
        built.build(time=LATER_TIME)
        me.sync()
        agenda = me.agenda()
        assert "2024-05-31 2024-05-31 Jakob Ingebrigtsen – Bislett Games" in agenda
        assert not any("2024-05-30" in line for line in agenda)
        assert "2024-06-28 2024-06-28 CANCELLED Withdrawn: Jakob Ingebrigtsen – Norwegian Championships" in agenda
        assert len(agenda) == 8  # updated in place: no duplicates
