"""The plan and the meet catalogue: YAML nodes → model, with every problem located.

The documents are declared in ``documents.py`` and read field by field by ``fields.Reader``; what is
here is what a declaration cannot say: a race's dates from ``date`` or ``start``/``end`` or its meet,
the fields a race inherits from its meet, sessions inside the race's dates and clear of DST changes,
ids unique within their file, and the size of the feeds a plan would make.
"""

from __future__ import annotations

import dataclasses
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from racecal.documents import ATHLETE, CATALOGUE, MEET, PLAN, RACE, SESSION, SOURCE
from racecal.errors import PlanError, Problem, field_path, suggestion
from racecal.fields import MAX_SPAN_DAYS, Reader
from racecal.model import SLUG_RE, Meet, Plan, Race, Session, Source, Status, plan_id
from racecal.settings import Settings, read_settings
from racecal.text import slugify
from racecal.tz import zone_of
from racecal.yamlsource import SourceFile, compose, read_all

# What one plan may expand to in its largest feed (all.ics): every event repeats its race's text and
# the sources it cites, so a small file can ask for a huge feed. 16 MiB keeps every feed far below the
# 64 MiB a later build will read back (previous.MAX_PREVIOUS_FILE), and a build's memory bounded.
MAX_PLAN_FEED_BYTES = 16 * 2**20
# A race this far outside its plan's year is probably last year's meet ("meet: monaco-2024" in a 2025
# plan); closer, it is a winter season across New Year (cross country in December, indoors in March).
SEASON_SLACK = timedelta(days=92)
EVENT_OVERHEAD_BYTES = 1000  # UID, dates, status, location, categories: generous for one event
# Race fields that are the model's own, value for value; the others are worked out below.
_DERIVED = {"id", "meet", "name", "date", "start", "end", "status", "sources", "sessions"}
_PLAIN_RACE_FIELDS = tuple(k for k in RACE.keys if k not in _DERIVED)
_INHERITED = ("series", "venue", "timezone", "url")  # from the race's meet, unless the race says


# --- the meet catalogue ---------------------------------------------------------------------------


def parse_catalogue(
    sources: Iterable[SourceFile], problems: list[Problem], broken: dict[str, str] | None = None, unread: list[str] | None = None
) -> dict[str, Meet]:
    """The valid meets by id. So that a plan racing at a meet the catalogue could not give is told
    why, not that the meet is unknown: ``broken`` collects the ids of meets that have problems of
    their own (id → "file:line"), ``unread`` the files with problems outside any meet whose id is
    known (a file that does not parse, a ``meets`` that is not a list, a meet without a valid id),
    where any meet may be. Ids are compared over every meet whose id is valid, broken or not."""
    meets: dict[str, Meet] = {}
    first: dict[str, str] = {}  # meet id → "file:line" of the first meet that has it
    broken = {} if broken is None else broken
    for source in sources:
        start = len(problems)
        root = compose(source, problems)
        # Duplicate keys, reported with their paths: the tree is read (each key's first value), but
        # a meet with one inside it is a broken meet, never one a plan is built against.
        shaken = {_meet_name(problem.field) for problem in problems[start:]}
        r = Reader(source.path, problems)
        top = r.read(CATALOGUE, root, "") if root is not None else None
        listed = r.items(top[1]["meets"], "meets", CATALOGUE.fields["meets"].limit) if top and "meets" in top[1] else []
        known: set[str] = set()  # the meets (by name: meets[3]) whose id is known
        for name, node in listed:
            meet = _meet(r, node, name)
            meet_id = meet.id if meet is not None else _declared_id(node)
            if meet_id is None:
                continue
            known.add(name)
            if meet_id in first:
                r.error(_child(node, "id") or node, field_path(name, "id"), f"duplicate meet id {meet_id!r} (first in {first[meet_id]})")
                continue
            first[meet_id] = f"{source.path}:{node.start_mark.line + 1}"
            if meet is None or name in shaken:
                broken[meet_id] = first[meet_id]
            else:
                meets[meet_id] = meet
        if unread is not None and any(_meet_name(problem.field) not in known for problem in problems[start:]):
            unread.append(source.path)
    return meets


def looks_like_catalogue(source: SourceFile) -> bool:
    """Whether a file is written as a meet catalogue: a top level with ``meets:`` and none of a plan's
    keys (a plan that also has ``meets:`` is checked as a plan, which names that key as unknown)."""
    root = compose(source, [])  # its problems are told where it is checked
    keys = _keys_of(root) if root is not None else ()
    return "meets" in keys and not set(keys) & set(PLAN.keys)


_MEET_NAME = re.compile(r"meets\[[0-9]+\](?=[.\[]|\Z)")


def _meet_name(field: str) -> str | None:
    """The meet a catalogue problem is in (``meets[3]`` for ``meets[3].venue.name``), or None."""
    match = _MEET_NAME.match(field)
    return match[0] if match else None


def _meet(r: Reader, node: Node, name: str) -> Meet | None:
    before = len(r.problems)
    read = r.read(MEET, node, name)
    if read is None:
        return None
    values, fields = read
    span = _span(r, values, fields, name)
    if span is None and not _has_dates(fields):
        r.error(node, name, "missing required key 'date' (or 'start' and 'end')")
    if len(r.problems) > before or span is None:
        return None
    plain = {k: v for k, v in values.items() if k not in ("date", "start", "end")}
    return Meet(start=span[0], end=span[1], **plain)


def _has_dates(fields: dict[str, Node]) -> bool:
    return any(k in fields for k in ("date", "start", "end"))


def _span(r: Reader, values: dict[str, Any], fields: dict[str, Node], name: str) -> tuple[date, date] | None:
    """``date: D`` or ``start: D`` [+ ``end: D``], read already; None when absent or invalid."""
    if "date" in fields and ("start" in fields or "end" in fields):
        r.error(fields["date"], field_path(name, "date"), "give either 'date' or 'start'/'end', not both")
        return None
    if "date" in fields:
        return (values["date"], values["date"]) if "date" in values else None
    if "end" in fields and "start" not in fields:
        r.error(fields["end"], field_path(name, "end"), "'end' needs a 'start'")
        return None
    if "start" not in values or ("end" in fields and "end" not in values):
        return None
    start = values["start"]
    end = values.get("end", start)
    if end < start:
        r.error(fields["end"], field_path(name, "end"), f"{end} is before start {start}")
        return None
    if (end - start).days >= MAX_SPAN_DAYS:
        r.error(fields["end"], field_path(name, "end"), f"a span of {(end - start).days + 1} days is longer than {MAX_SPAN_DAYS}")
        return None
    return start, end


# --- plans -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookout:
    """What plausible mistakes are judged against: the day it is (a tentative race already over), and
    what the catalogue could not give (``parse_catalogue``: its broken meets, by id, and the files it
    could not read in full). Warnings go to ``warnings``; without one, none are looked for."""

    today: date | None = None
    broken: Mapping[str, str] = field(default_factory=dict)
    warnings: list[Problem] | None = None
    unread: tuple[str, ...] = ()


def parse_plan(source: SourceFile, meets: dict[str, Meet], problems: list[Problem], lookout: Lookout | None = None) -> Plan | None:
    lookout = lookout or Lookout()
    before = len(problems)  # from before compose: a duplicate key is a problem that leaves a tree to read
    root = compose(source, problems)
    if root is None:
        return None
    r = Reader(source.path, problems)
    read = r.read(PLAN, root, "")
    if read is None:
        return None
    values, top = read
    season = values.get("season")
    shared_sources: dict[str, Source] = {}
    if "sources" in top:
        fields = r.mapping(top["sources"], "sources", allowed=_keys_of(top["sources"]))
        for key, node in (fields or {}).items():
            if _source_key_ok(r, node, key):
                src = r.object(SOURCE, node, field_path("sources", key))
                if src:
                    shared_sources[key] = src
    races: list[Race] = []
    first_seen: dict[str, Node] = {}
    names: dict[str, str] = {}
    races_field = PLAN.fields["races"]
    for name, node in r.items(top["races"], "races", races_field.limit) if "races" in top else []:
        race = _race(r, node, name, meets, shared_sources, lookout)
        if race is not None:
            _look_at(r, race, node, name, season, lookout.today)
        # A race with problems of its own still has its id, when that is valid: ids are compared
        # over every race, or a duplicate would show only once the other problems are fixed.
        race_id = race.id if race is not None else _declared_id(node)
        if race_id is None:
            continue
        if race_id in first_seen:
            id_node = _child(node, "id") or node
            r.error(
                id_node, field_path(name, "id"), f"duplicate race id {race_id!r} (first on line {first_seen[race_id].start_mark.line + 1})"
            )
            continue
        first_seen[race_id] = node
        if race is not None:
            names[race.id] = name
            races.append(race)
    if races and (size := sum(_feed_bytes(race) for race in races)) > MAX_PLAN_FEED_BYTES:
        r.error(top["races"], "races", (
            f"would make a feed of about {size / 2**20:.0f} MiB; the limit is {MAX_PLAN_FEED_BYTES // 2**20} MiB "
            "(every session repeats its race's notes and sources: use fewer sessions, sources or shorter texts)"
        ))  # fmt: skip
    _overlaps(r, races, first_seen, names)
    if lookout.warnings is not None and len(problems) == before:  # a plan with errors: those first
        lookout.warnings.extend(r.warnings)
    athlete = values.get("athlete")
    tz = values.get("timezone", "UTC" if "timezone" not in top else None)
    if len(problems) > before or athlete is None or season is None or tz is None:
        return None
    return Plan(athlete, season, tuple(races), source.ident, tz)


def _feed_bytes(race: Race) -> int:
    """An upper bound on the bytes ``race`` adds to a feed: each of its events (one per session, or
    one) carries every text of the race at most twice (SUMMARY, LOCATION, CATEGORIES and URL repeat
    what DESCRIPTION says), and escaping at most doubles a text. Every text field counts, so a field
    added to the model is counted without a word here."""
    text_bytes = _text_bytes(race) + 100 * len(race.sessions)  # times and zones
    return max(1, len(race.sessions)) * (4 * text_bytes + EVENT_OVERHEAD_BYTES)


def _text_bytes(value: object) -> int:
    texts, lists, nested, nested_lists = _text_fields(type(value))
    total = sum(map(len, map(str.encode, filter(None, texts(value)))))
    for strings in lists(value):
        total += sum(map(len, map(str.encode, strings)))
    total += sum(_text_bytes(item) for item in nested(value) if item is not None)
    for items in nested_lists(value):
        total += sum(_text_bytes(item) for item in items)
    return total


_Getter = Callable[[object], tuple[Any, ...]]
_TEXT_FIELDS: dict[type, tuple[_Getter, _Getter, _Getter, _Getter]] = {}


def _text_fields(cls: type) -> tuple[_Getter, _Getter, _Getter, _Getter]:
    """Getters for a model class's text fields, lists of texts, model values and lists of them, by
    their declared types (``_text_bytes`` runs for every race; each getter is one C call)."""
    if cls not in _TEXT_FIELDS:
        groups: tuple[list[str], list[str], list[str], list[str]] = ([], [], [], [])
        for f in dataclasses.fields(cls):
            declared = str(f.type)
            model_type = any(name in declared for name in ("Venue", "Source", "Result", "Session"))
            group = (2 if model_type else 0) + (1 if declared.startswith("tuple") else 0)
            if model_type or "str" in declared:
                groups[group].append(f.name)
        _TEXT_FIELDS[cls] = tuple(_getter(names) for names in groups)  # type: ignore[assignment]
    return _TEXT_FIELDS[cls]


def _getter(names: list[str]) -> _Getter:
    """A function returning the values of ``names`` as a tuple (attrgetter returns a bare value for one name)."""
    if not names:
        return lambda _value: ()
    if len(names) == 1:
        one = operator.attrgetter(names[0])
        return lambda value: (one(value),)
    return operator.attrgetter(*names)


def _keys_of(node: Node) -> tuple[str, ...]:
    return tuple(k.value for k, _ in node.value) if isinstance(node, MappingNode) else ()


def _child(node: Node | None, key: str) -> Node | None:
    if isinstance(node, MappingNode):
        for k, v in node.value:
            if k.value == key:
                found: Node = v
                return found
    return None


def _declared_id(node: Node) -> str | None:
    """The ``id`` of a race or meet that has other problems, when the id itself is valid (read as
    the Reader reads it, its problems already reported), for the checks that ids are unique."""
    id_node = _child(node, "id")
    return Reader("").slug(id_node, "") if id_node is not None else None


def _source_key_ok(r: Reader, node: Node, key: str) -> bool:
    """Shared-source ids are mapping keys; they must be slugs so races can reference them."""
    if SLUG_RE.match(key):
        return True
    r.error(node, field_path("sources", key), "source ids must be lowercase letters, digits and hyphens")
    return False


def _look_at(r: Reader, race: Race, node: Node, name: str, season: int | None, today: date | None) -> None:
    """Warnings for a race that is valid but probably not what the editor meant."""
    dates = _child(node, "date") or _child(node, "start") or _child(node, "meet") or node
    where = field_path(
        name, "date" if _child(node, "date") else "start" if _child(node, "start") else "meet" if _child(node, "meet") else ""
    )
    if season is not None and not (date(season, 1, 1) - SEASON_SLACK <= race.end and race.start <= date(season, 12, 31) + SEASON_SLACK):
        last_year = " (last year's meet?)" if race.meet_id and _child(node, "meet") is dates else ""
        r.warn(dates, where.rstrip("."), f"{race.start} is outside the plan's season {season}{last_year}")
    # Only in a plan of this season or a later one: a past season's plan is a record, not a to-do list.
    if today is not None and season is not None and season >= today.year and race.status is Status.TENTATIVE and race.end < today:
        r.warn(
            _child(node, "status") or node,
            field_path(name, "status"),
            f"still tentative, but it ended on {race.end}: confirm it, withdraw it or remove it",
        )


def _overlaps(r: Reader, races: list[Race], nodes: dict[str, Node], names: dict[str, str]) -> None:
    """One athlete cannot run two meets on the same days: a warning on the later one."""
    live = sorted((race for race in races if race.status.is_live), key=lambda race: (race.start, race.end, race.id))
    latest: Race | None = None  # of the races so far, the one that ends last
    for later in live:
        earlier, latest = latest, later if latest is None or later.end > latest.end else latest
        if earlier is None or (later.meet_id is not None and later.meet_id == earlier.meet_id):
            continue  # two races at one meet (a 1500/5000 double) are one trip, not a clash
        if later.start <= earlier.end:
            node = nodes[later.id]
            when = earlier.start.isoformat() + ("" if earlier.end == earlier.start else f"..{earlier.end}")
            r.warn(_child(node, "id") or node, field_path(names[later.id], "id"), f"on the same days as race {earlier.id!r} ({when})")


def _race(r: Reader, node: Node, name: str, meets: dict[str, Meet], shared: dict[str, Source], lookout: Lookout) -> Race | None:
    before = len(r.problems)
    read = r.read(RACE, node, name)
    if read is None:
        return None
    values, fields = read
    meet: Meet | None = None
    if "meet" in values:
        meet = meets.get(values["meet"])
        if meet is None and values["meet"] in lookout.broken:
            r.error(
                fields["meet"],
                field_path(name, "meet"),
                f"meet {values['meet']!r} has problems of its own ({lookout.broken[values['meet']]}): fix them first",
            )
        elif meet is None and lookout.unread:  # it may be there: not "unknown"
            files = ", ".join(lookout.unread) + (" has problems of its own" if len(lookout.unread) == 1 else " have problems of their own")
            r.error(
                fields["meet"],
                field_path(name, "meet"),
                f"meet {values['meet']!r} is not in the part of the catalogue that can be read: {files} and may define it; fix them first",
            )
        elif meet is None:
            r.error(
                fields["meet"],
                field_path(name, "meet"),
                f"unknown meet {values['meet']!r}" + suggestion(values["meet"], meets, " (meets are defined in schedules/meets/*.yaml)"),
            )
    if "name" not in fields and "meet" not in fields:
        r.error(node, name, "missing required key 'name' (or a 'meet' from the catalogue)")
    title = values.get("name") if "name" in fields else (meet.name if meet else None)
    span = _span(r, values, fields, name) or ((meet.start, meet.end) if meet and not _has_dates(fields) else None)
    if span is None and "meet" not in fields and not _has_dates(fields):
        r.error(node, name, "missing required key 'date' (or a 'meet' from the catalogue)")
    plain = {k: values[k] for k in _PLAIN_RACE_FIELDS if k in values}
    for key in _INHERITED:
        if key not in fields and meet is not None:
            plain[key] = getattr(meet, key)
    sources = _race_sources(r, fields["sources"], field_path(name, "sources"), shared) if "sources" in fields else ()
    sessions: tuple[Session, ...] = ()
    if "sessions" in fields:  # without the race's dates too: the sessions' own problems are theirs
        # A zone the race or its meet gives, but broken (reported there), is unknown, not missing.
        zone = plain.get("timezone")
        zone_known = zone is not None or not ({"timezone", "meet"} & fields.keys())
        sessions = _sessions(r, fields["sessions"], field_path(name, "sessions"), span, zone, zone_known)
    if len(r.problems) > before or title is None or span is None:
        return None
    meet_id = meet.id if meet else None
    return Race(
        id=values["id"],
        name=title,
        start=span[0],
        end=span[1],
        status=values["status"],
        meet_id=meet_id,
        sources=sources,
        sessions=sessions,
        **plain,
    )


def _race_sources(r: Reader, node: Node, name: str, shared: dict[str, Source]) -> tuple[Source, ...]:
    out: list[Source] = []
    for sub, item in r.items(node, name, RACE.fields["sources"].limit):
        if isinstance(item, ScalarNode):
            key = r.text(item, sub, limit=64)
            if key is None:
                continue
            if key not in shared:
                r.error(item, sub, f"unknown source {key!r}" + suggestion(key, shared, " (define it under the plan's 'sources')"))
                continue
            out.append(shared[key])
        else:
            src = r.object(SOURCE, item, sub)
            if src:
                out.append(src)
    return tuple(out)


def _sessions(r: Reader, node: Node, name: str, span: tuple[date, date] | None, tz: str | None, zone_known: bool) -> tuple[Session, ...]:
    """The valid sessions of a race, each checked on its own even when the race is broken: ``span``
    (the race's dates) is None when they are broken, and ``zone_known`` false when the zone the race
    or its meet gives is broken, so the sessions are not checked against those. ``tz`` None with the
    zone known: the race has none."""
    out: list[Session] = []
    owners: dict[str, str] = {}  # session id -> the session that has it, as the editor knows it: by name if it has one
    for sub, item in r.items(node, name, RACE.fields["sessions"].limit):
        before = len(r.problems)
        read = r.read(SESSION, item, sub)
        if read is None:
            continue
        values, fields = read
        title = values.get("name")
        explicit = "id" in fields
        session_id = values.get("id") if explicit else (slugify(title) if title else None)
        day, start = values.get("date"), values.get("time")
        minutes = values.get("duration_minutes", 60)
        if day is not None and span is not None and not span[0] <= day <= span[1]:
            r.error(fields["date"], field_path(sub, "date"), f"{day} is outside the race's dates {span[0]}..{span[1]}")
            day = None
        if start is not None and day is not None and zone_known:
            if tz is None:
                r.error(fields["time"], field_path(sub, "time"), "a time needs a timezone: set 'timezone' on the race or its meet")
            elif trouble := _local_time_trouble(day, start, tz):
                r.error(fields["time"], field_path(sub, "time"), trouble)
        if session_id is not None and session_id in owners:
            # The editor knows sessions by name; a generated id is only named as the thing to override.
            other = owners[session_id]
            if explicit:
                r.error(fields["id"], field_path(sub, "id"), f"duplicate session id {session_id!r}: {other} has it too")
            else:
                r.error(
                    fields["name"],
                    field_path(sub, "name"),
                    f"session {title!r} gets the same id as {other} ({session_id!r}); give one of them its own 'id:'",
                )
            continue
        if session_id is not None:  # with problems of its own or not: its id is taken
            owners[session_id] = f"session {title!r}" if title is not None else sub
        if len(r.problems) > before or None in (title, session_id, day, start):
            continue
        assert title and session_id and day and start  # narrowed for mypy
        out.append(Session(session_id, title, day, start, minutes))
    return tuple(out)


def _local_time_trouble(day: date, start: time, tz: str) -> str | None:
    """Times that do not exist, or exist twice, on a DST change day cannot be published unambiguously."""
    zone = zone_of(tz)
    local = datetime.combine(day, start, tzinfo=zone)
    if local.replace(fold=0).utcoffset() != local.replace(fold=1).utcoffset():
        roundtrip = local.astimezone(zone_of("UTC")).astimezone(zone)
        if roundtrip.replace(tzinfo=None) != local.replace(tzinfo=None):
            return f"{start:%H:%M} does not exist in {tz} on {day} (the clocks go forward)"
        return f"{start:%H:%M} occurs twice in {tz} on {day} (the clocks go back); pick another time"
    return None


# --- everything at once ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedules:
    plans: tuple[Plan, ...]
    meets: dict[str, Meet]


def load_schedules(
    plan_files: Sequence[SourceFile], catalogue_files: Sequence[SourceFile], problems: list[Problem], lookout: Lookout | None = None
) -> Schedules:
    """Validate everything; problems accumulate in ``problems`` (the caller decides whether to raise),
    warnings in ``lookout.warnings``."""
    broken: dict[str, str] = {}
    unread: list[str] = []
    meets = parse_catalogue(catalogue_files, problems, broken, unread)
    lookout = replace(lookout or Lookout(), broken=broken, unread=tuple(unread))
    plans: list[Plan] = []
    owners: dict[str, str] = {}
    for source in plan_files:
        plan = parse_plan(source, meets, problems, lookout)
        known = plan.id if plan is not None else declared_plan_id(source)
        if known is None:
            continue
        if known in owners:
            problems.append(plan_id_problem(source, f"plan {known!r} (athlete and season) is also defined in {owners[known]}"))
            continue
        owners[known] = source.path
        if plan is not None:
            plans.append(plan)
    return Schedules(tuple(plans), meets)


def load_dir(schedules: Path) -> Schedules:
    """Read and validate a schedules directory; raise PlanError listing every problem."""
    plan_files, meet_files, problems = read_all(schedules)
    result = load_schedules(plan_files, meet_files, problems)
    if problems:
        raise PlanError(problems)
    return result


def load_settings(source: SourceFile, problems: list[Problem]) -> Settings:
    """racecal.yaml read and checked; the defaults where it cannot be read (problems say why)."""
    root = compose(source, problems)
    return Settings() if root is None else read_settings(Reader(source.path, problems), root)


def declared_plan_id(source: SourceFile) -> str | None:
    """The id (athlete and season) of a plan that has problems, when its slug and season are valid:
    two files with the same plan are reported whatever else is wrong in them. Read again, silently
    (its problems were reported by ``parse_plan``); only a plan with problems pays for it."""
    root = compose(source, [])
    slug, season = _child(_child(root, "athlete"), "slug"), _child(root, "season")
    if slug is None or season is None:
        return None
    r = Reader(source.path)
    athlete_slug, year = r.value(ATHLETE.fields["slug"], slug, ""), r.value(PLAN.fields["season"], season, "")
    return plan_id(athlete_slug, year) if athlete_slug is not None and year is not None else None


def refused_ids(loaded: Schedules, plan_files: Sequence[SourceFile], settings: Settings, views: Mapping[str, str]) -> list[Problem]:
    """What a build refuses valid plans for by their ids: listed under retired:, or taken by a
    calendar the published site has (``views``: id → its kind, "" for a plan)."""
    from racecal.groups import taken_by_view_message

    sources = {source.ident: source for source in plan_files}
    problems = [plan_id_problem(sources[plan.source_path], m) for plan in loaded.plans if (m := settings.retired_message(plan.id))]
    return problems + [
        plan_id_problem(sources[plan.source_path], taken_by_view_message(plan.id, view))
        for plan in loaded.plans
        if (view := views.get(plan.id))
    ]


def calendar_problems(
    loaded: Schedules, plan_files: Sequence[SourceFile], settings: Settings, published: Mapping[str, str] | None = None
) -> list[Problem]:
    """What check, and a build that refuses its plans, say about the plans as the settings see them:
    retired plan ids, and calendar ids a group, meet or series would take from a plan or another,
    or (``published``: id → view, "" for a plan) from what the published site has."""
    from racecal.groups import calendar_clashes

    earlier = dict(published or {})
    meets = dict(loaded.meets) if settings.meet_calendars else None
    shown_paths = {source.ident: source.path for source in plan_files}
    series_meets = dict(loaded.meets) if settings.series_calendars else {}
    # A plan with problems still holds its id: a calendar that would take it is told so now, not once
    # the plan is fixed (every problem in one run).
    loaded_from = {plan.source_path for plan in loaded.plans}
    declared = {i: source.path for source in plan_files if source.ident not in loaded_from and (i := declared_plan_id(source))}
    return refused_ids(loaded, plan_files, settings, earlier) + calendar_clashes(
        loaded.plans, shown_paths, settings.groups, meets, settings.meet_calendars_where, series_meets, settings.series_calendars_where,
        earlier, settings.retired, declared,
    )  # fmt: skip


def plan_id_problem(source: SourceFile, message: str) -> Problem:
    """A problem with a plan's id (its athlete and season: a duplicate, a retired plan), reported at
    the plan's ``athlete.slug``, where an editor would change it."""
    slug = _child(_child(compose(source, []), "athlete"), "slug")
    line, column = (slug.start_mark.line + 1, slug.start_mark.column + 1) if slug else (1, 1)
    return Problem(source.path, line, column, "athlete.slug", message)
