"""The README's console sessions are real: each is replayed here and must print exactly what it shows."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from conftest import REPO, Project

ANNA = """\
athlete:
  name: Anna K
  slug: Anna K
season: 2024
races:
  - id: one
    name: Meet One
    date: 2024-05-25
    status: confimred
  - id: two
    status: confirmed
    name: Meet Two
    date: 2024-02-30
"""


def sessions() -> list[tuple[list[str], str]]:
    text = (REPO / "README.md").read_text()
    out = []
    for block in re.findall(r"```console\n(.*?)```", text, re.S):
        command, _, output = block.partition("\n")
        assert command.startswith("$ racecal ")
        out.append((shlex.split(command[2:])[1:], output))
    return out


def test_readme_has_the_sessions() -> None:
    assert [args for args, _ in sessions()] == [
        ["init", "my-calendars", "--season", "2025"], ["check"], ["check", "--strict"], ["build"], ["check"], ["check"], ["diff"],
    ]  # fmt: skip


def test_session_init(tmp_path: Path) -> None:
    args, output = sessions()[0]
    result = Project(tmp_path).run(*args)
    assert (result.exit_code, result.output) == (0, output)
    mine = Project(tmp_path / "my-calendars")
    checked = mine.run("check")
    assert (checked.exit_code, checked.output) == (0, "ok: 1 plan, no problems\n")
    # The first-use session that follows in the README: an overlapping race, check, --strict, build.
    with (mine.schedules / "example-runner-2025.yaml").open("a") as plan:
        plan.write("  - {id: relay, name: Relay, date: 2025-06-13, status: confirmed}\n")
    for (args, output), code in zip(sessions()[1:4], (0, 1, 0), strict=True):
        result = mine.run(*args)
        assert (result.exit_code, result.output) == (code, output), args


def test_session_check_on_the_example(project: Project) -> None:
    args, output = sessions()[4]
    result = project.run(*args)
    assert (result.exit_code, result.output) == (0, output)


def test_session_check_with_mistakes(project: Project) -> None:
    args, output = sessions()[5]
    (project.schedules / "anna.yaml").write_text(ANNA)
    result = project.run(*args)
    assert (result.exit_code, result.stderr) == (1, output)


def test_session_diff_after_promoting_monaco_and_moving_bislett(built: Project) -> None:
    args, output = sessions()[6]
    built.edit("    status: tentative\n", "    status: confirmed\n")
    built.edit("  - id: bislett\n    meet: bislett-games-2024\n", "  - id: bislett\n    meet: bislett-games-2024\n    date: 2024-05-31\n")
    result = built.run(*args, "--time", "2024-04-10T08:00:00Z")
    assert (result.exit_code, result.output) == (0, output)
