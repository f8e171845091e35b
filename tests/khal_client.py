"""A real calendar client for tests: vdirsyncer syncs feeds over HTTP into folders, khal reads them.

Installed by the test command in its own virtualenv (.venv-client), so its pins never meet racecal's.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import CLIENT_BIN

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
url = "{url}"

[storage {feed}_local]
type = "filesystem"
path = "{root}/{feed}/"
fileext = ".ics"
"""


class Client:
    """One person subscribed to some feeds (calendar name → URL), with vdirsyncer and khal."""

    def __init__(self, root: Path, calendars: dict[str, str]) -> None:
        self.root = root
        for feed in calendars:
            (root / feed).mkdir(parents=True)
        (root / "status").mkdir()
        pairs = "\n".join(VDIRSYNCER_PAIR.format(feed=feed, url=url, root=root) for feed, url in calendars.items())
        self.vdirsyncer = root / "vdirsyncer.conf"
        self.vdirsyncer.write_text(f'[general]\nstatus_path = "{root}/status/"\n\n{pairs}')
        listed = "\n".join(f"[[{feed}]]\npath = {root / feed}\ntype = calendar" for feed in calendars)
        self.khal = root / "khal.conf"
        self.khal.write_text(KHAL_CONF.format(calendars=listed))
        self.run(str(CLIENT_BIN / "vdirsyncer"), "-c", str(self.vdirsyncer), "discover")

    def run(self, *args: str) -> str:
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{' '.join(args[:3])} failed:\n{done.stdout}{done.stderr}"
        return done.stdout

    def sync(self) -> None:
        self.run(str(CLIENT_BIN / "vdirsyncer"), "-c", str(self.vdirsyncer), "sync")

    def agenda(self, start: str = "2023-06-01", end: str = "2025-06-01") -> list[tuple[str, str, bool, str]]:
        """(calendar, title, cancelled, start) for every event khal shows, once per event.

        Not the UID: vdirsyncer stores an item whose UID has characters outside [A-Za-z0-9_.+-] (the
        '@') under a new UID, a hash of the item; which item replaces which is its own bookkeeping.
        """
        out = self.run(
            str(CLIENT_BIN / "khal"), "-c", str(self.khal), "list", "--once", "--day-format", "",
            "--format", "{calendar}|{title}|{cancelled}|{start}", start, end,
        )  # fmt: skip
        rows = []
        for line in out.splitlines():
            if line.strip():
                calendar, title, cancelled, start = line.split("|")
                rows.append((calendar, title, cancelled.strip() == "CANCELLED", start))
        return sorted(rows)
