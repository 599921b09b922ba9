"""An Azure subscription through the API: registered, tested, synced, given a VM, a storage
account and a managed disk, a scale set scaled and a VM's metrics read, through
azure-mgmt-compute, azure-mgmt-storage and azure-mgmt-monitor against the project's ARM emulator
(long-running operations polled)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from control_plane.security import Role
from control_plane.store.models import Provider
from tests.control_api.conftest import Api
from tests.emulators.azure_compute import AzureComputeEmulator, ScaleSet, VirtualMachine

pytestmark = pytest.mark.integration

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2c1"
NIC = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/networkInterfaces/web-nic"
TOKEN = "emulator-token-never-shown"
URL = "/api/cloud/resources"


def _register(api: Api, emulator: AzureComputeEmulator) -> str:
    body = {
        "kind": "azure", "name": "wedsync-azure", "subscription_id": SUBSCRIPTION, "default_region": "uksouth",
        "credentials": {"access_token": TOKEN}, "endpoint_url": emulator.url, "poll_seconds": 0,
    }  # fmt: skip
    response = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    assert TOKEN not in response.text
    return str(response.json()["id"])


def _done(api: Api, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return dict(api.client.get(response.headers["location"], headers=api.headers(Role.VIEWER)).json())


def test_an_azure_subscription_is_tested_and_its_regions_read(api: Api, azure_compute: AzureComputeEmulator) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    provider_id = _register(api, azure_compute)
    check = api.client.post(f"/api/cloud/providers/{provider_id}/test-connection", headers=api.headers(Role.OPERATOR))
    assert check.json()["ok"] is True
    regions = api.client.get(f"/api/cloud/providers/{provider_id}/regions", headers=api.headers(Role.VIEWER)).json()
    assert {"id": "uksouth", "name": "UK South", "geography": "Europe"} in regions["items"]
    azure_compute.deny("Microsoft.Compute/virtualMachines/read")
    denied = api.client.post(f"/api/cloud/providers/{provider_id}/test-connection", headers=api.headers(Role.OPERATOR))
    assert denied.json()["missing_permissions"] == ["Microsoft.Compute/virtualMachines/read"]
    assert set(azure_compute.tokens) == {TOKEN}  # the decrypted token reached Azure, and only Azure


def test_sync_imports_the_subscriptions_vms_in_its_regions(api: Api, azure_compute: AzureComputeEmulator) -> None:
    for index in range(60):
        azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", f"vm-{index}", "uksouth", "Standard_B2s"))
    azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "eu", "far-away", "eastus", "Standard_B2s"))
    provider_id = _register(api, azure_compute)
    operation = _done(
        api, api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=api.headers(Role.OPERATOR))
    )
    assert operation["status"] == "succeeded", operation
    assert operation["result"]["counts"]["added"] == 60


def test_a_vm_is_provisioned_stopped_and_terminated_through_the_api(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    provider_id = _register(api, azure_compute)
    spec = {
        "provider_id": provider_id, "name": "bookings-1", "type": "compute", "size": "Standard_D2s_v5",
        "image": "Canonical:ubuntu-24_04-lts:server:latest", "network": NIC, "tags": {"team": "bookings"},
        "options": {"ssh_public_key": "ssh-ed25519 AAAA wedcloud"},
    }  # fmt: skip
    incomplete = api.client.post(
        "/api/cloud/resources", json={**spec, "network": None}, headers=api.headers(Role.OPERATOR)
    )
    assert incomplete.status_code == 422
    assert [e["field"] for e in incomplete.json()["errors"]] == ["network"]
    made = _done(api, api.client.post("/api/cloud/resources", json=spec, headers=api.headers(Role.OPERATOR)))
    assert made["status"] == "succeeded", made
    resource_id = made["result"]["resource_id"]
    row = api.client.get(f"/api/cloud/resources/{resource_id}", headers=api.headers(Role.VIEWER)).json()
    assert (row["state"], row["size"], row["region"]) == ("running", "Standard_D2s_v5", "uksouth")
    assert row["cloud_id"].endswith("/virtualMachines/bookings-1")
    stopped = _done(
        api, api.client.post(f"/api/cloud/resources/{resource_id}/stop", headers=api.headers(Role.OPERATOR))
    )
    assert stopped["result"]["after"]["state"] == "stopped"
    gone = _done(api, api.client.delete(f"/api/cloud/resources/{resource_id}", headers=api.headers(Role.ADMIN)))
    assert gone["result"]["after"]["state"] == "terminated"
    assert azure_compute.vms == {}


def _row(api: Api, operation: dict[str, Any]) -> dict[str, Any]:
    assert operation["status"] == "succeeded", operation
    resource_id = operation["result"]["resource_id"]
    return dict(api.client.get(f"{URL}/{resource_id}", headers=api.headers(Role.VIEWER)).json())


def test_a_storage_account_and_a_managed_disk_are_provisioned_through_the_api(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    azure_compute.add_subscription(SUBSCRIPTION)
    provider_id = _register(api, azure_compute)
    bucket = {
        "provider_id": provider_id, "name": "wedsyncexports", "type": "storage", "subtype": "bucket",
        "size": "Standard_ZRS", "tags": {"team": "finance"}, "options": {"resource_group": "exports"},
    }  # fmt: skip
    made = _done(api, api.client.post(URL, json=bucket, headers=api.headers(Role.OPERATOR)))
    account = _row(api, made)
    assert (account["subtype"], account["size"], account["state"]) == ("bucket", "Standard_ZRS", "available")
    assert account["cloud_id"].endswith(
        "/resourceGroups/exports/providers/Microsoft.Storage/storageAccounts/wedsyncexports"
    )
    assert account["tags"] == {"team": "finance"}
    (stored,) = azure_compute.accounts.values()
    assert stored.tags["wedcloud:operation"] == made["id"]  # the operation's client token, for retries
    volume = {
        "provider_id": provider_id, "name": "bookings-data", "type": "storage", "subtype": "volume", "size": "256GB",
        "options": {"sku": "Premium_LRS"},
    }  # fmt: skip
    disk = _row(api, _done(api, api.client.post(URL, json=volume, headers=api.headers(Role.OPERATOR))))
    assert (disk["subtype"], disk["size"], disk["state"]) == ("volume", "256GB", "available")
    assert disk["details"]["sku"] == "Premium_LRS"
    gone = _done(api, api.client.delete(f"{URL}/{disk['id']}", headers=api.headers(Role.ADMIN)))
    assert gone["result"]["after"]["state"] == "terminated"
    assert azure_compute.disks == {}


def test_a_bad_storage_account_name_or_sku_is_refused_with_a_problem_naming_the_field(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    provider_id = _register(api, azure_compute)
    bucket = {"provider_id": provider_id, "name": "WedSync_Exports", "type": "storage", "subtype": "bucket",
              "size": "Standard_Tape"}  # fmt: skip
    refused = api.client.post(URL, json=bucket, headers=api.headers(Role.OPERATOR))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e["message"] for e in refused.json()["errors"]}
    assert sorted(errors) == ["name", "size"]
    assert "3-24 lowercase letters and digits" in errors["name"]
    assert azure_compute.accounts == {}
    assert not [path for method, path in azure_compute.requests if method == "PUT"]


def test_a_synced_scale_set_is_scaled_within_its_bounds_through_the_api(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    scale_set = azure_compute.add_scale_set(
        ScaleSet(SUBSCRIPTION, "web", "web-vmss", "uksouth", "Standard_D2s_v5", 2,
                 tags={"wedcloud:min": "1", "wedcloud:max": "6"})
    )  # fmt: skip
    provider_id = _register(api, azure_compute)
    synced = _done(api, api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=api.headers(Role.OPERATOR)))
    assert synced["status"] == "succeeded", synced
    listed = api.client.get(URL, params={"provider_id": provider_id}, headers=api.headers(Role.VIEWER)).json()
    (group,) = [r for r in listed["items"] if r["subtype"] == "instance_group"]
    assert (group["details"]["min"], group["details"]["max"], group["details"]["desired"]) == (1, 6, 2)
    scale = f"{URL}/{group['id']}/scale"
    scaled = _done(api, api.client.post(scale, json={"capacity": 5}, headers=api.headers(Role.OPERATOR)))
    assert scaled["status"] == "succeeded", scaled
    assert scale_set.capacity == 5
    row = api.client.get(f"{URL}/{group['id']}", headers=api.headers(Role.VIEWER)).json()
    assert row["details"]["desired"] == 5
    beyond = _done(api, api.client.post(scale, json={"capacity": 7}, headers=api.headers(Role.OPERATOR)))
    assert beyond["status"] == "failed"
    assert "bounds 1..6" in beyond["error"]["detail"]
    assert scale_set.capacity == 5


def test_a_synced_vms_metrics_are_read_from_azure_monitor_through_the_api(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_D2s_v5"))
    now = datetime.now(UTC)
    recent = datetime.fromtimestamp(now.timestamp() // 300 * 300, UTC) - timedelta(minutes=10)  # a period's start
    azure_compute.add_metric(vm.id, "Percentage CPU", [(recent, 30.0), (recent + timedelta(minutes=2), 50.0)])
    azure_compute.add_metric(vm.id, "Percentage CPU", [(recent - timedelta(minutes=5), None)])
    azure_compute.add_metric(vm.id, "Network Out Total", [(recent, 2048.0)])
    provider_id = _register(api, azure_compute)
    synced = _done(api, api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=api.headers(Role.OPERATOR)))
    assert synced["status"] == "succeeded", synced
    listed = api.client.get(URL, params={"provider_id": provider_id}, headers=api.headers(Role.VIEWER)).json()
    (row,) = listed["items"]
    detail = api.client.get(f"{URL}/{row['id']}", headers=api.headers(Role.VIEWER)).json()
    latest = {name: (datetime.fromisoformat(s["timestamp"]), s["value"]) for name, s in detail["last_metrics"].items()}
    assert latest == {"cpu_percent": (recent, 40.0), "network_out_bytes": (recent, 2048.0)}
    series = api.client.get(f"{URL}/{row['id']}/metrics", params={"step": "5m"}, headers=api.headers(Role.VIEWER))
    assert series.status_code == 200, series.text
    assert series.json()["series"]["cpu_percent"] == [
        {"timestamp": detail["last_metrics"]["cpu_percent"]["timestamp"], "value": 40.0}
    ]  # the null period is absent
    asked = [path for _, path in azure_compute.requests if path.endswith("/providers/Microsoft.Insights/metrics")]
    assert len(asked) == 2  # one Metrics - List call for the detail, one for the series


def test_recovery_subnets_are_kept_for_restores_and_a_malformed_one_is_refused(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    subnet = (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/dr/subnets/a"
    )
    body = {"kind": "azure", "name": "wedsync-azure", "subscription_id": SUBSCRIPTION, "default_region": "uksouth",
            "endpoint_url": azure_compute.url, "recovery_subnets": {"ukwest": "not-an-arm-id"}}  # fmt: skip
    refused = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert refused.status_code == 422
    assert "recovery_subnets" in refused.text
    body["recovery_subnets"] = {"ukwest": subnet}
    made = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert made.status_code == 201, made.text
    with Session(api.engine) as session:
        stored = session.get(Provider, uuid.UUID(made.json()["id"]))
        assert stored is not None
        assert stored.settings["recovery_subnets"] == {"ukwest": subnet}
