"""Hostile input never injects, crashes or hangs: each test is named after what broke.

Oracles are independent of racecal: the exit status and stderr of a real process (a segfault is a
signal, not an exit code), GitHub's own markdown renderer (cmark-gfm), Python's XML parser, the
kernel's peak-RSS accounting, and a real Chromium's layout of the page.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import LATER_TIME, PLAN_ID, REPO, Project, need
from test_errors import BASE, b


def racecal(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """racecal in its own process, so that a segfault or a hang is seen as one instead of killing pytest."""
    return subprocess.run(
        [sys.executable, "-m", "racecal", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})},
    )  # fmt: skip


def usage_error(stderr: str) -> str:
    """The one line click prints for a usage error (after the usage and help lines)."""
    lines = stderr.splitlines()
    assert lines[-1].startswith("Error: "), stderr
    return lines[-1]


# --- --base-url and base_url ------------------------------------------------------------------------

PERCENT, PERCENT_HINT = "has a broken percent escape ", " (% must be followed by two hex digits; write %25 for a % sign)"
WRONG_URL = "expected an http(s) URL without query or fragment, like https://example.org/races, got "
HOSTILE_BASE_URLS = [
    ("crlf", "https://x.example/\r\nX-INJECTED:yes", "contains the control character U+000D"),
    ("lf", "https://x.example/\nBEGIN:VEVENT", "contains the control character U+000A"),
    ("tab", "https://x.example/\tX", "contains the control character U+0009"),
    ("space", "https://x.example/my races", "contains a space, which a URL cannot hold; write it percent-encoded, as %20"),
    ("query", "https://x.example/races?", WRONG_URL + "'https://x.example/races?'"),
    ("fragment", "https://x.example/races#", WRONG_URL + "'https://x.example/races#'"),
    ("unclosed-ipv6", "http://[::1", WRONG_URL + "'http://[::1'"),
    ("bad-port", "https://x.example:99999/", WRONG_URL + "'https://x.example:99999/'"),
    ("quote", 'https://x.example/"><script>', "contains '\"', which a URL cannot hold; write it percent-encoded, as %22"),
    (
        "bracket-outside-the-host",
        "https://x.example/a[1]",
        "contains '[' outside the host, which a URL cannot hold (brackets are for IPv6 addresses); write it percent-encoded, as %5B",
    ),
    ("rlo", "https://x.example/\u202egro", "contains the invisible formatting character U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("no-host", "https://", WRONG_URL + "'https://'"),
    # Each once accepted, and then written into every feed and page.
    ("credentials", "https://user:pw@example.org", "must not contain a user name or password (they would be published in every feed)"),
    ("empty-credentials", "https://@example.org/races", "must not contain a user name or password (they would be published in every feed)"),
    ("command-in-host", "https://exa$(id).org", "the host 'exa$(id).org' is not a valid host name"),
    ("hyphen-host", "https://-/", "the host '-' is not a valid host name"),
    ("hyphen-ends-label", "https://races-.example.org/", "the host 'races-.example.org' is not a valid host name"),
    ("empty-label", "https://example..org/", "the host 'example..org' is not a valid host name"),
    ("not-an-ipv4", "https://999.1.1.1/races", "the host '999.1.1.1' is not a valid host name"),
    ("text-after-ipv6", "http://[::1]x/", "the host '[::1]x' is not a valid host name"),
    ("ipvfuture", "https://[v1.x]/", "the host '[v1.x]' is not a valid host name"),
    ("label-too-long", f"https://{'a' * 64}.org/", "the host of 68 characters is not a valid host name"),
    ("broken-percent-escape", "https://example.org/%zz", PERCENT + "'%zz'" + PERCENT_HINT),
    ("lone-percent", "https://example.org/100%", PERCENT + "'%'" + PERCENT_HINT),
]


@pytest.mark.parametrize(("value", "message"), [pytest.param(v, m, id=i) for i, v, m in HOSTILE_BASE_URLS])
def test_base_url_flag_with_crlf_cannot_inject_feed_lines(built: Project, value: str, message: str) -> None:
    before = built.tree()
    result = built.run("build", "--time", LATER_TIME, "--base-url", value)
    assert result.exit_code == 2
    assert usage_error(result.stderr) == f"Error: Invalid value for '--base-url': {message}"
    assert built.tree() == before


@pytest.mark.parametrize(
    ("value", "message"), [pytest.param(v, m, id=i) for i, v, m in HOSTILE_BASE_URLS if "\n" not in v and "\r" not in v]
)
def test_base_url_in_settings_is_checked_like_the_flag(built: Project, value: str, message: str) -> None:
    before = built.tree()
    quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    (built.root / "racecal.yaml").write_text(f'base_url: "{quoted}"\n', encoding="utf-8")
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["racecal.yaml:1:11: base_url: " + message, "1 problem in 1 file"]
    assert built.tree() == before


@pytest.mark.parametrize(("line", "expected"), [
    ('refresh_hours: "6"\n', "racecal.yaml:1:16: refresh_hours: expected a whole number, got the text '6' (remove the quotes)"),
    ("refresh_hours: '6'\n", "racecal.yaml:1:16: refresh_hours: expected a whole number, got the text '6' (remove the quotes)"),
])  # fmt: skip
def test_quoted_refresh_hours_is_text_not_a_number(built: Project, line: str, expected: str) -> None:
    before = built.tree()
    (built.root / "racecal.yaml").write_text(line)
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [expected, "1 problem in 1 file"]
    assert built.tree() == before


def test_base_url_with_crlf_in_settings_is_a_located_problem(built: Project) -> None:
    (built.root / "racecal.yaml").write_text('base_url: "https://x.example/\\r\\nX-INJECTED:yes"\n')
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == ["racecal.yaml:1:11: base_url: must be a single line", "1 problem in 1 file"]


# Real shapes that must keep passing both checks (base URLs are ASCII: a host in Unicode goes as punycode).
GOOD_BASE_URLS = ["https://example.org/races", "https://races.example.org", "http://localhost:8000/", "https://[2001:db8::1]:8443/cal/",
                  "https://xn--bcher-kva.example/", "https://example.org./", "https://example.org/team%20norway/", "https://192.0.2.7/x",
                  "https://my_site.example.org/"]  # fmt: skip
GOOD_PLAN_URLS = [*GOOD_BASE_URLS, "https://bücher.example/läufe", "https://例え.テスト/パス", "https://हिंदी.भारत/", "https://ไทย.ไทย/",
                  "https://cafe\u0301.example/", "https://пример.рф/", "https://en.wikipedia.org/wiki/Bislett_Games_(2024)",
                  "https://www.nrk.no/sport/?x=1&y=a%2Fb#res", "https://worldathletics.org/competitions/diamond-league/meetings/2024/results",
                  "https://example.org/%E2%82%AC?q=%e2%82%ac"]  # fmt: skip


@pytest.mark.parametrize("value", GOOD_BASE_URLS)
def test_real_base_urls_are_accepted(project: Project, value: str) -> None:
    result = project.run("build", "--time", LATER_TIME, "--base-url", value)
    assert result.exit_code == 0, result.output
    page = (project.dist / PLAN_ID / "index.html").read_text()
    assert f"{value.rstrip('/')}/{PLAN_ID}/all.ics" in page  # published as given


def test_real_plan_urls_are_accepted(project: Project) -> None:
    races = "".join(
        f'  - {{id: r{i}, name: Meet, date: 2024-05-25, status: confirmed, url: "{url}"}}\n' for i, url in enumerate(GOOD_PLAN_URLS)
    )
    (project.schedules / "ok.yaml").write_text(BASE.split("races:")[0] + "races:\n" + races, encoding="utf-8")
    result = project.run("check")
    assert result.exit_code == 0, result.output


PLAN_URL = "schedules/bad.yaml:10:10: races[0].url: "
BAD_PLAN_URLS = [
    (
        "credentials",
        "https://alice:hunter2@example.org/results",
        PLAN_URL + "must not contain a user name or password (they would be published in every feed)",
    ),
    ("command-in-host", "https://exa$(id).org/results", PLAN_URL + "the host 'exa$(id).org' is not a valid host name"),
    ("symbol-in-unicode-host", "https://bücher\u2605.example/", PLAN_URL + "the host 'bücher\u2605.example' is not a valid host name"),
    ("broken-percent-escape", "https://example.org/%zz", PLAN_URL + PERCENT + "'%zz'" + PERCENT_HINT),
    (
        "variation-selector",
        "https://example.org/\u2764\ufe0f",
        PLAN_URL + "contains the invisible character U+FE0F (VARIATION SELECTOR-16)",
    ),
]


@pytest.mark.parametrize(("value", "expected"), [pytest.param(v, e, id=i) for i, v, e in BAD_PLAN_URLS])
def test_plan_urls_pass_the_host_and_percent_rules(project: Project, value: str, expected: str) -> None:
    (project.schedules / "bad.yaml").write_text(b("status: confirmed", f'status: confirmed\n    url: "{value}"'), encoding="utf-8")
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [expected, "1 problem in 1 file"]


# --- URLs in feeds are URIs ---------------------------------------------------------------------------


def not_in_a_uri(shown: str, escape: str) -> str:
    return f"contains {shown}, which a URL cannot hold; write it percent-encoded, as {escape}"


# Regression (independent tester): each was accepted and written raw into every feed's URL line
# (URL:https://example.org/"><script>…), which RFC 5545 defines as a URI (RFC 3986: none of these).
NOT_IN_A_URI = [
    ("quote-and-tags", 'https://example.org/"><script>alert(2)</script>', not_in_a_uri("'\"'", "%22")),
    ("less-than", "https://example.org/<b>", not_in_a_uri("'<'", "%3C")),
    ("greater-than", "https://example.org/a>b", not_in_a_uri("'>'", "%3E")),
    ("braces", "https://example.org/{id}", not_in_a_uri("'{'", "%7B")),
    ("closing-brace", "https://example.org/id}", not_in_a_uri("'}'", "%7D")),
    ("pipe", "https://example.org/a|b", not_in_a_uri("'|'", "%7C")),
    ("backslash", "https://example.org\\@evil.example/", not_in_a_uri("'\\'", "%5C")),
    ("caret", "https://example.org/a^b", not_in_a_uri("'^'", "%5E")),
    ("backtick", "https://example.org/a`b", not_in_a_uri("'`'", "%60")),
    ("space", "https://example.org/a b", not_in_a_uri("a space", "%20")),
    ("no-break-space", "https://example.org/a\u00a0b", not_in_a_uri("the character U+00A0 (NO-BREAK SPACE)", "%C2%A0")),
    ("ideographic-space", "https://例え.テスト/\u3000", not_in_a_uri("the character U+3000 (IDEOGRAPHIC SPACE)", "%E3%80%80")),
    ("bracket-in-the-query", "https://example.org/?a[]=1",
     "contains '[' outside the host, which a URL cannot hold (brackets are for IPv6 addresses); write it percent-encoded, as %5B"),
    ("second-hash", "https://example.org/#a#b",
     "contains a second '#', which a URL cannot hold (the first starts the fragment); write it percent-encoded, as %23"),
]  # fmt: skip


def yaml_quoted(value: str) -> str:
    """``value`` as a YAML double-quoted scalar: what YAML 1.1 does not allow raw (DEL, C1 controls but
    NEL, U+FFFE) escaped as \\uXXXX, as JSON escapes the C0 controls."""
    return re.sub(r"[\x7f-\x84\x86-\x9f\ufffe\uffff]", lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


@pytest.mark.parametrize(("value", "message"), [pytest.param(v, m, id=i) for i, v, m in NOT_IN_A_URI])
def test_race_url_with_a_character_a_uri_cannot_hold_is_refused_naming_it(project: Project, value: str, message: str) -> None:
    (project.schedules / "bad.yaml").write_text(
        b("status: confirmed", f"status: confirmed\n    url: {yaml_quoted(value)}"), encoding="utf-8"
    )
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"schedules/bad.yaml:10:10: races[0].url: {message}", "1 problem in 1 file"]


def test_meet_and_source_urls_with_characters_a_uri_cannot_hold_are_refused_and_nothing_is_published(built: Project) -> None:
    before = built.tree()
    (built.schedules / "meets" / "bad.yaml").write_text(
        'meets:\n  - id: bad-meet\n    name: Bad Meet\n    date: 2024-06-01\n    timezone: UTC\n    url: "https://example.org/a|b"\n'
    )
    (built.schedules / "bad.yaml").write_text(
        b("races:\n", 'sources:\n  s:\n    outlet: O\n    url: "https://example.org/{x}"\nraces:\n'), encoding="utf-8"
    )
    result = built.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "schedules/bad.yaml:8:10: sources.s.url: " + not_in_a_uri("'{'", "%7B"),
        "schedules/meets/bad.yaml:6:10: meets[0].url: " + not_in_a_uri("'|'", "%7C"),
        "2 problems in 2 files",
    ]
    assert built.run("build", "--time", LATER_TIME).exit_code == 1
    assert built.tree() == before


# Written out by hand from RFC 3987 3.1 (not with racecal's function): host labels in Unicode by IDNA
# (lowercase, NFC, punycode as `idna` and browsers give it), everything else as UTF-8 %XX.
IRIS_AS_URIS = [
    ("https://bücher.example/läufe", "https://xn--bcher-kva.example/l%C3%A4ufe"),
    ("https://Bücher.example:8443/?q=€#Résultat", "https://xn--bcher-kva.example:8443/?q=%E2%82%AC#R%C3%A9sultat"),
    ("https://例え.テスト/パス", "https://xn--r8jz45g.xn--zckzah/%E3%83%91%E3%82%B9"),
    ("https://пример.рф/", "https://xn--e1afmkfd.xn--p1ai/"),
    ("https://ΣΊΣΥΦΟΣ.gr/", "https://xn--kxa6akbbkh.gr/"),  # every Σ a σ, none a final ς
    ("https://İstanbul.example/", "https://xn--istanbul-o0e.example/"),
    ("https://cafe\u0301.example/", "https://xn--caf-dma.example/"),
    ("https://example.org/%E2%82%AC/€", "https://example.org/%E2%82%AC/%E2%82%AC"),
    ("http://[2001:db8::1]:8080/ø", "http://[2001:db8::1]:8080/%C3%B8"),
    ("https://www.nrk.no/sport/?x=1&y=a%2Fb#res", "https://www.nrk.no/sport/?x=1&y=a%2Fb#res"),
]


def test_url_in_unicode_is_written_into_feeds_as_a_uri(project: Project) -> None:
    """An IRI (RFC 3987) is accepted, shown on the page as written, and written into feeds as the URI
    it maps to: a URL line with raw non-ASCII is not a URI, as RFC 5545 requires."""
    import icalendar

    races = "".join(
        f"  - {{id: r{i}, name: Meet {i}, date: 2024-05-25, status: confirmed, url: {yaml_quoted(iri)}}}\n"
        for i, (iri, _) in enumerate(IRIS_AS_URIS)
    )
    (project.schedules / "u-2024.yaml").write_text("athlete: {name: U, slug: u}\nseason: 2024\nraces:\n" + races, encoding="utf-8")
    project.build()
    calendar = icalendar.Calendar.from_ical((project.dist / "u-2024" / "all.ics").read_bytes())
    written = {str(event["UID"]).split(".")[0]: (str(event["URL"]), str(event["DESCRIPTION"])) for event in calendar.walk("VEVENT")}
    for i, (_, uri) in enumerate(IRIS_AS_URIS):
        url, description = written[f"r{i}"]
        assert url == uri and description.endswith(f"\nMore: {uri}")
    page = (project.dist / "u-2024" / "index.html").read_text()
    assert 'href="https://bücher.example/läufe"' in page


def test_import_percent_encodes_url_characters_a_uri_cannot_hold(project: Project, tmp_path: Path) -> None:
    """Another tool's calendar with such a URL still imports: the characters are percent-encoded (the
    same address), so what check would refuse is never written."""
    ics = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:x@t\r\nDTSTAMP:20240101T000000Z\r\n"
        'DTSTART;VALUE=DATE:20240601\r\nSUMMARY:Meet\r\nURL:https://example.org/r?a[]=1&t={x}|"y"#f#g\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n'
    )
    (tmp_path / "other.ics").write_text(ics)
    result = project.run("import", str(tmp_path / "other.ics"), "--athlete", "A")
    assert result.exit_code == 0, result.output
    assert "url: https://example.org/r?a%5B%5D=1&t=%7Bx%7D%7C%22y%22#f%23g\n" in result.stdout


# RFC 3986, appendix A, as a regular expression: the test's own reading of the grammar.
_UNRESERVED, _PCT, _SUB_DELIMS = r"[A-Za-z0-9\-._~]", r"%[0-9A-Fa-f]{2}", r"[!$&'()*+,;=]"
_PCHAR = rf"(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|[:@])"
_DEC_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9])"
_IPV4 = rf"{_DEC_OCTET}(?:\.{_DEC_OCTET}){{3}}"
_H16 = r"[0-9A-Fa-f]{1,4}"
_LS32 = rf"(?:{_H16}:{_H16}|{_IPV4})"
_IPV6 = "|".join([
    rf"(?:{_H16}:){{6}}{_LS32}",
    rf"::(?:{_H16}:){{5}}{_LS32}",
    rf"(?:{_H16})?::(?:{_H16}:){{4}}{_LS32}",
    rf"(?:(?:{_H16}:){{0,1}}{_H16})?::(?:{_H16}:){{3}}{_LS32}",
    rf"(?:(?:{_H16}:){{0,2}}{_H16})?::(?:{_H16}:){{2}}{_LS32}",
    rf"(?:(?:{_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
    rf"(?:(?:{_H16}:){{0,4}}{_H16})?::{_LS32}",
    rf"(?:(?:{_H16}:){{0,5}}{_H16})?::{_H16}",
    rf"(?:(?:{_H16}:){{0,6}}{_H16})?::",
])  # fmt: skip
_IP_LITERAL = rf"\[(?:{_IPV6}|v[0-9A-Fa-f]+\.(?:{_UNRESERVED}|{_SUB_DELIMS}|:)+)\]"
_AUTHORITY = (
    rf"(?:(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS}|:)*@)?(?:{_IP_LITERAL}|{_IPV4}|(?:{_UNRESERVED}|{_PCT}|{_SUB_DELIMS})*)(?::[0-9]*)?"
)
_HIER_PART = rf"(?://{_AUTHORITY}(?:/{_PCHAR}*)*|/(?:{_PCHAR}+(?:/{_PCHAR}*)*)?|{_PCHAR}+(?:/{_PCHAR}*)*|)"
RFC3986_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+\-.]*:{_HIER_PART}(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?")


def test_the_rfc3986_expression_tells_uris_from_others() -> None:
    """The oracle below, on URIs from RFC 3986's own examples and on what it excludes."""
    for uri in ["ftp://ftp.is.co.za/rfc/rfc1808.txt", "http://www.ietf.org/rfc/rfc2396.txt", "ldap://[2001:db8::7]/c=GB?objectClass?one",
                "mailto:John.Doe@example.com", "news:comp.infosystems.www.servers.unix", "tel:+1-816-555-1212", "telnet://192.0.2.16:80/",
                "urn:oasis:names:specification:docbook:dtd:xml:4.1.2", "https://x.example/a%20b?c=/d?#e/?", "http://[::1]/"]:  # fmt: skip
        assert RFC3986_URI.fullmatch(uri), uri
    for other in ['https://x.example/"', "https://x.example/a b", "https://x.example/a[1]", "https://x.example/#a#b", "https://x.example/%zz",
                  "https://x.example/é", "https://bücher.example/", "https://x.example/{}", "http://[::1/", "http://x:8a/"]:  # fmt: skip
        assert not RFC3986_URI.fullmatch(other), other


def _utf8_escapes_decoded(text: str) -> str:
    """%XX runs that spell UTF-8 for non-ASCII characters, as those characters (RFC 3987 3.2)."""

    def decoded(match: re.Match[str]) -> str:
        try:
            return bytes.fromhex(match.group().replace("%", "")).decode("utf-8")
        except UnicodeDecodeError:
            return match.group()

    return re.sub(r"(?:%[89A-Fa-f][0-9A-Fa-f])+", decoded, text)


def _as_iri(url: str) -> tuple[str, str, str, str]:
    """(scheme, host, port, the rest) of an http(s) URL or URI as an IRI: host labels decoded from
    punycode, NFC and case-folded (a host has no case); the rest with UTF-8 escapes decoded. Equal for
    a URI and the IRI it maps to."""
    import unicodedata

    scheme, rest = url.split("://", 1)
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0], default=len(rest))
    authority = rest[:end]
    host, port = (authority.split("]")[0] + "]", authority.split("]")[1]) if authority.startswith("[") else authority.partition(":")[::2]
    labels = [label[4:].encode("ascii").decode("punycode") if label.lower().startswith("xn--") else label for label in host.split(".")]
    return scheme.lower(), unicodedata.normalize("NFC", ".".join(labels)).casefold(), port, _utf8_escapes_decoded(rest[end:])


_URL_TEXT = st.lists(
    st.one_of(
        st.sampled_from([*"abcXYZ019-._~!$&'()*+,;=:@/?%", "%41", "%e2%82%ac", "%C3%A9", *'"<>\\^`{|}[]# ']),
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
    ),
    max_size=24,
).map("".join)
_HOSTS = st.one_of(
    st.lists(
        st.one_of(
            st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,8}[A-Za-z0-9])?", fullmatch=True),
            st.text(st.characters(categories=("Ll", "Lu", "Lo", "Nd", "Mn")), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=3,
    ).map(".".join),
    st.sampled_from(
        ["192.0.2.7", "[2001:db8::1]", "[::1]", "bücher.example", "例え.テスト", "\u212a.example", "İstanbul.example", "ΣΊΣΥΦΟΣ.gr"]
    ),
)
_URLS = st.builds(
    lambda scheme, host, port, start, rest: f"{scheme}://{host}{port}{start}{rest}",
    st.sampled_from(["http", "https", "HTTPS"]),
    _HOSTS,
    st.one_of(st.just(""), st.integers(0, 65535).map(lambda n: f":{n}")),
    st.sampled_from(["", "/", "?", "#"]),
    _URL_TEXT,
)


@settings(max_examples=400, deadline=None)
@given(_URLS, _URLS)
def test_every_url_racecal_accepts_is_a_uri_in_the_feed_that_an_independent_parser_reads_back(race_url: str, source_url: str) -> None:
    """For any URL racecal accepts (race and source URLs through the plan loader), the feed's URL
    line is an RFC 3986 URI, icalendar reads back that same URL, and it is the URL written in the plan
    (the same IRI, when the plan's was one); the description cites the same URIs."""
    import icalendar

    from racecal.history import compile_plan
    from racecal.load import load_schedules
    from racecal.settings import Settings
    from racecal.yamlsource import SourceFile

    text = (
        "athlete: {name: U, slug: u}\nseason: 2024\n"
        f"sources:\n  s: {{outlet: O, url: {yaml_quoted(source_url)}}}\n"
        f"races:\n  - {{id: r, name: R, date: 2024-05-25, status: confirmed, sources: [s], url: {yaml_quoted(race_url)}}}\n"
    )
    problems: list = []
    loaded = load_schedules([SourceFile("u-2024.yaml", text.encode())], [], problems)
    if problems:  # refused: only ever for a URL
        assert {p.field for p in problems} <= {"races[0].url", "sources.s.url", "races[0].sources[0]"}, problems  # s: left out
        return
    now = datetime(2024, 3, 1, tzinfo=UTC)
    feed = compile_plan(loaded.plans[0], None, now, now, Settings(), "0" * 64).feeds["all"]
    unfolded = feed.decode().replace("\r\n ", "")
    written = re.search(r"^URL:([^\r]*)", unfolded, re.M)
    assert written, unfolded
    uri = written.group(1)
    assert RFC3986_URI.fullmatch(uri), uri
    event = next(iter(icalendar.Calendar.from_ical(feed).walk("VEVENT")))
    assert str(event["URL"]) == uri
    assert _as_iri(uri) == _as_iri(race_url)
    description = str(event["DESCRIPTION"])
    assert description.endswith(f"\nMore: {uri}")
    cited = description.split("\n- O ")[1].split("\n")[0]
    assert RFC3986_URI.fullmatch(cited) and _as_iri(cited) == _as_iri(source_url), cited


# --- files that are not plans are not echoed ---------------------------------------------------------

SECRET = "hunter2-SECRET-d41d8cd98f00b204"
NOT_PLANS = [
    (
        "passwd",
        f"root:x:0:0:root:/root:/bin/bash\nalice:{SECRET}:1000:1000::/home/alice:/bin/sh\n",
        "schedules/bad.yaml:1:1: document: expected a mapping, got text, not YAML keys and values",
    ),
    (
        "openssh-key",
        f"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU{SECRET}\n-----END OPENSSH PRIVATE KEY-----\n",
        "schedules/bad.yaml:1:1: document: expected a mapping, got text, not YAML keys and values",
    ),
    (
        "pem-with-headers",
        f"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,{SECRET}\n\nMIIEow\n-----END RSA PRIVATE KEY-----\n",
        "schedules/bad.yaml:2:10: yaml: mapping values are not allowed in this context",
    ),
    (
        "dotenv",
        f"DATABASE_URL=postgres://app:{SECRET}@db/app\nAPI_KEY={SECRET}\n",
        "schedules/bad.yaml:1:1: document: expected a mapping, got text, not YAML keys and values",
    ),
    (
        "git-credentials",
        f"https://alice:{SECRET}@github.com\n",
        "schedules/bad.yaml:1:1: document: expected a mapping, got text, not YAML keys and values",
    ),
    (
        "json-credentials",
        f'{{"type": "service_account", "private_key": "{SECRET}\n',
        "schedules/bad.yaml:2:1: yaml: while scanning a quoted scalar: found unexpected end of stream",
    ),
    (
        "long-value",
        b("name: Meet One", f"name: {SECRET * 20}"),
        "schedules/bad.yaml:7:11: races[0].name: is 620 characters long; the limit is 200",
    ),
    (
        "long-key",
        f"{SECRET * 3}: 1\n" + BASE,
        "schedules/bad.yaml:1:1: text of 93 characters: unknown key; expected one of: athlete, season, timezone, sources, races",
    ),
    (
        "long-timezone-like",
        b("date: 2024-05-25", f"date: [{SECRET * 3}]"),
        "schedules/bad.yaml:8:11: races[0].date: expected a date as YYYY-MM-DD, got a list",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in NOT_PLANS])
def test_passwd_as_plan_is_not_echoed(project: Project, text: str, expected: str) -> None:
    (project.schedules / "bad.yaml").write_text(text)
    result = project.run("check")
    assert result.exit_code == 1
    assert SECRET not in result.output
    assert result.stderr.splitlines() == [expected, "1 problem in 1 file"]


# --- the markdown diff -----------------------------------------------------------------------------

HOSTILE_NAME = (
    "[a](https://evil.example) ![p](https://evil.example/p.png) @octocat #1 <img src=x onerror=alert(1)> "
    "<a href='https://evil.example'>x</a> https://evil.example www.evil.example **b** ``t`` a|b \\|c"
)


class _Cells(HTMLParser):
    """Tags seen, and text outside <code> (where GitHub turns @name and #1 into links)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.outside_code: list[str] = []
        self.code: list[str] = []
        self.cells_per_row: list[int] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_code += tag == "code"
        if tag == "tr":
            self.cells_per_row.append(0)
        if tag in ("td", "th"):
            self.cells_per_row[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_code -= tag == "code"

    def handle_data(self, data: str) -> None:
        (self.code if self._in_code else self.outside_code).append(data)


def test_markdown_diff_does_not_render_links_or_mentions(built: Project) -> None:
    import cmarkgfm
    from cmarkgfm.cmark import Options

    built.edit(
        "  - id: bislett\n    meet: bislett-games-2024\n",
        f'  - id: bislett\n    meet: bislett-games-2024\n    name: "{HOSTILE_NAME}"\n'.replace("\\|", "\\\\|"),
    )
    result = built.run("diff", "--format", "markdown", "--time", LATER_TIME)
    assert result.exit_code == 0, result.output
    html = cmarkgfm.github_flavored_markdown_to_html(result.stdout, options=Options.CMARK_OPT_UNSAFE)
    seen = _Cells()
    seen.feed(html)
    assert set(seen.tags) <= {"h3", "table", "thead", "tbody", "tr", "th", "td", "code"}, html
    outside = "".join(seen.outside_code)
    assert "@" not in outside and "#1" not in outside and "evil" not in outside
    assert set(seen.cells_per_row) == {4}
    assert any(HOSTILE_NAME in text for text in seen.code)  # shown as it was written, as code


# --- bidi and other format characters ------------------------------------------------------------

FORMAT_CHARS = [
    ("rlo", "\\u202E", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("lri", "\\u2066", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ("arabic-letter-mark", "\\u061C", "U+061C (ARABIC LETTER MARK)"),
    ("zero-width-space", "\\u200B", "U+200B (ZERO WIDTH SPACE)"),
    ("bom", "\\uFEFF", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
]


@pytest.mark.parametrize(("escape", "shown"), [pytest.param(e, s, id=i) for i, e, s in FORMAT_CHARS])
def test_bidi_and_format_characters_in_names_are_refused(project: Project, escape: str, shown: str) -> None:
    (project.schedules / "bad.yaml").write_text(b("name: Meet One", f'name: "Meet {escape}enO"'))
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"schedules/bad.yaml:7:11: races[0].name: contains the invisible formatting character {shown}",
        "1 problem in 1 file",
    ]


# Code points that render as nothing but are not format characters (Cf), and tags outside a flag:
# each in a name once read as "Meet One" while carrying more. (YAML escapes, so the file shows them.)
INVISIBLE = "schedules/bad.yaml:7:11: races[0].name: contains the invisible character "
TAG = "schedules/bad.yaml:7:11: races[0].name: contains the invisible formatting character "
INVISIBLE_NAMES = [
    ("hangul-filler", "Meet One\u3164", INVISIBLE + "U+3164 (HANGUL FILLER)"),
    ("halfwidth-hangul-filler", "Meet\uffa0One", INVISIBLE + "U+FFA0 (HALFWIDTH HANGUL FILLER)"),
    ("hangul-choseong-filler", "\u115fMeet One", INVISIBLE + "U+115F (HANGUL CHOSEONG FILLER)"),
    ("hangul-jungseong-filler", "Meet \u1160One", INVISIBLE + "U+1160 (HANGUL JUNGSEONG FILLER)"),
    ("combining-grapheme-joiner", "Meet\u034fOne", INVISIBLE + "U+034F (COMBINING GRAPHEME JOINER)"),
    ("khmer-inherent-vowel", "Meet\u17b4One", INVISIBLE + "U+17B4 (KHMER VOWEL INHERENT AQ)"),
    ("unassigned-ignorable", "Meet\U000e0002One", INVISIBLE + "U+E0002"),
    ("unassigned-ignorable-bmp", "Meet\ufff0One", INVISIBLE + "U+FFF0"),
    ("variation-selector-first", "\ufe0fMeet One", INVISIBLE + "U+FE0F (VARIATION SELECTOR-16)"),
    ("variation-selector-after-space", "Meet \ufe0eOne", INVISIBLE + "U+FE0E (VARIATION SELECTOR-15)"),
    ("variation-selector-twice", "Meet\u2764\ufe0f\ufe0f", INVISIBLE + "U+FE0F (VARIATION SELECTOR-16)"),
    ("joiner-first", "\u200dMeet One", TAG + "U+200D (ZERO WIDTH JOINER)"),
    ("joiner-after-space", "Meet \u200cOne", TAG + "U+200C (ZERO WIDTH NON-JOINER)"),
    ("joiner-twice", "Meet\u200d\u200dOne", TAG + "U+200D (ZERO WIDTH JOINER)"),
    ("tags-in-a-name", "Meet One\U000e0068\U000e0069", TAG + "U+E0068 (TAG LATIN SMALL LETTER H)"),
    (
        "tags-after-a-letter",
        "Meet One\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
        TAG + "U+E0067 (TAG LATIN SMALL LETTER G)",
    ),
    (
        "flag-without-cancel-tag",
        "Meet \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074",
        TAG + "U+E0067 (TAG LATIN SMALL LETTER G)",
    ),
    ("cancel-tag-alone", "Meet One\U000e007f", TAG + "U+E007F (CANCEL TAG)"),
    (
        "sentence-in-a-flag",
        "Meet \U0001f3f4" + "".join(f"\\U{0xE0000 + ord(c):08X}" for c in "confirmed") + "\U000e007f",
        TAG + "U+E0063 (TAG LATIN SMALL LETTER C)",
    ),
    (
        "capital-tags-in-a-flag",
        "Meet \U0001f3f4\U000e0047\U000e0042\U000e0053\U000e0043\U000e0054\U000e007f",
        TAG + "U+E0047 (TAG LATIN CAPITAL LETTER G)",
    ),
    ("language-tag", "Meet\U000e0001One", TAG + "U+E0001 (LANGUAGE TAG)"),
]


@pytest.mark.parametrize(("escaped", "expected"), [pytest.param(t, e, id=i) for i, t, e in INVISIBLE_NAMES])
def test_invisible_characters_in_names_are_refused(project: Project, escaped: str, expected: str) -> None:
    (project.schedules / "bad.yaml").write_text(b("name: Meet One", f'name: "{escaped}"'))
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [expected, "1 problem in 1 file"]


# Names that need an ignorable code point where it does something: real emoji sequences (Unicode's
# emoji-zwj-sequences and emoji-variation-sequences), ideographic and Mongolian variants, Persian.
VISIBLE_NAMES = [
    ("flag-scotland", "Glasgow \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"),
    ("flag-wales-then-text", "\U0001f3f4\U000e0067\U000e0062\U000e0077\U000e006c\U000e0073\U000e007f Cardiff"),
    (
        "flag-england-in-a-sequence",
        "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    ),
    ("black-flag-alone", "Meet \U0001f3f4"),
    ("pirate-flag", "Meet \U0001f3f4\u200d\u2620\ufe0f"),
    ("heart-on-fire", "Meet \u2764\ufe0f\u200d\U0001f525"),
    ("runner-with-skin-tone", "Meet \U0001f3c3\U0001f3fd\u200d\u2640\ufe0f"),
    ("keycap", "Heat 1\ufe0f\u20e3"),
    ("text-presentation", "Meet \u2764\ufe0e"),
    ("cjk-ideographic-variant", "\u845b\U000e0100\u98fe\u533a"),
    ("mongolian-variant", "\u182d\u180b\u1820"),
    ("persian-non-joiner", "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"),
    ("korean-name", "\uae40\ubbfc\uc218"),
]


@pytest.mark.parametrize("escaped", [pytest.param(t, id=i) for i, t in VISIBLE_NAMES])
def test_joiners_variation_selectors_and_flag_tags_are_accepted_where_they_belong(project: Project, escaped: str) -> None:
    text = b("name: Meet One", f'name: "{escaped}"')
    (project.schedules / "ok.yaml").write_text(text)
    result = project.run("check")
    assert result.exit_code == 0, result.output


def test_zero_width_joiner_in_emoji_and_names_is_accepted(project: Project) -> None:
    # A family emoji and a Persian word written with a zero-width non-joiner: both need their joiners.
    (project.schedules / "ok.yaml").write_text(
        b(
            "name: Meet One",
            'name: "Meet \\U0001F468\\u200D\\U0001F469\\u200D\\U0001F467 \\u0645\\u06CC\\u200C\\u062E\\u0648\\u0627\\u0647\\u0645"',
        )
    )
    result = project.run("check")
    assert result.exit_code == 0, result.output


def test_rlo_in_url_is_refused(project: Project) -> None:
    (project.schedules / "bad.yaml").write_text(b("status: confirmed", 'status: confirmed\n    url: "https://example.org/\\u200Dx"'))
    result = project.run("check")
    assert (
        result.stderr.splitlines()[0]
        == "schedules/bad.yaml:10:10: races[0].url: contains the invisible formatting character U+200D (ZERO WIDTH JOINER)"
    )


@pytest.mark.external
def test_rlo_in_name_cannot_fake_confirmed_badge(project: Project, tmp_path: Path) -> None:
    """Refused in plans; and if it comes from elsewhere (a forged previous build), a real browser lays
    the page out in reading order: "demrifnoC" is not turned around to read "Confirmed"."""
    from test_site import CHROMIUM, CHROMIUM_ARGS, chromium_available

    (project.schedules / "bad.yaml").write_text(b("name: Meet One", 'name: "Meet \\u202Edemrifnoc\\u202C"'))
    assert project.run("check").exit_code == 1

    need(chromium_available(), "Chromium (Debian package) with Playwright")
    from playwright.sync_api import sync_playwright

    from racecal.load import parse_plan
    from racecal.model import Status
    from racecal.settings import Settings
    from racecal.site import plan_page
    from racecal.yamlsource import SourceFile

    problems: list[object] = []
    plan = parse_plan(SourceFile("p.yaml", b("status: confirmed", "status: tentative").encode()), {}, problems)
    assert plan is not None and not problems
    forged = plan.races[0].__class__(**{**{f: getattr(plan.races[0], f) for f in plan.races[0].__slots__}, "name": "Meet \u202edemrifnoC"})
    assert forged.status is Status.TENTATIVE
    (tmp_path / "index.html").write_text(plan_page(plan, (forged,), [], Settings(), date(2024, 1, 1)))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((tmp_path / "index.html").as_uri())
        heading = page.locator("li.race h3")
        # The x position of every character of the heading, in DOM order: reading order means rising.
        lefts = heading.evaluate(
            """h => { const out = []; const walker = document.createTreeWalker(h, NodeFilter.SHOW_TEXT);
                      for (let n = walker.nextNode(); n; n = walker.nextNode())
                        for (let i = 0; i < n.length; i++) { const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
                          const box = r.getBoundingClientRect(); if (box.width > 0 && n.data[i] !== ' ') out.push([n.data[i], box.left]); }
                      return out; }"""
        )
        text = heading.inner_text()
        browser.close()
    assert "\u202e" not in text
    assert "Tentative" in text and "Confirmed" not in text
    xs = [x for _, x in lefts]
    assert xs == sorted(xs), lefts


# --- crashes and hangs -------------------------------------------------------------------------------

DEEP = 25_000


@pytest.mark.parametrize(
    ("where", "text", "expected"),
    [
        pytest.param(
            "schedules/bad.yaml",
            BASE + "note: " + "[" * DEEP + "]" * DEEP + "\n",
            "schedules/bad.yaml:10:38: yaml: nesting is too deep (the limit is 32)",
            id="plan-flow",
        ),
        pytest.param(
            "schedules/bad.yaml",
            BASE + "note:\n" + "- " * DEEP + "x\n",
            "schedules/bad.yaml:11:63: yaml: nesting is too deep (the limit is 32)",
            id="plan-block",
        ),
        pytest.param(
            "schedules/bad.yaml",
            BASE + "note: " + "{a: " * DEEP + "}" * DEEP + "\n",
            "schedules/bad.yaml:10:128: yaml: nesting is too deep (the limit is 32)",
            id="plan-mappings",
        ),
        pytest.param(
            "schedules/meets/deep.yaml",
            "meets: " + "[" * DEEP + "]" * DEEP + "\n",
            "schedules/meets/deep.yaml:1:39: yaml: nesting is too deep (the limit is 32)",
            id="catalogue",
        ),
        pytest.param(
            "racecal.yaml",
            "title: " + "[" * DEEP + "]" * DEEP + "\n",
            "racecal.yaml:1:39: yaml: nesting is too deep (the limit is 32)",
            id="settings",
        ),
    ],
)
def test_25000_nested_brackets_do_not_crash(built: Project, where: str, text: str, expected: str) -> None:
    before = built.tree()
    (built.root / where).write_text(text)
    done = racecal(built.root, "build", "--time", LATER_TIME)
    assert done.returncode == 1, done.stderr  # a segfault is -11
    assert done.stderr.splitlines() == [expected, "1 problem in 1 file"]
    assert built.tree() == before


HUGE = "1" * 4301
HUGE_NUMBERS = [
    (
        "season",
        b("season: 2024", f"season: {HUGE}"),
        "schedules/bad.yaml:4:9: season: must be between 1900 and 2100, got a number of 4301 digits",
    ),
    (
        "place",
        b("status: confirmed", f"status: confirmed\n    result: {{place: -{HUGE}}}"),
        "schedules/bad.yaml:10:21: races[0].result.place: must be between 1 and 10000, got a number of 4301 digits",
    ),
    (
        "duration",
        b(
            "date: 2024-05-25\n    status: confirmed",
            f'date: 2024-05-25\n    timezone: Europe/Oslo\n    status: confirmed\n    sessions:\n      - {{name: F, date: 2024-05-25, time: "20:00", duration_minutes: {HUGE}}}',
        ),
        "schedules/bad.yaml:12:70: races[0].sessions[0].duration_minutes: must be between 1 and 1440, got a number of 4301 digits",
    ),
    (
        "latitude",
        b("status: confirmed", f"status: confirmed\n    venue: {{name: V, lat: {HUGE}.5, lon: 1}}"),
        "schedules/bad.yaml:10:27: races[0].venue.lat: must be between -90 and 90, got a number of 4303 characters",
    ),
    (
        "key",
        f"{HUGE}: 1\n" + BASE,
        "schedules/bad.yaml:1:4302: yaml: mapping values are not allowed in this context",
    ),  # a key is at most 1024 characters
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in HUGE_NUMBERS])
def test_4301_digit_integer_is_a_located_problem(project: Project, text: str, expected: str) -> None:
    (project.schedules / "bad.yaml").write_text(text)
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [expected, "1 problem in 1 file"]


def test_4301_digit_refresh_hours_in_settings_is_a_located_problem(built: Project) -> None:
    (built.root / "racecal.yaml").write_text(f"refresh_hours: {HUGE}\n")
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "racecal.yaml:1:16: refresh_hours: must be between 1 and 168, got a number of 4301 digits",
        "1 problem in 1 file",
    ]


# --- build times -------------------------------------------------------------------------------------

EARLY = "build times start at the Unix epoch, as SOURCE_DATE_EPOCH does"  # not "a future one is refused"
RANGE = "is not between 1970-01-01 and {latest} (a day after this machine's clock); a build time is never taken back, so a future one is refused"


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        pytest.param(["--time", "9999-12-31T23:59:59Z"], {}, "Error: --time: 9999-12-31T23:59:59Z " + RANGE, id="time-9999"),
        pytest.param(
            ["--time", "0001-01-01T00:00:00+01:00"],
            {},
            "Error: Invalid value for '--time': expected an ISO time like 2024-03-05T12:00:00Z, got '0001-01-01T00:00:00+01:00'",
            id="time-before-year-1",
        ),
        pytest.param(
            ["--time", "1969-12-31T23:59:59Z"],
            {},
            "Error: --time: 1969-12-31T23:59:59Z " + RANGE.replace("a build time is never taken back, so a future one is refused", EARLY),
            id="time-before-1970",
        ),
        pytest.param([], {"SOURCE_DATE_EPOCH": "253402300799"}, "Error: SOURCE_DATE_EPOCH: 9999-12-31T23:59:59Z " + RANGE, id="epoch-9999"),
        pytest.param(
            [],
            {"SOURCE_DATE_EPOCH": "999999999999"},
            "Error: SOURCE_DATE_EPOCH: 999999999999 is later than {latest} (a day after this machine's clock)",
            id="epoch-past-9999",
        ),
        pytest.param(
            [],
            {"SOURCE_DATE_EPOCH": HUGE},
            "Error: SOURCE_DATE_EPOCH: expected whole seconds since 1970 (ASCII digits), got 4301 characters",
            id="epoch-4301-digits",
        ),
        pytest.param(
            [],
            {"SOURCE_DATE_EPOCH": "-1"},
            "Error: SOURCE_DATE_EPOCH: expected whole seconds since 1970 (ASCII digits), got '-1'",
            id="epoch-negative",
        ),
    ],
)
def test_far_future_time_is_refused(built: Project, args: list[str], env: dict[str, str], expected: str) -> None:
    before = built.tree()
    done = racecal(built.root, "build", *args, env=env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    line = usage_error(done.stderr)
    if "{latest}" in expected:  # the bound is a day after the wall clock, give or take this test's run
        latest = line.split(" and ")[-1].split(" ")[0] if " and " in line else line.split("later than ")[1].split(" ")[0]
        stated = datetime.fromisoformat(latest.replace("Z", "+00:00"))
        assert abs((stated - datetime.now(UTC)).total_seconds() - 86400) < 600
        expected = expected.format(latest=latest)
    assert line == expected
    assert built.tree() == before


def test_time_within_a_day_ahead_is_accepted(built: Project) -> None:
    soon = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    assert built.run("build", "--time", soon).exit_code == 0


# --- characters ---------------------------------------------------------------------------------------


def test_nul_byte_is_not_reported_as_tab(project: Project) -> None:
    cases = {
        "nul.yaml": (
            b("name: Meet One", "name: Meet\x00One"),
            "schedules/nul.yaml:7:15: yaml: the control character U+0000 (NUL) is not allowed in YAML; remove it",
        ),
        "soh.yaml": (
            b("name: Meet One", "name: Meet\x01One"),
            "schedules/soh.yaml:7:15: yaml: the control character U+0001 is not allowed in YAML; remove it",
        ),
        "tab.yaml": (
            b("    status: confirmed", "\tstatus: confirmed"),
            "schedules/tab.yaml:9:1: yaml: tab character: YAML indentation must use spaces",
        ),
    }
    for name, (text, _) in cases.items():
        (project.schedules / name).write_text(text)
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [*sorted(expected for _, expected in cases.values()), "3 problems in 3 files"]


ARABIC_2024 = "\u0662\u0660\u0662\u0664"  # ٢٠٢٤
FULLWIDTH_20 = "\uff12\uff10"  # ２０
DIGITS = [
    (
        "season",
        b("season: 2024", f"season: {ARABIC_2024}"),
        f"schedules/bad.yaml:4:9: season: expected a whole number, got '{ARABIC_2024}'",
    ),
    (
        "date",
        b("date: 2024-05-25", f"date: {ARABIC_2024}-05-25"),
        f"schedules/bad.yaml:8:11: races[0].date: expected a date as YYYY-MM-DD, got '{ARABIC_2024}-05-25'",
    ),
    (
        "time",
        b(
            "date: 2024-05-25\n    status: confirmed",
            f'date: 2024-05-25\n    timezone: Europe/Oslo\n    status: confirmed\n    sessions:\n      - {{name: F, date: 2024-05-25, time: "{FULLWIDTH_20}:00"}}',
        ),
        f"schedules/bad.yaml:12:43: races[0].sessions[0].time: expected a 24-hour time as HH:MM (quote it: \"19:30\"), got '{FULLWIDTH_20}:00'",
    ),
    (
        "place",
        b("status: confirmed", f"status: confirmed\n    result: {{place: {FULLWIDTH_20}}}"),
        f"schedules/bad.yaml:10:21: races[0].result.place: expected a whole number, got '{FULLWIDTH_20}'",
    ),
    (
        "latitude",
        b("status: confirmed", f"status: confirmed\n    venue: {{name: V, lat: {FULLWIDTH_20}, lon: 1}}"),
        f"schedules/bad.yaml:10:27: races[0].venue.lat: expected a number, got '{FULLWIDTH_20}'",
    ),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in DIGITS])
def test_arabic_indic_digits_are_refused_everywhere(project: Project, text: str, expected: str) -> None:
    (project.schedules / "bad.yaml").write_text(text)
    result = project.run("check")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [expected, "1 problem in 1 file"]


@pytest.mark.parametrize("command", ["build", "diff"])
def test_empty_time_is_a_usage_error_not_the_wall_clock(built: Project, command: str) -> None:
    """Regression (independent tester): `--time ''` (an unset variable in `--time "$WHEN"`) ran as
    if --time were not given, stamping with the git or wall-clock time."""
    before = built.tree()
    done = racecal(built.root, command, "--time", "")
    assert done.returncode == 2, done.stderr
    assert usage_error(done.stderr) == "Error: Invalid value for '--time': expected an ISO time like 2024-03-05T12:00:00Z, got ''"
    assert done.stdout == ""
    assert built.tree() == before


ARABIC_EPOCH = "\u0661\u0667\u0661\u0660\u0660\u0660\u0660\u0660\u0660\u0660"  # 1710000000


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (["--time", f"{ARABIC_2024}-04-10T08:00:00Z"], {},
         f"Error: Invalid value for '--time': expected an ISO time like 2024-03-05T12:00:00Z, got '{ARABIC_2024}-04-10T08:00:00Z'"),
        ([], {"SOURCE_DATE_EPOCH": ARABIC_EPOCH}, f"Error: SOURCE_DATE_EPOCH: expected whole seconds since 1970 (ASCII digits), got '{ARABIC_EPOCH}'"),
    ],
    ids=["time", "epoch"],
)  # fmt: skip
def test_arabic_indic_digits_in_build_time_are_refused(built: Project, args: list[str], env: dict[str, str], expected: str) -> None:
    done = racecal(built.root, "build", *args, env=env)
    assert done.returncode == 2
    assert usage_error(done.stderr) == expected


def test_escape_sequence_in_file_name_is_not_sent_to_the_terminal(project: Project) -> None:
    (project.schedules / "bad\x1b[2J\u202e.yaml").write_text("- x\n")
    result = project.run("check")
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr and "\u202e" not in result.stderr
    assert result.stderr.splitlines()[0] == "schedules/bad\\x1b[2J\\u202e.yaml:1:1: document: expected a mapping, got a list"


# --- output that was broken with exit 0 -----------------------------------------------------------


def test_fffe_in_plan_is_refused_and_atom_stays_well_formed(built: Project) -> None:
    before = built.tree()
    built.edit(
        "  - id: bislett\n    meet: bislett-games-2024\n",
        '  - id: bislett\n    meet: bislett-games-2024\n    name: "Bislett \\uFFFE Games"\n',
    )
    result = built.run("build", "--time", LATER_TIME)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0].endswith("yaml:57:11: races[3].name: contains the noncharacter U+FFFE")
    assert built.tree() == before

    # A history that already holds such characters (an older build, a hand edit) still gives XML.
    from racecal.load import parse_plan
    from racecal.settings import Settings
    from racecal.site import atom
    from racecal.yamlsource import SourceFile

    plan = parse_plan(SourceFile("p.yaml", BASE.encode()), {}, [])
    assert plan is not None
    history = [{"build": "20240410T080000Z", "race": "one", "type": "edited", "summary": "Meet \ufffe\uffff\x01\x1b\ud800 One"},
               {"build": "2024\x00<x>", "race": "one", "type": "added", "summary": "ok"}]  # fmt: skip
    document = atom(plan, history, Settings(base_url="https://x.example"), datetime(2024, 4, 10, tzinfo=UTC))
    root = ET.fromstring(document.encode("utf-8", "surrogatepass"))  # raises on anything XML 1.0 forbids
    titles = [e.text for e in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert titles[2] == "Meet \ufffd\ufffd\ufffd\ufffd\ufffd One"
    assert {e.text for e in root.iter("{http://www.w3.org/2005/Atom}updated")} == {"2024-04-10T08:00:00Z", "1970-01-01T00:00:00Z"}


# --- limits --------------------------------------------------------------------------------------

MEMORY_BOUND_MIB = 512  # stated in the README under "Guarantees"
PREVIOUS_FILE_LIMIT = 64 * 2**20  # what a later build reads back (previous.MAX_PREVIOUS_FILE)


def plan_at_limits(races: int, sessions: int, sources: int) -> str:
    """Every text at its length limit and full of what escaping doubles (commas, semicolons)."""
    long_text = (",;é" * 2000)[:5000]
    out = ["athlete: {name: " + "N" * 200 + ", slug: limit-runner}", "season: 2024"]
    if sources:
        out.append("sources:")
        out += [
            f"  s{i}: {{outlet: {'O' * 200}, title: {'T' * 500}, url: 'https://example.org/{'u' * 1900}', quote: '{long_text}'}}"
            for i in range(sources)
        ]
    out.append("races:")
    for r in range(races):
        out.append(
            f"  - id: r{r}\n    name: {'R' * 200}\n    date: 2024-06-01\n    timezone: Europe/Oslo\n    status: {('confirmed', 'tentative', 'withdrawn')[r % 3]}\n    note: '{long_text}'"
        )
        if sources:
            out.append(f"    sources: [{', '.join(f's{i}' for i in range(sources))}]")
        if sessions:
            out.append("    sessions:")
            out += [
                f'      - {{id: s{k}, name: {"S" * 200}, date: 2024-06-01, time: "{10 + k % 10}:{k % 60:02d}"}}' for k in range(sessions)
            ]
    return "\n".join(out) + "\n"


def largest_accepted(sessions: int, sources: int) -> tuple[str, str]:
    """The plan with the most races of this shape that every limit allows, and the one with one more.
    The count comes from racecal's own per-race estimate; what is tested is what such a plan costs."""
    from racecal.documents import MAX_RACES_PER_PLAN
    from racecal.load import MAX_PLAN_FEED_BYTES, _feed_bytes, parse_plan
    from racecal.yamlsource import MAX_FILE_BYTES, SourceFile

    one = parse_plan(SourceFile("p.yaml", plan_at_limits(1, sessions, sources).encode()), {}, [])
    assert one is not None
    per_race_text = len(plan_at_limits(2, sessions, sources).encode()) - len(plan_at_limits(1, sessions, sources).encode())
    races = min(MAX_RACES_PER_PLAN, MAX_PLAN_FEED_BYTES // _feed_bytes(one.races[0]), MAX_FILE_BYTES // per_race_text - 1)
    return plan_at_limits(races, sessions, sources), plan_at_limits(races + 1, sessions, sources)


def peak_rss_mib(cwd: Path, *args: str) -> tuple[int, float]:
    """Exit status and peak resident memory of one racecal process, measured by the kernel."""
    probe = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "racecal", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}, check=False,
    )  # fmt: skip
    code, kib = done.stdout.split()[-2:]
    return int(code), int(kib) / 1024


@pytest.mark.slow
@pytest.mark.parametrize(("sessions", "sources"), [(0, 0), (50, 0), (0, 50)], ids=["races", "sessions", "sources"])
def test_plan_at_every_limit_builds_within_memory_bound(tmp_path: Path, sessions: int, sources: int) -> None:
    accepted, refused = largest_accepted(sessions, sources)
    (tmp_path / "schedules").mkdir()
    (tmp_path / "schedules" / "limit.yaml").write_text(accepted)
    code, first = peak_rss_mib(tmp_path, "build", "--time", "2024-04-01T00:00:00Z", "-q", "-j", "1")
    assert code == 0
    sizes = {p.name: p.stat().st_size for p in (tmp_path / "dist").rglob("*") if p.is_file()}
    assert max(sizes.values()) <= PREVIOUS_FILE_LIMIT // 2, sizes
    # The next build reads all of it back as its previous build.
    (tmp_path / "schedules" / "limit.yaml").write_text(accepted.replace("id: r0\n    name: R", "id: r0\n    name: X", 1))
    code, second = peak_rss_mib(tmp_path, "build", "--time", "2024-04-02T00:00:00Z", "-q", "-j", "1")
    assert code == 0
    assert max(first, second) < MEMORY_BOUND_MIB, (first, second)
    # One race more and the plan is refused, with a message that says why.
    (tmp_path / "schedules" / "limit.yaml").write_text(refused)
    done = racecal(tmp_path, "check")
    assert done.returncode == 1
    assert "races: would make a feed of about" in done.stderr or "file: is 4.0 MiB" in done.stderr, done.stderr
    sys.stderr.write(
        f"sessions={sessions} sources={sources}: largest file {max(sizes.values()) / 2**20:.1f} MiB, peak RSS {first:.0f}/{second:.0f} MiB\n"
    )


def test_a_feed_budget_refuses_shared_sources_that_expand_past_it(project: Project) -> None:
    """2.6 MB of plan once made a 158 MB feed: every session repeated every source it cited."""
    (project.schedules / "big.yaml").write_text(plan_at_limits(40, 50, 50))
    result = project.run("check")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith("schedules/big.yaml:55:3: races: would make a feed of about ")
    assert lines[0].endswith(
        " MiB; the limit is 16 MiB (every session repeats its race's notes and sources: use fewer sessions, sources or shorter texts)"
    )


def test_limits_are_documented_as_enforced() -> None:
    from racecal import load

    readme = (REPO / "README.md").read_text()
    assert f"feeds ≤ {load.MAX_PLAN_FEED_BYTES // 2**20} MiB" in readme
    assert f"peak memory < {MEMORY_BOUND_MIB} MiB" in readme


def _nested(style: str, depth: int) -> str:
    if style == "block-mappings":  # one more space per level
        return "".join(" " * i + "a:\n" for i in range(depth)) + " " * depth + "x\n"
    if style == "sequences-at-mapping-columns":  # "a:" then "- a:" at the same column: two levels per step
        return "".join(" " * (2 * i) + "- a:\n" for i in range(depth // 2)) + " " * depth + " x\n"
    if style == "compact-sequences":
        return "- " * depth + "x\n"
    return "a: " + "[" * depth + "]" * depth + "\n"


@pytest.mark.parametrize("style", ["block-mappings", "sequences-at-mapping-columns", "compact-sequences", "flow"])
def test_deep_files_are_never_composed_unchecked(style: str) -> None:
    """The shortcut that skips the event pass must see every way YAML nests (depth by PyYAML's events)."""
    import yaml

    from racecal.yamlsource import SAFE_COMPOSE_DEPTH, _may_be_deep

    text = _nested(style, 2 * SAFE_COMPOSE_DEPTH + 50)
    depth = deepest = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        depth += isinstance(event, yaml.CollectionStartEvent) - isinstance(event, yaml.CollectionEndEvent)
        deepest = max(deepest, depth)
    assert deepest > SAFE_COMPOSE_DEPTH
    assert _may_be_deep(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.text(alphabet=" -:?ab[{", max_size=300)), max_size=40))
def test_the_line_length_bound_clears_only_files_the_full_count_clears(lines: list[tuple[int, str]]) -> None:
    """_may_be_deep first bounds each line's term by its length; it must answer as the count over
    every line does (written out again here) whenever it skips that count."""
    from racecal.yamlsource import SAFE_COMPOSE_DEPTH, _may_be_deep

    text = "\n".join(" " * indent + content for indent, content in lines)
    openers = text.count("[") + text.count("{")
    block = 0
    for line in text.split("\n"):
        content = line.lstrip(" ")
        indent = len(line) - len(content)
        block = max(block, 2 * (indent + 1) + content.count("-") + content.count(":") + content.count("?"))
    assert _may_be_deep(text) == (openers > SAFE_COMPOSE_DEPTH or openers + block + 2 > SAFE_COMPOSE_DEPTH)


@pytest.mark.parametrize("ahead", [timedelta(hours=20), timedelta(days=365 * 976)], ids=["20-hours", "year-3000"])
def test_plan_file_dated_in_the_future_does_not_pin_the_build_time(project: Project, ahead: timedelta) -> None:
    """Outside git the build time comes from file times; a file dated ahead of the clock counts as the
    clock's time (it used to count as the clock + 1 day, the slack meant only for --time)."""
    before = datetime.now(UTC).replace(microsecond=0)
    future = (before + ahead).timestamp()
    os.utime(project.plan_file, (future, future))
    done = racecal(project.root, "build", env={"SOURCE_DATE_EPOCH": ""})
    after = datetime.now(UTC)
    assert done.returncode == 0, done.stderr
    feed = (project.dist / PLAN_ID / "all.ics").read_text()
    stamps = {line.split(":", 1)[1] for line in feed.splitlines() if line.startswith("DTSTAMP:")}
    assert stamps
    for stamp in stamps:
        when = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        assert before <= when <= after, stamp


# --- a build published before these rules ------------------------------------------------------------

# Values an older racecal published (the rules for default-ignorables and URL hosts, credentials and
# escapes came later): the next build must read them back, or the only way on is --fresh, which
# restarts every subscriber's SEQUENCE. What makes feeds unsafe (bidi, controls) stays refused.
PUBLISHED_BEFORE = [
    ("hangul-filler", "text", "Meet\u3164", None),
    ("joiner-after-space", "text", "Meet \u200dOne", None),
    ("tags-outside-a-flag", "text", "Meet\U000e0041", None),
    ("lone-percent", "url", "https://example.org/100%", None),
    ("character-a-uri-cannot-hold", "url", 'https://example.org/"><b>{x}|y', None),
    ("credentials", "url", "https://user:pw@example.org/", None),
    ("bidi-still-refused", "text", "Meet \u202eenO", "contains the invisible formatting character U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("control-still-refused", "text", "Meet\x07", "contains the control character U+0007"),
    ("scheme-still-refused", "url", "javascript:alert(1)", "only http:// and https:// URLs are allowed, got 'javascript:alert(1)'"),
]


@pytest.mark.parametrize(("kind", "value", "refused"), [pytest.param(k, v, m, id=i) for i, k, v, m in PUBLISHED_BEFORE])
def test_build_published_before_the_ignorable_and_url_rules_is_still_read(kind: str, value: str, refused: str | None) -> None:
    from racecal.errors import PreviousBuildError
    from racecal.readback import JsonReader, node

    reader = JsonReader("dist/p/state.json")
    read = reader.url(node(value), "x") if kind == "url" else reader.text(node(value), "x", multiline=True)
    if refused is None:
        assert read == value
        reader.check()
    else:
        assert read is None
        with pytest.raises(PreviousBuildError) as error:
            reader.check()
        assert str(error.value) == f"dist/p/state.json: x: {refused}"


def test_feed_size_bound_counts_every_text_field_of_a_race() -> None:
    """The bound that keeps a plan's feeds under MAX_PLAN_FEED_BYTES must grow with every text a race
    carries, its venue's, sources', result's and sessions' included, or a field added to the model
    could make feeds larger than the next build reads back."""
    import dataclasses
    from datetime import date, time

    from racecal.load import _feed_bytes
    from racecal.model import Race, Result, Session, Source, Status, Venue

    long = "é" * 1000
    base = Race(id="r", name="R", start=date(2024, 6, 1), end=date(2024, 6, 1), status=Status.CONFIRMED, venue=Venue("V"),
                sources=(Source("O"),), result=Result(), sessions=(Session("s", "S", date(2024, 6, 1), time(19), 10),))  # fmt: skip
    nested = {"venue": base.venue, "result": base.result}
    grown = []
    for f in dataclasses.fields(Race):
        if "str" in str(f.type):
            value: object = (long,) if str(f.type).startswith("tuple") else long
            grown.append((f.name, _feed_bytes(dataclasses.replace(base, **{f.name: value}))))
    for name, inner in nested.items():
        for f in dataclasses.fields(inner):  # type: ignore[arg-type]
            if "str" in str(f.type):
                grown.append(
                    (f"{name}.{f.name}", _feed_bytes(dataclasses.replace(base, **{name: dataclasses.replace(inner, **{f.name: long})})))
                )  # type: ignore[type-var]
    for f in dataclasses.fields(Source):
        if "str" in str(f.type):
            grown.append(
                (
                    f"sources.{f.name}",
                    _feed_bytes(dataclasses.replace(base, sources=(dataclasses.replace(base.sources[0], **{f.name: long}),))),
                )
            )
    grown.append(("sessions.name", _feed_bytes(dataclasses.replace(base, sessions=(dataclasses.replace(base.sessions[0], name=long),)))))
    assert len(grown) > 15
    assert [name for name, size in grown if size < _feed_bytes(base) + 4 * 1990] == []  # 2,000 bytes of é, counted 4 times
