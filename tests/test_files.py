"""What racecal reads: only regular files inside schedules/, never blocking, never more than the limit.

Cases that could hang or eat memory if they regressed run racecal as a separate process with a
timeout, so a regression fails the test instead of stalling the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import LATER_TIME, PLAN_ID, REPO, Project
from racecal.publish import PLAN_FILES

SECRET = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI-do-not-print"
SYMLINK_REFUSED = "is a symbolic link; only regular files inside the schedules directory are read (copy the file in instead)"


def racecal(project: Project, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "racecal", *args], cwd=project.root, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip


def secret_outside(project: Project) -> Path:
    secret = project.root.parent / f"{project.root.name}-secret.env"
    secret.write_text(SECRET + "\n")
    return secret


def link_to_secret(p: Project) -> str:
    (p.schedules / "leak.yaml").symlink_to(secret_outside(p))
    return f"schedules/leak.yaml:1:1: file: {SYMLINK_REFUSED}"


def link_to_plan_inside(p: Project) -> str:
    # Even a link to a file inside schedules/ is refused: one rule, no path arithmetic to get wrong.
    (p.schedules / "alias.yaml").symlink_to(p.plan_file)
    return f"schedules/alias.yaml:1:1: file: {SYMLINK_REFUSED}"


def dangling_link(p: Project) -> str:
    (p.schedules / "gone.yaml").symlink_to(p.root / "nowhere.yaml")
    return f"schedules/gone.yaml:1:1: file: {SYMLINK_REFUSED}"


def link_loop(p: Project) -> str:
    (p.schedules / "loop.yaml").symlink_to(p.schedules / "loop.yaml")
    return f"schedules/loop.yaml:1:1: file: {SYMLINK_REFUSED}"


def fifo_plan(p: Project) -> str:
    os.mkfifo(p.schedules / "pipe.yaml")
    return "schedules/pipe.yaml:1:1: file: is a FIFO (named pipe), not a regular file"


def fifo_meets(p: Project) -> str:
    os.mkfifo(p.schedules / "meets" / "pipe.yml")
    return "schedules/meets/pipe.yml:1:1: file: is a FIFO (named pipe), not a regular file"


def directory_named_like_a_plan(p: Project) -> str:
    (p.schedules / "odd.yaml").mkdir()
    return ""  # a real directory is not a plan file candidate: nothing to report, nothing read


def symlinked_meets_dir(p: Project) -> str:
    elsewhere = p.root.parent / f"{p.root.name}-meets"
    (p.schedules / "meets").rename(elsewhere)
    (p.schedules / "meets").symlink_to(elsewhere)
    return "schedules/meets:1:1: meets: is a symbolic link; the meet catalogue must be a real directory inside the schedules directory"


def non_utf8_name(p: Project) -> str:
    (p.schedules.joinpath(os.fsdecode(b"caf\xe9.yaml"))).write_text("athlete: x\n")
    return "schedules/caf\\xe9.yaml:1:1: file: the file name is not valid UTF-8; rename the file"


@pytest.mark.parametrize(
    "setup",
    [link_to_secret, link_to_plan_inside, dangling_link, link_loop, fifo_plan, fifo_meets, directory_named_like_a_plan, symlinked_meets_dir,
     non_utf8_name],
)  # fmt: skip
def test_symlinked_plan_to_secret_is_refused_without_printing_it(built: Project, setup: Callable[[Project], str]) -> None:
    """Each kind of entry that is not a regular file in schedules/ is refused, located, in a separate
    process with a timeout (a FIFO used to block for ever), and nothing is published."""
    before = built.tree()
    expected = setup(built)
    built.edit("status: tentative", "status: confirmed")  # so that a build that went ahead would publish
    done = racecal(built, "build", "--time", LATER_TIME)
    if not expected:
        assert done.returncode == 0, done.stderr
        return
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [expected, "1 problem in 1 file"]
    assert "do-not-print" not in done.stderr
    assert built.tree() == before
    # check reads the same way (it goes on to report what else it finds; the build stops here).
    checked = built.run("check")
    assert checked.exit_code == 1
    assert expected in checked.stderr.splitlines()
    assert "do-not-print" not in checked.stderr


def test_fifo_plan_does_not_block(built: Project) -> None:
    before = built.tree()
    os.mkfifo(built.root / "plan.yaml")
    os.mkfifo(built.root / "racecal.yaml")
    done = racecal(built, "check", "plan.yaml", timeout=20)  # check reads the settings too, as build does
    assert (done.returncode, done.stderr) == (
        1,
        "plan.yaml:1:1: file: is a FIFO (named pipe), not a regular file\n"
        "racecal.yaml:1:1: file: is a FIFO (named pipe), not a regular file\n2 problems in 2 files\n",
    )
    done = racecal(built, "build", "--time", LATER_TIME, timeout=20)  # the settings file, found by its default name
    assert (done.returncode, done.stderr) == (
        1,
        "racecal.yaml:1:1: file: is a FIFO (named pipe), not a regular file\n1 problem in 1 file\n",
    )
    assert built.tree() == before


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero on this system")
def test_dev_zero_plan_does_not_eat_memory(built: Project) -> None:
    before = built.tree()
    for args, shown in [(("check", "/dev/zero"), "/dev/zero"), (("build", "--config", "/dev/zero"), "/dev/zero")]:
        # 1 GB of address space: reading /dev/zero to the end fails with MemoryError instead of swapping.
        done = subprocess.run(
            ["sh", "-c", 'ulimit -v 1000000 && exec "$@"', "sh", sys.executable, "-m", "racecal", *args],
            cwd=built.root, capture_output=True, text=True, timeout=20, check=False, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip
        assert (done.returncode, done.stderr) == (1, f"{shown}:1:1: file: is a device, not a regular file\n1 problem in 1 file\n")
    assert built.tree() == before


def test_upper_case_yaml_plans_are_read(built: Project) -> None:
    before = built.tree()
    built.plan_file.rename(built.schedules / f"{PLAN_ID}.YAML")
    (built.schedules / "meets" / "2024.yaml").rename(built.schedules / "meets" / "2024.YML")
    done = racecal(built, "check")
    assert (done.returncode, done.stdout) == (0, "ok: 1 plan, no problems\n")
    # Same plan, same bytes: only the plan's remembered file name differs, so feeds are unchanged.
    built.build("--fresh")
    after = built.tree()
    for feed in ("confirmed.ics", "tentative.ics", "all.ics"):
        assert after[f"{PLAN_ID}/{feed}"] == before[f"{PLAN_ID}/{feed}"]


def test_plan_files_of_publish_match_what_build_writes() -> None:
    """publish keeps files it did not publish; its list of plan files must not drift from build's."""
    golden = REPO / "tests" / "golden" / "dist" / PLAN_ID
    assert {p.name for p in golden.iterdir()} == PLAN_FILES


SUB_FOLDER = "is in a sub-folder, where racecal does not look: plans go directly in schedules/; move it up, or rename it so it does not end in .yaml if it is not a plan"
MEETS_SUB_FOLDER = (
    "is in a sub-folder of schedules/meets/, where racecal does not look: the meet catalogue goes directly in schedules/meets/; "
    "move it up, or rename it so it does not end in .yaml if it is not a catalogue"
)


def plan_moved_into_a_year_folder(p: Project) -> None:
    (p.schedules / "2024").mkdir()
    p.plan_file.rename(p.schedules / "2024" / p.plan_file.name)


def meets_moved_into_a_sub_folder(p: Project) -> None:
    (p.schedules / "meets" / "2024" / "outdoor").mkdir(parents=True)
    for meets in (p.schedules / "meets").glob("*.yaml"):
        meets.rename(p.schedules / "meets" / "2024" / "outdoor" / meets.name)


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (plan_moved_into_a_year_folder, f"schedules/2024/{PLAN_ID}.yaml:1:1: file: {SUB_FOLDER}\n1 problem in 1 file\n"),
        (lambda p: [(p.schedules / "old" / "x").mkdir(parents=True), (p.schedules / "old" / "x" / "notes.YML").write_text("a: 1\n")],
         f"schedules/old/x/notes.YML:1:1: file: {SUB_FOLDER}\n1 problem in 1 file\n"),
    ],
    ids=["year-folder", "deeper"],
)  # fmt: skip
def test_plans_in_sub_folders_were_silently_ignored(built: Project, setup: Callable[[Project], None], expected: str) -> None:
    setup(built)
    before = built.tree()
    check = built.run("check")
    assert (check.exit_code, check.stdout, check.stderr) == (1, "", expected)
    build = built.run("build", "--time", LATER_TIME)
    assert (build.exit_code, build.stderr) == (1, expected)
    assert built.tree() == before  # nothing cancelled for anyone


def test_meets_in_a_sub_folder_of_meets_were_silently_ignored(built: Project) -> None:
    meets_moved_into_a_sub_folder(built)
    check = built.run("check")
    assert check.exit_code == 1
    located = [line for line in check.stderr.splitlines() if "sub-folder" in line]
    expected = sorted(
        f"schedules/meets/2024/outdoor/{p.name}:1:1: file: {MEETS_SUB_FOLDER}"
        for p in (built.schedules / "meets" / "2024" / "outdoor").iterdir()
    )
    assert located == expected and expected


@pytest.mark.parametrize(
    "setup",
    [
        lambda p: (p.schedules / f".#{PLAN_ID}.yaml").symlink_to("runner@laptop.4242:1700000000"),  # Emacs lock link (dangling)
        lambda p: (p.schedules / f"._{PLAN_ID}.yaml").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "),  # AppleDouble
        lambda p: (p.schedules / "meets" / "._meets.yaml").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00"),
        lambda p: [(p.schedules / ".drafts").mkdir(), (p.schedules / ".drafts" / "plan.yaml").write_text("not: a plan\n")],
    ],
    ids=["emacs-lock", "apple-double", "apple-double-meets", "hidden-folder"],
)  # fmt: skip
def test_editor_side_files_broke_check_and_build(built: Project, setup: Callable[[Project], None]) -> None:
    setup(built)
    check = built.run("check")
    assert (check.exit_code, check.stdout, check.stderr) == (0, "ok: 1 plan, no problems\n", "")
    built.edit("status: tentative", "status: confirmed")
    assert "wrote dist/ (1 plan, " in built.build(time=LATER_TIME).stdout
