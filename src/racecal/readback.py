"""What a previous build wrote, read back through the same checks as a plan.

A published ``state.json`` or ``index.json`` is untrusted input: it may be hand-edited, forged with an
updated hash, or fetched from a server that was tampered with. Its fields reach feeds and pages, so
they go through the very validators that YAML plans go through (``load.Reader``: text without control
or format characters, http(s) URLs, slugs, real dates, IANA zones, ranges). JSON values are wrapped in
YAML nodes for that, so there is one validation path, not a second codec that checks less.

Messages name the file and the field (``dist/p/state.json: races.monaco.snapshot.url: …``); JSON
written by racecal is one line, so a line and column would say nothing.
"""

from __future__ import annotations

import functools
import json
import re
from datetime import datetime
from typing import Any

from yaml import Mark
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from racecal import ics
from racecal.documents import SNAPSHOT
from racecal.errors import PreviousBuildError, Problem, field_path
from racecal.fields import Reader
from racecal.model import Race

_TAG = "tag:yaml.org,2002:"
_MARK = Mark("json", 0, 0, 0, None, None)  # type: ignore[arg-type]  # no buffer: JSON has no useful position
_STAMP = re.compile(r"^[0-9]{8}T[0-9]{6}Z\Z")
MAX_JSON_DEPTH = 64


def loads(data: bytes, where: str) -> Any:
    """JSON from a previous build, or a PreviousBuildError naming the file."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PreviousBuildError(f"{where}: not valid JSON ({exc})") from None
    except RecursionError:
        raise PreviousBuildError(f"{where}: nesting is too deep") from None
    except ValueError as exc:  # integers longer than Python converts (4,300 digits)
        raise PreviousBuildError(f"{where}: not valid JSON ({str(exc)[:80]})") from None


def node(value: Any, depth: int = 0) -> Node:
    """A JSON value as the YAML node the plan validators read."""
    if depth > MAX_JSON_DEPTH:
        raise PreviousBuildError("nesting is too deep")
    kind = type(value)
    if kind is str:
        return ScalarNode(_STR, value, _MARK, _MARK)
    if kind is dict:
        inner = depth + 1
        return MappingNode(_MAP, [(_key(k), node(v, inner)) for k, v in value.items()], _MARK, _MARK)
    if kind is list:
        inner = depth + 1
        return SequenceNode(_SEQ, [node(v, inner) for v in value], _MARK, _MARK)
    if value is None:
        return ScalarNode(_TAG + "null", "null", _MARK, _MARK)
    if kind is bool:
        return ScalarNode(_TAG + "bool", "true" if value else "false", _MARK, _MARK)
    if kind is int:
        return ScalarNode(_TAG + "int", str(value), _MARK, _MARK)
    if kind is float:
        text = repr(value)
        return ScalarNode(_TAG + "float", f"{value:.12f}" if "e" in text or "n" in text else text, _MARK, _MARK)
    return ScalarNode(_STR, str(value), _MARK, _MARK)


_STR, _MAP, _SEQ = _TAG + "str", _TAG + "map", _TAG + "seq"


@functools.lru_cache(maxsize=4096)
def _key(text: str) -> ScalarNode:
    """A mapping key's node, shared: an index repeats the same few keys for every plan, and nodes are
    only read."""
    return ScalarNode(_STR, text, _MARK, _MARK)


def keys_of(value: Node) -> tuple[str, ...]:
    """The keys a JSON object has: for maps keyed by ids, where the keys are checked one by one."""
    return tuple(k.value for k, _ in value.value) if isinstance(value, MappingNode) else ()


class JsonReader(Reader):
    """A Reader over JSON-made nodes; ``check`` raises every problem found, as one error."""

    published = True
    strips_blocks = False  # a summary that starts with a race named " 0" must read back as written

    def check(self) -> None:
        if self.problems:
            found = tuple(sorted(self.problems))
            raise PreviousBuildError("\n".join(f"{p.path}: {p.field}: {p.message}" for p in found), found)

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.path, 1, 1, name, message))

    def stamp(self, value: Node, name: str) -> datetime | None:
        text = value.value if isinstance(value, ScalarNode) and value.tag == _TAG + "str" else None
        if text is None or not _STAMP.match(text):
            shown = repr(text[:40]) if text is not None else "something else"
            self.error(value, name, f"expected a UTC time like 20240305T120000Z, got {shown}")
            return None
        try:
            moment = ics.parse_utc(text)
        except ValueError:
            self.error(value, name, f"{text!r} is not a real time")
            return None
        if not 1970 <= moment.year <= 2100:
            self.error(value, name, f"year {moment.year} is outside 1970–2100")
            return None
        return moment

    def digest(self, value: Node, name: str, *, empty_ok: bool = False) -> str | None:
        text: str | None = value.value if isinstance(value, ScalarNode) and value.tag == _TAG + "str" else None
        if text is None or not (re.fullmatch(r"[0-9a-f]{64}", text) or (empty_ok and text == "")):
            self.error(value, name, "expected a sha256 in hex")
            return None
        return text

    def race_snapshot(self, value: Node, name: str) -> Race | None:
        """A race as ``documents.encode`` wrote it, every field checked as in a plan."""
        before = len(self.problems)
        race = self.object(SNAPSHOT, value, name)
        if race is None:
            return None
        assert isinstance(race, Race)
        if race.end < race.start:
            self.error(value, field_path(name, "end"), f"{race.end} is before start {race.start}")
        if race.sessions and race.timezone is None:
            self.error(value, name, "sessions need a timezone")
        return race if len(self.problems) == before else None
