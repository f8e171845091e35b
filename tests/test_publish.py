"""Publishing is atomic and locked; a broken previous build is refused; dist/ is never damaged."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import LATER_TIME, PLAN_ID, REPO, Project
from racecal.errors import PublishError
from racecal.publish import Staging

BIG_PLAN_RACES = 1000


def write_big_corpus(schedules: Path, plans: int) -> None:
    """Many plans, so a build takes long enough to be killed half-way."""
    for n in range(plans):
        races = "".join(
            f"  - {{id: r{i}, meet: bislett-games-2024, status: {'tentative' if i % 7 == 0 else 'confirmed'}, note: race {i}}}\n"
            for i in range(40)
        )
        (schedules / f"athlete-{n:04d}.yaml").write_text(f"athlete: {{name: Athlete {n}, slug: athlete-{n:04d}}}\nseason: 2024\nraces:\n{races}")


def racecal(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "racecal", *args], cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip


@pytest.mark.slow
def test_sigkill_during_a_large_build_leaves_dist_byte_identical(built: Project) -> None:
    before = built.tree()
    write_big_corpus(built.schedules, 400)
    # Once while the plans are being compiled, once while the new site is being written beside dist/.
    proc = racecal(built, "build", "--time", LATER_TIME)
    time.sleep(0.5)
    assert proc.poll() is None, "the build finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert built.tree() == before

    proc = racecal(built, "build", "--time", LATER_TIME)
    deadline = time.monotonic() + 120
    while not list(built.root.glob(".dist.new-*")) and time.monotonic() < deadline:
        time.sleep(0.002)
    staging = list(built.root.glob(".dist.new-*"))
    assert staging and proc.poll() is None, "never caught the build while writing"
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert built.tree() == before
    assert list(built.root.glob(".dist.new-*")), "the killed build's staging directory should be left for cleanup"

    # The next build cleans up after the killed ones and publishes normally.
    proc = racecal(built, "build", "--time", LATER_TIME, "-q")
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    assert not list(built.root.glob(".dist.new-*"))
    assert (built.dist / "athlete-0399-2024" / "confirmed.ics").exists()


def test_a_failing_build_leaves_dist_byte_identical(built: Project) -> None:
    before = built.tree()
    built.edit("status: tentative", "status: maybe")
    assert built.run("build", "--time", LATER_TIME).exit_code == 1
    assert built.tree() == before


@pytest.mark.slow
def test_concurrent_builds_wait_for_each_other(built: Project) -> None:
    write_big_corpus(built.schedules, 150)
    first = racecal(built, "build", "--time", LATER_TIME, "-q")
    time.sleep(0.4)
    second = racecal(built, "build", "--time", LATER_TIME, "--wait", "300")
    assert first.wait(timeout=300) == 0
    assert second.wait(timeout=300) == 0
    assert second.stderr is not None
    assert "another build is writing dist; waiting up to 300 s for it to finish" in second.stderr.read()
    states = [json.loads(p.read_text()) for p in built.dist.glob("*/state.json")]
    assert len(states) == 151


@pytest.mark.slow
def test_a_build_that_cannot_get_the_lock_gives_up_clearly(built: Project) -> None:
    write_big_corpus(built.schedules, 150)
    before_first = racecal(built, "build", "--time", LATER_TIME, "-q")
    time.sleep(0.4)
    second = racecal(built, "build", "--time", LATER_TIME, "--wait", "0.1")
    assert second.wait(timeout=300) == 1
    assert second.stderr is not None
    err = second.stderr.read()
    assert err.endswith("error: gave up after 0.1 s: another build still holds .dist.lock\n"), err
    assert before_first.wait(timeout=300) == 0


def test_writer_refuses_paths_outside_the_output(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match=re.escape("refusing to write outside the output directory: '../escape.txt'")):
        Staging.create(tmp_path / "dist").write("../escape.txt", b"x")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "dist").exists()


def forge(dist: Path, name: str, edit) -> None:  # type: ignore[no-untyped-def]
    """Hand-edit a published file *and* its hash in index.json, so the content check itself is tested."""
    path = dist / PLAN_ID / name
    data = edit(path.read_text()).encode()
    path.write_bytes(data)
    index = (dist / "index.json").read_text()
    old = json.loads(index)["plans"][0]["files"][name]
    (dist / "index.json").write_text(index.replace(old, hashlib.sha256(data).hexdigest()))


STATE = f"dist/{PLAN_ID}/state.json"


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / PLAN_ID / "confirmed.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
         f"dist/{PLAN_ID}/confirmed.ics: changed since it was published; restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over"),
        (lambda d: (d / PLAN_ID / "state.json").write_text("{}"),
         f"{STATE}: changed since it was published; restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over"),
        (lambda d: (d / PLAN_ID / "all.ics").unlink(), f"dist/{PLAN_ID}/all.ics: missing from the previous build"),
        (lambda d: forge(d, "state.json", lambda t: "{not json"),
         f"{STATE}: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        (lambda d: forge(d, "state.json", lambda t: t.replace('"seq":0', '"seq":"zero"', 1)), f"{STATE}: races.bislett.seq: expected a whole number, got 'zero'"),
        (lambda d: forge(d, "state.json", lambda t: t.replace('"seq":0', '"seq":-1', 1)), f"{STATE}: races.bislett.seq: must be between 0 and 10000, got -1"),
        (lambda d: forge(d, "state.json", lambda t: t.replace('"stamp":"20240327T120000Z"', '"stamp":"yesterday"', 1)),
         f"{STATE}: races.bislett.stamp: expected a UTC time like 20240305T120000Z, got 'yesterday'"),
        (lambda d: forge(d, "state.json", lambda t: t.replace('"status":"confirmed"', '"status":"sure"', 1)),
         f"{STATE}: races.bislett.snapshot.status: unknown status 'sure'; expected one of: confirmed, tentative, withdrawn, cancelled"),
        (lambda d: forge(d, "state.json", lambda t: t.replace('"published":{"all"', '"published":{"../x"', 1)),
         f"{STATE}: races.bislett.published.'../x': unknown key; expected one of: all, confirmed, tentative"),
        (lambda d: (d / "index.json").write_text(json.dumps({"format": 1, "generator": "racecal", "plans": [{"id": "../../etc"}]})),
         "dist/index.json: plans[0]: missing required key 'athlete'\n" + "".join(
             f"error: dist/index.json: plans[0]: missing required key '{k}'\n" for k in ("counts", "files", "inputs", "latest", "season", "source")
         ) + "error: dist/index.json: plans[0].id: expected lowercase letters, digits and single hyphens (like 'jakob-ingebrigtsen'), got '../../etc'"),
        (lambda d: (d / "index.json").write_text((d / "index.json").read_text().replace('"state.json":', '"../state.json":')),
         "dist/index.json: plans[0].files: state.json is missing\n"
         "error: dist/index.json: plans[0].files.'../state.json': not a file name racecal writes"),
        (lambda d: (d / "index.json").write_bytes(b"\xff\xfe"), "dist/index.json: not valid JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)"),
        (lambda d: (d / "index.json").write_text("[]"), "dist/index.json: document: not a racecal site index"),
        (lambda d: (d / "index.json").unlink(), "dist: has files but no index.json, so it is not a racecal build; choose another --out, or pass --fresh to replace it"),
    ],
    ids=["edited-feed", "edited-state", "missing-feed", "state-not-json", "state-wrong-type", "state-negative-seq", "state-bad-time",
         "state-bad-snapshot", "state-bad-feed", "index-traversal", "index-bad-file-name", "index-not-utf8", "index-not-an-index", "not-a-racecal-dir"],
)
def test_a_broken_previous_build_is_refused_and_nothing_is_published(built: Project, damage, message: str) -> None:  # type: ignore[no-untyped-def]
    damage(built.dist)
    before = built.tree()
    built.edit("status: tentative", "status: confirmed")
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr == f"error: {message}\n"
    assert "Traceback" not in result.output
    assert built.tree() == before
    # --fresh is the deliberate way out.
    assert built.run("build", "--time", LATER_TIME, "--fresh").exit_code == 0
