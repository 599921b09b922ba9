"""Every deployment endpoint is in the OpenAPI document with examples of what it takes and what it
answers, the role it needs and the errors it documents (a bad template's pointer among them)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_api.app import create_app
from control_api.settings import ApiSettings
from tests.control_api.test_openapi_examples import _has_examples, _operations

DEPLOYMENT_OPERATIONS = (
    "create_deployment", "list_deployments", "get_deployment", "update_deployment", "destroy_deployment",
    "rollback_deployment", "validate_deployment", "get_deployment_status", "get_deployment_logs",
    "get_deployment_template_schema",
)  # fmt: skip
WRITES = ("create_deployment", "update_deployment", "validate_deployment")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("openapi")
    with TestClient(create_app(ApiSettings(home=home, environment="test"))) as client:
        return dict(client.get("/api/openapi.json").json())


@pytest.mark.parametrize("operation_id", DEPLOYMENT_OPERATIONS)
def test_each_deployment_endpoint_documents_examples_errors_and_its_key(
    document: dict[str, Any], operation_id: str
) -> None:
    operation = _operations(document)[operation_id]
    if "requestBody" in operation:
        body = operation["requestBody"]["content"]["application/json"]
        assert "examples" in body or _has_examples(body["schema"], document), f"{operation_id}: no request example"
    for code, response in operation["responses"].items():
        if code.startswith("2"):
            media = response["content"]["application/json"]
            assert "example" in media or _has_examples(media["schema"], document), f"{operation_id}: {code}"
    assert "403" in operation["responses"]
    assert operation.get("security"), f"{operation_id}: no API key required"
    if operation_id != "get_deployment_template_schema":
        assert "422" in operation["responses"], f"{operation_id}: bad input is not documented"


@pytest.mark.parametrize("operation_id", WRITES)
def test_a_write_documents_the_json_pointer_of_each_template_problem(
    document: dict[str, Any], operation_id: str
) -> None:
    operation = _operations(document)[operation_id]
    assert "pointer" in operation["responses"]["422"]["description"]
    problem = document["components"]["schemas"]["Problem"]
    assert "pointer" in problem["properties"]["errors"]["items"]["properties"]


def test_create_and_update_document_both_the_apply_and_the_plan(document: dict[str, Any]) -> None:
    for operation_id in ("create_deployment", "update_deployment"):
        responses = _operations(document)[operation_id]["responses"]
        assert {"200", "202"} <= set(responses)
        assert responses["202"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/DeploymentAccepted"
        }
        assert responses["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PlanAnswer"}


def test_the_deployment_tag_has_the_ten_operations(document: dict[str, Any]) -> None:
    tagged = sorted(k for k, v in _operations(document).items() if v["tags"][0] == "deployments")
    assert tagged == sorted(DEPLOYMENT_OPERATIONS)
