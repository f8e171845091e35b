"""``index.json``: the site's manifest, one typed entry per published plan. Owns its encoding and decoding.

What a build needs from the previous one without reading any plan's history: per plan, the hash of
its inputs, the sha256 of every file it published, when its next tombstone expires, and what the
landing page lists. Read back through the plan validators (readback.py): a forged entry can neither
reach the landing page unescaped nor name a file outside the plan's directory.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode

from racecal import ics, readback
from racecal.documents import MAX_YEAR, MIN_YEAR
from racecal.errors import field_path
from racecal.model import SLUG_RE
from racecal.readback import JsonReader

SITE_FORMAT = 2
READABLE_SITE_FORMATS = (1, 2)  # 1 had `pending: bool` where 2 has `expires`
MAX_SEQUENCE = 10_000
ENTRY_KEYS = (
    "id",
    "athlete",
    "season",
    "counts",
    "feeds",
    "state",
    "source",
    "inputs",
    "latest",
    "pending",
    "expires",
    "removed",
    "meets",
    "files",
    "view",
    "groups",
    "at",
    "upcoming_until",
)
COUNT_KEYS = ("confirmed", "tentative", "off")
VIEWS = ("", "group", "meet", "series")
FEED_NAMES = ("all", "confirmed", "tentative")
_MEET_DIGEST = re.compile(r"^[0-9a-f]{32}\Z")
# Every file a plan's directory holds; state.json is hashed last, over the others' hashes.
PLAN_FILES = ("all.ics", "confirmed.ics", "tentative.ics", "index.html", "changes.atom", "changes.json", "state.json")


@dataclass(frozen=True, slots=True)
class IndexEntry:
    plan_id: str
    athlete: str
    season: int
    counts: dict[str, int]  # confirmed, tentative, off (withdrawn or cancelled)
    source: str  # the plan file, relative to the schedules directory
    inputs: str  # hash of everything the plan's output depends on
    latest: datetime  # newest stamp in the plan
    expires: datetime | None  # when the next tombstone expires: the plan is rebuilt then
    files: dict[str, str]  # file name → sha256, state.json included
    removed: bool = False  # the plan file was deleted; its feeds stay valid calendars
    meets: dict[str, str] = field(default_factory=dict)  # catalogue meets the plan uses → their digests
    view: str = ""  # "group" or "meet": a calendar across athletes (docs/groups.md), not an athlete's plan
    groups: tuple[str, ...] = ()  # the groups this plan was a member of, as they were defined then
    # Per meet, a digest of what the plan gives that meet's calendar (groups.races_at); written when
    # the plan is compiled while meet or series calendars are on, so sites without them read as before.
    at: dict[str, str] = field(default_factory=dict)
    # The last day of the first race its page lists as upcoming (as of the build time's date): from the
    # day after, the page splits its races otherwise, so it is rendered again. None: nothing upcoming.
    # An index written before racecal kept it says nothing, and its pages are rendered again (UNKNOWN_DAY).
    upcoming_until: date | None = None

    def to_json(self) -> dict[str, object]:
        own: dict[str, object] = {}  # written only when set, so sites without groups read as before
        if self.view:
            own["view"] = self.view
        if self.groups:
            own["groups"] = list(self.groups)
        if self.at:
            own["at"] = self.at
        return {**self._fields(), **own}

    @classmethod
    def from_written(cls, fields: dict[str, Any]) -> IndexEntry:
        """The inverse of ``to_json``, for an entry racecal itself wrote from validated values (``read_written``)."""
        expires = fields["expires"]
        return cls(
            plan_id=fields["id"],
            athlete=fields["athlete"],
            season=fields["season"],
            counts=fields["counts"],
            source=fields["source"],
            inputs=fields["inputs"],
            latest=ics.parse_utc(fields["latest"]),
            expires=ics.parse_utc(expires) if expires else None,
            files=fields["files"],
            removed=fields["removed"],
            meets={meet_id: sys.intern(digest) for meet_id, digest in fields["meets"].items()},  # 400 digests, 100,000 uses
            view=fields.get("view", ""),
            groups=tuple(fields.get("groups", ())),
            at=fields.get("at", {}),
            upcoming_until=_day(fields.get("upcoming_until", UNKNOWN_DAY.isoformat())),
        )

    def _fields(self) -> dict[str, object]:
        return {
            "id": self.plan_id,
            "athlete": self.athlete,
            "season": self.season,
            "counts": self.counts,
            "feeds": {feed: f"{self.plan_id}/{feed}.ics" for feed in FEED_NAMES},
            "state": f"{self.plan_id}/state.json",
            "source": self.source,
            "inputs": self.inputs,
            "latest": ics.format_utc(self.latest),
            "expires": ics.format_utc(self.expires) if self.expires else None,
            "removed": self.removed,
            "meets": self.meets,
            "files": self.files,
            "upcoming_until": self.upcoming_until.isoformat() if self.upcoming_until else None,
        }


# What an index written before racecal kept ``upcoming_until`` says of a page: rendered on an unknown day.
UNKNOWN_DAY = date.min


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass
class SiteIndex:
    entries: dict[str, IndexEntry] = field(default_factory=dict)
    retired: dict[str, dict[str, int]] = field(default_factory=dict)  # plan id → race id → last SEQUENCE
    catalogue: str = ""  # sha256 of the catalogue files it was built from
    groups: dict[str, str] = field(default_factory=dict)  # group id → digest of its definition then


def encode(
    entries: list[IndexEntry], retired: dict[str, dict[str, int]], catalogue: str, groups: dict[str, str] | None = None,
    kept: Mapping[str, str] | None = None,
) -> str:  # fmt: skip
    """``kept``: plan id → its line as this encode wrote it before (``written_lines``), for an entry
    that did not change: one plan edited no longer encodes the other 999 again."""
    # One plan per line: compact enough for the C encoder, still readable in a diff.
    lines = ",\n".join(
        kept[e.plan_id]
        if kept and e.plan_id in kept
        else json.dumps(e.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for e in entries
    )
    floors = json.dumps(retired, sort_keys=True, separators=(",", ":"))
    defined = f'"groups":{json.dumps(groups, sort_keys=True, separators=(",", ":"))},' if groups else ""
    return f'{{"format":{SITE_FORMAT},"generator":"racecal","catalogue":"{catalogue}",{defined}"retired":{floors},"plans":[\n{lines}\n]}}\n'


def written_lines(data: bytes, plan_ids: Sequence[str]) -> dict[str, str]:
    """Plan id → its line in an index ``encode`` wrote, whose plans are ``plan_ids`` in order (one
    plan per line); nothing when the lines are not those."""
    lines = data.decode("utf-8").split("\n")[1:-2]  # the head, the plans, "]}", and after the last newline
    found: dict[str, str] = {}
    for plan_id, line in zip(plan_ids, lines, strict=False):
        entry = line.removesuffix(",")
        if not (entry.startswith("{") and entry.endswith("}") and f'"id":"{plan_id}"' in entry):
            return {}
        found[plan_id] = entry
    return found if len(lines) == len(plan_ids) else {}


def read_written(data: bytes) -> SiteIndex:
    """An index whose bytes are those this racecal wrote (cache.py vouches for that by their sha256):
    every value in it was validated before it was written, so it is read without checking each again.
    Anything else goes through ``decode``."""
    top = json.loads(data)
    entries = (IndexEntry.from_written(fields) for fields in top["plans"])
    return SiteIndex({e.plan_id: e for e in entries}, top["retired"], top["catalogue"], top.get("groups", {}))


def decode(data: bytes, where: str) -> SiteIndex:
    """Every field checked; every problem reported at once, naming the field."""
    r = JsonReader(where)
    root = readback.node(readback.loads(data, where))
    if not isinstance(root, MappingNode):
        r.problem("document", "not a racecal site index")
        r.check()
    top = r.mapping(root, "", ("format", "generator", "catalogue", "groups", "retired", "plans"), required=("format", "generator", "plans"))
    if top is None:
        r.check()
        raise AssertionError("unreachable")
    if "generator" in top and r.text(top["generator"], "generator") != "racecal":
        r.error(top["generator"], "generator", "not a racecal site index")
    version = r.integer(top["format"], "format", 0, 1000) if "format" in top else None
    if version is not None and version not in READABLE_SITE_FORMATS:
        r.error(top["format"], "format", f"this racecal reads formats {', '.join(map(str, READABLE_SITE_FORMATS))}, got {version}")
    r.check()
    index = SiteIndex()
    for sub, item in r.items(top["plans"], "plans", 100_000) if "plans" in top else []:
        entry = _entry(r, item, sub)
        if entry is None:
            continue
        if entry.plan_id in index.entries:
            r.error(item, field_path(sub, "id"), f"{entry.plan_id!r} is listed twice")
            continue
        index.entries[entry.plan_id] = entry
    if "retired" in top:
        for plan_id, races in (r.mapping(top["retired"], "retired", readback.keys_of(top["retired"])) or {}).items():
            name = field_path("retired", plan_id)
            if r.slug(readback.node(plan_id), name) is None:
                continue
            index.retired[plan_id] = {}
            for race_id, seq_node in (r.mapping(races, name, readback.keys_of(races)) or {}).items():
                seq = r.integer(seq_node, field_path(name, race_id), 0, MAX_SEQUENCE)
                if r.slug(readback.node(race_id), field_path(name, race_id)) and seq is not None:
                    index.retired[plan_id][race_id] = seq
    if "catalogue" in top:
        index.catalogue = r.digest(top["catalogue"], "catalogue") or ""
    for group_id, node in (r.mapping(top["groups"], "groups", readback.keys_of(top["groups"])) or {}).items() if "groups" in top else []:
        if not SLUG_RE.match(group_id):
            r.error(node, field_path("groups", group_id), "group ids are lowercase letters, digits and single hyphens")
        elif isinstance(node, ScalarNode) and node.tag.endswith(":str") and _MEET_DIGEST.match(node.value):
            index.groups[group_id] = node.value
        else:
            r.error(node, field_path("groups", group_id), "expected 32 hex digits")
    r.check()
    return index


def _entry(r: JsonReader, value: Node, name: str) -> IndexEntry | None:
    fields = r.mapping(value, name, ENTRY_KEYS, required=("id", "athlete", "season", "counts", "source", "inputs", "latest", "files"))
    if fields is None:
        return None
    before = len(r.problems)
    plan_id = r.slug(fields["id"], field_path(name, "id")) if "id" in fields else None
    athlete = r.text(fields["athlete"], field_path(name, "athlete")) if "athlete" in fields else None
    season = r.integer(fields["season"], field_path(name, "season"), MIN_YEAR, MAX_YEAR) if "season" in fields else None
    counts: dict[str, int] = {}
    for key, node in (
        (r.mapping(fields["counts"], field_path(name, "counts"), COUNT_KEYS, required=COUNT_KEYS) or {}).items()
        if "counts" in fields
        else []
    ):
        number = r.integer(node, field_path(field_path(name, "counts"), key), 0, 1_000_000)
        if number is not None:
            counts[key] = number
    source = r.text(fields["source"], field_path(name, "source"), limit=400) if "source" in fields else None
    inputs = r.digest(fields["inputs"], field_path(name, "inputs"), empty_ok=True) if "inputs" in fields else None
    latest = r.stamp(fields["latest"], field_path(name, "latest")) if "latest" in fields else None
    expires: datetime | None = None
    if "expires" in fields and not fields["expires"].tag.endswith(":null"):
        expires = r.stamp(fields["expires"], field_path(name, "expires"))
    elif "pending" in fields and r.flag(fields["pending"], field_path(name, "pending")) and latest is not None:
        expires = latest  # format 1 knew only that tombstones were pending: rebuild the plan now
    removed = bool(r.flag(fields["removed"], field_path(name, "removed"))) if "removed" in fields else False
    files: dict[str, str] = {}
    for file_name, node in (
        (r.mapping(fields["files"], field_path(name, "files"), readback.keys_of(fields["files"])) or {}).items()
        if "files" in fields
        else []
    ):
        if file_name not in PLAN_FILES:
            r.error(node, field_path(field_path(name, "files"), file_name), "not a file name racecal writes")
            continue
        digest = r.digest(node, field_path(field_path(name, "files"), file_name))
        if digest:
            files[file_name] = digest
    meets = _meet_digests(r, fields, name, "meets")
    at = _meet_digests(r, fields, name, "at")
    view = r.text(fields["view"], field_path(name, "view")) if "view" in fields else ""
    if view not in VIEWS:
        r.error(fields["view"], field_path(name, "view"), f"expected one of {', '.join(v for v in VIEWS if v)}")
    groups = (
        tuple(g for s, n in r.items(fields["groups"], field_path(name, "groups"), 1_000) if (g := r.slug(n, s)))
        if "groups" in fields
        else ()
    )
    upcoming_until: date | None = UNKNOWN_DAY
    if "upcoming_until" in fields:
        node = fields["upcoming_until"]
        upcoming_until = None if node.tag.endswith(":null") else r.day(node, field_path(name, "upcoming_until"))
    if "files" in fields and "state.json" not in files:
        r.error(fields["files"], field_path(name, "files"), "state.json is missing")
    if len(r.problems) > before or None in (plan_id, athlete, season, source, inputs, latest) or len(counts) < len(COUNT_KEYS):
        return None
    assert plan_id and athlete and season and source is not None and inputs is not None and latest
    return IndexEntry(
        plan_id, athlete, season, counts, source, inputs, latest, expires, files, removed, meets, view or "", groups, at, upcoming_until
    )


def _meet_digests(r: JsonReader, fields: dict[str, Node], name: str, key: str) -> dict[str, str]:
    """A map of meet id → 32 hex digits (``meets``, ``at``), every entry checked."""
    digests: dict[str, str] = {}
    where = field_path(name, key)
    for meet_id, node in (r.mapping(fields[key], where, readback.keys_of(fields[key])) or {}).items() if key in fields else []:
        # Ids and digests are checked by their exact shape (a slug, 32 hex digits): no text rules needed.
        if not SLUG_RE.match(meet_id):
            r.error(node, field_path(where, meet_id), "meet ids are lowercase letters, digits and single hyphens")
        elif isinstance(node, ScalarNode) and node.tag.endswith(":str") and _MEET_DIGEST.match(node.value):
            digests[meet_id] = node.value
        else:
            r.error(node, field_path(where, meet_id), "expected 32 hex digits")
    return digests
