"""Pages from templates: a site's own templates, and no template (packaged or overridden) can emit an
unescaped value. Pages are read back with the standard library's HTML parser and the Atom feed with
expat, neither of which racecal wrote."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import FEDERATION, LATER_TIME, PLAN_ID, Project
from racecal.index import IndexEntry
from racecal.model import Athlete, Plan, Race, Result, Session, Source, Status, Venue
from racecal.settings import PAGE_ROOTS, TEMPLATE_NAMES, Settings, page_templates
from racecal.site import atom, index_page, plan_page, static_files

ATOM = "{http://www.w3.org/2005/Atom}"


class Page(HTMLParser):
    """Every element, attribute and piece of text in a page, as a browser's tokenizer sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str | None]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value) for name, value in attrs]

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# --- a site's own templates -------------------------------------------------------------------------

OWN_PLAN = """{% extends "page.html" %}
{% block title %}Own: {{ plan.athlete.name }}{% endblock %}
{% block body %}
<main class="own-plan">
{% for r in upcoming + past %}
<article data-status="{{ r.status }}"><h2>{{ r.race.name }}</h2>{% if r.url|href %}<a href="{{ r.url|href }}">meet</a>{% endif %}</article>
{% endfor %}
</main>
{%- endblock %}
"""
OWN_STYLE = "body{background:#123456}\n"


def own_templates(project: Project, plan: str = OWN_PLAN) -> Path:
    folder = project.root / "site-templates"
    folder.mkdir(exist_ok=True)
    (folder / "plan.html").write_text(plan)
    (folder / "style.css").write_text(OWN_STYLE)
    (project.root / "racecal.yaml").write_text("title: Own site\ntemplates: site-templates\n")
    return folder


def test_site_templates_override_the_packaged_ones_and_still_escape(project: Project) -> None:
    project.edit(
        "  - id: bislett\n    meet: bislett-games-2024\n",
        '  - id: bislett\n    meet: bislett-games-2024\n    name: "<script>alert(1)</script>"\n',
    )
    own_templates(project)
    project.build()

    assert (project.dist / "style.css").read_text() == OWN_STYLE
    page = Page((project.dist / PLAN_ID / "index.html").read_text())
    assert ("main", "class", "own-plan") in page.attributes  # the site's plan.html
    assert page.tags.count("article") == 8
    # The name is text in the page, never an element; the only script is the packaged page.html's site.js.
    assert "<script>alert(1)</script>" in page.text
    assert [a for a in page.attributes if a[0] == "script"] == [("script", "src", "../site.js")]
    # Templates not overridden are still the packaged ones.
    front = Page((project.dist / "index.html").read_text())
    assert ("ul", "class", "plans") in front.attributes
    assert "Own site" in front.text


def test_changing_a_site_template_rebuilds_the_pages(project: Project) -> None:
    own_templates(project)
    project.build()
    assert "unchanged" in project.build(time="2024-03-28T12:00:00Z").output
    own_templates(project, OWN_PLAN.replace("own-plan", "own-plan-2"))
    project.build(time="2024-03-29T12:00:00Z")
    assert ("main", "class", "own-plan-2") in Page((project.dist / PLAN_ID / "index.html").read_text()).attributes


# --- which own templates the plans depend on ------------------------------------------------------
# A plan's page and Atom feed are rebuilt when a template they are rendered from changes, and only
# then: the site files (style.css, the landing page) are made on every build.

INLINE_STYLE_PAGE = """<!doctype html>
<html><head><title>{% block title %}{% endblock %}</title><style>{% include "style.css" %}</style></head>
<body>{% block body %}{% endblock %}</body></html>
"""


def federation_with_templates(root: Path, templates: dict[str, str]) -> Project:
    shutil.copytree(FEDERATION, root)
    folder = root / "site-templates"
    folder.mkdir()
    for name, text in templates.items():
        (folder / name).write_text(text)
    config = root / "racecal.yaml"
    config.write_text(config.read_text() + "templates: site-templates\n")
    return Project(root)


def reused(result_output: str) -> tuple[int, int]:
    """(calendars built, calendars reused as they were) from a build's summary line."""
    found = re.search(r"\((\d+) plans, (\d+) group, meet or series calendars, (\d+) reused as they were", result_output)
    assert found, result_output
    return int(found[1]) + int(found[2]), int(found[3])


@pytest.mark.parametrize(
    ("before", "after", "rebuilt"),
    [
        ({"style.css": "body{color:red}\n"}, {"style.css": "body{color:blue}\n"}, False),
        ({"index.html": '{% extends "page.html" %}{% block body %}<p>one</p>{% endblock %}'},
         {"index.html": '{% extends "page.html" %}{% block body %}<p>two</p>{% endblock %}'}, False),
        ({"page.html": INLINE_STYLE_PAGE, "style.css": "p{color:red}"}, {"page.html": INLINE_STYLE_PAGE, "style.css": "p{color:blue}"}, True),
        ({"page.html": INLINE_STYLE_PAGE, "style.css": "p{}"}, {"page.html": INLINE_STYLE_PAGE.replace("<body>", "<body class=x>"), "style.css": "p{}"}, True),
        ({"style.css": "p{}"}, {"style.css": "p{}", "changes.atom": "<feed>{{ plan_title }}</feed>\n"}, True),
    ],
    ids=["own-style-sheet", "own-landing-page", "style-sheet-a-page-includes", "own-page-frame", "own-atom-feed-added"],
)  # fmt: skip
def test_an_own_template_no_page_is_rendered_from_edited_rebuilds_no_plan_and_the_site_is_as_if_it_had_always_been(
    tmp_path: Path, before: dict[str, str], after: dict[str, str], rebuilt: bool
) -> None:
    """Independent tester, finding 3: an own style.css edited recompiled every plan. The oracle is a
    second site that had the new templates from its first build: both must be the same bytes, so a
    plan not rebuilt kept no stale page."""
    edited = federation_with_templates(tmp_path / "edited", before)
    always = federation_with_templates(tmp_path / "always", after)
    for site in (edited, always):
        site.build("-q")
    folder = edited.root / "site-templates"
    for name in before.keys() - after.keys():
        (folder / name).unlink()
    for name, text in after.items():
        (folder / name).write_text(text)
    built, kept = reused(edited.build(time=LATER_TIME).output)
    assert kept == (0 if rebuilt else built)
    always.build(time=LATER_TIME)
    assert edited.tree() == always.tree()


# Pieces of a generated own template: text, and every way a template names another (literal, list,
# computed), so the analysis is checked against the templates Jinja2 actually loads while rendering.
_COMPUTED = ("chosen", "~")
_PACKAGED = Path(__file__).resolve().parent.parent / "src" / "racecal" / "templates"


def _pieces(later: list[str]) -> st.SearchStrategy[str]:
    """Pieces that name only templates in ``later`` (or none that exists): no include cycle."""
    text = st.just("text ")
    if not later:
        return st.one_of(text, st.just('{% include "missing.html" ignore missing %}'))
    names = st.sampled_from(later)
    return st.one_of(
        text,
        st.sampled_from([*later, "missing.html"]).map(lambda n: f'{{% include "{n}" ignore missing %}}'),
        st.lists(names, min_size=1, max_size=3).map(lambda ns: "{% include " + repr(ns) + " ignore missing %}"),
        names.map(lambda n: f'{{% import "{n}" as m %}}'),
        names.map(lambda n: f'{{% from "{n}" import nothing_here %}}'),
        st.just(f"{{% include chosen if chosen in {later!r} else 'missing.html' ignore missing %}}"),
        names.map(lambda n: f'{{% include "{n[:2]}" ~ "{n[2:]}" %}}'),
    )


@st.composite
def own_template_sets(draw: st.DrawFn) -> tuple[tuple[str, str], ...]:
    """Own templates whose references go one way only, in a drawn order (an include cycle never
    ends rendering). A packaged template stands in where an own one is missing, and may name own
    ones (plan.html and index.html extend page.html), so those come before page.html."""
    order = list(draw(st.permutations(TEMPLATE_NAMES)))
    if order.index("page.html") < max(order.index("plan.html"), order.index("index.html")):
        order.remove("page.html")
        order.append("page.html")
    own = []
    for i, name in enumerate(order):
        if draw(st.booleans()):
            later = order[i + 1 :]
            extends = f'{{% extends "{draw(st.sampled_from(later))}" %}}' if later and draw(st.booleans()) else ""
            own.append((name, extends + "".join(draw(st.lists(_pieces(later), max_size=4)))))
    return tuple(sorted(own))


class Recording(jinja2.BaseLoader):
    """The site's own templates first, then racecal's packaged ones, as the real loader; each own
    one loaded is noted."""

    def __init__(self, own: dict[str, str], loaded: set[str]) -> None:
        self.own, self.loaded = own, loaded

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, None, Callable[[], bool]]:
        if template in self.own:
            self.loaded.add(template)
            return self.own[template], None, lambda: False
        if template in TEMPLATE_NAMES:
            return (_PACKAGED / template).read_text(), None, lambda: False
        raise jinja2.TemplateNotFound(template)


@settings(max_examples=300, deadline=None)
@given(own=own_template_sets(), chosen=st.sampled_from(TEMPLATE_NAMES))
def test_every_own_template_a_page_or_atom_feed_loads_while_rendering_is_in_the_plans_inputs(
    own: tuple[tuple[str, str], ...], chosen: str
) -> None:
    """The oracle is Jinja2 rendering each root and recording every own template it loads; the
    names given to a computed include are drawn as well, so a computed reference must widen to all."""
    texts = dict(own)
    loaded: set[str] = set()
    environment = jinja2.Environment(loader=Recording(texts, loaded), undefined=jinja2.ChainableUndefined, cache_size=0)
    environment.filters["href"] = str
    used = page_templates(own)
    for root in PAGE_ROOTS:
        try:
            environment.get_template(root).render(chosen=chosen)
        except jinja2.TemplateSyntaxError:  # a static file included as a template: nothing to know from
            assert used is None
            return
    if used is not None:
        assert loaded <= used, (loaded - used, own)
    if not any(c in text for name, text in own for c in _COMPUTED):  # literal references: followed exactly
        assert used is not None


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({}, "racecal.yaml:1:12: templates: 'nowhere' is not a directory (it is read relative to racecal.yaml)"),
        ({"plan.htm": "x"}, "nowhere/plan.htm:1:1: templates: not a template racecal uses; did you mean 'plan.html'?"),
        (
            {"feed.xml": "x"},
            "nowhere/feed.xml:1:1: templates: not a template racecal uses; the names are: "
            "page.html, index.html, plan.html, changes.atom, _headers, htaccess, style.css, site.js",
        ),
        ({"plan.html": "<p>\n{{ x }</p>"}, "nowhere/plan.html:2:1: templates: Jinja2 syntax: unexpected '}'"),
        ({"index.html": "{% blok x %}"}, "nowhere/index.html:1:1: templates: Jinja2 syntax: Encountered unknown tag 'blok'."),
        ({"changes.atom": b"\xff"}, "nowhere/changes.atom:1:1: templates: not UTF-8 text"),
        (
            {"plan.html": '<p>\n<a class="x"\n   title={{ plan.athlete.name }}>'},
            "nowhere/plan.html:3:1: templates: a value from {{ … }} inside a tag must be an attribute value in quotes (escaping cannot keep an unquoted one from ending at a space)",
        ),
        # Independent tester: the check looked for `={{` only.
        (
            {"plan.html": "<p>\n<p class=x{{ plan.athlete.name }}>"},
            "nowhere/plan.html:2:1: templates: a value from {{ … }} inside a tag must be an attribute value in quotes (escaping cannot keep an unquoted one from ending at a space)",
        ),
        (
            {"plan.html": "<p class={# c #}{{ plan.athlete.name }}>"},
            "nowhere/plan.html:1:1: templates: a value from {{ … }} inside a tag must be an attribute value in quotes (escaping cannot keep an unquoted one from ending at a space)",
        ),
        (
            {"page.html": "<body {{ settings.title }}>"},
            "nowhere/page.html:1:1: templates: a value from {{ … }} inside a tag must be an attribute value in quotes (escaping cannot keep an unquoted one from ending at a space)",
        ),
        (
            {"plan.html": '<p>\n{% include "missing.html" %}'},
            "nowhere/plan.html:2:1: templates: no template named 'missing.html'; the names are: "
            "page.html, index.html, plan.html, changes.atom, _headers, htaccess, style.css, site.js",
        ),
        (
            {"page.html": '<pre>{% include "htaccess" %}</pre>'},
            "nowhere/page.html:1:1: templates: 'htaccess' is the host config, which a page cannot include",
        ),
        # style.css or site.js included into a page is rendered as a template: checked as one.
        (
            {"plan.html": '<style>{% include "style.css" %}</style>', "style.css": "a{}\n/* {{ plan.athlete.name|safe }} */"},
            "nowhere/style.css:2:1: templates: |safe is not allowed: every value on a page is escaped",
        ),
        (
            {"page.html": '<script>{% include "site.js" %}</script>', "site.js": "a {}\n/* {% if */"},
            "nowhere/site.js:2:1: templates: Jinja2 syntax: unexpected '*'",
        ),
        (
            {"plan.html": "<p>\n\n{{ plan.athlete.name|safe }}</p>"},
            "nowhere/plan.html:3:1: templates: |safe is not allowed: every value on a page is escaped",
        ),
        (
            {"page.html": "{% filter safe %}{{ x }}{% endfilter %}"},
            "nowhere/page.html:1:1: templates: |safe is not allowed: every value on a page is escaped",
        ),
        (
            {"changes.atom": "\n{% autoescape false %}{{ x }}{% endautoescape %}"},
            "nowhere/changes.atom:2:1: templates: {% autoescape %} is not allowed: every value on a page is escaped",
        ),
    ],
    ids=[
        "no-directory",
        "misspelt-name",
        "unknown-name",
        "syntax",
        "unknown-tag",
        "not-utf8",
        "unquoted-attribute",
        "unquoted-after-text",
        "unquoted-after-comment",
        "value-as-attribute",
        "missing-include",
        "host-config-in-a-page",
        "included-style-sheet-unescaped",
        "included-script-syntax",
        "safe-filter",
        "safe-block",
        "autoescape-off",
    ],
)
def test_bad_site_templates_are_located(project: Project, files: dict[str, str | bytes], expected: str) -> None:
    (project.root / "racecal.yaml").write_text("templates: nowhere\n")
    if files:
        (project.root / "nowhere").mkdir()
    for name, content in files.items():
        path = project.root / "nowhere" / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    result = project.run("build")
    assert (result.exit_code, result.stderr.splitlines()) == (1, [expected, "1 problem in 1 file"])
    assert not project.dist.exists()


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{{ plan.nothing.at_all }}", "error: site template plan.html, line 4: 'racecal.model.Plan object' has no attribute 'nothing'"),
        ("{{ 1 // 0 }}", "error: site template plan.html, line 4: integer division or modulo by zero"),
        ('{% include "miss" ~ "ing.html" %}', "error: site template plan.html, line 4: no template named 'missing.html'"),
        # Names a template misspells are errors (README), not empty strings.
        ("{{ plan.athelete }}", "error: site template plan.html, line 4: 'racecal.model.Plan object' has no attribute 'athelete'"),
        ("{{ nosuch }}", "error: site template plan.html, line 4: 'nosuch' is undefined"),
        # A calendar's page sees only the settings in its inputs (independent tester: the groups' names
        # read here stayed as published when a group was renamed).
        (
            "{{ settings.groups }}",
            "error: site template plan.html, line 4: 'racecal.settings.PageSettings object' has no attribute 'groups'",
        ),
        # Sandboxed: no template reaches another but by a tag (the plans' inputs follow the tags).
        (
            '{{ (self|attr("_TemplateReference__context")) }}',
            "error: site template plan.html, line 4: access to attribute '_TemplateReference__context' of 'TemplateReference' object is unsafe.",
        ),
    ],
    ids=[
        "undefined",
        "arithmetic",
        "computed-missing-include",
        "misspelt-attribute",
        "undefined-name",
        "settings-not-in-inputs",
        "sandboxed",
    ],
)
def test_site_template_failing_while_rendering_is_an_error_not_a_traceback(project: Project, line: str, expected: str) -> None:
    own_templates(project, OWN_PLAN.replace("<main", f"{line}\n<main"))
    result = project.run("build")
    assert (result.exit_code, result.stderr.splitlines()) == (1, [expected])
    assert not project.dist.exists()


def test_static_site_templates_are_copied_as_they_are() -> None:
    js = "if (a {{ b }}) { /* {% not a tag %} */ }\n"
    files = static_files(Settings(templates=(("site.js", js),)))
    assert files["site.js"] == js


# --- no template emits an unescaped value -------------------------------------------------------

HOSTILE = "Anna <img src=x onerror=alert(1)> \"K\" 'n' & \u202eevitatneT\u202c \u200b end"
SHOWN = HOSTILE.replace("\u202e", "\ufffd").replace("\u202c", "\ufffd").replace("\u200b", "\ufffd")
BAD_URL = "javascript:alert(1)"

# An override that shows the model's own values with no preparation at all, and every prepared one.
RAW_PLAN = """{% extends "page.html" %}
{% block title %}{{ plan.athlete.name }}{% endblock %}
{% block body %}
<h1 title="{{ plan.athlete.name }}">{{ plan.athlete.country }} {{ facts }}</h1>
{% for r in upcoming + past %}
<div data-x="{{ r.race.note }}" data-y='{{ r.race.name }}'>{{ r.race.reason }} {{ r.name }} {{ r.venue }} {{ r.note }} {{ r.result }}
{% for s in r.sources %}<span title="{{ s.title }}">{{ s.label }} {{ s.quote }}</span>{% endfor %}
{% for s in r.sessions %}{{ s.name }}{% endfor %}{{ r.race.url|href }}</div>
{% endfor %}
{% for c in changes %}<p>{{ c.summary }} {{ c.change.summary }}</p>{% endfor %}
{%- endblock %}
"""
RAW_ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>{{ plan.athlete.name }}</title><updated>{{ updated }}</updated>
{% for e in entries %}<entry><id>{{ e.id }}</id><title>{{ e.change.summary }}</title><updated>{{ e.updated }}</updated></entry>{% endfor %}
</feed>
"""


def hostile_site() -> tuple[Plan, list[dict[str, object]], list[IndexEntry]]:
    source = Source(HOSTILE, title=HOSTILE, url=BAD_URL, published=date(2024, 3, 5), quote=HOSTILE)
    races = tuple(
        Race(
            id=f"r{i}",
            name=HOSTILE,
            start=date(2024, 5, 30),
            end=date(2024, 5, 30),
            status=status,
            venue=Venue(HOSTILE, HOSTILE, HOSTILE),
            timezone="Europe/Oslo",
            disciplines=(HOSTILE,),
            reason=HOSTILE,
            note=HOSTILE,
            url=BAD_URL,
            sources=(source, Source(HOSTILE)),
            sessions=(Session("s", HOSTILE, date(2024, 5, 30), time(20, 0), 60),),
            result=Result(1, HOSTILE, HOSTILE),
        )
        for i, status in enumerate(Status)
    )
    plan = Plan(Athlete(HOSTILE, "anna-k", HOSTILE, (HOSTILE,)), 2024, races)
    history: list[dict[str, object]] = [
        {"build": "20240305T120000Z", "summary": HOSTILE, "race": HOSTILE, "type": HOSTILE, "field": HOSTILE}
    ]
    entry = IndexEntry("anna-k-2024", HOSTILE, 2024, {"confirmed": 1, "tentative": 1, "off": 2}, "a.yaml", "0" * 64,
                       datetime(2024, 3, 5, tzinfo=UTC), None, {}, removed=True)  # fmt: skip
    return plan, history, [entry]


@pytest.mark.parametrize(
    "templates",
    [
        (),
        (("plan.html", RAW_PLAN), ("changes.atom", RAW_ATOM)),
        # Independent tester: site.js included into a page was rendered unescaped (autoescape went by
        # the included file's extension).
        (("plan.html", RAW_PLAN.replace("{% for c in changes %}", '<p>{% include "site.js" %}</p>{% for c in changes %}')),
         ("changes.atom", RAW_ATOM), ("site.js", "/* {{ plan.athlete.name }} {{ plan.athlete.country }} */")),
    ],
    ids=["packaged", "overridden-with-raw-values", "static-file-included-into-a-page"],
)  # fmt: skip
@pytest.mark.parametrize("base_url", [None, "https://example.org/races"])
def test_no_template_emits_an_unescaped_value(templates: tuple[tuple[str, str], ...], base_url: str | None) -> None:
    plan, history, entries = hostile_site()
    settings = Settings(title=HOSTILE, base_url=base_url, templates=templates)
    pages = {
        "plan": plan_page(plan, plan.races, history, settings, date(2024, 6, 1)),
        "removed plan": plan_page(plan, plan.races, history, settings, date(2024, 1, 1), removed=True),
        "index": index_page(entries, settings),
    }
    for name, html in pages.items():
        page = Page(html)
        assert set(page.tags) <= {"html", "head", "meta", "title", "link", "body", "header", "main", "footer", "p", "a", "h1",
                                  "h2", "h3", "div", "section", "ul", "ol", "li", "span", "strong", "time", "q", "input",
                                  "button", "label", "article", "script"}, name  # fmt: skip
        assert "img" not in page.tags and not any(attr == "onerror" for _, attr, _ in page.attributes), name
        assert page.tags.count("script") == 1, name  # site.js, from page.html
        assert not any("javascript" in (value or "") for _, _, value in page.attributes), name
        assert SHOWN in "".join(page.text), name
        # Nothing invisible or reordering reaches the page, in text or attributes.
        assert not {"\u202e", "\u202c", "\u200b"} & set(html), name

    feed = ET.fromstring(atom(plan, history, settings, datetime(2024, 3, 5, tzinfo=UTC)).encode())
    assert feed.tag == f"{ATOM}feed"
    assert {child.tag for child in feed.iter()} <= {
        f"{ATOM}{t}" for t in ("feed", "id", "title", "updated", "link", "author", "name", "entry", "content")
    }
    titles = [t.text for t in feed.iter(f"{ATOM}title")]
    assert titles[0] == (SHOWN if templates else f"{SHOWN} 2024: calendar changes")
    assert titles[1] == SHOWN
