"""What was published before → this build's SEQUENCE, DTSTAMP/LAST-MODIFIED, tombstones and changes.

The published state (``dist/<plan>/state.json``) remembers, per race: its SEQUENCE, the time of the
build that last changed it, a fingerprint of what subscribers saw, a snapshot of the race (to diff
against and to publish a cancellation after it is deleted), and which event UIDs each feed carries,
live or as a tombstone since a given build.

Rules (docs/history.md has the long form):
- SEQUENCE rises by one whenever anything a subscriber can see in any of the race's events changes,
  or the set of feeds carrying it live changes. DTSTAMP and LAST-MODIFIED move to that build's time.
- An event that leaves a feed (race deleted, withdrawn, cancelled, promoted or demoted, session
  removed) stays in that feed as STATUS:CANCELLED with the raised SEQUENCE for GRACE, then is dropped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from racecal import ics
from racecal.diff import Change, diff_race
from racecal.errors import PreviousBuildError
from racecal.feeds import (
    EventDraft,
    PlacedEvent,
    all_day_place,
    calendar,
    event_bytes,
    event_key,
    event_places,
    render_race,
    uid_for,
)
from racecal.model import FEEDS, Feed, Plan, Race, Status, feeds_for
from racecal.settings import Settings
from racecal.state import GRACE, MAX_CHANGES_KEPT, MAX_SEQUENCE, PlanState, RaceState

MAX_TOMBSTONES_PER_FEED = 2_000  # minimal cancellations (< 1 KiB each): at most about 2 MiB per feed


@dataclass
class PlanOutput:
    feeds: dict[str, bytes]
    state: PlanState
    changes: list[Change]
    races: tuple[Race, ...]  # the races the site shows: the plan's own
    # Feed → how many cancelled events leave it in this build (their grace period over, or the oldest
    # beyond the cap): no change to any race, but the feed changes, so ``racecal diff`` says so.
    expired: dict[str, int] = field(default_factory=dict)


@dataclass
class _Pending:
    """One race between deciding what each feed carries and rendering it."""

    race_id: str
    race: Race | None
    old: RaceState | None
    drafts: list[EventDraft] | None  # None: the race is as last published, and its events are taken from there
    # (feed, UID) → the event as published and where it goes, when the race's events are taken from there
    copied: dict[tuple[str, str], PlacedEvent] | None
    live: frozenset[Feed]
    fingerprint: str
    changed: bool
    seq: int
    stamp: datetime
    published: dict[str, dict[str, datetime | None]]


def _cap_tombstones(pending: list[_Pending]) -> None:
    """At most MAX_TOMBSTONES_PER_FEED cancellations per feed: beyond that the oldest go early, so a
    plan whose sessions are renamed day after day cannot grow its feeds past what the next build
    reads back (docs/history.md, "Tombstones")."""
    for feed in (f.value for f in FEEDS):
        cancelled = [(since, uid, p) for p in pending for uid, since in p.published.get(feed, {}).items() if since is not None]
        if len(cancelled) <= MAX_TOMBSTONES_PER_FEED:
            continue
        cancelled.sort(key=lambda c: (c[0], c[1]), reverse=True)  # newest first
        for _, uid, p in cancelled[MAX_TOMBSTONES_PER_FEED:]:
            del p.published[feed][uid]
            if not p.published[feed]:
                del p.published[feed]


def _deleted_fingerprint(plan: Plan) -> str:
    return hashlib.sha256(f"deleted|{plan.athlete.name}".encode()).hexdigest()[:32]


def _fingerprint(drafts: list[EventDraft], live: frozenset[str], zone: str | None = None) -> str:
    """What a subscriber can see of a race: its events' keys, instants and bodies, and the feeds it is
    live in. ``zone``: the plan's display zone, which a state written before it was left out holds
    too (``_same_as_published``); no event depends on it, so changing it raised every SEQUENCE for
    nothing but a header line."""
    digest = hashlib.sha256()
    for d in drafts:
        digest.update(d.key.encode() + b"\0" + d.instants.encode() + b"\0")
        digest.update(d.body.encode())
    digest.update(("|" + ",".join(sorted(live)) + ("" if zone is None else "|" + zone)).encode())
    return digest.hexdigest()[:32]


def _same_as_published(published: str, fingerprint: str, drafts: list[EventDraft], live: frozenset[str], zone: str | None) -> bool:
    """Whether a race's fingerprint in the previous state is ``fingerprint``, or the one racecal
    computed for the same events before the plan's zone was left out (with the zone that state has)."""
    return published == fingerprint or (zone is not None and published == _fingerprint(drafts, live, zone))


def _published_uids(
    plan_id: str, race_id: str, keys: tuple[str, ...], live: frozenset[Feed], old: RaceState | None, now: datetime
) -> dict[str, dict[str, datetime | None]]:
    """Feed → the race's UIDs it carries: live (None) for each event key in each feed the race is
    live in, and cancelled since a time for those it carried before, until GRACE has passed."""
    published: dict[str, dict[str, datetime | None]] = {}
    for feed in (f.value for f in FEEDS):
        entries: dict[str, datetime | None] = {uid_for(plan_id, race_id, key, feed): None for key in keys} if feed in live else {}
        for uid, since in (old.published.get(feed, {}) if old else {}).items():
            if uid not in entries:
                start = since or now
                if now - start < GRACE:
                    entries[uid] = start
        if entries:
            published[feed] = entries
    return published


def _copied_events(
    plan_id: str, race: Race, published: dict[str, dict[str, datetime | None]], published_events: Callable[[str], Mapping[str, str]]
) -> dict[tuple[str, str], PlacedEvent] | None:
    """Each event an unchanged race has in ``published`` (feed → UIDs) as its feed published it, placed
    as ``render_race`` places it; None when a feed lacks one, or a session's DTSTART or DTEND is not
    what the tz database gives now (zone data can change under the same version line, which is all
    the record compares)."""
    places, all_day = event_places(race), all_day_place(race)
    copied: dict[tuple[str, str], PlacedEvent] = {}
    for feed, entries in published.items():
        carried = published_events(feed)
        for uid in entries:
            key = event_key(uid, plan_id, race.id, feed)
            assert key is not None, "published UIDs are validated when the state is read"
            place = places.get(key, all_day)  # a session the race no longer has is cancelled as the all-day span
            text = carried.get(uid)
            if text is None or place.times not in text:
                return None
            copied[feed, uid] = PlacedEvent((place.start, uid), place.tzid, place.year, text)
    return copied


def _tombstone_reason(race: Race | None, feed: str, session_removed: bool, migrated: bool, view: str = "") -> str:
    if race is None and view:  # a group's or meet's calendar: the athlete left it, or the race their plan
        return "Removed: this race is no longer in this calendar."
    if race is None:
        return "Removed: this race is no longer in the plan."
    if session_removed:
        return "Removed: this session is no longer in the plan."
    if migrated:  # a UID of state format 1, replaced by this feed's own (docs/history.md, "Identity")
        return "Replaced: this event is now published under a new identity in this calendar."
    if race.status is Status.CONFIRMED and feed == "tentative":
        return "Now confirmed: this race has moved to the confirmed calendar."
    if race.status is Status.TENTATIVE and feed == "confirmed":
        return "No longer confirmed: this race is now in the tentative calendar."
    if race.status is Status.WITHDRAWN:
        return "Withdrawn" + (f": {race.reason}" if race.reason else ".")
    return "Cancelled" + (f": {race.reason}" if race.reason else ".")


def _tombstone_draft(plan: Plan, key: str, reason: str, candidates: list[Race]) -> EventDraft:
    """The cancelled form of the event ``key``: rendered from the race while it is in the plan, else
    from its last published snapshot; a session neither has is cancelled as the race's all-day span
    (the UID is what clients match on, and these bytes stay the same from build to build)."""
    for source in candidates:
        for draft in render_race(plan, source, reason):
            if draft.key == key:
                return draft
    fallback = replace(candidates[0], sessions=())
    return replace(render_race(plan, fallback, reason)[0], key=key)


def compile_plan(
    plan: Plan, previous: PlanState | None, build_time: datetime, now: datetime, settings: Settings, inputs: str,
    floors: dict[str, int] | None = None, removed: bool = False, published_events: Callable[[str], Mapping[str, str]] | None = None,
) -> PlanOutput:  # fmt: skip
    """Feeds, new state and typed changes for one plan, given what was published before.

    ``build_time`` stamps what changed; ``now`` (publication time) starts and expires tombstones.
    ``floors`` are SEQUENCE floors known from elsewhere (a retired plan's, from the site index).
    ``published_events`` (feed → UID → event text) is given when racecal itself wrote ``previous``
    and the plan's published feeds, with this code and tz version (previous.py and cache.py check):
    a race equal to its snapshot there, whose sessions' times the tz data still gives, then renders
    exactly as it did, so its fingerprint is the published one and its events' bytes are taken from
    those feeds instead of being rendered again (docs/architecture.md, "Unchanged events are not
    rendered again").
    """
    old_races = previous.races if previous else {}
    floors = {**(floors or {}), **(previous.floors if previous else {})}
    current = {race.id: race for race in plan.races}
    order = [*current, *(rid for rid in old_races if rid not in current)]
    placed: dict[str, list[PlacedEvent]] = {feed.value: [] for feed in FEEDS}
    states: dict[str, RaceState] = {}
    changes: list[Change] = []
    if previous:
        changes += _plan_changes(previous, plan)
        if previous.removed != removed:  # every feed's name and description say so (feeds.calendar)
            kind = "calendar" if plan.view else "plan"
            words = f"{kind} removed: its feeds stay, marked removed, and are no longer updated" if removed else f"{kind} published again"
            changes.append(
                Change(plan.id, None, plan.title, "edited", f"{plan.title}: {words}", FEEDS, "removed", previous.removed, removed)
            )

    # What a race's events are rendered from besides the race (its title names the athlete), and
    # the plan's zone, which a fingerprint written before it was left out holds: the same as
    # published, or nothing is taken from there.
    reusing = (
        published_events is not None
        and previous is not None
        and previous.athlete.name == plan.athlete.name
        and previous.timezone == plan.timezone
    )
    pending: list[_Pending] = []
    for race_id in order:
        race = current.get(race_id)
        old = old_races.get(race_id)
        live = feeds_for(race.status) if race else frozenset()
        drafts: list[EventDraft] | None = None
        unchanged = race is not None and reusing and old is not None and not old.deleted and old.snapshot == race
        if race is not None and unchanged:
            keys = tuple(event_places(race))
        else:
            drafts = render_race(plan, race) if race else []
            keys = tuple(d.key for d in drafts)
        published = _published_uids(plan.id, race_id, keys, live, old, now)
        copied = None
        if race is not None and unchanged:
            assert published_events is not None
            copied = _copied_events(plan.id, race, published, published_events)
            if copied is None:
                drafts = render_race(plan, race)
        if copied is not None:
            assert old is not None
            fingerprint, same = old.fingerprint, True  # the same race, rendered from the same inputs, as published
        elif race is not None:
            assert drafts is not None
            fingerprint = _fingerprint(drafts, live)
            zone_then = previous.timezone if previous is not None else None
            same = old is not None and _same_as_published(old.fingerprint, fingerprint, drafts, live, zone_then)
        elif plan.view and old is not None and old.deleted:
            # A calendar's cancellations name the member and the race, never the calendar: renaming the
            # group (or the meet, the series) changes none of their bytes, so not their SEQUENCE.
            fingerprint, same = old.fingerprint, True
        else:
            # A deleted race's only events are its cancellations, which name the athlete: renaming the
            # athlete changes them, so it must raise their SEQUENCE too.
            fingerprint = _deleted_fingerprint(plan)
            same = old is not None and old.fingerprint == fingerprint
        changed = not same
        # A race id seen before and forgotten continues above the SEQUENCE it had: clients that
        # honour SEQUENCE would otherwise keep the old cancellation.
        first_seq = floors[race_id] + 1 if race_id in floors else 0
        seq = first_seq if old is None else old.seq + int(changed)
        if seq > MAX_SEQUENCE:
            raise PreviousBuildError(
                f"{plan.id}: race {race_id}: SEQUENCE would exceed {MAX_SEQUENCE}, more than any calendar client expects; "
                "give the race a new id (its old events are cancelled) or, to start every SEQUENCE over, build with --fresh"
            )
        stamp = build_time if changed or old is None else old.stamp
        pending.append(_Pending(race_id, race, old, drafts, copied, live, fingerprint, changed, seq, stamp, published))

    _cap_tombstones(pending)
    previous_lines = previous.race_lines if previous is not None else {}
    kept_lines: dict[str, str] = {}

    for p in pending:
        race, old, race_id = p.race, p.old, p.race_id
        if race is None and not p.published:
            assert old is not None
            floors[race_id] = old.seq  # deleted long enough ago: forgotten, but not its SEQUENCE
            continue
        floors.pop(race_id, None)
        old_race = old.snapshot if old else None

        if p.copied is not None:  # as published: each event's bytes from the feed that carried it
            for feed, entries in p.published.items():  # the capped tombstones left out
                placed[feed] += [p.copied[feed, uid] for uid in entries]
        live_drafts = {d.key: d for d in p.drafts or []}
        for feed, entries in p.published.items() if p.copied is None else ():
            for uid, since in entries.items():
                key = event_key(uid, plan.id, race_id, feed)
                assert key is not None, "published UIDs are validated when the state is read"
                if since is None:
                    draft = live_drafts[key]
                else:
                    reason = _tombstone_reason(race, feed, session_removed=key not in live_drafts, migrated=feed in p.live, view=plan.view)
                    # From the race as it is while it is in the plan: a removed session's cancellation
                    # must not be drawn from the previous snapshot, which the next build no longer has
                    # (its bytes would change under the same SEQUENCE).
                    draft = _tombstone_draft(plan, key, reason, [race] if race is not None else [old_race] if old_race else [])
                placed[feed].append(PlacedEvent((draft.sort_key[0], uid), draft.tzid, draft.year, event_bytes(draft, uid, p.seq, p.stamp)))

        was_live = old is not None and not old.deleted
        snapshot = race or old_race
        assert snapshot is not None, "a pending race is in the plan or was published"
        if p.changed:
            # A new SEQUENCE rewrites the race's every event, cancellations too: each feed it has one in.
            touched = set(p.published)
            changes += [
                c if touched <= set(c.feeds) else replace(c, feeds=tuple(sorted({*c.feeds, *touched})))
                for c in diff_race(plan.id, old_race if was_live else None, race, plan.view)
            ]
        if p.copied is not None and old is not None and (old.seq, old.stamp, old.published) == (p.seq, p.stamp, p.published):
            # Taken as published, and so is its state: the same object, so its line in state.json is
            # written as it was read (PlanState.race_lines), not encoded again.
            states[race_id] = old
            if race_id in previous_lines:
                kept_lines[race_id] = previous_lines[race_id]
            continue
        states[race_id] = RaceState(
            seq=p.seq,
            stamp=p.stamp,
            fingerprint=p.fingerprint,
            snapshot=snapshot,
            published=p.published,
            deleted=race is None,
        )

    # The empty-feed journal's DTSTAMP is the newest stamp the plan ever had, so it never goes back
    # when a race is forgotten; a plan that never had a race takes the build that first published it
    # (docs/history.md: "the plan's latest build time"), kept in its state so rebuilds give the same bytes.
    stamps = [r.stamp for r in states.values()] + ([previous.latest] if previous and previous.latest else [])
    newest = max(stamps, default=build_time)
    feeds = {feed: calendar(plan, feed, placed[feed], settings, newest, removed) for feed in placed}
    stamp_text = ics.format_utc(build_time)
    history = (previous.changes if previous else []) + [{"build": stamp_text, **c.to_dict()} for c in changes]
    state = PlanState(
        plan_id=plan.id,
        athlete=plan.athlete,
        season=plan.season,
        timezone=plan.timezone,
        source_path=plan.source_path,
        inputs=inputs,
        races=states,
        changes=history[-MAX_CHANGES_KEPT:],
        floors=dict(sorted(floors.items())),
        removed=removed,
        newest=newest,
        race_lines=kept_lines,
    )
    return PlanOutput(feeds, state, changes, plan.races, _expired(old_races, states))


def _expired(old_races: Mapping[str, RaceState], states: Mapping[str, RaceState]) -> dict[str, int]:
    """Feed → the cancelled events it carried that it no longer does."""
    gone: dict[str, int] = {}
    for race_id, old in old_races.items():
        now = states[race_id].published if race_id in states else {}
        for feed, uids in old.published.items():
            left = sum(1 for uid, since in uids.items() if since is not None and uid not in now.get(feed, {}))
            if left:
                gone[feed] = gone.get(feed, 0) + left
    return dict(sorted(gone.items()))


def _plan_changes(previous: PlanState, plan: Plan) -> list[Change]:
    """Edits of the plan itself. The name and the display zone are in every feed's header; the
    country and disciplines are on the pages only, so they touch no feed."""
    out = []
    for key, old, new, feeds in (
        ("athlete.name", previous.athlete.name, plan.athlete.name, FEEDS),
        ("athlete.country", previous.athlete.country, plan.athlete.country, ()),
        ("athlete.disciplines", list(previous.athlete.disciplines), list(plan.athlete.disciplines), ()),
        ("timezone", previous.timezone, plan.timezone, FEEDS),
    ):
        if old != new:
            # A group's, meet's or series' calendar is named by its definition, not by an athlete.
            field, words = ("name", "calendar name") if plan.view and key == "athlete.name" else (key, key)
            out.append(Change(plan.id, None, plan.title, "edited", f"{plan.title}: {words} changed", feeds, field, old, new))
    return out
