"""JSON Schemas for editors, generated from ``documents.py``: ``racecal schema DIR`` writes them; a
test fails when the committed ``schema/`` differs from what this generates.

A schema is a convenience for an editor's YAML language server (completion, hover help, red
squiggles while typing); ``racecal check`` stays the authority. The rules a declaration cannot say
are added per shape in ``_RULES`` and are the same rules ``load.py`` enforces.
"""

from __future__ import annotations

import json
from typing import Any

from racecal.documents import CATALOGUE, MAX_DISCIPLINES, MAX_ID, MAX_URL, PLAN, SETTINGS, SHORT_TEXT, Field, Kind, Shape
from racecal.model import Status

BASE_ID = "https://racecal.invalid/schema/"
LANGUAGE_SERVER_HINT = (
    "Point your YAML language server here with a first line '# yaml-language-server: $schema={where}{file}'. "
    "racecal check is the authority: it also checks what a schema cannot (real dates, known meets, DST gaps)."
)
# One line of text: no C0 or C1 control characters (racecal also refuses invisible formatting characters).
_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"
_RULES: dict[str, dict[str, Any]] = {
    "race": {"not": {"required": ["date", "start"]}},
    "meet": {"oneOf": [{"required": ["date"]}, {"required": ["start"]}]},
    "venue": {"anyOf": [{"required": ["name"]}, {"required": ["city"]}], "dependentRequired": {"lat": ["lon"], "lon": ["lat"]}},
    "session": {},
    "group": {"anyOf": [{"required": ["athletes"]}, {"required": ["country"]}, {"required": ["disciplines"]}]},
}
_COMMON_DEFS: dict[str, Any] = {
    "slug": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": MAX_ID},
    "line": {"type": "string", "minLength": 1, "maxLength": SHORT_TEXT, "pattern": _LINE_PATTERN},
    "date": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", "format": "date"},
    "time": {"type": "string", "pattern": "^([01]?[0-9]|2[0-3]):[0-5][0-9]$"},
    "url": {"type": "string", "pattern": "^https?://[^\\s]+$", "maxLength": MAX_URL},
    "timezone": {
        "type": "string",
        "pattern": "^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$",
        "maxLength": MAX_ID,
        "description": "An IANA name such as Europe/Oslo.",
    },
    "status": {"enum": [s.value for s in Status]},
}
SCHEMAS = {"plan.schema.json": PLAN, "meets.schema.json": CATALOGUE, "settings.schema.json": SETTINGS}
_FROM = {
    "plan.schema.json": "../schema/",
    "meets.schema.json": "../../schema/",
    "settings.schema.json": "schema/",
}  # from the files that use them


def json_schema(document: Shape, file_name: str) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    top = _shape(document, defs)
    top.pop("description", None)
    out: dict[str, Any] = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": BASE_ID + file_name,
        "title": document.help,
        "description": LANGUAGE_SERVER_HINT.format(file=file_name, where=_FROM[file_name]),
        **top,
    }
    used = json.dumps(out) + json.dumps(defs)
    common = {name: d for name, d in _COMMON_DEFS.items() if f'"#/$defs/{name}"' in used}
    out["$defs"] = {**common, **dict(sorted(defs.items()))}
    return out


def _shape(shape: Shape, defs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if shape.help:
        out["description"] = shape.help
    if shape.required:
        out["required"] = list(shape.required)
    out["properties"] = {key: _field(spec, defs) for key, spec in shape.fields.items()}
    out.update(_RULES.get(shape.name, {}))
    return out


def _ref(shape: Shape, defs: dict[str, Any]) -> dict[str, Any]:
    if shape.name not in defs:
        defs[shape.name] = {}  # reserved first: shapes may refer to each other
        defs[shape.name] = _shape(shape, defs)
    return {"$ref": f"#/$defs/{shape.name}"}


def _field(spec: Field, defs: dict[str, Any]) -> dict[str, Any]:
    out = _kind(spec, defs)
    if spec.help:
        out = {**out, "description": spec.help}
    return out


def _kind(spec: Field, defs: dict[str, Any]) -> dict[str, Any]:
    kind = spec.kind
    if kind is Kind.TEXT:
        if spec.choices:
            return {"enum": list(spec.choices)}
        if spec.text_limit == SHORT_TEXT:
            return {"$ref": "#/$defs/line"}
        return {"type": "string", "minLength": 1, "maxLength": spec.text_limit, "pattern": _LINE_PATTERN}
    if kind is Kind.NOTE:
        return {"type": "string", "minLength": 1, "maxLength": spec.text_limit}
    if kind is Kind.FLAG:
        return {"type": "boolean"}
    if kind is Kind.SLUGS:
        return {"type": "array", "maxItems": spec.limit, "items": {"$ref": "#/$defs/slug"}}
    if kind is Kind.URL and spec.limit:
        return {"type": "string", "pattern": "^https?://[^\\s?#]+$", "maxLength": spec.limit}
    simple = {Kind.SLUG: "slug", Kind.URL: "url", Kind.DATE: "date", Kind.TIME: "time", Kind.TIMEZONE: "timezone", Kind.STATUS: "status"}
    if kind in simple:
        return {"$ref": f"#/$defs/{simple[kind]}"}
    if kind in (Kind.INTEGER, Kind.NUMBER):
        number = int if kind is Kind.INTEGER else float
        return {"type": "integer" if kind is Kind.INTEGER else "number", "minimum": number(spec.low), "maximum": number(spec.high)}
    if kind is Kind.TEXTS:
        return {"oneOf": [{"$ref": "#/$defs/line"}, {"type": "array", "maxItems": MAX_DISCIPLINES, "items": {"$ref": "#/$defs/line"}}]}
    assert spec.shape is not None
    if kind is Kind.OBJECT:
        return _ref(spec.shape, defs)
    if kind is Kind.LIST:
        return {"type": "array", "maxItems": spec.limit, "items": _ref(spec.shape, defs)}
    if kind is Kind.MAP:
        return {"type": "object", "propertyNames": {"$ref": "#/$defs/slug"}, "additionalProperties": _ref(spec.shape, defs)}
    if kind is Kind.SOURCES:
        return {"type": "array", "maxItems": spec.limit, "items": {"oneOf": [{"$ref": "#/$defs/slug"}, _ref(spec.shape, defs)]}}
    raise AssertionError(kind)


def rendered(file_name: str) -> str:
    """The committed text of one schema file."""
    return json.dumps(json_schema(SCHEMAS[file_name], file_name), indent=2, ensure_ascii=False) + "\n"


def is_generated(data: bytes) -> bool:
    """Whether a file is a schema this module wrote (one an editor wrote by hand is not replaced)."""
    try:
        value = json.loads(data)
    except ValueError:
        return False
    return isinstance(value, dict) and str(value.get("$id", "")).startswith(BASE_ID)
