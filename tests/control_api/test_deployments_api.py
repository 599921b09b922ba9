"""The deployment endpoints that change clouds, on SQLite and PostgreSQL, applying to the sandbox:
create (and its plan only), a change, a rollback and a destroy, each an operation to poll; bad
templates answer 422 with a JSON pointer per problem; every endpoint refuses the wrong role."""

from __future__ import annotations

import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clouds.sandbox.world import build_world, save_world
from control_plane.security import Role
from control_plane.store.deployment_models import Deployment, DeploymentVersion
from control_plane.store.models import Operation, Resource
from tests.control_api.conftest import Api

URL = "/api/cloud/deployments"
PROBLEM = "application/problem+json"


def sandbox(api: Api) -> str:
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    body = {"kind": "sandbox", "name": "sandbox-aws", "flavour": "aws"}
    response = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def booking(*, bucket: bool = True) -> dict[str, Any]:
    """The booking stack on the sandbox: a database, a web tier as a scale group, a bucket."""
    resources: dict[str, Any] = {
        "db": {"provider": "sandbox-aws", "type": "database", "region": "eu-west-2", "size": "db.m5.large",
               "tags": {"env": "${parameters.env}", "app": "booking"}},
        "web": {"provider": "sandbox-aws", "type": "instance_group", "region": "eu-west-2",
                "size": "${parameters.web_size}", "depends_on": ["db"], "options": {"min": 1, "max": 4},
                "tags": {"db": "${resources.db.id}"}},
    }  # fmt: skip
    if bucket:
        resources["files"] = {"provider": "sandbox-aws", "type": "bucket", "region": "eu-west-2", "size": "0GB"}
    return {
        "parameters": {
            "env": {"type": "string", "default": "prod", "allowed": ["prod", "staging", "dev"]},
            "web_size": {"type": "string", "default": "t3.medium"},
        },
        "resources": resources,
        "outputs": {"db_id": "${resources.db.id}"},
    }


def finished(api: Api, response: Any, timeout: float = 60.0) -> dict[str, Any]:
    """The operation a 202 answered with, polled until it ends."""
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/cloud/operations/{response.json()['id']}"
    deadline = time.monotonic() + timeout
    while True:
        operation = dict(api.client.get(response.headers["location"], headers=api.headers(Role.VIEWER)).json())
        if operation["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return operation
        time.sleep(0.1)


def create(api: Api, name: str = "booking", **parameters: Any) -> tuple[str, dict[str, Any]]:
    body = {"name": name, "template": booking(), "parameters": parameters}
    response = api.client.post(URL, json=body, headers=api.headers(Role.OPERATOR))
    operation = finished(api, response)
    assert operation["status"] == "succeeded", operation
    return str(response.json()["deployment_id"]), response.json()


def detail(api: Api, deployment_id: str) -> dict[str, Any]:
    response = api.client.get(f"{URL}/{deployment_id}", headers=api.headers(Role.VIEWER))
    assert response.status_code == 200, response.text
    return dict(response.json())


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return dict(response.json())


def _counts(api: Api) -> tuple[int, int, int]:
    with Session(api.engine) as session:
        return (
            session.scalar(select(func.count()).select_from(Deployment)) or 0,
            session.scalar(select(func.count()).select_from(DeploymentVersion)) or 0,
            session.scalar(select(func.count()).select_from(Resource)) or 0,
        )


def _operations(api: Api) -> int:
    with Session(api.engine) as session:
        return session.scalar(select(func.count()).select_from(Operation)) or 0


# -- create, read back, list ---------------------------------------------------------------------
def test_a_created_deployment_applies_on_the_sandbox_and_reads_back_with_cloud_ids_and_outputs(api: Api) -> None:
    sandbox(api)
    deployment_id, answer = create(api, env="staging")
    assert answer["version"] == 1
    assert answer["kind"] == "deployment"
    assert answer["plan"]["summary"]["create"] == 3
    assert next(s["name"] for s in answer["plan"]["steps"]) == "db"  # dependencies first
    shown = detail(api, deployment_id)
    assert (shown["status"], shown["current_version"], shown["environment"]) == ("deployed", 1, "staging")
    resources = {r["name"]: r for r in shown["resources"]}
    assert set(resources) == {"db", "web", "files"}
    for resource in resources.values():
        assert resource["cloud_id"], resource
        assert resource["resource_id"], resource
        assert resource["provider"]["name"] == "sandbox-aws"
    assert resources["web"]["size"] == "t3.medium"
    assert resources["db"]["tags"]["env"] == "staging"
    assert shown["outputs"] == {"db_id": resources["db"]["cloud_id"]}
    assert shown["version"]["parameters"]["env"] == "staging"
    assert resources["db"]["monthly_estimate"]["currency"] == "USD"
    listed = api.client.get(URL, params={"environment": "staging"}, headers=api.headers(Role.VIEWER)).json()
    assert [d["id"] for d in listed["items"]] == [deployment_id]
    status = api.client.get(f"{URL}/{deployment_id}/status", headers=api.headers(Role.VIEWER)).json()
    assert status["progress"] == {"done": 3, "total": 3}
    assert {s["status"] for s in status["steps"]} == {"done"}
    logs = api.client.get(f"{URL}/{deployment_id}/logs", headers=api.headers(Role.VIEWER)).json()["items"]
    assert logs
    assert {line["version"] for line in logs} == {1}
    assert [line["id"] for line in logs] == sorted(line["id"] for line in logs)


def test_the_shipped_booking_stack_deploys_from_its_yaml_text_and_destroys_with_a_snapshot_first(api: Api) -> None:
    sandbox(api)
    text = (Path(__file__).parents[2] / "docs" / "templates" / "booking-stack.yaml").read_text()
    response = api.client.post(URL, json={"name": "wedding", "template": text, "parameters": {"env": "staging"}},
                               headers=api.headers(Role.OPERATOR))  # fmt: skip
    assert finished(api, response)["status"] == "succeeded"
    deployment_id = response.json()["deployment_id"]
    shown = detail(api, deployment_id)
    assert {r["name"] for r in shown["resources"]} == {"db", "web", "uploads"}
    assert shown["outputs"]
    assert all(value for value in shown["outputs"].values())
    gone = api.client.delete(f"{URL}/{deployment_id}", headers=api.headers(Role.ADMIN))
    assert finished(api, gone)["status"] == "succeeded"
    logs = api.client.get(f"{URL}/{deployment_id}/logs", params={"step": "db"}, headers=api.headers(Role.VIEWER))
    assert any("snapshot" in line["message"] for line in logs.json()["items"]), logs.json()


def test_plan_only_answers_the_priced_plan_and_writes_nothing(api: Api) -> None:
    sandbox(api)
    before = _counts(api)
    body = {"name": "booking", "template": booking(), "parameters": {}}
    response = api.client.post(URL, params={"plan_only": "true"}, json=body, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["plan_only"] is True
    assert answer["deployment_id"] is None
    assert answer["plan"]["summary"]["create"] == 3
    assert answer["plan"]["monthly_estimate"]["currency"] == "USD"
    assert _counts(api) == before


def test_a_retry_with_the_same_idempotency_key_is_the_same_apply(api: Api) -> None:
    sandbox(api)
    headers = {**api.headers(Role.OPERATOR), "Idempotency-Key": "booking-1"}
    body = {"name": "booking", "template": booking(), "parameters": {}}
    first = api.client.post(URL, json=body, headers=headers)
    finished(api, first)
    again = api.client.post(URL, json=body, headers=headers)
    assert again.status_code == 202, again.text
    assert (again.json()["id"], again.json()["deployment_id"]) == (first.json()["id"], first.json()["deployment_id"])
    other = api.client.post(URL, json={**body, "parameters": {"env": "dev"}}, headers=headers)
    assert "different request" in problem(other, 422)["detail"]
    with Session(api.engine) as session:
        assert session.scalar(select(func.count()).select_from(Deployment)) == 1


# -- change, roll back, destroy ------------------------------------------------------------------
def test_a_larger_size_without_the_bucket_plans_one_update_and_one_delete_and_rollback_returns(api: Api) -> None:
    sandbox(api)
    deployment_id, _ = create(api)
    path = f"{URL}/{deployment_id}"
    change = {"template": booking(bucket=False), "parameters": {"web_size": "t3.large"}}
    planned = api.client.put(path, params={"plan_only": "true"}, json=change, headers=api.headers(Role.OPERATOR))
    assert planned.status_code == 200, planned.text
    summary = planned.json()["plan"]["summary"]
    assert (summary["create"], summary["update"], summary["replace"], summary["delete"]) == (0, 1, 0, 1)
    assert detail(api, deployment_id)["latest_version"] == 1  # the plan wrote nothing
    response = api.client.put(path, json=change, headers=api.headers(Role.OPERATOR))
    assert finished(api, response)["status"] == "succeeded"
    assert response.json()["version"] == 2
    changed = detail(api, deployment_id)
    assert {r["name"]: r["size"] for r in changed["resources"]} == {"db": "db.m5.large", "web": "t3.large"}
    assert changed["current_version"] == 2
    back = api.client.post(f"{path}/rollback", json={"version": 1}, headers=api.headers(Role.OPERATOR))
    assert finished(api, back)["status"] == "succeeded"
    restored = detail(api, deployment_id)
    assert {r["name"]: r["size"] for r in restored["resources"]}["web"] == "t3.medium"
    assert {r["name"] for r in restored["resources"]} == {"db", "web", "files"}
    assert restored["current_version"] == 3
    assert restored["versions"][0]["kind"] == "rollback"
    assert restored["versions"][0]["rollback_of"] == 1


def test_a_rollback_without_a_version_returns_to_the_one_before_and_an_unknown_version_is_404(api: Api) -> None:
    sandbox(api)
    deployment_id, _ = create(api)
    path = f"{URL}/{deployment_id}"
    change = api.client.put(path, json={"parameters": {"web_size": "t3.large"}}, headers=api.headers(Role.OPERATOR))
    assert finished(api, change)["status"] == "succeeded"
    back = api.client.post(f"{path}/rollback", headers=api.headers(Role.OPERATOR))
    assert finished(api, back)["status"] == "succeeded"
    assert back.json()["plan"]["summary"]["update"] == 1
    assert {r["name"]: r["size"] for r in detail(api, deployment_id)["resources"]}["web"] == "t3.medium"
    missing = problem(api.client.post(f"{path}/rollback", json={"version": 9}, headers=api.headers(Role.OPERATOR)), 404)
    assert [e["pointer"] for e in missing["errors"]] == ["/version"]


def test_destroying_a_deployment_with_a_protected_resource_is_refused_and_changes_nothing(api: Api) -> None:
    sandbox(api)
    template = booking()
    template["resources"]["db"]["protected"] = True
    response = api.client.post(URL, json={"name": "booking", "template": template}, headers=api.headers(Role.OPERATOR))
    assert finished(api, response)["status"] == "succeeded"
    deployment_id = response.json()["deployment_id"]
    refused = problem(api.client.delete(f"{URL}/{deployment_id}", headers=api.headers(Role.ADMIN)), 409)
    assert "protected" in refused["detail"]
    shown = detail(api, deployment_id)
    assert (shown["status"], shown["latest_version"]) == ("deployed", 1)
    assert {r["state"] for r in shown["resources"]} <= {"running", "available"}


def test_each_change_is_audited_against_its_deployment(api: Api) -> None:
    sandbox(api)
    deployment_id, answer = create(api)
    (entry,) = [e for e in api.audit() if e.target == f"deployment:{deployment_id}" and e.method == "POST"]
    assert (entry.path, entry.status_code, entry.role) == (URL, 202, "operator")
    assert entry.actor.startswith("key:test-operator:")
    assert entry.detail["operation"] == answer["id"]
    assert entry.detail["version"] == 1


def test_a_change_that_changes_nothing_starts_nothing(api: Api) -> None:
    sandbox(api)
    deployment_id, _ = create(api)
    response = api.client.put(f"{URL}/{deployment_id}", json={"parameters": {}}, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 200, response.text
    assert response.json()["plan_only"] is False
    assert response.json()["plan"]["steps"] == []


def test_destroy_needs_admin_and_terminates_every_resource(api: Api) -> None:
    sandbox(api)
    deployment_id, _ = create(api)
    path = f"{URL}/{deployment_id}"
    made = [uuid.UUID(r["resource_id"]) for r in detail(api, deployment_id)["resources"]]
    problem(api.client.delete(path, headers=api.headers(Role.OPERATOR)), 403)
    response = api.client.delete(path, headers=api.headers(Role.ADMIN))
    assert finished(api, response)["status"] == "succeeded"
    order = [s["name"] for s in response.json()["plan"]["steps"]]
    assert order.index("web") < order.index("db")  # reverse dependency order
    assert detail(api, deployment_id)["status"] == "destroyed"
    with Session(api.engine) as session:
        states = list(session.scalars(select(Resource.state).where(Resource.id.in_(made))))
    assert states == ["terminated"] * 3


def test_a_second_change_while_one_applies_is_a_conflict(api: Api) -> None:
    sandbox(api)
    deployment_id, _ = create(api)
    with Session(api.engine) as session, session.begin():
        row = session.get(Deployment, uuid.UUID(deployment_id))
        assert row is not None
        row.status = "applying"
    change = {"parameters": {"web_size": "t3.large"}}
    problem(api.client.put(f"{URL}/{deployment_id}", json=change, headers=api.headers(Role.OPERATOR)), 409)


# -- bad templates: 422 with a JSON pointer per problem -------------------------------------------
def _unknown_type() -> dict[str, Any]:
    template = booking()
    template["resources"]["db"]["type"] = "quantum"
    return template


def _missing_reference() -> dict[str, Any]:
    template = booking()
    template["resources"]["web"]["tags"]["cache"] = "${resources.cache.id}"
    return template


def _cycle() -> dict[str, Any]:
    template = booking()
    template["resources"]["db"]["depends_on"] = ["web"]
    return template


# (template, parameters, the pointers its problems are at or under)
BAD = {
    "unknown type": (_unknown_type, {}, ["/template/resources/db/type"]),
    "missing reference": (_missing_reference, {}, ["/template/resources/web/tags/cache"]),
    "cycle": (_cycle, {}, ["/template/resources/db", "/template/resources/web"]),
    "bad parameter": (booking, {"env": "moon"}, ["/parameters/env"]),
}


def _send(api: Api, endpoint: str, template: dict[str, Any], parameters: dict[str, Any]) -> Any:
    headers = api.headers(Role.OPERATOR)
    if endpoint == "validate":
        return api.client.post(
            f"{URL}/validate", json={"template": template, "parameters": parameters}, headers=headers
        )
    if endpoint == "create":
        body = {"name": "broken", "template": template, "parameters": parameters}
        return api.client.post(URL, json=body, headers=headers)
    deployment_id, _ = create(api)
    return api.client.put(f"{URL}/{deployment_id}", json={"template": template, "parameters": parameters},
                          headers=headers)  # fmt: skip


@pytest.mark.parametrize("endpoint", ["validate", "create", "update"])
@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_template_answers_422_with_each_problem_at_its_json_pointer(api: Api, endpoint: str, case: str) -> None:
    sandbox(api)
    make, parameters, pointers = BAD[case]
    response = _send(api, endpoint, make(), parameters)
    errors = problem(response, 422)["errors"]
    assert errors, response.text
    for error in errors:
        assert error["pointer"].startswith(("/template", "/parameters")), error
        assert error["location"] == "body"
        assert error["message"]
    assert any(error["pointer"].startswith(tuple(pointers)) for error in errors), (case, errors)
    with Session(api.engine) as session:
        names = set(session.scalars(select(Deployment.name)))
        assert "broken" not in names
        assert session.scalar(select(func.count()).select_from(Deployment)) == (1 if endpoint == "update" else 0)


def test_every_problem_of_a_template_is_listed_not_only_the_first(api: Api) -> None:
    sandbox(api)
    template = booking()
    template["resources"]["db"]["type"] = "quantum"
    template["resources"]["files"]["type"] = "tape"
    errors = problem(api.client.post(f"{URL}/validate", json={"template": template},
                                     headers=api.headers(Role.OPERATOR)), 422)["errors"]  # fmt: skip
    assert {"/template/resources/db/type", "/template/resources/files/type"} <= {e["pointer"] for e in errors}


def test_a_yaml_template_with_a_syntax_error_points_at_the_template(api: Api) -> None:
    sandbox(api)
    body = {"template": "resources: [unclosed", "parameters": {}}
    errors = problem(api.client.post(f"{URL}/validate", json=body, headers=api.headers(Role.OPERATOR)), 422)["errors"]
    assert [e["pointer"] for e in errors] == ["/template"]


def test_a_body_that_is_not_a_template_is_refused_at_its_pointer(api: Api) -> None:
    response = api.client.post(URL, json={"name": "x", "template": 5}, headers=api.headers(Role.OPERATOR))
    assert [(e["field"], e["pointer"]) for e in problem(response, 422)["errors"]] == [("template", "/template")]
    empty = api.client.put(f"{URL}/{uuid.uuid4()}", json={}, headers=api.headers(Role.OPERATOR))
    assert problem(empty, 422)["errors"][0]["location"] == "body"


# -- validate --------------------------------------------------------------------------------------
def test_validate_prices_each_resource_and_given_a_deployment_answers_the_diff_without_writing(api: Api) -> None:
    sandbox(api)
    deployment_id, _ = create(api)
    before = _counts(api), _operations(api)
    body = {"template": booking(bucket=False), "parameters": {"web_size": "t3.large"}, "deployment_id": deployment_id}
    response = api.client.post(f"{URL}/validate", json=body, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["valid"] is True
    prices = {r["name"]: r for r in answer["resources"]}
    assert set(prices) == {"db", "web"}
    assert prices["db"]["currency"] == "USD"
    assert float(prices["web"]["monthly_estimate"]) > 0
    assert answer["diff"]["summary"]["update"] == 1
    assert answer["diff"]["summary"]["delete"] == 1
    assert (_counts(api), _operations(api)) == before


# -- roles and 404 ---------------------------------------------------------------------------------
def test_a_viewer_cannot_create_change_validate_roll_back_or_destroy(api: Api) -> None:
    viewer, some = api.headers(Role.VIEWER), f"{URL}/{uuid.uuid4()}"
    body = {"name": "booking", "template": booking()}
    for response in (
        api.client.post(URL, json=body, headers=viewer),
        api.client.post(f"{URL}/validate", json={"template": booking()}, headers=viewer),
        api.client.put(some, json={"parameters": {}}, headers=viewer),
        api.client.post(f"{some}/rollback", json={}, headers=viewer),
        api.client.delete(some, headers=viewer),
    ):
        assert "viewer" in problem(response, 403)["detail"]


def test_changes_to_an_unknown_deployment_answer_404(api: Api) -> None:
    some = f"{URL}/{uuid.uuid4()}"
    operator, admin = api.headers(Role.OPERATOR), api.headers(Role.ADMIN)
    problem(api.client.put(some, json={"parameters": {}}, headers=operator), 404)
    problem(api.client.post(f"{some}/rollback", headers=operator), 404)
    problem(api.client.delete(some, headers=admin), 404)
    body = {"template": booking(), "deployment_id": str(uuid.uuid4())}
    problem(api.client.post(f"{URL}/validate", json=body, headers=operator), 404)


def test_status_checks_drift_on_demand_and_keeps_what_it_found(api: Api) -> None:
    sandbox(api)
    deployment_id, _ = create(api)
    files = next(r for r in detail(api, deployment_id)["resources"] if r["name"] == "files")
    gone = api.client.delete(f"/api/cloud/resources/{files['resource_id']}", headers=api.headers(Role.ADMIN))
    assert finished(api, gone)["status"] == "succeeded"
    path = f"{URL}/{deployment_id}/status"
    before = api.client.get(path, headers=api.headers(Role.VIEWER)).json()
    assert before["drift"] is None
    checked = api.client.get(path, params={"check_drift": "true"}, headers=api.headers(Role.VIEWER))
    assert checked.status_code == 200, checked.text
    assert checked.json()["drift"]["drifted"] is True
    assert "files" in str(checked.json()["drift"]["missing"])
    assert api.client.get(path, headers=api.headers(Role.VIEWER)).json()["drift"] == checked.json()["drift"]


def test_the_template_schema_is_published_to_any_role(api: Api) -> None:
    response = api.client.get(f"{URL}/schema", headers=api.headers(Role.VIEWER))
    assert response.status_code == 200, response.text
    schema = response.json()
    assert "2020-12" in schema["$schema"]
    assert "resources" in schema["properties"]
    assert api.client.get(f"{URL}/schema").status_code == 401
