"""What the disaster-recovery API tests share: the booking stack deployed on the sandbox through
the API, a plan's body protecting it, the runs' operations polled to their end, and the rows
the store holds (to prove a refused request wrote nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.security import Role
from control_plane.store.models import Operation
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan, RecoveryRun, RecoveryStep
from tests.control_api.conftest import Api
from tests.control_api.test_deployments_api import create, finished, sandbox

URL = "/api/cloud/disaster-recovery"
PROBLEM = "application/problem+json"
PRIMARY, STANDBY = "eu-west-2", "eu-west-1"
ROUTING = {"zone": "wedsync", "name": "api.wedsync.example.", "type": "A", "ttl": 60,
           "targets": {PRIMARY: "203.0.113.10", STANDBY: "198.51.100.20"}}  # fmt: skip


@dataclass
class Stack:
    """The booking stack (a database tagged app=booking, a web scale group, a bucket) in eu-west-2
    of the sandbox's AWS-like cloud, deployed through the API."""

    api: Api
    provider_id: str
    deployment_id: str

    def plan_body(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": "booking",
            "primary_provider_id": self.provider_id,
            "primary_region": PRIMARY,
            "dr_targets": [{"region": STANDBY}],
            "protected": {"deployment_id": self.deployment_id},
            "rto_seconds": 3600,
            "rpo_seconds": 4 * 3600,
            "routing": ROUTING,
        }
        body.update(changes)
        return body

    def plan(self, **changes: Any) -> dict[str, Any]:
        response = self.post("/plans", self.plan_body(**changes), Role.OPERATOR)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def post(self, path: str, body: dict[str, Any], role: Role, **headers: str) -> Any:
        return self.api.client.post(f"{URL}{path}", json=body, headers={**self.api.headers(role), **headers})

    def get(self, path: str, role: Role = Role.VIEWER, **params: Any) -> Any:
        return self.api.client.get(f"{URL}{path}", params=params, headers=self.api.headers(role))

    def read(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def run(self, path: str, body: dict[str, Any], role: Role = Role.OPERATOR) -> dict[str, Any]:
        """Start a run, poll its operation to its end, and answer the run as GET /runs/{id} shows it."""
        response = self.post(path, body, role)
        operation = finished(self.api, response)
        assert operation["status"] == "succeeded", operation
        return self.read(f"/runs/{response.json()['run_id']}")

    def backed_up(self, plan_id: str) -> dict[str, Any]:
        run = self.run("/backup", {"plan_id": plan_id})
        assert run["status"] == "succeeded", run
        return run


def booking_stack(api: Api) -> Stack:
    provider_id = sandbox(api)
    deployment_id, _ = create(api)
    return Stack(api, provider_id, deployment_id)


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return dict(response.json())


def pointers(response: Any, status: int = 422) -> set[str]:
    """The JSON pointers a problem's `errors` name (each also carries its `field`)."""
    errors = problem(response, status).get("errors") or []
    for error in errors:
        assert error["location"] == "body", error
        assert error["field"] == (error["pointer"][1:].replace("/", ".") or None), error
    return {error["pointer"] for error in errors}


def rows(api: Api) -> dict[str, int]:
    """How many plans, runs, steps, backups and operations the store holds."""
    with Session(api.engine) as session:
        return {
            table.__name__: session.scalar(select(func.count()).select_from(table)) or 0
            for table in (RecoveryPlan, RecoveryRun, RecoveryStep, RecoveryBackup, Operation)
        }
