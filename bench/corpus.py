"""Generate a realistic racecal corpus, and the same events as yaml2ics inputs.

    python bench/corpus.py OUT [--athletes 1000] [--races 20] [--seed 2024] [--mix standard|wide]

OUT/schedules/meets/meets.yaml   a shared catalogue of 400 meets in 40 timezones
OUT/schedules/athlete-NNNN.yaml  one plan per athlete: single-day, multi-day and timed races,
                                 ~15% tentative, ~3% withdrawn
OUT/yaml2ics/athlete-NNNN.yaml   the same events for yaml2ics (mapping in BENCHMARKS.md)

--mix wide is the scale issue's second corpus: 640 meets in 64 timezones (half-hour and
three-quarter-hour offsets, southern-hemisphere DST, zones without DST), 60% of races timed, and
a timed race has one to three sessions (heats, semi-final, final) on its meet's days.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

TIMEZONES = [
    "Europe/Oslo", "Europe/Rome", "Europe/Paris", "Europe/London", "Europe/Berlin", "Europe/Madrid", "Europe/Warsaw",
    "Europe/Stockholm", "Europe/Helsinki", "Europe/Zurich", "Europe/Brussels", "Europe/Monaco", "Europe/Athens",
    "Europe/Lisbon", "America/Los_Angeles", "America/New_York", "America/Chicago", "America/Denver", "America/Toronto",
    "America/Sao_Paulo", "America/Mexico_City", "America/Bogota", "Asia/Tokyo", "Asia/Shanghai", "Asia/Qatar",
    "Asia/Dubai", "Asia/Kolkata", "Asia/Seoul", "Asia/Singapore", "Australia/Sydney", "Australia/Melbourne",
    "Australia/Perth", "Pacific/Auckland", "Africa/Nairobi", "Africa/Johannesburg", "Africa/Casablanca",
    "Africa/Lagos", "Africa/Cairo", "America/Jamaica", "Europe/Budapest",
]  # fmt: skip
# Every zone here is one yaml2ics can write (its ics library has no VTIMEZONE for, e.g., Africa/Addis_Ababa).
DISCIPLINES = ["800m", "1500m", "mile", "3000m", "5000m", "10,000m", "3000m steeplechase", "cross country"]
# --mix wide adds these: 64 zones in all.
MORE_TIMEZONES = [
    "Europe/Dublin", "Europe/Vienna", "Europe/Prague", "Europe/Copenhagen", "Europe/Amsterdam", "Europe/Istanbul",
    "Europe/Bucharest", "Europe/Sofia", "America/Vancouver", "America/Phoenix", "America/Halifax", "America/Lima",
    "America/Santiago", "America/Argentina/Buenos_Aires", "America/St_Johns", "Asia/Hong_Kong", "Asia/Taipei",
    "Asia/Bangkok", "Asia/Jakarta", "Asia/Tehran", "Asia/Kathmandu", "Australia/Adelaide", "Pacific/Honolulu",
    "Atlantic/Reykjavik",
]  # fmt: skip
SEASON = 2024


@dataclass(frozen=True)
class Mix:
    meets: int
    timezones: tuple[str, ...]
    timed: float  # the share of races with sessions
    sessions: tuple[int, ...]  # how many sessions a timed race may have (one is drawn)


MIXES = {
    "standard": Mix(400, tuple(TIMEZONES), 0.25, (1,)),
    "wide": Mix(640, tuple(TIMEZONES + MORE_TIMEZONES), 0.6, (1, 2, 3)),
}
SESSION_NAMES = {1: ["Final"], 2: ["Heats", "Final"], 3: ["Heats", "Semi-final", "Final"]}


def meets(rng: random.Random, mix: Mix) -> list[dict[str, object]]:
    out = []
    for n in range(mix.meets):
        start = date(SEASON, 1, 10) + timedelta(days=rng.randrange(0, 340))
        days = rng.choice([1, 1, 1, 1, 2, 3, 6])
        out.append(
            {
                "id": f"meet-{n:03d}",
                "name": f"Meet {n:03d} {rng.choice(['Games', 'Classic', 'Invitational', 'Championships', 'Grand Prix'])}",
                "series": rng.choice(["Diamond League", "Continental Tour", None]),
                "start": start,
                "end": start + timedelta(days=days - 1),
                "tz": mix.timezones[n % len(mix.timezones)],
                "city": f"City {n % 150}",
                "lat": round(rng.uniform(-60, 70), 4),
                "lon": round(rng.uniform(-170, 170), 4),
            }
        )
    return out


def catalogue_yaml(catalogue: list[dict[str, object]]) -> str:
    lines = ["meets:"]
    for m in catalogue:
        lines += [
            f"  - id: {m['id']}",
            f"    name: {m['name']}",
            *([f"    series: {m['series']}"] if m["series"] else []),
            f"    start: {m['start']}",
            f"    end: {m['end']}",
            f"    venue: {{name: Stadium {m['id']}, city: {m['city']}, lat: {m['lat']}, lon: {m['lon']}}}",
            f"    timezone: {m['tz']}",
        ]
    return "\n".join(lines) + "\n"


def athlete(n: int, catalogue: list[dict[str, object]], races: int, rng: random.Random, mix: Mix) -> tuple[str, str]:
    chosen = rng.sample(catalogue, races)
    plan = [
        f"athlete:\n  name: Athlete {n:04d}\n  slug: athlete-{n:04d}\n  country: Country {n % 60}",
        f"  disciplines: [{rng.choice(DISCIPLINES)}]",
        f"season: {SEASON}",
        f"timezone: {mix.timezones[n % len(mix.timezones)]}",
        "sources:",
        "  press:",
        "    outlet: Federation press office",
        f"    title: Athlete {n:04d} season plan",
        f"    url: https://example.org/news/{n}",
        "    published: 2024-01-15",
        "races:",
    ]
    y2 = [f"name: Athlete {n:04d} {SEASON}", "events:"]
    for i, m in enumerate(chosen):
        roll = rng.random()
        status = "tentative" if roll < 0.15 else "withdrawn" if roll < 0.18 else "confirmed"
        start, end = m["start"], m["end"]
        assert isinstance(start, date) and isinstance(end, date)
        plan += [f"  - id: race-{i:02d}", f"    meet: {m['id']}", f"    status: {status}", "    sources: [press]"]
        if rng.random() < 0.3:
            plan.append(f"    note: Race {i} for athlete {n}; pacing planned.")
        timed = rng.random() < mix.timed
        summary = f"Athlete {n:04d} – {m['name']}"
        if timed and mix.sessions != (1,):
            plan.append("    sessions:")
            for day, hour, minute, session in _sessions(rng, start, end, SESSION_NAMES[rng.choice(mix.sessions)]):
                plan.append(f'      - {{name: {session}, date: {day}, time: "{hour:02d}:{minute}"}}')
                y2 += [
                    f"  - summary: {summary} ({session})",
                    f"    begin: {day} {hour:02d}:{minute}:00",
                    "    duration: {hours: 1}",
                    f"    timezone: {m['tz']}",
                    f"    uid: {session.lower()}.race-{i:02d}.athlete-{n:04d}-{SEASON}@racecal",
                    f"    location: Stadium {m['id']}, {m['city']}",
                    f'    description: "{m["name"]} – status: {status}"',
                ]
            continue
        if timed:  # the standard mix, drawn as it always was (its figures stay comparable)
            day = start + timedelta(days=rng.randrange(0, (end - start).days + 1))
            hour = rng.randrange(10, 22)
            plan += ["    sessions:", f'      - {{name: Final, date: {day}, time: "{hour:02d}:{rng.choice(["00", "15", "30", "45"])}"}}']
            minute = plan[-1].split('"')[1].split(":")[1]
            y2 += [
                f"  - summary: {summary}",
                f"    begin: {day} {hour:02d}:{minute}:00",
                "    duration: {hours: 1}",
                f"    timezone: {m['tz']}",
            ]
        else:
            y2 += [f"  - summary: {summary}", f"    begin: {start}", *([f"    end: {end + timedelta(days=1)}"] if end != start else [])]
        y2 += [
            f"    uid: race-{i:02d}.athlete-{n:04d}-{SEASON}@racecal",
            f"    location: Stadium {m['id']}, {m['city']}",
            f'    description: "{m["name"]} – status: {status}"',
        ]
    return "\n".join(plan) + "\n", "\n".join(y2) + "\n"


def _sessions(rng: random.Random, start: date, end: date, names: list[str]) -> list[tuple[date, int, str, str]]:
    """Heats, semi-final and final on successive days of the meet (the same day, hours apart, when it
    has no more days)."""
    first = rng.randrange(0, (end - start).days + 1)
    out = []
    for k, name in enumerate(names):
        day = start + timedelta(days=min(first + k, (end - start).days))
        hour = rng.randrange(10, 18) + 2 * sum(1 for d, *_ in out if d == day)
        out.append((day, hour, rng.choice(["00", "15", "30", "45"]), name))
    return out


def generate(out: Path, athletes: int, races: int, seed: int = 2024, mix: str = "standard") -> None:
    rng = random.Random(seed)
    catalogue = meets(rng, MIXES[mix])
    (out / "schedules" / "meets").mkdir(parents=True, exist_ok=True)
    (out / "yaml2ics").mkdir(parents=True, exist_ok=True)
    (out / "schedules" / "meets" / "meets.yaml").write_text(catalogue_yaml(catalogue))
    for n in range(athletes):
        plan, y2 = athlete(n, catalogue, races, rng, MIXES[mix])
        (out / "schedules" / f"athlete-{n:04d}.yaml").write_text(plan)
        (out / "yaml2ics" / f"athlete-{n:04d}.yaml").write_text(y2)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--athletes", type=int, default=1000)
    parser.add_argument("--races", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--mix", choices=sorted(MIXES), default="standard")
    args = parser.parse_args()
    generate(args.out, args.athletes, args.races, args.seed, args.mix)
