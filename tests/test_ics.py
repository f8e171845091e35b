"""Content lines (ics.py) unit by unit, read back by a parser racecal did not write (icalendar)."""

from __future__ import annotations

import icalendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from racecal import ics

# Text a plan can hold: no control characters but the line breaks of notes.
plan_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")) | st.sampled_from('\n;,\\:"é🏃決'), min_size=1, max_size=400
)


def parsed_description(line: str) -> str:
    cal = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VJOURNAL\r\nUID:x\r\nDTSTAMP:20240101T000000Z\r\n"
        + line
        + "\r\nEND:VJOURNAL\r\nEND:VCALENDAR\r\n"
    )
    journal = icalendar.Calendar.from_ical(cal.encode()).walk("VJOURNAL")[0]
    return str(journal["DESCRIPTION"])


@settings(max_examples=300, deadline=None)
@given(plan_text)
def test_escaped_and_folded_text_reads_back_exactly(value: str) -> None:
    line = ics.text("DESCRIPTION", value)
    for physical in line.split("\r\n"):
        assert len(physical.encode("utf-8")) <= ics.FOLD_OCTETS
        physical.encode("utf-8").decode("utf-8")  # never a split UTF-8 sequence
    assert parsed_description(line) == value.replace("\r\n", "\n").replace("\r", "\n")


@pytest.mark.parametrize(
    ("value", "lines"),
    [
        ("a" * 63, ["DESCRIPTION:" + "a" * 63]),  # exactly 75 octets: not folded
        ("a" * 64, ["DESCRIPTION:" + "a" * 63, " a"]),
        ("é" * 40, ["DESCRIPTION:" + "é" * 31, " " + "é" * 9]),  # 12 + 62 octets, then a 2-octet é would pass 75
        ("🏃" * 20, ["DESCRIPTION:" + "🏃" * 15, " " + "🏃" * 5]),
    ],
    ids=["75-octets", "76-octets", "two-byte-boundary", "four-byte-boundary"],
)
def test_folding_at_the_75_octet_boundary(value: str, lines: list[str]) -> None:
    assert ics.text("DESCRIPTION", value).split("\r\n") == lines


@pytest.mark.parametrize(
    ("value", "escaped"),
    [("a;b,c\\d", "a\\;b\\,c\\\\d"), ("one\ntwo", "one\\ntwo"), ("one\r\ntwo", "one\\ntwo"), ("colon: ok", "colon: ok")],
)
def test_text_escaping(value: str, escaped: str) -> None:
    assert ics.escape_text(value) == escaped
