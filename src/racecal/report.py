"""Typed changes → text for a person, JSON for machines, markdown for a pull-request comment."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

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


def as_text(changes: Sequence[Change], colour: bool, expired: Expired | None = None) -> str:
    expiring = _expiring(expired)
    if not changes and not expiring:
        return "No changes."
    lines: list[str] = []
    plan = None
    rows = [(c.plan, 0, c) for c in _ordered(changes)] + [(p, 1, None) for p in expiring]
    for row_plan, _, c in sorted(rows, key=lambda row: (row[0], row[1])):
        if row_plan != plan:
            plan = row_plan
            lines.append(f"{for_terminal(plan)}:")
        if c is None:  # after the plan's changes: its cancellations that leave the feeds
            tag = f"{'expired':<10}"
            lines.append(f"  {tag} {expiring[row_plan]}  [{', '.join(expired[row_plan])}]")  # type: ignore[index]
            continue
        tag = f"{c.type:<10}"
        if colour:
            tag = f"\x1b[{_COLOUR[c.type]}m{tag}\x1b[0m"
        # Summaries can come from a previous build, which is untrusted: no raw escapes reach the terminal.
        lines.append(f"  {tag} {for_terminal(c.summary + _detail(c))}  [{for_terminal(_feeds(c))}]")
    return "\n".join(lines)


def _expiring(expired: Expired | None) -> dict[str, str]:
    """Calendar → a line saying how many of its cancelled events leave each feed. Not a change of any
    race, so not in the change history; but the feeds change, so the report says so."""
    return {
        plan: "cancelled events leave the feeds, their 30 days over (" + ", ".join(f"{n} in {feed}" for feed, n in feeds.items()) + ")"
        for plan, feeds in sorted((expired or {}).items())
    }


def _detail(change: Change) -> str:
    """An edit's old and new values, as the text and markdown reports show them after its summary."""
    return f" ({_short(change.old)} → {_short(change.new)})" if change.type == "edited" and change.field else ""


def _feeds(change: Change) -> str:
    """The feeds a change touches; an edit no feed shows (an athlete's country) is on the pages only."""
    return ", ".join(change.feeds) or "pages only"


def _short(value: object) -> str:
    text = "—" if value is None else (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return text if len(text) <= 60 else text[:57] + "..."


def as_json(changes: Sequence[Change], expired: Expired | None = None) -> str:
    document: dict[str, object] = {"format": 1, "changes": [c.to_dict() for c in _ordered(changes)]}
    document["expired"] = [{"plan": plan, "feeds": dict(feeds)} for plan, feeds in sorted((expired or {}).items())]
    return json.dumps(document, indent=2, ensure_ascii=False)


def as_markdown(changes: Sequence[Change], expired: Expired | None = None) -> str:
    """A table for a pull-request comment. Text from plans (or from a previous build, which anyone who
    can edit the site can change) only ever appears inside code spans, where GitHub renders no link,
    image, HTML, @mention or issue reference."""
    expiring = _expiring(expired)
    if not changes and not expiring:
        return "**racecal:** no changes to the published calendars."
    lines = ["### racecal: calendar changes", "", "| calendar | change | what | feeds |", "|---|---|---|---|"]
    for c in _ordered(changes):
        lines.append(f"| {_code(c.plan)} | {_words(c.type)} | {_code(c.summary + _detail(c))} | {_words(_feeds(c))} |")
    for plan, what in expiring.items():
        lines.append(f"| {_code(plan)} | expired | {_code(what)} | {_words(', '.join(expired[plan]))} |")  # type: ignore[index]
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


def counts(changes: Sequence[Change], expired: Expired | None = None) -> str:
    tally: dict[str, int] = {}
    for c in changes:
        tally[c.type] = tally.get(c.type, 0) + 1
    said = ", ".join(f"{n} {t}" for t, n in sorted(tally.items(), key=lambda kv: TYPES.index(kv[0]))) or "no changes"
    if expired:
        said += f"; cancelled events expired in {len(expired)} calendar{'s' if len(expired) != 1 else ''}"
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
