"""Every disaster-recovery endpoint is in the OpenAPI document under its tag, with examples of what
it takes and answers, the key it needs, its errors as problems, and the confirmations a
failover and a restore in place ask for."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_api.app import create_app
from control_api.settings import ApiSettings
from tests.control_api.test_openapi_examples import _has_examples, _operations

OPERATIONS = (
    "create_dr_plan", "list_dr_plans", "get_dr_plan", "replace_dr_plan", "list_dr_plan_backups", "start_dr_backup",
    "start_dr_drill", "start_dr_failover", "start_dr_restore", "get_dr_status", "list_dr_runs", "get_dr_run",
)  # fmt: skip
RUNS = ("start_dr_backup", "start_dr_drill", "start_dr_failover", "start_dr_restore")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("openapi")
    with TestClient(create_app(ApiSettings(home=home, environment="test"))) as client:
        return dict(client.get("/api/openapi.json").json())


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_each_endpoint_documents_examples_its_key_and_its_errors(document: dict[str, Any], operation_id: str) -> None:
    operation = _operations(document)[operation_id]
    if "requestBody" in operation:
        body = operation["requestBody"]["content"]["application/json"]
        assert "examples" in body or _has_examples(body["schema"], document), f"{operation_id}: no request example"
    success = [code for code in operation["responses"] if code.startswith("2")]
    assert len(success) == 1, success
    media = operation["responses"][success[0]]["content"]["application/json"]
    assert _has_examples(media["schema"], document), f"{operation_id}: no response example"
    assert operation.get("security"), f"{operation_id}: no API key required"
    assert {"401", "403", "422"} <= set(operation["responses"])
    for code, response in operation["responses"].items():
        if int(code) >= 400:
            assert "application/problem+json" in response["content"], f"{operation_id}: {code}"
    assert operation["summary"]


def test_the_tag_holds_the_twelve_operations(document: dict[str, Any]) -> None:
    tagged = sorted(k for k, v in _operations(document).items() if v["tags"][0] == "disaster-recovery")
    assert tagged == sorted(OPERATIONS)


@pytest.mark.parametrize("operation_id", RUNS)
def test_a_run_answers_202_with_its_operation_and_run_and_takes_an_idempotency_key(
    document: dict[str, Any], operation_id: str
) -> None:
    operation = _operations(document)[operation_id]
    answer = operation["responses"]["202"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/RunAccepted"}
    assert "run_id" in document["components"]["schemas"]["RunAccepted"]["properties"]
    assert "Idempotency-Key" in [p["name"] for p in operation["parameters"]]
    assert {"404", "409"} <= set(operation["responses"])


def test_failover_and_restore_document_confirm_and_the_admin_role(document: dict[str, Any]) -> None:
    operations = _operations(document)
    schemas = document["components"]["schemas"]
    for operation_id, model in (("start_dr_failover", "FailoverIn"), ("start_dr_restore", "RestoreIn")):
        assert schemas[model]["properties"]["confirm"]["type"] == "boolean"
        assert "/confirm" in operations[operation_id]["responses"]["422"]["description"]
        assert "admin" in operations[operation_id]["responses"]["403"]["description"]
    assert "operator" in schemas["FailoverIn"]["properties"]["dry_run"]["description"]
    reason = schemas["FailoverIn"]["properties"]["reason"]
    assert (reason["minLength"], reason["maxLength"]) == (1, 500)


def test_creating_or_replacing_a_plan_says_an_unapproved_automatic_failover_needs_admin(
    document: dict[str, Any],
) -> None:
    operations = _operations(document)
    for operation_id in ("create_dr_plan", "replace_dr_plan"):
        forbidden = operations[operation_id]["responses"]["403"]["description"]
        assert "require_approval: false" in forbidden, forbidden
        assert "needs admin" in forbidden, forbidden
        assert "admin" in operations[operation_id]["description"]
    rule = document["components"]["schemas"]["AutoFailover"]["properties"]["require_approval"]
    assert "admin role" in rule["description"]


def test_a_plan_is_the_plan_spec_with_its_rpo_positive_and_put_takes_if_match(document: dict[str, Any]) -> None:
    operations = _operations(document)
    body = operations["create_dr_plan"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/PlanSpec"}
    rpo = document["components"]["schemas"]["PlanSpec"]["properties"]["rpo_seconds"]
    assert rpo["exclusiveMinimum"] == 0
    assert "pointer" in operations["create_dr_plan"]["responses"]["422"]["description"]
    assert "If-Match" in [p["name"] for p in operations["replace_dr_plan"]["parameters"]]
    assert "ETag" in operations["get_dr_plan"]["responses"]["200"]["headers"]
    assert "Location" in operations["create_dr_plan"]["responses"]["201"]["headers"]
