"""Plausible mistakes are warned about, located, never in silence; --strict fails on them; check
speaks JSON and GitHub annotations too."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from conftest import Project
from racecal import cli as cli_module
from racecal.errors import Problem
from racecal.report import check_as_github

CATALOGUE = """meets:
  - {id: games-2024, name: Games, date: 2024-06-12, timezone: Europe/Oslo}
  - {id: games-2025, name: Games, date: 2025-06-11, timezone: Europe/Oslo}
"""


def plan(*races: str, season: int = 2025) -> str:
    return f"athlete: {{name: A Runner, slug: a-runner}}\nseason: {season}\nraces:\n" + "".join(f"  - {r}\n" for r in races)


@pytest.fixture
def today_is(monkeypatch: pytest.MonkeyPatch) -> object:
    def set_day(day: str) -> None:
        monkeypatch.setattr(cli_module, "_wall_clock", lambda: datetime.fromisoformat(day).replace(tzinfo=UTC))

    return set_day


def write(project: Project, text: str) -> None:
    for old in project.schedules.glob("*.yaml"):
        old.unlink()
    (project.schedules / "meets" / "2024.yaml").write_text(CATALOGUE)
    (project.schedules / "a-runner.yaml").write_text(text)


def test_last_years_meet_in_this_seasons_plan_is_a_located_warning(project: Project, today_is: object) -> None:
    """The issue's case: `meet: games-2024` in a 2025 plan was published as a 2024 race, silently."""
    today_is("2025-03-01")  # type: ignore[operator]
    write(project, plan("{id: games, meet: games-2024, status: confirmed}", "{id: xc, name: Euro XC, date: 2024-12-08, status: confirmed}"))
    result = project.run("check")
    assert (result.exit_code, result.stdout) == (0, "ok: 1 plan, no problems, 1 warning\n")
    assert (
        result.stderr
        == "schedules/a-runner.yaml:4:23: races[0].meet: warning: 2024-06-12 is outside the plan's season 2025 (last year's meet?)\n"
    )
    strict = project.run("check", "--strict")
    assert strict.exit_code == 1 and strict.stderr.endswith("1 problem in 1 file\n")


def test_two_live_races_on_the_same_days_warn_a_withdrawn_one_does_not(project: Project, today_is: object) -> None:
    today_is("2025-01-01")  # type: ignore[operator]
    write(project, plan(
        "{id: games, meet: games-2025, status: confirmed}",
        "{id: other, name: Other, date: 2025-06-11, status: tentative}",
        "{id: third, name: Third, date: 2025-06-11, status: withdrawn}",
    ))  # fmt: skip
    result = project.run("check")
    assert result.exit_code == 0
    assert result.stderr == "schedules/a-runner.yaml:5:10: races[1].id: warning: on the same days as race 'games' (2025-06-11)\n"


def test_a_tentative_race_already_over_warns_in_a_current_plan_only(project: Project, today_is: object) -> None:
    write(project, plan("{id: games, meet: games-2025, status: tentative}"))
    today_is("2025-06-10")  # type: ignore[operator]
    assert project.run("check").stderr == ""
    today_is("2025-06-12")  # type: ignore[operator]
    assert project.run("check").stderr == (
        "schedules/a-runner.yaml:4:43: races[0].status: warning: still tentative, but it ended on 2025-06-11: confirm it, withdraw it or remove it\n"
    )
    today_is("2026-02-01")  # a past season's plan is a record, not a to-do list
    assert project.run("check").stderr == ""


def test_a_race_at_a_meet_with_its_own_problems_says_so_not_unknown_meet(project: Project, today_is: object) -> None:
    """Regression: a meet with an error was reported as "unknown meet; did you mean last year's"."""
    today_is("2025-01-01")  # type: ignore[operator]
    write(project, plan("{id: broken, meet: broken-2025, status: confirmed}"))
    (project.schedules / "meets" / "more.yaml").write_text(
        "meets:\n  - {id: broken-2025, name: Broken, date: 2025-02-30, timezone: Europe/Oslo}\n"
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "schedules/a-runner.yaml:4:24: races[0].meet: meet 'broken-2025' has problems of its own (schedules/meets/more.yaml:2): fix them first",
        "schedules/meets/more.yaml:2:43: meets[0].date: '2025-02-30' is not a real date",
    ]


def test_check_json_is_one_stable_document(project: Project, today_is: object) -> None:
    today_is("2025-03-01")  # type: ignore[operator]
    write(project, plan("{id: games, meet: games-2024, status: confirmd}", season=2025))
    result = project.run("check", "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document == {
        "format": 1, "ok": False, "plans": 0,
        "problems": [{
            "path": "schedules/a-runner.yaml", "line": 4, "column": 43, "field": "races[0].status", "severity": "error",
            "message": "unknown status 'confirmd'; did you mean 'confirmed'?",
        }],
    }  # fmt: skip
    assert result.stderr == ""


def test_github_annotations_point_at_the_file_and_cannot_start_a_command(project: Project, today_is: object) -> None:
    today_is("2025-03-01")  # type: ignore[operator]
    write(project, plan("{id: games, meet: games-2024, status: confirmed}"))
    result = project.run("check", "--format", "github")
    assert result.stdout == (
        "::warning file=schedules/a-runner.yaml,line=4,col=23,title=races[0].meet::2024-06-12 is outside the plan's season 2025 (last year's meet?)\n"
    )
    assert project.run("check", "--format", "github", "--strict").stdout.startswith("::error file=")
    # What GitHub's runner decodes is escaped: a message cannot end the annotation or start a new command.
    hostile = Problem("a,b:c.yaml", 1, 2, "x:y", "50% done\n::error::forged\r")
    assert check_as_github([hostile], [], False) == [
        "::error file=a%2Cb%3Ac.yaml,line=1,col=2,title=x%3Ay::50%25 done%0A::error::forged\\x0d"
    ]


def test_a_race_after_the_season_warns_too(project: Project, today_is: object) -> None:
    """Regression (found by a tester): operator precedence made the after-season side never fire."""
    today_is("2025-03-01")  # type: ignore[operator]
    write(project, plan("{id: later, name: Later, date: 2026-07-11, status: confirmed}", season=2025))
    assert (
        project.run("check").stderr
        == "schedules/a-runner.yaml:4:36: races[0].date: warning: 2026-07-11 is outside the plan's season 2025\n"
    )


def test_overlaps_beyond_the_next_race_warn_and_a_double_at_one_meet_does_not(project: Project, today_is: object) -> None:
    """Regression (found by a tester): only neighbouring races were compared; and a 1500/5000 double
    at one championship meet was warned about as a clash."""
    today_is("2025-01-01")  # type: ignore[operator]
    write(project, plan(
        "{id: long, name: Long, start: 2025-06-01, end: 2025-06-10, status: confirmed}",
        "{id: b, name: B, date: 2025-06-02, status: confirmed}",
        "{id: c, name: C, date: 2025-06-05, status: tentative}",
        "{id: games-1500, meet: games-2025, status: confirmed}",
        "{id: games-5000, meet: games-2025, status: confirmed}",
    ))  # fmt: skip
    assert project.run("check").stderr.splitlines() == [
        "schedules/a-runner.yaml:5:10: races[1].id: warning: on the same days as race 'long' (2025-06-01..2025-06-10)",
        "schedules/a-runner.yaml:6:10: races[2].id: warning: on the same days as race 'long' (2025-06-01..2025-06-10)",
    ]


def test_a_newline_in_a_file_name_cannot_start_a_line_of_its_own(project: Project) -> None:
    """Regression (found by a tester): a plan named "x\\n::error::inj.yaml" (git allows it) put a line
    starting "::error::" into the output, which a CI runner reads as a command."""
    (project.schedules / "x\n::error::inj.yaml").write_text("athlete: 1\n")
    result = project.run("check")
    assert result.exit_code == 1
    assert not any(line.startswith("::") for line in result.stderr.splitlines())
    assert "schedules/x\\n::error::inj.yaml:1:10: athlete: expected a mapping" in result.stderr
