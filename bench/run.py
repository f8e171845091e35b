"""racecal against yaml2ics and the bare-icalendar floor, on one generated corpus, in one run.

    .venv/bin/python bench/run.py [--athletes 1000] [--races 20] [--repeat 3] [--work DIR]

Prints, for the corpus (default 1,000 athletes × 20 races = 20,000 races):
  racecal cold full build (3 feeds per plan + site + history), no-op rebuild, rebuild after one race
  changed; yaml2ics (its own virtualenv, all athletes in one call → one calendar); icalendar building
  and serialising the same 20,000 events into one calendar (the floor of the library racecal's
  feeds are checked against). Each figure is the median of --repeat runs; peak RSS includes worker
  processes. Outputs go to tmpfs (/dev/shm) when there is one, so the figures measure the tools, not
  this machine's disk; BENCHMARKS.md says how the inputs map.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from corpus import generate  # noqa: E402

YAML2ICS = "yaml2ics==0.3"
T0 = "2024-03-01T00:00:00Z"


@dataclass
class Run:
    seconds: float
    peak_mib: float


def measure(argv: list[str], cwd: Path, stdout: Path | None = None) -> Run:
    out = stdout.open("wb") if stdout else subprocess.DEVNULL
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    if stdout:
        out.close()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{proc.stderr.read().decode() if proc.stderr else ''}")
    return Run(seconds, usage.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux; includes waited-for workers


def median(runs: list[Run]) -> Run:
    return Run(statistics.median(r.seconds for r in runs), max(r.peak_mib for r in runs))


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
    parser.add_argument("--repeat", type=int, default=3)
    default_work = Path("/dev/shm/racecal-bench") if Path("/dev/shm").is_dir() else REPO / "bench" / "out" / "work"
    parser.add_argument("--work", type=Path, default=default_work)
    args = parser.parse_args()

    work: Path = args.work
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    generate(work, args.athletes, args.races)
    races = args.athletes * args.races
    racecal = [sys.executable, "-m", "racecal", "build", "--time", T0, "-q"]
    y2_python = yaml2ics_python(work)
    y2_files = sorted(str(p) for p in (work / "yaml2ics").glob("*.yaml"))
    env_note = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, outputs on {work}"
    print(f"corpus: {args.athletes} plans × {args.races} races = {races} races, {env_note}")

    cold, noop, one, y2, floor = [], [], [], [], []
    plan_file = work / "schedules" / "athlete-0005.yaml"
    original = plan_file.read_text()
    for i in range(args.repeat):
        shutil.rmtree(work / "dist", ignore_errors=True)
        cold.append(measure([*racecal, "--fresh"], work))
        noop.append(measure(racecal, work))
        # One race changed in one plan: its note.
        plan_file.write_text(original.replace("  - id: race-03\n", f"  - id: race-03\n    note: changed in run {i}\n", 1))
        one.append(measure([*racecal[:4], "--time", f"2024-03-0{2 + i}T00:00:00Z", "-q"], work))
        plan_file.write_text(original)
        y2.append(measure([str(y2_python), "-m", "yaml2ics", *y2_files], work, stdout=work / "yaml2ics.ics"))
        floor.append(measure([sys.executable, "-c", FLOOR, str(work / "schedules"), str(work / "floor.ics")], work))

    c, n, o, y, f = map(median, (cold, noop, one, y2, floor))
    feeds = len(list((work / "dist").glob("*/*.ics")))
    files = sum(1 for p in (work / "dist").rglob("*") if p.is_file())
    y2_events = (work / "yaml2ics.ics").read_bytes().count(b"BEGIN:VEVENT")
    floor_events = (work / "floor.ics").read_bytes().count(b"BEGIN:VEVENT")
    rows = [
        ("racecal cold full build", c, f"{feeds} feeds, {files} files (3 feeds/plan + pages + history)"),
        ("racecal no-op rebuild", n, "nothing written"),
        ("racecal one race changed", o, "1 plan rebuilt, the rest linked"),
        ("yaml2ics 0.3", y, f"1 calendar, {y2_events} events"),
        ("icalendar floor (process)", f, f"1 calendar, {floor_events} events, incl. loading"),
    ]
    print(f"\n{'':28}{'seconds':>9}{'peak MiB':>10}  output")
    for name, run, what in rows:
        print(f"{name:28}{run.seconds:9.2f}{run.peak_mib:10.0f}  {what}")
    print("\nratios (same run):")
    print(f"  yaml2ics / racecal cold          {y.seconds / c.seconds:6.1f}×   (target ≥ 5×)")
    print(f"  icalendar floor / racecal cold   {f.seconds / c.seconds:6.1f}×   (racecal writes 3 feeds + site; the floor 1 feed)")
    print(f"  racecal no-op                    {n.seconds:6.2f} s  (target < 0.5 s)")
    print(f"  racecal one race changed         {o.seconds:6.2f} s  (target < 1 s)")
    print(
        f"  racecal peak RSS                 {max(c.peak_mib, n.peak_mib, o.peak_mib):6.0f} MiB (target < 150 MiB; yaml2ics {y.peak_mib:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
