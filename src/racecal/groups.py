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


@dataclass(frozen=True)
class Member:
    """One member plan as a group needs it: who, and the races it has now."""

    plan_id: str
    athlete: Athlete
    season: int
    timezone: str
    races: tuple[Race, ...]


def compose(group: Group, season: int, members: Iterable[Member], source: str) -> Plan:
    """The group's plan for ``season``: every race of every member, named after its athlete."""
    chosen = sorted(members, key=lambda m: m.plan_id)
    races = [
        replace(race, id=member_race_id(m.athlete.slug, race.id), name=member_race_name(m.athlete.name, race.name))
        for m in chosen
        for race in m.races
    ]
    races.sort(key=lambda r: (r.start, r.end, r.name, r.id))
    return Plan(Athlete(group.name, group.id), season, tuple(races), source, group.timezone or _usual_timezone(chosen), group=True)


def _usual_timezone(members: list[Member]) -> str:
    """The members' most common display timezone (ties: the first by name), UTC for no members."""
    counts = Counter(m.timezone for m in members)
    return min(counts, key=lambda tz: (-counts[tz], tz)) if counts else "UTC"


def inputs_digest(group: Group, members: dict[str, str], common: str) -> str:
    """Everything a group calendar depends on: the group's definition, its members and their inputs
    (``plan id → inputs digest``), and ``common`` (version, tz database, settings)."""
    digest = hashlib.sha256(f"group\0{common}\0{group.fingerprint()}\0".encode())
    for plan_id, inputs in sorted(members.items()):
        digest.update(f"{plan_id}={inputs}\0".encode())
    return digest.hexdigest()


def definition_digest(group: Group) -> str:
    return hashlib.sha256(group.fingerprint().encode()).hexdigest()[:32]
