"""The disaster-recovery calls of :class:`clouds.base.CloudProvider` on Google Cloud: snapshots,
their copies and restores (:mod:`clouds.gcp.snapshots`) and DNS routing (:mod:`clouds.gcp.dns`),
as a part :class:`clouds.gcp.provider.GcpCloud` inherits; those modules say what each call does
on Google Cloud."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from clouds.base import CloudResource, DnsRecordSet, DnsRouting, Snapshot
from clouds.errors import UnsupportedRequest

if TYPE_CHECKING:
    from clouds.gcp.dns import CloudDns
    from clouds.gcp.networks import Networks
    from clouds.gcp.snapshots import Snapshots


class DisasterRecovery:
    """Snapshot, copy, list, delete and restore; route a DNS name. Every call is safe to repeat."""

    _snapshots: Snapshots
    _dns: CloudDns
    _networks: Networks

    def snapshot(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        """A snapshot of a disk, or of an instance's boot disk, kept in its region's multi-region."""
        return self._snapshots.snapshot(resource_id, name=name, tags=tags)

    def copy_snapshot(
        self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Snapshot:
        """The snapshot itself when it is kept where ``region`` restores from, else a copy kept there."""
        return self._snapshots.copy(snapshot_id, region=region, name=name, tags=tags)

    def describe_snapshot(self, snapshot_id: str) -> Snapshot:
        return self._snapshots.describe(snapshot_id)

    def list_snapshots(self, *, region: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        return self._snapshots.list(region=region, tags=tags)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self._snapshots.delete(snapshot_id)

    def restore(
        self,
        snapshot_id: str,
        *,
        region: str,
        name: str,
        tags: Mapping[str, str] | None = None,
        size: str | None = None,
        network: str | None = None,
    ) -> CloudResource:
        """A disk, or an instance booting from one, made from the snapshot in a zone of ``region``;
        with ``network`` (an :meth:`isolated_network`'s id) an instance's only interface is on its
        subnetwork, with no external address."""
        placed = self._networks.describe(network) if network is not None else None
        if placed is not None and placed.region != region:
            raise UnsupportedRequest(f"network: {network} is an isolated network of {placed.region}, not {region}")
        return self._snapshots.restore(snapshot_id, region=region, name=name, tags=tags, size=size, network=placed)

    def isolated_network(self, *, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        """A custom-mode VPC network with deny-all firewall rules and no internet route
        (:mod:`clouds.gcp.networks`)."""
        return self._networks.isolated(region, name, tags)

    def isolated_networks(self, *, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        return self._networks.listed(region, tags)

    def delete_network(self, network_id: str, *, region: str) -> bool:
        return self._networks.delete(network_id)

    def route_dns(self, records: DnsRecordSet, *, active: str, health_check_url: str | None = None) -> DnsRouting:
        """Point the Cloud DNS record set at ``targets[active]`` (``health_check_url`` is not used:
        Cloud DNS health checks probe internal load balancers only)."""
        return self._dns.route(records, active=active)

    def dns_routing(self, records: DnsRecordSet) -> DnsRouting | None:
        return self._dns.routing(records)
