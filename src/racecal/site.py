"""Model + changes → the static site's HTML, Atom, JSON and host config. Pure: strings in, strings out.

The pages, the Atom feed and the host config are Jinja2 templates in ``racecal/templates/`` (package
data); ``style.css`` and ``site.js`` are real files there too. A site may override any of them
(``templates:`` in racecal.yaml; the overrides arrive as text in ``Settings.templates``). This module
prepares the values the templates show and renders them.

Injection is impossible by construction: in HTML and Atom templates every ``{{ value }}`` goes through
``_finalize`` (unshowable characters replaced, then markup escaped), overridden templates included
(which may not turn escaping off or leave an attribute unquoted: settings.read_templates), and only
http(s) URLs survive the ``href`` filter, so a race called ``<script>`` is shown as text and
``javascript:`` never reaches a page.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from html import escape
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import (
    BaseLoader,
    BytecodeCache,
    ChoiceLoader,
    Environment,
    PackageLoader,
    StrictUndefined,
    TemplateNotFound,
    Undefined,
    pass_eval_context,
)
from jinja2.bccache import Bucket
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import EvalContext, Expr
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from racecal import __version__
from racecal.errors import RacecalError
from racecal.feeds import FEED_TITLES, feed_blurb
from racecal.files import NotRegularFileError, TooLargeError, read_bounded, replace_whole
from racecal.index import IndexEntry
from racecal.model import Plan, Race, Status
from racecal.settings import PAGE_ROOTS, STATIC_NAMES, TEMPLATE_NAMES, Settings
from racecal.text import folded, initial, quoted
from racecal.words import day_words, span_words

GOOGLE_ADD = "https://calendar.google.com/calendar/r?cid="
# Outlook's "add from web" pages (personal and work accounts): widely used, undocumented. A link to the
# .ics itself would only import a copy that never updates.
OUTLOOK_ADD = {"outlook": "https://outlook.live.com/calendar/0/addfromweb", "office": "https://outlook.office.com/calendar/0/addfromweb"}

BADGE = {
    Status.CONFIRMED: "Confirmed",
    Status.TENTATIVE: "Tentative",
    Status.WITHDRAWN: "Withdrawn",
    Status.CANCELLED: "Cancelled",
}


# Characters no page or feed shows as they are: controls (and the ones XML 1.0 forbids, which make an
# Atom document unreadable), surrogates, noncharacters, and the invisible bidi and zero-width
# characters that reorder or hide text ("Tentative" made to read as "Confirmed"). Input validation
# refuses them already; this is for text that comes back from a previous build.
_UNSHOWABLE_CHARS = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064"
    "\u2066-\u206f\ud800-\udfff\ufdd0-\ufdef\ufeff\ufff9-\ufffb\ufffe\uffff"
)
_UNSHOWABLE = re.compile(f"[{_UNSHOWABLE_CHARS}]")
_TO_ESCAPE = re.compile(f"[&<>\"'{_UNSHOWABLE_CHARS}]")  # most values have none: one scan, no copies


def esc(text: object) -> str:
    """Text for HTML or XML: markup escaped, unshowable characters replaced by U+FFFD."""
    value = str(text)
    if _TO_ESCAPE.search(value) is None:
        return value
    return escape(_UNSHOWABLE.sub("\ufffd", value), quote=True)


_NOT_IN_LINK = re.compile(r"[\s\x00-\x1f]")  # \s: every character str.isspace() counts


def safe_url(url: str | None) -> str | None:
    """The URL if it is safe to link to (http or https), else None. Not escaped: templates escape.
    The ``href`` filter of every template."""
    if url and url[:8].lower().startswith(("http://", "https://")) and not _NOT_IN_LINK.search(url):
        return url
    return None


@pass_eval_context
def _finalize(context: EvalContext, value: object) -> object:
    """Every ``{{ value }}`` of every template, overrides included, passes here (or through its fast
    twin ``_escaped_text``). In HTML and Atom the text is cleaned and escaped with ``html.escape``
    (``&quot;``, as before templates: same bytes); Markup (a macro's output) is cleaned but kept, and
    the settings refuse ``|safe`` and ``{% autoescape %}`` in a site's templates. Elsewhere (the host
    config) values are only cleaned."""
    if isinstance(value, Markup):
        return Markup(_UNSHOWABLE.sub("\ufffd", value))  # noqa: S704 (markup already; only characters are replaced)
    if context.autoescape:
        return Markup(esc(value))  # noqa: S704 (esc has just escaped it)
    return _UNSHOWABLE.sub("\ufffd", str(value))


_OWN = frozenset(TEMPLATE_NAMES)


class _OwnLoader(BaseLoader):
    """The site's templates, compiled under their own names so a failure can say which one."""

    def __init__(self, sources: dict[str, str]) -> None:
        self.sources = sources

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template not in self.sources:
            raise TemplateNotFound(template)
        return self.sources[template], template, lambda: True


def _escaped_text(value: object) -> str:
    """``_finalize`` for an output known at compile time to be escaped, without Markup's copies."""
    if isinstance(value, Markup):
        return _UNSHOWABLE.sub("\ufffd", value)
    return esc(value)


class _CodeGenerator(CodeGenerator):
    """Jinja2's, writing ``environment.escaped_text(value)`` where it would write
    ``escape(finalize(value))`` in an escaped template: the same text, without markupsafe's escape()
    copying the Markup that ``_finalize`` returns (half of the page rendering time). Should a later
    Jinja2 stop calling this method, the output stays the same, only slower."""

    def _output_child_pre(self, node: Expr, frame: Frame, finalize: Any) -> None:
        if frame.eval_ctx.volatile or not frame.eval_ctx.autoescape or finalize.src is None:
            super()._output_child_pre(node, frame, finalize)
        else:
            self.write("(environment.escaped_text(")  # _output_child_post closes both


class _Environment(Environment):
    code_generator_class = _CodeGenerator
    escaped_text = staticmethod(_escaped_text)


class _OwnEnvironment(SandboxedEnvironment, _Environment):
    """For a site with its own templates. Sandboxed, so a template reaches no ``_`` attribute (nor
    through them the environment, to load a template no tag names: the plans' inputs follow the tags,
    settings.page_templates); strict, so a name it misspells is an error, not an empty string."""


MAX_COMPILED_BYTES = 16 * 1024 * 1024


class _CompiledTemplates(BytecodeCache):
    """Jinja2's compiled templates, kept in the user's cache directory between runs: compiling the
    templates was about 0.1 s of every build that renders a page, more than rendering one plan.

    A hint like the site record (cache.py): Jinja2 keys each entry by the template's name and a hash
    of its text and refuses code of another Python or Jinja2 version; the directory is named by a
    digest of racecal's code and the Jinja2 version, so a changed code generator never meets code it
    did not write. Read bounded, never from a FIFO or symlink; written whole by a rename. Unreadable
    or unwritable: compiled again, as without a cache."""

    def __init__(self, root: Path, directory: Path) -> None:
        self.root = root
        self.directory = directory

    def _path(self, bucket: Bucket) -> Path:
        return self.directory / f"{bucket.key}.cache"

    def load_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError, NotRegularFileError, TooLargeError):
            bucket.bytecode_from_string(read_bounded(self._path(bucket), MAX_COMPILED_BYTES, follow_symlinks=False))

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            replace_whole(self._path(bucket), bucket.bytecode_to_string())


_compiled_templates: list[_CompiledTemplates] = []
TEMPLATE_VERSIONS_KEPT = 4


def keep_compiled_templates(cache_root: Path) -> None:
    """Keep compiled templates under ``cache_root`` (the CLI's choice: the user's cache directory),
    for every environment made after this call."""
    if _compiled_templates and _compiled_templates[0].root == cache_root:
        return
    from racecal.cache import code_digest, keep_newest

    key = hashlib.sha256(f"{code_digest()}\0{jinja2.__version__}".encode()).hexdigest()[:32]
    directory = cache_root / "templates" / key
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.utime(directory)  # the most recently used are kept
    except OSError:
        return
    keep_newest(directory.parent, TEMPLATE_VERSIONS_KEPT)  # another racecal's, or this checkout's before its code changed
    _compiled_templates[:] = [_CompiledTemplates(cache_root, directory)]
    _environment.cache_clear()


def _compiled_for(*, sandboxed: bool) -> _CompiledTemplates | None:
    """Where compiled templates are kept, apart for the sandbox: its code calls through the sandbox's
    checks, and a packaged template compiled without them has the same name and text."""
    if not _compiled_templates:
        return None
    kept = _compiled_templates[0]
    if not sandboxed:
        return kept
    try:
        (kept.directory / "sandboxed").mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    return _CompiledTemplates(kept.root, kept.directory / "sandboxed")


@cache
def _environment(overrides: tuple[tuple[str, str], ...]) -> Environment:
    """The Jinja2 environment: the site's own templates (name, text) first, then the packaged ones."""
    loaders: list[BaseLoader] = [PackageLoader("racecal", "templates")]
    if overrides:
        loaders.insert(0, _OwnLoader(dict(overrides)))
    env = (_OwnEnvironment if overrides else _Environment)(
        bytecode_cache=_compiled_for(sandboxed=bool(overrides)),
        loader=ChoiceLoader(loaders),
        # Markup escaping for everything but the host config, which no page may include (settings):
        # style.css or site.js included into a page is escaped like the page.
        autoescape=lambda name: name not in HOST_CONFIG.values(),
        undefined=StrictUndefined if overrides else Undefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
    )
    env.filters["href"] = safe_url
    env.globals["version"] = __version__
    return env


class TemplateError(RacecalError):
    """A site's own template failed while rendering (an undefined name, a missing include)."""


def render(name: str, settings: Settings, **values: object) -> str:
    # A calendar's page and Atom feed are given only the settings in its inputs: one that read the
    # groups would otherwise stay as published when they change.
    shown = settings.for_pages() if name in PAGE_ROOTS else settings
    try:
        return _environment(settings.templates).get_template(name).render(settings=shown, **values)
    except Exception as exc:
        # Jinja2 rewrites the traceback into template lines: the innermost one of the site's own
        # templates is where it failed ({{ 1/0 }} too). Without any, the fault is racecal's.
        where = [
            (frame.f_code.co_filename, line) for frame, line in traceback.walk_tb(exc.__traceback__) if frame.f_code.co_filename in _OWN
        ]
        if not settings.templates or not (where or isinstance(exc, jinja2.TemplateError)):
            raise
        place = f"{where[-1][0]}, line {where[-1][1]}" if where else name
        what = f"no template named {quoted(str(exc.name))}" if isinstance(exc, TemplateNotFound) else str(exc) or type(exc).__name__
        raise TemplateError(f"site template {place}: {what}") from None


def static_text(name: str, settings: Settings) -> str:
    """A static file (style.css, site.js): the site's own copy if it has one, else the packaged one."""
    own = dict(settings.templates).get(name)
    if own is not None:
        return own
    return (resources.files("racecal") / "templates" / name).read_bytes().decode("utf-8")


def webcal(url: str) -> str:
    return "webcal://" + url.split("://", 1)[1]


def google_link(url: str) -> str:
    # Google wants the webcal:// form, URL-encoded; a raw https:// value has been seen to fail.
    return GOOGLE_ADD + quote(webcal(url), safe="")


def outlook_link(kind: str, url: str, name: str) -> str:
    # The new Outlook strips webcal:, so these take the plain https:// address.
    return f"{OUTLOOK_ADD[kind]}?url={quote(url, safe='')}&name={quote(name, safe='')}"


# --- values for the templates ----------------------------------------------------------------------
# Slotted dataclasses rather than dicts: Jinja2 looks up `x.name` as an attribute first.


def feed_url(settings: Settings, plan_id: str, feed: str) -> str | None:
    return f"{settings.base_url}/{plan_id}/{feed}.ics" if settings.base_url else None


@dataclass(frozen=True, slots=True)
class Button:
    kind: str  # apple, google, outlook, office
    label: str
    href: str
    add: str | None  # Outlook's add-from-web page, for site.js


@dataclass(frozen=True, slots=True)
class SubscribeView:
    """One feed's subscribe buttons. Without a base URL (``url`` None) the buttons point at the
    address box, and site.js completes them from the page's own address."""

    feed: str
    heading: str
    blurb: str
    file: str
    url: str | None
    input_id: str
    calendar_name: str
    buttons: tuple[Button, ...]


def subscribe_view(plan: Plan, feed: str, settings: Settings) -> SubscribeView:
    url = feed_url(settings, plan.id, feed)
    input_id = f"url-{feed}"
    calendar_name = f"{plan.title} – {FEED_TITLES[feed]}"
    here = f"#{input_id}"
    buttons = (
        Button("apple", "Apple Calendar", webcal(url) if url else here, None),
        Button("google", "Google Calendar", google_link(url) if url else here, None),
        *(
            Button(kind, label, outlook_link(kind, url, calendar_name) if url else here, OUTLOOK_ADD[kind])
            for kind, label in (("outlook", "Outlook.com"), ("office", "Outlook (work or school)"))
        ),
    )
    return SubscribeView(feed, FEED_TITLES[feed].capitalize(), feed_blurb(plan, feed), f"{feed}.ics", url, input_id, calendar_name, buttons)


@dataclass(frozen=True, slots=True)
class SessionView:
    name: str
    day: str  # "8 June 2024"
    time: str  # "21:50", local time at the venue


@dataclass(frozen=True, slots=True)
class SourceView:
    label: str  # outlet, and the day it published
    title: str
    url: str | None  # as written; templates pass it through |href
    quote: str | None


@dataclass(frozen=True, slots=True)
class RaceView:
    """What a race's entry on the plan page shows; ``race`` itself is there too, for overrides."""

    race: Race
    status: str
    end: str  # ISO date: site.js moves finished races to "Past races"
    when: str
    name: str
    badge: str
    venue: str | None
    timezone: str | None
    sessions: tuple[SessionView, ...]
    disciplines: str
    reason: str | None
    note: str | None
    result: str | None
    url: str | None
    sources: tuple[SourceView, ...]


def race_view(race: Race) -> RaceView:
    result = None
    if race.result:
        r = race.result
        result = ", ".join(b for b in (f"place {r.place}" if r.place else "", r.time or "", r.note or "") if b)
    return RaceView(
        race=race,
        status=race.status.value,
        end=race.end.isoformat(),
        when=span_words(race.start, race.end),
        name=race.name,
        badge=BADGE[race.status],
        venue=race.venue.label() if race.venue else None,
        timezone=race.timezone,
        sessions=tuple(SessionView(s.name, day_words(s.day), f"{s.start:%H:%M}") for s in race.sessions),
        disciplines=", ".join(race.disciplines),
        reason=race.reason,
        note=race.note,
        result=result,
        url=race.url,
        sources=tuple(
            SourceView(s.outlet + (f", {day_words(s.published)}" if s.published else ""), s.title or "", s.url, s.quote)
            for s in race.sources
        ),
    )


@dataclass(frozen=True, slots=True)
class ChangeView:
    day: str  # ISO date of the build
    summary: str
    change: dict[str, Any]  # the record as in changes.json


def plan_page(
    plan: Plan, races: tuple[Race, ...], history: list[dict[str, Any]], settings: Settings, as_of: date, removed: bool = False
) -> str:
    ordered = sorted(races, key=lambda r: (r.start, r.end, r.id))
    facts = [plan.athlete.country or "", ", ".join(plan.athlete.disciplines)]
    return render(
        "plan.html",
        settings,
        up="../",
        plan=plan,
        removed=removed,
        facts=" · ".join(f for f in facts if f),
        feeds=[subscribe_view(plan, feed, settings) for feed in ("confirmed", "tentative", "all")],
        upcoming=[race_view(r) for r in ordered if _upcoming(r, as_of)],
        past=[race_view(r) for r in ordered if not _upcoming(r, as_of)],
        changes=[ChangeView(_iso_day(c.get("build", "")), c.get("summary", ""), c) for c in reversed(history[-10:])],
    )


def _upcoming(race: Race, as_of: date) -> bool:
    return race.end >= as_of


def upcoming_until(races: tuple[Race, ...], as_of: date) -> date | None:
    """The last day on which a page of ``races`` lists as upcoming what it lists on ``as_of`` (the
    first upcoming race ends then); None when nothing is upcoming, so nothing moves to the past."""
    return min((race.end for race in races if _upcoming(race, as_of)), default=None)


def _iso_day(stamp: str) -> str:
    return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}" if len(stamp) >= 8 else stamp


@dataclass(frozen=True, slots=True)
class PlanListing:
    """A plan on the front page."""

    plan_id: str
    athlete: str
    season: int
    removed: bool
    confirmed: int
    tentative: int
    off: int  # withdrawn or cancelled
    entry: IndexEntry
    letter: str = ""  # in the front page's A–Z index


FINDER_MIN = 12  # calendars on the front page above which it gets a search box and a letter index


def index_page(entries: list[IndexEntry], settings: Settings) -> str:
    listed = [
        PlanListing(e.plan_id, e.athlete, e.season, e.removed, e.counts["confirmed"], e.counts["tentative"], e.counts["off"], e)
        for e in entries
    ]
    plans = [p for p in listed if not p.entry.view]
    groups = [p for p in listed if p.entry.view == "group"]
    meets = sorted((p for p in listed if p.entry.view == "meet"), key=lambda p: (p.season, p.athlete, p.plan_id))
    series = sorted((p for p in listed if p.entry.view == "series"), key=lambda p: (p.season, p.athlete, p.plan_id))
    # Beyond a screenful, a finder: a search box (site.js) and, working without JavaScript too, links
    # to each section and an index of the athletes (and of the meets, when they are many) by the
    # first letter of their names.
    finder = len(listed) > FINDER_MIN
    if finder:
        plans = _by_letter(plans)
    if finder and len(meets) > FINDER_MIN:
        meets = _by_letter(meets)
    return render(
        "index.html", settings, up="", plans=plans, groups=groups, meets=meets, series=series, finder=finder,
        letters=sorted({p.letter for p in plans}), meet_letters=sorted({p.letter for p in meets if p.letter}),
    )  # fmt: skip


def _by_letter(listings: list[PlanListing]) -> list[PlanListing]:
    """Filed by the first letter of the name as a reader sees it (Émile under E), then by name."""
    lettered = (dataclasses.replace(p, letter=initial(p.athlete)) for p in listings)
    return sorted(lettered, key=lambda p: (p.letter, folded(p.athlete), p.season, p.plan_id))


def counts(races: tuple[Race, ...]) -> dict[str, int]:
    tally = {"confirmed": 0, "tentative": 0, "off": 0}
    for r in races:
        tally[r.status.value if r.status.is_live else "off"] += 1
    return tally


def changes_json(plan_id: str, history: list[dict[str, Any]]) -> str:
    lines = ",\n".join(json.dumps(c, sort_keys=True, separators=(",", ":"), ensure_ascii=False) for c in history)
    return f'{{"plan":{json.dumps(plan_id)},"changes":[\n{lines}\n]}}\n'


@dataclass(frozen=True, slots=True)
class AtomEntry:
    id: str
    summary: str
    updated: str  # RFC 3339
    change: dict[str, Any]


def atom(plan: Plan, history: list[dict[str, Any]], settings: Settings, updated: datetime) -> str:
    entries = [
        AtomEntry(
            f"urn:racecal:{plan.id}:{c.get('build', '')}:{c.get('race') or 'plan'}:{c.get('type')}:{c.get('field') or ''}",
            c.get("summary", ""),
            _atom_time(c.get("build", "")),
            c,
        )
        for c in reversed(history[-50:])
    ]
    return render(
        "changes.atom",
        settings,
        plan=plan,
        plan_id=plan.id,
        plan_title=plan.title,
        base=f"{settings.base_url}/{plan.id}/" if settings.base_url else "",
        updated=_atom_time(history[-1].get("build")) if history else updated.strftime("%Y-%m-%dT%H:%M:%SZ"),
        entries=entries,
    )


_STAMP = re.compile(r"^[0-9]{8}T[0-9]{6}Z\Z")


def _atom_time(stamp: object) -> str:
    if isinstance(stamp, str) and _STAMP.match(stamp):  # 20240305T120000Z
        return f"{stamp[0:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:11]}:{stamp[11:13]}:{stamp[13:15]}Z"
    return "1970-01-01T00:00:00Z"


# Output file → the template it comes from (a dotfile is hard to ship as package data).
HOST_CONFIG = {"_headers": "_headers", ".htaccess": "htaccess"}


def static_file_names() -> frozenset[str]:
    """The names ``static_files`` writes, without rendering anything."""
    return frozenset({*STATIC_NAMES, *HOST_CONFIG, ".nojekyll"})


def static_files(settings: Settings | None = None) -> dict[str, str]:
    settings = settings or Settings()
    files = {name: static_text(name, settings) for name in STATIC_NAMES}
    files.update({out: render(name, settings) for out, name in HOST_CONFIG.items()})
    return {**files, ".nojekyll": ""}
