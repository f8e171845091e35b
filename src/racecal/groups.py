"""Group calendars: the races of a group's members in one season, composed into a plan of its own.

A group's calendar goes through the same reconciliation as an athlete's (``history.compile_plan``),
so it keeps every guarantee athletes' feeds have: stable per-feed UIDs, SEQUENCE that never goes
back, tombstones for the grace period, a change history. docs/groups.md has the rules and why a
group feed carries one event per athlete and race.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace

from racecal.documents import SHORT_TEXT
from racecal.model import Athlete, Group, Plan, Race

# A member race's id in the group: readable (its own id first), a valid race id (a slug of at most
# 64 characters), and different for every athlete and race (48 bits of a hash of both).
_HEAD = 40


def member_race_id(athlete_slug: str, race_id: str) -> str:
    digest = hashlib.sha256(f"{athlete_slug}\0{race_id}".encode()).hexdigest()[:12]
    return f"{race_id[:_HEAD].rstrip('-')}-{digest}"


def member_race_name(athlete: str, race: str) -> str:
    """``Athlete – Race``, as the athlete's own feeds title it, within the length any race name may
    have (a long one is shortened)."""
    name = f"{athlete} – {race}"
    return name if len(name) <= SHORT_TEXT else name[: SHORT_TEXT - 1].rstrip() + "…"


def group_plan_id(group: Group, season: int) -> str:
    return f"{group.id}-{season}"


def meet_slug(meet_id: str, season: int) -> str:
    """A meet calendar's id is the meet's, which usually ends in its year already (bislett-games-2024);
    one that does not gets it added, as a plan's id has its season."""
    return meet_id.removesuffix(f"-{season}") if meet_id != str(season) else meet_id


def meet_plan_id(meet_id: str, season: int) -> str:
    return f"{meet_slug(meet_id, season)}-{season}"


@dataclass(frozen=True)
class Member:
    """One member plan as a group needs it: who, and the races it has now."""

    plan_id: str
    athlete: Athlete
    season: int
    timezone: str
    races: tuple[Race, ...]


def compose(name: str, slug: str, season: int, members: Iterable[Member], source: str, timezone: str | None, view: str) -> Plan:
    """A group's or a meet's calendar as a plan: every race of every member, named after its athlete."""
    chosen = sorted(members, key=lambda m: m.plan_id)
    races = [
        replace(race, id=member_race_id(m.athlete.slug, race.id), name=member_race_name(m.athlete.name, race.name))
        for m in chosen
        for race in m.races
    ]
    races.sort(key=lambda r: (r.start, r.end, r.name, r.id))
    return Plan(Athlete(name, slug), season, tuple(races), source, timezone or _usual_timezone(chosen), view=view)


def _usual_timezone(members: list[Member]) -> str:
    """The members' most common display timezone (ties: the first by name), UTC for no members."""
    counts = Counter(m.timezone for m in members)
    return min(counts, key=lambda tz: (-counts[tz], tz)) if counts else "UTC"


def inputs_digest(definition: str, members: dict[str, str], common: str) -> str:
    """Everything a group's or meet's calendar depends on: what defines it, its members and their
    inputs (``plan id → inputs digest``; a plan's inputs include the meets it uses), and ``common``
    (version, tz database, settings)."""
    digest = hashlib.sha256(f"view\0{common}\0{definition}\0".encode())
    for plan_id, inputs in sorted(members.items()):
        digest.update(f"{plan_id}={inputs}\0".encode())
    return digest.hexdigest()


def definition_digest(group: Group) -> str:
    return hashlib.sha256(group.fingerprint().encode()).hexdigest()[:32]
