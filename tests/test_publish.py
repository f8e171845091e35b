"""Publishing is atomic and locked; a broken previous build is refused; dist/ is never damaged."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import FEDERATION, LATER_TIME, PLAN_ID, REPO, Project, need, parse_icalendar
from racecal.cli import cli
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
        (schedules / f"athlete-{n:04d}.yaml").write_text(
            f"athlete: {{name: Athlete {n}, slug: athlete-{n:04d}}}\nseason: 2024\nraces:\n{races}"
        )


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


def wait_until_it_holds_the_lock(project: Project, proc: subprocess.Popen[str]) -> None:
    """A build creates its staging directory right after taking the lock. A fixed sleep was not
    enough on a loaded machine: the second build won the lock, printed a long report into a pipe
    nobody read yet, and blocked until the test's timeout."""
    deadline = time.monotonic() + 60
    while not list(project.root.glob(".dist.new-*")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None and list(project.root.glob(".dist.new-*")), "the first build never took the lock"


@pytest.mark.slow
def test_concurrent_builds_wait_for_each_other(built: Project) -> None:
    write_big_corpus(built.schedules, 150)
    first = racecal(built, "build", "--time", LATER_TIME, "-q")
    wait_until_it_holds_the_lock(built, first)
    second = racecal(built, "build", "--time", LATER_TIME, "--wait", "300")
    assert first.wait(timeout=300) == 0
    assert second.wait(timeout=300) == 0
    assert second.stderr is not None
    assert "another racecal build or diff is using dist; waiting up to 300 s for it to finish" in second.stderr.read()
    states = [json.loads(p.read_text()) for p in built.dist.glob("*/state.json")]
    assert len(states) == 151


@pytest.mark.slow
def test_a_build_that_cannot_get_the_lock_gives_up_clearly(built: Project) -> None:
    write_big_corpus(built.schedules, 150)
    before_first = racecal(built, "build", "--time", LATER_TIME, "-q")
    wait_until_it_holds_the_lock(built, before_first)
    second = racecal(built, "build", "--time", LATER_TIME, "--wait", "0.1")
    assert second.wait(timeout=300) == 1
    assert second.stderr is not None
    err = second.stderr.read()
    assert err.endswith("error: gave up after 0.1 s: another racecal build or diff still holds .dist.lock\n"), err
    assert before_first.wait(timeout=300) == 0


def test_writer_refuses_paths_outside_the_output(tmp_path: Path) -> None:
    with pytest.raises(PublishError, match=re.escape("refusing to write outside the output directory: '../escape.txt'")):
        Staging.create(tmp_path / "dist").write("../escape.txt", b"x")
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize(
    ("folder", "name"),
    [("..", "escape.txt"), ("plan", "../escape.txt"), ("plan", ".."), ("plan", ""), ("plan", "a\\b"), ("plan", "a\0b"), ("/tmp", "x")],
)
def test_linking_a_folder_refuses_paths_outside_the_output(tmp_path: Path, folder: str, name: str) -> None:
    """Staging.link_folder, which links unchanged plans' files with one check per folder, checks every
    name as write and link do."""
    source = tmp_path / "source"
    source.mkdir()
    (tmp_path / "escape.txt").write_text("mine\n")
    staging = Staging.create(tmp_path / "dist")
    with pytest.raises(PublishError, match="refusing to write outside the output directory"):
        staging.link_folder(folder, [name], str(source))
    assert (tmp_path / "escape.txt").read_text() == "mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["source", "escape.txt", staging.root.name])


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
        (
            lambda d: (d / PLAN_ID / "confirmed.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),
            f"dist/{PLAN_ID}/confirmed.ics: changed since it was published; restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over",
        ),
        (
            lambda d: (d / PLAN_ID / "state.json").write_text("{}"),
            f"{STATE}: changed since it was published; restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over",
        ),
        (lambda d: (d / PLAN_ID / "all.ics").unlink(), f"dist/{PLAN_ID}/all.ics: missing from the previous build"),
        (
            lambda d: forge(d, "state.json", lambda t: "{not json"),
            f"{STATE}: not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        ),
        (
            lambda d: forge(d, "state.json", lambda t: t.replace('"seq":0', '"seq":"zero"', 1)),
            f"{STATE}: races.bislett.seq: expected a whole number, got 'zero'",
        ),
        (
            lambda d: forge(d, "state.json", lambda t: t.replace('"seq":0', '"seq":-1', 1)),
            f"{STATE}: races.bislett.seq: must be between 0 and 10000, got -1",
        ),
        (
            lambda d: forge(d, "state.json", lambda t: t.replace('"stamp":"20240327T120000Z"', '"stamp":"yesterday"', 1)),
            f"{STATE}: races.bislett.stamp: expected a UTC time like 20240305T120000Z, got 'yesterday'",
        ),
        (
            lambda d: forge(d, "state.json", lambda t: t.replace('"status":"confirmed"', '"status":"sure"', 1)),
            f"{STATE}: races.bislett.snapshot.status: unknown status 'sure'; expected one of: confirmed, tentative, withdrawn, cancelled",
        ),
        (
            lambda d: forge(d, "state.json", lambda t: t.replace('"published":{"all"', '"published":{"../x"', 1)),
            f"{STATE}: races.bislett.published.'../x': unknown key; expected one of: all, confirmed, tentative",
        ),
        (
            lambda d: (d / "index.json").write_text(json.dumps({"format": 1, "generator": "racecal", "plans": [{"id": "../../etc"}]})),
            "dist/index.json: plans[0]: missing required key 'athlete'\n"
            + "".join(
                f"error: dist/index.json: plans[0]: missing required key '{k}'\n"
                for k in ("counts", "files", "inputs", "latest", "season", "source")
            )
            + "error: dist/index.json: plans[0].id: expected lowercase letters, digits and single hyphens (like 'jakob-ingebrigtsen'), got '../../etc'",
        ),
        (
            lambda d: (d / "index.json").write_text((d / "index.json").read_text().replace('"state.json":', '"../state.json":')),
            "dist/index.json: plans[0].files: state.json is missing\n"
            "error: dist/index.json: plans[0].files.'../state.json': not a file name racecal writes",
        ),
        (
            lambda d: (d / "index.json").write_bytes(b"\xff\xfe"),
            "dist/index.json: not valid JSON ('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)",
        ),
        (lambda d: (d / "index.json").write_text("[]"), "dist/index.json: document: not a racecal site index"),
        (
            lambda d: (d / "index.json").unlink(),
            "dist: has no index.json but holds .htaccess, .nojekyll, _headers, index.html and 3 more, which a build would replace, so it is not a racecal build "
            "(or its index.json was lost); move them away or choose another --out, or pass --fresh to replace them (files racecal did not write are kept)",
        ),
    ],
    ids=[
        "edited-feed",
        "edited-state",
        "missing-feed",
        "state-not-json",
        "state-wrong-type",
        "state-negative-seq",
        "state-bad-time",
        "state-bad-snapshot",
        "state-bad-feed",
        "index-traversal",
        "index-bad-file-name",
        "index-not-utf8",
        "index-not-an-index",
        "not-a-racecal-dir",
    ],
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


# --- where racecal may publish ------------------------------------------------------------------------

KEEP_APART = "Give the site a directory of its own, such as dist"


def make_other_repo(p: Project) -> str:
    (p.root / "other" / ".git").mkdir(parents=True)
    (p.root / "other" / "README").write_text("not a site")
    return "other"


@pytest.mark.parametrize(
    ("out", "fresh", "setup", "message"),
    [
        ("schedules", True, None, f"'schedules' is the schedules directory; refusing to publish there, as the site would replace your plans. {KEEP_APART}"),
        ("schedules", False, None, f"'schedules' is the schedules directory; refusing to publish there, as the site would replace your plans. {KEEP_APART}"),
        ("schedules/site", True, None, f"'schedules/site' lies inside the schedules directory 'schedules'; refusing to publish there. {KEEP_APART}"),
        ("schedules/meets", False, None, f"'schedules/meets' lies inside the schedules directory 'schedules'; refusing to publish there. {KEEP_APART}"),
        (".", True, None, f"'.' contains the schedules directory 'schedules'; refusing to publish there, as the site would replace your plans. {KEEP_APART}"),
        ("/", True, None, f"'/' is the root of the filesystem; refusing to publish there. {KEEP_APART}"),
        ("other", True, make_other_repo,
         f"'other' is the root of a git repository (it has a .git entry) and holds no racecal build; refusing to publish there. {KEEP_APART}"),
    ],
    ids=["schedules-fresh", "schedules", "inside-schedules", "meets", "project-fresh", "root", "other-repository"],
)  # fmt: skip
def test_out_schedules_fresh_does_not_wipe_plans(built: Project, out: str, fresh: bool, setup, message: str) -> None:  # type: ignore[no-untyped-def]
    """--out that is, contains or lies in the plans, the project, a repository or / is a usage error."""
    where = setup(built) if setup else None
    before = {p: p.read_bytes() for p in sorted(built.root.rglob("*")) if p.is_file()}
    result = built.run("build", "--out", out, "--time", LATER_TIME, *(["--fresh"] if fresh else []))
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: Invalid value for '--out': {message}\n"), result.stderr
    assert {p: p.read_bytes() for p in sorted(built.root.rglob("*")) if p.is_file()} == before
    assert where is None or not (built.root / where / "index.html").exists()


def test_out_parent_of_the_project_is_refused(built: Project) -> None:
    inner = built.root / "site-src"
    inner.mkdir()
    (built.schedules).rename(inner / "schedules")
    cwd = os.getcwd()
    os.chdir(inner)
    try:
        result = CliRunner().invoke(cli, ["build", "--out", "..", "--fresh", "--time", LATER_TIME], catch_exceptions=False)
    finally:
        os.chdir(cwd)
    assert result.exit_code == 2
    assert result.stderr.endswith(
        f"Error: Invalid value for '--out': '..' (which is '{built.root}') contains the schedules directory 'schedules'; "
        f"refusing to publish there, as the site would replace your plans. {KEEP_APART}\n"
    ), result.stderr


def test_out_current_directory_with_plans_elsewhere_is_refused(built: Project) -> None:
    site = built.root / "site"
    (site / ".git").mkdir(parents=True)
    (site / "README.md").write_text("the project\n")
    cwd = os.getcwd()
    os.chdir(site)
    try:
        for out in (".", str(site), ".."):
            result = CliRunner().invoke(cli, ["build", "--schedules", "../schedules", "--out", out, "--fresh"], catch_exceptions=False)
            assert result.exit_code == 2
            reason = (
                "is or contains the current directory (your project)" if out != ".." else "contains the schedules directory '../schedules'"
            )
            assert f"Error: Invalid value for '--out': {out!r}" in result.stderr, result.stderr
            assert reason in result.stderr
    finally:
        os.chdir(cwd)
    assert sorted(p.name for p in site.iterdir()) == [".git", "README.md"]


def add_foreign_files(dist: Path) -> dict[str, bytes]:
    """What a GitHub Pages user or a deploy step keeps in the output directory."""
    files = {"CNAME": b"races.example.org\n", ".git/HEAD": b"ref: refs/heads/gh-pages\n", ".git/objects/ab/cdef": b"\x00blob",
             ".well-known/security.txt": b"Contact: mailto:security@example.org\n", f"{PLAN_ID}/notes.txt": b"kept beside the feeds\n"}  # fmt: skip
    for name, data in files.items():
        (dist / name).parent.mkdir(parents=True, exist_ok=True)
        (dist / name).write_bytes(data)
    (dist / ".git" / "link").symlink_to("HEAD")
    return files


def test_cname_survives_a_no_change_build(built: Project) -> None:
    foreign = add_foreign_files(built.dist)
    before = built.tree()
    result = built.build(time=LATER_TIME)
    assert result.stdout.endswith("unchanged: dist/ (1 plan, 1 reused as they were; no changes)\n")
    assert built.tree() == before

    # A build that changes something, and one that starts the history over, keep them too.
    for args in ([], ["--fresh"]):
        built.edit("status: tentative", "status: confirmed") if not args else None
        built.build(*args, time=LATER_TIME)
        after = built.tree()
        assert {name: after[name] for name in foreign} == foreign
        assert (built.dist / ".git" / "link").readlink() == Path("HEAD")
        assert set(after) - set(foreign) == set(before) - set(foreign)  # and nothing else appeared
    assert after[f"{PLAN_ID}/confirmed.ics"] != before[f"{PLAN_ID}/confirmed.ics"]
    assert not list(built.root.glob(".dist.*-*"))


def test_a_build_does_not_parse_the_index_it_read_again_to_find_foreign_files(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """It takes the plans and files from the index it read under the lock (15–20 ms at 1,000 plans)."""
    from racecal import publish

    foreign = add_foreign_files(built.dist)

    def parsed_again(out: Path) -> dict[str, set[str]]:
        raise AssertionError(f"{out}/index.json parsed again")

    monkeypatch.setattr(publish, "_indexed_plan_files", parsed_again)
    built.edit("status: tentative", "status: confirmed")
    built.build(time=LATER_TIME)
    after = built.tree()
    assert {name: after[name] for name in foreign} == foreign


def test_foreign_file_where_the_new_site_writes_is_refused_by_name(built: Project) -> None:
    (built.dist / "test-runner-2024").mkdir()
    (built.dist / "test-runner-2024" / "mine.txt").write_text("someone's notes")
    before = built.tree()
    second = built.plan_file.read_text().replace("slug: jakob-ingebrigtsen", "slug: test-runner")
    (built.schedules / "test-runner.yaml").write_text(second)
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: dist: test-runner-2024: not written by racecal, and the new site has a file of the same name; move it away and build again\n"
    )
    assert built.tree() == before
    assert not list(built.root.glob(".dist.*-*"))


def test_symlinked_out_is_published_through(built: Project) -> None:
    webroot = built.root / "www" / "races"
    webroot.parent.mkdir()
    built.dist.rename(webroot)
    built.dist.symlink_to(Path("www") / "races")
    webroot.chmod(0o751)
    (webroot / "CNAME").write_text("races.example.org\n")
    built.edit("status: tentative", "status: confirmed")
    result = built.build(time=LATER_TIME)
    assert "wrote dist/ (1 plan, 0 reused as they were; " in result.stdout
    assert built.dist.is_symlink() and built.dist.readlink() == Path("www") / "races"
    confirmed = [e["summary"] for e in parse_icalendar(webroot / PLAN_ID / "confirmed.ics") if e["status"] == "CONFIRMED"]
    assert "Jakob Ingebrigtsen – Monaco Diamond League (Herculis)" in confirmed  # the promoted race reached the web root
    assert (webroot / "CNAME").read_text() == "races.example.org\n"
    assert oct(webroot.stat().st_mode & 0o777) == oct(0o751)
    leftovers = [p.name for p in [*built.root.iterdir(), *webroot.parent.iterdir()] if ".new-" in p.name or ".old-" in p.name]
    assert leftovers == []
    # Same plans again: nothing to write, the link and the web root stay as they are (the plan is
    # reused: its tombstone for Monaco in tentative.ics is not due to expire yet).
    snapshot = built.tree()
    assert built.build(time=LATER_TIME).stdout.endswith("unchanged: dist/ (1 plan, 1 reused as they were; no changes)\n")
    assert built.tree() == snapshot and built.dist.is_symlink()


def out_error(result: Result) -> str:
    """What a usage error (exit 2) says about --out, after click's usage lines."""
    assert result.exit_code == 2, result.output
    return result.stderr.splitlines()[-1].removeprefix("Error: Invalid value for '--out': ")


def test_dangling_symlinked_out_is_refused_clearly(built: Project) -> None:
    built.dist.rename(built.root / "old-dist")
    built.dist.symlink_to("www/races")
    result = built.run("build", "--time", LATER_TIME)
    assert (
        out_error(result)
        == f"'dist' is a symbolic link to '{built.root}/www/races', which is not a directory; create it or remove the link"
    )
    assert not (built.root / "www").exists()
    assert [p.name for p in built.root.iterdir() if p.name.startswith(".dist.") and p.name != ".dist.lock"] == []


def test_out_that_is_a_file_is_a_usage_error_and_not_replaced_even_with_fresh(project: Project) -> None:
    """Regression (independent tester): exit 1, as for a problem in the plans; the README lists an
    --out that would replace your files as a usage error (exit 2)."""
    (project.root / "notes").write_text("my notes\n")
    result = project.run("build", "--out", "notes", "--fresh", "--time", LATER_TIME)
    assert out_error(result) == (
        "'notes' is a file, not a directory; racecal publishes a directory there and never replaces a file: "
        "move it away or choose another --out"
    )
    assert (project.root / "notes").read_text() == "my notes\n"
    assert out_error(project.run("diff", "--out", "notes", "--time", LATER_TIME)).startswith("'notes' is a file, not a directory")
    (project.root / "to-notes").symlink_to("notes")
    linked = project.run("build", "--out", "to-notes", "--time", LATER_TIME)
    assert out_error(linked) == (
        f"'to-notes' is a symbolic link to '{project.root}/notes', which is a file, not a directory; "
        "point it at a directory or choose another --out"
    )
    assert (project.root / "notes").read_text() == "my notes\n"


def test_out_that_is_a_symlink_loop_is_a_usage_error_not_a_traceback(project: Project) -> None:
    (project.root / "loop").symlink_to("loop")
    result = project.run("build", "--out", "loop", "--time", LATER_TIME)
    assert out_error(result) == "'loop' is a symbolic link that leads round in a loop; remove it or choose another --out"


@pytest.mark.parametrize("command", ["build", "diff"])
@pytest.mark.parametrize("out", ["notes/site", "notes/site/deeper"])
def test_out_under_a_file_says_that_file_is_not_a_directory(project: Project, out: str, command: str) -> None:
    """Regression (independent tester): `--out notes/site` said "cannot create notes: File exists"
    (exit 1); the problem is that notes is not a directory. A diff against it (second tester) said
    every race would be added, exit 0, for a site no build can publish."""
    (project.root / "notes").write_text("my notes\n")
    result = project.run(command, "--out", out, "--time", LATER_TIME)
    assert out_error(result) == f"'{out}' cannot be created: 'notes' is a file, not a directory"
    assert (project.root / "notes").read_text() == "my notes\n"
    assert sorted(p.name for p in project.root.iterdir()) == ["notes", "schedules"]


def test_leftover_staging_symlink_is_cleaned_up(built: Project) -> None:
    """An older racecal could leave .dist.new-<pid> as a symlink for ever; the next build removes it."""
    (built.root / ".dist.new-99999").symlink_to(built.dist)
    before = built.tree()
    built.build(time=LATER_TIME)
    assert not os.path.lexists(built.root / ".dist.new-99999")
    assert built.tree() == before


# --- read-only and full filesystems (real mounts, in a user namespace) ---------------------------------


def unshare_available() -> bool:
    import shutil

    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10, check=False)
    return probe.returncode == 0


def in_namespace(project: Project, script: str) -> subprocess.CompletedProcess[str]:
    need(unshare_available(), "unshare with user namespaces (util-linux)")
    return subprocess.run(
        ["unshare", "-rm", "sh", "-euc", script], cwd=project.root, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), "PY": sys.executable},
    )  # fmt: skip


TREE_HASH = 'find "$1" -type f | LC_ALL=C sort | xargs sha256sum | sha256sum'


def test_read_only_output_is_a_clear_error_and_dist_is_untouched(built: Project) -> None:
    built.edit("status: tentative", "status: confirmed")
    before = built.tree()
    script = f"""
    mount --bind "$PWD" "$PWD" && mount -o remount,bind,ro "$PWD" && cd "$PWD"  # cd: onto the read-only mount
    "$PY" -m racecal build --time {LATER_TIME} 2>/tmp/err-$$ || echo "exit $?" >&2
    cat /tmp/err-$$ >&2; rm /tmp/err-$$
    "$PY" -m racecal diff --time {LATER_TIME}
    """
    done = in_namespace(built, script)
    assert done.stderr == "exit 1\nerror: cannot create .dist.lock: Read-only file system; dist was left as it was\n", done.stderr
    assert built.tree() == before
    # diff still works in a read-only checkout (no lock file can exist there, and nothing can publish).
    assert done.stdout == built.run("diff", "--time", LATER_TIME).stdout
    assert "promoted" in done.stdout


def test_full_output_filesystem_is_a_clear_error_and_dist_is_untouched(built: Project) -> None:
    built.edit("status: tentative", "status: confirmed")
    script = f"""
    hash_tree() {{ {TREE_HASH}; }}
    mkdir -p pub && mount -t tmpfs -o size=2m tmpfs pub && cp -a dist pub/dist
    head -c 4000000 /dev/zero > pub/filler 2>/dev/null || true  # until the disk is full
    before=$(hash_tree pub/dist)
    code=0; "$PY" -m racecal build --out pub/dist --time {LATER_TIME} 2>err >/dev/null || code=$?
    echo "exit $code"; [ "$before" = "$(hash_tree pub/dist)" ] && echo same; ls -a pub
    cat err >&2
    """
    done = in_namespace(built, script)
    assert done.stdout == "exit 1\nsame\n.\n..\n.dist.lock\ndist\nfiller\n", done.stdout + done.stderr
    assert re.fullmatch(
        r"error: cannot write pub/\.dist\.new-\d+(/\S+)?: No space left on device; pub/dist was left as it was\n", done.stderr
    ), done.stderr


# --- diff and a concurrent publish -----------------------------------------------------------------------


def test_diff_during_publish_reads_a_consistent_snapshot(built: Project) -> None:
    """diff waits for the build's lock, so it never reads index.json of one build and feeds of another."""
    from filelock import FileLock

    published = built.tree()
    lock = FileLock(str(built.root / ".dist.lock"))
    lock.acquire(timeout=5)
    try:
        # Half-way through a (simulated) publish: a feed already new, index.json still old.
        (built.dist / PLAN_ID / "confirmed.ics").write_bytes(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
        errors = built.root / "diff.err"
        with errors.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "racecal", "diff", "--time", LATER_TIME], cwd=built.root, stdout=subprocess.PIPE, stderr=err, text=True,
                env={**os.environ, "PYTHONPATH": str(REPO / "src")},
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while "waiting" not in errors.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, errors.read_text()
        for name, data in published.items():  # the publish completes
            (built.dist / name).write_bytes(data)
    finally:
        lock.release()
    out, _ = proc.communicate(timeout=60)
    assert (proc.returncode, out) == (0, "No changes.\n")
    assert errors.read_text() == "another racecal build or diff is using dist; waiting up to 60 s for it to finish\n"


def assert_build_refused(built: Project, error: str, *extra: str) -> None:
    """A build of an edited plan stops with ``error`` as its last line, and dist/ stays as it was."""
    built.edit("status: tentative", "status: confirmed")
    before = built.tree()
    build = built.run("build", "--time", LATER_TIME, *extra)
    assert (build.exit_code, build.stderr.splitlines()[-1]) == (1, f"error: {error}"), build.output
    assert built.tree() == before


def test_a_stream_of_overlapping_diffs_does_not_keep_a_build_out(built: Project) -> None:
    """Regression (independent tester): diffs held the lock shared, so diffs that overlapped one
    another kept a waiting build out until it gave up. A diff now holds it alone: while one holds
    it, another diff waits too, and the build gets its turn between them."""
    import fcntl

    fd = os.open(built.root / ".dist.lock", os.O_RDONLY | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what a diff in progress holds
        diff = built.run("diff", "--time", LATER_TIME, "--wait", "0.1")
        assert (diff.exit_code, diff.stderr.splitlines()[-1]) == (
            1,
            "error: gave up after 0.1 s: another racecal build or diff still holds .dist.lock",
        )
        assert_build_refused(built, "gave up after 0.1 s: another racecal build or diff still holds .dist.lock", "--wait", "0.1")
    finally:
        os.close(fd)
    assert built.run("build", "--time", LATER_TIME, "-q").exit_code == 0


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "-inf", "1e400", "86401"])
@pytest.mark.parametrize("command", ["build", "diff"])
def test_wait_that_is_not_a_number_of_seconds_is_a_usage_error(built: Project, command: str, value: str) -> None:
    """Regression (independent tester): --wait -1 gave up at once, saying another build held the
    lock; nan and inf crashed the lock loop with a traceback."""
    result = built.run(command, "--time", LATER_TIME, f"--wait={value}")
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--wait'" in result.stderr and "Traceback" not in result.output


@pytest.mark.parametrize("planted", ["directory", "fifo", "socket"])
def test_a_lock_file_that_is_not_a_regular_file_is_refused(built: Project, planted: str) -> None:
    import socket

    lock = built.root / ".dist.lock"
    lock.unlink()
    held = None
    if planted == "directory":
        lock.mkdir()
    elif planted == "fifo":
        os.mkfifo(lock)
    else:
        held = socket.socket(socket.AF_UNIX)
        held.bind(str(lock))
    try:
        built.edit("status: tentative", "status: confirmed")
        before = built.tree()
        for command in ("build", "diff"):
            result = built.run(command, "--time", LATER_TIME)
            assert (result.exit_code, result.stderr.splitlines()[-1]) == (
                1,
                "error: cannot use .dist.lock as the lock: it is not a regular file (remove it); dist was left as it was",
            ), result.output
        assert built.tree() == before
    finally:
        if held is not None:
            held.close()


@pytest.mark.parametrize("replaced", ["deleted", "symlink"])
def test_a_lock_file_replaced_during_a_build_is_not_touched_by_name(
    built: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, replaced: str
) -> None:  # fmt: skip
    """Regression (independent tester): the build stamped the lock file by its name at the end, so a
    lock file deleted meanwhile crashed it after publishing, and one replaced by a symlink had the
    link's target (outside the project) stamped."""
    from racecal.publish import BuildLock

    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("not racecal's")
    os.utime(elsewhere, (1e9, 1e9))
    real_now = BuildLock.filesystem_now

    def replaced_just_before(lock: BuildLock) -> int:  # the stamp is the last thing the build takes from it
        path = built.root / ".dist.lock"
        path.unlink()
        if replaced == "symlink":
            path.symlink_to(elsewhere)
        return real_now(lock)

    monkeypatch.setattr(BuildLock, "filesystem_now", replaced_just_before)
    built.edit("status: tentative", "status: confirmed")
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 0, result.output
    assert os.stat(elsewhere).st_mtime == 1e9
    assert json.loads((built.dist / PLAN_ID / "state.json").read_text())["races"], "published"


def test_diff_after_a_build_stopped_between_its_two_renames_says_so(built: Project) -> None:
    """Regression (independent tester): where the filesystem has no atomic exchange, a build killed
    between renaming dist away and the new site in leaves no dist; diff took no lock and reported
    every race as added. It now says what happened, and the next build puts the site back."""
    before = built.tree()
    built.dist.rename(built.root / ".dist.old-4242")
    diff = built.run("diff", "--time", LATER_TIME, "--exit-code")
    assert (diff.exit_code, diff.stderr.splitlines()[-1]) == (
        2,
        "error: dist is missing: a build was stopped while it swapped in a new site; run racecal build to put it back",
    ), diff.output
    built.build(time=LATER_TIME)
    assert built.tree() == before and not list(built.root.glob(".dist.old-*"))


def test_where_a_lock_cannot_be_taken_a_diff_reads_without_it_and_a_build_stops(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """On NFS, flock becomes a POSIX lock, which an exclusive lock cannot take through a read-only
    descriptor (EBADF): a diff (which may have opened the lock file read-only) reads without the
    lock, as in a read-only checkout; a build never publishes without it."""
    import errno

    from racecal import publish

    def refused(fd: int, operation: int) -> None:
        raise OSError(errno.EBADF, "Bad file descriptor")

    monkeypatch.setattr(publish.fcntl, "flock", refused)
    diff = built.run("diff", "--time", LATER_TIME)
    assert (diff.exit_code, diff.stdout) == (0, "No changes.\n"), diff.output
    assert_build_refused(built, "cannot lock .dist.lock: Bad file descriptor; dist was left as it was")


def dying_worker(source: object) -> None:
    os._exit(9)  # as a worker the OOM killer ends


def test_a_worker_that_dies_fails_the_build_with_a_message_and_publishes_nothing(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (independent tester): a worker killed during a -j 2 build ended it with a
    BrokenProcessPool traceback."""
    from racecal import build

    write_big_corpus(built.schedules, 4)
    monkeypatch.setattr(build, "PARALLEL_MIN_PLANS", 2)
    monkeypatch.setattr(build, "_compile_in_worker", dying_worker)
    before = built.tree()
    result = built.run("build", "--time", LATER_TIME, "-j", "2")
    assert (result.exit_code, result.stderr.splitlines()[-1]) == (
        1,
        "error: a worker process died (killed, or out of memory); nothing was published (-j 1 builds in one process)",
    ), result.output
    assert built.tree() == before
    assert [p.name for p in built.root.iterdir() if p.name.startswith(".dist.") and p.name != ".dist.lock"] == []


def test_a_symlink_planted_as_the_lock_file_is_not_followed(built: Project, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not racecal's")
    (built.root / ".dist.lock").unlink()
    (built.root / ".dist.lock").symlink_to(elsewhere)
    assert_build_refused(built, "cannot use .dist.lock as the lock: it is a symbolic link (remove it); dist was left as it was")
    assert elsewhere.read_bytes() == b"not racecal's"


# --- a --previous server that drips ---------------------------------------------------------------------


def test_dripping_previous_server_is_bounded(built: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import threading

    from racecal import remote

    monkeypatch.setattr(remote, "URL_DEADLINE_SECONDS", 1.5)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
                if stop.wait(0.2):  # one byte every 0.2 s: each read is quick, the whole never ends
                    return
                conn.sendall(bytes([byte]))

    threading.Thread(target=drip, daemon=True).start()
    before = built.tree()
    started = time.monotonic()
    try:
        result = built.run("build", "--previous", f"http://127.0.0.1:{port}", "--time", LATER_TIME)
    finally:
        stop.set()
        listener.close()
    elapsed = time.monotonic() - started
    assert result.exit_code == 1
    assert result.stderr == f"error: http://127.0.0.1:{port}/index.json: no complete answer within 1.5 s; giving up\n"
    assert 1.5 <= elapsed < 8, elapsed
    assert built.tree() == before


def add_widget(directory: Path) -> dict[str, bytes]:
    """A web app beside the site, with its own index.html and a state.json racecal did not write."""
    files = {"widget/index.html": b"<p>widget</p>\n", "widget/state.json": b'{"counter":41}', "widget/app.js": b"count()\n"}
    for name, data in files.items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(data)
    return files


@pytest.mark.parametrize("fresh", [False, True], ids=["build", "fresh"])
def test_slug_directory_with_a_state_json_lost_its_files(built: Project, fresh: bool) -> None:
    widget = add_widget(built.dist)
    built.edit("status: tentative", "status: confirmed")
    built.build(*(["--fresh"] if fresh else []), time=LATER_TIME)
    after = built.tree()
    assert {name: data for name, data in after.items() if name.startswith("widget/")} == widget


def test_fresh_over_a_lost_index_replaces_only_real_plan_directories(built: Project) -> None:
    """Without index.json, a directory counts as a plan's only when its state.json is a racecal state for it."""
    widget = add_widget(built.dist)
    (built.dist / "other-plan").mkdir()
    (built.dist / "other-plan" / "state.json").write_text('{"format": 2, "plan": "jakob-ingebrigtsen-2024", "races": {}}')
    (built.dist / "index.json").unlink()
    (built.dist / PLAN_ID / "confirmed.ics").write_bytes(b"damaged")
    built.build("--fresh", time=LATER_TIME)
    after = built.tree()
    assert {name: data for name, data in after.items() if name.startswith("widget/")} == widget
    assert after["other-plan/state.json"] == b'{"format": 2, "plan": "jakob-ingebrigtsen-2024", "races": {}}'  # names another plan
    assert after[f"{PLAN_ID}/confirmed.ics"].startswith(b"BEGIN:VCALENDAR")
    assert "index.json" in after


GIT_OWN = "refusing to publish into git's own files"


@pytest.mark.parametrize(
    ("out", "message"),
    [
        (".git", f"'.git' is or lies inside a .git directory; {GIT_OWN}. {KEEP_APART}"),
        (".git/refs", f"'.git/refs' is or lies inside a .git directory; {GIT_OWN}. {KEEP_APART}"),
        (".git/objects", f"'.git/objects' is or lies inside a .git directory; {GIT_OWN}. {KEEP_APART}"),
        (".git/site", f"'.git/site' is or lies inside a .git directory; {GIT_OWN}. {KEEP_APART}"),
        ("bare.git", "'bare.git' is a git directory (it has HEAD, objects and refs); " f"{GIT_OWN}. {KEEP_APART}"),
        ("bare.git/site", "'bare.git/site' lies inside the bare git repository '{root}/bare.git'; " f"{GIT_OWN}. {KEEP_APART}"),
        ("gitlink", "'gitlink' (which is '{root}/.git') is or lies inside a .git directory; " f"{GIT_OWN}. {KEEP_APART}"),
    ],
    ids=["dot-git", "refs", "objects", "inside-dot-git", "bare", "inside-bare", "symlink-to-dot-git"],
)  # fmt: skip
def test_out_git_directory_wrote_the_site_into_git(built: Project, out: str, message: str) -> None:
    git = ["git", "-c", "init.defaultBranch=main", "init", "-q"]
    subprocess.run([*git, str(built.root)], check=True)
    subprocess.run([*git, "--bare", str(built.root / "bare.git")], check=True)
    (built.root / "gitlink").symlink_to(".git")
    before = {str(p): p.read_bytes() for p in sorted(built.root.rglob("*")) if p.is_file()}
    for fresh in ([], ["--fresh"]):
        result = built.run("build", "--out", out, "--time", LATER_TIME, *fresh)
        assert result.exit_code == 2
        assert result.stderr.endswith(f"Error: Invalid value for '--out': {message.format(root=built.root)}\n"), result.stderr
    assert {str(p): p.read_bytes() for p in sorted(built.root.rglob("*")) if p.is_file()} == before


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (d / "CNAME").write_text("races.example.org\n"), None),
        (lambda d: [(d / ".well-known").mkdir(), (d / ".well-known" / "security.txt").write_text("Contact: x\n")], None),
        (lambda d: [(d / "CNAME").write_text("x\n"), (d / "index.html").write_text("<p>old site</p>\n")],
         "dist: has no index.json but holds index.html, which a build would replace, so it is not a racecal build (or its index.json was lost); "
         "move them away or choose another --out, or pass --fresh to replace them (files racecal did not write are kept)"),
        (lambda d: [(d / PLAN_ID).mkdir(), (d / PLAN_ID / "state.json").write_text(f'{{"format": 2, "plan": "{PLAN_ID}", "races": {{}}}}')],
         f"dist: has no index.json but holds {PLAN_ID}, which a build would replace, so it is not a racecal build (or its index.json was lost); "
         "move them away or choose another --out, or pass --fresh to replace them (files racecal did not write are kept)"),
    ],
    ids=["cname", "well-known", "old-index-html", "plan-directory"],
)  # fmt: skip
def test_first_build_into_a_web_root_with_only_a_cname_was_refused(project: Project, setup, message: str | None) -> None:  # type: ignore[no-untyped-def]
    project.dist.mkdir()
    setup(project.dist)
    before = project.tree()
    result = project.run("build", "--time", LATER_TIME)
    if message is not None:
        assert (result.exit_code, result.stderr) == (1, f"error: {message}\n")
        assert project.tree() == before
        return
    assert result.exit_code == 0
    assert [line for line in result.stderr.splitlines() if not line.startswith("note: no base URL set")] == []  # said nothing of the CNAME
    after = project.tree()
    assert {name: after[name] for name in before} == before
    assert {name.split("/")[0] for name in set(after) - set(before)} >= {"index.json", "index.html", PLAN_ID}


def namespaces_available() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_out_on_a_mount_point_failed_with_device_busy(project: Project) -> None:
    if not namespaces_available():
        pytest.skip("needs unshare -rm (user and mount namespaces) to mount a tmpfs as an unprivileged user")
    project.dist.mkdir()
    (project.dist / "under-the-mount").write_text("hidden by the mount\n")
    # In a private mount namespace: dist/ becomes a tmpfs mount point, then racecal builds into it.
    script = 'mount -t tmpfs tmpfs dist && "$@"; status=$?; ls -A dist; exit $status'
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, "sh", sys.executable, "-m", "racecal", "build", "--time", LATER_TIME, "-q"],
        cwd=project.root, capture_output=True, text=True, timeout=60, check=False, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")  # and the mount was left empty (ls printed nothing)
    assert done.stderr.endswith(
        "error: cannot swap the new site into dist: it is a mount point (or on another filesystem than the directory beside it), "
        "and racecal publishes by renaming a whole directory; publish into a directory inside the mount (--out dist/site) "
        "or make --out a symbolic link to such a directory; dist was left as it was\n"
    ), done.stderr
    assert sorted(p.name for p in project.root.iterdir()) == [".dist.lock", "dist", "schedules"]  # no staging left behind
    assert [p.name for p in project.dist.iterdir()] == ["under-the-mount"]


@pytest.mark.parametrize(("code", "scheme"), [*((code, "ftp") for code in (301, 302, 303, 307, 308)), (302, "FTP"), (302, "file")])
def test_previous_followed_a_redirect_to_ftp(built: Project, code: int, scheme: str) -> None:
    import http.server
    import socket
    import threading

    trap = socket.create_server(("127.0.0.1", 0))  # where the ftp:// redirect points; nothing may connect
    trap.settimeout(0.2)
    target = f"{scheme}://127.0.0.1:{trap.getsockname()[1]}/index.json" if scheme != "file" else "file:///etc/passwd"

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(code)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    before = built.tree()
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = built.run("build", "--previous", origin, "--time", LATER_TIME)
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(TimeoutError):
        trap.accept()
    trap.close()
    assert (result.exit_code, result.stderr) == (
        1,
        f"error: {origin}/index.json: redirected to {target!r}, which is not an http(s) address; "
        "racecal follows redirects only to http(s)\n",
    )
    assert built.tree() == before


def test_previous_still_follows_a_redirect_to_https_or_http(built: Project) -> None:
    import http.server
    import threading

    from conftest import serving

    with serving(built.dist) as site:

        class Redirect(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(301)
                self.send_header("Location", f"{site}{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        built.edit("status: tentative", "status: confirmed")
        try:
            result = built.run("build", "--previous", f"http://127.0.0.1:{server.server_address[1]}", "--time", LATER_TIME)
        finally:
            server.shutdown()
            server.server_close()
    assert result.exit_code == 0, result.output
    assert "promoted   Monaco Diamond League (Herculis), 12 July: confirmed" in result.stdout  # diffed against the redirected site


# --- the spare: the site before the published one, where the next build starts ------------------------


def federation(root: Path) -> Project:
    shutil.copytree(FEDERATION, root)
    return Project(root)


def test_a_build_from_the_spare_never_writes_into_a_file_the_published_site_shares(tmp_path: Path) -> None:
    """The spare shares every file the last build did not change with the published site (one inode,
    two names). A build that then changes such a file must replace it in the spare, not write into
    it: written in place, the published site (and anyone reading it) would change before the swap."""
    site = federation(tmp_path / "site")
    site.build()
    site.edit("status: tentative", "status: confirmed", site.schedules / "ada-fjell-2027.yaml")
    site.build(time=LATER_TIME)  # the first site becomes the spare
    spare = site.root / ".dist.spare"
    published = site.dist / "erik-stav-2027" / "all.ics"
    assert (spare / "erik-stav-2027" / "all.ics").stat().st_ino == published.stat().st_ino, "erik's plan did not change"
    watcher = tmp_path / "watcher.ics"  # a reader holding the published file
    os.link(published, watcher)
    before = watcher.read_bytes()
    site.edit("status: tentative", "status: confirmed", site.schedules / "erik-stav-2027.yaml")
    site.build(time="2024-04-11T12:00:00Z")
    assert watcher.read_bytes() == before
    assert published.read_bytes() != before
    assert b"STATUS:CONFIRMED" in published.read_bytes()


def twin_builds(
    tmp_path: Path, steps: list[tuple[str, str, str]], between: Callable[[Project], None] | None = None
) -> tuple[Project, Project]:
    """The federation built through ``steps`` (file, old, new) twice: ``spared`` keeps its spare,
    ``bare`` has it removed before every build (so it links into an empty directory)."""
    spared, bare = federation(tmp_path / "spared"), federation(tmp_path / "bare")
    for n, (file, old, new) in enumerate([("", "", ""), *steps]):
        when = f"2024-03-{20 + n:02d}T12:00:00Z"
        for project in (spared, bare):
            if file:
                project.edit(old, new, project.root / file)
            if project is spared and between is not None and n == len(steps):
                between(project)
            if project is bare:
                shutil.rmtree(project.root / ".dist.spare", ignore_errors=True)
            project.build(time=when)
    return spared, bare


STEPS = [
    ("schedules/ada-fjell-2027.yaml", "status: tentative", "status: confirmed"),
    ("schedules/erik-stav-2027.yaml", "status: tentative", "status: confirmed"),
    ("racecal.yaml", "series_calendars: true", "series_calendars: false"),  # calendars removed: their folders go
    ("schedules/tomas-berg-2027.yaml", "country: Nordvik", "country: Solmark"),
]


def test_a_build_from_the_spare_gives_the_site_a_build_into_an_empty_directory_gives(tmp_path: Path) -> None:
    spared, bare = twin_builds(tmp_path, STEPS)
    assert (spared.root / ".dist.spare" / "index.html").is_file()
    assert spared.tree() == bare.tree()
    assert not [p for p in spared.dist.rglob("*") if p.is_symlink()]


def test_a_spare_tampered_with_is_not_written_through_and_the_site_is_as_it_should_be(tmp_path: Path) -> None:
    """Whatever the spare holds, a build writes only inside its own new site: a plan folder there
    replaced by a symlink to someone's directory, a feed by a symlink to someone's file, a stray
    directory where a feed goes, and a file nobody published."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "all.ics").write_bytes(b"not racecal's\n")
    (victim / "secret.txt").write_bytes(b"private\n")

    def tamper(project: Project) -> None:
        spare = project.root / ".dist.spare"
        shutil.rmtree(spare / "erik-stav-2027")
        (spare / "erik-stav-2027").symlink_to(victim)
        (spare / "ada-fjell-2027" / "all.ics").unlink()
        (spare / "ada-fjell-2027" / "all.ics").symlink_to(victim / "secret.txt")
        (spare / "ada-fjell-2027" / "confirmed.ics").unlink()
        (spare / "ada-fjell-2027" / "confirmed.ics").mkdir()
        (spare / "stray.html").write_text("<p>not published</p>")

    spared, bare = twin_builds(tmp_path, STEPS[:2], between=tamper)
    assert sorted(p.name for p in victim.iterdir()) == ["all.ics", "secret.txt"]
    assert (victim / "all.ics").read_bytes() == b"not racecal's\n" and (victim / "secret.txt").read_bytes() == b"private\n"
    assert spared.tree() == bare.tree()
    assert not [p for p in spared.dist.rglob("*") if p.is_symlink()]


def test_a_directory_of_the_spares_name_that_is_not_racecals_is_left_as_it_is(built: Project) -> None:
    theirs = built.root / ".dist.spare"
    (theirs / "notes").mkdir(parents=True)
    (theirs / "notes" / "plan.txt").write_text("mine\n")
    for n, (old, new) in enumerate([("status: tentative", "status: confirmed"), ("status: confirmed", "status: tentative")]):
        built.edit(old, new)
        built.build(time=f"2024-04-{11 + n}T12:00:00Z")
    assert sorted(str(p.relative_to(theirs)) for p in theirs.rglob("*")) == ["notes", "notes/plan.txt"]
    assert (theirs / "notes" / "plan.txt").read_text() == "mine\n"
    assert not list(built.root.glob(".dist.*-*"))


def test_the_spare_holds_no_foreign_files_survives_failed_and_unchanged_builds_and_git_ignores_it(built: Project) -> None:
    foreign = add_foreign_files(built.dist)
    built.edit("status: tentative", "status: confirmed")
    built.build(time=LATER_TIME)
    spare = built.root / ".dist.spare"
    assert spare.is_dir()
    names = {str(p.relative_to(spare)) for p in spare.rglob("*")}
    assert not {name for name in foreign if name in names}, "the user's files are in the published site only"
    assert (built.dist / "CNAME").read_bytes() == foreign["CNAME"]

    built.build(time="2024-04-11T12:00:00Z")  # unchanged: the spare is put back as it was
    built.plan_file.write_text(built.plan_file.read_text() + "races: [\n")  # broken: the build is refused
    assert built.run("build", "--time", "2024-04-11T13:00:00Z").exit_code == 1
    assert {str(p.relative_to(spare)) for p in spare.rglob("*")} == names

    need(shutil.which("git") is not None, "git")
    subprocess.run(["git", "init", "-q", str(built.root)], check=True)
    listed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"], cwd=built.root, capture_output=True, text=True, check=True
    ).stdout
    assert "schedules/" in listed and ".dist.spare" not in listed
