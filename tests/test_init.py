"""`racecal init`: a data repository of one's own, where `racecal build` works with no flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest
import yaml
from click.testing import CliRunner

from conftest import REPO
from racecal.cli import cli


def run(cwd: Path, *args: str) -> tuple[int, str, str]:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.exit_code, result.stdout, result.stderr


def test_init_makes_a_repository_that_checks_and_builds_with_no_flags(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "init", "cal", "--season", "2031")
    assert code == 0
    repo = tmp_path / "cal"
    expected = {
        "schedules/example-runner-2031.yaml", "schedules/meets/meets.yaml", "racecal.yaml", ".github/workflows/publish.yml",
        ".gitignore", "README.md", "schema/plan.schema.json", "schema/meets.schema.json",
    }  # fmt: skip
    assert {str(p.relative_to(repo)) for p in repo.rglob("*") if p.is_file()} == expected
    assert out.splitlines()[-1] == "next: cd cal && racecal check && racecal build && racecal serve"
    assert run(repo, "check") == (0, "ok: 1 plan, no problems\n", "")
    code, out, _ = run(repo, "build")
    assert code == 0, out
    confirmed = icalendar.Calendar.from_ical((repo / "dist" / "example-runner-2031" / "confirmed.ics").read_bytes())
    assert [str(e["SUMMARY"]) for e in confirmed.walk("VEVENT")] == ["Example Runner – Example Games"]
    assert run(repo, "diff", "--exit-code")[0] == 0


def test_init_never_replaces_anything_and_adds_no_example_athlete_to_real_plans(tmp_path: Path) -> None:
    (tmp_path / "schedules").mkdir()
    (tmp_path / "README.md").write_text("mine\n")
    (tmp_path / "racecal.yaml").symlink_to(tmp_path / "elsewhere.yaml")  # dangling: not followed, not replaced
    code, out, _ = run(tmp_path, "init")
    assert code == 0
    assert (tmp_path / "README.md").read_text() == "mine\n"
    assert (tmp_path / "racecal.yaml").is_symlink() and not (tmp_path / "elsewhere.yaml").exists()
    assert list((tmp_path / "schedules").iterdir()) == []
    assert "kept  README.md (exists)" in out and "kept  racecal.yaml (exists)" in out
    assert out.splitlines()[-1] == "next: racecal check && racecal build && racecal serve"
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    code, out, _ = run(tmp_path, "init")
    assert code == 0 and "wrote" not in out
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before


def test_init_refuses_a_file_as_its_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    assert run(tmp_path, "init", "file")[0] == 2


def test_the_starter_workflow_is_the_documented_one_with_its_own_install_and_first_deploy(tmp_path: Path) -> None:
    """The workflow init writes runs the same steps as docs/github-pages.yml, except that it installs
    racecal from its index and treats a site that does not exist yet (404 only) as the first deploy."""
    run(tmp_path, "init")
    starter = yaml.safe_load((tmp_path / ".github" / "workflows" / "publish.yml").read_text())
    documented = yaml.safe_load((REPO / "docs" / "github-pages.yml").read_text())
    assert starter[True] == documented[True]  # `on:` is YAML 1.1's true
    assert starter["permissions"] == documented["permissions"] and starter["jobs"]["deploy"] == documented["jobs"]["deploy"]
    steps = starter["jobs"]["build"]["steps"]
    assert steps[2]["run"] == 'pip install "$RACECAL"' and starter["env"]["RACECAL"].startswith("racecal")
    previous = next(s for s in steps if s.get("name") == "Previous build")["run"]
    assert "404)" in previous and "*) echo" in previous and "exit 1" in previous
    assert any(s.get("run") == 'racecal build "$PREVIOUS" --base-url "$SITE"' for s in steps)


@pytest.mark.slow
def test_the_wheel_installs_in_a_clean_venv_and_runs_the_whole_flow_outside_this_repository(tmp_path: Path) -> None:
    """Templates, starter files and schemas are package data: a wheel built by pip from this tree,
    installed in a fresh virtualenv (dependencies from the package index), runs init, check, build,
    diff and schema in a directory that has nothing of this repository."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), str(REPO)], check=True)
    (wheel,) = wheels.glob("racecal-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)], check=True)
    racecal = str(venv / "bin" / "racecal")
    work = tmp_path / "elsewhere"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    def step(*args: str) -> str:
        done = subprocess.run([racecal, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    work.mkdir()
    step("init", "--season", "2031")
    assert step("check") == "ok: 1 plan, no problems\n"
    step("build")
    assert (work / "dist" / "index.html").read_text().count("Example Runner") >= 1
    assert (work / "dist" / "style.css").stat().st_size > 0
    assert step("diff") == "No changes.\n"
    step("schema", ".")
    assert (work / "plan.schema.json").exists()
