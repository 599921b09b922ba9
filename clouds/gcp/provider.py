"""Google Cloud as a CloudProvider: one project's Compute Engine instances, persistent disks,
zonal managed instance groups and reserved external regional addresses through
google-cloud-compute over REST, and its Cloud Storage buckets through google-cloud-storage (JSON
API), every client pointed at the same endpoint.

``GcpCloud`` composes one part per thing it talks to, all sharing the clients, operation waiting
and error translation of :mod:`clouds.gcp.api`: ``Compute`` (:mod:`clouds.gcp.compute`: instances
and managed instance groups), ``Storage`` (:mod:`clouds.gcp.storage`: disks and buckets),
``Addresses`` (:mod:`clouds.gcp.addresses`), ``Metrics`` (:mod:`clouds.gcp.metrics`), and for
disaster recovery ``Snapshots`` (:mod:`clouds.gcp.snapshots`) and ``CloudDns``
(:mod:`clouds.gcp.dns`), whose calls it inherits from :mod:`clouds.gcp.recovery`. It
tests the connection, lists regions, services and resources, and routes each CloudProvider call
to the part for the kind of resource its id names.

Changes return zone operations (region operations for addresses); this adapter waits on them
with its own operations clients (``ZoneOperationsClient.wait``, ``RegionOperationsClient.wait``)
pointed at the same endpoint as the others, instead of the
library's ``ExtendedOperation.result()``, whose poller would otherwise talk to the default
endpoint. Lists are aggregated across zones and follow every page. GCE reports a stopped
instance as ``TERMINATED``: that is our ``stopped``; a deleted instance is gone (404). A name is
unique per zone (per Google Cloud for a bucket), so a retried provision finds the resource its
operation already made (by the ``wedcloud-operation`` label) instead of making another.

Tags are labels. A label key holds no ':', so a tag ``wedcloud:<name>`` (the deployment engine's
``wedcloud:deployment`` and ``wedcloud:deployment-version``, a group's ``wedcloud:min`` ...) is
the label ``wedcloud-<name>`` and reads back as ``wedcloud:<name>``: tags round-trip, and sync,
drift and the bills find the deployment's tags on Google Cloud as on every other cloud (the
``wedcloud-`` label prefix is WedCloud's). Other tags must already be labels Google accepts:
keys of 1-63 lowercase letters, digits, '_' and '-' starting with a letter, values of at most 63
of the same; provisioning or tagging with any other tag is refused with a problem on ``tags``
before anything is sent (Google would refuse it, and changing it silently would make it read
back as something else).

Ids: ``projects/<p>/zones/<z>/{instances|disks|instanceGroupManagers}/<name>``,
``projects/<p>/regions/<r>/addresses/<name>`` and, for buckets, ``projects/_/buckets/<name>``
(Google's own resource name: a bucket belongs to no zone and its name is global); describe, tag
and the write side dispatch on the id's shape. A bucket's region is its location in lower case:
a region (``europe-west2``), a dual-region (``eur4``) or a multi-region (``eu``); a region filter
keeps a bucket whose data lives in one of the regions asked for (a multi-region covers every
region of its continent). A group scales between its autoscaler's min and max replicas, or
0..1000 without one; regional groups are not listed yet.

An external address is attached to its first user (an instance, by the instance's id, or a
forwarding rule; ``unknown`` when GCE says IN_USE and names none); global addresses (load
balancers') are not listed yet. ``details["state_since"]`` is what GCE states: an instance's
last start or stop, an attached disk's last attach, an unattached disk's last detach when it is
no earlier than its last attach (never its creation); an address has none.
``details["architecture"]`` comes from the CPU platform or the machine type's series. An external
address is any but ``INTERNAL`` (GCE may leave ``addressType`` out of one it defaulted).

Metrics come from Cloud Monitoring's ``projects.timeSeries.list``, called over REST
(:mod:`clouds.gcp.metrics`). Only instances report metrics; disks, groups and buckets answer no rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl
from google.api_core import exceptions as google_errors

from clouds.base import (
    HOUR,
    CloudResource,
    ConnectionCheck,
    NotYetAdapted,
    Problem,
    ProvisionRequest,
    Region,
    ResourceState,
    ResourceType,
    ScaleRequest,
    Service,
)
from clouds.errors import UnsupportedRequest
from clouds.gcp.addresses import Addresses
from clouds.gcp.api import NOUNS, GcpApi, collection_of, label_problems, last, translate
from clouds.gcp.compute import Compute, instance_problems
from clouds.gcp.credentials import credentials_for
from clouds.gcp.dns import CloudDns
from clouds.gcp.metrics import Metrics
from clouds.gcp.networks import Networks
from clouds.gcp.recovery import DisasterRecovery
from clouds.gcp.snapshots import Snapshots
from clouds.gcp.storage import Storage, bucket_problems, covers, volume_problems

if TYPE_CHECKING:
    from google.auth.credentials import Credentials

SERVICES = (
    Service("compute.googleapis.com/instances", "Compute Engine", "Compute", (ResourceType.COMPUTE,)),
    Service("compute.googleapis.com/disks", "Persistent Disk", "Storage", (ResourceType.STORAGE,)),
    Service(
        "compute.googleapis.com/instanceGroupManagers", "Managed Instance Groups", "Compute", (ResourceType.COMPUTE,)
    ),
    Service("storage.googleapis.com/buckets", "Cloud Storage", "Storage", (ResourceType.STORAGE,)),
    Service("compute.googleapis.com/addresses", "External IP addresses", "Networking", (ResourceType.NETWORK,)),
)
_GEOGRAPHIES = {
    "europe": "Europe", "us": "North America", "northamerica": "North America", "asia": "Asia Pacific",
    "australia": "Asia Pacific", "southamerica": "South America", "me": "Middle East", "africa": "Africa",
}  # fmt: skip


def _subtype(request: ProvisionRequest) -> str:
    return str(request.options.get("subtype") or _DEFAULT_SUBTYPES.get(request.resource_type, request.resource_type))


# -- what each subtype needs before anything is sent ------------------------------------------
def _refused(message: str) -> Callable[[ProvisionRequest], list[Problem]]:
    return lambda request: [("subtype", message)]


_PROBLEMS: dict[str, Callable[[ProvisionRequest], list[Problem]]] = {
    "instance": instance_problems,
    "volume": volume_problems,
    "bucket": bucket_problems,
    "instance_group": _refused(
        "managed instance groups are imported by a provider sync and scaled here "
        "(scale with a capacity); WedCloud does not create them"
    ),
    "database": _refused("the Google Cloud adapter does not provision databases (Cloud SQL) yet"),
}
_DEFAULT_SUBTYPES = {ResourceType.COMPUTE: "instance", ResourceType.STORAGE: "volume"}
_LABELLED = ("instance", "volume", "bucket")  # what provision makes, with the request's tags as labels


class GcpCloud(DisasterRecovery, NotYetAdapted):
    """One Google Cloud project (a service-account key or Application Default Credentials)."""

    kind = "gcp"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        subtype = _subtype(request)
        check = _PROBLEMS.get(subtype, _refused(f"the Google Cloud adapter cannot provision a {subtype!r}"))
        problems = check(request)
        return problems + label_problems(request.tags) if subtype in _LABELLED else problems

    def __init__(
        self,
        credentials: dict[str, Any] | None,
        *,
        project_id: str,
        regions: Sequence[str] = (),
        default_region: str | None = None,
        endpoint_url: str | None = None,
        backoff: float = 1.0,
    ) -> None:
        self.project = project_id
        self.regions = list(regions)
        self.default_region = default_region or (self.regions[0] if self.regions else "europe-west2")
        self.endpoint_url = endpoint_url
        self._api = api = GcpApi(
            credentials_for(credentials, endpoint_url), project=project_id, endpoint_url=endpoint_url, backoff=backoff
        )
        # the clients the parts share, offered as the adapter always has
        self.instances, self.disks, self.groups = api.instances, api.disks, api.groups
        self.autoscalers, self.zone_operations = api.autoscalers, api.zone_operations
        self.addresses, self.region_operations = api.addresses, api.region_operations
        self.regions_client, self.projects = api.regions_client, api.projects
        # one part per thing the adapter talks to
        self._compute = Compute(api)
        self._storage = Storage(api)
        self._addresses = Addresses(api)
        self._metrics = Metrics(api)
        self._snapshots = Snapshots(api, self._compute, self._storage)
        self._dns = CloudDns(api)
        self._networks = Networks(api)

    @property
    def credentials(self) -> Credentials | None:
        """The google-auth credentials this adapter calls Google with, for other Google clients of
        the same account (e.g. the Billing Catalog); None when the SDK's default chain (Application
        Default Credentials) is used, which such a client then resolves the same way."""
        credentials: Credentials | None = self._api.credentials
        return credentials

    @property
    def storage(self) -> Any:
        """The Cloud Storage client (JSON API), made when first used."""
        return self._api.storage

    # -- read side -----------------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        from google.auth.exceptions import GoogleAuthError

        try:
            project = self.projects.get(project=self.project)
        except (google_errors.GoogleAPICallError, GoogleAuthError) as exc:
            return ConnectionCheck(ok=False, identity="", detail=f"the project cannot be read: {translate(exc)}")
        probes: dict[str, Callable[[], Any]] = {
            "compute.instances.list": lambda: next(self._api.aggregated(self.instances, "instances"), None),
            "compute.disks.list": lambda: next(self._api.aggregated(self.disks, "disks"), None),
            "compute.instanceGroupManagers.list": lambda: next(
                self._api.aggregated(self.groups, "instance_group_managers"), None
            ),
            "compute.addresses.list": lambda: next(self._api.aggregated(self.addresses, "addresses"), None),
            "storage.buckets.list": lambda: next(iter(self.storage.list_buckets(max_results=1)), None),
        }
        missing = []
        for permission, probe in probes.items():
            try:
                probe()
            except google_errors.Forbidden:
                missing.append(permission)
        detail = (
            f"project {project.name}; missing permissions: {', '.join(missing)}"
            if missing
            else f"project {project.name}; every permission WedCloud reads with is granted"
        )
        return ConnectionCheck(
            ok=not missing, identity=f"projects/{project.name}", detail=detail, missing_permissions=missing
        )

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """Instances' utilisation in [start, end) per period; other resources report none."""
        return self._metrics.get_metrics(resource_ids, start=start, end=end, period=period)

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """Live samples aligned to 60 s (:meth:`clouds.gcp.metrics.Metrics.recent_metrics`)."""
        return self._metrics.recent_metrics(resource_ids, start=start, end=end)

    def list_regions(self) -> list[Region]:
        try:
            found = list(self.regions_client.list(project=self.project))
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc
        return sorted(
            (Region(r.name, r.description or r.name, _GEOGRAPHIES.get(r.name.split("-")[0], "Other")) for r in found),
            key=lambda r: r.id,
        )

    def list_services(self) -> list[Service]:
        return list(SERVICES)

    def list_resources(self, *, region: str | None = None) -> Iterator[CloudResource]:
        """Instances, disks, zonal managed instance groups, external regional addresses, then
        buckets; every page of each."""
        wanted = {region} if region else set(self.regions)
        zonal = (
            (self.instances, "instances", self._compute.instance_to_cloud),
            (self.disks, "disks", self._storage.disk_to_cloud),
            (self.groups, "instance_group_managers", self._compute.group_to_cloud),
        )
        try:
            for client, field, to_cloud in zonal:
                for found in self._api.aggregated(client, field):
                    if found.zone and (not wanted or last(found.zone).rsplit("-", 1)[0] in wanted):
                        yield to_cloud(found)  # a regional group (no zone) is not adapted yet
            for address in self._api.aggregated(self.addresses, "addresses"):
                # internal addresses cost nothing reserved; a global one (no region) is not adapted yet.
                # GCE leaves addressType out of an external address it defaults: only INTERNAL is left out
                external = str(address.address_type) != "INTERNAL"
                if external and address.region and (not wanted or last(address.region) in wanted):
                    yield self._addresses.to_cloud(address)
            for bucket in self.storage.list_buckets(project=self.project):
                if covers(str(bucket.location or ""), bucket.data_locations, wanted):
                    yield self._storage.bucket_to_cloud(bucket)
        except google_errors.GoogleAPICallError as exc:
            raise translate(exc) from exc

    def describe(self, resource_id: str) -> CloudResource:
        collection = collection_of(resource_id)
        if collection == "bucket":
            return self._storage.describe_bucket(resource_id)
        if collection == "addresses":
            return self._addresses.describe(resource_id)
        describe = {
            "instances": self._compute.describe_instance,
            "disks": self._storage.describe_disk,
            "instanceGroupManagers": self._compute.describe_group,
        }
        return describe[collection](resource_id)

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        collection = collection_of(resource_id)
        if collection == "bucket":
            return self._storage.tag_bucket(resource_id, tags)
        if collection == "instanceGroupManagers":
            raise UnsupportedRequest("a managed instance group has no labels in Compute Engine; tag its instances")
        if collection == "addresses":
            return self._addresses.tag(resource_id, tags)
        if collection == "instances":
            return self._compute.tag(resource_id, tags)
        return self._storage.tag_disk(resource_id, tags)

    # -- write side ----------------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        problems = self.provision_problems(request)
        if problems:
            raise UnsupportedRequest("; ".join(f"{field}: {message}" for field, message in problems))
        subtype = _subtype(request)
        if subtype == "instance" and request.network and "/global/networks/" in request.network:
            placed = self._networks.describe(request.network)  # an isolated network: on its subnetwork
            request = replace(request, options={**request.options, "subnetwork": placed.details["subnetwork"]})
        make = {
            "instance": self._compute.provision,
            "volume": self._storage.provision_volume,
            "bucket": self._storage.provision_bucket,
        }
        return make[subtype](request)

    def start(self, resource_id: str) -> CloudResource:
        self._powered(resource_id, "start")
        return self._compute.power(resource_id, "start")

    def stop(self, resource_id: str) -> CloudResource:
        self._powered(resource_id, "stop")
        return self._compute.power(resource_id, "stop")

    def _powered(self, resource_id: str, action: str) -> None:
        collection = collection_of(resource_id)
        if collection == "instanceGroupManagers":
            raise UnsupportedRequest(
                f"a managed instance group is not {action}ed as a whole: scale it (capacity 0 stops every "
                "instance, a larger capacity brings them back)"
            )
        if collection != "instances":
            raise UnsupportedRequest(f"{NOUNS[collection]} has no power state to {action}")

    def terminate(self, resource_id: str) -> CloudResource:
        current = self.describe(resource_id)
        if collection_of(resource_id) == "bucket":
            self._storage.delete_bucket(resource_id, current.name)
        elif collection_of(resource_id) == "addresses":
            self._addresses.release(resource_id, current)
        else:
            self._api.call(resource_id, "delete")
        return replace(current, state=ResourceState.TERMINATED)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        collection = collection_of(resource_id)
        if collection == "instanceGroupManagers":
            return self._compute.resize(resource_id, request)
        if collection != "instances":
            raise UnsupportedRequest(f"{NOUNS[collection]} does not scale through WedCloud")
        return self._compute.scale(resource_id, request)
