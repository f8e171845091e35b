"""Mutated plans either build feeds that an independent parser accepts, or get located errors. Never a traceback.

CI runs 300 examples per strategy. A longer local run:
    RACECAL_FUZZ_EXAMPLES=20000 .venv/bin/pytest tests/test_fuzz.py -p no:xdist
"""

from __future__ import annotations

import os
import re
import unicodedata
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import icalendar
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import EXAMPLE
from racecal.build import build
from racecal.errors import PlanError
from racecal.previous import Previous
from racecal.publish import NullSink
from racecal.settings import Settings
from racecal.yamlsource import SourceFile

EXAMPLES = int(os.environ.get("RACECAL_FUZZ_EXAMPLES", "300"))
PLAN = (EXAMPLE / "jakob-ingebrigtsen-2024.yaml").read_text()
CATALOGUE = [SourceFile("schedules/meets/2024.yaml", (EXAMPLE / "meets" / "2024.yaml").read_bytes())]
NOW = datetime(2024, 3, 27, tzinfo=UTC)
# Bidi controls, zero-width characters, noncharacters and controls (other than tab, LF, CR): never in output.
UNSHOWABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u061c\u200b\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff\ufffe\uffff]")
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(plan_bytes: bytes) -> None:
    source = SourceFile("schedules/plan.yaml", plan_bytes)
    try:
        sink = MemorySink()
        result = build([source], CATALOGUE, Previous(), Settings(), NOW, NOW, sink)
    except PlanError as exc:
        assert exc.problems
        for problem in exc.problems:
            assert problem.path == "schedules/plan.yaml" and problem.line >= 1 and problem.column >= 1
            assert problem.field.strip() and problem.message.strip(), str(problem)
            assert str(problem) == f"{problem.path}:{problem.line}:{problem.column}: {problem.field}: {problem.message}"
            assert str(problem).isprintable(), str(problem)  # no raw control or bidi character reaches a terminal
        return
    assert result.plan_ids
    for name, data in sink.files.items():
        if name.endswith(".ics"):
            cal = icalendar.Calendar.from_ical(data)  # a parser that did not write it
            for event in cal.walk("VEVENT"):
                assert event["UID"] and event["DTSTART"]
            assert all(len(line) <= 75 for line in data.split(b"\r\n"))
        if name.endswith(".atom"):
            ET.fromstring(data)  # well-formed XML 1.0, or this raises
        text = data.decode("utf-8")
        assert not UNSHOWABLE.search(text), (name, UNSHOWABLE.search(text))


class MemorySink(NullSink):
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}

    def write(self, name: str, data: bytes) -> None:
        self.files[name] = data


texts = st.text(st.characters(codec="utf-8"), max_size=12)


@st.composite
def text_mutations(draw: st.DrawFn) -> bytes:
    text = PLAN
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        kind = draw(st.sampled_from(["insert", "delete", "replace", "duplicate-line", "swap-lines", "indent"]))
        pos = draw(st.integers(0, max(0, len(text) - 1)))
        if kind == "insert":
            text = text[:pos] + draw(texts) + text[pos:]
        elif kind == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 40)) :]
        elif kind == "replace":
            text = (
                text[:pos]
                + draw(st.sampled_from([":", "-", " ", "\t", "'", '"', "#", "&a", "*a", "!!", "{", "[", "\n", "\x00", "\u2028"]))
                + text[pos + 1 :]
            )
        elif kind == "duplicate-line":
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif kind == "swap-lines":
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        else:
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip()
            text = "\n".join(lines)
    return text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else text.encode("utf-8", "replace")


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), texts,
                    st.dates().map(str), st.sampled_from(["2024-02-30", "25:00", "Europe/Olso", "javascript:x", "tentative", "../x"]))  # fmt: skip
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=6)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, (*prefix, i))
    return out


@st.composite
def structure_mutations(draw: st.DrawFn) -> bytes:
    data = yaml.safe_load(PLAN)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(paths(data)[1:]))
        parent = data
        for key in where[:-1]:
            parent = parent[key]
        kind = draw(st.sampled_from(["set", "delete", "add-key"]))
        if kind == "delete":
            del parent[where[-1]]
        elif kind == "set":
            parent[where[-1]] = draw(values)
        elif isinstance(parent, dict):
            parent[draw(texts)] = draw(values)
        data = yaml.safe_load(PLAN) if not isinstance(data, dict) else data
    return yaml.safe_dump(data, allow_unicode=draw(st.booleans())).encode()


# --- hostile values, placed where a value goes ------------------------------------------------------

VALUE_SPOTS = [m.end() for m in re.finditer(r"(?m)^ *(?:- )?[a-z_]+: ", PLAN)]
NASTY_CHARS = ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\u061c", "\u200b", "\u200d", "\u200e", "\u2028", "\u202e", "\u2066",
               "\ufeff", "\ufffe", "\uffff", "\U0001fffe", "\U000e0041", "\ud800", "\t", "\r"]  # fmt: skip
HOSTILE_URLS = ["http://[::1", "https://x.example:99999/", "https://x.example/\r\nX:1", "https://x.example/ a", "javascript:alert(1)",
                "https://", "http://x.example/\u202egro", "https://x.example/?a#b", "HTTP://X.EXAMPLE", "https://\uff58.example/",
                "https://x.example/" + "a" * 3000, "http://user:pass@x.example/"]  # fmt: skip


def quoted_yaml(text: str) -> str:
    """``text`` as a YAML double-quoted scalar: every character survives, escaped where YAML needs it."""
    return '"' + "".join(ch if ch.isprintable() and ch not in '"\\' else f"\\U{ord(ch):08x}" for ch in text) + '"'


@st.composite
def hostile_values(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["nesting", "number", "raw-char", "escaped-char", "url"]))
    if kind == "nesting":
        depth = draw(st.integers(1, 30_000))
        opener, closer = draw(st.sampled_from([("[", "]"), ("{a: ", "}")]))
        value = opener * depth + closer * depth
    elif kind == "number":
        value = draw(st.sampled_from(["", "-", "+"])) + "0" * draw(st.integers(0, 5000)) + "9" * draw(st.integers(1, 5000))
        value += draw(st.sampled_from(["", ".5", "e999"]))
    elif kind == "raw-char":  # straight into the file, where YAML's reader sees it
        value = draw(texts) + draw(st.sampled_from(NASTY_CHARS)) + draw(texts)
    elif kind == "escaped-char":  # through a double-quoted escape, past YAML's reader into racecal's checks
        value = quoted_yaml(draw(texts) + draw(st.sampled_from(NASTY_CHARS)) + draw(texts))
    else:
        value = quoted_yaml(draw(st.sampled_from(HOSTILE_URLS)) + draw(texts))
    spot = draw(st.sampled_from(VALUE_SPOTS))
    end = PLAN.index("\n", spot)
    return (PLAN[:spot] + value + PLAN[end:]).encode("utf-8", "surrogatepass")


@FUZZ
@given(hostile_values())
def test_hostile_values_never_crash_inject_or_hang(plan: bytes) -> None:
    check(plan)


@FUZZ
@given(text_mutations())
def test_text_mutations_never_crash(plan: bytes) -> None:
    check(plan)


@FUZZ
@given(structure_mutations())
def test_structure_mutations_never_crash(plan: bytes) -> None:
    check(plan)


def test_the_unmutated_example_builds(tmp_path: Path) -> None:
    check(PLAN.encode())


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=60))
def test_ascii_text_is_refused_exactly_at_its_first_control_character(text: str) -> None:
    """The ASCII fast path of forbidden_char against unicodedata: the first Cc character, or none."""
    from racecal.text import forbidden_char

    expected = next((ord(c) for c in text if unicodedata.category(c) == "Cc"), None)
    assert forbidden_char(text) == expected
    assert forbidden_char(text, published=True) == expected
