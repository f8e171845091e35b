"""Site settings (racecal.yaml): title, public base URL, refresh interval, feed colours, own templates."""

from __future__ import annotations

import hashlib
import json
import re
import string
from dataclasses import asdict, dataclass, field, replace
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from yaml.nodes import Node, ScalarNode, SequenceNode

from racecal.documents import COLOURS, CSS_COLOURS, GROUP, MAX_GROUP_ATHLETES, MAX_GROUPS, SETTINGS
from racecal.errors import Problem, field_path, suggestion
from racecal.fields import Reader
from racecal.files import NotRegularFileError, TooLargeError, read_bounded
from racecal.model import Group
from racecal.text import character_name, forbidden_char, http_url_parts, quoted, uri_char_problem, url_detail_problem


@dataclass(frozen=True)
class Colour:
    css_name: str

    @property
    def hex(self) -> str:
        return CSS_COLOURS[self.css_name]


DEFAULT_COLOURS = {"all": Colour("steelblue"), "confirmed": Colour("seagreen"), "tentative": Colour("darkorange")}


@dataclass(frozen=True)
class PageSettings:
    """``settings`` as a calendar's page and Atom feed templates see it: the settings in every plan's
    inputs (``Settings.fingerprint``), so that no page depends on one a rebuild does not follow."""

    title: str
    base_url: str | None
    refresh_hours: int
    colours: dict[str, Colour]


@dataclass(frozen=True)
class Settings:
    title: str = "Race calendars"
    base_url: str | None = None  # public address of dist/, without a trailing slash
    refresh_hours: int = 6
    colours: dict[str, Colour] = field(default_factory=lambda: dict(DEFAULT_COLOURS))
    retired: frozenset[str] = frozenset()  # plan ids whose feeds are no longer published (docs/history.md)
    retired_where: tuple[str, int, int, str] = ("racecal.yaml", 1, 1, "retired")  # fmt: skip
    retired_at: dict[str, tuple[str, int, int, str]] = field(default_factory=dict)  # each id's place in the list
    templates: tuple[tuple[str, str], ...] = ()  # the site's own templates and static files: (name, text), by name
    templates_dir: Path | None = None  # the templates folder the settings name, if any (serve --watch follows it)
    # Which of ``templates`` a calendar's page and Atom feed are made from (None: not known, so all).
    page_templates: frozenset[str] | None = None
    # Views across athletes (docs/groups.md); not in fingerprint(): plans do not depend on them.
    groups: tuple[Group, ...] = ()
    meet_calendars: bool = False  # a calendar per catalogue meet that plans race at
    series_calendars: bool = False  # a calendar per series the catalogue names, and season
    # Where each flag is set, for messages about the calendars it makes.
    meet_calendars_where: tuple[str, int, int, str] = ("racecal.yaml", 1, 1, "meet_calendars")  # fmt: skip
    series_calendars_where: tuple[str, int, int, str] = ("racecal.yaml", 1, 1, "series_calendars")  # fmt: skip

    def retired_message(self, plan_id: str) -> str | None:
        """What is wrong with a plan file whose id is retired: building it would publish what the editor retired."""
        if plan_id not in self.retired:
            return None
        return f"plan {plan_id!r} is listed under 'retired' in the settings; remove it there to publish it again"

    def with_base_url(self, base_url: str | None) -> Settings:
        return self if base_url is None else replace(self, base_url=base_url.rstrip("/"))

    def fingerprint(self) -> str:
        return self._fingerprint

    def for_pages(self) -> PageSettings:
        return PageSettings(self.title, self.base_url, self.refresh_hours, self.colours)

    @cached_property
    def _fingerprint(self) -> str:  # once per settings: every plan's inputs digest includes it
        colours = ",".join(f"{k}={v.css_name}" for k, v in sorted(self.colours.items()))
        own = ""
        used = [(name, text) for name, text in self.templates if self.page_templates is None or name in self.page_templates]
        if used:  # pages follow the site's templates they are made from, so changing one rebuilds every plan
            digest = hashlib.sha256()
            for name, text in used:
                digest.update(name.encode() + b"\0" + text.encode() + b"\0")
            own = f"|templates={digest.hexdigest()}"
        return f"{self.title}|{self.base_url}|{self.refresh_hours}|{colours}{own}"  # retired: decided per plan, not an input

    def everything(self) -> str:
        """Every setting, as stable text: the landing page's templates are given all of them."""
        return json.dumps(asdict(self), sort_keys=True, default=_plain, ensure_ascii=False)


def _plain(value: object) -> object:
    return sorted(value) if isinstance(value, set | frozenset) else str(value)


# Characters a base URL may hold: it is pasted into every feed's URL lines and every page's links, so
# anything that would need escaping in one of those places is refused rather than escaped.
_BASE_URL_CHARS = frozenset(string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/[]")


def check_base_url(value: str) -> str | None:
    """None when ``value`` can be the public address of dist/, else what is wrong. The one check for
    both ``--base-url`` and ``base_url`` in racecal.yaml."""
    wrong = f"expected an http(s) URL without query or fragment, like https://example.org/races, got {quoted(value)}"
    bad = forbidden_char(value, allow_format=False)
    if bad is not None:
        return f"contains {character_name(bad)}"
    if (trouble := uri_char_problem(value)) is not None:
        return trouble
    parts = http_url_parts(value)
    if not set(value) <= _BASE_URL_CHARS or parts is None:
        return wrong
    return url_detail_problem(value, parts)


def read_settings(r: Reader, root: Node) -> Settings:
    """racecal.yaml's node tree (``load.load_settings`` composes it) as Settings; ``r.path`` is the
    file, which own templates are found relative to."""
    path, problems = r.path, r.problems
    fields = r.mapping(root, "", SETTINGS.keys)
    if fields is None:
        return Settings()
    settings = Settings()
    if "title" in fields and (title := r.text(fields["title"], "title")):
        settings = replace(settings, title=title)
    if "base_url" in fields and (url := r.text(fields["base_url"], "base_url", limit=500)):
        if (trouble := check_base_url(url)) is not None:
            r.error(fields["base_url"], "base_url", trouble)
        else:
            settings = settings.with_base_url(url)
    if "refresh_hours" in fields and (hours := r.integer(fields["refresh_hours"], "refresh_hours", 1, 168)):
        settings = replace(settings, refresh_hours=hours)
    if "colours" in fields:
        chosen = r.mapping(fields["colours"], "colours", COLOURS.keys) or {}
        colours = dict(DEFAULT_COLOURS)
        for feed, node in chosen.items():
            name = r.text(node, f"colours.{feed}")
            if name is None:
                continue
            if name not in CSS_COLOURS:
                r.error(
                    node,
                    f"colours.{feed}",
                    f"unknown colour {name!r}" + suggestion(name, CSS_COLOURS, f"; choose one of: {', '.join(sorted(CSS_COLOURS))}"),
                )
                continue
            colours[feed] = Colour(name)
        settings = replace(settings, colours=colours)
    if "retired" in fields:
        mark = fields["retired"].start_mark
        retired = frozenset(r.value(SETTINGS.fields["retired"], fields["retired"], "retired"))
        listed = fields["retired"].value if isinstance(fields["retired"], SequenceNode) else []
        at = {
            item.value: (path, item.start_mark.line + 1, item.start_mark.column + 1, f"retired[{i}]")
            for i, item in reversed(list(enumerate(listed)))  # an id listed twice: its first place
            if isinstance(item, ScalarNode)
        }
        settings = replace(settings, retired=retired, retired_where=(path, mark.line + 1, mark.column + 1, "retired"), retired_at=at)
    if "groups" in fields:
        settings = replace(settings, groups=_read_groups(r, fields["groups"]))
    for flag in ("meet_calendars", "series_calendars"):
        if flag in fields and (on := r.value(SETTINGS.fields[flag], fields[flag], flag)) is not None:
            mark = fields[flag].start_mark
            settings = replace(settings, **{flag: on, f"{flag}_where": (path, mark.line + 1, mark.column + 1, flag)})
    if "templates" in fields and (folder := r.text(fields["templates"], "templates", limit=500)):
        before = len(problems)
        # Named even while it is missing or its templates have problems: serve --watch follows it.
        settings = replace(settings, templates_dir=Path(path).parent / folder)
        own = read_templates(Path(path).parent / folder, problems)
        if own is None:
            r.error(fields["templates"], "templates", f"{quoted(folder)} is not a directory (it is read relative to {Path(path).name})")
        elif len(problems) == before:
            settings = replace(settings, templates=own, page_templates=page_templates(own))
    return settings


def _read_groups(r: Reader, node: Node) -> tuple[Group, ...]:
    groups: dict[str, Group] = {}
    taken: set[str] = set()  # the ids of every group so far, with problems of its own or not
    for sub, item in r.items(node, "groups", MAX_GROUPS):
        fields = r.mapping(item, sub, GROUP.keys, required=GROUP.required)
        if fields is None or "id" not in fields or "name" not in fields:
            continue
        before = len(r.problems)
        group_id = r.slug(fields["id"], field_path(sub, "id"))
        name = r.text(fields["name"], field_path(sub, "name"))
        athletes = (
            [r.slug(n, s) for s, n in r.items(fields["athletes"], field_path(sub, "athletes"), MAX_GROUP_ATHLETES)]
            if "athletes" in fields
            else []
        )
        countries = r.texts(fields["country"], field_path(sub, "country")) if "country" in fields else ()
        disciplines = r.texts(fields["disciplines"], field_path(sub, "disciplines")) if "disciplines" in fields else ()
        timezone = r.timezone(fields["timezone"], field_path(sub, "timezone")) if "timezone" in fields else None
        if not ({"athletes", "country", "disciplines"} & fields.keys()):
            r.error(item, sub, "a group needs 'athletes' (slugs), or selectors 'country' and/or 'disciplines', or both")
        if group_id in taken:
            r.error(fields["id"], field_path(sub, "id"), f"{group_id!r} is defined twice")
            continue
        if group_id is not None:
            taken.add(group_id)
        if len(r.problems) > before or group_id is None or name is None:
            continue
        mark = fields["id"].start_mark
        groups[group_id] = Group(
            group_id, name, frozenset(a for a in athletes if a), frozenset(countries), frozenset(disciplines), timezone,
            (r.path, mark.line + 1, mark.column + 1, field_path(sub, "id")),
        )  # fmt: skip
    return tuple(groups.values())


# What a site may override (README, "Your own templates"). Pages and the Atom feed are escaped
# templates, the host config plain ones; style.css and site.js are copied as they are.
TEMPLATE_NAMES = ("page.html", "index.html", "plan.html", "changes.atom", "_headers", "htaccess", "style.css", "site.js")
STATIC_NAMES = ("style.css", "site.js")


@cache  # the package's files do not change while racecal runs (serve rebuilds in one process)
def packaged_digest() -> str:
    """A digest of racecal's own templates and static files, which the site files are made from too
    (a development checkout changes them without a new version)."""
    digest = hashlib.sha256()
    for name in TEMPLATE_NAMES:
        digest.update(name.encode() + b"\0" + (resources.files("racecal") / "templates" / name).read_bytes() + b"\0")
    return digest.hexdigest()


# What every calendar's files that depend on templates (its page and Atom feed) are rendered from.
PAGE_ROOTS = ("plan.html", "changes.atom")
HOST_CONFIG_NAMES = ("_headers", "htaccess")


def _parser() -> Any:
    from jinja2 import Environment  # only for a site with its own templates

    # As site.py renders them, but parsed only, never rendered here.
    return Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)


def _references(tree: Any) -> list[tuple[int, tuple[str, ...] | None, bool]]:
    """Every template ``tree`` extends, includes or imports: (line, the names it may load, None when
    computed while rendering; whether a missing one is ignored). A list is Jinja2's first found."""
    from jinja2 import nodes

    found: list[tuple[int, tuple[str, ...] | None, bool]] = []
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        named = node.template
        names: tuple[str, ...] | None = None
        if isinstance(named, nodes.Const) and isinstance(named.value, str):
            names = (named.value,)
        elif isinstance(named, nodes.Tuple | nodes.List) and all(
            isinstance(i, nodes.Const) and isinstance(i.value, str) for i in named.items
        ):
            names = tuple(str(i.value) for i in named.items if isinstance(i, nodes.Const))
        found.append((node.lineno, names, bool(getattr(node, "ignore_missing", False))))
    return found


def page_templates(own: tuple[tuple[str, str], ...]) -> frozenset[str] | None:
    """The site's own templates a calendar's page or Atom feed may be rendered from: the roots and
    everything they extend, include or import, own or packaged, followed through. None when that
    cannot be known from the text (a name computed while rendering), meaning all of them. Templates
    are rendered sandboxed (site.py), so the tags are the only way one loads another.

    Only these are in the plans' inputs, so a site's own style.css or landing page edited rebuilds
    no plan (the site files are made on every build)."""
    from jinja2 import TemplateSyntaxError

    texts = dict(own)
    parser = _parser()
    seen: set[str] = set()
    todo = list(PAGE_ROOTS)
    while todo:
        name = todo.pop()
        if name in seen or name not in TEMPLATE_NAMES:  # another name does not load: rendering fails
            continue
        seen.add(name)
        text = texts.get(name)
        if text is None:
            text = (resources.files("racecal") / "templates" / name).read_bytes().decode("utf-8")
        try:  # a static file included into a page is rendered as a template too
            references = _references(parser.parse(text))
        except TemplateSyntaxError:
            return None
        for _, names, _ in references:
            if names is None:
                return None
            todo += names
    return frozenset(seen & texts.keys())


MAX_TEMPLATE_BYTES = 1 << 20


def read_templates(folder: Path, problems: list[Problem]) -> tuple[tuple[str, str], ...] | None:
    """The site's own templates in ``folder``, checked: known names only, UTF-8, Jinja2 syntax, no
    unescaped value, and what each includes (``_check_references``). None when ``folder`` is not a
    directory. Dotfiles (.DS_Store, editor swap files) are skipped."""
    if not folder.is_dir():
        return None
    own: list[tuple[str, str]] = []
    parsed: dict[str, Any] = {}
    for entry in sorted(folder.iterdir()):
        shown = str(entry)
        if entry.name.startswith("."):
            continue
        if entry.name not in TEMPLATE_NAMES or not entry.is_file():
            what = "a directory" if entry.is_dir() else "not a template racecal uses"
            problems.append(
                Problem(
                    shown, 1, 1, "templates", what + suggestion(entry.name, TEMPLATE_NAMES, f"; the names are: {', '.join(TEMPLATE_NAMES)}")
                )
            )
            continue
        try:  # a regular file inside the folder, bounded: never a FIFO, a device or a link out of it
            data = read_bounded(entry, MAX_TEMPLATE_BYTES, follow_symlinks=False)
        except TooLargeError:
            problems.append(Problem(shown, 1, 1, "templates", f"larger than {MAX_TEMPLATE_BYTES} bytes"))
            continue
        except NotRegularFileError as exc:
            problems.append(Problem(shown, 1, 1, "templates", f"is {exc.kind}, not a regular file"))
            continue
        except OSError as exc:
            problems.append(Problem(shown, 1, 1, "templates", f"cannot be read: {exc.strerror or exc}"))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            problems.append(Problem(shown, line, 1, "templates", "not UTF-8 text"))
            continue
        if entry.name not in STATIC_NAMES:  # style.css and site.js are templates only when included (below)
            tree = _checked_template(shown, entry.name, text, problems)
            if tree is None:
                continue
            parsed[entry.name] = tree
        own.append((entry.name, text))
    _check_references(folder, dict(own), parsed, problems)
    return tuple(own)


# `<a title={{ name }}>`: escaping keeps quotes and brackets out, but a space ends an unquoted value,
# so a name could add attributes (onerror=…). Refused rather than escaped.
_TAG_START = re.compile(r"<[A-Za-z/!?]")


def _unquoted_output(parser: Any, text: str) -> int | None:
    """The line of the first ``{{ … }}`` inside a tag but not inside a quoted attribute value
    (``<p class=x{{ v }}>``, ``<p {{ v }}>``), following the template's text as Jinja2's lexer splits
    it: comments are gone, so ``class={# #}{{ v }}`` is seen as it renders."""
    in_tag, quote = False, ""
    for line, kind, value in parser.lex(text):
        if kind == "variable_begin" and in_tag and not quote:
            return int(line)
        if kind != "data":
            continue
        at = 0
        while at < len(value):
            char = value[at]
            if quote:
                quote = "" if char == quote else quote
            elif in_tag:
                if char in "\"'":
                    quote = char
                elif char == ">":
                    in_tag = False
            elif _TAG_START.match(value, at):
                in_tag = True
            at += 1
    return None


def _checked_template(shown: str, name: str, text: str, problems: list[Problem]) -> Any:
    """``text`` parsed, when it is a template racecal may render: else None, with the problem."""
    from jinja2 import TemplateSyntaxError, nodes

    parser = _parser()
    try:
        tree = parser.parse(text, name)
    except TemplateSyntaxError as exc:
        problems.append(Problem(shown, exc.lineno, 1, "templates", f"Jinja2 syntax: {exc.message}"))
        return None
    # What would turn escaping off: pages are escaped by construction, overrides included.
    unescaped = [n for n in tree.find_all((nodes.Filter, nodes.ScopedEvalContextModifier, nodes.EvalContextModifier))
                 if not isinstance(n, nodes.Filter) or n.name == "safe"]  # fmt: skip
    if unescaped:
        what = "|safe" if isinstance(unescaped[0], nodes.Filter) else "{% autoescape %}"
        problems.append(Problem(shown, unescaped[0].lineno, 1, "templates", f"{what} is not allowed: every value on a page is escaped"))
        return None
    if name not in HOST_CONFIG_NAMES and (line := _unquoted_output(parser, text)) is not None:
        problems.append(
            Problem(
                shown,
                line,
                1,
                "templates",
                "a value from {{ … }} inside a tag must be an attribute value in quotes (escaping cannot keep an unquoted one from ending at a space)",
            )
        )
        return None
    return tree


def _check_references(folder: Path, own: dict[str, str], parsed: dict[str, Any], problems: list[Problem]) -> None:
    """What the site's templates extend, include or import: a template that exists (or is ignored
    when missing), never the host config from a page (it is not escaped), and style.css or site.js
    only when it is a template racecal may render, since an included one is rendered like the page."""
    todo = list(parsed)
    while todo:
        name = todo.pop()
        for line, names, ignore_missing in _references(parsed[name]):
            shown = str(folder / name)
            for target in names or ():
                if target in HOST_CONFIG_NAMES and name not in HOST_CONFIG_NAMES:
                    problems.append(
                        Problem(shown, line, 1, "templates", f"{quoted(target)} is the host config, which a page cannot include")
                    )
                elif target in STATIC_NAMES and target in own and target not in parsed:
                    tree = _checked_template(str(folder / target), target, own[target], problems)
                    if tree is not None:
                        parsed[target] = tree
                        todo.append(target)
            if names is not None and not ignore_missing and not any(n in TEMPLATE_NAMES for n in names):
                listed = ", ".join(quoted(n) for n in names)
                problems.append(
                    Problem(shown, line, 1, "templates", f"no template named {listed}; the names are: {', '.join(TEMPLATE_NAMES)}")
                )
