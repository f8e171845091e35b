"""The pipeline: sources + previous build → every file of the new site, and the typed changes.

load → model → feeds/history → diff → site, one plan at a time. Each plan's files go straight to a
sink (publish.Staging, or publish.NullSink for ``racecal diff``), so memory stays flat however many
plans there are; only hashes, changes and index entries come back.

Incremental: a plan whose inputs (its file, the catalogue meets it references, the settings, the
racecal version) hash the same as when it was last published, and whose next tombstone expiry has not
come, is not parsed at all: its files are linked (or fetched) from the previous build as they are. A
meet edit therefore rebuilds exactly the plans that reference that meet; the catalogue is parsed only
when its files changed since the previous build.

Parallel: with ``workers > 1`` and enough plans, plans are compiled in forked worker processes that
write into the same staging directory. Output bytes do not depend on the number of workers.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import hashlib
import json
import os
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from racecal import __version__, groups, ics, index
from racecal.cache import Seen, code_digest
from racecal.diff import Change
from racecal.errors import PlanError, PreviousBuildError, Problem, WorkerError
from racecal.groups import Member, races_at
from racecal.index import IndexEntry
from racecal.model import FEEDS, ChangeType, Group, Meet, Plan, Race
from racecal.previous import Previous
from racecal.settings import Settings, packaged_digest
from racecal.tz import database_version
from racecal.yamlsource import SourceFile

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

    from racecal.history import PlanOutput

# Compiling, parsing and pages (history, load, site and Jinja2) are imported where a plan is compiled:
# a rebuild that reuses every plan never needs them (about 0.07 s of its 0.3 s), nor process pools.

Progress = Callable[[int, int], None]
PARALLEL_MIN_PLANS = 32  # below this, starting workers costs more than it saves (49 plans: wall -18%, CPU +9%)
# Google Calendar reportedly stops reading a subscription at about 1 MB or 1,100 events and drops the
# rest silently (../shared CLIENTS.md); warn with room to spare.
WARN_FEED_BYTES = 768 * 1024
WARN_FEED_EVENTS = 800
_PR_SET_PDEATHSIG = 1


class Sink(Protocol):
    def write(self, name: str, data: bytes) -> None: ...

    def link(self, name: str, source: Any) -> None: ...

    def link_folder(self, folder: str, names: Iterable[str], source: str, seen: Mapping[str, Seen] | None = None) -> None: ...


@dataclass
class BuildResult:
    changes: list[Change]
    build_time: datetime
    plan_ids: list[str]  # every calendar's: the athletes' plans and the group, meet and series calendars
    plans_reused: int = 0
    views: int = 0  # how many of plan_ids are group, meet or series calendars
    unchanged: bool = False  # the new site is byte-identical to the previous one
    warnings: list[str] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # every plan's and calendar's file ("id/name") → its sha256
    site_files: dict[str, str] = field(default_factory=dict)  # the landing page's, index's and static files' → sha256
    site_inputs: str = ""  # a digest of everything those site files are made from
    expired: dict[str, dict[str, int]] = field(default_factory=dict)  # calendar → feed → cancelled events leaving it
    # Calendar → its feeds whose bytes change though no change names the calendar (the settings'
    # refresh interval or colours, say): ``racecal diff`` says so, so nothing the build changes goes unsaid.
    rewritten: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PlanDone:
    """What compiling one plan reports back: everything but the file contents."""

    plan_id: str
    source: str
    changes: list[Change]
    entry: IndexEntry
    warnings: list[str]
    member: Member | None = None  # the plan as group and meet calendars need it; only when it is in one
    expired: dict[str, int] = field(default_factory=dict)  # feed → cancelled events leaving it (PlanOutput.expired)


def catalogue_digest(catalogue: Sequence[SourceFile]) -> str:
    digest = hashlib.sha256()
    for source in catalogue:
        digest.update(source.ident.encode() + b"\0" + source.data + b"\0")
    return digest.hexdigest()


def meet_digest(meet: Meet) -> str:
    """What a plan's output takes from one catalogue meet (its validated value, not its formatting)."""
    return hashlib.sha256(repr(meet).encode()).hexdigest()[:32]


def inputs_digest(source: SourceFile, meets: dict[str, str], settings: Settings) -> str:
    """Everything one plan's output depends on: its file, the digests of the meets it references, the
    settings, the racecal version and the tz database."""
    digest = hashlib.sha256(f"{__version__}\0{database_version()}\0{source.ident}\0{settings.fingerprint()}\0".encode())
    if meets:
        digest.update("".join(f"{k}={v}\0" for k, v in sorted(meets.items())).encode())
    digest.update(source.data)
    return digest.hexdigest()


def removed_inputs_digest(settings: Settings) -> str:
    """The inputs of a plan whose file was deleted: only what its remaining feeds are written with."""
    return hashlib.sha256(f"{__version__}\0removed\0{settings.fingerprint()}".encode()).hexdigest()


FUTURE_SLACK = timedelta(days=1)


def effective_build_time(requested: datetime, now: datetime, previous: Previous) -> datetime:
    """Never earlier than anything already published, so LAST-MODIFIED cannot go backwards; and a
    published stamp from the future (a typo, a forged index) is refused rather than pinned for ever."""
    for entry in previous.entries.values():
        if entry.latest > now + FUTURE_SLACK:
            raise PreviousBuildError(
                f"{previous.location}/index.json: {entry.plan_id}: latest: {ics.format_utc(entry.latest)} is later than the "
                f"publication time {ics.format_utc(now)}; fix the clock or --time, or pass --fresh to start the history over"
            )
    return max([requested, *(e.latest for e in previous.entries.values())])


def _reusable(entry: IndexEntry | None, inputs: str, now: datetime, build_day: date, previous: Previous, write_reused: bool) -> bool:
    """A published plan whose inputs are the same, whose next tombstone expiry has not come, and whose
    page lists as upcoming what a page rendered on ``build_day`` (the build time's date) would.

    Its files are linked as they are from a local build, which the manifest vouches for (each file's
    sha256 is checked; whoever can rewrite dist/ and its index can rewrite schedules/ too). Bytes from
    a live site are never copied into a new build: a tampered site must not persist through racecal,
    so such a plan is compiled again from its plan file, with its state read through the validators.
    ``racecal diff`` writes nothing, so it skips such a plan without fetching anything."""
    if previous.local_dir is None and write_reused:
        return False
    return (
        entry is not None
        and entry.inputs == inputs
        and (entry.expires is None or now < entry.expires)
        and (entry.upcoming_until is None or build_day <= entry.upcoming_until)
    )


@dataclass
class _Context:
    meets: dict[str, Meet]
    meet_digests: dict[str, str]
    previous: Previous
    settings: Settings
    build_time: datetime
    now: datetime
    sink: Sink
    cache_root: Path | None = None  # racecal's directory in the user's cache (the CLI's choice), or none

    def site(self) -> ModuleType:
        """The page module, imported when a page is first rendered (a rebuild that reuses every plan
        renders none)."""
        from racecal import site

        if self.cache_root is not None:
            site.keep_compiled_templates(self.cache_root)
        return site


_worker_context: _Context | None = None  # a worker process's own: set once by its initializer
_worker_views: tuple[_Views, list[_ViewJob]] | None = None  # set in the parent just before it forks view workers


def _compile_source(context: _Context, source: SourceFile) -> tuple[list[Problem], PlanDone | None]:
    from racecal.history import compile_plan
    from racecal.load import Lookout, parse_plan, plan_id_problem

    problems: list[Problem] = []
    located: list[Problem] = []
    plan = parse_plan(source, context.meets, problems, Lookout(today=context.now.date(), warnings=located))
    if plan is None:
        return problems, None
    if retired := context.settings.retired_message(plan.id):
        return [plan_id_problem(source, retired)], None
    used = {race.meet_id: context.meet_digests[race.meet_id] for race in plan.races if race.meet_id}
    inputs = inputs_digest(source, used, context.settings)
    output = compile_plan(
        plan,
        context.previous.state(plan.id),
        context.build_time,
        context.now,
        context.settings,
        inputs,
        context.previous.retired.get(plan.id),
        published_events=context.previous.events_as_written(plan.id),
    )
    member_of = tuple(g.id for g in context.settings.groups if g.includes(plan.athlete))
    member = Member(plan.id, plan.athlete, plan.season, plan.timezone, plan.races)
    at_meets = (context.settings.meet_calendars or context.settings.series_calendars) and bool(used)
    done = _emit(output, context, used, groups=member_of, at=races_at(member) if at_meets else None)
    done.warnings[:0] = [str(w) for w in sorted(located)]
    if member_of or at_meets:
        done.member = member
    return [], done


def _emit(
    output: PlanOutput, context: _Context, meets: dict[str, str] | None = None,
    *, view: str = "", groups: tuple[str, ...] = (), at: dict[str, str] | None = None,
) -> PlanDone:  # fmt: skip
    from racecal.state import state_to_json

    site, settings, build_time, sink = context.site(), context.settings, context.build_time, context.sink

    state = output.state
    plan = dataclasses.replace(state.plan(output.races), view=view)
    files = {f"{feed}.ics": data for feed, data in output.feeds.items()}
    as_of = build_time.date()
    files["index.html"] = site.plan_page(plan, output.races, state.changes, settings, as_of, removed=state.removed).encode()
    # An empty history's <updated> is the plan's newest stamp (its first publication, for a plan that
    # never had a race), kept in its state: the build time would differ by which build compiled it.
    files["changes.atom"] = site.atom(plan, state.changes, settings, state.newest or build_time).encode()
    files["changes.json"] = site.changes_json(plan.id, state.changes).encode()
    state.files = {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())}
    files["state.json"] = state_to_json(state)
    for name, data in files.items():
        sink.write(f"{state.plan_id}/{name}", data)
    entry = IndexEntry(
        plan_id=plan.id,
        athlete=plan.athlete.name,
        season=plan.season,
        counts=site.counts(output.races),
        source=state.source_path,
        inputs=state.inputs,
        latest=state.latest or build_time,
        expires=state.next_expiry,
        files={**state.files, "state.json": hashlib.sha256(files["state.json"]).hexdigest()},
        removed=state.removed,
        meets=meets or {},
        view=view,
        groups=groups,
        at=at or {},
        upcoming_until=site.upcoming_until(output.races, as_of),
    )
    warnings = _size_warnings(plan.id, output.feeds, view)
    return PlanDone(state.plan_id, state.source_path, output.changes, entry, warnings, expired=output.expired)


def _rewritten(result: PlanDone, published: IndexEntry | None) -> list[str]:
    """The feeds of a compiled calendar whose bytes are not those published though none of its changes
    names them: the settings rewrite every feed; an empty feed's note is dated with the calendar's
    newest stamp (feeds.calendar), which any change of a race in another feed moves; and a calendar
    published for the first time (or again, after it was retired) has its empty feeds too."""
    named = {feed for change in result.changes for feed in change.feeds} | result.expired.keys()
    files, before = result.entry.files, published.files if published is not None else {}
    return [feed for feed in index.FEED_NAMES if feed not in named and files.get(f"{feed}.ics") != before.get(f"{feed}.ics")]


def _size_warnings(plan_id: str, feeds: dict[str, bytes], view: str = "") -> list[str]:
    out = []
    for feed, data in sorted(feeds.items()):
        events = data.count(b"\r\nBEGIN:VEVENT\r\n")
        if len(data) > WARN_FEED_BYTES or events > WARN_FEED_EVENTS:
            out.append(
                f"{plan_id}/{feed}.ics has {events} events in {len(data) / 1024:.0f} KiB; Google Calendar reportedly stops "
                f'reading subscriptions at about 1 MB or 1,100 events and drops the rest silently ({"docs/groups.md" if view else "docs/history.md"}, "Size", says how to split)'
            )
    return out


def build(
    plan_files: Sequence[SourceFile],
    catalogue_files: Sequence[SourceFile],
    previous: Previous,
    settings: Settings,
    requested_time: datetime,
    now: datetime,
    sink: Sink,
    progress: Progress | None = None,
    workers: int = 1,
    previous_is_output: bool = True,
    write_reused: bool = True,
    cache_root: Path | None = None,
) -> BuildResult:
    """Compile everything into ``sink``. ``requested_time`` stamps what changed; ``now`` (publication
    time) expires tombstones. With ``previous_is_output`` (the previous build lives where the new one
    goes), a result identical to it is reported as ``unchanged`` and nothing is staged. Without
    ``write_reused`` (``racecal diff``), plans reused from a live site are not even fetched, and the
    result has the changes and warnings only: no index, landing page or static files are made.
    ``cache_root``: where this machine keeps what racecal can reuse between runs (cache.py)."""
    from racecal.load import declared_plan_id, plan_id_problem

    build_time = effective_build_time(requested_time, now, previous)
    catalogue = catalogue_digest(catalogue_files)
    by_source = {entry.source: entry for entry in previous.entries.values() if not entry.removed and not entry.view}

    # The catalogue is parsed (and validated) only when its files changed since the previous build,
    # or some plan must be compiled; otherwise every meet is as it was published. The published digest
    # is believed only from an index this machine wrote (cache.py): one edited by hand could name the
    # digest of a broken catalogue, which would then go unreported.
    problems: list[Problem] = []
    catalogue_as_published = catalogue == previous.catalogue and previous.written_index is not None
    meets = None if catalogue_as_published else _parse_catalogue(catalogue_files, catalogue, problems, cache_root)
    if problems:
        raise _catalogue_refused(plan_files, catalogue_files, settings, previous)
    digests = {meet_id: meet_digest(meet) for meet_id, meet in meets.items()} if meets is not None else None

    reused: list[str] = []
    jobs: list[SourceFile] = []
    # A plan compiled while meet or series calendars are on records what it gives each meet's calendar
    # (IndexEntry.at; off, nothing): one published the other way is compiled again, once, so that a
    # local build's index says what a build from the live site (which compiles every plan) says.
    at_meets = settings.meet_calendars or settings.series_calendars
    for source in plan_files:
        entry = by_source.get(source.ident)
        if (
            entry is not None
            and entry.plan_id not in settings.retired
            and _reusable(entry, inputs_digest(source, entry.meets, settings), now, build_time.date(), previous, write_reused)
            and (digests is None or all(digests.get(meet_id) == d for meet_id, d in entry.meets.items()))
            and bool(entry.at) == (at_meets and bool(entry.meets))
        ):
            previous.verify(entry.plan_id)
            reused.append(entry.plan_id)
        else:
            jobs.append(source)

    if jobs and meets is None:
        meets = _parse_catalogue(catalogue_files, catalogue, problems, cache_root)
        if problems:
            raise _catalogue_refused(plan_files, catalogue_files, settings, previous)
        digests = {meet_id: meet_digest(meet) for meet_id, meet in meets.items()}

    context = _Context(meets or {}, digests or {}, previous, settings, build_time, now, sink, cache_root)
    done = _run_jobs(context, jobs, workers, progress)

    shown = {source.ident: source.path for source in plan_files}
    owners = {plan_id: shown[previous.entries[plan_id].source] for plan_id in reused}
    compiled: list[PlanDone] = []
    for source, (plan_problems, result) in zip(jobs, done, strict=True):
        problems += plan_problems
        plan_id = result.plan_id if result is not None else declared_plan_id(source)  # a plan with problems has its id too
        if plan_id is None:
            continue
        if plan_id in owners:
            problems.append(plan_id_problem(source, f"plan {plan_id!r} (athlete and season) is also defined in {owners[plan_id]}"))
            continue
        if result is None:
            owners[plan_id] = source.path
            continue
        published = previous.entries.get(result.plan_id)
        if published is not None and published.view:  # a removed group's calendar, say: its subscribers are not this plan's
            problems.append(plan_id_problem(source, groups.taken_by_view_message(result.plan_id, published.view)))
            continue
        owners[result.plan_id] = source.path
        compiled.append(result)
    if problems:
        raise _plans_refused(problems, plan_files, catalogue_files, settings, previous)
    defined = {g.id: groups.definition_digest(g) for g in settings.groups}

    parsed: list[dict[str, Meet]] = [meets] if meets is not None else []

    def catalogue_meets() -> dict[str, Meet]:  # read at most once; valid: checked with its digest
        if not parsed:
            parsed.append(_parse_catalogue(catalogue_files, catalogue, [], cache_root))
        return parsed[0]

    sources = {source.ident: source for source in plan_files}
    views = _Views(context, compiled, reused, owners, write_reused, problems, sources, catalogue_meets)
    reused_members = views.groups(defined)
    if settings.meet_calendars or any(e.view == "meet" for e in previous.entries.values()):
        views.meets(catalogue_meets)
    views.series(catalogue_meets)
    if problems:
        raise PlanError(problems)
    views.compile_queued(workers)

    # Plans whose file is gone keep valid feeds: their races cancelled for the grace period, then no
    # events, until an editor retires them (docs/history.md, "Deleted and retired plans").
    # A calendar listed under retired: goes only once its feeds carry nothing: a plan deleted (or a
    # group emptied) in the same build first publishes its races cancelled, for the grace period, as
    # any deleted plan does; dropping it at once would leave its subscribers' events live forever.
    retired = {k: v for k, v in previous.retired.items() if k not in owners}
    retiring: list[Change] = []
    waiting: list[str] = []  # retired, but still cancelling races
    removed_inputs = removed_inputs_digest(settings)
    for plan_id in sorted(set(previous.entries) - set(owners)):
        entry = previous.entries[plan_id]
        to_retire = plan_id in settings.retired
        if to_retire and entry.removed and entry.expires is None:  # no event and no cancellation left
            _retire(plan_id, entry, previous, retired, retiring)
            continue
        if entry.removed and _reusable(entry, removed_inputs, now, build_time.date(), previous, write_reused):
            previous.verify(plan_id)
            reused.append(plan_id)
            if to_retire:
                waiting.append(_retire_later(plan_id, entry.expires))
            continue
        state = previous.state(plan_id)
        assert state is not None
        from racecal.history import compile_plan

        output = compile_plan(
            dataclasses.replace(state.plan(), view=entry.view), state, build_time, now, settings, removed_inputs, removed=True
        )
        if to_retire and output.state.next_expiry is None:  # its last cancellations expired now
            _retire(plan_id, entry, previous, retired, retiring)
            continue
        compiled.append(_emit(output, context, view=entry.view))
        if to_retire:
            waiting.append(_retire_later(plan_id, output.state.next_expiry))

    entries: dict[str, IndexEntry] = {}
    changes: list[Change] = [*retiring]
    warnings: list[str] = [*waiting]
    expired: dict[str, dict[str, int]] = {}
    rewritten: dict[str, list[str]] = {}
    for result in compiled:
        entries[result.plan_id] = result.entry
        changes += result.changes
        warnings += result.warnings
        if result.expired:
            expired[result.plan_id] = result.expired
        if feeds := _rewritten(result, previous.entries.get(result.plan_id)):
            rewritten[result.plan_id] = feeds
    warnings += views.warnings
    if previous.location is not None:  # a first or --fresh build has nothing to retire
        known = {*previous.entries, *previous.retired}
        warnings += [
            str(w) for w in groups.unpublished_retired_warnings(settings.retired, known, settings.retired_where, settings.retired_at)
        ]
    for plan_id in reused:
        entries[plan_id] = reused_members.get(plan_id, previous.entries[plan_id])

    ordered = [entries[k] for k in sorted(entries)]
    files = {f"{e.plan_id}/{name}": sha256 for e in ordered for name, sha256 in e.files.items()}
    if not write_reused:  # racecal diff: nothing is published, so no index or landing page is made
        return BuildResult(
            changes=changes, build_time=build_time, plan_ids=sorted(entries), plans_reused=len(reused),
            views=sum(1 for e in entries.values() if e.view), unchanged=False, warnings=warnings, files=files, expired=expired,
            rewritten=rewritten,
        )  # fmt: skip
    index_json = _index_bytes(previous, ordered, retired, catalogue, defined)
    index_sha = hashlib.sha256(index_json).hexdigest()
    # The landing page and the static files follow from what the landing page lists, the settings
    # and racecal itself (its code, not only its version: a development checkout changes without a
    # new one). So a race edited, or a meet renamed, does not render the landing page again.
    made_from = f"{code_digest()}\0{packaged_digest()}\0{settings.everything()}\0"
    site_inputs = hashlib.sha256(made_from.encode() + _listed(ordered, settings, index_json)).hexdigest()
    same_plans = previous_is_output and _same_plans(previous, entries)
    site_files: dict[str, bytes] = {}
    kept_site_files: list[str] = []  # the landing page and static files, as published
    if (vouched := previous.site_files_vouched(site_inputs)) is not None:  # this machine published them
        site_shas = {**vouched, "index.json": index_sha}
        kept_site_files = [name for name in vouched if name != "index.json"]
        if vouched.get("index.json") != index_sha:
            site_files["index.json"] = index_json
    else:
        site = context.site()
        site_files = {
            "index.html": site.index_page(ordered, settings).encode(),
            "index.json": index_json,
            **{name: text.encode() for name, text in site.static_files(settings).items()},
        }
        site_shas = {name: hashlib.sha256(data).hexdigest() for name, data in site_files.items()}
    outcome = BuildResult(
        changes=changes,
        build_time=build_time,
        plan_ids=sorted(entries),
        plans_reused=len(reused),
        views=sum(1 for e in entries.values() if e.view),
        unchanged=same_plans and (not site_files or _same_site_files(previous, site_files)),
        warnings=warnings,
        files=files,
        site_files=site_shas,
        site_inputs=site_inputs,
        expired=expired,
        rewritten=rewritten,
    )
    if outcome.unchanged:
        return outcome  # nothing to stage: the caller keeps the published site as it is
    if previous.local_dir is not None:
        for plan_id in reused:
            sink.link_folder(plan_id, previous.entries[plan_id].files, f"{previous.local_dir}/{plan_id}", previous.checked)
        for name in kept_site_files:
            sink.link(name, f"{previous.local_dir}/{name}")
    for name, data in site_files.items():
        sink.write(name, data)
    return outcome


def _retire(plan_id: str, entry: IndexEntry, previous: Previous, retired: dict[str, dict[str, int]], changes: list[Change]) -> None:
    """Drop a calendar listed under retired:, keeping only its races' SEQUENCE floors (index.json)."""
    state = previous.state(plan_id)
    assert state is not None
    retired[plan_id] = {**state.floors, **{race_id: race.seq for race_id, race in state.races.items()}}
    what = f"{entry.athlete} {entry.season}"
    summary = f"{what}: retired: its feeds, page and history are no longer published (their addresses answer 404)"
    changes.append(Change(plan_id, None, what, ChangeType.RETIRED, summary, tuple(FEEDS)))


def _retire_later(plan_id: str, until: datetime | None) -> str:
    when = f"until {until:%Y-%m-%d %H:%M} UTC" if until else "for the grace period"
    return (
        f"{plan_id}: listed under retired:, but its feeds still cancel races {when}; it stays published until then, so that "
        "subscribers see them cancelled, and the first build after that retires it"
    )


def _listed(entries: list[IndexEntry], settings: Settings, index_json: bytes) -> bytes:
    """What the landing page is made from besides the settings. racecal's own index.html shows each
    plan's and calendar's id, name, season, counts, kind and whether it was removed; a site's own
    index.html or page.html is given every index entry, so then it is the whole index."""
    if any(name in ("index.html", "page.html") for name, _ in settings.templates):
        return index_json
    rows = [
        [e.plan_id, e.athlete, e.season, e.removed, e.view, e.counts["confirmed"], e.counts["tentative"], e.counts["off"]] for e in entries
    ]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _ViewJob:
    """A group's, meet's or series' calendar to compile: everything but the members' races, which
    ``compose`` takes from the views' members."""

    plan_id: str
    view: str
    inputs: str
    compose: Callable[[Sequence[str], Sequence[Race]], Plan]  # (members to read, races carried) → the calendar
    meets: dict[str, str] | None
    published: bool  # the previous build has it: reconcile with its state
    read: tuple[str, ...]  # the members whose races are read: all of them, or those that changed
    leaving: tuple[str, ...] | None  # None: nothing carried; else the members whose published races are not
    size: int  # its members now, read or carried: how much compiling it is


# What a calendar was published from, as its old index entry tells (``_Views._carry``): the definition
# then and each member then → what it gave the calendar; None when the entry cannot tell.
_Then = Callable[[IndexEntry], tuple[str, dict[str, str]] | None]


class _Views:
    """Group and meet calendars (docs/groups.md): each composed from its members' races into a plan
    of its own and reconciled like one, or reused as published when its inputs are the same."""

    def __init__(
        self, context: _Context, compiled: list[PlanDone], reused: list[str], owners: dict[str, str], write_reused: bool,
        problems: list[Problem], sources: dict[str, SourceFile], catalogue: Callable[[], dict[str, Meet]],
    ) -> None:  # fmt: skip
        self.context, self.compiled, self.reused, self.owners = context, compiled, reused, owners
        self.write_reused, self.problems = write_reused, problems
        self.sources, self.catalogue = sources, catalogue
        self.members: dict[str, Member] = {}
        self.warnings: list[str] = []
        self.queued: list[_ViewJob] = []
        previous = context.previous
        self.done = {d.plan_id: d for d in compiled}
        # The athletes' plans, as this build has them: compiled now, or reused as published.
        self.plans = [*self.done, *(p for p in reused if not previous.entries[p].view and not previous.entries[p].removed)]
        self.common = f"{__version__}\0{database_version()}\0{context.settings.fingerprint()}"
        self._published_plans: list[IndexEntry] | None = None
        self._reused_plans = frozenset(p for p in self.plans if p not in self.done)

    def _entry(self, plan_id: str) -> IndexEntry:
        return self.done[plan_id].entry if plan_id in self.done else self.context.previous.entries[plan_id]

    def groups(self, defined: dict[str, str]) -> dict[str, IndexEntry]:
        """Every group's calendar for every season it has, or had, members in. Returns the reused
        plans' index entries with their memberships brought up to date (a group's definition may
        have changed). ``defined``: each group's definition digest."""
        settings, previous = self.context.settings, self.context.previous
        if not settings.groups and not any(e.view == "group" for e in previous.entries.values()):
            return {}
        changed = [g for g in settings.groups if previous.groups.get(g.id) != defined[g.id]]
        unchanged = {g for g in defined if g not in {c.id for c in changed}}
        membership: dict[str, tuple[str, ...]] = {p: self._entry(p).groups for p in self.done}
        for plan_id in self.plans:
            if plan_id in self.done:
                continue
            kept = {g for g in previous.entries[plan_id].groups if g in unchanged}
            if changed:  # who belongs to a new or redefined group is decided from the plan's athlete
                athlete = self._member(plan_id).athlete
                kept |= {g.id for g in changed if g.includes(athlete)}
            membership[plan_id] = tuple(g.id for g in settings.groups if g.id in kept)

        def seasons_of(group: Group) -> list[int]:
            seasons = {self._entry(p).season for p, member_of in membership.items() if group.id in member_of}
            seasons |= {
                e.season for e in previous.entries.values() if e.view == "group" and e.plan_id == groups.group_plan_id(group, e.season)
            }
            return sorted(seasons)

        def members_and_inputs(group: Group, season: int) -> tuple[list[str], str]:
            members = sorted(p for p, member_of in membership.items() if group.id in member_of and self._entry(p).season == season)
            return members, groups.inputs_digest(group.fingerprint(), {p: self._entry(p).inputs for p in members}, self.common)

        # A group calendar about to be compiled checks its members against their plans (parsed for
        # it anyway), not only the memberships index.json kept: an edited index would otherwise put
        # anyone's races in a group. (One that drops a member is not caught without parsing every
        # plan of the season: docs/groups.md, "Rebuilds".)
        for group in settings.groups if previous.written_index is None else ():  # an index the record vouches for is racecal's
            for season in seasons_of(group) if group.id in unchanged else ():
                published = previous.entries.get(groups.group_plan_id(group, season))
                members, inputs = members_and_inputs(group, season)
                if published is not None and published.inputs == inputs:
                    continue
                for plan_id in members:
                    if plan_id not in self.done and not group.includes(self._member(plan_id).athlete):
                        membership[plan_id] = tuple(g for g in membership[plan_id] if g != group.id)
        refreshed = {
            p: dataclasses.replace(previous.entries[p], groups=membership[p])
            for p in self.plans
            if p not in self.done and membership[p] != previous.entries[p].groups
        }
        slugs = {plan_id.rpartition("-")[0] for plan_id in self.plans}  # a plan's id is its athlete's slug and season
        has_members = {g.id: any(g.id in member_of for member_of in membership.values()) for g in settings.groups}
        self.warnings += [str(w) for w in groups.unmatched_warnings(settings.groups, slugs, has_members)]
        for group in settings.groups:
            for season in seasons_of(group):
                plan_id = groups.group_plan_id(group, season)
                members, inputs = members_and_inputs(group, season)

                def compose(read: Sequence[str], carried: Sequence[Race], group: Group = group, season: int = season) -> Plan:
                    # Published as its source: the settings file's name, not the path it was given by.
                    chosen = [self._member(p) for p in read]
                    return groups.compose(group.name, group.id, season, chosen, Path(group.where[0]).name, group.timezone, "group", carried)

                def then(old: IndexEntry, group: Group = group, season: int = season) -> tuple[str, dict[str, str]] | None:
                    if group.id not in unchanged:
                        return None
                    was = {e.plan_id: e.inputs for e in self._published() if group.id in e.groups and e.season == season}
                    return group.fingerprint(), was

                self._calendar(plan_id, "group", f"group {group.id!r}", inputs, compose, group.where, members=members, then=then)
        return refreshed

    def meets(self, catalogue: Callable[[], dict[str, Meet]]) -> None:
        """A calendar for every catalogue meet a plan races at: every athlete entered, with their
        status and sessions. Its id is the meet's (with the season, when the id has none)."""
        settings, previous = self.context.settings, self.context.previous
        entered: dict[str, dict[str, str]] = {}  # meet → plan racing there → what it gives the meet's calendar
        if settings.meet_calendars:
            for plan_id in self.plans:
                entry = self._entry(plan_id)
                for meet_id in entry.meets:
                    entered.setdefault(meet_id, {})[plan_id] = _at_meet(entry, meet_id)
        published = {next(iter(e.meets)): e for e in previous.entries.values() if e.view == "meet" and len(e.meets) == 1}
        loaded: dict[str, Meet] = {}

        def meet_of(meet_id: str) -> Meet | None:  # the catalogue is parsed only if a calendar is compiled
            if not loaded:
                loaded.update(catalogue())
            return loaded.get(meet_id)

        for meet_id in sorted(entered.keys() | (published.keys() if settings.meet_calendars else set())):
            gives = entered.get(meet_id, {})
            members = sorted(gives)
            old = published.get(meet_id)
            # Which meet the calendar is of, with its digest as its members saw it; a calendar nobody
            # races in any more has no member to say, so the catalogue does: its name and zone are
            # still in the feed's header, and the meet may have gone from the catalogue altogether.
            if members:
                digest = self._entry(members[0]).meets[meet_id]
            elif (meet := meet_of(meet_id)) is not None:
                digest = meet_digest(meet)
            else:
                continue  # gone from the catalogue: its calendar goes on as a removed one
            inputs = groups.inputs_digest(_meet_definition(meet_id, {meet_id: digest}), gives, self.common)
            if old is not None and old.inputs == inputs and old.plan_id not in self.owners:
                plan_id = old.plan_id  # as published: no need to read the catalogue to name it
            else:
                meet = meet_of(meet_id)
                if meet is None:
                    continue  # gone from the catalogue: its calendar goes on as a removed one
                plan_id = groups.meet_plan_id(meet_id, groups.meet_season(meet))

            def compose(read: Sequence[str], carried: Sequence[Race], meet_id: str = meet_id) -> Plan:
                meet = meet_of(meet_id)
                assert meet is not None, "a meet calendar is compiled only for a meet in the catalogue"
                chosen = [self._member(p, meet_id) for p in read]
                season = groups.meet_season(meet)
                return groups.compose(meet.name, groups.meet_slug(meet_id, season), season, chosen, "meets", meet.timezone, "meet", carried)

            self._calendar(
                plan_id,
                "meet",
                f"meet {meet_id!r}",
                inputs,
                compose,
                settings.meet_calendars_where,
                {meet_id: digest},
                members=members,
                then=self._then_at(frozenset({meet_id}), partial(_meet_definition, meet_id)),
            )

    def _calendar(
        self, plan_id: str, view: str, of: str, inputs: str, compose: Callable[[Sequence[str], Sequence[Race]], Plan],
        where: tuple[str, int, int, str], meets: dict[str, str] | None = None, *, members: Sequence[str], then: _Then,
    ) -> None:  # fmt: skip
        """Reuse a calendar, or queue it to be compiled (``compile_queued``). ``of``: whose calendar
        it is ("group 'x'"), for messages; ``where``: what defines it; ``members``: the plans it has
        races of now; ``then``: what it was made from when it was published (``_carry``)."""
        context, previous = self.context, self.context.previous
        old = previous.entries.get(plan_id)
        if plan_id in context.settings.retired:
            if members:  # as for a plan: retiring drops the feeds, so only a calendar nobody is in may go
                self.problems.append(Problem(*where, groups.retired_view_message(of, plan_id)))
            return
        if plan_id in self.owners or (old is not None and old.view != view):
            holder = self.owners.get(plan_id) or "a calendar published earlier"
            holder = holder if holder.startswith(("the calendar of", "a calendar")) else f"the plan of {holder}"
            self.problems.append(Problem(*where, groups.clash_message(of, plan_id, holder)))
            return
        self.owners[plan_id] = f"the calendar of {of}"
        if old is not None and _reusable(old, inputs, context.now, context.build_time.date(), previous, self.write_reused):
            previous.verify(plan_id)
            self.reused.append(plan_id)
            return
        read, leaving = tuple(members), None
        if old is not None and (carry := self._carry(old, then(old), members)) is not None:
            read, leaving = carry
        self.queued.append(_ViewJob(plan_id, view, inputs, compose, meets, old is not None, read, leaving, len(members)))

    def _carry(
        self, old: IndexEntry, then: tuple[str, dict[str, str]] | None, members: Sequence[str]
    ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
        """For a calendar to compile again: the members whose races must be read (those whose plans
        were compiled in this build), and the members then whose published races it does not keep;
        None when its published state cannot be trusted to hold every other member's races as they
        are now. A series' calendar rebuilt for one race would otherwise read 1,000 members' states.

        Its published races are kept only when the record vouches that racecal wrote its state and
        the index (a forged state would put its races in the calendar for good), and when the inputs
        digest the calendar was published with is the one its old definition and its members then
        give: then every build since left their races there as they were, and a member whose plan
        this build reused as published still has those races (tests/test_reuse.py holds this to
        builds that read every member)."""
        previous = self.context.previous
        if then is None or previous.written_index is None or not previous.vouched_state(old.plan_id):
            return None
        definition, was = then
        if groups.inputs_digest(definition, was, self.common) != old.inputs:
            return None
        settled = {p for p in members if p in was and p in self._reused_plans}
        return tuple(p for p in members if p not in settled), tuple(sorted(p for p in was if p not in settled))

    def _published(self) -> list[IndexEntry]:
        """The athletes' plans of the previous build (not removed, not calendars)."""
        if self._published_plans is None:
            self._published_plans = [e for e in self.context.previous.entries.values() if not e.view and not e.removed]
        return self._published_plans

    def _then_at(self, meet_ids: frozenset[str], definition: Callable[[dict[str, str]], str]) -> _Then:
        """``then`` for a meet's or a series' calendar: ``definition`` of its meets' digests."""

        def then(old: IndexEntry) -> tuple[str, dict[str, str]] | None:
            if old.meets.keys() != meet_ids:
                return None
            return definition(old.meets), {e.plan_id: _at(e, meet_ids) for e in self._published() if meet_ids & e.meets.keys()}

        return then

    def _carried(self, plan_id: str, leaving: Sequence[str]) -> list[Race]:
        """The calendar's published live races, but for those of ``leaving`` members."""
        previous = self.context.previous
        dropped: set[str] = set()
        for member in leaving:
            plan = previous.plan_as_written(member)
            state = previous.state(member) if plan is None else None
            races = plan.races if plan is not None else state.plan_races() if state is not None else ()
            dropped.update(groups.member_race_id(member, race.id) for race in races)
        state = previous.state(plan_id)
        assert state is not None, "a calendar carried from is published"
        return [race for race in state.plan_races() if race.id not in dropped]

    def compile_queued(self, workers: int) -> None:
        """Compile the queued calendars, in forked workers when there is enough to share. The members
        are parsed here first, once: the workers inherit them, as they inherit the jobs themselves."""
        jobs, self.queued = self.queued, []
        for plan_id in sorted({p for job in jobs for p in job.read}):
            self._member(plan_id)
        # Sized by members, not by those read: a calendar with its races carried is as much to compile.
        if workers > 1 and len(jobs) > 1 and sum(job.size for job in jobs) + len(self.done) >= PARALLEL_MIN_PLANS and _can_fork():
            global _worker_views
            _worker_views = (self, jobs)
            try:
                with _fork_pool(self.context, workers) as pool:
                    self.compiled += pool.map(_compile_view_in_worker, range(len(jobs)))
            finally:
                _worker_views = None
            return
        self.compiled += [self.compile(job) for job in jobs]

    def compile(self, job: _ViewJob) -> PlanDone:
        from racecal.history import compile_plan

        context, previous = self.context, self.context.previous
        plan = job.compose(job.read, self._carried(job.plan_id, job.leaving) if job.leaving is not None else ())
        output = compile_plan(
            plan, previous.state(job.plan_id) if job.published else None, context.build_time, context.now, context.settings,
            job.inputs, previous.retired.get(job.plan_id), published_events=previous.events_as_written(job.plan_id) if job.published else None,
        )  # fmt: skip
        return _emit(output, context, job.meets, view=job.view)

    def series(self, catalogue: Callable[[], dict[str, Meet]]) -> None:
        """A calendar per series the catalogue names (Diamond League) and season: every race at its
        meets of every plan racing there. Which meets a series has comes from the catalogue, so it
        is read for every build while series calendars are on."""
        settings, previous = self.context.settings, self.context.previous
        meets = catalogue() if settings.series_calendars else {}
        for plan_id, (name, season, meet_ids) in sorted(groups.series_calendars(meets.values()).items()):
            members = sorted(p for p in self.plans if meet_ids & self._entry(p).meets.keys())
            if not members and plan_id not in previous.entries:
                continue  # a series nobody races at: no calendar
            digests = {m: meet_digest(meets[m]) for m in sorted(meet_ids)}
            inputs = groups.inputs_digest(_series_definition(name, digests), {p: self._at(p, meet_ids) for p in members}, self.common)

            def compose(
                read: Sequence[str], carried: Sequence[Race], name: str = name, season: int = season, meet_ids: frozenset[str] = meet_ids
            ) -> Plan:
                chosen = [self._member(p, meet_ids) for p in read]
                return groups.compose(name, groups.series_slug(name), season, chosen, "meets", None, "series", carried)

            self._calendar(
                plan_id, "series", f"series {name!r}", inputs, compose, settings.series_calendars_where, digests, members=members,
                then=self._then_at(meet_ids, partial(_series_definition, name)),
            )  # fmt: skip

    def _at(self, plan_id: str, meet_ids: frozenset[str]) -> str:
        return _at(self._entry(plan_id), meet_ids)

    def _member(self, plan_id: str, meet_ids: str | frozenset[str] | None = None) -> Member:
        """A member plan's races (at ``meet_ids`` only, for a meet's or a series' calendar)."""
        if plan_id in self.done:
            member = self.done[plan_id].member
            assert member is not None, "a compiled plan in a group or at a meet carries its races"
        else:
            member = self.members.get(plan_id) or self._reused_member(plan_id)
            self.members[plan_id] = member
        if meet_ids is None:
            return member
        at = {meet_ids} if isinstance(meet_ids, str) else meet_ids
        return dataclasses.replace(member, races=tuple(r for r in member.races if r.meet_id in at))

    def _reused_member(self, plan_id: str) -> Member:
        """A plan reused as published: its races as its state holds them, when racecal wrote that
        state (read as written: three times faster than parsing the plan); else as its file says (its
        inputs are those it was published from, so parsing it again gives the races its state holds,
        several times faster than reading that state back through the validators). A series'
        calendar may need every plan."""
        from racecal.load import parse_plan

        if (written := self.context.previous.plan_as_written(plan_id)) is not None:
            return Member(plan_id, written.athlete, written.season, written.timezone, written.races)
        source = self.sources.get(self.context.previous.entries[plan_id].source)
        plan = parse_plan(source, self.catalogue(), []) if source is not None else None
        if plan is not None and plan.id == plan_id:
            return Member(plan_id, plan.athlete, plan.season, plan.timezone, plan.races)
        state = self.context.previous.state(plan_id)
        assert state is not None
        return Member(plan_id, state.athlete, state.season, state.timezone, state.plan_races())


def _meet_definition(meet_id: str, digests: dict[str, str]) -> str:
    """What defines a meet's calendar (with its members' races there: groups.inputs_digest)."""
    return f"meet\0{meet_id}\0{digests[meet_id]}"


def _series_definition(name: str, digests: dict[str, str]) -> str:
    """What defines a series' calendar: its name and its meets' digests."""
    return f"series\0{name}\0" + ",".join(f"{m}={d}" for m, d in sorted(digests.items()))


def _at(entry: IndexEntry, meet_ids: frozenset[str]) -> str:
    """What a member gives a meet's or series' calendar (``meet_ids``: the meets it is of): its races
    there (groups.races_at), or its whole inputs when it was published without them."""
    if len(meet_ids) == 1:
        (meet_id,) = meet_ids
        return _at_meet(entry, meet_id) if meet_id in entry.meets else ""
    used = sorted(meet_ids & entry.meets.keys())
    if not all(m in entry.at for m in used):
        return f"plan\0{entry.inputs}"
    return ",".join(f"{m}={entry.at[m]}" for m in used)


def _at_meet(entry: IndexEntry, meet_id: str) -> str:
    """``_at`` for one meet the member races at: a meet's calendar (400 of them, every member of
    each, in every build with meet calendars on)."""
    digest = entry.at.get(meet_id)
    return f"plan\0{entry.inputs}" if digest is None else f"{meet_id}={digest}"


def _start_worker(context: _Context) -> None:
    """Worker initializer. Forked workers get the context without pickling it (it holds the meets,
    the previous build and the sink); if the build is killed, they must not go on writing (Linux)."""
    global _worker_context
    _worker_context = context
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)


def _compile_view_in_worker(index: int) -> PlanDone:
    assert _worker_views is not None, "set before the workers were forked"
    views, jobs = _worker_views
    return views.compile(jobs[index])


def _can_fork() -> bool:
    import multiprocessing  # here: 11 ms of imports a build that compiles nothing does not pay

    return "fork" in multiprocessing.get_all_start_methods()


@contextlib.contextmanager
def _fork_pool(context: _Context, workers: int) -> Iterator[ProcessPoolExecutor]:
    """Workers forked from this process: they inherit everything it holds, nothing is pickled in,
    including the modules that compile a plan, imported here once rather than in every worker.
    A worker that dies (killed, or out of memory) fails the build with a message, not a traceback."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    from racecal import history, load  # noqa: F401 (imported for the workers)

    context.site()
    try:
        with ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker, initargs=(context,)
        ) as pool:
            yield pool
    except BrokenProcessPool:
        raise WorkerError("a worker process died (killed, or out of memory); nothing was published (-j 1 builds in one process)") from None


def _compile_in_worker(source: SourceFile) -> tuple[list[Problem], PlanDone | None]:
    assert _worker_context is not None
    return _compile_source(_worker_context, source)


def _run_jobs(
    context: _Context, jobs: list[SourceFile], workers: int, progress: Progress | None
) -> list[tuple[list[Problem], PlanDone | None]]:
    total = len(jobs)
    results: list[tuple[list[Problem], PlanDone | None]] = []
    if workers > 1 and total >= PARALLEL_MIN_PLANS and _can_fork():
        chunk = max(1, total // (workers * 8))
        with _fork_pool(context, workers) as pool:
            for result in pool.map(_compile_in_worker, jobs, chunksize=chunk):
                results.append(result)
                if progress:
                    progress(len(results), total)
        return results
    for job in jobs:
        results.append(_compile_source(context, job))
        if progress:
            progress(len(results), total)
    return results


def _index_bytes(
    previous: Previous, ordered: list[IndexEntry], retired: dict[str, dict[str, int]], catalogue: str, defined: dict[str, str]
) -> bytes:
    """The new index.json. When every entry is the published one and nothing else changed, it is the
    published index, provided racecal wrote those very bytes (``encode`` gives back what it wrote,
    tests/test_cache.py); encoding 1,000 entries again was a tenth of an unchanged rebuild. Else the
    lines of the entries that did not change are taken from those bytes."""
    same = (
        previous.written_index is not None
        and len(ordered) == len(previous.entries)
        and all(previous.entries.get(entry.plan_id) is entry for entry in ordered)
        and (retired, catalogue, defined) == (previous.retired, previous.catalogue, previous.groups)
    )
    if same and previous.written_index is not None:
        return previous.written_index
    if previous.written_index is None:
        return index.encode(ordered, retired, catalogue, defined).encode()
    lines = index.written_lines(previous.written_index, list(previous.entries))
    kept = {entry.plan_id: lines[entry.plan_id] for entry in ordered if entry.plan_id in lines and previous.entries[entry.plan_id] is entry}
    return index.encode(ordered, retired, catalogue, defined, kept).encode()


def _catalogue_refused(
    plan_files: Sequence[SourceFile], catalogue_files: Sequence[SourceFile], settings: Settings, previous: Previous
) -> PlanError:
    """The catalogue has problems, so nothing is compiled; the plans are still checked, as
    ``racecal check`` checks them (against the meets that are valid; a race at a meet the catalogue
    could not give is told why), so that one run reports every problem. Only a refused build pays."""
    return _plans_refused(None, plan_files, catalogue_files, settings, previous)


def _plans_refused(
    found: list[Problem] | None, plan_files: Sequence[SourceFile], catalogue_files: Sequence[SourceFile], settings: Settings,
    previous: Previous,
) -> PlanError:  # fmt: skip
    """A build that refuses its plans (``found``: the problems it found; None: the catalogue's, and
    the plans' as loading them finds) reports what ``racecal check`` would besides: a group's, meet's
    or series' calendar that is retired but has races, or whose id is taken, would otherwise be
    found only once the plans compile, a run later. The plans are loaded again, as check loads them:
    only a refused build pays."""
    from racecal.load import calendar_problems, load_schedules

    loading: list[Problem] = []  # the catalogue's and the plans' own, found again
    loaded = load_schedules(plan_files, catalogue_files, loading)
    views = {plan_id: entry.view for plan_id, entry in previous.entries.items()}  # what a compiled plan would be refused for
    problems = loading if found is None else found
    return PlanError([*problems, *(p for p in calendar_problems(loaded, plan_files, settings, views) if p not in problems)])


def _parse_catalogue(files: Sequence[SourceFile], digest: str, problems: list[Problem], cache_root: Path | None) -> dict[str, Meet]:
    """The catalogue's valid meets, as ``load.parse_catalogue`` finds them; or, when this machine
    parsed these very files without a problem before, the meets it kept then (cache.py)."""
    from racecal import cache
    from racecal.load import parse_catalogue

    kept = cache.catalogue_path(cache_root, digest, database_version()) if cache_root is not None else None
    if kept is not None and (meets := cache.load_meets(kept)) is not None:
        return meets
    found: list[Problem] = []
    meets = parse_catalogue(files, found)
    problems += found
    if kept is not None and not found:
        cache.store_meets(kept, meets)
    return meets


def _same_plans(previous: Previous, entries: dict[str, IndexEntry]) -> bool:
    """True when every plan's and calendar's files would be those published (checked from hashes)."""
    if previous.local_dir is None or set(entries) != set(previous.entries):
        return False
    return all(entries[k].files == previous.entries[k].files for k in entries)


def _same_site_files(previous: Previous, site_files: dict[str, bytes]) -> bool:
    """True when the landing page, index and static files are byte for byte those published."""
    # Other files there (a CNAME, .git/) are not racecal's: publishing keeps them anyway.
    return all(previous.published_bytes(name) == data for name, data in site_files.items())
