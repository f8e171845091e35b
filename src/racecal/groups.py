"""Group calendars: the races of a group's members in one season, composed into a plan of its own.

A group's calendar goes through the same reconciliation as an athlete's (``history.compile_plan``),
so it keeps every guarantee athletes' feeds have: stable per-feed UIDs, SEQUENCE that never goes
back, tombstones for the grace period, a change history. docs/groups.md has the rules and why a
group feed carries one event per athlete and race.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from racecal.documents import SHORT_TEXT, encode
from racecal.errors import Problem, suggestion
from racecal.model import Athlete, Group, Meet, Plan, Race
from racecal.text import slugify

# A member race's id in a group's or meet's calendar: readable (its own id first), a valid race id
# (a slug of at most 64 characters), and different for every plan and race (48 bits of a hash of
# both): a meet's calendar may hold one athlete's plans of two seasons.
_HEAD = 40


def member_race_id(plan_id: str, race_id: str) -> str:
    digest = hashlib.sha256(f"{plan_id}\0{race_id}".encode()).hexdigest()[:12]
    return f"{race_id[:_HEAD].rstrip('-')}-{digest}"


def member_race_name(athlete: str, race: str) -> str:
    """``Athlete – Race``, as the athlete's own feeds title it, within the length any race name may
    have (a long one is shortened)."""
    name = f"{athlete} – {race}"
    return name if len(name) <= SHORT_TEXT else name[: SHORT_TEXT - 1].rstrip() + "…"


def clash_message(of: str, calendar_id: str, holder: str) -> str:
    """``of`` ("group 'x'", "meet 'y'") would publish ``calendar_id``, which ``holder`` has already."""
    return f"the calendar of {of} would be {calendar_id!r}, which is already {holder}; give one of them another id"


def unmatched_warnings(groups: Sequence[Group], slugs: Collection[str], has_members: Mapping[str, bool]) -> list[Problem]:
    """Located warnings for what is probably a typo: a listed athlete no plan has (with the closest
    slug), and a group nobody is in, which gets no calendar at all. ``slugs``: every plan's athlete;
    ``has_members``: group id → whether any plan is in it."""
    out = []
    for group in groups:
        path, line, column, field = group.where
        listed = field.removesuffix(".id") + ".athletes"
        for slug in sorted(group.athletes - set(slugs)):
            out.append(Problem(path, line, column, listed, f"no plan has the athlete {slug!r}" + suggestion(slug, slugs, ""), warning=True))
        if not has_members.get(group.id):
            message = f"group {group.id!r} matches no plan's athlete, so it has no calendar"
            out.append(Problem(path, line, column, field, message, warning=True))
    return out


def unpublished_retired_warnings(
    retired: Collection[str], published: Collection[str], where: tuple[str, int, int, str], at: Mapping[str, tuple[str, int, int, str]]
) -> list[Problem]:
    """A located warning for each id under 'retired' that the published site never had (``published``:
    its plans' and calendars' ids, and those retired before): probably a typo, which retires nothing.
    Located at the id itself (``at``), else at the list (``where``)."""
    out = []
    for plan_id in sorted(set(retired) - set(published)):
        message = f"{plan_id!r} was never published here, so retiring it does nothing" + suggestion(plan_id, published, "")
        out.append(Problem(*at.get(plan_id, where), message, warning=True))
    return out


def taken_by_view_message(plan_id: str, view: str) -> str:
    """A plan whose id a group's, meet's or series' calendar published earlier has: publishing it
    there would hand that calendar's subscribers someone else's races."""
    return (
        f"plan {plan_id!r} would take over the {view} calendar published under that id; give the athlete another slug, "
        f"or retire that calendar first (list {plan_id!r} under 'retired', build, then remove it there)"
    )


def retired_view_message(of: str, calendar_id: str) -> str:
    """A calendar listed under 'retired' that still has races: retiring would drop its feeds unannounced."""
    named = (
        f"the calendar of {of}" if repr(calendar_id) in of else f"the calendar of {of}, {calendar_id!r},"
    )  # a meet's id may be its calendar's
    return (
        f"{named} is listed under 'retired' but still has races; remove it there, "
        f"or stop publishing it first (its events are then cancelled for the grace period)"
    )


def calendar_clashes(
    plans: Sequence[Plan], shown: dict[str, str], groups: Sequence[Group], meets: dict[str, Meet] | None, where: tuple[str, int, int, str],
    series_meets: dict[str, Meet], series_where: tuple[str, int, int, str], published: Mapping[str, str] | None = None,
    retired: Collection[str] = (), declared: Mapping[str, str] | None = None,
) -> list[Problem]:  # fmt: skip
    """What ``racecal check`` can say before a build: a group's, meet's or series' calendar whose id
    is a plan's or another calendar's. ``shown``: each plan's file as messages show it; ``meets``:
    the catalogue, when meet calendars are on (``series_meets`` when series calendars are); the
    wheres: those settings; ``published``: what the published site has under each id (its view,
    "" for a plan), as the build will find it; ``retired``: the ids listed under 'retired';
    ``declared``: the ids of plans that have problems (id → file as shown), which they hold too."""
    taken = {plan_id: f"the plan of {path}" for plan_id, path in (declared or {}).items()}
    taken |= {plan.id: f"the plan of {shown.get(plan.source_path, plan.source_path)}" for plan in plans}
    earlier = published or {}
    problems = []

    def claim(calendar_id: str, of: str, at: tuple[str, int, int, str], view: str) -> None:
        if calendar_id in retired:
            problems.append(Problem(*at, retired_view_message(of, calendar_id)))
        elif calendar_id in taken:
            problems.append(Problem(*at, clash_message(of, calendar_id, taken[calendar_id])))
        elif earlier.get(calendar_id, view) != view:
            problems.append(Problem(*at, clash_message(of, calendar_id, "a calendar published earlier")))
        else:
            taken[calendar_id] = f"the calendar of {of}"

    for group in groups:
        for season in sorted({p.season for p in plans if group.includes(p.athlete)}):
            claim(group_plan_id(group, season), f"group {group.id!r}", group.where, "group")
    raced = sorted({r.meet_id for p in plans for r in p.races if r.meet_id})
    for meet_id in raced if meets is not None else ():
        if (meet := meets.get(meet_id)) is not None:  # type: ignore[union-attr]
            claim(meet_plan_id(meet_id, meet_season(meet)), f"meet {meet_id!r}", where, "meet")
    raced_series = series_calendars([m for i in raced if (m := series_meets.get(i))])
    for calendar_id, (name, _, _) in sorted(raced_series.items()):
        claim(calendar_id, f"series {name!r}", series_where, "series")
    return problems


def series_calendars(meets: Iterable[Meet]) -> dict[str, tuple[str, int, frozenset[str]]]:
    """Each series' calendar id → its name, season and meets. Spellings of one name that give the
    same id ("Coastal Tour", "Coastal tour") are one series, named as most of its meets write it."""
    found: dict[str, tuple[int, list[str], set[str]]] = {}
    for meet in meets:
        if meet.series:  # in the season its id names, as its own calendar is (meet_season)
            season = meet_season(meet)
            calendar_id = series_plan_id(meet.series, season)
            _, names, meet_ids = found.setdefault(calendar_id, (season, [], set()))
            names.append(meet.series)
            meet_ids.add(meet.id)
    return {
        calendar_id: (min(set(names), key=lambda n: (-names.count(n), n)), season, frozenset(meet_ids))
        for calendar_id, (season, names, meet_ids) in found.items()
    }


def group_plan_id(group: Group, season: int) -> str:
    return f"{group.id}-{season}"


def meet_season(meet: Meet) -> int:
    """A meet calendar's season: the year its id ends in, if it names one next to the meet's own
    (bislett-games-2024 moved into January 2025, or a typo in its date), so that the meet keeps its
    calendar and its subscribers; otherwise the year the meet starts."""
    head, _, year = meet.id.rpartition("-")
    if head and len(year) == 4 and year.isascii() and year.isdigit() and abs(int(year) - meet.start.year) <= 1:
        return int(year)
    return meet.start.year


def meet_slug(meet_id: str, season: int) -> str:
    """A meet calendar's id is the meet's, which usually ends in its year already (bislett-games-2024);
    one that does not gets it added, as a plan's id has its season."""
    return meet_id.removesuffix(f"-{season}") if meet_id != str(season) else meet_id


def meet_plan_id(meet_id: str, season: int) -> str:
    return f"{meet_slug(meet_id, season)}-{season}"


def series_slug(name: str) -> str:
    """A series' calendar is named by its name, as racecal spells ids ("Diamond League" → diamond-league)."""
    return slugify(name, "series")[:58].strip("-")


def series_plan_id(name: str, season: int) -> str:
    return f"{series_slug(name)}-{season}"


@dataclass(frozen=True)
class Member:
    """One member plan as a group needs it: who, and the races it has now."""

    plan_id: str
    athlete: Athlete
    season: int
    timezone: str
    races: tuple[Race, ...]


def compose(
    name: str, slug: str, season: int, members: Iterable[Member], source: str, timezone: str | None, view: str, carried: Iterable[Race] = ()
) -> Plan:  # fmt: skip
    """A group's or a meet's calendar as a plan: every race of every member, named after its athlete.
    ``carried``: races of other members as an earlier compose gave them (build.py: members unchanged
    since the calendar was published)."""
    chosen = sorted(members, key=lambda m: m.plan_id)
    races = [
        *carried,
        *(
            replace(race, id=member_race_id(m.plan_id, race.id), name=member_race_name(m.athlete.name, race.name))
            for m in chosen
            for race in m.races
        ),
    ]
    races.sort(key=lambda r: (r.start, r.end, r.name, r.id))
    # The display zone is chosen, never derived from who is a member: a zone that changed as athletes
    # joined would raise the SEQUENCE of every event in the calendar.
    return Plan(Athlete(name, slug), season, tuple(races), source, timezone or "UTC", view=view)


def inputs_digest(definition: str, members: dict[str, str], common: str) -> str:
    """Everything a group's or meet's calendar depends on: what defines it, its members and their
    inputs (``plan id → inputs digest``; a plan's inputs include the meets it uses), and ``common``
    (version, tz database, settings)."""
    digest = hashlib.sha256(f"view\0{common}\0{definition}\0".encode())
    for plan_id, inputs in sorted(members.items()):
        digest.update(f"{plan_id}={inputs}\0".encode())
    return digest.hexdigest()


def races_at(member: Member) -> dict[str, str]:
    """What a member gives each meet's (and series') calendar: per catalogue meet it races at, a
    digest of who it is there (plan, name, season, zone) and its races there, as complete as the
    snapshot keeps them. A meet's or series' calendar depends on these, not on the member's whole
    plan: an edit to a race elsewhere, or to the athlete's country or disciplines (which only the
    athlete's page shows), leaves it as published (docs/groups.md, "Cost")."""
    at: dict[str, list[Race]] = {}
    for race in member.races:
        if race.meet_id:
            at.setdefault(race.meet_id, []).append(race)
    who = [member.plan_id, member.athlete.name, member.season, member.timezone]
    return {
        meet_id: hashlib.sha256(
            json.dumps([*who, [encode(r) for r in races]], sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
        ).hexdigest()[:32]
        for meet_id, races in sorted(at.items())
    }


def definition_digest(group: Group) -> str:
    return hashlib.sha256(group.fingerprint().encode()).hexdigest()[:32]
