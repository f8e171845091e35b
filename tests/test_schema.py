"""The JSON Schema editors point their YAML language server at agrees with the shipped plans."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from conftest import EXAMPLE, REPO

SCHEMAS = {name: json.loads((REPO / "schema" / name).read_text()) for name in ("plan.schema.json", "meets.schema.json")}
REGISTRY = Registry().with_resources(
    [(s["$id"], Resource.from_contents(s)) for s in SCHEMAS.values()] + [(n, Resource.from_contents(s)) for n, s in SCHEMAS.items()]
)


def as_json_types(path: Path) -> object:
    # YAML dates become strings, as an editor's language server sees them.
    return json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = SCHEMAS[name]
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, registry=REGISTRY)


@pytest.mark.parametrize("path", sorted(EXAMPLE.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_plans_validate(path: Path) -> None:
    assert list(validator("plan.schema.json").iter_errors(as_json_types(path))) == []


@pytest.mark.parametrize("path", sorted((EXAMPLE / "meets").glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_catalogue_validates(path: Path) -> None:
    assert list(validator("meets.schema.json").iter_errors(as_json_types(path))) == []


def test_schema_rejects_what_racecal_rejects() -> None:
    plan = as_json_types(EXAMPLE / "jakob-ingebrigtsen-2024.yaml")
    assert isinstance(plan, dict)
    plan["races"][0]["status"] = "confimred"
    plan["races"][1]["sesions"] = []
    messages = sorted(e.message for e in validator("plan.schema.json").iter_errors(plan))
    assert messages == [
        "'confimred' is not one of ['confirmed', 'tentative', 'withdrawn', 'cancelled']",
        "Additional properties are not allowed ('sesions' was unexpected)",
    ]
