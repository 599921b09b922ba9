"""Azure as a CloudProvider: one subscription's virtual machines, managed disks and scale sets
(azure-mgmt-compute), storage accounts (azure-mgmt-storage), resource groups (azure-mgmt-resource)
and public IP addresses.

:class:`AzureCloud` answers the CloudProvider methods and routes each resource, by the kind its
ARM id names, to the part that talks to it: :mod:`clouds.azure.compute` (virtual machines and
scale sets), :mod:`clouds.azure.storage` (managed disks and storage accounts) or
:mod:`clouds.azure.addresses` (public IP addresses and the network interfaces that hold them);
utilisation metrics come from :mod:`clouds.azure.metrics` (Azure Monitor). What the parts share
(the ARM clients, reads and writes by ARM id, long-running operations, error translation) is
:mod:`clouds.azure.api`.

Provisioning is idempotent per client token: what a request makes carries the token in the
tag ``wedcloud:operation`` (hidden from the tags this adapter reports, and kept when tags are
replaced), so a retried request finds what it made; a name another request or person holds is
refused. Without a token, an existing name is answered with what exists (ARM's PUT by name).
Tags are ARM tags as given: ARM allows ':' in a tag name, so the deployment engine's
``wedcloud:deployment`` and ``wedcloud:deployment-version`` read back unchanged. A storage
account is named by ``options.account_name`` where given (:func:`clouds.azure.storage.account_name`).
Stopping a VM deallocates it, so it stops billing compute hours; a scale set starts and stops
by its capacity. Billing lives in :mod:`clouds.azure.billing`.

Disaster recovery: snapshots of managed disks and VMs and their copies in other regions are
:mod:`clouds.azure.snapshots`, disks and VMs restored from them :mod:`clouds.azure.restore` (a
restored VM's network interface joins the subnet ``recovery_subnets`` names for its region, or a
drill's isolated network, :mod:`clouds.azure.networks`), and Azure DNS record sets
:mod:`clouds.azure.dns`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import polars as pl
from azure.core.exceptions import HttpResponseError

from clouds.azure.addresses import Addresses
from clouds.azure.api import (
    ACCOUNT,
    ADDRESS,
    DISK,
    NAMES,
    SCALE_SET,
    SUBSCRIPTIONS_API,
    TOKEN_TAG,
    VM,
    Arm,
    ArmId,
    parse_id,
    translate,
)
from clouds.azure.compute import Compute, scale_set_problems, vm_body, vm_problems
from clouds.azure.credentials import client_options, credential_for
from clouds.azure.dns import Dns
from clouds.azure.metrics import Metrics
from clouds.azure.networks import Networks
from clouds.azure.restore import Restorer
from clouds.azure.snapshots import Snapshots
from clouds.azure.storage import Storage, account_body, account_name, account_problems, disk_body, disk_problems
from clouds.base import (
    HOUR,
    CloudResource,
    ConnectionCheck,
    DnsRecordSet,
    DnsRouting,
    NotYetAdapted,
    Problem,
    ProvisionRequest,
    Region,
    ResourceState,
    ResourceType,
    ScaleRequest,
    Service,
    Snapshot,
)
from clouds.errors import InvalidStateTransition, ResourceNotFound, UnsupportedRequest

# (kind, the operation listing the subscription's resources of that kind, its arguments)
_LISTS: tuple[tuple[str, str, dict[str, str]], ...] = (
    (VM, "list_all", {"status_only": "true"}),
    (DISK, "list", {}),
    (SCALE_SET, "list_all", {}),
    (ACCOUNT, "list", {}),
)
SERVICES = (
    Service(VM, "Virtual Machines", "Compute", (ResourceType.COMPUTE,)),
    Service(SCALE_SET, "Virtual Machine Scale Sets", "Compute", (ResourceType.COMPUTE,)),
    Service(DISK, "Managed Disks", "Storage", (ResourceType.STORAGE,)),
    Service(ACCOUNT, "Storage Accounts", "Storage", (ResourceType.STORAGE,)),
    Service(ADDRESS, "Public IP Addresses", "Networking", (ResourceType.NETWORK,)),
)
_GROUP_NAME = re.compile(r"[-\w.()]{0,89}[-\w()]")
_SUBTYPE_TYPES = {
    "instance": ResourceType.COMPUTE,
    "instance_group": ResourceType.COMPUTE,
    "volume": ResourceType.STORAGE,
    "bucket": ResourceType.STORAGE,
}


def _subtype(request: ProvisionRequest) -> str:
    default = "volume" if request.resource_type == ResourceType.STORAGE else "instance"
    return str(request.options.get("subtype") or default)


_PROBLEMS: dict[str, Callable[[ProvisionRequest], list[Problem]]] = {
    "instance": vm_problems,
    "volume": disk_problems,
    "bucket": account_problems,
    "instance_group": scale_set_problems,
}


class AzureCloud(NotYetAdapted):
    """One Azure subscription (a service principal or the SDK's chain), over ``regions``."""

    kind = "azure"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        subtype = request.options["subtype"]
        check = _PROBLEMS.get(subtype)
        if check is None or _SUBTYPE_TYPES[subtype] != request.resource_type:
            return [("subtype", "the Azure adapter provisions virtual machines (compute instance), managed disks "
                     "(storage volume) and storage accounts (storage bucket)")]  # fmt: skip
        problems = check(request)
        group = request.options.get("resource_group")
        if group is not None and not (isinstance(group, str) and _GROUP_NAME.fullmatch(group)):
            problems.append(("options", "options.resource_group is 1-90 letters, digits, '_', '-', '.', '(' or ')', "
                             "not ending in '.'"))  # fmt: skip
        return problems

    def __init__(
        self,
        credentials: dict[str, Any] | None,
        *,
        subscription_id: str,
        regions: Sequence[str] = (),
        default_region: str | None = None,
        endpoint_url: str | None = None,
        resource_group: str = "wedcloud",
        polling_interval: float | None = None,
        recovery_subnets: Mapping[str, str] | None = None,
    ) -> None:
        self.subscription_id = subscription_id
        self.regions = list(regions)
        self.default_region = default_region or (self.regions[0] if self.regions else "uksouth")
        self.resource_group = resource_group
        # seconds between polls of a long-running operation when Azure gives no Retry-After
        # (None: the SDK's own default, 30 s)
        self.polling: dict[str, Any] = {} if polling_interval is None else {"polling_interval": polling_interval}
        self.arm = Arm(credential_for(credentials), subscription_id, client_options(endpoint_url), self.polling)
        self.compute = self.arm.compute  # the SDK's clients, shared with the parts
        self.storage = self.arm.storage
        self.resources = self.arm.resources
        self.monitor = self.arm.monitor
        self.machines = Compute(self.arm)
        self.stores = Storage(self.arm)
        self.addresses = Addresses(self.arm)
        self.metrics = Metrics(self.arm)
        self.snapshots = Snapshots(self.arm, resource_group)
        # region -> the subnet a VM restored there joins (its network interface is made on it)
        self.restorer = Restorer(self.arm, self.snapshots, self.machines, self.stores, recovery_subnets or {})
        self.dns = Dns(self.arm)
        self.networks = Networks(self.arm, resource_group)

    def _to_cloud(self, kind: str, raw: Mapping[str, Any]) -> CloudResource:
        convert = {
            VM: self.machines.vm_to_cloud,
            DISK: self.stores.disk_to_cloud,
            SCALE_SET: self.machines.scale_set_to_cloud,
            ACCOUNT: self.stores.account_to_cloud,
            ADDRESS: self.addresses.to_cloud,
        }[kind]
        return convert(raw)

    # -- read side -----------------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            subscription = self.arm.read(f"/subscriptions/{self.subscription_id}", SUBSCRIPTIONS_API)
        except Exception as exc:
            return ConnectionCheck(ok=False, identity="", detail=f"the subscription cannot be read: {translate(exc)}")
        identity = f"/subscriptions/{self.subscription_id} ({subscription.get('displayName', '')})"
        missing = []
        for kind, listing, arguments in _LISTS:
            try:
                next(iter(getattr(self.arm.operations(kind), listing)(**arguments)), None)
            except HttpResponseError as exc:
                if exc.status_code == 403:
                    missing.append(f"{kind}/read")
        try:
            next(self.addresses.all(), None)
        except HttpResponseError as exc:
            if exc.status_code == 403:
                missing.append(f"{ADDRESS}/read")
        detail = (
            f"subscription {subscription.get('state', 'unknown')}; missing permissions: {', '.join(missing)}"
            if missing
            else f"subscription {subscription.get('state', 'unknown')}; every permission WedCloud reads with is granted"
        )
        return ConnectionCheck(ok=not missing, identity=identity, detail=detail, missing_permissions=missing)

    def list_regions(self) -> list[Region]:
        try:
            body = self.arm.read(f"/subscriptions/{self.subscription_id}/locations", SUBSCRIPTIONS_API)
        except Exception as exc:
            raise translate(exc) from exc
        return sorted(
            (
                Region(
                    item["name"],
                    item.get("displayName", item["name"]),
                    (item.get("metadata") or {}).get("geographyGroup", "Other"),
                )
                for item in body.get("value", [])
            ),
            key=lambda r: r.id,
        )

    def list_services(self) -> list[Service]:
        return list(SERVICES)

    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]:
        """VMs, managed disks, scale sets, storage accounts and public IP addresses, every page of each."""
        wanted = {region} if region else set(self.regions)
        for kind, listing, arguments in _LISTS:
            try:
                for found in getattr(self.arm.operations(kind), listing)(**arguments):
                    raw = found.as_dict()
                    if not wanted or raw["location"] in wanted:
                        yield self._to_cloud(kind, raw)
            except Exception as exc:
                raise translate(exc) from exc
        yield from self.addresses.listed(wanted)

    def describe(self, resource_id: str) -> CloudResource:
        arm = parse_id(resource_id)
        return self._to_cloud(arm.kind, self.arm.raw(arm))

    # -- metrics -------------------------------------------------------------------------------
    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """Azure Monitor's platform metrics of each VM and scale set per period (one Metrics - List
        call each); managed disks and storage accounts report none. A data point without data is
        absent, and so is memory when Azure reports none or the size's memory is unknown."""
        return self.metrics.frame(resource_ids, start=start, end=end, period=period)

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """Live samples at Azure Monitor's ``PT1M`` grain (:meth:`clouds.azure.metrics.Metrics.recent`)."""
        return self.metrics.recent(resource_ids, start=start, end=end)

    # -- write side ----------------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        request = replace(request, options={**request.options, "subtype": _subtype(request)})
        problems = self.provision_problems(request)
        if problems:
            raise UnsupportedRequest("; ".join(f"{field}: {message}" for field, message in problems))
        kind, create, body = {
            "instance": (VM, "begin_create_or_update", vm_body),
            "volume": (DISK, "begin_create_or_update", disk_body),
            "bucket": (ACCOUNT, "begin_create", account_body),
        }[request.options["subtype"]]
        name = account_name(request) if kind == ACCOUNT else request.name
        arm = ArmId(str(request.options.get("resource_group") or self.resource_group), kind, name)
        token = request.options.get("client_token")
        existing = self._claimed(arm, str(token) if token else None)
        if existing is not None:
            return existing
        self.arm.ensure_group(arm.group, request.region)
        tags = {**request.tags, **({TOKEN_TAG: str(token)} if token else {})}
        self.arm.run(arm, create, {**body(request), "location": request.region, "tags": tags})
        return self.describe(self.arm.id_of(arm))

    def _claimed(self, arm: ArmId, token: str | None) -> CloudResource | None:
        """What already holds the name: None if nothing; the resource if this request's token
        made it (a retry) or no token was given; else UnsupportedRequest."""
        try:
            raw = self.arm.raw(arm)
        except ResourceNotFound:
            return None
        if token is None or (raw.get("tags") or {}).get(TOKEN_TAG) == token:
            return self._to_cloud(arm.kind, raw)
        raise UnsupportedRequest(
            f"a {NAMES[arm.kind]} named {arm.name!r} already exists in resource group {arm.group} and this "
            "request did not make it: choose another name"
        )

    def _power(self, resource_id: str, operation: str) -> CloudResource:
        self.machines.power(resource_id, operation)
        return self.describe(resource_id)

    def start(self, resource_id: str) -> CloudResource:
        return self._power(resource_id, "begin_start")

    def stop(self, resource_id: str) -> CloudResource:
        """Deallocate: a VM that is only powered off keeps billing its compute hours."""
        return self._power(resource_id, "begin_deallocate")

    def terminate(self, resource_id: str) -> CloudResource:
        current = self.describe(resource_id)
        arm = parse_id(resource_id)
        if arm.kind == ADDRESS:
            if current.attached_to:  # as Azure refuses it (PublicIPAddressCannotBeDeleted), said plainly
                raise InvalidStateTransition(resource_id, f"associated with {current.attached_to}", "release")
            self.addresses.write(resource_id, "begin_delete_by_id")
        else:
            self.arm.run(arm, "delete" if arm.kind == ACCOUNT else "begin_delete")
        return replace(current, state=ResourceState.TERMINATED)

    def _update(self, resource_id: str, patch: dict[str, Any]) -> CloudResource:
        arm = parse_id(resource_id)
        if arm.kind == ADDRESS:
            self.addresses.write(resource_id, "begin_update_by_id", parameters=patch)
        else:
            self.arm.run(arm, "update" if arm.kind == ACCOUNT else "begin_update", patch)
        return self.describe(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        """A scale set's capacity, within the bounds its tags set (wedcloud:min/max), or a VM's size."""
        return self._update(resource_id, self.machines.scale_patch(resource_id, request))

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        """Replace the tags, keeping the token of the operation that made the resource."""
        token = (self.arm.raw(parse_id(resource_id)).get("tags") or {}).get(TOKEN_TAG)
        return self._update(resource_id, {"tags": {**tags, **({TOKEN_TAG: token} if token else {})}})

    # -- disaster recovery ---------------------------------------------------------------------
    def snapshot(self, resource_id: str, *, name: str, tags: Mapping[str, str] | None = None) -> Snapshot:
        """An incremental snapshot of a managed disk, or of a VM's OS disk (kind ``instance``);
        scale sets, storage accounts and addresses are refused (:mod:`clouds.azure.snapshots`)."""
        return self.snapshots.take(resource_id, name=name, tags=tags)

    def copy_snapshot(
        self, snapshot_id: str, *, region: str, name: str, tags: Mapping[str, str] | None = None
    ) -> Snapshot:
        """A ``CopyStart`` copy in ``region``: pending until Azure has copied it whole."""
        return self.snapshots.copy(snapshot_id, region=region, name=name, tags=tags)

    def describe_snapshot(self, snapshot_id: str) -> Snapshot:
        return self.snapshots.describe(snapshot_id)

    def list_snapshots(self, *, region: str | None = None, tags: Mapping[str, str] | None = None) -> Iterator[Snapshot]:
        return self.snapshots.listed(region=region, tags=tags)

    def delete_snapshot(self, snapshot_id: str) -> None:
        self.snapshots.delete(snapshot_id)

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
        """A managed disk, or a VM booting from one, made from the snapshot in its region
        (:mod:`clouds.azure.restore`); with ``network`` (an :meth:`isolated_network`'s id) a VM's
        interface is on its subnet instead of ``recovery_subnets``'."""
        subnet = None
        if network is not None:
            placed = self.networks.describe(network)
            if placed.region.lower() != region.lower():
                raise UnsupportedRequest(f"network: {network} is an isolated network of {placed.region}, not {region}")
            subnet = placed.details["subnet"]
        return self.restorer.restore(snapshot_id, region=region, name=name, tags=tags, size=size, subnet=subnet)

    def isolated_network(self, *, region: str, name: str, tags: Mapping[str, str]) -> CloudResource:
        """A virtual network whose one subnet a deny-all security group closes (:mod:`clouds.azure.networks`)."""
        return self.networks.isolated(region, name, tags)

    def isolated_networks(self, *, region: str, tags: Mapping[str, str]) -> list[CloudResource]:
        return self.networks.listed(region, tags)

    def delete_network(self, network_id: str, *, region: str) -> bool:
        return self.networks.delete(network_id)

    def route_dns(self, records: DnsRecordSet, *, active: str, health_check_url: str | None = None) -> DnsRouting:
        """Update the Azure DNS record set to ``records.targets[active]``. Azure DNS has neither
        failover routing nor health checks, so ``health_check_url`` is not used (:mod:`clouds.azure.dns`)."""
        return self.dns.route(records, active=active)

    def dns_routing(self, records: DnsRecordSet) -> DnsRouting | None:
        return self.dns.routing(records)
