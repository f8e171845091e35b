"""`racecal serve --watch`: a live preview that follows edits, shows problems instead of a stale
site, and never writes the published build. Checked over HTTP against a real server process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import PLAN_ID, REPO, Project


def start_preview(root: Path, *args: str, **env: str) -> tuple[subprocess.Popen[str], str]:
    """`racecal serve --watch [args]` in ``root`` on a free port, and its address once it serves."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "racecal", "serve", "--watch", "--port", "0", *args], cwd=root, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src"), **env},
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if found := re.search(r"on (http://127\.0\.0\.1:\d+/)", line):
            return proc, found[1]
    proc.kill()
    raise AssertionError("serve --watch exited or did not start")


def stop_preview(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def watching(built: Project) -> Iterator[tuple[Project, str]]:
    proc, url = start_preview(built.root)
    try:
        yield built, url
    finally:
        stop_preview(proc)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        data: bytes = response.read()
        return data


def wait_for_version(url: str, after: int, touch: Path | None = None, ok: bool | None = None) -> dict[str, object]:
    """The preview's state once a rebuild after ``after`` finished (with ``ok`` as given, if given).
    ``touch`` is written again every two seconds meanwhile: an edit in the first instant can come
    before the watcher is set up. ``ok`` is for a folder move, which both watchers may see, one after
    the other: the rebuilds it causes can finish after the test has taken the next step."""
    deadline = time.monotonic() + 30
    last_touch = time.monotonic()
    while time.monotonic() < deadline:
        state: dict[str, object] = json.loads(get(url + "__racecal__/version"))
        if int(state["version"]) > after and ok in (None, state["ok"]):  # type: ignore[call-overload]
            return state
        if touch is not None and time.monotonic() - last_touch > 2:
            touch.write_bytes(touch.read_bytes())
            last_touch = time.monotonic()
        time.sleep(0.1)
    raise AssertionError(f"no rebuild{'' if ok is None else f' with ok={ok}'} within 30 s")


def wait_until(check: Callable[[], bool], touch: Path) -> None:
    """Poll ``check`` until it holds, writing ``touch`` again every two seconds; a late rebuild from an
    earlier step may finish first, so the next version alone does not say the edit is in."""
    deadline = time.monotonic() + 30
    last_touch = time.monotonic()
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("the edit was not rebuilt within 30 s")
        if time.monotonic() - last_touch > 2:
            touch.write_bytes(touch.read_bytes())
            last_touch = time.monotonic()
        time.sleep(0.1)


def test_an_edit_is_rebuilt_problems_replace_pages_and_dist_is_never_written(watching: tuple[Project, str]) -> None:
    project, url = watching
    published = project.tree()
    first = json.loads(get(url + "__racecal__/version"))
    assert first == {"version": 1, "ok": True}
    page = get(url + f"{PLAN_ID}/")
    assert b"__racecal__/version" in page  # the reload script, in the preview only
    assert b"__racecal__" not in (project.dist / PLAN_ID / "index.html").read_bytes()

    project.edit("    status: tentative\n", "    status: confirmed\n")  # Monaco promoted
    state = wait_for_version(url, 1, project.plan_file)
    assert state["ok"] is True
    confirmed = get(url + f"{PLAN_ID}/confirmed.ics").decode()
    monaco = f"UID:monaco.{PLAN_ID}.confirmed@racecal"
    assert monaco in confirmed and monaco.encode() not in project.feed("confirmed")

    project.edit(
        "    status: confirmed\n",
        "    status: maybe\n",
    )
    state = wait_for_version(url, int(state["version"]))  # type: ignore[call-overload]
    assert state["ok"] is False
    problems = get(url).decode()
    assert "unknown status &#x27;maybe&#x27;" in problems and f"schedules/{PLAN_ID}.yaml:" in problems
    assert monaco in get(url + f"{PLAN_ID}/confirmed.ics").decode()  # feeds stay as last built

    project.edit("    status: maybe\n", "    status: tentative\n")
    state = wait_for_version(url, int(state["version"]))  # type: ignore[call-overload]
    assert state["ok"] is True and b"The plans have problems" not in get(url)
    assert project.tree() == published  # the published build was only ever read


def test_sigterm_removes_the_preview_directory(built: Project, tmp_path: Path) -> None:
    """Regression (independent tester): `kill` or `timeout` (SIGTERM) left the whole preview site in
    the temporary directory; only Ctrl-C cleaned up."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc, _ = start_preview(built.root, TMPDIR=str(temp))
    try:
        assert [p.name.startswith("racecal-preview-") for p in temp.iterdir()] == [True]
    finally:
        stop_preview(proc)
    assert list(temp.iterdir()) == []


def test_template_edits_and_a_moved_schedules_folder_are_followed(built: Project) -> None:
    """Regressions (independent tester): edits to the site's own templates were not rebuilt, moving
    schedules/ away left the old site served, and the problems page's reload script came after
    </html>."""
    own = built.root / "site-templates"
    own.mkdir()
    (own / "style.css").write_text("body { color: black }\n")
    (built.root / "racecal.yaml").write_text("templates: site-templates\n")
    proc, url = start_preview(built.root)
    try:
        version = int(wait_for_version(url, 0)["version"])  # type: ignore[call-overload]
        (own / "style.css").write_text("body { color: navy } /* edited */\n")
        version = int(wait_for_version(url, version, own / "style.css")["version"])  # type: ignore[call-overload]
        assert b"/* edited */" in get(url + "style.css")
        built.schedules.rename(built.root / "elsewhere")
        state = wait_for_version(url, version, ok=False)
        page = get(url)
        assert page.index(b"__racecal__/version") < page.index(b"</body></html>") and page.endswith(b"</body></html>")
        (built.root / "elsewhere").rename(built.schedules)
        state = wait_for_version(url, int(state["version"]), ok=True)  # type: ignore[call-overload]
        built.edit("    status: tentative\n", "    status: confirmed\n")  # still followed after the move
        monaco = f"UID:monaco.{PLAN_ID}.confirmed@racecal".encode()
        wait_until(lambda: monaco in get(url + f"{PLAN_ID}/confirmed.ics"), built.plan_file)
    finally:
        stop_preview(proc)


def test_a_templates_folder_made_later_and_schedules_elsewhere_are_followed(built: Project) -> None:
    """Regressions (second independent tester): a templates folder created after the preview started
    was never watched, and schedules/ outside the settings' folder coming back was not noticed."""
    (built.root / "data").mkdir()
    built.schedules.rename(built.root / "data" / "schedules")
    schedules = built.root / "data" / "schedules"
    proc, url = start_preview(built.root, "--schedules", "data/schedules")
    try:
        version = int(wait_for_version(url, 0)["version"])  # type: ignore[call-overload]
        time.sleep(2)  # the watchers start after the first build; a move cannot be repeated to wake them like an edit
        schedules.rename(built.root / "away")
        state = wait_for_version(url, version, ok=False)
        (built.root / "away").rename(schedules)
        state = wait_for_version(url, int(state["version"]), ok=True)  # type: ignore[call-overload]
        (built.root / "racecal.yaml").write_text("templates: later\n")
        state = wait_for_version(url, int(state["version"]), ok=False)  # type: ignore[call-overload]  # no such folder yet
        (built.root / "later").mkdir()
        (built.root / "later" / "style.css").write_text("/* made later */\n")
        wait_for_version(url, int(state["version"]), built.root / "later" / "style.css", ok=True)  # type: ignore[call-overload]
        (built.root / "later" / "style.css").write_text("/* edited later */\n")
        wait_until(lambda: b"/* edited later */" in get(url + "style.css"), built.root / "later" / "style.css")
    finally:
        stop_preview(proc)


def test_a_templates_folder_with_problems_or_made_later_in_a_subfolder_is_still_followed(built: Project) -> None:
    """Regressions (third independent tester): a templates folder whose templates had a problem when
    the settings were read was dropped from the watch, so fixing the template left the problems page
    up; and one named in a subfolder before it existed was never noticed."""
    own = built.root / "tpl"
    own.mkdir()
    page = (REPO / "src" / "racecal" / "templates" / "page.html").read_text()
    (own / "page.html").write_text(page.replace("</footer>", "{{ x }</footer>"))  # does not parse
    settings = built.root / "racecal.yaml"
    settings.write_text("templates: tpl\n")
    proc, url = start_preview(built.root)
    try:
        state = wait_for_version(url, 0, ok=False)
        time.sleep(2)  # the watchers start after the first build: the fix must be seen by them, not by it
        (own / "page.html").write_text(page.replace("</footer>", "<!-- fixed --></footer>"))
        state = wait_for_version(url, int(state["version"]), own / "page.html", ok=True)  # type: ignore[call-overload]
        assert b"<!-- fixed -->" in get(url)
        (built.root / "site").mkdir()  # a folder beside the settings is noticed; one inside it was not
        settings.write_text("templates: site/later\n")
        state = wait_for_version(url, int(state["version"]), ok=False)  # type: ignore[call-overload]
        time.sleep(2)
        (built.root / "site" / "later").mkdir()
        (built.root / "site" / "later" / "style.css").write_text("/* nested, made later */\n")
        wait_until(lambda: b"/* nested, made later */" in get(url + "style.css"), built.root / "site" / "later" / "style.css")
    finally:
        stop_preview(proc)


def test_the_preview_prints_warnings_and_counts_calendars_apart_from_plans(built: Project) -> None:
    """Regression (second independent tester): the preview printed none of the warnings a build
    prints (a group nobody is in), and counted group calendars as plans."""
    settings = built.root / "racecal.yaml"
    settings.write_text("groups:\n  - {id: norway, name: Norway, country: Norway}\n")
    proc, url = start_preview(built.root)
    try:
        version = int(wait_for_version(url, 0)["version"])  # type: ignore[call-overload]
        settings.write_text("groups:\n  - {id: nobody, name: Nobody, country: Atlantis}\n  - {id: norway, name: Norway, country: Norway}\n")
        assert wait_for_version(url, version, settings)["ok"] is True
    finally:
        stop_preview(proc)
    assert proc.stdout is not None
    out = proc.stdout.read()
    assert "racecal.yaml:2:10: groups[0].id: warning: group 'nobody' matches no plan's athlete, so it has no calendar" in out, out
    assert "rebuilt: 1 plan, 1 group, meet or series calendar;" in out, out
