"""Requests that schemathesis found answering 500 (issue 13): each now answers a 4xx (or a
502/503) problem naming the field or the cause, and leaves nothing half-written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.audit import MAX_DEPTH, REDACTED, TOO_DEEP, redact
from control_plane.pagination import encode_cursor
from control_plane.security import Role
from control_plane.store.models import Operation, Resource
from tests.analytics.test_report_data import build_snapshot
from tests.control_api.conftest import Api
from tests.control_api.test_resources import _provider, _provision, _spec
from wedcloud import snapshots

PROBLEM = "application/problem+json"


def publish_snapshot(home: Path) -> None:
    """A serving snapshot of the report tests' costs, forecasts and anomalies."""

    def build(path: Path) -> dict[str, Any]:
        build_snapshot(path)
        return {"data_through": "2026-11-23"}

    snapshots.publish(home / "serving", build)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return dict(response.json())


def _fields(problem: dict[str, Any]) -> list[str]:
    return [error["field"] for error in problem.get("errors", [])]


def _count(api: Api, model: Any) -> int:
    with Session(api.engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.parametrize("bulk", [False, True], ids=["provision", "bulk-provision"])
def test_a_network_resource_is_refused_with_a_422_naming_type(api: Api, bulk: bool) -> None:
    spec = _spec(_provider(api), type="network")
    url, body = ("/api/cloud/resources/bulk-provision", {"specs": [spec]}) if bulk else ("/api/cloud/resources", spec)
    problem = _problem(api.client.post(url, json=body, headers=api.headers(Role.OPERATOR)), 422)
    assert _fields(problem) == ["specs.0.type" if bulk else "type"]
    assert (_count(api, Operation), _count(api, Resource)) == (0, 0)


def test_metrics_over_less_than_an_hour_answer_an_empty_series(api: Api) -> None:
    made = _provision(api, _provider(api))
    window = {"start": "2026-02-20T10:01:00Z", "end": "2026-02-20T10:59:00Z", "step": "5m"}
    response = api.client.get(
        f"/api/cloud/resources/{made['id']}/metrics", params=window, headers=api.headers(Role.VIEWER)
    )
    assert response.status_code == 200, response.text
    assert (response.json()["series"], response.json()["start"]) == ({}, "2026-02-20T10:01:00Z")


def test_a_google_provider_without_credentials_answers_502_naming_them_and_writes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))
    monkeypatch.setattr("google.auth.compute_engine._metadata._NO_GCE_CHECK", True)
    body = {"kind": "gcp", "name": "wedsync-gcp", "project_id": "wedsync-prod", "default_region": "europe-west2"}
    created = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert created.status_code == 201, created.text  # the schema allows it: Application Default Credentials
    url = f"/api/cloud/providers/{created.json()['id']}"
    spec = _spec(created.json()["id"], size="e2-small", region="europe-west2")
    operator = api.headers(Role.OPERATOR)
    for response in (
        api.client.get(f"{url}/regions", headers=operator),
        api.client.get(f"{url}/services", headers=operator),
        api.client.post(f"{url}/test-connection", headers=operator),
        api.client.post(f"{url}/sync", headers=operator),
        api.client.post("/api/cloud/resources", json=spec, headers=operator),
    ):
        assert "no Google Application Default Credentials" in _problem(response, 502)["detail"]
    assert (_count(api, Operation), _count(api, Resource)) == (0, 0)


def test_the_schemas_own_azure_example_registers_a_provider(api: Api) -> None:
    schemas = api.client.get("/api/openapi.json").json()["components"]["schemas"]
    example = schemas["AzureProviderCreate"]["examples"][0]
    assert example["credentials"]["tenant_id"]  # the example has a service principal with UUIDs
    response = api.client.post("/api/cloud/providers", json=example, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    assert response.json()["kind"] == "azure"


def test_a_cost_above_beyond_moneys_range_is_a_422_naming_it(api: Api) -> None:
    response = api.client.get("/api/cloud/resources?cost_above=1e22", headers=api.headers(Role.VIEWER))
    assert _fields(_problem(response, 422)) == ["cost_above"]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("resources?sort=hourly_cost", "sNaN"),
        ("resources?sort=-hourly_cost", "1e22"),
        ("resources?sort=created_at", "2026-01-01T00:00:00"),  # no time zone
        ("operations", "0001-01-01T00:00:00+01:00"),  # before year 1 in UTC
        ("providers", "2026-01-01T00:00:00"),
        ("costs/budgets", "9999-12-31T23:59:59-01:00"),
    ],
)
def test_a_cursor_the_store_cannot_compare_is_a_422(api: Api, path: str, key: str) -> None:
    cursor = encode_cursor(key, "8c9e7f1e-2d7f-4a0e-9b8f-0d7f0c0c0c0c")
    separator = "&" if "?" in path else "?"
    response = api.client.get(f"/api/cloud/{path}{separator}cursor={cursor}", headers=api.headers(Role.VIEWER))
    assert "cursor" in _problem(response, 422)["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("get", "costs/overview?as_of=0001-01-01", None, "as_of"),
        ("get", "costs/breakdown?start=0001-01-01&end=0001-01-31", None, "start"),
        ("post", "costs/reports", {"period": "monthly", "start": "9999-12-01"}, "start"),
        ("post", "costs/reports", {"start": "9999-12-01", "end": "9999-12-31"}, "start"),
        ("get", "costs/anomalies?cursor=²", None, "cursor"),
        ("get", f"costs/anomalies?cursor={'9' * 5000}", None, "cursor"),
    ],
)
def test_days_beyond_the_calendar_and_cursors_not_issued_are_422s_naming_them(
    api: Api, method: str, path: str, body: Any, field: str
) -> None:
    publish_snapshot(api.home)
    response = api.client.request(method, f"/api/cloud/{path}", json=body, headers=api.headers(Role.OPERATOR))
    assert field in _fields(_problem(response, 422))


def test_metrics_at_the_ends_of_the_calendar_are_a_422_naming_the_time(api: Api) -> None:
    made = _provision(api, _provider(api))
    response = api.client.get(
        f"/api/cloud/resources/{made['id']}/metrics?end=0001-01-01T00:00:00Z", headers=api.headers(Role.VIEWER)
    )
    assert _fields(_problem(response, 422)) == ["end"]


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_options_nested_800_deep_are_a_422_naming_options_and_write_nothing(api: Api) -> None:
    spec = _spec(_provider(api), options=_nested(800))
    response = api.client.post("/api/cloud/resources", json=spec, headers=api.headers(Role.OPERATOR))
    assert _fields(_problem(response, 422)) == ["options"]
    assert (_count(api, Operation), _count(api, Resource)) == (0, 0)


def test_redacting_a_value_of_any_depth_keeps_the_top_and_cuts_the_rest() -> None:
    redacted = redact({"password": "x", "deep": _nested(5000)})
    assert redacted["password"] == REDACTED
    inner = redacted["deep"]
    for _ in range(MAX_DEPTH - 1):
        inner = inner["a"]
    assert inner == TOO_DEEP


@pytest.mark.parametrize("url", ["https://" + "a" * 2075, "https://hooks.example.com/" + "é" * 2057])
def test_a_webhook_url_longer_once_normalised_is_a_422_and_no_budget(api: Api, url: str) -> None:
    assert len(url) == 2083
    body = {"name": "long hook", "amount": "10", "currency": "USD", "targets": [{"type": "webhook", "url": url}]}
    response = api.client.post("/api/cloud/costs/budgets", json=body, headers=api.headers(Role.OPERATOR))
    assert _fields(_problem(response, 422)) == ["targets.0.webhook.url"]
    assert api.client.get("/api/cloud/costs/budgets", headers=api.headers(Role.VIEWER)).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "allowed"), [("resources", "GET, POST"), ("costs/budgets", "GET, POST"), ("costs/reports", "GET, POST")]
)
def test_a_405_names_every_method_the_path_allows(api: Api, path: str, allowed: str) -> None:
    response = api.client.request("PATCH", f"/api/cloud/{path}", headers=api.headers(Role.VIEWER))
    _problem(response, 405)
    assert response.headers["allow"] == allowed


def test_openapi_documents_errors_as_problems_with_the_gates_statuses(api: Api) -> None:
    spec = api.client.get("/api/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            errors = {code: r for code, r in operation["responses"].items() if int(code) >= 400}
            for response in errors.values():
                assert response["content"] == {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
            if path.startswith("/api/cloud/"):
                assert {"401", "403", "413", "429"} <= errors.keys(), (method, path)
    bulk = spec["paths"]["/api/cloud/resources/bulk-provision"]["post"]["responses"]
    assert {"400", "404", "422"} <= bulk.keys()


def test_openapi_states_the_constraints_the_server_checks(api: Api) -> None:
    spec = api.client.get("/api/openapi.json").json()

    def parameter(path: str, name: str) -> dict[str, Any]:
        found = next(p for p in spec["paths"][path]["get"]["parameters"] if p["name"] == name)
        schema = found["schema"]
        branch = next((s for s in schema.get("anyOf", []) if s.get("type") != "null"), {})
        return {**branch, **schema}

    top = parameter("/api/cloud/costs/breakdown", "top")
    assert (top["minimum"], top["maximum"]) == (1, 100)
    currency = parameter("/api/cloud/costs/breakdown", "currency")
    assert "USD" in currency["enum"]
    assert "XXY" not in currency["enum"]
    assert {"-hourly_cost", "name"} <= set(parameter("/api/cloud/resources", "sort")["enum"])
    assert parameter("/api/cloud/resources", "tag")["pattern"] == "^[^=]+(=.*)?$"
    assert parameter("/api/cloud/costs/breakdown", "tag")["items"]["pattern"] == "^[^=]+="
    budget = spec["components"]["schemas"]["BudgetCreate"]["properties"]
    assert budget["amount"]["pattern"] == r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
    assert "EUR" in budget["currency"]["enum"]


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_bulk_provision_answers_other_methods_with_405_allowing_post(api: Api, method: str) -> None:
    response = api.client.request(method, "/api/cloud/resources/bulk-provision", headers=api.headers(Role.VIEWER))
    _problem(response, 405)
    assert response.headers["allow"] == "POST"
