"""Requests that schemathesis found answering 500 (issue 13): each now answers a 4xx (or a
502/503) problem naming the field or the cause, and leaves nothing half-written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.security import Role
from control_plane.store.models import Operation, Resource
from tests.control_api.conftest import Api
from tests.control_api.test_resources import _provider, _provision, _spec

PROBLEM = "application/problem+json"


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
