"""The pipeline: sources + previous build → every file of the new site, and the typed changes.

load → model → feeds/history → diff → site, one plan at a time. Each plan's files go straight to a
sink (publish.Staging, or publish.NullSink for ``racecal diff``), so memory stays flat however many
plans there are; only hashes, changes and index entries come back.

Incremental: a plan whose inputs (its file, the meet catalogue, the settings, the racecal version)
hash the same as when it was last published, and that has no tombstones waiting to expire, is not
parsed at all: its files are linked from the previous build as they are.

Parallel: with ``workers > 1`` and enough plans, plans are compiled in forked worker processes that
write into the same staging directory. Output bytes do not depend on the number of workers.
"""

from __future__ import annotations

import ctypes
import hashlib
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from racecal import __version__, ics, site
from racecal.diff import Change
from racecal.errors import PlanError, Problem
from racecal.history import PlanOutput, compile_plan, state_to_json
from racecal.load import SourceFile, parse_catalogue, parse_plan
from racecal.model import Meet
from racecal.previous import Previous
from racecal.settings import Settings

Progress = Callable[[int, int], None]
PARALLEL_MIN_PLANS = 64  # below this, starting workers costs more than it saves
_PR_SET_PDEATHSIG = 1


class Sink(Protocol):
    def write(self, name: str, data: bytes) -> None: ...

    def link(self, name: str, source: Any) -> None: ...


@dataclass
class BuildResult:
    changes: list[Change]
    build_time: datetime
    plan_ids: list[str]
    plans_reused: int = 0
    unchanged: bool = False  # the new site is byte-identical to the previous one


@dataclass
class PlanDone:
    """What compiling one plan reports back: everything but the file contents."""

    plan_id: str
    source: str
    changes: list[Change]
    entry: dict[str, Any]


def catalogue_digest(catalogue: Sequence[SourceFile]) -> str:
    digest = hashlib.sha256()
    for source in catalogue:
        digest.update(source.ident.encode() + b"\0" + source.data + b"\0")
    return digest.hexdigest()


def inputs_digest(source: SourceFile, catalogue: str, settings: Settings) -> str:
    digest = hashlib.sha256()
    for part in (__version__, source.ident, catalogue, settings.fingerprint()):
        digest.update(part.encode() + b"\0")
    digest.update(source.data)
    return digest.hexdigest()


def effective_build_time(requested: datetime, previous: Previous) -> datetime:
    """Never earlier than anything already published, so LAST-MODIFIED cannot go backwards."""
    latest = [datetime.strptime(e.latest, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC) for e in previous.entries.values()]
    return max([requested, *latest])


@dataclass
class _Context:
    meets: dict[str, Meet]
    previous: Previous
    settings: Settings
    build_time: datetime
    sink: Sink


_context: _Context | None = None  # set before forking workers, which inherit it


def _compile_source(job: tuple[SourceFile, str]) -> tuple[list[Problem], PlanDone | None]:
    assert _context is not None
    source, inputs = job
    problems: list[Problem] = []
    plan = parse_plan(source, _context.meets, problems)
    if plan is None:
        return problems, None
    output = compile_plan(plan, _context.previous.state(plan.id), _context.build_time, _context.settings, inputs)
    return [], _emit(output, _context.settings, _context.build_time, _context.sink)


def _emit(output: PlanOutput, settings: Settings, build_time: datetime, sink: Sink) -> PlanDone:
    state = output.state
    plan = state.plan(output.races)
    files = {f"{feed}.ics": data for feed, data in output.feeds.items()}
    files["index.html"] = site.plan_page(plan, output.races, state.changes, settings, build_time.date()).encode()
    files["changes.atom"] = site.atom(plan, state.changes, settings, build_time).encode()
    files["changes.json"] = site.changes_json(plan.id, state.changes).encode()
    state.files = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    files["state.json"] = state_to_json(state)
    for name, data in files.items():
        sink.write(f"{state.plan_id}/{name}", data)
    stamps = [race.stamp for race in state.races.values()]
    entry = {
        **site.summary(plan, output.races),
        "source": state.source_path,
        "inputs": state.inputs,
        "latest": ics.format_utc(max(stamps)) if stamps else ics.format_utc(build_time),
        "pending": state.pending_tombstones,
        "files": {**state.files, "state.json": hashlib.sha256(files["state.json"]).hexdigest()},
    }
    return PlanDone(state.plan_id, state.source_path, output.changes, entry)


def build(
    plan_files: Sequence[SourceFile],
    catalogue_files: Sequence[SourceFile],
    previous: Previous,
    settings: Settings,
    requested_time: datetime,
    sink: Sink,
    progress: Progress | None = None,
    workers: int = 1,
    previous_is_output: bool = True,
) -> BuildResult:
    """Compile everything into ``sink``. With ``previous_is_output`` (the previous build lives where
    the new one goes), a result identical to it is reported as ``unchanged`` and nothing is staged."""
    global _context
    build_time = effective_build_time(requested_time, previous)
    catalogue = catalogue_digest(catalogue_files)
    by_source = {entry.source: entry for entry in previous.entries.values()}

    reused: list[str] = []
    jobs: list[tuple[SourceFile, str]] = []
    for source in plan_files:
        inputs = inputs_digest(source, catalogue, settings)
        entry = by_source.get(source.ident)
        if previous.local_dir is not None and entry is not None and entry.inputs == inputs and not entry.pending:
            previous.verify(entry.plan_id)
            reused.append(entry.plan_id)
        else:
            jobs.append((source, inputs))

    problems: list[Problem] = []
    meets = parse_catalogue(catalogue_files, problems) if jobs else {}
    if problems:
        raise PlanError(problems)

    _context = _Context(meets, previous, settings, build_time, sink)
    try:
        done = _run_jobs(jobs, workers, progress)
    finally:
        _context = None

    shown = {source.ident: source.path for source in plan_files}
    owners = {plan_id: shown[previous.entries[plan_id].source] for plan_id in reused}
    compiled: list[PlanDone] = []
    for (source, _), (plan_problems, result) in zip(jobs, done, strict=True):
        problems += plan_problems
        if result is None:
            continue
        if result.plan_id in owners:
            problems.append(Problem(source.path, 1, 1, "athlete.slug", f"plan {result.plan_id!r} (athlete and season) is also defined in {owners[result.plan_id]}"))
            continue
        owners[result.plan_id] = source.path
        compiled.append(result)
    if problems:
        raise PlanError(problems)

    # Plans whose file is gone: publish their races as cancelled for the grace period.
    for plan_id in sorted(set(previous.entries) - set(owners)):
        state = previous.state(plan_id)
        assert state is not None
        output = compile_plan(state.plan(), state, build_time, settings, inputs="")
        if output.state.races:
            compiled.append(_emit(output, settings, build_time, sink))

    entries: dict[str, dict[str, Any]] = {}
    changes: list[Change] = []
    for result in compiled:
        entries[result.plan_id] = result.entry
        changes += result.changes
    for plan_id in reused:
        entries[plan_id] = previous.entries[plan_id].summary

    ordered = [entries[k] for k in sorted(entries)]
    site_files = {
        "index.html": site.index_page(ordered, settings).encode(),
        "index.json": site.index_json(ordered).encode(),
        **{name: text.encode() for name, text in site.static_files().items()},
    }
    outcome = BuildResult(
        changes=changes,
        build_time=build_time,
        plan_ids=sorted(entries),
        plans_reused=len(reused),
        unchanged=previous_is_output and _same_as_before(previous, entries, site_files),
    )
    if outcome.unchanged:
        return outcome  # nothing to stage: the caller keeps the published site as it is
    for plan_id in reused:
        assert previous.local_dir is not None
        for name in previous.entries[plan_id].files:
            sink.link(f"{plan_id}/{name}", previous.local_dir / plan_id / name)
    for name, data in site_files.items():
        sink.write(name, data)
    return outcome


def _die_with_parent() -> None:
    """Worker initializer: if the build is killed, its workers must not go on writing (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _run_jobs(jobs: list[tuple[SourceFile, str]], workers: int, progress: Progress | None) -> list[tuple[list[Problem], PlanDone | None]]:
    total = len(jobs)
    results: list[tuple[list[Problem], PlanDone | None]] = []
    if workers > 1 and total >= PARALLEL_MIN_PLANS and "fork" in multiprocessing.get_all_start_methods():
        chunk = max(1, total // (workers * 8))
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=_die_with_parent) as pool:
            for result in pool.map(_compile_source, jobs, chunksize=chunk):
                results.append(result)
                if progress:
                    progress(len(results), total)
        return results
    for job in jobs:
        results.append(_compile_source(job))
        if progress:
            progress(len(results), total)
    return results


def _same_as_before(previous: Previous, entries: dict[str, dict[str, Any]], site_files: dict[str, bytes]) -> bool:
    """True when publishing would not change a byte (checked from hashes, not by reading the old plans)."""
    if previous.local_dir is None or set(entries) != set(previous.entries):
        return False
    if any(entries[k]["files"] != previous.entries[k].files for k in entries):
        return False
    for name, data in site_files.items():
        try:
            if (previous.local_dir / name).read_bytes() != data:
                return False
        except OSError:
            return False
    return True  # other files there (a CNAME, .git/) are not racecal's: publishing keeps them anyway
