"""The JSON Schema editors point their YAML language server at agrees with the shipped plans."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

from conftest import EXAMPLE, REPO, Project

SCHEMAS = {
    name: json.loads((REPO / "schema" / name).read_text()) for name in ("plan.schema.json", "meets.schema.json", "settings.schema.json")
}
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


def test_committed_schemas_are_the_generated_ones() -> None:
    """schema/ is generated from documents.py (`racecal schema`); editing one without the other fails."""
    from racecal.schema import SCHEMAS, rendered

    for name in SCHEMAS:
        assert (REPO / "schema" / name).read_text() == rendered(name), f"schema/{name} is stale: run racecal schema"


def _plan_with(path: str, value: object) -> dict[str, object]:
    plan: dict[str, object] = {
        "athlete": {"name": "A Runner", "slug": "a-runner"},
        "season": 2024,
        "races": [{
            "id": "r", "name": "Race", "date": "2024-06-01", "status": "confirmed", "timezone": "Europe/Oslo",
            "venue": {"name": "Bislett", "lat": 59.9, "lon": 10.7}, "result": {"place": 1, "time": "3:30"},
            "sources": [{"outlet": "NRK", "title": "Title"}],
            "sessions": [{"name": "Final", "date": "2024-06-01", "time": "19:00", "duration_minutes": 10}],
        }],
    }  # fmt: skip
    *parents, last = path.split(".")
    target: object = plan
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]  # type: ignore[index]
    target[last] = value  # type: ignore[index]
    return plan


def _limit_cases() -> list[tuple[str, object, bool]]:
    from racecal.documents import ATHLETE, MAX_DISCIPLINES, PLAN, RACE, RESULT, SESSION, SOURCE, VENUE

    cases: list[tuple[str, object, bool]] = []
    for path, spec in [("season", PLAN.fields["season"]), ("races.0.result.place", RESULT.fields["place"]),
                       ("races.0.venue.lat", VENUE.fields["lat"]), ("races.0.venue.lon", VENUE.fields["lon"]),
                       ("races.0.sessions.0.duration_minutes", SESSION.fields["duration_minutes"])]:  # fmt: skip
        step = 1 if isinstance(spec.low, int) and spec.kind == "integer" else 0.5
        number = int if spec.kind == "integer" else float
        cases += [
            (path, number(spec.low), True),
            (path, number(spec.high), True),
            (path, number(spec.low - step), False),
            (path, number(spec.high + step), False),
        ]
    for path, spec in [("races.0.name", RACE.fields["name"]), ("races.0.note", RACE.fields["note"]),
                       ("races.0.result.time", RESULT.fields["time"]), ("races.0.sources.0.title", SOURCE.fields["title"]),
                       ("athlete.country", ATHLETE.fields["country"]), ("races.0.url", RACE.fields["url"])]:  # fmt: skip
        prefix = "https://example.org/" if spec.kind == "url" else ""
        for length in (spec.text_limit, spec.text_limit + 1):
            cases.append((path, prefix + "x" * (length - len(prefix)), length == spec.text_limit))
    cases += [("races.0.disciplines", ["1500m"] * n, n == MAX_DISCIPLINES) for n in (MAX_DISCIPLINES, MAX_DISCIPLINES + 1)]
    cases += [("athlete.slug", "a" * n, n == 64) for n in (64, 65)]
    return cases


@pytest.mark.parametrize(
    ("path", "value", "allowed"), _limit_cases(), ids=lambda v: v if isinstance(v, str) and len(v) < 40 else repr(v)[:12]
)
def test_schema_and_racecal_agree_at_every_declared_limit(path: str, value: object, allowed: bool) -> None:
    """At each limit and one step past it, the generated schema (judged by jsonschema) and racecal's
    loader give the same verdict: the schema cannot drift from the loader (it once allowed any place)."""
    from racecal.load import parse_plan
    from racecal.yamlsource import SourceFile

    plan = _plan_with(path, value)
    schema_ok = not list(validator("plan.schema.json").iter_errors(plan))
    problems: list[object] = []
    racecal_ok = parse_plan(SourceFile("p.yaml", yaml.safe_dump(plan, allow_unicode=True).encode()), {}, problems) is not None  # type: ignore[arg-type]
    assert (schema_ok, racecal_ok) == (allowed, allowed), problems


def test_schema_command_writes_the_schemas_and_keeps_a_file_it_did_not_write(project: Project) -> None:
    from racecal.schema import rendered

    folder = project.root / "editor"
    folder.mkdir()
    (folder / "meets.schema.json").write_text('{"title": "my own"}\n')
    result = project.run("schema", "editor")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == "editor/meets.schema.json:1:1: file: exists and was not written by racecal; not replaced"
    assert (folder / "meets.schema.json").read_text() == '{"title": "my own"}\n'
    assert (folder / "plan.schema.json").read_text() == rendered("plan.schema.json")
    (folder / "meets.schema.json").unlink()
    assert project.run("schema", "editor").exit_code == 0
    assert (folder / "meets.schema.json").read_text() == rendered("meets.schema.json")
    assert project.run("schema", "missing").exit_code == 2


FEDERATION_SETTINGS = yaml.safe_load((REPO / "examples" / "federation" / "racecal.yaml").read_text())
GROUP = {"id": "team", "name": "Team", "country": "Norway"}


@pytest.mark.parametrize(
    ("settings", "allowed"),
    [
        ({}, True),
        (FEDERATION_SETTINGS, True),
        ({"refresh_hours": 1}, True),
        ({"refresh_hours": 168}, True),
        ({"refresh_hours": 0}, False),
        ({"refresh_hours": 169}, False),
        ({"colours": {"all": "navy"}}, True),
        ({"colours": {"all": "nope"}}, False),
        ({"colours": {"every": "navy"}}, False),
        ({"base_url": "https://example.org/races"}, True),
        ({"base_url": "ftp://example.org/races"}, False),
        ({"base_url": "https://example.org/races?x=1"}, False),
        ({"retired": ["old-runner-2023"]}, True),
        ({"retired": ["Old Runner"]}, False),
        ({"title": "x" * 200}, True),
        ({"title": "x" * 201}, False),
        ({"meet_calendars": True}, True),
        ({"meet_calendars": "maybe"}, False),
        ({"series_calendars": False}, True),
        ({"series_calendars": "no thanks"}, False),
        ({"groups": [GROUP]}, True),
        ({"groups": [{**GROUP, "athletes": ["ada-fjell"], "disciplines": ["10000m"], "timezone": "Europe/Oslo"}]}, True),
        ({"groups": [{"id": "team", "name": "Team"}]}, False),
        ({"groups": [{**GROUP, "id": "Team"}]}, False),
        ({"groups": [{**GROUP, "athletes": ["Ada"]}]}, False),
        ({"groups": [{k: v for k, v in GROUP.items() if k != "name"}]}, False),
        ({"groups": [{**GROUP, "contry": "x"}]}, False),
        ({"grups": [GROUP]}, False),
    ],
    ids=lambda v: json.dumps(v)[:60] if not isinstance(v, bool) else str(v),
)
def test_settings_schema_and_racecal_agree(project: Project, settings: dict[str, object], allowed: bool) -> None:
    """racecal.yaml's schema (generated from documents.SETTINGS) and racecal check give one answer."""
    schema_ok = not list(validator("settings.schema.json").iter_errors(settings))
    (project.root / "racecal.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True))
    racecal_ok = project.run("check").exit_code == 0
    assert (schema_ok, racecal_ok) == (allowed, allowed)
