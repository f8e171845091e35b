"""Typed fields from YAML nodes, with every problem located (``file:line:col: field: message``).

``Reader`` checks one value at a time from the raw scalar text and records problems instead of
stopping at the first; ``Reader.read`` reads a whole mapping as its ``documents.Shape`` declares it.
Plans, the meet catalogue, settings and everything read back from a published build (readback.py)
go through it, so each rule exists once.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, time
from functools import cache
from typing import Any, ClassVar

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from racecal.documents import MAX_DISCIPLINES, MAX_ID, MAX_URL, MAX_YEAR, MIN_YEAR, SHORT_TEXT, VENUE, Field, Kind, Shape
from racecal.errors import Problem, field_path, suggestion
from racecal.model import SLUG_RE, Status
from racecal.text import QUOTED_VALUE, character_name, check_url, forbidden_char, quoted
from racecal.tz import is_zone_name

MAX_SPAN_DAYS = 60
_NULL_TAG = "tag:yaml.org,2002:null"  # what YAML gives ``key:`` with nothing after it

# ASCII classes only: `\d` would also take Arabic-Indic or fullwidth digits, which int() accepts but
# date.fromisoformat() does not, so the same digits would pass in one field and fail in the next.
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
TIME_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})\Z")
INT_RE = re.compile(r"^[+-]?[0-9]+\Z")
FLOAT_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)\Z")
MAX_INT_DIGITS = 9  # every whole number racecal takes is far smaller; int() of 4,301 digits raises


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _NULL_TAG:
        return "nothing"
    return quoted(node.value)


def _as_text(node: ScalarNode) -> str | None:
    """Why a number-like scalar is text, or None when it is a plain scalar. A number in quotes
    (``lon: "10"``) or in a block scalar is a string to YAML and to every other reader of the file (the
    JSON Schema, an editor), so it is not taken as a number here either. libyaml marks a plain scalar
    with the style "", PyYAML with None; nodes readback.py makes from JSON carry None too."""
    if node.style in ('"', "'"):
        return f"the text {quoted(node.value)} (remove the quotes)"
    if node.style in ("|", ">"):
        return f"the text {quoted(node.value.strip())} (write the number after the colon, without {node.style})"
    return None


@dataclass
class Reader:
    """Validates one file's node tree, collecting problems instead of stopping at the first."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # Text read back from a build racecal published (readback.JsonReader) keeps the rules that make
    # feeds and pages safe (no controls, no bidi or other format characters, http(s) URLs) but not the
    # content rules added since (default-ignorables, characters a URI cannot hold, URL hosts,
    # credentials, % escapes): a build made by an older racecal must stay readable, or the only way
    # on would be --fresh, which restarts every subscriber's SEQUENCE history. The plan that made it
    # is checked in full.
    published: ClassVar[bool] = False
    # A YAML block scalar (``note: |``) ends in a newline the editor did not mean; JSON text is exact.
    strips_blocks: ClassVar[bool] = True

    def warn(self, node: Node, name: str, message: str) -> None:
        self.warnings.append(Problem(self.path, node.start_mark.line + 1, node.start_mark.column + 1, name, message, warning=True))

    def error(self, node: Node, name: str, message: str) -> None:
        self.problems.append(Problem(self.path, node.start_mark.line + 1, node.start_mark.column + 1, name, message))

    def mapping(self, node: Node, name: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            # A whole file that is a single text is not a plan (a password file, a key, a .env):
            # say so without quoting any of it.
            got = (
                "text, not YAML keys and values" if not name and isinstance(node, ScalarNode) and node.tag != _NULL_TAG else _describe(node)
            )
            self.error(node, name or "document", f"expected a mapping, got {got}")
            return None
        out: dict[str, Node] = {}
        for key, value in node.value:
            k = key.value
            if k in out:
                continue  # compose reports a key given twice and keeps its first value only
            if k not in allowed:
                expected = f"; expected one of: {', '.join(allowed)}"
                if ":" in k or "$" in k:
                    # No field is named so, and a line of a password file (user:hash:…:) reads as such
                    # a key: it is described, never shown (nor is what it resembles).
                    described = f"(a key of {len(k)} characters)"
                    self.error(key, f"{name}.{described}" if name else described, "unknown key" + expected)
                else:
                    self.error(key, field_path(name, k), "unknown key" + suggestion(k, allowed, expected))
                continue
            out[k] = value
        for key in required:
            if key not in out:
                self.error(node, name or "document", f"missing required key '{key}'")
        return out

    def items(self, node: Node, name: str, limit: int) -> list[tuple[str, Node]]:
        if not isinstance(node, SequenceNode):
            self.error(node, name, f"expected a list, got {_describe(node)}")
            return []
        if len(node.value) > limit:
            self.error(node, name, f"has {len(node.value)} entries; the limit is {limit}")
            return []
        return [(f"{name}[{i}]", item) for i, item in enumerate(node.value)]

    def text(self, node: Node, name: str, *, multiline: bool = False, limit: int = SHORT_TEXT) -> str | None:
        if not isinstance(node, ScalarNode) or node.tag == _NULL_TAG:
            self.error(node, name, f"expected text, got {_describe(node)}")
            return None
        value: str = node.value.strip() if multiline and self.strips_blocks else node.value
        if not value.strip():
            self.error(node, name, "must not be empty")
            return None
        if len(value) > limit:
            self.error(node, name, f"is {len(value)} characters long; the limit is {limit}")
            return None
        if "\r" in value or ("\n" in value and not multiline):
            self.error(node, name, "must be a single line")
            return None
        bad = forbidden_char(value.replace("\n", " ").replace("\t", " ") if multiline else value, published=self.published)
        if bad is not None:
            self.error(node, name, f"contains {character_name(bad)}")
            return None
        return value

    def texts(self, node: Node, name: str) -> tuple[str, ...]:
        if isinstance(node, ScalarNode):  # a single discipline written without a list
            value = self.text(node, name)
            return (value,) if value else ()
        values = (self.text(item, sub) for sub, item in self.items(node, name, MAX_DISCIPLINES))
        return tuple(v for v in values if v)

    def flag(self, node: Node, name: str) -> bool | None:
        if isinstance(node, ScalarNode) and node.tag.endswith(":bool"):
            return node.value.lower() in ("true", "yes", "on")
        self.error(node, name, f"expected true or false, got {_describe(node)}")
        return None

    def slug(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=MAX_ID)
        if value is not None and not SLUG_RE.match(value):
            self.error(node, name, f"expected lowercase letters, digits and single hyphens (like 'jakob-ingebrigtsen'), got {value!r}")
            return None
        return value

    def _numeral(self, node: Node, name: str, pattern: re.Pattern[str], what: str) -> bool:
        """Whether ``node`` is a plain scalar written as ``pattern``; else one error that says why. A
        number in quotes or in a block scalar (its text ends in a newline) gets its own message."""
        if isinstance(node, ScalarNode) and pattern.match(node.value.strip()) and (text := _as_text(node)) is not None:
            self.error(node, name, f"expected {what}, got {text}")
            return False
        if not isinstance(node, ScalarNode) or not pattern.match(node.value):
            self.error(node, name, f"expected {what}, got {_describe(node)}")
            return False
        return True

    def integer(self, node: Node, name: str, low: int, high: int) -> int | None:
        if not self._numeral(node, name, INT_RE, "a whole number"):
            return None
        assert isinstance(node, ScalarNode)
        digits = node.value.lstrip("+-").lstrip("0") or "0"  # int() counts leading zeros towards its limit
        if len(digits) > MAX_INT_DIGITS:  # out of range whatever it is; int() would refuse 4,301 digits
            self.error(node, name, f"must be between {low} and {high}, got a number of {len(digits)} digits")
            return None
        value = -int(digits) if node.value.startswith("-") else int(digits)
        if not low <= value <= high:
            self.error(node, name, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def number(self, node: Node, name: str, low: float, high: float) -> float | None:
        if not self._numeral(node, name, FLOAT_RE, "a number"):
            return None
        assert isinstance(node, ScalarNode)
        value = float(node.value) + 0.0  # -0 is 0: races that compare equal must render alike (history.compile_plan)
        if not low <= value <= high:
            shown = f"{value:g}" if len(node.value) <= QUOTED_VALUE else f"a number of {len(node.value)} characters"
            self.error(node, name, f"must be between {low:g} and {high:g}, got {shown}")
            return None
        return value

    def day(self, node: Node, name: str) -> date | None:
        if not isinstance(node, ScalarNode) or not DATE_RE.match(node.value):
            self.error(node, name, f"expected a date as YYYY-MM-DD, got {_describe(node)}")
            return None
        try:
            value = date.fromisoformat(node.value)
        except ValueError:
            self.error(node, name, f"{node.value!r} is not a real date")
            return None
        if not MIN_YEAR <= value.year <= MAX_YEAR:
            self.error(node, name, f"year {value.year} is outside {MIN_YEAR}–{MAX_YEAR}")
            return None
        return value

    def clock(self, node: Node, name: str) -> time | None:
        match = TIME_RE.match(node.value) if isinstance(node, ScalarNode) else None
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            shown = _describe(node)
            self.error(node, name, f'expected a 24-hour time as HH:MM (quote it: "19:30"), got {shown}')
            return None
        return time(int(match[1]), int(match[2]))

    def url(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=MAX_URL)
        if value is None:
            return None
        trouble = check_url(value, published=self.published)
        if trouble is not None:
            self.error(node, name, trouble)
            return None
        return value

    def timezone(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=MAX_ID)
        if value is None:
            return None
        if not is_zone_name(value):
            self.error(
                node,
                name,
                f"unknown timezone {quoted(value)}" + suggestion(value, known_timezones(), " (use an IANA name like 'Europe/Oslo')"),
            )
            return None
        return value

    def status(self, node: Node, name: str) -> Status | None:
        value = self.text(node, name)
        if value is None:
            return None
        try:
            return Status(value)
        except ValueError:
            options = [s.value for s in Status]
            self.error(
                node, name, f"unknown status {quoted(value)}" + suggestion(value, options, f"; expected one of: {', '.join(options)}")
            )
            return None

    # --- documents: mappings as documents.py declares them ---

    def read(self, shape: Shape, node: Node, name: str) -> tuple[dict[str, Any], dict[str, Node]] | None:
        """The valid values of ``node`` read as ``shape`` (deferred fields left to the caller, who
        gets every field's node too); None when it is not a mapping. Problems are recorded, and an
        invalid value is left out of the values."""
        fields = self.mapping(node, name, shape.keys, shape.required)
        if fields is None:
            return None
        values: dict[str, Any] = {}
        for key, child in fields.items():
            spec = shape.fields[key]
            if not spec.deferred:
                value = self.value(spec, child, field_path(name, key))
                if value is not None:
                    values[key] = value
        return values, fields

    def value(self, spec: Field, node: Node, name: str) -> Any:
        return _READ_KIND[spec.kind](self, spec, node, name)

    def _list(self, spec: Field, node: Node, name: str) -> tuple[Any, ...] | None:
        assert spec.shape is not None
        found = (self.object(spec.shape, item, sub) for sub, item in self.items(node, name, spec.limit))
        return tuple(v for v in found if v is not None) or None

    def object(self, shape: Shape, node: Node, name: str) -> Any:
        """``node`` as ``shape.model``, or None with its problems recorded."""
        before = len(self.problems)
        read = self.read(shape, node, name)
        if read is None:
            return None
        values, fields = read
        if shape is VENUE:
            if ("lat" in fields) != ("lon" in fields):
                self.error(node, name, "give both 'lat' and 'lon', or neither")
            if "name" not in fields and "city" not in fields:
                self.error(node, name, "needs at least a 'name' or a 'city'")
        if len(self.problems) > before or shape.model is None:
            return None
        return shape.model(**values)


def _read_by_document(reader: Reader, spec: Field, node: Node, name: str) -> Any:
    raise AssertionError(f"{spec.kind} fields are read by their document's code")


_READ_KIND: dict[Kind, Callable[[Reader, Field, Node, str], Any]] = {
    Kind.TEXT: lambda r, spec, node, name: r.text(node, name, limit=spec.text_limit),
    Kind.NOTE: lambda r, spec, node, name: r.text(node, name, multiline=True, limit=spec.text_limit),
    Kind.SLUG: lambda r, spec, node, name: r.slug(node, name),
    Kind.URL: lambda r, spec, node, name: r.url(node, name),
    Kind.DATE: lambda r, spec, node, name: r.day(node, name),
    Kind.TIME: lambda r, spec, node, name: r.clock(node, name),
    Kind.TIMEZONE: lambda r, spec, node, name: r.timezone(node, name),
    Kind.INTEGER: lambda r, spec, node, name: r.integer(node, name, int(spec.low), int(spec.high)),
    Kind.NUMBER: lambda r, spec, node, name: r.number(node, name, spec.low, spec.high),
    Kind.STATUS: lambda r, spec, node, name: r.status(node, name),
    Kind.TEXTS: lambda r, spec, node, name: r.texts(node, name) or None,
    Kind.OBJECT: lambda r, spec, node, name: r.object(spec.shape, node, name),  # type: ignore[arg-type]
    Kind.LIST: Reader._list,
    Kind.MAP: _read_by_document,
    Kind.SOURCES: _read_by_document,
    Kind.SLUGS: lambda r, spec, node, name: tuple(s for sub, item in r.items(node, name, spec.limit) if (s := r.slug(item, sub))),
    Kind.FLAG: lambda r, spec, node, name: r.flag(node, name),
}
assert set(_READ_KIND) == set(Kind), "every kind of field has a reader"
