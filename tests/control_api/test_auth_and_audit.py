"""Authentication, roles and the audit trail, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from clouds.sandbox.world import build_world, save_world
from control_plane.audit import REDACTED, redact
from control_plane.security import Role
from control_plane.services import api_keys
from control_plane.services.api_keys import revoke_key
from control_plane.store.db import make_sessionmaker, transaction
from control_plane.store.models import ApiKey, Provider
from tests.control_api.conftest import Api

PROBLEM = "application/problem+json"
SANDBOX_AWS = {"kind": "sandbox", "name": "sandbox-aws", "flavour": "aws"}


def _with_world(api: Api) -> None:
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))


def test_a_request_without_a_key_gets_401_problem_json_and_an_audit_row(api: Api) -> None:
    response = api.client.get("/api/cloud/providers")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 401
    assert "X-API-Key" in body["detail"]
    assert body["instance"] == "/api/cloud/providers"
    assert response.headers["www-authenticate"].startswith("Bearer")
    (entry,) = api.audit()
    assert (entry.actor, entry.outcome, entry.status_code, entry.method) == ("anonymous", "denied", 401, "GET")
    assert entry.request_id == body["request_id"] == response.headers["x-request-id"]


def test_an_unknown_key_gets_401(api: Api) -> None:
    response = api.client.get("/api/cloud/providers", headers={"X-API-Key": "wck_000000000000_not-a-real-key"})
    assert response.status_code == 401
    assert response.json()["detail"] == "The API key is unknown or revoked."


def test_a_revoked_key_is_refused_on_its_next_request_even_after_it_was_let_in(api: Api) -> None:
    assert api.client.get("/api/cloud/providers", headers=api.headers(Role.VIEWER)).status_code == 200
    with transaction(make_sessionmaker(api.engine)) as session:  # another connection, as the CLI would
        key = session.scalars(select(ApiKey).where(ApiKey.role == "viewer")).one()
        revoke_key(session, key_id=key.id)
    assert api.client.get("/api/cloud/providers", headers=api.headers(Role.VIEWER)).status_code == 401


def test_the_key_may_also_come_as_a_bearer_token(api: Api) -> None:
    response = api.client.get("/api/cloud/providers", headers={"Authorization": f"Bearer {api.keys[Role.VIEWER]}"})
    assert response.status_code == 200


def test_a_viewer_posting_a_provider_gets_403_and_an_audit_row(api: Api) -> None:
    _with_world(api)
    response = api.client.post("/api/cloud/providers", json=SANDBOX_AWS, headers=api.headers(Role.VIEWER))
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert "admin role" in response.json()["detail"]
    (entry,) = api.audit()
    assert (entry.outcome, entry.status_code, entry.role, entry.action) == ("denied", 403, "viewer", "create_provider")
    assert entry.actor.startswith("key:test-viewer:")
    with Session(api.engine) as session:
        assert session.scalar(select(func.count()).select_from(Provider)) == 0


def test_an_operator_cannot_add_providers_either(api: Api) -> None:
    _with_world(api)
    response = api.client.post("/api/cloud/providers", json=SANDBOX_AWS, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 403


def test_an_admin_adds_a_sandbox_provider_and_the_audit_row_records_what_was_created(api: Api) -> None:
    _with_world(api)
    response = api.client.post("/api/cloud/providers", json=SANDBOX_AWS, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    provider = response.json()
    assert provider["regions"] == ["us-east-1", "eu-west-2", "eu-west-1"]
    assert provider["default_region"] == "us-east-1"
    assert provider["settings"] == {"flavour": "aws", "world": "default"}
    (entry,) = api.audit()
    assert (entry.outcome, entry.status_code, entry.target) == ("success", 201, f"provider:{provider['id']}")
    assert entry.detail["after"]["name"] == "sandbox-aws"
    listed = api.client.get("/api/cloud/providers", headers=api.headers(Role.VIEWER)).json()
    assert [p["id"] for p in listed["items"]] == [provider["id"]]


def test_a_taken_name_is_a_409_and_nothing_is_written(api: Api) -> None:
    _with_world(api)
    assert api.client.post("/api/cloud/providers", json=SANDBOX_AWS, headers=api.headers(Role.ADMIN)).status_code == 201
    again = api.client.post("/api/cloud/providers", json=SANDBOX_AWS, headers=api.headers(Role.ADMIN))
    assert again.status_code == 409
    assert "already exists" in again.json()["detail"]
    with Session(api.engine) as session:
        assert session.scalar(select(func.count()).select_from(Provider)) == 1
    assert [e.outcome for e in api.audit()] == ["success", "rejected"]


def test_adding_a_sandbox_provider_before_the_sandbox_exists_says_what_to_run(api: Api) -> None:
    response = api.client.post("/api/cloud/providers", json=SANDBOX_AWS, headers=api.headers(Role.ADMIN))
    assert response.status_code == 409
    assert "wedcloud sandbox create" in response.json()["detail"]


def test_invalid_bodies_list_every_bad_field(api: Api) -> None:
    response = api.client.post(
        "/api/cloud/providers",
        json={"kind": "sandbox", "name": "", "flavour": "oracle", "surprise": 1},
        headers=api.headers(Role.ADMIN),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"name", "flavour", "surprise"}


def test_a_region_the_flavour_lacks_is_refused(api: Api) -> None:
    _with_world(api)
    body = {**SANDBOX_AWS, "default_region": "uksouth"}
    response = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 422
    assert "us-east-1" in response.json()["detail"]


def test_providers_page_with_an_opaque_cursor(api: Api) -> None:
    _with_world(api)
    for flavour in ("aws", "azure", "gcp"):
        body = {"kind": "sandbox", "name": f"sbx-{flavour}", "flavour": flavour}
        assert api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN)).status_code == 201
    first = api.client.get("/api/cloud/providers?limit=2", headers=api.headers(Role.VIEWER)).json()
    assert [p["name"] for p in first["items"]] == ["sbx-aws", "sbx-azure"]
    rest = api.client.get(
        f"/api/cloud/providers?limit=2&cursor={first['next_cursor']}", headers=api.headers(Role.VIEWER)
    ).json()
    assert [p["name"] for p in rest["items"]] == ["sbx-gcp"]
    assert rest["next_cursor"] is None
    bad = api.client.get("/api/cloud/providers?cursor=garbage", headers=api.headers(Role.VIEWER))
    assert bad.status_code == 422


def test_unknown_paths_answer_with_problem_json(api: Api) -> None:
    response = api.client.get("/api/cloud/nothing-here", headers=api.headers(Role.VIEWER))
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM


def test_redaction_hides_every_secret_looking_value() -> None:
    redacted = redact({"name": "p", "credentials": {"key": "x"}, "nested": [{"client_secret": "s", "region": "r"}]})
    assert redacted == {"name": "p", "credentials": REDACTED, "nested": [{"client_secret": REDACTED, "region": "r"}]}


def test_the_openapi_document_describes_the_api_and_its_key(api: Api) -> None:
    document = api.client.get("/api/openapi.json").json()
    assert {"/api/cloud/providers", "/api/cloud/costs/overview", "/api/cloud/monitoring/health"} <= set(
        document["paths"]
    )
    assert "APIKeyHeader" in document["components"]["securitySchemes"]
    assert api.client.get("/api/docs").status_code == 200


def test_a_key_revoked_while_it_is_being_checked_is_not_cached_as_valid(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The revocation lands between the counter read and the key read: the principal found is
    cached under a counter value the revocation has already moved past."""
    real = api_keys.authenticate

    def revoked_meanwhile(session: Any, *, token: str, now: Any = None) -> Any:
        principal = real(session, token=token, now=now)
        with transaction(make_sessionmaker(api.engine)) as other:
            key = other.scalars(select(ApiKey).where(ApiKey.role == "viewer")).one()
            revoke_key(other, key_id=key.id)
        return principal

    monkeypatch.setattr("control_api.gate.authenticate", revoked_meanwhile)
    assert api.client.get("/api/cloud/providers", headers=api.headers(Role.VIEWER)).status_code == 200
    monkeypatch.setattr("control_api.gate.authenticate", real)
    assert api.client.get("/api/cloud/providers", headers=api.headers(Role.VIEWER)).status_code == 401
