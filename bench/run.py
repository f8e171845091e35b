"""racecal against yaml2ics and the bare-icalendar floor, on one generated corpus, in one run.

    .venv/bin/python bench/run.py [--athletes 1000] [--races 20] [--seed 2024] [--mix standard|wide] [--repeat 3] [--work DIR] [--views]

Prints, for the corpus (default 1,000 athletes × 20 races = 20,000 races):
  racecal cold full build (3 feeds per plan + site + history), no-op rebuild, rebuild after one race
  changed, rebuild after one catalogue meet renamed (the meet most plans use), `racecal diff` after
  that meet edit, `racecal diff` with nothing changed, locally and against the site served over
  HTTP (`--previous URL`, the shipped workflow's path); yaml2ics (its own virtualenv, all athletes in
  one call → one calendar); icalendar building and serialising the same events into one calendar
  (the floor of the library racecal's feeds are checked against). --views turns on group, meet and
  series calendars (VIEWS below) and adds a race edited at a meet of a series. Each figure is the median of
  --repeat runs with the spread (min–max); CPU is user + system time of the process and the workers
  it waited for; peak RSS includes worker processes. Outputs go to tmpfs (/dev/shm) when there is
  one; --work puts them on a real disk. BENCHMARKS.md says how the inputs map.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from corpus import generate  # noqa: E402

YAML2ICS = "yaml2ics==0.3"
# --views: two countries (about 17 plans each), two disciplines (about an eighth of the plans each),
# a calendar for every meet raced at and for each series.
VIEWS = """groups:
  - {id: country-1, name: Country 1, country: Country 1}
  - {id: country-2, name: Country 2, country: Country 2}
  - {id: milers, name: Milers, disciplines: [1500m]}
  - {id: steeple, name: Steeple, disciplines: [3000m]}
meet_calendars: true
series_calendars: true
"""


@dataclass
class Run:
    seconds: float
    peak_mib: float
    cpu: float = 0.0  # user + system seconds, the process and the children it waited for


# As an installed tool runs: with its bytecode cached. A shell that sets PYTHONDONTWRITEBYTECODE would
# have every run compile every module again (about 0.15 s here), a cost no user's install pays.
RUN_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(argv: list[str], cwd: Path, stdout: Path | None = None) -> Run:
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.PIPE, env=RUN_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if stdout:
        out.close()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    # ru_maxrss is in KiB on Linux; wait4's usage includes the workers the process waited for.
    return Run(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.seconds for r in runs), max(r.peak_mib for r in runs), statistics.median(r.cpu for r in runs))


def spread(runs: list[Run]) -> str:
    return f"{min(r.seconds for r in runs):.2f}–{max(r.seconds for r in runs):.2f}"


def busiest_meet(schedules: Path) -> tuple[str, int]:
    """The catalogue meet referenced by the most plans, and how many."""
    users: dict[str, int] = {}
    for plan in schedules.glob("*.yaml"):
        for meet in {line.split("meet:", 1)[1].strip() for line in plan.read_text().splitlines() if "meet:" in line}:
            users[meet] = users.get(meet, 0) + 1
    return max(users.items(), key=lambda item: (item[1], item[0]))


def with_note_at_series_meet(plan: str, catalogue: str, note: str) -> str:
    """``plan`` with ``note`` added to its first race, without a note, at a meet the catalogue puts
    in a series."""
    import yaml

    in_series = {m["id"] for m in yaml.safe_load(catalogue)["meets"] if m.get("series")}
    race = next(r for r in yaml.safe_load(plan)["races"] if r.get("meet") in in_series and "note" not in r)
    head = f"  - id: {race['id']}\n"
    return plan.replace(head, f"{head}    note: {note}\n", 1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def yaml2ics_python(work: Path) -> Path:
    venv = REPO / "bench" / "out" / ".venv-yaml2ics"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", YAML2ICS], check=True)
    return python


FLOOR = r"""
import sys, time
from pathlib import Path
from datetime import datetime, timedelta, timezone
from icalendar import Calendar, Event
from racecal.load import load_dir
from racecal.feeds import render_race

plans = load_dir(Path(sys.argv[1])).plans
stamp = datetime(2024, 3, 1, tzinfo=timezone.utc)
events = []
for plan in plans:
    for race in plan.races:
        events.append((plan, race))
start = time.perf_counter()
cal = Calendar()
cal.add("prodid", "-//floor//EN")
cal.add("version", "2.0")
n = 0
for plan, race in events:
    ev = Event.new(
        uid=f"{race.id}.{plan.id}@racecal", stamp=stamp, sequence=0,
        summary=f"{plan.athlete.name} – {race.name}", start=race.start, end=race.end + timedelta(days=1),
        location=race.venue.label() if race.venue else None, description=race.note or race.name,
        categories=list(race.disciplines) + ([race.series] if race.series else []),
    )
    ev.add("status", race.status.value.upper() if race.status.is_live else "CANCELLED")
    ev.add("transp", "TRANSPARENT")
    cal.add_component(ev)
    n += 1
data = cal.to_ical()
Path(sys.argv[2]).write_bytes(data)
print(n, time.perf_counter() - start)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--athletes", type=int, default=1000)
    parser.add_argument("--races", type=int, default=20)
    parser.add_argument("--seed", type=int, default=2024, help="corpus seed (a second corpus: another seed)")
    parser.add_argument("--mix", choices=["standard", "wide"], default="standard", help="wide: the second corpus (bench/corpus.py)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--views", action="store_true", help="with group, meet and series calendars on")
    parser.add_argument("--no-peers", action="store_true", help="skip yaml2ics and the floor (for the 100,000-race memory run)")
    default_work = Path("/dev/shm/racecal-bench") if Path("/dev/shm").is_dir() else REPO / "bench" / "out" / "work"
    parser.add_argument("--work", type=Path, default=default_work)
    args = parser.parse_args()

    work: Path = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # racecal's record of what it published (cache.py) kept with the run, as a user's ~/.cache would keep it.
    RUN_ENV["XDG_CACHE_HOME"] = str(work / "cache")
    generate(work, args.athletes, args.races, args.seed, args.mix)
    if args.views:
        (work / "racecal.yaml").write_text(VIEWS)
    races = args.athletes * args.races
    clock = [datetime(2024, 3, 1, tzinfo=UTC)]

    def later() -> str:
        """A publication time after every earlier step's (racecal refuses a clock that goes back), on
        the same day: a build dated a day later renders again the pages whose upcoming races ended
        (index.json upcoming_until), which is not the no-op or one-edit case measured here."""
        clock[0] += timedelta(minutes=1)
        return clock[0].strftime("%Y-%m-%dT%H:%M:%SZ")

    def racecal(*extra: str) -> list[str]:
        return [sys.executable, "-m", "racecal", "build", "--time", later(), "-q", *extra]

    def diff(*extra: str) -> list[str]:
        return [sys.executable, "-m", "racecal", "diff", "--time", clock[0].strftime("%Y-%m-%dT%H:%M:%SZ"), *extra]

    y2_python = None if args.no_peers else yaml2ics_python(work)
    y2_files = sorted(str(p) for p in (work / "yaml2ics").glob("*.yaml"))
    env_note = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, outputs on {work}" + (", views on" if args.views else "")
    print(f"corpus: {args.athletes} plans × {args.races} races = {races} races (seed {args.seed}, {args.mix} mix), {env_note}")
    catalogue = work / "schedules" / "meets" / "meets.yaml"
    meet_id, meet_users = busiest_meet(work / "schedules")

    runs: dict[str, list[Run]] = {}

    def record(name: str, run: Run) -> None:
        runs.setdefault(name, []).append(run)

    plan_file = work / "schedules" / "athlete-0005.yaml"
    original, original_catalogue = plan_file.read_text(), catalogue.read_text()
    port = free_port()
    # Bytecode as an install leaves it (pip compiles what it installs; an editable checkout does not).
    package = importlib.util.find_spec("racecal")
    assert package is not None and package.origin is not None, "racecal is installed"
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(Path(package.origin).parent)], check=True, env=RUN_ENV)
    for i in range(args.repeat):
        shutil.rmtree(work / "dist", ignore_errors=True)
        clock[0] = datetime(2024, 3, 1, tzinfo=UTC)
        record("cold", measure(racecal("--fresh"), work))
        record("noop", measure(racecal(), work))
        record("diff", measure(diff(), work))
        server = subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(work / "dist")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(0.5)
            record("diff-url", measure(diff("--previous", f"http://127.0.0.1:{port}/"), work))
        finally:
            server.terminate()
            server.wait()
        # One race changed in one plan: its note.
        plan_file.write_text(original.replace("  - id: race-03\n", f"  - id: race-03\n    note: changed in run {i}\n", 1))
        record("one", measure(racecal(), work))
        plan_file.write_text(original)
        record("one-back", measure(racecal(), work))
        if args.views:  # the same at a meet of a series: the series' calendar is rebuilt too
            plan_file.write_text(with_note_at_series_meet(original, original_catalogue, f"changed in run {i}"))
            record("one-series", measure(racecal(), work))
            plan_file.write_text(original)
            record("one-series-back", measure(racecal(), work))
        # One catalogue meet renamed: every plan that races there follows.
        renamed = original_catalogue.replace(f"  - id: {meet_id}\n    name: ", f"  - id: {meet_id}\n    name: Renamed {i} ", 1)
        catalogue.write_text(renamed)
        record("meet-diff", measure(diff(), work))
        record("meet", measure(racecal(), work))
        catalogue.write_text(original_catalogue)
        if y2_python is not None:
            record("yaml2ics", measure([str(y2_python), "-m", "yaml2ics", *y2_files], work, stdout=work / "yaml2ics.ics"))
            record("floor", measure([sys.executable, "-c", FLOOR, str(work / "schedules"), str(work / "floor.ics")], work))

    m = {name: median(r) for name, r in runs.items()}
    feeds = len(list((work / "dist").glob("*/*.ics")))
    files = sum(1 for p in (work / "dist").rglob("*") if p.is_file())
    rows = [
        ("cold", "racecal cold full build", f"{feeds} feeds, {files} files (3 feeds/plan + pages + history)"),
        ("noop", "racecal no-op rebuild", "nothing written"),
        ("one", "racecal one race changed", "1 plan rebuilt, the rest linked"),
        *([("one-series", "racecal one race, series meet", "its plan, groups, meet and series")] if args.views else []),
        ("meet", "racecal one meet renamed", f"{meet_id}, used by {meet_users} plans"),
        ("diff", "racecal diff, no change", "local dist/"),
        ("diff-url", "racecal diff --previous URL", "no change; site served on 127.0.0.1"),
        ("meet-diff", "racecal diff after the meet", f"{meet_users} plans changed"),
    ]
    if y2_python is not None:
        y2_events = (work / "yaml2ics.ics").read_bytes().count(b"BEGIN:VEVENT")
        floor_events = (work / "floor.ics").read_bytes().count(b"BEGIN:VEVENT")
        rows += [
            ("yaml2ics", "yaml2ics 0.3", f"1 calendar, {y2_events} events"),
            ("floor", "icalendar floor (process)", f"1 calendar, {floor_events} events"),
        ]
    print(f"\n{'':30}{'wall s':>8}{'spread':>12}{'CPU s':>8}{'peak MiB':>10}  output")
    for key, name, what in rows:
        run = m[key]
        print(f"{name:30}{run.seconds:8.2f}{spread(runs[key]):>12}{run.cpu:8.2f}{run.peak_mib:10.0f}  {what}")
    c = m["cold"]
    print("\nratios (same run; wall, and CPU where it says so):")
    if y2_python is not None:
        y, f = m["yaml2ics"], m["floor"]
        print(f"  yaml2ics / racecal cold, CPU      {y.cpu / c.cpu:6.2f}×   (target ≥ 5×; wall {y.seconds / c.seconds:.2f}×)")
        print(f"  floor / racecal cold, CPU         {f.cpu / c.cpu:6.2f}×   (racecal writes 3 feeds + site; the floor 1 feed)")
    print(f"  no-op / cold                      {m['noop'].seconds / c.seconds:6.3f}    (target ≤ 0.05; CPU {m['noop'].cpu / c.cpu:.3f})")
    print(f"  one race changed / cold           {m['one'].seconds / c.seconds:6.3f}    (target ≤ 0.08; CPU {m['one'].cpu / c.cpu:.3f})")
    if args.views:
        print(f"  one race at a series meet / cold  {m['one-series'].seconds / c.seconds:6.3f}    (CPU {m['one-series'].cpu / c.cpu:.3f})")
    print(f"  one meet renamed / cold           {m['meet'].seconds / c.seconds:6.3f}    (target ≤ 0.15; CPU {m['meet'].cpu / c.cpu:.3f})")
    print(f"  diff --previous URL / local diff  {m['diff-url'].seconds / m['diff'].seconds:6.2f}×   (target ≤ 2×)")
    print(
        f"  peak RSS, any racecal run         {max(r.peak_mib for k, r in m.items() if k not in ('yaml2ics', 'floor')):6.0f} MiB (target < 150 MiB at 100,000 races)"
    )


if __name__ == "__main__":
    main()
