"""The provider endpoints, on SQLite and PostgreSQL: the sandbox directly, AWS through boto3
against a moto server. Each endpoint: success, bad input (problem+json) and the wrong role."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from clouds.aws import credentials as aws_credentials
from clouds.sandbox.world import build_world, save_world
from control_plane.crypto import load_cipher
from control_plane.security import Role
from control_plane.store.models import Operation, Provider, Resource
from tests.control_api.conftest import Api

PROBLEM = "application/problem+json"
AMI = "ami-12c6146b"
URL = "/api/cloud/providers"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"


def _world(api: Api) -> None:
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))


def _sandbox(api: Api, name: str = "sandbox-aws") -> dict[str, Any]:
    _world(api)
    response = api.client.post(
        URL, json={"kind": "sandbox", "name": name, "flavour": "aws"}, headers=api.headers(Role.ADMIN)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _aws_body(moto_endpoint: str, keys: dict[str, str], name: str = "wedsync-aws") -> dict[str, Any]:
    return {
        "kind": "aws",
        "name": name,
        "default_region": "eu-west-2",
        "credentials": {"access_key_id": keys["access_key_id"], "secret_access_key": keys["secret_access_key"]},
        "endpoint_url": moto_endpoint,
    }


def _aws(api: Api, moto_endpoint: str, keys: dict[str, str]) -> dict[str, Any]:
    response = api.client.post(URL, json=_aws_body(moto_endpoint, keys), headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return dict(response.json())


# -- POST /providers ---------------------------------------------------------------------------
@pytest.mark.integration
def test_an_aws_account_is_registered_with_its_keys_encrypted(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    created = _aws(api, moto_endpoint, aws_keys)
    assert (created["kind"], created["regions"], created["has_credentials"]) == ("aws", ["eu-west-2"], True)
    assert "credentials" not in created
    with Session(api.engine) as session:
        provider = session.get(Provider, uuid.UUID(created["id"]))
        assert provider is not None
        assert provider.credentials_ciphertext is not None
        assert aws_keys["secret_access_key"].encode() not in provider.credentials_ciphertext
        opened = load_cipher(api.home).decrypt(provider.credentials_ciphertext, context=str(provider.id))
    assert opened == {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": aws_keys["secret_access_key"]}


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "aws", "name": "a", "default_region": "narnia-1"}, {""}),
        ({"kind": "aws", "name": "a", "default_region": "eu-west-2",
          "credentials": {"access_key_id": "AKIA1234567890AB"}}, {"credentials"}),
        ({"kind": "azure", "name": "a", "default_region": "uksouth", "subscription_id": "nope"}, {"subscription_id"}),
        ({"kind": "azure", "name": "a", "default_region": "uksouth", "subscription_id": SUBSCRIPTION,
          "credentials": {"tenant_id": SUBSCRIPTION, "client_id": SUBSCRIPTION}}, {"credentials"}),
        ({"kind": "gcp", "name": "a", "default_region": "europe-west2", "project_id": "P"}, {"project_id"}),
        ({"kind": "oracle", "name": "a"}, {"kind"}),
    ],
)  # fmt: skip
def test_a_provider_body_that_does_not_fit_its_kind_is_refused_field_by_field(
    api: Api, body: dict[str, Any], fields: set[str]
) -> None:
    problem = _problem(api.client.post(URL, json=body, headers=api.headers(Role.ADMIN)), 422)
    found = {(e["field"] or "").split(".")[0] for e in problem["errors"]}
    assert fields <= found or (fields == {""} and problem["errors"]), problem
    with Session(api.engine) as session:
        assert session.scalar(select(Provider.id)) is None


def test_only_an_admin_adds_a_provider(api: Api) -> None:
    _world(api)
    body = {"kind": "sandbox", "name": "x", "flavour": "aws"}
    assert _problem(api.client.post(URL, json=body, headers=api.headers(Role.OPERATOR)), 403)["status"] == 403


# -- GET /providers/{id} -----------------------------------------------------------------------
def test_a_provider_is_read_by_id_and_an_unknown_id_is_404(api: Api) -> None:
    created = _sandbox(api)
    found = api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER))
    assert found.status_code == 200
    assert found.json()["name"] == "sandbox-aws"
    missing = _problem(
        api.client.get(f"{URL}/6b1d1b7e-0000-4000-8000-000000000000", headers=api.headers(Role.VIEWER)), 404
    )
    assert "no provider" in missing["detail"]
    assert _problem(api.client.get(f"{URL}/not-a-uuid", headers=api.headers(Role.VIEWER)), 422)["errors"]
    assert _problem(api.client.get(f"{URL}/{created['id']}"), 401)["status"] == 401


# -- PUT /providers/{id} -----------------------------------------------------------------------
@pytest.mark.integration
def test_an_update_renames_rotates_credentials_and_changes_regions(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    created = _aws(api, moto_endpoint, aws_keys)
    with Session(api.engine) as session:
        old_cipher = session.get(Provider, uuid.UUID(created["id"])).credentials_ciphertext  # type: ignore[union-attr]
    body = {
        "name": "wedsync-production",
        "regions": ["eu-west-2", "eu-west-1"],
        "credentials": {"access_key_id": "AKIAROTATED000001", "secret_access_key": "rotated-secret-value"},
    }
    response = api.client.put(f"{URL}/{created['id']}", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    assert (response.json()["name"], response.json()["regions"]) == ("wedsync-production", ["eu-west-2", "eu-west-1"])
    with Session(api.engine) as session:
        provider = session.get(Provider, uuid.UUID(created["id"]))
        assert provider is not None
        assert provider.credentials_ciphertext != old_cipher
        opened = load_cipher(api.home).decrypt(provider.credentials_ciphertext or b"", context=str(provider.id))
    assert opened["secret_access_key"] == "rotated-secret-value"
    entry = api.audit()[-1]
    assert entry.detail["rotated"] is True
    assert entry.detail["before"]["name"] == "wedsync-aws"
    assert entry.detail["after"]["name"] == "wedsync-production"


def test_an_update_with_bad_fields_changes_nothing(api: Api) -> None:
    created = _sandbox(api)
    problem = _problem(
        api.client.put(f"{URL}/{created['id']}", json={"regions": ["mars-1"]}, headers=api.headers(Role.ADMIN)), 422
    )
    assert "mars-1" in problem["detail"]
    problem = _problem(
        api.client.put(f"{URL}/{created['id']}", json={"name": "", "colour": "red"}, headers=api.headers(Role.ADMIN)),
        422,
    )
    assert {e["field"] for e in problem["errors"]} == {"name", "colour"}
    assert api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json() == created


@pytest.mark.integration
def test_rotated_credentials_of_the_wrong_shape_are_refused(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    created = _aws(api, moto_endpoint, aws_keys)
    body = {"credentials": {"tenant_id": "00000000-0000-0000-0000-000000000002"}}
    problem = _problem(api.client.put(f"{URL}/{created['id']}", json=body, headers=api.headers(Role.ADMIN)), 422)
    assert all(e["field"].startswith("credentials") for e in problem["errors"])


def test_only_an_admin_changes_a_provider(api: Api) -> None:
    created = _sandbox(api)
    _problem(api.client.put(f"{URL}/{created['id']}", json={"name": "y"}, headers=api.headers(Role.OPERATOR)), 403)


# -- DELETE /providers/{id} --------------------------------------------------------------------
def test_a_provider_with_active_resources_is_not_removed_and_they_are_listed(api: Api) -> None:
    created = _sandbox(api)
    _sync(api, created["id"])
    problem = _problem(api.client.delete(f"{URL}/{created['id']}", headers=api.headers(Role.ADMIN)), 409)
    assert problem["active_resources"]
    assert {"id", "cloud_id", "name"} <= set(problem["active_resources"][0])
    assert api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).status_code == 200


def test_a_provider_without_active_resources_is_removed(api: Api) -> None:
    created = _sandbox(api)
    response = api.client.delete(f"{URL}/{created['id']}", headers=api.headers(Role.ADMIN))
    assert response.status_code == 204
    assert api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).status_code == 404
    assert api.audit()[-1].detail["before"]["name"] == "sandbox-aws"
    _problem(api.client.delete(f"{URL}/{created['id']}", headers=api.headers(Role.ADMIN)), 404)


def test_only_an_admin_removes_a_provider(api: Api) -> None:
    created = _sandbox(api)
    _problem(api.client.delete(f"{URL}/{created['id']}", headers=api.headers(Role.OPERATOR)), 403)


# -- POST /providers/{id}/test-connection ------------------------------------------------------
@pytest.mark.integration
def test_an_aws_connection_test_names_the_identity_and_is_remembered(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    created = _aws(api, moto_endpoint, aws_keys)
    response = api.client.post(f"{URL}/{created['id']}/test-connection", headers=api.headers(Role.OPERATOR))
    assert response.status_code == 200, response.text
    check = response.json()
    assert check["ok"] is True
    assert check["identity"].startswith("arn:aws:")
    assert check["missing_permissions"] == []
    stored = api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json()
    assert stored["last_check"]["identity"] == check["identity"]


def test_a_sandbox_connection_test_fails_clearly_once_its_world_is_gone(api: Api) -> None:
    created = _sandbox(api)
    with api.engine.begin() as connection:
        connection.execute(text("DELETE FROM sandbox_worlds"))
    check = api.client.post(f"{URL}/{created['id']}/test-connection", headers=api.headers(Role.OPERATOR)).json()
    assert check["ok"] is False
    assert "wedcloud sandbox create" in check["detail"]
    assert api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json()["status"] == "failing"


def test_a_connection_test_needs_an_operator_and_a_known_provider(api: Api) -> None:
    created = _sandbox(api)
    _problem(api.client.post(f"{URL}/{created['id']}/test-connection", headers=api.headers(Role.VIEWER)), 403)
    _problem(
        api.client.post(f"{URL}/6b1d1b7e-0000-4000-8000-000000000000/test-connection", headers=api.headers(Role.ADMIN)),
        404,
    )


# -- GET /providers/{id}/regions and /services -------------------------------------------------
@pytest.mark.integration
def test_regions_and_services_come_from_the_providers_cloud(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    created = _aws(api, moto_endpoint, aws_keys)
    regions = api.client.get(f"{URL}/{created['id']}/regions", headers=api.headers(Role.VIEWER)).json()["items"]
    assert {"id": "eu-west-2", "name": "eu-west-2", "geography": "Europe"} in regions
    services = api.client.get(f"{URL}/{created['id']}/services", headers=api.headers(Role.VIEWER)).json()["items"]
    assert {s["id"]: s["category"] for s in services}["AmazonRDS"] == "Databases"


def test_sandbox_regions_and_services_follow_its_flavour(api: Api) -> None:
    created = _sandbox(api)
    regions = api.client.get(f"{URL}/{created['id']}/regions", headers=api.headers(Role.VIEWER)).json()["items"]
    assert [r["id"] for r in regions] == created["regions"]
    services = api.client.get(f"{URL}/{created['id']}/services", headers=api.headers(Role.VIEWER)).json()["items"]
    assert services
    assert all(s["category"] for s in services)


def test_regions_and_services_need_a_key_and_a_known_provider(api: Api) -> None:
    created = _sandbox(api)
    for path in ("regions", "services"):
        _problem(api.client.get(f"{URL}/{created['id']}/{path}"), 401)
        _problem(
            api.client.get(f"{URL}/6b1d1b7e-0000-4000-8000-000000000000/{path}", headers=api.headers(Role.VIEWER)), 404
        )


@pytest.mark.integration
def test_a_cloud_that_refuses_the_call_becomes_a_problem_not_a_crash(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # one attempt: botocore's backoff over eight would add seconds and change nothing asserted
    monkeypatch.setattr(aws_credentials, "RETRIES", Config(retries={"mode": "standard", "max_attempts": 1}))
    body = {**_aws_body(moto_endpoint, aws_keys), "endpoint_url": "http://127.0.0.1:9"}  # nothing listens there
    created = api.client.post(URL, json=body, headers=api.headers(Role.ADMIN)).json()
    problem = _problem(api.client.get(f"{URL}/{created['id']}/regions", headers=api.headers(Role.VIEWER)), 503)
    assert "could not be reached" in problem["detail"]


# -- POST /providers/{id}/sync -----------------------------------------------------------------
def _sync(api: Api, provider_id: str, key: str | None = None) -> dict[str, Any]:
    headers = {**api.headers(Role.OPERATOR), **({"Idempotency-Key": key} if key else {})}
    response = api.client.post(f"{URL}/{provider_id}/sync", headers=headers)
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/cloud/operations/{response.json()['id']}"
    polled = api.client.get(response.headers["location"], headers=api.headers(Role.VIEWER))
    return dict(polled.json())


@pytest.mark.integration
def test_sync_imports_every_instance_past_the_first_page_then_reports_changes_and_gone(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "ec2", moto_endpoint)
    made = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=120, MaxCount=120)["Instances"]
    created = _aws(api, moto_endpoint, aws_keys)
    first = _sync(api, created["id"])
    assert first["status"] == "succeeded", first
    counts = first["result"]["counts"]
    assert counts["added"] == 240  # 120 instances and their 120 root volumes
    with Session(api.engine) as session:
        instances = session.scalars(select(Resource).where(Resource.subtype == "instance")).all()
        assert {r.cloud_id for r in instances} == {i["InstanceId"] for i in made}
        assert {(r.state, r.size, r.region) for r in instances} == {("running", "t3.micro", "eu-west-2")}

    ec2.stop_instances(InstanceIds=[made[0]["InstanceId"]])
    ec2.terminate_instances(InstanceIds=[made[1]["InstanceId"]])
    second = _sync(api, created["id"])["result"]
    assert second["counts"]["added"] == 0
    assert {c["cloud_id"] for c in second["changed"]} >= {made[0]["InstanceId"], made[1]["InstanceId"]}
    assert second["counts"]["unchanged"] >= 200


@pytest.mark.integration
def test_a_sync_with_a_role_and_no_base_credentials_fails_naming_that_cause(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Sync answers 202 and its work runs after the answer, so a cloud's refusal is the failed
    operation's error (as for every operation), with the cause the connection test gives."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)  # nothing on this machine to assume the role with
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    role = "arn:aws:iam::111122223333:role/WedCloud"
    body = {**_aws_body(moto_endpoint, aws_keys), "credentials": {"role_arn": role, "external_id": "ws-7f3a"}}
    created = api.client.post(URL, json=body, headers=api.headers(Role.ADMIN))
    assert created.status_code == 201, created.text
    operation = _sync(api, created.json()["id"])
    assert operation["status"] == "failed"
    assert operation["error"]["type"] == "AuthenticationFailed"  # not InternalError
    assert f"no base credentials to assume {role}" in operation["error"]["detail"]
    check = api.client.post(f"{URL}/{created.json()['id']}/test-connection", headers=api.headers(Role.OPERATOR))
    assert check.status_code == 200
    assert f"no base credentials to assume {role}" in check.json()["detail"]


def test_a_retried_sync_with_the_same_key_is_the_same_operation(api: Api) -> None:
    created = _sandbox(api)
    first, again = _sync(api, created["id"], key="sync-1"), _sync(api, created["id"], key="sync-1")
    assert first["id"] == again["id"]
    with Session(api.engine) as session:
        assert len(session.scalars(select(Operation)).all()) == 1


def test_sync_of_the_sandbox_marks_what_disappeared_as_gone(api: Api) -> None:
    created = _sandbox(api)
    first = _sync(api, created["id"])["result"]
    assert first["counts"]["added"] > 0
    with api.engine.begin() as connection:
        victim = connection.execute(
            text("SELECT id FROM sandbox_resources WHERE flavour = 'aws' AND state <> 'terminated' LIMIT 1")
        ).scalar_one()
        connection.execute(text("UPDATE sandbox_resources SET state = 'terminated' WHERE id = :id"), {"id": victim})
    second = _sync(api, created["id"])["result"]
    assert [g["cloud_id"] for g in second["gone"]] == [victim]
    with Session(api.engine) as session:
        row = session.scalar(select(Resource).where(Resource.cloud_id == victim))
        assert row is not None
        assert row.state == "terminated"
        assert row.terminated_at is not None


def test_a_sync_that_finds_nothing_changed_marks_every_resource_seen_at_its_time(api: Api) -> None:
    created = _sandbox(api)
    first = _sync(api, created["id"])["result"]
    second = _sync(api, created["id"])["result"]
    assert second["counts"] == {"added": 0, "changed": 0, "gone": 0, "unchanged": first["counts"]["added"]}
    seen_at = datetime.fromisoformat(second["synced_at"])
    assert seen_at > datetime.fromisoformat(first["synced_at"])
    with Session(api.engine) as session:
        rows = session.scalars(select(Resource).where(Resource.provider_id == uuid.UUID(created["id"]))).all()
    assert len(rows) == first["counts"]["added"]
    assert {(row.last_seen_at, row.updated_at) for row in rows} == {(seen_at, seen_at)}


def test_sync_needs_an_operator_and_a_known_provider(api: Api) -> None:
    created = _sandbox(api)
    _problem(api.client.post(f"{URL}/{created['id']}/sync", headers=api.headers(Role.VIEWER)), 403)
    _problem(api.client.post(f"{URL}/6b1d1b7e-0000-4000-8000-000000000000/sync", headers=api.headers(Role.ADMIN)), 404)
    bad_key = {**api.headers(Role.OPERATOR), "Idempotency-Key": ""}
    _problem(api.client.post(f"{URL}/{created['id']}/sync", headers=bad_key), 422)


# -- secrets never leave -------------------------------------------------------------------------
@pytest.mark.integration
def test_credentials_never_appear_in_a_response_a_log_line_or_an_audit_row(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret, rotated = aws_keys["secret_access_key"], "rotated-secret-never-shown"
    answers = []
    created = api.client.post(URL, json=_aws_body(moto_endpoint, aws_keys), headers=api.headers(Role.ADMIN))
    provider_id = created.json()["id"]
    answers.append(created.text)
    change = {"credentials": {"access_key_id": "AKIAROTATED000001", "secret_access_key": rotated}}
    answers.append(api.client.put(f"{URL}/{provider_id}", json=change, headers=api.headers(Role.ADMIN)).text)
    bad = {**_aws_body(moto_endpoint, aws_keys, name="dup"), "name": "wedsync-aws"}
    answers.append(api.client.post(URL, json=bad, headers=api.headers(Role.ADMIN)).text)  # 409, body echoed nowhere
    short = {"credentials": {"access_key_id": "AKIAROTATED000001", "secret_access_key": "tiny-s3"}}
    answers.append(api.client.put(f"{URL}/{provider_id}", json=short, headers=api.headers(Role.ADMIN)).text)
    for path in ("", "/regions", "/services"):
        answers.append(api.client.get(f"{URL}/{provider_id}{path}", headers=api.headers(Role.VIEWER)).text)
    answers.append(api.client.post(f"{URL}/{provider_id}/test-connection", headers=api.headers(Role.ADMIN)).text)
    answers.append(json.dumps(_sync(api, provider_id)))
    audit = json.dumps([e.detail for e in api.audit()])
    with Session(api.engine) as session:
        operations = json.dumps([o.request for o in session.scalars(select(Operation))])
    for text_ in (*answers, caplog.text, audit, operations):
        assert secret not in text_
        assert rotated not in text_
        assert "tiny-s3" not in text_
    assert len(api.audit()) >= 5


@pytest.mark.integration
def test_health_reports_a_clouds_last_connection_test_without_calling_it(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    created = _aws(api, moto_endpoint, aws_keys)

    def reported() -> dict[str, Any]:
        health = api.client.get("/api/cloud/monitoring/health", headers=api.headers(Role.VIEWER)).json()
        return next(p for p in health["providers"] if p["id"] == created["id"])

    assert reported()["status"] == "degraded"
    assert "never tested" in reported()["detail"]
    api.client.post(f"{URL}/{created['id']}/test-connection", headers=api.headers(Role.OPERATOR))
    assert reported()["status"] == "ok"
    assert reported()["checked_at"]


# -- wedcloud secrets rotate -------------------------------------------------------------------
@pytest.mark.integration
def test_rotating_the_key_reseals_every_credential_while_the_api_keeps_serving(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from wedcloud.cli.main import app

    created = _aws(api, moto_endpoint, aws_keys)
    key_file = api.home / "secret.key"
    old_key = key_file.read_text()
    with Session(api.engine) as session:
        before = session.get(Provider, uuid.UUID(created["id"])).credentials_ciphertext  # type: ignore[union-attr]
    monkeypatch.setenv("WEDCLOUD_HOME", str(api.home))
    monkeypatch.setenv("WEDCLOUD_DATABASE_URL", api.engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY", raising=False)
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY_FILE", raising=False)
    rotated = CliRunner().invoke(app, ["secrets", "rotate", "--new-key"])
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 1 credential(s)" in rotated.output
    assert key_file.read_text() != old_key
    assert len(key_file.read_text().split()) == 1  # the old key is gone
    with Session(api.engine) as session:
        assert session.get(Provider, uuid.UUID(created["id"])).credentials_ciphertext != before  # type: ignore[union-attr]
    # the running API re-reads the key file: the resealed keys still reach AWS
    check = api.client.post(f"{URL}/{created['id']}/test-connection", headers=api.headers(Role.OPERATOR))
    assert check.status_code == 200, check.text
    assert check.json()["ok"] is True
    again = CliRunner().invoke(app, ["secrets", "rotate"])
    assert "re-encrypted 0 credential(s); 1 were already current" in again.output


@pytest.mark.parametrize("path", ["", "/regions", "/services"])
def test_a_provider_path_with_a_bad_id_or_query_is_refused(api: Api, path: str) -> None:
    _problem(api.client.get(f"{URL}/not-a-uuid{path}", headers=api.headers(Role.VIEWER)), 422)
    _problem(api.client.get(URL, params={"limit": 0, "cursor": "x"}, headers=api.headers(Role.VIEWER)), 422)
