"""The whole site built from the shipped example, compared with a reviewed golden tree.

After an intended change: python tests/regen_golden.py, then review `git diff tests/golden`.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from regen_golden import GOLDEN, build_example


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_example_site_matches_the_golden_tree(tmp_path: Path) -> None:
    build_example(tmp_path / "dist")
    got, want = tree(tmp_path / "dist"), tree(GOLDEN)
    assert sorted(got) == sorted(want)
    for name in want:
        if got[name] != want[name]:
            diff = difflib.unified_diff(
                want[name].decode().splitlines(), got[name].decode().splitlines(), f"golden/{name}", f"built/{name}", lineterm=""
            )
            raise AssertionError("\n".join(list(diff)[:60]))
