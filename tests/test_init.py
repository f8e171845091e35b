"""`racecal init`: a data repository of one's own, where `racecal build` works with no flags."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import icalendar
import pytest
import yaml
from click.testing import CliRunner

from conftest import REPO
from racecal.cli import cli

FIXTURES = REPO / "tests" / "fixtures" / "ics"


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
        ".gitignore", "README.md", "schema/plan.schema.json", "schema/meets.schema.json", "schema/settings.schema.json",
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
    assert "kept  README.md (exists)" in out
    assert "kept  racecal.yaml (racecal.yaml is a symbolic link; racecal does not write through it)" in out
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
    assert any(s.get("run") == 'pip install "$RACECAL"' for s in steps) and starter["env"]["RACECAL"].startswith("racecal")
    assert any(s.get("uses", "").startswith("actions/configure-pages@") for s in steps)  # the real address, custom domains too
    previous = next(s for s in steps if s.get("name") == "Previous build")["run"]
    assert "404)" in previous and "*) echo" in previous and "exit 1" in previous
    assert any(s.get("run") == 'racecal build "$PREVIOUS" --base-url "$SITE"' for s in steps)


@pytest.mark.slow
def test_the_wheel_installs_in_a_clean_venv_and_runs_the_whole_flow_outside_this_repository(tmp_path: Path) -> None:
    """Templates, starter files and schemas are package data: a wheel built by pip from this tree,
    installed in a fresh virtualenv (dependencies from the package index), walks the whole path in a
    directory that has nothing of this repository: init, an edit, check (a warning, then --strict
    failing), import, build, diff, schema, and serve --watch picking up an edit over HTTP."""
    # The standard front-end builds the sdist, then the wheel from the sdist: so the sdist carries
    # everything too. Built from a copy, so this tree gets no build/ or egg-info.
    source = tmp_path / "source"
    shutil.copytree(
        REPO, source, ignore=shutil.ignore_patterns(".git", ".venv*", "node_modules", "dist", "bench", "tests", "*.egg-info", "build")
    )
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "build", "-q", "--outdir", str(wheels), str(source)], check=True, capture_output=True)
    (wheel,) = wheels.glob("racecal-*.whl")
    (sdist,) = wheels.glob("racecal-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    assert any(n.endswith("racecal/starter/publish.yml") for n in names) and any(n.endswith("racecal/templates/plan.html") for n in names)
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
    # An editor's plausible mistake: a second race on the Example Games' days. A warning, not an error,
    # until --strict.
    plan = work / "schedules" / "example-runner-2031.yaml"
    plan.write_text(plan.read_text() + "  - {id: relay, name: Relay, date: 2031-06-13, status: confirmed}\n")
    warned = subprocess.run([racecal, "check"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert (warned.returncode, warned.stdout) == (0, "ok: 1 plan, no problems, 1 warning\n")
    assert "races[2].id: warning: on the same days as race 'example-games'" in warned.stderr
    assert subprocess.run([racecal, "check", "--strict"], cwd=work, env=env, capture_output=True, timeout=120).returncode == 1
    step("import", str(FIXTURES / "google.ics"), "--athlete", "Anna Kowalska", "--out", "schedules/anna-kowalska-2025.yaml")
    step("build")
    assert (work / "dist" / "index.html").read_text().count("Example Runner") >= 1
    assert (work / "dist" / "anna-kowalska-2025" / "all.ics").read_bytes().count(b"BEGIN:VEVENT") == 2
    assert (work / "dist" / "style.css").stat().st_size > 0
    assert step("diff") == "No changes.\n"
    step("schema", ".")
    assert (work / "plan.schema.json").exists()
    # serve --watch follows an edit, checked over HTTP.
    server = subprocess.Popen(
        [racecal, "serve", "--watch", "--port", "0"], cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert server.stdout is not None
        url = ""
        while not url:
            line = server.stdout.readline()
            assert line, "serve --watch exited"
            url = found[1] if (found := re.search(r"(http://127\.0\.0\.1:\d+/)", line)) else ""
        edited = plan.read_text().replace("name: Relay", "name: Mixed Relay")
        deadline = time.monotonic() + 60
        while b"Mixed Relay" not in urllib.request.urlopen(url + "example-runner-2031/all.ics", timeout=10).read():
            assert time.monotonic() < deadline, "the edit never reached the preview"
            plan.write_text(edited)  # again: an edit in the first instant may come before the watcher starts
            time.sleep(1)
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert b"Mixed Relay" not in (work / "dist" / "example-runner-2031" / "all.ics").read_bytes()  # dist/ untouched


def test_init_never_writes_through_a_symlinked_folder(tmp_path: Path) -> None:
    """Regression (found by a tester): a .github or schema symlink was followed, and the workflow and
    schemas landed outside the repository."""
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / ".github").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "repo" / "schema").symlink_to(tmp_path / "nowhere")  # dangling
    code, out, _ = run(tmp_path, "init", "repo", "--season", "2031")
    assert code == 0 and list((tmp_path / "elsewhere").iterdir()) == []
    assert "kept  repo/.github/workflows/publish.yml (.github is a symbolic link; racecal does not write through it)" in out
    assert "kept  repo/schema/plan.schema.json (schema is a symbolic link; racecal does not write through it)" in out


def test_init_under_a_file_and_the_next_line_quoted(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    assert run(tmp_path, "init", "f/sub")[0] == 2  # was a traceback
    code, out, _ = run(tmp_path, "init", "my cal", "--season", "2031")
    assert code == 0 and out.splitlines()[-1] == "next: cd 'my cal' && racecal check && racecal build && racecal serve"
