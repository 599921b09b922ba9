"""Reading a template (YAML or JSON text, or an object) and its published JSON Schema: the
shipped examples and the schema's own example are valid, and what render refuses for its shape
the schema refuses too."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
import yaml

from control_plane.deployments.spec import TemplateProblem
from control_plane.deployments.template import MAX_DEPTH, MAX_DOCUMENT_BYTES, SCHEMA, load_document
from tests.control_plane.deployments import TEMPLATES, shipped

VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def test_yaml_and_json_texts_of_one_template_load_the_same() -> None:
    text = (TEMPLATES / "booking-stack.yaml").read_text()
    from_yaml, problems = load_document(text)
    assert problems == []
    from_json, problems = load_document(json.dumps(from_yaml))
    assert problems == []
    assert from_json == from_yaml
    assert load_document(from_yaml) == (from_yaml, [])
    assert from_yaml is not None
    assert set(from_yaml["resources"]) == {"db", "web", "uploads"}


def test_yaml_aliases_are_refused_so_a_billion_laughs_cannot_expand() -> None:
    laughs = 'a: &a ["lol","lol","lol"]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\nresources: {}\n'
    document, problems = load_document(laughs)
    assert document is None
    assert [p.pointer for p in problems] == ["/template"]
    assert "aliases" in problems[0].message
    assert "line 2" in problems[0].message


def test_a_text_over_a_megabyte_is_refused_before_it_is_parsed() -> None:
    text = "description: " + "x" * MAX_DOCUMENT_BYTES + "\nresources: {}\n"
    assert load_document(text) == (None, [TemplateProblem("/template", "a template is at most 1,000,000 bytes")])


@pytest.mark.parametrize(
    "source",
    [
        "resources: {a: " + "[" * 5000 + "]" * 5000 + "}\n",
        '{"resources": {"a": ' + "[" * 50000 + "]" * 50000 + "}}",
        {"resources": {"a": {"options": {"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}},
    ],
    ids=["yaml", "json", "object"],
)
def test_a_template_nested_too_deeply_is_refused_not_a_crash(source: str | dict[str, Any]) -> None:
    assert load_document(source) == (
        None, [TemplateProblem("/template", f"a template is nested at most {MAX_DEPTH} levels deep")]
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("resources: [unclosed\n", "not valid YAML"),
        ('{"resources": }', "not valid JSON: Expecting value at line 1 column 15"),
        ("- a\n- b\n", "a template is a mapping"),
        ("resources: {}\n---\nresources: {}\n", "not valid YAML"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_text_that_is_not_a_template_is_one_problem_at_the_template(text: str | bytes, fragment: str) -> None:
    document, problems = load_document(text)
    assert document is None
    assert len(problems) == 1
    assert problems[0].pointer == "/template"
    assert fragment in problems[0].message


def test_dates_stay_text_and_keys_must_be_text() -> None:
    document, problems = load_document("description: 2026-12-07\nresources: {}\n")
    assert problems == []
    assert document == {"description": "2026-12-07", "resources": {}}
    document, problems = load_document("resources:\n  1: {type: volume}\n")
    assert document is None
    assert [p.pointer for p in problems] == ["/template/resources/1"]


def test_the_schema_is_a_valid_2020_12_schema_and_its_example_is_valid() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for example in SCHEMA["examples"]:
        assert list(VALIDATOR.iter_errors(example)) == []


@pytest.mark.parametrize("name", sorted(p.name for p in TEMPLATES.glob("*.yaml")))
def test_the_shipped_templates_are_valid_against_the_schema(name: str) -> None:
    assert list(VALIDATOR.iter_errors(shipped(name))) == []


def _with(path: str, value: Any) -> dict[str, Any]:
    document = shipped("booking-stack.yaml")
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[key]
    node[last] = value
    return document


@pytest.mark.parametrize(
    "document",
    [
        _with("variables", {}),
        _with("resources.web.count", 3),
        _with("resources.web.type", "lambda"),
        _with("resources.db.retain", "archive"),
        _with("resources.db.tags.tier", 3),
        _with("on_failure", "retry"),
        _with("parameters.env.type", "list"),
        _with("parameters.env.choices", ["a"]),
        _with("resources.Web", {"provider": "sandbox-aws", "type": "volume", "size": "1GB"}),
        {"parameters": {}},
    ],
    ids=[
        "top key",
        "resource key",
        "type",
        "retain",
        "tag value",
        "on_failure",
        "parameter type",
        "parameter key",
        "resource name",
        "no resources",
    ],
)
def test_shapes_render_refuses_are_refused_by_the_schema_too(document: dict[str, Any]) -> None:
    assert list(VALIDATOR.iter_errors(document)) != []


def test_the_schema_documents_every_resource_key_render_accepts() -> None:
    from control_plane.deployments.template import RESOURCE_KEYS, TOP_KEYS

    assert set(SCHEMA["properties"]) == set(TOP_KEYS)
    assert set(SCHEMA["$defs"]["resource"]["properties"]) == set(RESOURCE_KEYS)
    assert yaml.safe_dump(SCHEMA)  # plain data: it can be published as JSON or YAML
    assert json.loads(json.dumps(SCHEMA)) == SCHEMA
