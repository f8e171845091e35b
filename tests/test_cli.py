"""The command line's own behaviour: version, help with examples, progress only on a terminal, colour."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import LATER_TIME, Project
from racecal import __version__
from racecal import cli as cli_module
from racecal.cli import cli


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.output == f"racecal, version {__version__}\n"


COMMANDS = sorted(cli.commands)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command: str) -> None:
    result = CliRunner().invoke(cli, [command, "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output
    assert f"racecal {command}" in result.output


@pytest.mark.parametrize("args", [["-h"], *([c, "-h"] for c in COMMANDS)], ids=" ".join)
def test_dash_h_is_help_everywhere(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert (result.exit_code, result.output) == (0, CliRunner().invoke(cli, [*args[:-1], "--help"]).output)


def test_diff_exit_code_tells_changed_from_could_not_compare(built: Project) -> None:
    """Regression: with --exit-code, a plan error and "something would change" both exited 1."""
    assert built.run("diff", "--exit-code", "--time", LATER_TIME).exit_code == 0
    built.edit("status: tentative", "status: confirmed")
    assert built.run("diff", "--exit-code", "--time", LATER_TIME).exit_code == 1
    built.edit("status: confirmed", "status: maybe")
    broken = built.run("diff", "--exit-code", "--time", LATER_TIME)
    assert broken.exit_code == 2 and "unknown status 'maybe'" in broken.stderr
    assert built.run("diff", "--time", LATER_TIME).exit_code == 1  # without --exit-code: problems are 1, as everywhere


def test_progress_only_on_a_terminal_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(cli_module.sys.stderr, "isatty", lambda: True, raising=False)
    assert cli_module._wants_progress(quiet=False) is True
    assert cli_module._wants_progress(quiet=True) is False
    monkeypatch.setenv("CI", "true")
    assert cli_module._wants_progress(quiet=False) is False
    monkeypatch.delenv("CI")
    monkeypatch.setattr(cli_module.sys.stderr, "isatty", lambda: False, raising=False)
    assert cli_module._wants_progress(quiet=False) is False


def test_colour_only_on_a_terminal_and_never_with_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module.sys.stdout, "isatty", lambda: True, raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli_module._colour() is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli_module._colour() is False


def test_quiet_build_prints_nothing(built: Project) -> None:
    built.edit("status: tentative", "status: confirmed")
    result = built.run("build", "--time", LATER_TIME, "-q")
    assert (result.exit_code, result.output) == (0, "")


def test_usage_errors_exit_2(project: Project) -> None:
    assert project.run("build", "--time", "yesterday").exit_code == 2
    assert project.run("diff", "--format", "yaml").exit_code == 2


def test_check_validates_the_settings_as_build_does(project: Project) -> None:
    """Regression: `check` said ok while `build` refused a broken racecal.yaml."""
    (project.root / "racecal.yaml").write_text("title: Races\nrefresh_hours: 0\nretired: [jakob-ingebrigtsen-2024]\n")
    checked = project.run("check")
    built = project.run("build", "--time", "2024-03-27T12:00:00Z")
    assert checked.exit_code == built.exit_code == 1
    assert checked.stderr.splitlines()[0] == "racecal.yaml:2:16: refresh_hours: must be between 1 and 168, got 0"
    assert checked.stderr.splitlines()[0] in built.stderr
    (project.root / "racecal.yaml").write_text("title: Races\nretired: [jakob-ingebrigtsen-2024]\n")
    checked = project.run("check")
    built = project.run("build", "--time", "2024-03-27T12:00:00Z")
    assert checked.stderr == built.stderr
    assert checked.stderr.startswith(
        "schedules/jakob-ingebrigtsen-2024.yaml:5:9: athlete.slug: plan 'jakob-ingebrigtsen-2024' is listed under 'retired'"
    )


CATALOGUE_FORMS = ["schedules/meets/2024.yaml", "schedules/meets", "schedules/meets/"]


def test_check_of_an_empty_meets_folder_says_it_checked_a_catalogue(tmp_path: Path) -> None:
    """Regression (second tester): an empty meets/ folder was reported as "ok: 0 plans"."""
    (tmp_path / "s" / "meets").mkdir(parents=True)
    project = Project(tmp_path)
    result = project.run("check", "s/meets")
    assert (result.exit_code, result.stdout) == (0, "ok: 0 meets in 0 catalogue files, no problems\n")


@pytest.mark.parametrize("path", CATALOGUE_FORMS)
def test_check_of_the_catalogue_checks_it_as_a_catalogue_not_as_a_broken_plan(project: Project, path: str) -> None:
    """Regression (independent tester): `check schedules/meets/2024.yaml` and `check schedules/meets`
    reported the catalogue as a plan missing 'athlete', 'races' and 'season', with 'meets' unknown."""
    result = project.run("check", path)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok: 8 meets in 1 catalogue file, no problems\n", "")


@pytest.mark.parametrize("path", CATALOGUE_FORMS)
def test_check_of_a_broken_catalogue_reports_its_problems_located(project: Project, path: str) -> None:
    project.edit("    date: 2024-05-30\n", "    date: 2024-05-32\n", project.schedules / "meets" / "2024.yaml")
    project.edit("    timezone: Europe/London\n", "    timezone: Europe/Londn\n", project.schedules / "meets" / "2024.yaml")
    result = project.run("check", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "schedules/meets/2024.yaml:15:15: meets[1].timezone: unknown timezone 'Europe/Londn'; did you mean 'Europe/London'?",
        "schedules/meets/2024.yaml:27:11: meets[3].date: '2024-05-32' is not a real date",
        "2 problems in 1 file",
    ]


def test_check_of_a_catalogue_file_outside_meets_is_told_by_its_top_level(project: Project) -> None:
    """A new catalogue file drafted beside the plans (before it moves into meets/) is a catalogue by
    its `meets:`; a plan that has a `meets:` key is still a plan, told that the key is unknown."""
    draft = project.root / "new-meets.yaml"
    draft.write_text("meets:\n  - {id: oslo-2025, name: Oslo, date: 2025-06-12, timezone: Europe/Oslo}\n")
    assert project.run("check", "new-meets.yaml").stdout == "ok: 1 meet in 1 catalogue file, no problems\n"
    draft.write_text("meets:\n  - {id: oslo-2025, name: Oslo, date: 2025-06-31, timezone: Europe/Oslo}\n")
    broken = project.run("check", "new-meets.yaml")
    assert broken.exit_code == 1
    assert broken.stderr.splitlines() == ["new-meets.yaml:2:39: meets[0].date: '2025-06-31' is not a real date", "1 problem in 1 file"]
    project.edit("season: 2024\n", "season: 2024\nmeets: []\n")
    plan = project.run("check", "schedules/jakob-ingebrigtsen-2024.yaml")
    assert plan.exit_code == 1
    assert [line.split(": ", 1)[1] for line in plan.stderr.splitlines()[:-1]] == [
        "meets: unknown key; expected one of: athlete, season, timezone, sources, races"
    ]


def test_check_of_the_catalogue_alone_does_not_warn_that_groups_have_no_plans(project: Project) -> None:
    (project.root / "racecal.yaml").write_text("groups:\n  - {id: team-norway, name: Team Norway, country: Norway}\n")
    assert project.run("check").stdout == "ok: 1 plan, no problems\n"
    result = project.run("check", "schedules/meets")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok: 8 meets in 1 catalogue file, no problems\n", "")


def test_check_of_plans_and_the_catalogue_together_counts_both(project: Project) -> None:
    result = project.run("check", "schedules/jakob-ingebrigtsen-2024.yaml", "schedules/meets/2024.yaml")
    assert (result.exit_code, result.stdout) == (0, "ok: 1 plan, 8 meets in 1 catalogue file, no problems\n")


def test_build_reports_settings_and_plan_problems_in_one_run(project: Project) -> None:
    """Regression: a broken racecal.yaml hid the plans' problems until it was fixed."""
    (project.root / "racecal.yaml").write_text("title: Races\nrefresh_hours: lots\n")
    project.edit("    status: tentative\n", "    status: tentativ\n")
    for command in (("build", "--time", "2024-03-27T12:00:00Z"), ("diff",), ("check",)):
        result = project.run(*command)
        assert result.exit_code == 1, command
        fields = [line.split(": ")[1] for line in result.stderr.splitlines()[:-1]]
        assert fields == ["refresh_hours", "races[6].status"], (command, result.stderr)


@pytest.mark.parametrize("previous", ["https://exa mple.org", "http://[::1", "ftp://x/", "file:///etc"])
def test_a_previous_that_is_not_a_directory_or_http_url_is_a_usage_error(built: Project, previous: str) -> None:
    """Regression (found by a tester): malformed URLs gave tracebacks; other schemes were taken as paths."""
    result = built.run("diff", "--exit-code", "--previous", previous, "--time", LATER_TIME)
    assert result.exit_code == 2 and "Invalid value for '--previous'" in result.stderr


def test_a_named_previous_that_does_not_exist_is_an_error_not_a_first_build(built: Project) -> None:
    """Regression (found by a tester): every race was reported "added" and --exit-code said "changes"."""
    result = built.run("diff", "--exit-code", "--previous", "no-such-dir", "--time", LATER_TIME)
    assert result.exit_code == 2 and "no-such-dir: does not exist" in result.stderr
    assert built.run("build", "--previous", "no-such-dir", "--out", "elsewhere", "--time", LATER_TIME).exit_code == 1
    assert not (built.root / "elsewhere").exists()


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "schedules/jakob-ingebrigtsen-2024.yaml"]], ids=" ".join)
def test_version_help_and_check_of_one_plan_do_not_import_the_whole_pipeline(args: list[str]) -> None:
    """The scale issue's start-up rule: a command imports what it needs. Pages (Jinja2), process
    pools, the publishing lock, HTTP, subprocesses and the build itself are for build, diff and serve."""
    import json
    import subprocess
    import sys

    from conftest import REPO

    probe = (
        "import sys, json\nfrom click.testing import CliRunner\nfrom racecal.cli import cli\n"
        f"result = CliRunner().invoke(cli, {args!r})\n"
        "print(json.dumps([result.exit_code, sorted(sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    code, modules = json.loads(done.stdout.splitlines()[-1])
    assert code == 0
    heavy = {"jinja2", "multiprocessing", "concurrent", "filelock", "http", "socket", "subprocess", "ssl"}
    assert not [m for m in modules if m.split(".")[0] in heavy], modules
    assert not {"racecal.build", "racecal.site", "racecal.publish", "racecal.history", "racecal.remote"} & set(modules), modules


def test_diff_makes_no_landing_page_or_index(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """racecal diff reports changes per calendar; the landing page, index.json and static files it
    would not publish are not made (at 20,000 races: --previous URL 0.56 → 0.44 s)."""
    from racecal import build, site

    def not_made(*args: object, **kwargs: object) -> object:
        raise AssertionError("made by a diff")

    monkeypatch.setattr(site, "index_page", not_made)
    monkeypatch.setattr(site, "static_files", not_made)
    monkeypatch.setattr(build, "_index_bytes", not_made)
    assert built.run("diff", "--time", LATER_TIME).stdout == "No changes.\n"
    built.edit("status: tentative", "status: confirmed")
    changed = built.run("diff", "--time", LATER_TIME)
    assert changed.exit_code == 0 and "promoted" in changed.stdout, changed.output
