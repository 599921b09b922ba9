"""Isolated networks on Google Cloud (a drill's): a custom-mode VPC network with one subnetwork,
deny-all firewall rules and no internet route, through google-cloud-compute (REST) against the
Compute Engine emulator over HTTP; made again it is found, a sweep finds it by its marker, it is
deleted whole once nothing uses it, and a network WedCloud did not make is never deleted."""

from __future__ import annotations

from typing import Any

import pytest

from clouds.errors import UnsupportedRequest
from clouds.gcp.provider import GcpCloud
from tests.clouds.test_gcp_recovery import DR, PROJECT, _cloud, _web
from tests.emulators.google_compute import GoogleComputeEmulator

pytestmark = pytest.mark.integration

TAGS = {"wedcloud:drill": "3f2a", "wedcloud:plan": "plan-7"}
NAME = "wedcloud-drill-3f2a00000000"


def _listing(emulator: GoogleComputeEmulator) -> dict[str, list[str]]:
    """What the emulator holds, kind by kind, read over HTTP with the SDK's clients."""
    from google.cloud import compute_v1

    from clouds.gcp.credentials import credentials_for

    options: dict[str, Any] = {
        "credentials": credentials_for(emulator.service_account(), emulator.url),
        "transport": "rest",
        "client_options": {"api_endpoint": emulator.url},
    }
    found = {
        "networks": [n.name for n in compute_v1.NetworksClient(**options).list(project=PROJECT)],
        "firewalls": [f.name for f in compute_v1.FirewallsClient(**options).list(project=PROJECT)],
        "routes": [r.name for r in compute_v1.RoutesClient(**options).list(project=PROJECT)],
        "subnetworks": [s.name for s in compute_v1.SubnetworksClient(**options).list(project=PROJECT, region=DR)],
    }
    instances = compute_v1.InstancesClient(**options).aggregated_list(project=PROJECT)
    found["instances"] = sorted(i.name for _, scoped in instances for i in scoped.instances)
    disks = compute_v1.DisksClient(**options).aggregated_list(project=PROJECT)
    found["disks"] = sorted(d.name for _, scoped in disks for d in scoped.disks)
    return found


def test_an_isolated_network_is_custom_mode_with_deny_all_rules_and_no_internet_route(
    google_compute: GoogleComputeEmulator,
) -> None:
    cloud = _cloud(google_compute)
    google_compute.add_project(PROJECT)
    network = cloud.isolated_network(region=DR, name=NAME, tags=TAGS)
    assert network.id == f"projects/{PROJECT}/global/networks/{NAME}"
    assert (network.region, network.tags, network.details["internet_routes"]) == (DR, TAGS, [])
    assert network.details["subnetwork"] == f"projects/{PROJECT}/regions/{DR}/subnetworks/{NAME}"
    [made] = google_compute.networks.of("networks")
    assert made.body["autoCreateSubnetworks"] is False
    assert made.body["description"].startswith("wedcloud:isolated-network ")
    rules = {r.name: r.body for r in google_compute.networks.of("firewalls")}
    assert set(rules) == {f"{NAME}-deny-ingress", f"{NAME}-deny-egress"}
    for rule, direction, ranges in ((f"{NAME}-deny-ingress", "INGRESS", "sourceRanges"),
                                    (f"{NAME}-deny-egress", "EGRESS", "destinationRanges")):  # fmt: skip
        assert (rules[rule]["direction"], rules[rule]["priority"]) == (direction, 0)
        assert rules[rule]["denied"] == [{"IPProtocol": "all"}]
        assert rules[rule][ranges] == ["0.0.0.0/0"]
        assert "allowed" not in rules[rule]
    assert google_compute.networks.of("routes") == []  # Compute Engine's own internet route is deleted


def test_making_an_isolated_network_again_finds_it_and_a_sweep_lists_it_by_its_tags(
    google_compute: GoogleComputeEmulator,
) -> None:
    cloud = _cloud(google_compute)
    google_compute.add_project(PROJECT)
    first = cloud.isolated_network(region=DR, name=NAME, tags=TAGS)
    before = _listing(google_compute)
    assert cloud.isolated_network(region=DR, name=NAME, tags=TAGS) == first
    assert _listing(google_compute) == before
    assert [n.id for n in cloud.isolated_networks(region=DR, tags={"wedcloud:drill": "3f2a"})] == [first.id]
    assert cloud.isolated_networks(region=DR, tags={"wedcloud:drill": "another"}) == []
    assert cloud.isolated_networks(region="us-central1", tags={"wedcloud:drill": "3f2a"}) == []


def test_an_isolated_network_is_deleted_whole_once_its_instance_is_gone(
    google_compute: GoogleComputeEmulator,
) -> None:
    cloud = _cloud(google_compute)
    _web(google_compute)
    before = _listing(google_compute)
    network = cloud.isolated_network(region=DR, name=NAME, tags=TAGS)
    snapshot = cloud.snapshot(f"projects/{PROJECT}/zones/europe-west2-b/instances/web-1", name="web-1-snap")
    copy = cloud.restore(snapshot.id, region=DR, name="drill-web-1", tags=TAGS, network=network.id)
    [nic] = google_compute.instances[(PROJECT, "europe-west1-b", "drill-web-1")].interfaces
    assert nic["subnetwork"].endswith(f"/regions/{DR}/subnetworks/{NAME}")
    assert nic["network"].endswith(f"/global/networks/{NAME}")
    assert "accessConfigs" not in nic

    assert cloud.delete_network(network.id, region=DR) is False  # the copy still runs in it
    assert [n.name for n in google_compute.networks.of("networks")] == [NAME]
    cloud.terminate(copy.id)
    assert cloud.delete_network(network.id, region=DR) is True
    assert cloud.delete_network(network.id, region=DR) is True  # gone already
    cloud.delete_snapshot(snapshot.id)
    assert _listing(google_compute) == before


def test_a_network_wedcloud_did_not_isolate_is_never_deleted(google_compute: GoogleComputeEmulator) -> None:
    cloud: GcpCloud = _cloud(google_compute)
    google_compute.add_project(PROJECT)
    client = cloud._api.networks
    body = cloud._api.compute_v1.Network(name="production", auto_create_subnetworks=False, description="prod")
    cloud._api.wait(client.insert_unary(project=PROJECT, network_resource=body), "production")
    with pytest.raises(UnsupportedRequest, match="no isolated network WedCloud made"):
        cloud.delete_network(f"projects/{PROJECT}/global/networks/production", region=DR)
    with pytest.raises(UnsupportedRequest, match="not an isolated network WedCloud made"):
        cloud.isolated_network(region=DR, name="production", tags=TAGS)
    assert [n.name for n in google_compute.networks.of("networks")] == ["production"]
    assert cloud.isolated_networks(region=DR, tags={}) == []
