"""dist/ as a static site: pages in a real headless Chromium, headers from `racecal serve`, escaping."""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import PLAN_ID, REPO, Project, need, serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = REPO / "tests" / "artifacts"
BASE = "https://races.example.org/site"


@pytest.fixture
def server(built: Project) -> Iterator[str]:
    with serving(built.dist) as url:
        yield url


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, deflate", **(headers or {})})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), b""


def test_serve_sends_calendar_headers_etag_and_no_compression(server: str, built: Project) -> None:
    status, headers, body = get(f"{server}/{PLAN_ID}/confirmed.ics")
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert "Content-Encoding" not in headers
    assert body == built.feed("confirmed")
    assert headers["ETag"].startswith('"') and headers["Last-Modified"].endswith("GMT")
    again, _, _ = get(f"{server}/{PLAN_ID}/confirmed.ics", {"If-None-Match": headers["ETag"]})
    assert again == 304
    assert get(f"{server}/{PLAN_ID}/changes.atom")[1]["Content-Type"] == "application/atom+xml; charset=utf-8"
    assert get(f"{server}/index.html")[1]["Content-Type"] == "text/html; charset=utf-8"
    assert get(f"{server}/nothing.ics")[0] == 404


def test_static_host_config_files(built: Project) -> None:
    headers = (built.dist / "_headers").read_text()
    assert "/*.ics\n  Content-Type: text/calendar; charset=utf-8\n" in headers
    htaccess = (built.dist / ".htaccess").read_text()
    assert 'AddType "text/calendar; charset=utf-8" .ics' in htaccess
    assert "no-gzip" in htaccess


def test_base_url_gives_absolute_subscribe_links(project: Project) -> None:
    project.build("--base-url", BASE + "/")
    html = (project.dist / PLAN_ID / "index.html").read_text()
    feed = f"{BASE}/{PLAN_ID}/tentative.ics"
    webcal = "webcal://" + feed.split("://")[1]
    assert f'href="{webcal}"' in html
    assert f'href="https://calendar.google.com/calendar/r?cid={quote(webcal, safe="")}"' in html
    name = quote("Jakob Ingebrigtsen 2024 – tentative races", safe="")
    assert f'href="https://outlook.live.com/calendar/0/addfromweb?url={quote(feed, safe="")}&amp;name={name}"' in html
    assert f'href="https://outlook.office.com/calendar/0/addfromweb?url={quote(feed, safe="")}&amp;name={name}"' in html


def test_outlook_button_subscribes_instead_of_downloading(project: Project) -> None:
    """Regression: the Outlook button linked to the .ics itself, which imports a copy that never updates."""
    for args in ((), ("--base-url", BASE)):
        project.build("--fresh", *args)
        html = (project.dist / PLAN_ID / "index.html").read_text()
        buttons = re.findall(r'<a class="button" data-kind="(\w+)"[^>]*href="([^"]*)"', html)
        assert {kind for kind, _ in buttons} == {"apple", "google", "outlook", "office"}
        for kind, href in buttons:
            # A plain link to the file (relative, or the https address) only imports a copy.
            assert href not in {f"{BASE}/{PLAN_ID}/{feed}.ics" for feed in ("all", "confirmed", "tentative")}, (kind, href)
            assert not re.fullmatch(r"\w+\.ics", href), (kind, href)
            if kind in ("outlook", "office"):
                assert href.startswith(
                    (
                        "https://outlook.live.com/calendar/0/addfromweb?url=",
                        "https://outlook.office.com/calendar/0/addfromweb?url=",
                        "#url-",
                    )
                ), href
    assert f"URL:{BASE}/{PLAN_ID}/tentative.ics" in project.feed("tentative").decode()


def test_settings_file_and_flag(project: Project) -> None:
    (project.root / "racecal.yaml").write_text(
        f"title: Team Norway\nbase_url: {BASE}\nrefresh_hours: 12\ncolours: {{tentative: goldenrod}}\n"
    )
    project.build()
    feed = project.feed("tentative").decode()
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT12H" in feed and "COLOR:goldenrod" in feed
    assert "<title>Team Norway</title>" in (project.dist / "index.html").read_text()
    project.build("--base-url", "https://elsewhere.example.org", time="2024-04-01T00:00:00Z")
    assert "URL:https://elsewhere.example.org/" in project.feed("tentative").decode()


def test_bad_settings_are_located(project: Project) -> None:
    (project.root / "racecal.yaml").write_text("base_url: ftp://x\ncolours: {tentative: bright}\n")
    result = project.run("build")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:2] == [
        "racecal.yaml:1:11: base_url: expected an http(s) URL without query or fragment, like https://example.org/races, got 'ftp://x'",
        "racecal.yaml:2:22: colours.tentative: unknown colour 'bright'; choose one of: chocolate, crimson, darkgreen, darkorange, dimgray, firebrick, forestgreen, goldenrod, navy, orange, purple, royalblue, seagreen, slateblue, steelblue, teal",
    ]


def test_text_from_yaml_is_escaped_and_only_http_urls_become_links(project: Project) -> None:
    project.edit(
        "  - id: bislett\n    meet: bislett-games-2024\n",
        '  - id: bislett\n    meet: bislett-games-2024\n    name: "<script>alert(1)</script>"\n',
    )
    project.edit(
        "  plan-a:\n    outlet: News report quoting NRK\n",
        # A '"' or '>' in a URL is refused by check (not a URI); "'" and "&" are a URI's and are escaped.
        '  plan-a:\n    outlet: "<img src=x onerror=alert(2)>"\n    url: "https://example.org/a?b=1&c=\'x\'"\n',
    )
    project.build()
    html = (project.dist / PLAN_ID / "index.html").read_text()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert 'href="https://example.org/a?b=1&amp;c=&#x27;x&#x27;"' in html
    assert "javascript:" not in html


def chromium_available() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return os.path.exists(CHROMIUM)


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.mark.external
@pytest.mark.parametrize("base_url", [None, BASE], ids=["links-from-page-address", "links-from-base-url"])
def test_pages_in_headless_chromium(project: Project, base_url: str | None) -> None:
    need(chromium_available(), "Chromium (Debian package) with Playwright")
    from playwright.sync_api import sync_playwright

    project.build(*(["--base-url", base_url] if base_url else []))
    problems: list[str] = []
    with serving(project.dist) as origin, sync_playwright() as pw:
        feeds_at = base_url or origin
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))

        page.goto(f"{origin}/index.html")
        assert page.title() == "Race calendars"
        page.get_by_role("link", name="Jakob Ingebrigtsen: 2024").click()
        page.wait_for_load_state()
        assert page.url == f"{origin}/{PLAN_ID}/index.html"
        assert page.get_by_role("heading", level=1).inner_text() == "Jakob Ingebrigtsen: 2024 season"

        for feed in ("confirmed", "tentative", "all"):
            url = f"{feeds_at}/{PLAN_ID}/{feed}.ics"
            webcal = "webcal://" + url.split("://")[1]
            card = page.locator(f"section[aria-labelledby=feed-{feed}]")
            assert card.get_by_role("link", name="Apple Calendar").get_attribute("href") == webcal
            assert card.get_by_role("link", name="Google Calendar").get_attribute("href") == (
                "https://calendar.google.com/calendar/r?cid=" + quote(webcal, safe="")
            )
            name = quote(f"Jakob Ingebrigtsen 2024 – {feed} races", safe="")
            for host, label in (("outlook.live.com", "Outlook.com"), ("outlook.office.com", "Outlook (work or school)")):
                assert card.get_by_role("link", name=label, exact=True).get_attribute("href") == (
                    f"https://{host}/calendar/0/addfromweb?url={quote(url, safe='')}&name={name}"
                )
            assert card.get_by_label("Feed address").input_value() == url
            assert card.get_by_role("link", name="Download .ics").get_attribute("href") == f"{feed}.ics"
            card.get_by_role("button", name="Copy").click()
            assert card.get_by_role("button", name="Copied").is_visible()
            status = urllib.request.urlopen(f"{origin}/{PLAN_ID}/{feed}.ics").status
            assert status == 200

        # Past races move below "Past races" by today's date; all eight races are on the page.
        assert page.locator("li.race").count() == 8
        assert page.locator("#past-list li.race").count() == 8  # the 2024 season is over by now
        assert page.locator("li.race.tentative .badge").inner_text() == "Tentative"
        assert "Google Calendar checks subscribed calendars only every 8 to 24 hours" in page.locator("main").inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"plan-page-{'base-url' if base_url else 'relative'}.png"), full_page=True)
        browser.close()
    assert problems == []


@pytest.mark.external
def test_page_works_without_javascript(built: Project) -> None:
    need(chromium_available(), "Chromium (Debian package) with Playwright")
    from playwright.sync_api import sync_playwright

    with serving(built.dist) as origin, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{origin}/{PLAN_ID}/index.html")
        assert page.locator("li.race").count() == 8
        assert page.get_by_role("link", name="Download .ics").first.get_attribute("href") == "confirmed.ics"
        assert "built without a public address" in page.content()
        browser.close()


def test_static_file_names_are_the_files_static_files_writes() -> None:
    from racecal.site import static_file_names, static_files

    assert static_file_names() == frozenset(static_files())


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
    | st.text(alphabet="aZ Øæß-'.ÉéÅ\u0301\t", max_size=12)
)
def test_a_name_is_filed_as_its_decomposed_caseless_letters(name: str) -> None:
    """text.folded's shortcut for ASCII names files them as the full rule does: Nordic letters to
    ASCII, NFKD without combining marks, casefolded (unicodedata, spelled out here)."""
    import unicodedata

    from racecal.text import _ASCII_LETTERS, folded

    decomposed = unicodedata.normalize("NFKD", name.strip().translate(_ASCII_LETTERS))
    assert folded(name) == "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
