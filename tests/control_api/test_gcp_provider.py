"""A Google Cloud project through the API: registered, tested, synced and given an instance,
through google-cloud-compute against the project's Compute Engine emulator."""

from __future__ import annotations

from typing import Any

import pytest

from control_api.security import Role
from tests.control_api.conftest import Api
from tests.emulators.google_compute import GoogleComputeEmulator, Instance

pytestmark = pytest.mark.integration

PROJECT = "wedsync-prod"


def _register(api: Api, emulator: GoogleComputeEmulator) -> str:
    body = {"kind": "gcp", "name": "wedsync-gcp", "project_id": PROJECT, "default_region": "europe-west2",
            "endpoint_url": emulator.url}  # fmt: skip
    response = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _done(api: Api, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return dict(api.client.get(response.headers["location"], headers=api.headers(Role.VIEWER)).json())


def test_a_project_is_tested_synced_and_its_regions_read(api: Api, google_compute: GoogleComputeEmulator) -> None:
    for index in range(70):
        google_compute.add_instance(Instance(PROJECT, "europe-west2-a", f"vm-{index}", "e2-small"))
    provider_id = _register(api, google_compute)
    check = api.client.post(f"/api/cloud/providers/{provider_id}/test-connection", headers=api.headers(Role.OPERATOR))
    assert check.json()["ok"] is True
    regions = api.client.get(f"/api/cloud/providers/{provider_id}/regions", headers=api.headers(Role.VIEWER)).json()
    assert {"id": "europe-west2", "name": "europe-west2", "geography": "Europe"} in regions["items"]
    synced = _done(api, api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=api.headers(Role.OPERATOR)))
    assert synced["result"]["counts"]["added"] == 70


def test_an_instance_is_provisioned_resized_while_running_and_terminated(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    google_compute.add_project(PROJECT)
    provider_id = _register(api, google_compute)
    spec = {"provider_id": provider_id, "name": "bookings-1", "type": "compute", "size": "e2-medium",
            "image": "projects/debian-cloud/global/images/family/debian-12", "tags": {"team": "bookings"}}  # fmt: skip
    missing = api.client.post("/api/cloud/resources", json={**spec, "image": None}, headers=api.headers(Role.OPERATOR))
    assert [e["field"] for e in missing.json()["errors"]] == ["image"]
    made = _done(api, api.client.post("/api/cloud/resources", json=spec, headers=api.headers(Role.OPERATOR)))
    assert made["status"] == "succeeded", made
    resource_id = made["result"]["resource_id"]
    # GCE changes the machine type of a stopped instance only: the scale path stops and restarts it
    scaled = _done(
        api,
        api.client.post(
            f"/api/cloud/resources/{resource_id}/scale",
            json={"size": "e2-standard-4"},
            headers=api.headers(Role.OPERATOR),
        ),
    )
    assert scaled["result"]["after"] == {"state": "running", "size": "e2-standard-4"}
    gone = _done(api, api.client.delete(f"/api/cloud/resources/{resource_id}", headers=api.headers(Role.ADMIN)))
    assert gone["result"]["after"]["state"] == "terminated"
    assert google_compute.instances == {}
