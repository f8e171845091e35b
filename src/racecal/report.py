"""Typed changes → text for a person, JSON for machines, markdown for a pull-request comment."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from racecal.diff import TYPES, Change
from racecal.errors import Problem, for_terminal

# ANSI colours per change type, used only when printing to a terminal.
_COLOUR = {
    "added": "32", "removed": "31", "promoted": "32", "demoted": "33", "withdrawn": "31",
    "cancelled": "31", "reinstated": "32", "moved": "36", "venue": "36", "edited": "34",
    "retired": "31",
}  # fmt: skip


def _ordered(changes: Sequence[Change]) -> list[Change]:
    return sorted(changes, key=lambda c: (c.plan, TYPES.index(c.type), c.race or "", c.field or ""))


Expired = Mapping[str, Mapping[str, int]]  # calendar → feed → cancelled events leaving it (build.BuildResult.expired)
Rewritten = Mapping[str, Sequence[str]]  # calendar → feeds changed with no change named (build.BuildResult.rewritten)


@dataclass(frozen=True)
class Unnamed:
    """What changes a calendar's feeds without being a change of any race, so not in its history:
    cancellations that expire, and feeds written with no race in them changed (a new calendar's empty
    ones, the settings' refresh interval or colours, an empty feed's date). The reports say so, so
    that ``racecal diff`` names every feed the next build changes (tests/test_reuse.py holds it)."""

    plan: str
    kind: str  # "expired" or "rewritten"
    what: str
    feeds: tuple[str, ...]
    events: tuple[int, ...] = ()  # "expired": how many leave each of ``feeds``


def unnamed(expired: Expired | None = None, rewritten: Rewritten | None = None) -> list[Unnamed]:
    rows = [
        Unnamed(
            plan, "expired", "cancelled events leave the feeds, their 30 days over (" + ", ".join(f"{n} in {f}" for f, n in feeds.items()) + ")",
            tuple(feeds), tuple(feeds.values()),
        )
        for plan, feeds in (expired or {}).items()
    ] + [
        Unnamed(plan, "rewritten", "feeds written though no race in them changes (new and empty, the settings, an empty feed's date)", tuple(feeds))
        for plan, feeds in (rewritten or {}).items()
    ]  # fmt: skip
    return sorted(rows, key=lambda u: (u.plan, u.kind))


def as_text(changes: Sequence[Change], colour: bool, others: Sequence[Unnamed] = ()) -> str:
    if not changes and not others:
        return "No changes."
    lines: list[str] = []
    plan = None
    rows: list[tuple[str, int, Change | Unnamed]] = [(c.plan, 0, c) for c in _ordered(changes)] + [(u.plan, 1, u) for u in others]
    for row_plan, _, row in sorted(rows, key=lambda r: (r[0], r[1])):
        if row_plan != plan:
            plan = row_plan
            lines.append(f"{for_terminal(plan)}:")
        if isinstance(row, Unnamed):  # after the calendar's changes
            lines.append(f"  {row.kind:<10} {row.what}  [{', '.join(row.feeds)}]")
            continue
        tag = f"{row.type:<10}"
        if colour:
            tag = f"\x1b[{_COLOUR[row.type]}m{tag}\x1b[0m"
        # Summaries can come from a previous build, which is untrusted: no raw escapes reach the terminal.
        lines.append(f"  {tag} {for_terminal(row.summary + _detail(row))}  [{for_terminal(_feeds(row))}]")
    return "\n".join(lines)


def _detail(change: Change) -> str:
    """An edit's old and new values, as the text and markdown reports show them after its summary."""
    if change.type != "edited" or not change.field or isinstance(change.new, bool):  # a flag: the summary says it
        return ""
    return f" ({_short(change.old)} → {_short(change.new)})"


def _feeds(change: Change) -> str:
    """The feeds a change touches; an edit no feed shows (an athlete's country) is on the pages only."""
    return ", ".join(change.feeds) or "pages only"


def _short(value: object) -> str:
    text = "—" if value is None else (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return text if len(text) <= 60 else text[:57] + "..."


def as_json(changes: Sequence[Change], others: Sequence[Unnamed] = ()) -> str:
    document: dict[str, object] = {"format": 1, "changes": [c.to_dict() for c in _ordered(changes)]}
    document["expired"] = [{"plan": u.plan, "feeds": dict(zip(u.feeds, u.events, strict=True))} for u in others if u.kind == "expired"]
    document["rewritten"] = [{"plan": u.plan, "feeds": list(u.feeds)} for u in others if u.kind == "rewritten"]
    return json.dumps(document, indent=2, ensure_ascii=False)


def as_markdown(changes: Sequence[Change], others: Sequence[Unnamed] = ()) -> str:
    """A table for a pull-request comment. Text from plans (or from a previous build, which anyone who
    can edit the site can change) only ever appears inside code spans, where GitHub renders no link,
    image, HTML, @mention or issue reference."""
    if not changes and not others:
        return "**racecal:** no changes to the published calendars."
    lines = ["### racecal: calendar changes", "", "| calendar | change | what | feeds |", "|---|---|---|---|"]
    for c in _ordered(changes):
        lines.append(f"| {_code(c.plan)} | {_words(c.type)} | {_code(c.summary + _detail(c))} | {_words(_feeds(c))} |")
    for u in others:
        lines.append(f"| {_code(u.plan)} | {u.kind} | {_code(u.what)} | {_words(', '.join(u.feeds))} |")
    return "\n".join(lines)


def _code(text: str) -> str:
    """``text`` as one inline code span inside a table cell."""
    text = for_terminal(text).replace("\n", " ").replace("|", "\\|")  # GFM splits cells even inside code
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    # A renderer strips one space from each end, which lets the text start or end with a backtick.
    pad = " " if text[:1] in ("`", " ") or text[-1:] in ("`", " ") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _words(text: str) -> str:
    """racecal's own vocabulary (change types, feed names): letters, commas and spaces only."""
    return re.sub(r"[^a-z, ]", "", text)


def counts(changes: Sequence[Change], others: Sequence[Unnamed] = ()) -> str:
    tally: dict[str, int] = {}
    for c in changes:
        tally[c.type] = tally.get(c.type, 0) + 1
    said = ", ".join(f"{n} {t}" for t, n in sorted(tally.items(), key=lambda kv: TYPES.index(kv[0]))) or "no changes"
    for kind, words in (("expired", "cancelled events expired in"), ("rewritten", "feeds rewritten in")):
        if n := len({u.plan for u in others if u.kind == kind}):
            said += f"; {words} {n} calendar{'s' if n != 1 else ''}"
    return said


# --- racecal check --------------------------------------------------------------------------------


def check_as_json(problems: Sequence[Problem], warnings: Sequence[Problem], plans: int, strict: bool) -> str:
    """``racecal check --format json`` (docs/check.md): a stable document, one entry per finding."""
    findings = [
        {
            "path": p.path,
            "line": p.line,
            "column": p.column,
            "field": p.field,
            "severity": "warning" if p.warning else "error",
            "message": p.message,
        }
        for p in sorted([*problems, *warnings])
    ]
    ok = not problems and not (strict and warnings)
    return json.dumps({"format": 1, "ok": ok, "plans": plans, "problems": findings}, indent=2, ensure_ascii=False)


def check_as_github(problems: Sequence[Problem], warnings: Sequence[Problem], strict: bool) -> list[str]:
    """GitHub Actions workflow commands: each finding annotates its file and line in the pull
    request. A warning under --strict is an error, since it fails the check."""
    out = []
    for p in sorted([*problems, *warnings]):
        level = "warning" if p.warning and not strict else "error"
        out.append(
            f"::{level} file={_github_property(p.path)},line={p.line},col={p.column},title={_github_property(p.field)}::{_github_data(p.message)}"
        )
    return out


def _github_data(text: str) -> str:
    # The escapes GitHub's runner decodes; anything else a plan says stays text (no new command can start).
    return for_terminal(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _github_property(text: str) -> str:
    return _github_data(text).replace(":", "%3A").replace(",", "%2C")
