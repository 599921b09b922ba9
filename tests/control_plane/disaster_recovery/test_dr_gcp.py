"""Drills on Google Cloud, driven through the service layer as the API does, against the Compute
Engine emulator over HTTP: the copies run in the drill's own isolated network (a custom-mode VPC
network with deny-all firewall rules and no internet route) and, once the drill is over, the
emulator holds no network, firewall rule, route, subnetwork, copy or snapshot it did not hold
before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from control_plane.disaster_recovery import drill as drill_module
from tests.clouds.test_gcp_networks import _listing
from tests.control_plane.disaster_recovery.support import (
    Recovery,
    cloud_recovery,
    drill_killed_once_its_network_is_made,
    taken_over,
)
from tests.emulators.google_compute import Disk, GoogleComputeEmulator, Instance

pytestmark = pytest.mark.integration
PROJECT = "wedsync-prod"
PRIMARY, DR = "europe-west2", "europe-west1"
LABELS = {"app": "booking"}


@pytest.fixture
def google(engine: Engine, tmp_path: Path, google_compute: GoogleComputeEmulator) -> Recovery:
    """A Google Cloud provider on the emulator holding the booking stack's web server (booting
    from its own disk) and data disk in the primary region, synced into the inventory."""
    google_compute.add_disk(Disk(PROJECT, f"{PRIMARY}-b", "booking-web", 20, users=["booking-web"], labels=LABELS))
    google_compute.add_instance(Instance(PROJECT, f"{PRIMARY}-b", "booking-web", "e2-medium", labels=LABELS))
    google_compute.add_disk(Disk(PROJECT, f"{PRIMARY}-b", "booking-data", 50, labels=LABELS))
    return cloud_recovery(engine, tmp_path, kind="gcp", name="wedsync-gcp", regions=[PRIMARY, DR],
                          credentials=google_compute.service_account(),
                          settings={"project_id": PROJECT, "endpoint_url": google_compute.url})  # fmt: skip


def _plan(google: Recovery) -> Any:
    return google.plan(protected={"tags": LABELS}, primary_region=PRIMARY, dr_targets=[{"region": DR}], routing=None)


def test_a_drill_on_google_cloud_runs_its_copies_in_a_closed_network_and_leaves_nothing_behind(
    google: Recovery, google_compute: GoogleComputeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the emulator holds while the copies run (read at the drill's health step, before its
    teardown), and after the drill."""
    seen: dict[str, Any] = {}
    real = drill_module.check_health

    def observe(run: Any, adapter: Any, made: list[dict[str, Any]], **kwargs: Any) -> Any:
        seen["network"] = next(s.detail for s in google.steps(run.run_id) if s.name.startswith("make an isolated"))
        seen["instances"] = [i for i in google_compute.instances.values() if i.name.startswith("drill-")]
        seen["firewalls"] = [f.body for f in google_compute.networks.of("firewalls")]
        seen["routes"] = [r.body for r in google_compute.networks.of("routes")]
        return real(run, adapter, made, **kwargs)

    monkeypatch.setattr(drill_module, "check_health", observe)
    plan_id = _plan(google)
    backup = google.backup(plan_id)
    assert backup.status == "succeeded", backup.error
    before = _listing(google_compute)
    snapshots_before = sorted(google_compute.snapshots.snapshots)

    drill = google.drill(plan_id)

    assert drill.status == "succeeded", drill.error
    assert drill.report["isolation"]["isolated"] is True
    network = seen["network"]
    assert network["name"].startswith("wedcloud-drill-")
    assert network["internet_routes"] == []
    [copy] = seen["instances"]
    [nic] = copy.interfaces
    assert nic["network"].endswith(f"/global/networks/{network['name']}")
    assert nic["subnetwork"].endswith(f"/regions/{DR}/subnetworks/{network['name']}")
    assert "accessConfigs" not in nic  # no external address
    assert sorted((f["direction"], f["priority"], f["denied"][0]["IPProtocol"]) for f in seen["firewalls"]) == [
        ("EGRESS", 0, "all"), ("INGRESS", 0, "all")]  # fmt: skip
    assert not any(r["network"].endswith(network["name"]) for r in seen["routes"])
    assert {r["subtype"] for r in drill.report["restored"]} == {"instance", "volume"}
    assert drill.report["cleanup"]["remaining"] == []
    assert drill.report["cleanup"]["deleted_networks"] == [network["network_id"]]
    assert _listing(google_compute) == before
    assert sorted(google_compute.snapshots.snapshots) == snapshots_before


def test_a_drill_that_died_making_its_network_on_google_cloud_is_undone_by_the_reconciler_network_and_all(
    google: Recovery, google_compute: GoogleComputeEmulator
) -> None:
    plan_id = _plan(google)
    assert google.backup(plan_id).status == "succeeded"
    before = _listing(google_compute)

    started = drill_killed_once_its_network_is_made(google, plan_id)
    assert len(_listing(google_compute)["networks"]) == len(before["networks"]) + 1
    run = taken_over(google, started)
    assert _listing(google_compute) == before
    assert (run.status, run.report["cleanup"]["remaining"]) == ("failed", [])
    assert len(run.report["cleanup"]["deleted_networks"]) == 1
