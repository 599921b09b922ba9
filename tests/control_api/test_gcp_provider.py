"""A Google Cloud project through the API: registered, tested, synced, given an instance, a bucket
and a volume, and its managed instance group scaled, through google-cloud-compute and
google-cloud-storage against the project's Compute Engine emulator (which serves both)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from control_plane.security import Role
from tests.control_api.conftest import Api
from tests.emulators.google_compute import GoogleComputeEmulator, Group, Instance

pytestmark = pytest.mark.integration

PROJECT = "wedsync-prod"


def _register(api: Api, emulator: GoogleComputeEmulator) -> str:
    body = {"kind": "gcp", "name": "wedsync-gcp", "project_id": PROJECT, "default_region": "europe-west2",
            "endpoint_url": emulator.url, "credentials": emulator.service_account()}  # fmt: skip
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


def _provisioned(api: Api, spec: dict[str, Any]) -> dict[str, Any]:
    made = _done(api, api.client.post("/api/cloud/resources", json=spec, headers=api.headers(Role.OPERATOR)))
    assert made["status"] == "succeeded", made
    resource_id = made["result"]["resource_id"]
    return dict(api.client.get(f"/api/cloud/resources/{resource_id}", headers=api.headers(Role.VIEWER)).json())


def test_a_bucket_and_a_volume_are_provisioned_and_recorded(api: Api, google_compute: GoogleComputeEmulator) -> None:
    google_compute.add_project(PROJECT)
    provider_id = _register(api, google_compute)
    base = {"provider_id": provider_id, "type": "storage", "tags": {"team": "bookings"}}
    bucket = _provisioned(api, {**base, "subtype": "bucket", "name": "wedsync-invoices", "size": "NEARLINE"})
    assert (bucket["cloud_id"], bucket["state"], bucket["region"], bucket["size"]) == (
        "projects/_/buckets/wedsync-invoices", "available", "europe-west2", "NEARLINE",
    )  # fmt: skip
    assert google_compute.storage.buckets["wedsync-invoices"].location == "EUROPE-WEST2"
    spec = {**base, "subtype": "volume", "name": "ledger-data", "size": "50GB", "options": {"disk_type": "pd-ssd"}}
    volume = _provisioned(api, spec)
    assert volume["cloud_id"] == f"projects/{PROJECT}/zones/europe-west2-b/disks/ledger-data"
    assert (volume["size"], volume["state"], volume["details"]["disk_type"]) == ("50GB", "available", "pd-ssd")
    assert google_compute.disks[(PROJECT, "europe-west2-b", "ledger-data")].size_gb == 50


def test_a_bucket_google_would_refuse_is_answered_422_naming_each_field(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    google_compute.add_project(PROJECT)
    provider_id = _register(api, google_compute)
    spec = {"provider_id": provider_id, "type": "storage", "subtype": "bucket", "name": "Wedsync.Invoices",
            "size": "HOT"}  # fmt: skip
    refused = api.client.post("/api/cloud/resources", json=spec, headers=api.headers(Role.OPERATOR))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in refused.json()["errors"]] == ["name", "size"]
    assert google_compute.storage.buckets == {}


def test_a_synced_instance_group_is_scaled_within_its_autoscalers_bounds(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    google_compute.add_group(Group(PROJECT, "europe-west2-a", "web-pool", target_size=2, autoscaler=(1, 5)))
    provider_id = _register(api, google_compute)
    synced = _done(api, api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=api.headers(Role.OPERATOR)))
    assert synced["result"]["counts"]["added"] == 1
    listed = api.client.get(
        "/api/cloud/resources", params={"provider_id": provider_id}, headers=api.headers(Role.VIEWER)
    )
    (group,) = listed.json()["items"]
    assert (group["subtype"], group["state"]) == ("instance_group", "running")
    assert {k: group["details"][k] for k in ("min", "max", "desired")} == {"min": 1, "max": 5, "desired": 2}
    url = f"/api/cloud/resources/{group['id']}/scale"
    scaled = _done(api, api.client.post(url, json={"capacity": 4}, headers=api.headers(Role.OPERATOR)))
    assert scaled["status"] == "succeeded", scaled
    assert google_compute.groups[(PROJECT, "europe-west2-a", "web-pool")].target_size == 4
    beyond = _done(api, api.client.post(url, json={"capacity": 9}, headers=api.headers(Role.OPERATOR)))
    assert beyond["status"] == "failed"
    assert "holds 1 to 5 instances" in beyond["error"]["detail"]
    assert google_compute.groups[(PROJECT, "europe-west2-a", "web-pool")].target_size == 4


def test_a_synced_instance_shows_its_latest_metrics_and_a_five_minute_series(
    api: Api, google_compute: GoogleComputeEmulator
) -> None:
    vm = google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "web-1", "e2-small"))
    now = datetime.now(UTC)
    samples = [(now - timedelta(minutes=m), 0.4) for m in range(30, 0, -1)]
    google_compute.add_points("compute.googleapis.com/instance/cpu/utilization", vm, samples)
    google_compute.add_points("compute.googleapis.com/instance/network/sent_bytes_count", vm,
                              [(t, 1000) for t, _ in samples], "INT64")  # fmt: skip
    provider_id = _register(api, google_compute)
    _done(api, api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=api.headers(Role.OPERATOR)))
    listed = api.client.get(
        "/api/cloud/resources", params={"provider_id": provider_id}, headers=api.headers(Role.VIEWER)
    )
    (resource,) = listed.json()["items"]
    url = f"/api/cloud/resources/{resource['id']}"
    latest = api.client.get(url, headers=api.headers(Role.VIEWER)).json()["last_metrics"]
    assert set(latest) == {"cpu_percent", "network_out_bytes"}  # no Ops Agent: no memory
    assert latest["cpu_percent"]["value"] == pytest.approx(40.0)
    series = api.client.get(f"{url}/metrics", params={"step": "5m"}, headers=api.headers(Role.VIEWER))
    assert series.status_code == 200, series.text
    cpu = series.json()["series"]["cpu_percent"]
    assert 6 <= len(cpu) <= 7  # 30 one-minute samples in five-minute periods
    assert all(s["value"] == pytest.approx(40.0) for s in cpu)
    sent = series.json()["series"]["network_out_bytes"]
    assert sum(s["value"] for s in sent) == 30_000  # every byte counted once, in its period
