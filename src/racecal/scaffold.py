"""What `racecal init` writes: a data repository that `racecal build` works in with no flags.

Pure: the files and their text, from the starter templates (package data) and two values the
command line supplies (the season to start with, how CI installs racecal). ``publish.write_new``
writes them, and never replaces a file that exists.
"""

from __future__ import annotations

import json
from importlib import resources

from racecal.schema import SCHEMAS, rendered

# Where each starter template goes. The plan and the catalogue are only written into a repository
# that has no schedules/ yet: an example athlete among real ones would be published.
FILES = {
    "schedules/example-runner-{year}.yaml": "plan.yaml",
    "schedules/meets/meets.yaml": "meets.yaml",
    "racecal.yaml": "racecal.yaml",
    ".github/workflows/publish.yml": "publish.yml",
    ".gitignore": "gitignore",
    "README.md": "README.md",
}
STARTER_PLANS = ("schedules/example-runner-{year}.yaml", "schedules/meets/meets.yaml")


def files(year: int, install: str, *, with_plans: bool) -> dict[str, str]:
    """Relative path → text. ``install`` is what CI passes to pip install."""
    out: dict[str, str] = {}
    for target, template in FILES.items():
        if target in STARTER_PLANS and not with_plans:
            continue
        text = resources.files("racecal").joinpath("starter", template).read_text(encoding="utf-8")
        # The install spec goes into a double-quoted YAML scalar: JSON's escaping is YAML's there.
        quoted_install = json.dumps(install)[1:-1]
        out[target.replace("{year}", str(year))] = text.replace("{year}", str(year)).replace("{install}", quoted_install)
    for name in SCHEMAS:
        out[f"schema/{name}"] = rendered(name)
    return out
