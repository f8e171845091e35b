"""A previous build is untrusted input: forged, tampered-with or absurd fields never reach a feed or a page.

Forged files get their hash updated in index.json (locally) or are served as they are (remotely, where
nothing is hash-checked), so the field validation itself is what is tested.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

import racecal.cli
from conftest import EXAMPLE, FEDERATION, LATER_TIME, PLAN_ID, Project, serving

STATE = f"{PLAN_ID}/state.json"


def forge_state(dist: Path, edit: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    path = dist / STATE
    state = json.loads(path.read_text())
    edit(state)
    data = (json.dumps(state, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
    path.write_bytes(data)
    index_path = dist / "index.json"
    index = json.loads(index_path.read_text())
    index["plans"][0]["files"]["state.json"] = hashlib.sha256(data).hexdigest()
    index_path.write_text(json.dumps(index))


def set_race(field: str, value: object, race: str = "bislett") -> Callable[[dict], None]:  # type: ignore[type-arg]
    def edit(state: dict) -> None:  # type: ignore[type-arg]
        state["races"][race]["snapshot"][field] = value

    return edit


INJECTIONS = [
    ("name-crlf-attach", set_race("name", "Bislett\r\nATTACH:https://evil.example/payload.exe"),
     "races.bislett.snapshot.name: must be a single line"),
    ("url-javascript", set_race("url", "javascript:alert(1)"),
     "races.bislett.snapshot.url: only http:// and https:// URLs are allowed, got 'javascript:alert(1)'"),
    ("timezone-bogus", set_race("timezone", "Mars/Olympus"), "races.bislett.snapshot.timezone: unknown timezone 'Mars/Olympus'"),
    ("venue-control", set_race("venue", {"name": "A\x1b[31mB"}), "races.bislett.snapshot.venue.name: contains the control character U+001B"),
    ("unknown-key", set_race("attach", "https://evil.example/x"), "races.bislett.snapshot.attach: unknown key"),
    ("seq-million", lambda s: s["races"]["bislett"].update(seq=1_000_000), "races.bislett.seq: must be between 0 and 10000, got 1000000"),
    ("foreign-uid", lambda s: s["races"]["bislett"]["published"]["all"].update({"eugene.other-plan-2024.all@racecal": None}),
     "races.bislett.published.all.'eugene.other-plan-2024.all@racecal': not a UID of race 'bislett' in this feed"),
    ("race-id-path", lambda s: s["races"].update({"../x": s["races"]["bislett"]}), "races.'../x': race ids are lowercase letters"),
    # Found by fuzzing a field path: "$" in the id patterns let one trailing newline through, so a
    # published UID's session part could end a content line and start an injected one.
    ("uid-session-newline", lambda s: s["races"]["bislett"]["published"]["all"].update({"bislett.s\n.jakob-ingebrigtsen-2024.all@racecal": "20240301T000000Z"}),
     "not a UID of race 'bislett' in this feed"),
    ("race-id-newline", lambda s: s["floors"].update({"x\n": 3}), "race ids are lowercase letters"),
    ("deep-nesting", set_race("note", json.loads("[" * 900 + "]" * 900)), "nesting is too deep"),
    ("change-type", lambda s: s["changes"][0].update(type="<script>"), "changes[0].type: unknown change type '<script>'"),
    ("name-rlo", set_race("name", "Bislett \u202edemrifnoC"), "races.bislett.snapshot.name: contains"),
    ("summary-fffe", lambda s: s["changes"][0].update(summary="ok \ufffe"), "changes[0].summary: contains"),
    ("stamp-year-9999", lambda s: s["races"]["bislett"].update(stamp="99991231T000000Z"), "races.bislett.stamp: year 9999 is outside 1970–2100"),
]  # fmt: skip


@pytest.mark.parametrize(("damage", "message"), [(d, m) for _, d, m in INJECTIONS], ids=[i for i, _, _ in INJECTIONS])
def test_forged_local_state_cannot_inject_into_feeds(built: Project, damage: Callable[[dict], None], message: str) -> None:  # type: ignore[type-arg]
    forge_state(built.dist, damage)
    before = built.tree()
    built.edit("status: tentative", "status: confirmed")  # so the plan is rebuilt from its state
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert built.tree() == before  # nothing published


def test_tampered_remote_state_cannot_inject_attach(built: Project, tmp_path: Path) -> None:
    """Regression: a remote state.json (never hash-checked) put ATTACH:https://evil.example/payload.exe into fresh feeds."""
    site = tmp_path / "live"
    shutil.copytree(built.dist, site)
    forge_state(site, set_race("name", "Bislett\r\nATTACH:https://evil.example/payload.exe"))
    clean = Project(tmp_path / "clean")
    shutil.copytree(built.schedules, clean.schedules)
    clean.edit("status: tentative", "status: confirmed")
    with serving(site) as url:
        result = clean.run("build", "--previous", url, "--time", LATER_TIME)
    assert result.exit_code == 1
    assert f"error: {url}/{STATE}: races.bislett.snapshot.name: must be a single line" in result.stderr
    assert not clean.dist.exists()


def test_html_in_index_json_reaches_the_landing_page_escaped(built: Project) -> None:
    """Regression: an <img onerror=…> put into dist/index.json reached dist/index.html unescaped."""
    index_path = built.dist / "index.json"
    index = json.loads(index_path.read_text())
    index["plans"][0]["athlete"] = "<img src=x onerror=alert(1)>"
    index_path.write_text(json.dumps(index))
    # Another plan joins, so the landing page is rewritten while this one is reused with its entry.
    other = built.plan_file.read_text().replace("slug: jakob-ingebrigtsen", "slug: another-runner")
    (built.schedules / "another-runner-2024.yaml").write_text(other)
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 0, result.output
    assert "1 reused as they were" in result.output
    html = (built.dist / "index.html").read_text()
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda i: i["plans"][0].update(season=int("9" * 5000)), "dist/index.json: not valid JSON (Exceeds the limit (4300 digits)"),
        (
            lambda i: i["plans"][0].update(latest="20990101T000000Z"),
            "dist/index.json: jakob-ingebrigtsen-2024: latest: 20990101T000000Z is later than the publication time 20240410T080000Z",
        ),
        (
            lambda i: i["plans"][0]["counts"].update(confirmed="<b>5</b>"),
            "dist/index.json: plans[0].counts.confirmed: expected a whole number, got '<b>5</b>'",
        ),
        (lambda i: i.update(retired={"x": {"../y": 3}}), "dist/index.json: retired.x.'../y': expected lowercase letters"),
        (lambda i: i["plans"][0].update(at={"bislett": "<img>"}), "dist/index.json: plans[0].at.bislett: expected 32 hex digits"),
        (lambda i: i["plans"][0].update(at={"../x": "0" * 32}), "dist/index.json: plans[0].at.'../x': meet ids are lowercase"),
    ],
    ids=["4301-digit-integer", "latest-from-the-future", "counts-html", "retired-bad-race-id", "at-not-a-digest", "at-bad-meet-id"],
)
def test_malformed_index_is_refused_without_a_traceback(built: Project, edit: Callable[[dict], None], message: str) -> None:  # type: ignore[type-arg]
    index_path = built.dist / "index.json"
    index = json.loads(index_path.read_text())
    try:
        edit(index)
        text = json.dumps(index)
    except ValueError:  # Python refuses to print the 5,000-digit integer itself: write it by hand
        text = index_path.read_text().replace('"season":2024', '"season":' + "9" * 5000)
    index_path.write_text(text)
    before = built.tree()
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1, result.output
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.output
    assert built.tree() == before


def test_a_tampered_live_site_does_not_persist_and_diff_fetches_only_the_index(built: Project, tmp_path: Path) -> None:
    """Regression: a plan reused from a live site copied its files, so a forged feed or page (hashes
    rewritten in index.json) went on into every new build. Bytes from a live site are never reused."""
    import http.server
    import threading

    site = tmp_path / "live"
    shutil.copytree(built.dist, site)
    index_path = site / "index.json"
    feed = site / PLAN_ID / "all.ics"
    forged = feed.read_bytes().replace(b"END:VEVENT\r\n", b"ATTACH:https://evil.example/payload.exe\r\nEND:VEVENT\r\n", 1)
    feed.write_bytes(forged)
    index = json.loads(index_path.read_text())
    index["plans"][0]["files"]["all.ics"] = hashlib.sha256(forged).hexdigest()
    index_path.write_text(json.dumps(index))
    requested: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(site), **kwargs)

        def log_message(self, *args: object) -> None:
            requested.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        clean = Project(tmp_path / "clean")
        shutil.copytree(built.schedules, clean.schedules)
        diff = clean.run("diff", "--previous", url, "--time", LATER_TIME)
        assert diff.exit_code == 0 and diff.stdout == "No changes.\n", diff.output
        assert requested == ["/index.json"]  # an unchanged plan needs nothing more to compare
        result = clean.run("build", "--previous", url, "--time", LATER_TIME)
        assert result.exit_code == 0, result.output
        assert "0 reused as they were; no changes" in result.output
        assert b"ATTACH" not in clean.feed("all")
        assert clean.tree() == built.tree()  # compiled again from the plan and the validated state
        # The state it reads must be the one the index vouches for.
        (site / PLAN_ID / "state.json").write_text("{}")
        shutil.rmtree(clean.dist)
        result = clean.run("build", "--previous", url, "--time", LATER_TIME)
        assert result.exit_code == 1
        assert result.stderr == (
            f"error: {url}/{PLAN_ID}/state.json: changed since it was published; "
            "restore it (it is rebuilt from the plans anyway) or pass --fresh to start the history over\n"
        )
        assert not clean.dist.exists()
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("record", [True, False], ids=["with-record", "without-record"])
@pytest.mark.parametrize("edited", [True, False], ids=["plan-edited", "plan-unchanged"])
def test_a_plan_folder_replaced_by_a_symlink_in_dist_is_refused(built: Project, tmp_path: Path, record: bool, edited: bool) -> None:
    """Regression (independent tester): a plan's folder in dist/ replaced by a link to a folder
    outside it was read through (and the record's checks passed through it), while a linked file in
    it was refused. A linked folder is refused the same way, by build and diff, and nothing changes."""
    if record:
        built.build(time=LATER_TIME)  # the record vouches for every file: nothing is read, only checked
    outside = tmp_path / "outside"
    (built.dist / PLAN_ID).rename(outside)  # its files keep their identities: the record vouches for them through the link
    (built.dist / PLAN_ID).symlink_to(outside, target_is_directory=True)
    if edited:  # its state is read; else it is only checked, to be linked into the new site
        built.edit("  country: Norway\n", "  country: NOR\n")
    before = {p.name: p.read_bytes() for p in outside.iterdir()}
    for command in ("build", "diff"):
        result = built.run(command, "--time", LATER_TIME)
        assert result.exit_code == 1, result.output
        assert f"dist/{PLAN_ID}: is a symbolic link, which racecal never publishes" in result.output, result.output
    assert (built.dist / PLAN_ID).is_symlink() and {p.name: p.read_bytes() for p in outside.iterdir()} == before


def upcoming_ends(page: Path) -> list[str]:
    """The last days of the races a page lists as upcoming (its markup read as text, not by racecal)."""
    html = page.read_text()
    start = html.index('id="upcoming-list"')
    section = html[start : html.index('id="past"', start)]
    return re.findall(r'data-end="([0-9-]+)"', section)


@pytest.mark.parametrize("example", ["ingebrigtsen", "federation"])
def test_a_page_reused_after_its_first_upcoming_race_ended_is_rendered_again_as_a_build_by_url_renders_it(
    tmp_path: Path, example: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (independent tester): a plan's page splits its races into upcoming and past as of
    the build time's date, but the date did not decide whether a plan was reused. A local build a
    month later reused every page with last month's split ("unchanged"), while a build by URL
    rendered every page again: different bytes (pages, state.json, index.json) for the same inputs."""
    monkeypatch.setattr(racecal.cli, "_wall_clock", lambda: datetime(2027, 12, 31, tzinfo=UTC))  # --time may not be in the future
    local = Project(tmp_path / "local")
    if example == "federation":
        shutil.copytree(FEDERATION, local.root)
        first, later = "2027-01-10T12:00:00Z", "2027-07-01T12:00:00Z"
    else:
        shutil.copytree(EXAMPLE, local.schedules)
        first, later = "2024-03-27T12:00:00Z", "2024-06-20T12:00:00Z"
    local.build(time=first)
    local.build(time=later)  # nothing edited: only the date moved
    pages = sorted(local.dist.glob("*/index.html"))
    moved = [p for p in pages if any(end < later[:10] for end in upcoming_ends(p))]
    assert not moved, f"pages still listing as upcoming races that ended before {later[:10]}: {moved}"
    published = tmp_path / "published"
    shutil.copytree(local.dist, published)
    by_url = Project(tmp_path / "by-url")
    shutil.copytree(local.root, by_url.root, ignore=shutil.ignore_patterns("dist", ".dist.*"))
    with serving(published) as url:
        result = by_url.run("build", "--previous", url, "--time", later)
    assert result.exit_code == 0, result.output
    assert by_url.tree() == local.tree()
