"""RFC 5545 content lines: escaping and folding.

racecal writes content lines itself rather than through icalendar's component tree: feeds are built
from a few fixed property shapes, and writing them directly is what makes a 20,000-race build take
a second instead of six (see BENCHMARKS.md). Every feed is checked in the tests by three parsers
that did not write it (icalendar, vobject, Mozilla's ical.js).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

CRLF = "\r\n"
FOLD_OCTETS = 75


def escape_text(value: str) -> str:
    """TEXT value escaping (RFC 5545 3.3.11). Line breaks become the two characters ``\\n``."""
    return (
        value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Fold a content line at 75 octets without splitting a UTF-8 sequence (RFC 5545 3.1)."""
    if len(line) <= FOLD_OCTETS and line.isascii():  # most lines: one octet a character, none to fold
        return line
    encoded = line.encode("utf-8")
    if len(encoded) <= FOLD_OCTETS:
        return line
    parts: list[str] = []
    limit = FOLD_OCTETS
    start = 0
    while start < len(encoded):
        end = min(start + limit, len(encoded))
        while end < len(encoded) and (encoded[end] & 0xC0) == 0x80:
            end -= 1  # step back to the start of a multi-byte character
        parts.append(encoded[start:end].decode("utf-8"))
        start = end
        limit = FOLD_OCTETS - 1  # continuation lines start with a space
    return (CRLF + " ").join(parts)


def line(name: str, encoded: str, **params: str) -> str:
    """One folded content line; ``encoded`` must already be in its escaped form."""
    if not params:
        return fold(f"{name}:{encoded}")
    head = name + "".join(f";{k.replace('_', '-').upper()}={v}" for k, v in params.items())
    return fold(f"{head}:{encoded}")


def text(name: str, value: str) -> str:
    return line(name, escape_text(value))


def text_list(name: str, values: Iterable[str]) -> str:
    return line(name, ",".join(escape_text(v) for v in values))


def format_date(value: date) -> str:
    return value.strftime("%Y%m%d")


def format_local(value: datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%S")


def format_utc(value: datetime) -> str:
    """``value`` must be aware; it is written in UTC with a Z."""
    offset = value.utcoffset()
    if offset is None:
        raise ValueError("a UTC timestamp needs an aware datetime")
    return (value.replace(tzinfo=None) - offset).strftime("%Y%m%dT%H%M%SZ")


def parse_utc(text: str) -> datetime:
    """The inverse of ``format_utc`` for text of exactly its shape (``20240305T120000Z``); ValueError
    for a time that does not exist."""
    return datetime(int(text[0:4]), int(text[4:6]), int(text[6:8]), int(text[9:11]), int(text[11:13]), int(text[13:15]), tzinfo=UTC)


def join(lines: Iterable[str]) -> str:
    return "".join(item + CRLF for item in lines)
