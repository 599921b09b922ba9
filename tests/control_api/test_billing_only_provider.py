"""A provider WedCloud reads the bills of only (OCI, registered by ``wedcloud billing add``):
the API lists it, and every call that needs a cloud adapter answers 4xx problem+json naming
why, never a 500, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from control_plane.crypto import load_cipher
from control_plane.security import Role
from control_plane.services.providers import create_cloud_provider
from control_plane.store.models import Operation, Resource
from tests.control_api.conftest import Api


@pytest.fixture
def oci_provider(api: Api) -> str:
    cipher = load_cipher(api.home, environment="test")
    with Session(api.engine) as session, session.begin():
        provider = create_cloud_provider(
            session,
            cipher,
            kind="oci",
            name="wedsync-oci",
            default_region=None,
            settings={"billing": {"source": "oci_object_storage", "namespace": "bling", "region": "uk-london-1",
                                  "tenancy_ocid": "ocid1.tenancy.oc1..aaaaexample"}},
        )  # fmt: skip
        return str(provider.id)


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return dict(response.json())


def test_a_billing_only_provider_is_listed_with_its_kind(api: Api, oci_provider: str) -> None:
    listed = api.client.get("/api/cloud/providers", headers=api.headers(Role.VIEWER)).json()
    assert [(p["id"], p["kind"]) for p in listed["items"]] == [(oci_provider, "oci")]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/cloud/providers/{id}/test-connection"),
        ("get", "/api/cloud/providers/{id}/regions"),
        ("get", "/api/cloud/providers/{id}/services"),
        ("post", "/api/cloud/providers/{id}/sync"),
    ],
)
def test_calls_that_need_an_adapter_are_refused_naming_the_kind_without_one(
    api: Api, oci_provider: str, method: str, path: str
) -> None:
    response = getattr(api.client, method)(path.format(id=oci_provider), headers=api.headers(Role.ADMIN))
    assert 400 <= response.status_code < 500, response.text
    detail = _problem(response, response.status_code)["detail"]
    assert "'oci'" in detail
    assert "adapter" in detail


def test_provisioning_on_a_billing_only_provider_is_refused_and_writes_nothing(api: Api, oci_provider: str) -> None:
    body = {"provider_id": oci_provider, "name": "web-1", "type": "compute", "size": "VM.Standard.E4.Flex"}
    response = api.client.post("/api/cloud/resources", json=body, headers=api.headers(Role.OPERATOR))
    assert 400 <= response.status_code < 500, response.text
    detail = _problem(response, response.status_code)["detail"]
    assert "'oci'" in detail
    assert "adapter" in detail
    with Session(api.engine) as session:
        assert session.query(Resource).count() == 0
        assert session.query(Operation).count() == 0
