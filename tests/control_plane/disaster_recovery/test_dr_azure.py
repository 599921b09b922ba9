"""Drills on Azure, driven through the service layer as the API does, against the ARM emulator
over HTTP: the copies run in the drill's own isolated network (a virtual network whose one subnet
a deny-all security group closes) and, once the drill is over, the emulator holds no virtual
network, security group, VM, disk, interface or snapshot it did not hold before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from control_plane.disaster_recovery import drill as drill_module
from tests.clouds.test_azure_networks import listing
from tests.clouds.test_azure_recovery import SUBSCRIPTION, _data_disk, _vm
from tests.control_plane.disaster_recovery.support import (
    Recovery,
    cloud_recovery,
    drill_killed_once_its_network_is_made,
    taken_over,
)
from tests.emulators.azure_compute import AzureComputeEmulator

pytestmark = pytest.mark.integration
PRIMARY, DR = "uksouth", "ukwest"
LABELS = {"app": "booking"}


@pytest.fixture
def azure(engine: Engine, tmp_path: Path, azure_compute: AzureComputeEmulator) -> Recovery:
    """An Azure provider on the emulator holding the booking stack's web VM (booting from a
    managed disk) and data disk in the primary region, synced into the inventory. It names no
    ``recovery_subnets``: a drill's VM can only go on the drill's own network."""
    _vm(azure_compute).tags = dict(LABELS)
    _data_disk(azure_compute).tags = dict(LABELS)
    return cloud_recovery(engine, tmp_path, kind="azure", name="wedsync-azure", regions=[PRIMARY, DR],
                          credentials={"access_token": "emulator-token"},
                          settings={"subscription_id": SUBSCRIPTION, "endpoint_url": azure_compute.url,
                                    "poll_seconds": 0})  # fmt: skip


def _plan(azure: Recovery) -> Any:
    return azure.plan(protected={"tags": LABELS}, primary_region=PRIMARY, dr_targets=[{"region": DR}], routing=None)


def test_a_drill_on_azure_runs_its_copies_behind_a_deny_all_security_group_and_leaves_nothing_behind(
    azure: Recovery, azure_compute: AzureComputeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the emulator holds while the copies run (read at the drill's health step, before its
    teardown), and after the drill."""
    seen: dict[str, Any] = {}
    real = drill_module.check_health

    def observe(run: Any, adapter: Any, made: list[dict[str, Any]], **kwargs: Any) -> Any:
        seen["network"] = next(s.detail for s in azure.steps(run.run_id) if s.name.startswith("make an isolated"))
        seen["nics"] = [n for n in azure_compute.nics.values() if n.name.startswith("drill-")]
        seen["groups"] = azure_compute.networks.of("networkSecurityGroups")
        return real(run, adapter, made, **kwargs)

    monkeypatch.setattr(drill_module, "check_health", observe)
    plan_id = _plan(azure)
    backup = azure.backup(plan_id)
    assert backup.status == "succeeded", backup.error
    before = listing(azure_compute)

    drill = azure.drill(plan_id)

    assert drill.status == "succeeded", drill.error
    assert drill.report["isolation"]["isolated"] is True
    network = seen["network"]
    [nic] = seen["nics"]
    assert (nic.subnet, nic.public_ip) == (network["subnet"], None)
    [group] = seen["groups"]
    assert group.id == network["security_group"]
    rules = {(r["properties"]["direction"], r["properties"]["access"], r["properties"]["priority"])
             for r in group.properties["securityRules"]}  # fmt: skip
    assert rules == {("Inbound", "Deny", 100), ("Outbound", "Deny", 100)}
    assert {r["subtype"] for r in drill.report["restored"]} == {"instance", "volume"}
    assert drill.report["cleanup"]["remaining"] == []
    assert drill.report["cleanup"]["deleted_networks"] == [network["network_id"]]
    assert listing(azure_compute) == before


def test_a_drill_that_died_making_its_network_on_azure_is_undone_by_the_reconciler_network_and_all(
    azure: Recovery, azure_compute: AzureComputeEmulator
) -> None:
    plan_id = _plan(azure)
    assert azure.backup(plan_id).status == "succeeded"
    before = listing(azure_compute)

    started = drill_killed_once_its_network_is_made(azure, plan_id)
    assert len(listing(azure_compute)["virtual_networks"]) == len(before["virtual_networks"]) + 1
    run = taken_over(azure, started)
    assert listing(azure_compute) == before
    assert (run.status, run.report["cleanup"]["remaining"]) == ("failed", [])
    assert len(run.report["cleanup"]["deleted_networks"]) == 1
