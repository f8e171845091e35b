"""The pipeline: sources + previous build → every file of the new site, and the typed changes.

load → model → feeds/history → diff → site. Pure apart from reading nothing: the caller passes the
file contents, the previous build and the build time in, and hands the result to publish.py.

A plan whose inputs (its file, the meet catalogue, the settings, the racecal version) hash the same
as when it was last published, and that has no tombstones waiting to expire, is not even parsed: its
files are reused from the previous build as they are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from racecal import __version__, site
from racecal.diff import Change
from racecal.errors import PlanError, Problem
from racecal.history import PlanOutput, compile_plan, state_to_json
from racecal.load import SourceFile, parse_catalogue, parse_plan
from racecal.previous import Previous
from racecal.settings import Settings

Progress = Callable[[int, int], None]


@dataclass
class BuildResult:
    files: dict[str, bytes]
    reused: dict[str, Path]
    changes: list[Change]
    build_time: datetime
    plans_built: int = 0
    plans_reused: int = 0
    plan_ids: list[str] = field(default_factory=list)


def catalogue_digest(catalogue: Sequence[SourceFile]) -> str:
    digest = hashlib.sha256()
    for source in catalogue:
        digest.update(source.path.encode() + b"\0" + source.data + b"\0")
    return digest.hexdigest()


def inputs_digest(source: SourceFile, catalogue: str, settings: Settings) -> str:
    digest = hashlib.sha256()
    for part in (__version__, source.path, catalogue, settings.fingerprint()):
        digest.update(part.encode() + b"\0")
    digest.update(source.data)
    return digest.hexdigest()


def effective_build_time(requested: datetime, previous: Previous) -> datetime:
    """Never earlier than anything already published, so LAST-MODIFIED cannot go backwards."""
    stamps = [race.stamp for state in previous.states.values() for race in state.races.values()]
    return max([requested, *stamps])


def build(
    plan_files: Sequence[SourceFile],
    catalogue_files: Sequence[SourceFile],
    previous: Previous,
    settings: Settings,
    requested_time: datetime,
    progress: Progress | None = None,
) -> BuildResult:
    build_time = effective_build_time(requested_time, previous)
    catalogue = catalogue_digest(catalogue_files)
    by_source = {state.source_path: state for state in previous.states.values()}

    reusable: list[str] = []
    to_parse: list[tuple[SourceFile, str]] = []
    for source in plan_files:
        inputs = inputs_digest(source, catalogue, settings)
        state = by_source.get(source.path)
        if (
            previous.local_dir is not None
            and state is not None
            and state.inputs == inputs
            and not state.pending_tombstones
        ):
            reusable.append(state.plan_id)
        else:
            to_parse.append((source, inputs))

    problems: list[Problem] = []
    meets = parse_catalogue(catalogue_files, problems) if to_parse else {}
    parsed = []
    owners = {previous.states[pid].source_path: pid for pid in reusable}
    seen_ids = {pid: previous.states[pid].source_path for pid in reusable}
    for source, inputs in to_parse:
        plan = parse_plan(source, meets, problems)
        if plan is None:
            continue
        if plan.id in seen_ids:
            problems.append(Problem(source.path, 1, 1, "athlete.slug", f"plan {plan.id!r} (athlete and season) is also defined in {seen_ids[plan.id]}"))
            continue
        seen_ids[plan.id] = source.path
        owners[source.path] = plan.id
        parsed.append((plan, inputs))
    if problems:
        raise PlanError(problems)

    outputs: list[PlanOutput] = []
    total = len(parsed)
    for done, (plan, inputs) in enumerate(parsed, 1):
        outputs.append(compile_plan(plan, previous.states.get(plan.id), build_time, settings, inputs))
        if progress:
            progress(done, total)
    # Plans whose file is gone: publish their races as cancelled for the grace period.
    for plan_id, state in sorted(previous.states.items()):
        if plan_id not in seen_ids:
            output = compile_plan(state.plan(), state, build_time, settings, inputs="")
            if output.state.races:
                outputs.append(output)

    files: dict[str, bytes] = {}
    reused: dict[str, Path] = {}
    summaries: dict[str, dict[str, Any]] = {}
    changes: list[Change] = []
    for output in outputs:
        plan_files_out = _plan_files(output, settings, build_time)
        state = output.state
        state.files = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(plan_files_out.items())}
        plan_files_out["state.json"] = state_to_json(state)
        for name, data in plan_files_out.items():
            files[f"{state.plan_id}/{name}"] = data
        summaries[state.plan_id] = site.summary(state.plan(), output.races)
        changes += output.changes
    assert previous.local_dir is not None or not reusable
    for plan_id in reusable:
        state = previous.states[plan_id]
        for name in [*state.files, "state.json"]:
            reused[f"{plan_id}/{name}"] = previous.local_dir / plan_id / name  # type: ignore[operator]
        summaries[plan_id] = previous.summaries[plan_id]

    entries = [summaries[k] for k in sorted(summaries)]
    files["index.html"] = site.index_page(entries, settings).encode()
    files["index.json"] = site.index_json(entries).encode()
    for name, text in site.static_files().items():
        files[name] = text.encode()
    return BuildResult(files, reused, changes, build_time, len(outputs), len(reusable), sorted(summaries))


def _plan_files(output: PlanOutput, settings: Settings, build_time: datetime) -> dict[str, bytes]:
    state = output.state
    plan = state.plan(output.races)
    out = {f"{feed}.ics": data for feed, data in output.feeds.items()}
    out["index.html"] = site.plan_page(plan, output.races, state.changes, settings, build_time.date()).encode()
    out["changes.atom"] = site.atom(plan, state.changes, settings, build_time).encode()
    out["changes.json"] = site.changes_json(plan.id, state.changes).encode()
    return out
