"""schedules/*.yaml and schedules/meets/*.yaml → model, with every problem located.

PyYAML is used only to *compose* node trees (libyaml's C parser when available, which keeps line and
column marks). Values are then validated here from the raw scalar text, so YAML 1.1 surprises
(``NO`` → False, ``19:30`` → 1170, ``2024-02-30`` → a constructor crash) never reach the model, and
no Python object is ever constructed from a tag.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import SplitResult, urlsplit

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from racecal.errors import PlanError, Problem, suggestion
from racecal.files import NotRegularFileError, TooLargeError, read_bounded
from racecal.model import SLUG_RE, Athlete, Meet, Plan, Race, Result, Session, Source, Status, Venue

# Limits (documented in the README under "Guarantees"). A season plan is a few kilobytes.
MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_RACES_PER_PLAN = 1000
MAX_SESSIONS_PER_RACE = 50
MAX_SOURCES_PER_RACE = 50
MAX_NESTING = 32
MIN_YEAR, MAX_YEAR = 1900, 2100
MAX_SPAN_DAYS = 60
SHORT_TEXT = 200
LONG_TEXT = 5000
# What one plan may expand to in its largest feed (all.ics): every event repeats its race's text and
# the sources it cites, so a small file can ask for a huge feed. 16 MiB keeps every feed far below the
# 64 MiB a later build will read back (previous.MAX_PREVIOUS_FILE), and a build's memory bounded.
MAX_PLAN_FEED_BYTES = 16 * 2**20
EVENT_OVERHEAD_BYTES = 1000  # UID, dates, status, location, categories: generous for one event
QUOTED_VALUE = 60  # longer values are described, not quoted, in messages

# ASCII classes only: `\d` would also take Arabic-Indic or fullwidth digits, which int() accepts but
# date.fromisoformat() does not, so the same digits would pass in one field and fail in the next.
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
TIME_RE = re.compile(r"^([0-9]{1,2}):([0-9]{2})$")
INT_RE = re.compile(r"^[+-]?[0-9]+$")
FLOAT_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")
MAX_INT_DIGITS = 9  # every whole number racecal takes is far smaller; int() of 4,301 digits raises

_YAML = "tag:yaml.org,2002:"
ALLOWED_TAGS = {_YAML + t for t in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq")}

PLAN_KEYS = ("athlete", "season", "timezone", "sources", "races")
ATHLETE_KEYS = ("name", "slug", "country", "disciplines")
RACE_KEYS = (
    "id", "meet", "name", "series", "date", "start", "end", "venue", "timezone", "disciplines",
    "status", "reason", "note", "url", "sources", "result", "sessions",
)  # fmt: skip
MEET_KEYS = ("id", "name", "series", "date", "start", "end", "venue", "timezone", "url")
VENUE_KEYS = ("name", "city", "country", "lat", "lon")
SOURCE_KEYS = ("outlet", "title", "url", "published", "quote")
RESULT_KEYS = ("place", "time", "note")
SESSION_KEYS = ("id", "name", "date", "time", "duration_minutes")


@cache
def known_timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _loader() -> type:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# --- reading files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceFile:
    """A file's path (as shown in messages), its bytes, and its name within the schedules directory.

    ``key`` is what builds remember a plan by, so the output does not depend on where the repository
    is or how ``--schedules`` was spelled.
    """

    path: str
    data: bytes
    key: str = ""

    @property
    def ident(self) -> str:
        return self.key or self.path


def shown_path(path: Path) -> str:
    """A path as messages show it; bytes of a non-UTF-8 name appear as \\xNN escapes, never raw."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_source(path: Path, problems: list[Problem], base: Path | None = None) -> SourceFile | None:
    """Read one input file, or record why not.

    With ``base`` (a file found in the schedules directory) only a regular file is read, never a
    symlink: a link could lead anywhere, and a file's content can appear in messages. A path named
    on the command line (``racecal check FILE``, ``--config``) may be a symlink to a regular file.
    FIFOs, devices and directories are refused without blocking; at most the limit + 1 byte is read.
    """
    shown = shown_path(path)
    if shown != str(path):
        problems.append(Problem(shown, 1, 1, "file", "the file name is not valid UTF-8; rename the file"))
        return None
    key = path.relative_to(base).as_posix() if base else ""
    try:
        data = read_bounded(path, MAX_FILE_BYTES, follow_symlinks=base is None)
    except NotRegularFileError as exc:
        if exc.symlink:
            message = "is a symbolic link; only regular files inside the schedules directory are read (copy the file in instead)"
        else:
            message = f"is {exc.kind}, not a regular file"
        problems.append(Problem(shown, 1, 1, "file", message))
        return None
    except TooLargeError as exc:
        problems.append(Problem(shown, 1, 1, "file", f"is {exc.size / 2**20:.1f} MiB; the limit is {MAX_FILE_BYTES // 2**20} MiB"))
        return None
    except OSError as exc:
        problems.append(Problem(shown, 1, 1, "file", f"cannot be read: {exc.strerror or exc}"))
        return None
    return SourceFile(shown, data, key)


YAML_SUFFIXES = (".yaml", ".yml")  # in any case: Plan.YAML is a plan too


def discover(schedules: Path, problems: list[Problem]) -> tuple[list[Path], list[Path]]:
    """Plan files and catalogue files of a schedules directory, in a stable order.

    Every entry named *.yaml or *.yml (any case) that is not a real directory is returned, so that
    read_source reports symlinks, FIFOs and the like instead of their being skipped in silence.
    Hidden names are skipped: editors leave lock links (.#plan.yaml) and macOS leaves ._plan.yaml
    beside the real files. YAML files in sub-folders are reported by read_all (here the directory
    may be any file's parent, where a walk has no business).
    """

    def yamls(d: Path) -> list[Path]:
        if not d.is_dir():
            return []
        return sorted(p for p in d.iterdir() if _is_yaml_name(p.name) and (p.is_symlink() or not p.is_dir()))

    meets = schedules / "meets"
    if meets.is_symlink():
        problems.append(Problem(shown_path(meets), 1, 1, "meets", "is a symbolic link; the meet catalogue must be a real directory inside the schedules directory"))
        return yamls(schedules), []
    return yamls(schedules), yamls(meets)


def _is_yaml_name(name: str) -> bool:
    return not name.startswith(".") and Path(name).suffix.lower() in YAML_SUFFIXES


def _misplaced(schedules: Path, meets: Path, problems: list[Problem]) -> None:
    """Report YAML files in sub-folders (not followed through symlinks; hidden folders skipped): a
    plan that is never read would cancel every race in it for every subscriber, without a word."""
    for top in sorted(p for p in _subdirectories(schedules) if p != meets):
        for path in _yamls_below(top):
            problems.append(Problem(
                shown_path(path), 1, 1, "file",
                f"is in a sub-folder, where racecal does not look: plans go directly in {shown_path(schedules)}/; "
                f"move it up, or rename it so it does not end in .yaml if it is not a plan",
            ))  # fmt: skip
    if meets.is_dir() and not meets.is_symlink():
        for top in sorted(_subdirectories(meets)):
            for path in _yamls_below(top):
                problems.append(Problem(
                    shown_path(path), 1, 1, "file",
                    f"is in a sub-folder of {shown_path(meets)}/, where racecal does not look: the meet catalogue goes directly in "
                    f"{shown_path(meets)}/; move it up, or rename it so it does not end in .yaml if it is not a catalogue",
                ))  # fmt: skip


def _subdirectories(directory: Path) -> list[Path]:
    try:
        return [p for p in directory.iterdir() if not p.name.startswith(".") and p.is_dir() and not p.is_symlink()]
    except OSError:
        return []  # an unreadable schedules directory is reported where its files are read


def _yamls_below(top: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(top):  # symlinked folders are not followed
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / name for name in sorted(files) if _is_yaml_name(name)]
    return found


# --- YAML → node tree -------------------------------------------------------------------------------


def compose(source: SourceFile, problems: list[Problem]) -> Node | None:
    """Parse one file into a node tree, or record why not. Rejects what YAML allows but plans must not."""
    try:
        text = source.data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = source.data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (source.data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = source.data[exc.start : exc.start + 1].hex()
        problems.append(Problem(source.path, line, column, "file", f"is not valid UTF-8 (byte 0x{bad})"))
        return None
    try:
        # libyaml's composer recurses in C: 25,000 nested brackets overflow the stack and kill the
        # process (no RecursionError to catch). Its event parser keeps an explicit stack, so the
        # depth is measured on the events first and the tree is composed only when it is shallow.
        too_deep = _too_deep(text) if _may_be_deep(text) else None
        if too_deep is not None:
            problems.append(Problem(source.path, too_deep[0] + 1, too_deep[1] + 1, "yaml", f"nesting is too deep (the limit is {MAX_NESTING})"))
            return None
        root = yaml.compose(text, Loader=_loader())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problems.append(Problem(source.path, line, column, "yaml", _yaml_message(exc, text, mark.index if mark else -1)))
        return None
    except yaml.YAMLError as exc:  # reader errors (control characters) carry a position only
        position = getattr(exc, "position", 0) or 0
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        problems.append(Problem(source.path, line, column, "yaml", _yaml_message(exc, text, position)))
        return None
    if root is None:
        problems.append(Problem(source.path, 1, 1, "file", "is empty"))
        return None
    before = len(problems)
    _check_structure(source.path, root, problems)
    return root if len(problems) == before else None


# libyaml composes this deep without trouble even on a small thread stack (it crashed near 25,000).
SAFE_COMPOSE_DEPTH = 500


def _may_be_deep(text: str) -> bool:
    """False when the tree certainly is no deeper than SAFE_COMPOSE_DEPTH, which spares ordinary files
    the event pass (about a sixth of the time spent loading). Sound, not tight: flow collections
    need an opening bracket each; the block collections still open on a line start at distinct
    columns no further right than its indentation (at most two per column: a sequence may sit at its
    mapping's column), and those it opens itself each need an indicator character."""
    openers = text.count("[") + text.count("{")
    if openers > SAFE_COMPOSE_DEPTH:
        return True
    block = 0
    for line in text.split("\n"):
        content = line.lstrip(" ")
        indent = len(line) - len(content)
        block = max(block, 2 * (indent + 1) + content.count("-") + content.count(":") + content.count("?"))
    return openers + block + 2 > SAFE_COMPOSE_DEPTH


def _too_deep(text: str) -> tuple[int, int] | None:
    """Where (0-based line, column) the node tree would first be deeper than MAX_NESTING, counted as
    ``_check_structure`` does (the document is level 1, a scalar one level below its collection)."""
    depth = 0
    for event in yaml.parse(text, Loader=_loader()):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_NESTING:
                return _position(event)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent | yaml.AliasEvent) and depth + 1 > MAX_NESTING:
            return _position(event)
    return None


def _position(event: yaml.Event) -> tuple[int, int]:
    mark = event.start_mark
    return (mark.line, mark.column) if mark else (0, 0)


def _yaml_message(exc: yaml.YAMLError, text: str, index: int) -> str:
    """What the YAML library found, in words, never quoting the file: a file that is not YAML at all
    (a key, a password file) must not end up in a terminal or a CI log."""
    if isinstance(exc, yaml.reader.ReaderError):
        code = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return f"{character_name(code)} is not allowed in YAML; remove it"
    problem = str(getattr(exc, "problem", "") or "").strip()
    if (0 <= index < len(text) and text[index] == "\t") or "tab character" in problem:
        return "tab character: YAML indentation must use spaces"
    context = getattr(exc, "context", None)
    if not problem:
        return "not a valid YAML document"
    return f"{context}: {problem}" if context else problem


def character_name(code: int) -> str:
    """``the control character U+0000 (NUL)``-style words for a character no one can see."""
    char = chr(code)
    kind = "noncharacter" if _is_noncharacter(code) else {
        "Cc": "control character", "Cf": "invisible formatting character", "Cs": "surrogate",
        "Zl": "line separator", "Zp": "paragraph separator",
    }.get(unicodedata.category(char), "invisible character" if is_default_ignorable(code) else "character")  # fmt: skip
    name = "NUL" if code == 0 else unicodedata.name(char, "")
    return f"the {kind} U+{code:04X}" + (f" ({name})" if name else "")


def check_url(value: str, *, published: bool = False) -> str | None:
    """None when ``value`` is an http(s) URL racecal may publish, else what is wrong with it.
    A ``published`` URL is not held to the host, credential and escape rules (see Reader.published)."""
    bad = forbidden_char(value, allow_format=False, published=published)
    if bad is not None:
        return f"contains {character_name(bad)}"
    parts = http_url_parts(value)
    if parts is None:
        return f"only http:// and https:// URLs are allowed, got {quoted(value)}"
    return None if published else url_detail_problem(value, parts)


def http_url_parts(value: str) -> SplitResult | None:
    """``value`` split, when it is an http(s) URL with a host, no spaces and a port that is a number."""
    if any(c.isspace() for c in value):
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in range
    except ValueError:  # an unclosed or invalid IPv6 host, "http://[::1"
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts


MAX_HOST_LABEL = 63
MAX_HOST_NAME = 253
_PERCENT_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def url_detail_problem(value: str, parts: SplitResult) -> str | None:
    """What is wrong inside an http(s) URL that ``http_url_parts`` split: credentials, which would be
    published in every feed; a host no resolver can look up (``exa$(id).org``, ``-``); a ``%`` that
    starts no escape, which clients decode differently or refuse."""
    if "@" in parts.netloc:
        return "must not contain a user name or password (they would be published in every feed)"
    host = _host_as_written(parts.netloc)
    if not _is_host(host):
        shown = quoted(host) if len(host) <= QUOTED_VALUE else f"of {len(host)} characters"
        return f"the host {shown} is not a valid host name"
    broken = _PERCENT_ESCAPE.search(value)
    if broken is not None:
        escape = value[broken.start() : broken.start() + 3]
        return f"has a broken percent escape {quoted(escape)} (% must be followed by two hex digits; write %25 for a % sign)"
    return None


def _host_as_written(netloc: str) -> str:
    """The host of ``netloc`` with its case kept (SplitResult.hostname lowercases it)."""
    if netloc.startswith("["):  # urlsplit has checked that the brackets close; not what follows them
        host, _, after = netloc.partition("]")
        return host + "]" + ("" if after == "" or after.startswith(":") else after)
    return netloc.partition(":")[0]


def _is_host(host: str) -> bool:
    if host.startswith("["):  # an IPv6 address; not IPvFuture ("[v1.x]"), which no browser takes
        try:
            ipaddress.IPv6Address(host.removeprefix("[").removesuffix("]"))
        except ValueError:
            return False
        return True
    name = host.removesuffix(".")  # a fully qualified name ("example.org.") is still a name
    labels = name.split(".")
    if len(name) > MAX_HOST_NAME or not all(_is_host_label(label) for label in labels):
        return False
    # A Unicode label travels as "xn--" + its punycode, which must fit the 63 octets of a DNS label.
    if any(len(label if label.isascii() else "xn--" + label.encode("punycode").decode()) > MAX_HOST_LABEL for label in labels):
        return False
    if labels[-1].isascii() and labels[-1].isdigit():  # a numeric last label makes it an IPv4 address
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            return False
    return True


def _is_host_label(label: str) -> bool:
    """Letters and digits of any script with their combining marks (so IDN hosts written in Unicode
    pass: हिंदी.भारत), hyphens inside, and underscores (which browsers accept and some real hosts have)."""
    if not label or label[0] == "-" or label[-1] == "-" or unicodedata.category(label[0])[0] == "M":
        return False
    return all(c.isalnum() or c in "-_" or unicodedata.category(c)[0] == "M" for c in label)


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


# Unicode's Default_Ignorable_Code_Point list (DerivedCoreProperties.txt; unicodedata has no such
# property): code points that render as nothing, assigned or not. Most are format characters (Cf);
# the others are why this list exists: Hangul fillers (letters that draw nothing), the combining
# grapheme joiner, Khmer inherent vowels, variation selectors and unassigned code points reserved
# for more of them. Any of them can make a name carry text no one sees.
DEFAULT_IGNORABLE_RANGES = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# The ignorables that real text needs, each only where it does something. The zero-width joiner and
# non-joiner (emoji sequences, Persian and Indic scripts) after a visible character; variation
# selectors (emoji or text presentation, CJK and Mongolian variants) after a base character; tag
# characters only inside a subdivision flag (U+1F3F4, tags, U+E007F: England, Scotland, Wales).
JOINERS = frozenset({0x200C, 0x200D})
VARIATION_SELECTORS = frozenset({0x180B, 0x180C, 0x180D, 0x180F, *range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)})
BLACK_FLAG, TAG_CANCEL = 0x1F3F4, 0xE007F
# A flag's tags spell a subdivision id (UTS #51, Unicode CLDR): "gbsct" is a region of 2 letters or
# 3 digits and 1-4 letters or digits, all lowercase. No other tags, so no room for hidden sentences.
SUBDIVISION_TAGS = frozenset({*range(0xE0030, 0xE003A), *range(0xE0061, 0xE007B)})
SUBDIVISION_ID_LENGTH = range(3, 8)


def is_default_ignorable(code: int) -> bool:
    return any(low <= code <= high for low, high in DEFAULT_IGNORABLE_RANGES)


def _flag_tags_end(value: str, start: int) -> int:
    """The index after the tag characters and U+E007F that follow ``value[start]``, when they are
    there; else ``start`` (no flag tag sequence begins here)."""
    end = start
    while end < len(value) and ord(value[end]) in SUBDIVISION_TAGS:
        end += 1
    if end - start in SUBDIVISION_ID_LENGTH and end < len(value) and ord(value[end]) == TAG_CANCEL:
        return end + 1
    return start


# What racecal accepted before the default-ignorables were checked (see Reader.published).
_PUBLISHED_FORMAT_CHARS = frozenset({*JOINERS, *range(0xE0020, 0xE0080)})


def forbidden_char(value: str, *, allow_format: bool = True, published: bool = False) -> int | None:
    """The first character that must not appear in a name, note or URL: controls (including the
    ones XML 1.0 forbids), surrogates, noncharacters such as U+FFFE, line and paragraph separators,
    every other invisible formatting character (Cf) and every default-ignorable code point, except
    the joiners, variation selectors and flag tags where real text needs them (none at all in URLs).
    ``published`` text is held only to the Cf rule (see Reader.published)."""
    index = 0
    previous = ""  # the general category of the last character, "" at the start of the text
    while index < len(value):
        ch = value[index]
        code = ord(ch)
        index += 1
        if 0x20 <= code < 0x7F:
            previous = "Zs" if code == 0x20 else "L"  # all that matters below: visible or not
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs", "Zl", "Zp") or _is_noncharacter(code):
            return code
        if code == BLACK_FLAG and allow_format and not published:
            index = _flag_tags_end(value, index)
        elif published:
            if category == "Cf" and not (allow_format and code in _PUBLISHED_FORMAT_CHARS):
                return code
        elif category == "Cf" or is_default_ignorable(code):
            if not allow_format:
                return code
            if code in JOINERS and previous[:1] in ("L", "M", "N", "P", "S", "V"):
                category = "J"  # a joiner does not let another joiner follow
            elif code in VARIATION_SELECTORS and previous[:1] in ("L", "N", "P", "S"):
                category = "V"  # a variation selector may be followed by a joiner (❤️‍🔥)
            else:
                return code
        previous = category
    return None


def _check_structure(path: str, root: Node, problems: list[Problem]) -> None:
    """One pass over the node graph: aliases, tags, duplicate and non-text keys, nesting depth.

    Aliases are refused outright: that keeps "billion laughs" out, and the meet catalogue is the way to
    share data. Everything here is iterative so no input can exhaust the stack.
    """
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            _add(problems, path, node, "yaml", "anchors and aliases (&name / *name) are not supported; use the meet catalogue to share data")
            return
        seen.add(id(node))
        if depth > MAX_NESTING:
            _add(problems, path, node, "yaml", f"nesting is too deep (the limit is {MAX_NESTING})")
            return
        if node.tag not in ALLOWED_TAGS:
            _add(problems, path, node, "yaml", f"unsupported tag {quoted(node.tag)}")
            continue
        if isinstance(node, MappingNode):
            keys: dict[str, Node] = {}
            for key, value in node.value:
                if key.tag == _YAML + "merge":
                    _add(problems, path, key, "yaml", "merge keys (<<) are not supported; use the meet catalogue to share data")
                    continue
                if not isinstance(key, ScalarNode) or key.tag not in ALLOWED_TAGS or key.tag == _YAML + "null":
                    _add(problems, path, key, "yaml", "mapping keys must be plain text")
                    continue
                if key.value in keys:
                    first = keys[key.value].start_mark.line + 1
                    _add(problems, path, key, _join("", key.value), f"duplicate key (first defined on line {first})")
                else:
                    keys[key.value] = key
                stack.append((value, depth + 1))
        elif isinstance(node, SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


def _add(problems: list[Problem], path: str, node: Node, field: str, message: str) -> None:
    problems.append(Problem(path, node.start_mark.line + 1, node.start_mark.column + 1, field, message))


# --- validating nodes -------------------------------------------------------------------------------


def _describe(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    if node.tag == _YAML + "null":
        return "nothing"
    return quoted(node.value)


def quoted(value: str) -> str:
    """A value the user wrote, quoted for a message when it is short and on one line; otherwise only
    described, so that a file that was never meant to be a plan is not copied into a log."""
    if len(value) <= QUOTED_VALUE and "\n" not in value:
        return repr(value)
    return f"text of {len(value)} characters"


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


_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _join(parent: str, key: str) -> str:
    """A field path like ``races[2].date``; keys that are not plain words are quoted, so an empty or
    odd key (``''``, ``'a: b'``) still reads as a field in a message."""
    shown = key if _PLAIN_KEY.match(key) and len(key) <= QUOTED_VALUE else quoted(key)
    return f"{parent}.{shown}" if parent else shown


@dataclass
class Reader:
    """Validates one file's node tree, collecting problems instead of stopping at the first."""

    path: str
    problems: list[Problem] = field(default_factory=list)
    # Text read back from a build racecal published (readback.JsonReader) keeps the rules that make
    # feeds and pages safe (no controls, no bidi or other format characters, http(s) URLs) but not the
    # content rules added since (default-ignorables, URL hosts, credentials, % escapes): a build made
    # by an older racecal must stay readable, or the only way on would be --fresh, which restarts
    # every subscriber's SEQUENCE history. The plan that made it is checked in full.
    published: ClassVar[bool] = False

    def error(self, node: Node, name: str, message: str) -> None:
        _add(self.problems, self.path, node, name, message)

    def mapping(self, node: Node, name: str, allowed: Sequence[str], required: Sequence[str] = ()) -> dict[str, Node] | None:
        if not isinstance(node, MappingNode):
            # A whole file that is a single text is not a plan (a password file, a key, a .env):
            # say so without quoting any of it.
            got = "text, not YAML keys and values" if not name and isinstance(node, ScalarNode) and node.tag != _YAML + "null" else _describe(node)
            self.error(node, name or "document", f"expected a mapping, got {got}")
            return None
        out: dict[str, Node] = {}
        for key, value in node.value:
            k = key.value
            if k in out:
                continue  # reported as a duplicate key already
            if k not in allowed:
                suffix = suggestion(k, allowed, f"; expected one of: {', '.join(allowed)}")
                self.error(key, _join(name, k), "unknown key" + suffix)
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
        if not isinstance(node, ScalarNode) or node.tag == _YAML + "null":
            self.error(node, name, f"expected text, got {_describe(node)}")
            return None
        value: str = node.value.strip() if multiline else node.value
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
        values = (self.text(item, sub) for sub, item in self.items(node, name, 20))
        return tuple(v for v in values if v)

    def slug(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=64)
        if value is not None and not SLUG_RE.match(value):
            self.error(node, name, f"expected lowercase letters, digits and single hyphens (like 'jakob-ingebrigtsen'), got {value!r}")
            return None
        return value

    def integer(self, node: Node, name: str, low: int, high: int) -> int | None:
        if not isinstance(node, ScalarNode) or not INT_RE.match(node.value):
            self.error(node, name, f"expected a whole number, got {_describe(node)}")
            return None
        if (text := _as_text(node)) is not None:
            self.error(node, name, f"expected a whole number, got {text}")
            return None
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
        if not isinstance(node, ScalarNode) or not FLOAT_RE.match(node.value):
            self.error(node, name, f"expected a number, got {_describe(node)}")
            return None
        if (text := _as_text(node)) is not None:
            self.error(node, name, f"expected a number, got {text}")
            return None
        value = float(node.value)
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
            self.error(node, name, f"expected a 24-hour time as HH:MM (quote it: \"19:30\"), got {shown}")
            return None
        return time(int(match[1]), int(match[2]))

    def url(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=2000)
        if value is None:
            return None
        trouble = check_url(value, published=self.published)
        if trouble is not None:
            self.error(node, name, trouble)
            return None
        return value

    def timezone(self, node: Node, name: str) -> str | None:
        value = self.text(node, name, limit=64)
        if value is None:
            return None
        if value not in known_timezones():
            self.error(node, name, f"unknown timezone {quoted(value)}" + suggestion(value, known_timezones(), " (use an IANA name like 'Europe/Oslo')"))
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
            self.error(node, name, f"unknown status {quoted(value)}" + suggestion(value, options, f"; expected one of: {', '.join(options)}"))
            return None

    # --- composite fields ---

    def span(self, fields: dict[str, Node], node: Node, name: str) -> tuple[date, date] | None:
        """``date: D`` or ``start: D`` [+ ``end: D``]; None when absent or invalid (errors recorded)."""
        if "date" in fields and ("start" in fields or "end" in fields):
            self.error(fields["date"], _join(name, "date"), "give either 'date' or 'start'/'end', not both")
            return None
        if "date" in fields:
            day = self.day(fields["date"], _join(name, "date"))
            return (day, day) if day else None
        if "end" in fields and "start" not in fields:
            self.error(fields["end"], _join(name, "end"), "'end' needs a 'start'")
            return None
        if "start" not in fields:
            return None
        start = self.day(fields["start"], _join(name, "start"))
        end = self.day(fields["end"], _join(name, "end")) if "end" in fields else start
        if start is None or end is None:
            return None
        if end < start:
            self.error(fields["end"], _join(name, "end"), f"{end} is before start {start}")
            return None
        if (end - start).days >= MAX_SPAN_DAYS:
            self.error(fields["end"], _join(name, "end"), f"a span of {(end - start).days + 1} days is longer than {MAX_SPAN_DAYS}")
            return None
        return start, end

    def venue(self, node: Node, name: str) -> Venue | None:
        fields = self.mapping(node, name, VENUE_KEYS)
        if fields is None:
            return None
        text = {k: self.text(fields[k], _join(name, k)) for k in ("name", "city", "country") if k in fields}
        lat = self.number(fields["lat"], _join(name, "lat"), -90, 90) if "lat" in fields else None
        lon = self.number(fields["lon"], _join(name, "lon"), -180, 180) if "lon" in fields else None
        if ("lat" in fields) != ("lon" in fields):
            self.error(node, name, "give both 'lat' and 'lon', or neither")
        if not any(text.values()):
            self.error(node, name, "needs at least a 'name' or a 'city'")
            return None
        return Venue(text.get("name"), text.get("city"), text.get("country"), lat, lon)

    def source(self, node: Node, name: str) -> Source | None:
        fields = self.mapping(node, name, SOURCE_KEYS, required=("outlet",))
        if fields is None:
            return None
        outlet = self.text(fields["outlet"], _join(name, "outlet")) if "outlet" in fields else None
        title = self.text(fields["title"], _join(name, "title"), limit=500) if "title" in fields else None
        url = self.url(fields["url"], _join(name, "url")) if "url" in fields else None
        published = self.day(fields["published"], _join(name, "published")) if "published" in fields else None
        quote = self.text(fields["quote"], _join(name, "quote"), multiline=True, limit=LONG_TEXT) if "quote" in fields else None
        return Source(outlet, title, url, published, quote) if outlet else None


# --- the meet catalogue ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """A model value with the file and node it came from, for messages that point back at it."""

    value: Any
    path: str
    node: Node


def parse_catalogue(sources: Iterable[SourceFile], problems: list[Problem]) -> dict[str, Meet]:
    meets: dict[str, Located] = {}
    for source in sources:
        root = compose(source, problems)
        if root is None:
            continue
        r = Reader(source.path, problems)
        top = r.mapping(root, "", ("meets",), required=("meets",))
        if not top or "meets" not in top:
            continue
        for name, node in r.items(top["meets"], "meets", 10_000):
            meet = _meet(r, node, name)
            if meet is None:
                continue
            if meet.id in meets:
                first = meets[meet.id]
                r.error(node, _join(name, "id"), f"duplicate meet id {meet.id!r} (first in {first.path}:{first.node.start_mark.line + 1})")
                continue
            meets[meet.id] = Located(meet, source.path, node)
    return {k: v.value for k, v in meets.items()}


def _meet(r: Reader, node: Node, name: str) -> Meet | None:
    fields = r.mapping(node, name, MEET_KEYS, required=("id", "name", "timezone"))
    if fields is None:
        return None
    meet_id = r.slug(fields["id"], _join(name, "id")) if "id" in fields else None
    title = r.text(fields["name"], _join(name, "name")) if "name" in fields else None
    series = r.text(fields["series"], _join(name, "series")) if "series" in fields else None
    tz = r.timezone(fields["timezone"], _join(name, "timezone")) if "timezone" in fields else None
    span = r.span(fields, node, name)
    if span is None and not any(k in fields for k in ("date", "start", "end")):
        r.error(node, name, "missing required key 'date' (or 'start' and 'end')")
    venue = r.venue(fields["venue"], _join(name, "venue")) if "venue" in fields else None
    url = r.url(fields["url"], _join(name, "url")) if "url" in fields else None
    if meet_id is None or title is None or tz is None or span is None:
        return None
    return Meet(meet_id, title, span[0], span[1], tz, series, venue, url)


# --- plans -----------------------------------------------------------------------------------------


def parse_plan(source: SourceFile, meets: dict[str, Meet], problems: list[Problem]) -> Plan | None:
    root = compose(source, problems)
    if root is None:
        return None
    before = len(problems)
    r = Reader(source.path, problems)
    top = r.mapping(root, "", PLAN_KEYS, required=("athlete", "season", "races"))
    if top is None:
        return None
    athlete = _athlete(r, top["athlete"]) if "athlete" in top else None
    season = r.integer(top["season"], "season", MIN_YEAR, MAX_YEAR) if "season" in top else None
    tz = r.timezone(top["timezone"], "timezone") if "timezone" in top else "UTC"
    shared_sources: dict[str, Source] = {}
    if "sources" in top:
        fields = r.mapping(top["sources"], "sources", allowed=_keys_of(top["sources"]))
        for key, node in (fields or {}).items():
            if _source_key_ok(r, node, key):
                src = r.source(node, _join("sources", key))
                if src:
                    shared_sources[key] = src
    races: list[Race] = []
    first_seen: dict[str, Node] = {}
    for name, node in r.items(top["races"], "races", MAX_RACES_PER_PLAN) if "races" in top else []:
        race = _race(r, node, name, meets, shared_sources)
        if race is None:
            continue
        if race.id in first_seen:
            id_node = _child(node, "id") or node
            r.error(id_node, _join(name, "id"), f"duplicate race id {race.id!r} (first on line {first_seen[race.id].start_mark.line + 1})")
            continue
        first_seen[race.id] = node
        races.append(race)
    if races and (size := sum(_feed_bytes(race) for race in races)) > MAX_PLAN_FEED_BYTES:
        r.error(top["races"], "races", (
            f"would make a feed of about {size / 2**20:.0f} MiB; the limit is {MAX_PLAN_FEED_BYTES // 2**20} MiB "
            "(every session repeats its race's notes and sources: use fewer sessions, sources or shorter texts)"
        ))  # fmt: skip
    if len(problems) > before or athlete is None or season is None or tz is None:
        return None
    return Plan(athlete, season, tuple(races), source.ident, tz)


def _feed_bytes(race: Race) -> int:
    """An upper bound on the bytes ``race`` adds to a feed: each of its events (one per session, or
    one) carries every text of the race at most twice (SUMMARY, LOCATION, CATEGORIES and URL repeat
    what DESCRIPTION says), and escaping at most doubles a text."""
    texts = [race.name, race.series, race.reason, race.note, race.url, *race.disciplines]
    if race.venue:
        texts += [race.venue.name, race.venue.city, race.venue.country]
    if race.result:
        texts += [race.result.time, race.result.note]
    for source in race.sources:
        texts += [source.outlet, source.title, source.quote, source.url]
    texts += [session.name for session in race.sessions]
    text_bytes = sum(len(t.encode()) for t in texts if t) + 100 * len(race.sessions)  # times and zones
    return max(1, len(race.sessions)) * (4 * text_bytes + EVENT_OVERHEAD_BYTES)


def _keys_of(node: Node) -> tuple[str, ...]:
    return tuple(k.value for k, _ in node.value) if isinstance(node, MappingNode) else ()


def _child(node: Node, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if k.value == key:
                found: Node = v
                return found
    return None


def _source_key_ok(r: Reader, node: Node, key: str) -> bool:
    """Shared-source ids are mapping keys; they must be slugs so races can reference them."""
    if SLUG_RE.match(key):
        return True
    r.error(node, _join("sources", key), "source ids must be lowercase letters, digits and hyphens")
    return False


def _athlete(r: Reader, node: Node) -> Athlete | None:
    fields = r.mapping(node, "athlete", ATHLETE_KEYS, required=("name", "slug"))
    if fields is None:
        return None
    name = r.text(fields["name"], "athlete.name") if "name" in fields else None
    slug = r.slug(fields["slug"], "athlete.slug") if "slug" in fields else None
    country = r.text(fields["country"], "athlete.country", limit=64) if "country" in fields else None
    disciplines = r.texts(fields["disciplines"], "athlete.disciplines") if "disciplines" in fields else ()
    if name is None or slug is None:
        return None
    return Athlete(name, slug, country, disciplines)


def _race(r: Reader, node: Node, name: str, meets: dict[str, Meet], shared: dict[str, Source]) -> Race | None:
    fields = r.mapping(node, name, RACE_KEYS, required=("id", "status"))
    if fields is None:
        return None
    before = len(r.problems)
    race_id = r.slug(fields["id"], _join(name, "id")) if "id" in fields else None
    meet: Meet | None = None
    if "meet" in fields:
        meet_id = r.text(fields["meet"], _join(name, "meet"), limit=64)
        if meet_id is not None:
            meet = meets.get(meet_id)
            if meet is None:
                r.error(fields["meet"], _join(name, "meet"), f"unknown meet {meet_id!r}" + suggestion(meet_id, meets, " (meets are defined in schedules/meets/*.yaml)"))
    title = r.text(fields["name"], _join(name, "name")) if "name" in fields else (meet.name if meet else None)
    if title is None and "name" not in fields and "meet" not in fields:
        r.error(node, name, "missing required key 'name' (or a 'meet' from the catalogue)")
    span = r.span(fields, node, name) or ((meet.start, meet.end) if meet and not any(k in fields for k in ("date", "start", "end")) else None)
    if span is None and "meet" not in fields and not any(k in fields for k in ("date", "start", "end")):
        r.error(node, name, "missing required key 'date' (or a 'meet' from the catalogue)")
    tz = r.timezone(fields["timezone"], _join(name, "timezone")) if "timezone" in fields else (meet.timezone if meet else None)
    venue = r.venue(fields["venue"], _join(name, "venue")) if "venue" in fields else (meet.venue if meet else None)
    url = r.url(fields["url"], _join(name, "url")) if "url" in fields else (meet.url if meet else None)
    series = r.text(fields["series"], _join(name, "series")) if "series" in fields else (meet.series if meet else None)
    status = r.status(fields["status"], _join(name, "status")) if "status" in fields else None
    disciplines = r.texts(fields["disciplines"], _join(name, "disciplines")) if "disciplines" in fields else ()
    reason = r.text(fields["reason"], _join(name, "reason"), multiline=True, limit=LONG_TEXT) if "reason" in fields else None
    note = r.text(fields["note"], _join(name, "note"), multiline=True, limit=LONG_TEXT) if "note" in fields else None
    sources = _race_sources(r, fields["sources"], _join(name, "sources"), shared) if "sources" in fields else ()
    result = _result(r, fields["result"], _join(name, "result")) if "result" in fields else None
    sessions: tuple[Session, ...] = ()
    if "sessions" in fields and span is not None:
        sessions = _sessions(r, fields["sessions"], _join(name, "sessions"), span, tz)
    if len(r.problems) > before or race_id is None or title is None or span is None or status is None:
        return None
    return Race(
        id=race_id, name=title, start=span[0], end=span[1], status=status, meet_id=meet.id if meet else None,
        series=series, venue=venue, timezone=tz, disciplines=disciplines, reason=reason, note=note, url=url,
        sources=sources, result=result, sessions=sessions,
    )  # fmt: skip


def _race_sources(r: Reader, node: Node, name: str, shared: dict[str, Source]) -> tuple[Source, ...]:
    out: list[Source] = []
    for sub, item in r.items(node, name, MAX_SOURCES_PER_RACE):
        if isinstance(item, ScalarNode):
            key = r.text(item, sub, limit=64)
            if key is None:
                continue
            if key not in shared:
                r.error(item, sub, f"unknown source {key!r}" + suggestion(key, shared, " (define it under the plan's 'sources')"))
                continue
            out.append(shared[key])
        else:
            src = r.source(item, sub)
            if src:
                out.append(src)
    return tuple(out)


def _result(r: Reader, node: Node, name: str) -> Result | None:
    fields = r.mapping(node, name, RESULT_KEYS)
    if fields is None:
        return None
    place = r.integer(fields["place"], _join(name, "place"), 1, 10_000) if "place" in fields else None
    mark = r.text(fields["time"], _join(name, "time"), limit=32) if "time" in fields else None
    note = r.text(fields["note"], _join(name, "note"), multiline=True, limit=LONG_TEXT) if "note" in fields else None
    return Result(place, mark, note)


def _sessions(r: Reader, node: Node, name: str, span: tuple[date, date], tz: str | None) -> tuple[Session, ...]:
    out: list[Session] = []
    owners: dict[str, str] = {}  # session id -> the name of the session that has it, as written
    for sub, item in r.items(node, name, MAX_SESSIONS_PER_RACE):
        fields = r.mapping(item, sub, SESSION_KEYS, required=("name", "date", "time"))
        if fields is None:
            continue
        title = r.text(fields["name"], _join(sub, "name")) if "name" in fields else None
        explicit = "id" in fields
        session_id = r.slug(fields["id"], _join(sub, "id")) if explicit else (_slugify(title) if title else None)
        day = r.day(fields["date"], _join(sub, "date")) if "date" in fields else None
        start = r.clock(fields["time"], _join(sub, "time")) if "time" in fields else None
        minutes = r.integer(fields["duration_minutes"], _join(sub, "duration_minutes"), 1, 24 * 60) if "duration_minutes" in fields else 60
        if day is not None and not span[0] <= day <= span[1]:
            r.error(fields["date"], _join(sub, "date"), f"{day} is outside the race's dates {span[0]}..{span[1]}")
            day = None
        if start is not None and day is not None:
            if tz is None:
                r.error(fields["time"], _join(sub, "time"), "a time needs a timezone: set 'timezone' on the race or its meet")
                start = None
            else:
                trouble = _local_time_trouble(day, start, tz)
                if trouble:
                    r.error(fields["time"], _join(sub, "time"), trouble)
                    start = None
        if session_id is not None and session_id in owners:
            # The editor knows sessions by name; a generated id is only named as the thing to override.
            other = owners[session_id]
            if explicit:
                r.error(fields["id"], _join(sub, "id"), f"duplicate session id {session_id!r}: session {other!r} has it too")
            else:
                r.error(fields["name"], _join(sub, "name"), f"session {title!r} gets the same id as session {other!r} ({session_id!r}); give one of them its own 'id:'")
            continue
        if session_id is not None and title is not None:
            owners[session_id] = title
        if None in (title, session_id, day, start, minutes):
            continue
        assert title and session_id and day and start and minutes  # narrowed for mypy
        out.append(Session(session_id, title, day, start, minutes))
    return tuple(out)


# Letters that Unicode decomposition leaves alone but that have a usual ASCII spelling ("Økt" → "okt").
_ASCII_LETTERS = str.maketrans({"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ß": "ss", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "ł": "l", "Ł": "L", "ı": "i"})


def _slugify(text: str) -> str:
    """A session id from its name: stable across builds (it is part of the event's UID).

    Accents and Nordic letters keep their ASCII spelling; a name with letters or symbols that have
    none (CJK, emoji) gets a short digest of the exact name, so different names get different ids
    and the same name always gets the same one.
    """
    folded = unicodedata.normalize("NFKD", text.translate(_ASCII_LETTERS))
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    slug = re.sub(r"[^a-z0-9]+", "-", plain.lower())[:64].strip("-")
    lossy = any(not c.isascii() and unicodedata.category(c)[0] in "LNS" for c in plain)
    if slug and not lossy:
        return slug
    digest = hashlib.sha256(unicodedata.normalize("NFC", text).encode("utf-8")).hexdigest()[:8]
    return f"{slug[:55].strip('-')}-{digest}" if slug else f"session-{digest}"


def _local_time_trouble(day: date, start: time, tz: str) -> str | None:
    """Times that do not exist, or exist twice, on a DST change day cannot be published unambiguously."""
    zone = zoneinfo.ZoneInfo(tz)
    local = datetime.combine(day, start, tzinfo=zone)
    if local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset():
        roundtrip = local.astimezone(zoneinfo.ZoneInfo("UTC")).astimezone(zone)
        if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
            return f"{start:%H:%M} does not exist in {tz} on {day} (the clocks go forward)"
        return f"{start:%H:%M} occurs twice in {tz} on {day} (the clocks go back); pick another time"
    return None


# --- everything at once ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedules:
    plans: tuple[Plan, ...]
    meets: dict[str, Meet]


def load_schedules(plan_files: Sequence[SourceFile], catalogue_files: Sequence[SourceFile], problems: list[Problem]) -> Schedules:
    """Validate everything; problems accumulate in ``problems`` (the caller decides whether to raise)."""
    meets = parse_catalogue(catalogue_files, problems)
    plans: list[Plan] = []
    owners: dict[str, str] = {}
    for source in plan_files:
        plan = parse_plan(source, meets, problems)
        if plan is None:
            continue
        if plan.id in owners:
            problems.append(Problem(source.path, 1, 1, "athlete.slug", f"plan {plan.id!r} (athlete and season) is also defined in {owners[plan.id]}"))
            continue
        owners[plan.id] = source.path
        plans.append(plan)
    return Schedules(tuple(plans), meets)


def read_all(schedules: Path) -> tuple[list[SourceFile], list[SourceFile], list[Problem]]:
    problems: list[Problem] = []
    if not schedules.is_dir():
        problems.append(Problem(str(schedules), 1, 1, "schedules", "is not a directory"))
        return [], [], problems
    plan_paths, meet_paths = discover(schedules, problems)
    _misplaced(schedules, schedules / "meets", problems)
    plans = [s for s in (read_source(p, problems, schedules) for p in plan_paths) if s]
    meets = [s for s in (read_source(p, problems, schedules) for p in meet_paths) if s]
    return plans, meets, problems


def load_dir(schedules: Path) -> Schedules:
    """Read and validate a schedules directory; raise PlanError listing every problem."""
    plan_files, meet_files, problems = read_all(schedules)
    result = load_schedules(plan_files, meet_files, problems)
    if problems:
        raise PlanError(problems)
    return result
