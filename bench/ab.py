"""One racecal command run from two source trees, interleaved, on the same work directory.

    .venv/bin/python bench/ab.py --trees OLD/src,NEW/src --runs 11 [--before "shell command"] -- build -q --time 2024-03-20T00:00:00Z

For changes too small for bench/run.py's noise on a shared machine: each round runs the command once
per tree, alternately (after ``--before``, say an edit of one plan), so both see the same machine
load. Prints the median wall and CPU seconds (user + system) per tree and their ratio. A tree is a
``src`` directory put first on PYTHONPATH (a git worktree of an older commit, say); run it in a
directory with schedules/ (bench/corpus.py makes one) and set XDG_CACHE_HOME as a user's would be.

Trees with different code must not share a site: racecal's record of a site is made by one code
(cache.py) and the other tree's builds would invalidate it every round. ``--dirs A,B`` runs each tree
in its own copy of the project, with its own cache directory (DIR/cache), and ``--before`` in each.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trees", required=True, help="comma-separated src directories")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--before", default="", help="shell command run before every measured run (in the tree's directory)")
    parser.add_argument("--dirs", default="", help="comma-separated project directories, one per tree (each with its own cache)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="racecal's arguments, after --")
    args = parser.parse_args()
    trees = args.trees.split(",")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    dirs = args.dirs.split(",") if args.dirs else [os.getcwd()] * len(trees)
    assert len(dirs) == len(trees), "one directory per tree"
    runs: dict[str, list[tuple[float, float]]] = {tree: [] for tree in trees}
    for _ in range(args.runs):
        for tree, cwd in zip(trees, dirs, strict=True):
            if args.before:
                subprocess.run(args.before, shell=True, check=True, cwd=cwd)
            env = {**os.environ, "PYTHONPATH": tree, **({"XDG_CACHE_HOME": f"{cwd}/cache"} if args.dirs else {})}
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "racecal", *command],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                cwd=cwd,
            )
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            runs[tree].append((wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime))
    first = None
    for tree, measured in runs.items():
        wall = statistics.median(m[0] for m in measured)
        cpu = statistics.median(m[1] for m in measured)
        first = first or (wall, cpu)
        print(
            f"{tree:40s} wall {wall:.3f} s (min {min(m[0] for m in measured):.3f})  CPU {cpu:.3f} s  ratio {wall / first[0]:.2f} (CPU {cpu / first[1]:.2f})"
        )


if __name__ == "__main__":
    main()
