"""Model-based test: after every build, every subscriber sees exactly what the plans and docs/history.md say.

A hypothesis state machine edits a generated project (promote, demote, withdraw, reinstate, delete,
re-add after expiry, rename, move across a DST change, change a catalogue meet, add and delete plans)
and builds with ``racecal build --time`` at later and later times. After each build the oracle
(tests/model/oracle.py, which reads only the YAML) is compared with what ical.js, vobject and
icalendar (and libical, once it is here) read from every feed.

CI runs a bounded number of sequences; ``RACECAL_MODEL_EXAMPLES=500`` runs more (README, Development).
"""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from oracle import FeedView, Oracle
from parsers import icaljs_available, parsers
from world import ATHLETES, CITIES, STEPS, WORDS, ZONES, World, compare, sessions_for, sessions_span, slug, valid_local

EXAMPLES = int(os.environ.get("RACECAL_MODEL_EXAMPLES", "8"))
IN_CI = bool(os.environ.get("CI"))
MODEL_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=int(os.environ.get("RACECAL_MODEL_STEPS", "14")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    # Each step builds and runs three parsers, so shrinking a failure can take Hypothesis's full five
    # minutes; the failing sequence is printed either way. RACECAL_MODEL_SHRINK=1 asks for the shortest.
    phases=list(Phase) if os.environ.get("RACECAL_MODEL_SHRINK") else [Phase.explicit, Phase.reuse, Phase.generate],
)
THEN = st.one_of(st.none(), st.sampled_from(STEPS))  # after an edit: build now (how much later), or edit more first
STATUSES = ["confirmed", "tentative", "withdrawn", "cancelled"]
REASONS = ["Achilles tendon issue", "Illness in the team", "Meet called off by the organisers", "Chose to rest"]


def need_icaljs() -> None:
    if icaljs_available():
        return
    if IN_CI:
        pytest.fail("node with ical.js is not installed (scripts/test installs it)")
    pytest.skip("node with ical.js is not installed (scripts/test installs it)")


# --- generated plans -------------------------------------------------------------------------------


@st.composite
def meet_doc(draw: st.DrawFn, meet_id: str) -> dict[str, Any]:
    year = draw(st.integers(1990, 2035))
    start = date(year, 1, 1) + timedelta(days=draw(st.integers(0, 364)))
    city, country = draw(st.sampled_from(CITIES))
    doc: dict[str, Any] = {"id": meet_id, "name": f"{draw(st.sampled_from(WORDS))} Games {year}"}
    days = draw(st.sampled_from([0, 0, 2, 6]))
    if days:
        doc["start"], doc["end"] = start, start + timedelta(days=days)
    else:
        doc["date"] = start
    doc["venue"] = {"city": city, "country": country}
    doc["timezone"] = draw(st.sampled_from(ZONES))
    if draw(st.booleans()):
        doc["series"] = "Diamond League"
    return doc


@st.composite
def race_doc(draw: st.DrawFn, race_id: str, meets: list[dict[str, Any]]) -> dict[str, Any]:
    status = draw(st.sampled_from(STATUSES))
    doc: dict[str, Any] = {"id": race_id}
    shape = draw(st.sampled_from(["meet", "inline", "sessions"] if meets else ["inline", "sessions"]))
    if shape == "meet":
        doc["meet"] = draw(st.sampled_from(meets))["id"]
    else:
        doc["name"] = f"{draw(st.sampled_from(WORDS))} {draw(st.sampled_from(['Meet', 'Classic', 'Open']))}"
    if shape == "sessions":
        zone = draw(st.sampled_from(ZONES))
        sessions = draw(sessions_for(zone, draw(st.integers(1990, 2035))))
        doc["start"], doc["end"] = sessions_span(sessions)
        doc["timezone"] = zone
        doc["sessions"] = sessions
    elif shape == "inline":
        doc["date"] = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 365)))
        city, country = draw(st.sampled_from(CITIES))
        doc["venue"] = {"city": city, "country": country}
    doc["status"] = status
    if status in ("withdrawn", "cancelled"):
        doc["reason"] = draw(st.sampled_from(REASONS))
    if draw(st.booleans()):
        doc["sources"] = ["report"]
    return doc


def plan_doc(athlete: str, season: int, races: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "athlete": {"name": athlete, "slug": slug(athlete)},
        "season": season,
        "timezone": "Europe/Oslo",
        "sources": {"report": {"outlet": "Athletics Weekly", "title": "Season plans", "published": date(2024, 1, 10)}},
        "races": races,
    }


# --- the machine ------------------------------------------------------------------------------------


class Subscribers(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="racecal-model-"))
        self.world = World(self.tmp)
        self.oracle = Oracle()
        self.counter = 0
        self.graveyard: list[tuple[str, dict[str, Any]]] = []  # (plan file, race) deleted races, for re-adding
        self.gone_plans: dict[str, tuple[dict[str, Any], str]] = {}  # deleted plan files
        self.previous: dict[tuple[str, str], tuple[FeedView, bytes]] = {}
        self.high_water: dict[tuple[str, str, str], tuple[int, Any]] = {}  # (parser, feed file, uid) → SEQUENCE, DTSTAMP
        self.readers = parsers(os.environ.get("RACECAL_MODEL_PARSERS", ""))
        self.after: list[timedelta | None] = []

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def next_id(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}-{self.counter}"

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        self.world.meets = [data.draw(meet_doc(f"meet-{n}")) for n in range(data.draw(st.integers(1, 3)))]
        for athlete in data.draw(st.lists(st.sampled_from(ATHLETES), min_size=1, max_size=2, unique=True)):
            races = [data.draw(race_doc(self.next_id("race"), self.world.meets)) for _ in range(data.draw(st.integers(1, 4)))]
            self.world.plans[f"{slug(athlete)}.yaml"] = plan_doc(athlete, 2024, races)
        self.do_build()

    # --- building and checking

    def do_build(self) -> None:
        self.world.build()
        views = self.oracle.build(self.world.schedules, self.world.now, frozenset(self.world.retired))
        paths = [self.world.feed_path(plan_id, feed) for plan_id, feed in views]
        present = [p for p in paths if p.exists()]
        with ThreadPoolExecutor(len(self.readers)) as pool:  # node runs while the Python parsers do
            reads = {name: pool.submit(read, present) for name, read in self.readers.items()}
        problems = []
        for name, read in reads.items():
            parsed = read.result()
            problems += compare(views, parsed, self.world, name)
            for path, feed in parsed.items():  # what clients saw before: SEQUENCE and DTSTAMP never go back
                for uid, stamp in zip(feed.journals, feed.journal_stamps, strict=True):
                    mark = self.high_water.get((name, str(path), uid))
                    if mark and stamp < mark[1]:
                        problems.append(
                            f"[{name}] {path.parent.name}/{path.name}: {uid}: DTSTAMP went back from {mark[1]:%Y-%m-%d %H:%M} to {stamp:%Y-%m-%d %H:%M}"
                        )
                    self.high_water[name, str(path), uid] = (0, stamp)
                for event in feed.events:
                    mark = self.high_water.get((name, str(path), event.uid))
                    if mark and (event.sequence, event.dtstamp) < mark:
                        problems.append(f"[{name}] {path.parent.name}/{path.name}: {event.uid}: SEQUENCE/DTSTAMP went back from {mark}")
                    self.high_water[name, str(path), event.uid] = (event.sequence, event.dtstamp)
        for (plan_id, feed), view in views.items():
            path = self.world.feed_path(plan_id, feed)
            body = path.read_bytes() if path.exists() else b""
            before = self.previous.get((plan_id, feed))
            if before and before[0].digest == view.digest and before[1] != body:
                changed = difflib.unified_diff(before[1].decode().splitlines(), body.decode().splitlines(), lineterm="", n=0)
                shown = "\n      ".join(line for line in changed if not line.startswith(("---", "+++")))
                problems.append(f"{plan_id}/{feed}.ics: nothing a subscriber can see changed, yet the bytes did:\n      {shown}")
            self.previous[plan_id, feed] = (view, body)
        assert not problems, f"after build {self.world.builds} at {self.world.now:%Y-%m-%d %H:%M}:\n" + "\n".join(problems)

    @rule(step=st.sampled_from(STEPS))
    def build(self, step: timedelta) -> None:
        self.world.now += step
        self.do_build()

    # --- edits to races

    def pick(self, data: st.DataObject, statuses: tuple[str, ...] = tuple(STATUSES)) -> dict[str, Any] | None:
        candidates = [race for _, race in self.world.races() if race["status"] in statuses]
        return data.draw(st.sampled_from(candidates)) if candidates else None

    @rule(data=st.data(), then=THEN)
    def promote(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        race = self.pick(data, ("tentative",))
        if race:
            race["status"] = "confirmed"

    @rule(data=st.data(), then=THEN)
    def demote(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        race = self.pick(data, ("confirmed",))
        if race:
            race["status"] = "tentative"

    @rule(data=st.data(), to=st.sampled_from(["withdrawn", "cancelled"]), reason=st.sampled_from(REASONS), then=THEN)
    def withdraw(self, data: st.DataObject, to: str, reason: str, then: timedelta | None) -> None:
        self.after.append(then)
        race = self.pick(data, ("confirmed", "tentative"))
        if race:
            race["status"], race["reason"] = to, reason

    @rule(data=st.data(), to=st.sampled_from(["confirmed", "tentative"]), then=THEN)
    def reinstate(self, data: st.DataObject, to: str, then: timedelta | None) -> None:
        self.after.append(then)
        race = self.pick(data, ("withdrawn", "cancelled"))
        if race:
            race["status"] = to
            race.pop("reason", None)

    @rule(data=st.data(), then=THEN)
    def delete_race(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        candidates = [(name, race) for name, race in self.world.races()]
        if candidates:
            name, race = data.draw(st.sampled_from(candidates))
            self.world.plans[name]["races"].remove(race)
            self.graveyard.append((name, race))

    @precondition(lambda self: bool(self.graveyard))
    @rule(data=st.data(), then=THEN)
    def readd_race(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        name, race = data.draw(st.sampled_from(self.graveyard))
        plan = self.world.plans.get(name)
        if plan is not None and all(r["id"] != race["id"] for r in plan["races"]):
            plan["races"].append(race)
            self.graveyard.remove((name, race))

    @rule(data=st.data(), then=THEN)
    def add_race(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        if self.world.plans:
            name = data.draw(st.sampled_from(sorted(self.world.plans)))
            self.world.plans[name]["races"].append(data.draw(race_doc(self.next_id("race"), self.world.meets)))

    @rule(data=st.data(), word=st.sampled_from(WORDS), then=THEN)
    def rename_race(self, data: st.DataObject, word: str, then: timedelta | None) -> None:
        self.after.append(then)
        race = self.pick(data)
        if race:
            race["name"] = f"{word} Invitational"

    @rule(data=st.data(), days=st.sampled_from([-7, -1, 1, 2, 30]), then=THEN)
    def move_race(self, data: st.DataObject, days: int, then: timedelta | None) -> None:
        self.after.append(then)
        race = self.pick(data)
        if race is None or "sessions" in race:
            return
        meet = next((m for m in self.world.meets if m["id"] == race.get("meet")), {})
        start = race.get("date", race.get("start", meet.get("date", meet.get("start"))))
        end = race.get("date", race.get("end", meet.get("date", meet.get("end", start))))
        for key in ("date", "start", "end"):
            race.pop(key, None)
        race["start"], race["end"] = start + timedelta(days=days), end + timedelta(days=days)

    @rule(data=st.data(), then=THEN)
    def move_sessions_across_dst(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        timed = [race for _, race in self.world.races() if "sessions" in race]
        if not timed:
            return
        race = data.draw(st.sampled_from(timed))
        zone = data.draw(st.sampled_from([race["timezone"], *ZONES]))
        sessions = data.draw(sessions_for(zone, race["start"].year, [s["id"] for s in race["sessions"]]))
        race["timezone"], race["sessions"] = zone, sessions
        race["start"], race["end"] = sessions_span(sessions)

    @rule(data=st.data(), then=THEN)
    def add_or_remove_session(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        timed = [race for _, race in self.world.races() if "sessions" in race]
        if not timed:
            return
        race = data.draw(st.sampled_from(timed))
        if len(race["sessions"]) > 1 and data.draw(st.booleans()):
            race["sessions"].pop(data.draw(st.integers(0, len(race["sessions"]) - 1)))
        else:
            day = race["start"] + timedelta(days=data.draw(st.integers(0, 2)))
            clock = time(data.draw(st.integers(0, 23)), data.draw(st.integers(0, 59)))
            while not valid_local(day, clock, race["timezone"]):
                clock = time((clock.hour + 1) % 24, clock.minute)
            race["sessions"].append({"id": self.next_id("s"), "name": f"Final {self.counter}", "date": day, "time": f"{clock:%H:%M}"})
        race["start"], race["end"] = sessions_span(race["sessions"])

    @rule(data=st.data(), note=st.sampled_from(["Season opener.", '"Then probably here."', "Pacemakers confirmed."]), then=THEN)
    def edit_note(self, data: st.DataObject, note: str, then: timedelta | None) -> None:
        self.after.append(then)
        race = self.pick(data)
        if race:
            race["note"] = note

    @rule(data=st.data(), title=st.sampled_from(["Season plans, updated", "Interview after training camp"]), then=THEN)
    def edit_source(self, data: st.DataObject, title: str, then: timedelta | None) -> None:
        self.after.append(then)
        if self.world.plans:
            name = data.draw(st.sampled_from(sorted(self.world.plans)))
            self.world.plans[name]["sources"]["report"]["title"] = title

    @rule(data=st.data(), change=st.sampled_from(["name", "date", "venue", "timezone"]), then=THEN)
    def change_meet(self, data: st.DataObject, change: str, then: timedelta | None) -> None:
        self.after.append(then)
        meet = data.draw(st.sampled_from(self.world.meets))
        if change == "name":
            meet["name"] = f"{data.draw(st.sampled_from(WORDS))} Grand Prix"
        elif change == "venue":
            city, country = data.draw(st.sampled_from(CITIES))
            meet["venue"] = {"city": city, "country": country}
        elif change == "timezone":  # its races have no sessions: all-day events, which no zone changes
            meet["timezone"] = data.draw(st.sampled_from(ZONES))
        else:
            shift = timedelta(days=data.draw(st.sampled_from([-3, 1, 14])))
            for key in ("date", "start", "end"):
                if key in meet:
                    meet[key] += shift

    @rule(data=st.data(), zone=st.sampled_from(["Europe/Oslo", "America/New_York", "Asia/Kolkata"]), then=THEN)
    def change_plan_zone(self, data: st.DataObject, zone: str, then: timedelta | None) -> None:
        """The plan's display zone: every feed's header (X-WR-TIMEZONE), no event."""
        self.after.append(then)
        if self.world.plans:
            name = data.draw(st.sampled_from(sorted(self.world.plans)))
            self.world.plans[name]["timezone"] = zone

    @rule(data=st.data(), athlete=st.sampled_from(["Anna Kowalska-Berg", "Ben Osei Jr", "Chloé Martin-Roux"]), then=THEN)
    def rename_athlete(self, data: st.DataObject, athlete: str, then: timedelta | None) -> None:
        self.after.append(then)
        if self.world.plans:
            name = data.draw(st.sampled_from(sorted(self.world.plans)))
            self.world.plans[name]["athlete"]["name"] = athlete  # the slug, hence the plan id, stays

    # --- edits no subscriber can see: the bytes must stay

    @rule(data=st.data(), kind=st.sampled_from(["comment", "reorder", "rename file"]), then=THEN)
    def cosmetic(self, data: st.DataObject, kind: str, then: timedelta | None) -> None:
        self.after.append(then)
        if not self.world.plans:
            return
        name = data.draw(st.sampled_from(sorted(self.world.plans)))
        if kind == "comment":
            self.world.comments[name] = self.world.comments.get(name, "") + "# edited by hand\n"
        elif kind == "reorder":
            self.world.plans[name]["races"].reverse()
        else:
            new = f"renamed-{self.next_id('plan')}.yaml"
            self.world.plans[new] = self.world.plans.pop(name)
            self.world.comments[new] = self.world.comments.pop(name, "")
            self.graveyard = [(new if n == name else n, r) for n, r in self.graveyard]

    # --- plans

    @rule(data=st.data(), athlete=st.sampled_from(ATHLETES), then=THEN)
    def add_plan(self, data: st.DataObject, athlete: str, then: timedelta | None) -> None:
        self.after.append(then)
        name = f"{slug(athlete)}.yaml"
        if name in self.world.plans or any(self.world.plan_id(n) == f"{slug(athlete)}-2024" for n in self.world.plans):
            return
        if name in self.gone_plans:
            doc, self.world.comments[name] = self.gone_plans.pop(name)
        else:
            doc = plan_doc(athlete, 2024, [data.draw(race_doc(self.next_id("race"), self.world.meets))])
        self.world.plans[name] = doc
        if f"{slug(athlete)}-2024" in self.world.retired:  # racecal refuses a plan listed there
            self.world.retired.remove(f"{slug(athlete)}-2024")

    @rule(data=st.data(), then=THEN)
    def delete_plan(self, data: st.DataObject, then: timedelta | None) -> None:
        self.after.append(then)
        if self.world.plans:
            self.delete(data.draw(st.sampled_from(sorted(self.world.plans))))

    @rule(data=st.data(), then=THEN)
    def retire_plan(self, data: st.DataObject, then: timedelta | None) -> None:
        """A plan listed under retired:, its file deleted in the same edit or earlier: its races are
        published cancelled for the grace period first, then its feeds are gone (docs/history.md)."""
        self.after.append(then)
        present = {self.world.plan_id(name): name for name in self.world.plans}
        gone = {f"{doc['athlete']['slug']}-{doc['season']}" for doc, _ in self.gone_plans.values()}
        choices = sorted((set(present) | gone) - set(self.world.retired))
        if not choices:
            return
        plan_id = data.draw(st.sampled_from(choices))
        if plan_id in present:
            self.delete(present[plan_id])
        self.world.retired.append(plan_id)

    def delete(self, name: str) -> None:
        doc = self.world.plans.pop(name)
        self.gone_plans[doc["athlete"]["slug"] + ".yaml"] = (doc, self.world.comments.pop(name, ""))
        self.graveyard = [(n, r) for n, r in self.graveyard if n != name]

    @invariant()
    def build_if_asked(self) -> None:
        # Runs after every rule: an edit rule may have asked for a build once it is done.
        steps, self.after = self.after, []
        for step in steps:
            if step is not None:
                self.world.now += step
                self.do_build()

    @invariant()
    def ids_stay_unique(self) -> None:
        # A guard on the generator itself: racecal would (rightly) refuse duplicate ids.
        for doc in self.world.plans.values():
            ids = [r["id"] for r in doc["races"]]
            assert len(ids) == len(set(ids))


@pytest.mark.external
@pytest.mark.slow
def test_every_subscriber_sees_the_plan_after_every_build() -> None:
    need_icaljs()
    Subscribers.TestCase.settings = MODEL_SETTINGS
    Subscribers.TestCase().runTest()


# --- timed sessions over the whole range of years a plan may use -------------------------------------


@pytest.mark.external
@settings(max_examples=2 * EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=MODEL_SETTINGS.phases)
@given(data=st.data())
def test_every_parser_reads_each_session_at_the_instant_zoneinfo_gives(data: st.DataObject) -> None:
    """One build, three zones, any year 1900–2100: before the first transition, on change days, around them."""
    need_icaljs()
    with tempfile.TemporaryDirectory(prefix="racecal-zones-") as tmp:
        world = World(Path(tmp))
        races = []
        for n in range(3):
            zone = data.draw(st.sampled_from(ZONES), label=f"zone {n}")
            sessions = data.draw(sessions_for(zone, data.draw(st.integers(1900, 2098), label=f"year {n}")), label=f"sessions {n}")
            start, end = sessions_span(sessions)
            status = data.draw(st.sampled_from(["confirmed", "tentative"]))
            races.append(
                {
                    "id": f"race-{n}",
                    "name": f"Race {n}",
                    "start": start,
                    "end": end,
                    "timezone": zone,
                    "sessions": sessions,
                    "status": status,
                }
            )
        world.plans = {"anna.yaml": plan_doc("Anna Kowalska", 2024, races)}
        world.build()
        views = Oracle().build(world.schedules, world.now)
        paths = [world.feed_path(plan_id, feed) for plan_id, feed in views]
        readers = parsers(os.environ.get("RACECAL_MODEL_PARSERS", ""))
        problems = [p for name, read in readers.items() for p in compare(views, read(paths), world, name)]
        assert not problems, "\n".join(problems)
