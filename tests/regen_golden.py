"""Regenerate tests/golden/dist from the shipped example: python tests/regen_golden.py

Run it when an output change is intended, and review the diff of tests/golden/ like code.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from click.testing import CliRunner

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "dist"
TIME = "2024-03-27T12:00:00Z"


def build_example(out: Path) -> None:
    from racecal.cli import cli

    result = CliRunner().invoke(
        cli, ["build", "--schedules", str(HERE.parent / "schedules"), "--out", str(out), "--fresh", "--time", TIME, "-q"]
    )
    if result.exit_code != 0:
        sys.exit(result.output)


if __name__ == "__main__":
    shutil.rmtree(GOLDEN, ignore_errors=True)
    build_example(GOLDEN)
    print(f"wrote {GOLDEN}")
