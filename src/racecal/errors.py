"""Errors that reach the user. ``cli.py`` turns them into messages and exit codes."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from racecal.text import QUOTED_VALUE, quoted


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file, located to the character."""

    path: str
    line: int  # 1-based
    column: int  # 1-based
    field: str
    message: str
    warning: bool = False  # something plausible but probably wrong: reported, fails only under --strict

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.field}: {'warning: ' if self.warning else ''}{self.message}"


def suggestion(value: str, choices: Iterable[str], otherwise: str) -> str:
    """The tail of an "unknown …" message: "; did you mean 'x'?" for the closest choice, else ``otherwise``."""
    hint = difflib.get_close_matches(value, sorted(choices), n=1)
    return f"; did you mean '{hint[0]}'?" if hint else otherwise


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")  # fullmatch: "$" would let a key end in a newline


def field_path(parent: str, key: str) -> str:
    """A field path like ``races[2].date``; keys that are not plain words are quoted, so an empty or
    odd key (``''``, ``'a: b'``) still reads as a field in a message."""
    shown = key if _PLAIN_KEY.fullmatch(key) and len(key) <= QUOTED_VALUE else quoted(key)
    return f"{parent}.{shown}" if parent else shown


class RacecalError(Exception):
    """Base class: anything racecal reports without a traceback."""


class PlanError(RacecalError):
    """The plans (or the meet catalogue, or the site settings) have problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class PreviousBuildError(RacecalError):
    """The previously published build cannot be read or was tampered with. ``problems``: each
    field found wrong, when the file could be read as JSON at all."""

    def __init__(self, message: str, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class PublishError(RacecalError):
    """The output directory cannot be written safely."""


class WorkerError(RacecalError):
    """A worker process of a parallel build died."""


def for_terminal(text: str) -> str:
    """``text`` with every character a terminal would act on or hide shown as an escape instead:
    controls (ESC sequences could rewrite the screen), bidi and other invisible formatting characters,
    line separators, surrogates. Newlines stay, so a multi-line message still reads as one."""
    out: list[str] = []
    for ch in text:
        if ch == "\n" or (ch.isprintable() and unicodedata.category(ch) != "Cf") or ch == "\u200d":
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)
