"""What each YAML document holds, declared once: keys, kinds, limits, help.

These declarations are the single definition of the plan, the meet catalogue and the race snapshot
kept in ``state.json``: ``fields.Reader.read`` validates by them (allowed and required keys, each
value's kind and limits), ``schema.py`` generates the JSON Schemas in ``schema/`` from them (a test
fails when the committed files differ), and ``encode`` writes a model value back in the snapshot
shape. What a declaration cannot say (a race's ``date`` or ``start``/``end``, values inherited from
its meet, sessions inside the race's dates) is checked in ``load.py`` and said in the help text.

A new optional race field is one line in ``RACE`` (reading, schema, snapshot, diff), one attribute
of ``model.Race`` and what the feeds make of it.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from enum import Enum, StrEnum
from functools import cached_property
from typing import Any

from racecal import model

MIN_YEAR, MAX_YEAR = 1900, 2100
SHORT_TEXT = 200
LONG_TEXT = 5000
MAX_RACES_PER_PLAN = 1000
MAX_SESSIONS_PER_RACE = 50
MAX_SOURCES_PER_RACE = 50
MAX_DISCIPLINES = 20
MAX_MEETS_PER_FILE = 10_000
MAX_URL = 2000
MAX_ID = 64  # slugs: they become file names and parts of UIDs


class Kind(StrEnum):
    TEXT = "text"  # one line
    NOTE = "note"  # several lines allowed
    SLUG = "slug"
    URL = "url"
    DATE = "date"
    TIME = "time"
    TIMEZONE = "timezone"
    INTEGER = "integer"
    NUMBER = "number"
    STATUS = "status"
    TEXTS = "texts"  # one line, or a list of them
    OBJECT = "object"  # a mapping of ``shape``
    LIST = "list"  # a list of ``shape`` mappings
    MAP = "map"  # slug keys → ``shape`` mappings
    SOURCES = "sources"  # a list of source ids or ``shape`` mappings
    SLUGS = "slugs"  # a list of slugs
    FLAG = "flag"  # true or false


@dataclass(frozen=True)
class Field:
    kind: Kind
    help: str = ""
    required: bool = False
    limit: int = 0  # characters for text, entries for lists; 0: the kind's default
    low: float = 0
    high: float = 0
    shape: Shape | None = None
    # Read by the document's own code, which needs context the field alone does not have (a race's
    # dates for its sessions, the plan's shared sources); still declared here for the schema.
    deferred: bool = False
    choices: tuple[str, ...] = ()  # for text: the values it may take

    @cached_property
    def text_limit(self) -> int:
        return self.limit or {Kind.NOTE: LONG_TEXT, Kind.URL: MAX_URL, Kind.SLUG: MAX_ID, Kind.TIMEZONE: MAX_ID}.get(self.kind, SHORT_TEXT)


@dataclass(frozen=True)
class Shape:
    """A mapping: its keys in the order they are documented, and the model class it becomes when
    its keys are the model's fields (``None``: the document's code builds it)."""

    name: str
    help: str
    fields: dict[str, Field]
    model: type | None = None

    @cached_property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.fields)

    @cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k, f in self.fields.items() if f.required)

    def but(self, name: str, /, *, drop: tuple[str, ...] = (), model: type | None = None, **changed: Field) -> Shape:
        fields = {k: changed.get(k, f) for k, f in self.fields.items() if k not in drop}
        return Shape(name, self.help, {**fields, **changed}, model)


def text(about: str = "", *, limit: int = 0, required: bool = False) -> Field:
    return Field(Kind.TEXT, about, required, limit)


def note(about: str = "") -> Field:
    return Field(Kind.NOTE, about)


VENUE = Shape("venue", "Where a race is held: at least a name or a city.", {
    "name": text("The stadium or course, as on the meet's own site."),
    "city": text(),
    "country": text(),
    "lat": Field(Kind.NUMBER, "Latitude in degrees (with lon: the event's GEO).", low=-90, high=90),
    "lon": Field(Kind.NUMBER, "Longitude in degrees (with lat).", low=-180, high=180),
}, model.Venue)  # fmt: skip

SOURCE = Shape("source", "Where the plan's information comes from, for readers to check.", {
    "outlet": text("The newspaper, site or person that reported it.", required=True),
    "title": text(limit=500),
    "url": Field(Kind.URL),
    "published": Field(Kind.DATE),
    "quote": note("The words that say it, quoted from the source."),
}, model.Source)  # fmt: skip

RESULT = Shape("result", "The outcome, once the race is run.", {
    "place": Field(Kind.INTEGER, low=1, high=10_000),
    "time": text("The mark as the results list writes it, e.g. 3:26.73.", limit=32),
    "note": note(),
}, model.Result)  # fmt: skip

SESSION = Shape("session", "A timed part of a race (a heat, a final), on one of the race's days, in the race's timezone.", {
    "id": Field(Kind.SLUG, "Part of the session's UID; by default made from the name. Never change it once published."),
    "name": text(required=True),
    "date": Field(Kind.DATE, required=True),
    "time": Field(Kind.TIME, "Local start time, 24-hour HH:MM (quote it: \"19:30\").", required=True),
    "duration_minutes": Field(Kind.INTEGER, "Default 60.", low=1, high=24 * 60),
})  # fmt: skip

RACE = Shape("race", "One race: give a 'meet' from the catalogue, or at least a 'name' and a 'date'; any field given overrides the meet's.", {
    "id": Field(Kind.SLUG, "Part of the race's UIDs: never change it once published.", required=True),
    "meet": text("A meet id from the catalogue (schedules/meets/*.yaml).", limit=MAX_ID),
    "name": text(),
    "series": text("e.g. Diamond League."),
    "date": Field(Kind.DATE, "A one-day race; or give start and end."),
    "start": Field(Kind.DATE, "The first day of a race over several days."),
    "end": Field(Kind.DATE, "The last day (inclusive)."),
    "venue": Field(Kind.OBJECT, shape=VENUE),
    "timezone": Field(Kind.TIMEZONE, "Needed for sessions; by default the meet's."),
    "disciplines": Field(Kind.TEXTS, "e.g. 1500m, or a list."),
    "status": Field(Kind.STATUS, "confirmed and tentative races are in their own calendars; withdrawn and cancelled ones are shown as cancelled.", required=True),
    "reason": note("Why it was withdrawn or cancelled, or why it is tentative."),
    "note": note(),
    "url": Field(Kind.URL, "The meet's or the race's page."),
    "sources": Field(Kind.SOURCES, "Sources: ids from the plan's 'sources', or sources written out.", limit=MAX_SOURCES_PER_RACE, shape=SOURCE, deferred=True),
    "result": Field(Kind.OBJECT, shape=RESULT),
    "sessions": Field(Kind.LIST, limit=MAX_SESSIONS_PER_RACE, shape=SESSION, deferred=True),
})  # fmt: skip

ATHLETE = Shape("athlete", "Whose plan this is.", {
    "name": text(required=True),
    "slug": Field(Kind.SLUG, "Used in file names and UIDs; never change it once published.", required=True),
    "country": text(limit=MAX_ID),
    "disciplines": Field(Kind.TEXTS),
}, model.Athlete)  # fmt: skip

PLAN = Shape("plan", "racecal plan: one athlete, one season", {
    "athlete": Field(Kind.OBJECT, required=True, shape=ATHLETE),
    "season": Field(Kind.INTEGER, "The year; with the athlete's slug it names the plan.", required=True, low=MIN_YEAR, high=MAX_YEAR),
    "timezone": Field(Kind.TIMEZONE, "The calendar's display timezone (X-WR-TIMEZONE). Default UTC."),
    "sources": Field(Kind.MAP, "Sources cited by id from races.", shape=SOURCE, deferred=True),
    "races": Field(Kind.LIST, required=True, limit=MAX_RACES_PER_PLAN, shape=RACE, deferred=True),
})  # fmt: skip

MEET = Shape("meet", "A meet that races reference by id; a race may override any of its fields.", {
    "id": Field(Kind.SLUG, "What races write as 'meet:'.", required=True),
    "name": text(required=True),
    "series": text("e.g. Diamond League."),
    "date": Field(Kind.DATE, "A one-day meet; or give start and end."),
    "start": Field(Kind.DATE),
    "end": Field(Kind.DATE),
    "venue": Field(Kind.OBJECT, shape=VENUE),
    "timezone": Field(Kind.TIMEZONE, "The meet's local timezone, e.g. Europe/Oslo.", required=True),
    "url": Field(Kind.URL),
})  # fmt: skip

# racecal.yaml. Its values are read by ``settings.py`` (a base URL, a templates folder and a group
# need their own checks); the keys each mapping may have come from here, and a test holds the
# schema and the reader to the same answers.
MAX_GROUPS = 1_000
MAX_GROUP_ATHLETES = 10_000
MAX_RETIRED = 10_000
# RFC 7986 COLOR takes a CSS3 colour *name*; Apple reads a hex value. These names are the choices.
CSS_COLOURS = {
    "seagreen": "#2E8B57", "forestgreen": "#228B22", "darkgreen": "#006400", "teal": "#008080",
    "darkorange": "#FF8C00", "orange": "#FFA500", "goldenrod": "#DAA520", "chocolate": "#D2691E",
    "steelblue": "#4682B4", "royalblue": "#4169E1", "navy": "#000080", "slateblue": "#6A5ACD",
    "crimson": "#DC143C", "firebrick": "#B22222", "purple": "#800080", "dimgray": "#696969",
}  # fmt: skip
COLOUR_NAMES = tuple(CSS_COLOURS)

COLOURS = Shape("colours", "Each feed's colour (RFC 7986 COLOR: a CSS colour name).", {
    feed: Field(Kind.TEXT, choices=COLOUR_NAMES) for feed in ("all", "confirmed", "tentative")
})  # fmt: skip

GROUP = Shape("group", "A calendar across athletes: those listed, and those whose plans match every selector given (docs/groups.md).", {
    "id": Field(Kind.SLUG, "With the season, the calendar's id (<id>-<season>); never change it once published.", required=True),
    "name": text("As the calendar and its page are titled.", required=True),
    "athletes": Field(Kind.SLUGS, "Athletes' slugs.", limit=MAX_GROUP_ATHLETES),
    "country": Field(Kind.TEXTS, "Selector: the plan's athlete.country is one of these (case does not matter)."),
    "disciplines": Field(Kind.TEXTS, "Selector: the athlete has one of these disciplines."),
    "timezone": Field(Kind.TIMEZONE, "The calendars' display zone (X-WR-TIMEZONE); by default UTC."),
})  # fmt: skip

SETTINGS = Shape("settings", "racecal site settings (racecal.yaml)", {
    "title": text("The site's title."),
    "base_url": Field(Kind.URL, "Public address of dist/ (http or https, no query or fragment); --base-url wins over it.", limit=500),
    "refresh_hours": Field(Kind.INTEGER, "How often clients should check the feeds (REFRESH-INTERVAL).", low=1, high=168),
    "colours": Field(Kind.OBJECT, shape=COLOURS),
    "retired": Field(Kind.SLUGS, "Ids of deleted plans whose feeds are no longer published.", limit=MAX_RETIRED),
    "templates": text("A folder of your own page templates, relative to this file.", limit=500),
    "groups": Field(Kind.LIST, limit=MAX_GROUPS, shape=GROUP),
    "meet_calendars": Field(Kind.FLAG, "A calendar per catalogue meet that plans race at (docs/groups.md)."),
    "series_calendars": Field(Kind.FLAG, "A calendar per series the catalogue names (Diamond League) and season (docs/groups.md)."),
})  # fmt: skip

CATALOGUE = Shape("catalogue", "racecal meet catalogue", {
    "meets": Field(Kind.LIST, required=True, limit=MAX_MEETS_PER_FILE, shape=MEET, deferred=True),
})  # fmt: skip

# What state.json remembers of a race: the model's own fields (so ``encode`` writes it and
# ``Reader.read`` reads it back into a Race directly), checked by the same kinds as a plan.
SNAPSHOT_SESSION = Shape("snapshot_session", "A session as published.", {
    "id": Field(Kind.SLUG, required=True),
    "name": text(required=True),
    "day": Field(Kind.DATE, required=True),
    "start": Field(Kind.TIME, required=True),
    "duration_minutes": Field(Kind.INTEGER, required=True, low=1, high=24 * 60),
}, model.Session)  # fmt: skip

SNAPSHOT = RACE.but(
    "snapshot", drop=("meet", "date", "sources", "sessions"), model=model.Race,
    name=text(required=True), start=Field(Kind.DATE, required=True), end=Field(Kind.DATE, required=True),
    meet_id=Field(Kind.SLUG),
    sources=Field(Kind.LIST, limit=MAX_SOURCES_PER_RACE, shape=SOURCE),
    sessions=Field(Kind.LIST, limit=MAX_SESSIONS_PER_RACE, shape=SNAPSHOT_SESSION),
)  # fmt: skip


def encode(value: Any) -> Any:
    """A model value as the JSON a snapshot keeps: dataclasses as objects in field order without
    empty fields, dates as ISO dates, times as HH:MM, enums as their names, tuples as lists."""
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        return value
    if (compiled := _ENCODERS.get(kind)) is not None:
        return compiled(value)
    return _encode_any(value)


def _encode_any(value: Any) -> Any:
    """``encode`` by looking at each value. The snapshot's classes have functions made from their
    declarations instead (``_compile_encoder``); tests/test_documents.py holds the two to the same
    answers."""
    kind = type(value)
    if kind is str or kind is int or kind is float or value is None:
        return value
    fields = _model_fields(kind)
    if fields is not None:
        names, values_of = fields
        return {name: _encode_any(item) for name, item in zip(names, values_of(value), strict=True) if item is not None and item != ()}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, tuple | list):
        return [_encode_any(v) for v in value]
    return value


# How a field's model value becomes its JSON, by kind, as Python source (``x``: the value, not None).
_TO_JSON = {
    Kind.DATE: "x.isoformat()",
    Kind.TIME: "x.strftime('%H:%M')",
    Kind.STATUS: "x.value",
    Kind.TEXTS: "list(x)",
    Kind.SLUGS: "list(x)",
}
_AS_IT_IS = (Kind.TEXT, Kind.NOTE, Kind.SLUG, Kind.URL, Kind.TIMEZONE, Kind.INTEGER, Kind.NUMBER, Kind.FLAG)


def _compile_encoder(shape: Shape) -> Callable[[Any], dict[str, Any]]:
    """``encode`` for ``shape.model``, written out field by field from its declaration and compiled
    once, as dataclasses writes ``__init__``: every build encodes every race of every rebuilt plan and
    calendar, and asking each value what it is took 2.7 times as long (18 against 6.6 µs a race).
    The names are the model's own field names, in its order; nothing from a document goes in."""
    assert shape.model is not None
    lines = ["def encode_one(value):", "    out = {}"]
    scope: dict[str, Any] = {}
    for field_ in dataclasses.fields(shape.model):
        name, spec = field_.name, shape.fields[field_.name]
        assert name.isidentifier(), name
        lines.append(f"    x = value.{name}")
        if spec.kind in (Kind.TEXTS, Kind.SLUGS, Kind.LIST):  # tuples: empty ones are left out
            if spec.kind is Kind.LIST:
                assert spec.shape is not None
                scope[f"encode_{name}"] = _compile_encoder(spec.shape)
            lines.append(f"    if x: out[{name!r}] = " + (f"[encode_{name}(item) for item in x]" if spec.kind is Kind.LIST else "list(x)"))
            continue
        if spec.kind is Kind.OBJECT:
            assert spec.shape is not None
            scope[f"encode_{name}"] = _compile_encoder(spec.shape)
            converted = f"encode_{name}(x)"
        else:
            assert spec.kind in _AS_IT_IS or spec.kind in _TO_JSON, spec
            converted = _TO_JSON.get(spec.kind, "x")
        lines.append(f"    if x is not None: out[{name!r}] = {converted}")
    lines.append("    return out")
    exec("\n".join(lines), scope)  # noqa: S102 (source made above from the model's field names)
    function: Callable[[Any], dict[str, Any]] = scope["encode_one"]
    return function


SNAPSHOT_SHAPES = (SNAPSHOT, SNAPSHOT_SESSION, VENUE, SOURCE, RESULT, ATHLETE)  # each with its model class
_ENCODERS: dict[type, Callable[[Any], dict[str, Any]]] = {shape.model: _compile_encoder(shape) for shape in SNAPSHOT_SHAPES if shape.model}


def decode_written(shape: Shape, value: dict[str, Any]) -> Any:
    """``encode``'s inverse, for a value racecal wrote from validated values (a state.json the record
    vouches for, cache.py): ``value`` as ``shape.model`` without checking it again. Anything else goes
    through ``fields.Reader``, which checks every field (tests/test_cache.py: both give the same)."""
    return _decoder(shape)(value)


_DECODERS: dict[int, Callable[[dict[str, Any]], Any]] = {}  # by id(shape): shapes are module constants


def _decoder(shape: Shape) -> Callable[[dict[str, Any]], Any]:
    """One function per shape, written out from its declaration and compiled once, as
    ``_compile_encoder``: a rebuilt calendar reads its published state's races back (7,181 for a
    series at 20,000 races), and building a dictionary of keywords per object took a third longer
    (20 against 15 µs a race; most of what is left is the frozen dataclasses' own ``__init__``)."""
    if (known := _DECODERS.get(id(shape))) is not None:
        return known
    model_class = shape.model
    assert model_class is not None
    scope: dict[str, Any] = {"Model": model_class, "date_of": date.fromisoformat, "time_of": time.fromisoformat, "Status": model.Status}
    lines = ["def decode_one(value):", "    get = value.get"]
    arguments = []
    for field_ in dataclasses.fields(model_class):
        name, spec = field_.name, shape.fields[field_.name]
        assert name.isidentifier(), name
        converted = _from_json(spec, name, scope)
        if field_.default is dataclasses.MISSING:
            lines.append(f"    x = value[{name!r}]")  # encode writes every required field
            lines.append(f"    {name}_ = {converted}")
        else:
            assert field_.default in (None, ()), (name, field_.default)  # what encode leaves out
            lines.append(f"    x = get({name!r})")
            lines.append(f"    {name}_ = {field_.default!r} if x is None else {converted}")
        arguments.append(f"{name}_")
    lines.append(f"    return Model({', '.join(arguments)})")
    exec("\n".join(lines), scope)  # noqa: S102 (source made above from the model's field names)
    function: Callable[[dict[str, Any]], Any] = scope["decode_one"]
    _DECODERS[id(shape)] = function
    return function


def _from_json(spec: Field, name: str, scope: dict[str, Any]) -> str:
    """Python source for how ``encode``'s JSON ``x`` for a field becomes its model value."""
    kind = spec.kind
    if kind in (Kind.TEXT, Kind.NOTE, Kind.SLUG, Kind.URL, Kind.TIMEZONE, Kind.INTEGER, Kind.FLAG):
        return "x"
    if kind is Kind.NUMBER:
        return "float(x)"
    if kind is Kind.DATE:
        return "date_of(x)"
    if kind is Kind.TIME:
        return "time_of(x)"  # "HH:MM"
    if kind is Kind.STATUS:
        return "Status(x)"
    if kind in (Kind.TEXTS, Kind.SLUGS):
        return "tuple(x)"
    assert spec.shape is not None, spec
    scope[f"decode_{name}"] = _decoder(spec.shape)
    if kind is Kind.OBJECT:
        return f"decode_{name}(x)"
    assert kind is Kind.LIST, spec
    return f"tuple([decode_{name}(item) for item in x])"


_MODEL_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] | None] = {}


def _model_fields(kind: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] | None:
    """A dataclass's field names and one C call that returns their values (encode runs for every
    race of every build); None for other types."""
    if kind not in _MODEL_FIELDS:
        names = tuple(f.name for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else ()
        _MODEL_FIELDS[kind] = (names, _values_getter(names)) if len(names) > 1 else None
    return _MODEL_FIELDS[kind]


def _values_getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    getter = operator.attrgetter(*names)
    return getter  # with two or more names attrgetter returns a tuple


def snapshot_fields_match_model() -> list[str]:
    """Snapshot keys that are not fields of the model they build (the test suite calls this: a model
    field renamed without its snapshot entry would lose data silently)."""
    wrong = []
    for shape in (SNAPSHOT, SNAPSHOT_SESSION, VENUE, SOURCE, RESULT, ATHLETE):
        assert shape.model is not None
        names = {f.name for f in dataclasses.fields(shape.model)}
        wrong += [f"{shape.name}.{k}" for k in shape.keys if k not in names]
        wrong += [f"{shape.name}: model field {n!r} has no key" for n in names if n not in shape.keys]
    return wrong
