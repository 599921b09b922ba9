"""Every provider, resource and cost endpoint is in the OpenAPI document with examples of what
it takes and what it answers, and with the roles and errors it documents."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_api.app import create_app
from control_api.settings import ApiSettings

PROVIDER_OPERATIONS = (
    "create_provider", "list_providers", "get_provider", "update_provider", "delete_provider",
    "test_provider_connection", "list_provider_regions", "list_provider_services", "sync_provider",
)  # fmt: skip
RESOURCE_OPERATIONS = (
    "provision_resource", "list_resources", "get_resource", "update_resource", "terminate_resource",
    "scale_resource", "start_resource", "stop_resource", "bulk_provision_resources", "resource_metrics",
)  # fmt: skip
COST_OPERATIONS = (
    "get_cost_overview", "get_cost_breakdown", "get_cost_forecast", "list_cost_anomalies",
    "create_budget", "list_budgets", "get_budget", "update_budget", "delete_budget", "list_budget_alerts",
    "list_cost_reports", "create_cost_report", "get_cost_report",
)  # fmt: skip
ALERT_OPERATIONS = (
    "create_alert", "list_alerts", "get_alert", "acknowledge_alert", "create_alert_rule", "list_alert_rules",
    "get_alert_rule", "replace_alert_rule", "delete_alert_rule", "create_silence", "list_silences", "get_silence",
    "expire_silence",
)  # fmt: skip


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("openapi")
    with TestClient(create_app(ApiSettings(home=home, environment="test"))) as client:
        return dict(client.get("/api/openapi.json").json())


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        operation["operationId"]: operation
        for path in document["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


def _has_examples(schema: dict[str, Any], document: dict[str, Any], depth: int = 5) -> bool:
    """Whether the schema, or a schema it refers to (a page's items), carries examples."""
    if depth < 0:
        return False
    if "examples" in schema or "example" in schema:
        return True
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _has_examples(document["components"]["schemas"][name], document, depth - 1)
    children = [*schema.get("properties", {}).values(), schema.get("items", {}), *schema.get("anyOf", [])]
    children += schema.get("oneOf", [])
    return any(isinstance(c, dict) and _has_examples(c, document, depth - 1) for c in children)


@pytest.mark.parametrize("operation_id", PROVIDER_OPERATIONS + RESOURCE_OPERATIONS + COST_OPERATIONS + ALERT_OPERATIONS)
def test_each_endpoint_documents_examples_errors_and_its_role(document: dict[str, Any], operation_id: str) -> None:
    operation = _operations(document)[operation_id]
    if "requestBody" in operation:
        body = operation["requestBody"]["content"]["application/json"]["schema"]
        assert _has_examples(body, document), f"{operation_id}: no request example"
    success = next(code for code in operation["responses"] if code.startswith("2"))
    if success != "204":
        content = operation["responses"][success]["content"]
        media = content.get("application/json") or next(iter(content.values()))  # a report is text/html
        assert "example" in media or _has_examples(media["schema"], document), f"{operation_id}: no response example"
    assert "422" in operation["responses"], f"{operation_id}: bad input is not documented"
    assert operation.get("security"), f"{operation_id}: no API key required"


def test_there_are_nine_provider_and_ten_resource_endpoints(document: dict[str, Any]) -> None:
    operations = _operations(document)
    tags = {op_id: op["tags"][0] for op_id, op in operations.items()}
    assert sorted(k for k, v in tags.items() if v == "providers") == sorted(PROVIDER_OPERATIONS)
    assert sorted(k for k, v in tags.items() if v == "resources") == sorted(RESOURCE_OPERATIONS)
