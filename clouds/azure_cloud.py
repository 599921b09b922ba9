"""Azure as a CloudProvider: one subscription's virtual machines, through azure-mgmt-compute
and azure-mgmt-resource.

Long-running operations (create, start, deallocate, delete) are polled to their end by the
SDK's ARM poller; every list follows ``nextLink``; ARM's errors leave this module as the errors
of :mod:`clouds.errors`. A VM is created by name with PUT, which ARM treats as idempotent: a
retried provision of the same name finds the same VM. Stopping deallocates, so a stopped VM
stops billing compute hours. Billing lives in :mod:`clouds.azure`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.rest import HttpRequest

from clouds.azure import client_options, credential_for
from clouds.base import (
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
from clouds.errors import (
    AuthenticationFailed,
    CloudError,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)

SUBSCRIPTIONS_API = "2022-12-01"
SERVICES = (
    Service("Microsoft.Compute/virtualMachines", "Virtual Machines", "Compute", (ResourceType.COMPUTE,)),
    Service("Microsoft.Compute/disks", "Managed Disks", "Storage", (ResourceType.STORAGE,)),
)
_POWER = {
    "running": ResourceState.RUNNING,
    "starting": ResourceState.PROVISIONING,
    "stopped": ResourceState.STOPPED,  # powered off but still allocated (and billed)
    "stopping": ResourceState.STOPPED,
    "deallocated": ResourceState.STOPPED,
    "deallocating": ResourceState.STOPPED,
}


def translate(exc: Exception, resource_id: str | None = None) -> CloudError:
    """The :mod:`clouds.errors` error for an Azure SDK error."""
    if isinstance(exc, ResourceNotFoundError) and resource_id:
        return ResourceNotFound(resource_id)
    if isinstance(exc, ClientAuthenticationError):
        return AuthenticationFailed(str(exc.message if hasattr(exc, "message") else exc))
    if isinstance(exc, ServiceRequestError):
        return Throttled(f"Azure could not be reached: {exc}")
    if isinstance(exc, HttpResponseError):
        code = getattr(exc.error, "code", None) or ""
        message = getattr(exc.error, "message", None) or str(exc)
        if exc.status_code == 429:
            return Throttled(f"Azure throttled the call: {message}")
        if exc.status_code in (401, 403) or code in ("AuthorizationFailed", "SubscriptionNotFound"):
            return AuthenticationFailed(f"{code}: {message}")
        if exc.status_code == 404 and resource_id:
            return ResourceNotFound(resource_id)
        if exc.status_code == 409:
            return InvalidStateTransition(resource_id or "", "busy", message)
        return UnsupportedRequest(f"{code or exc.status_code}: {message}")
    return UnsupportedRequest(str(exc))


def _parts(resource_id: str) -> tuple[str, str]:
    """(resource group, name) of a VM's ARM id."""
    pieces = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in pieces]
    try:
        group = pieces[lowered.index("resourcegroups") + 1]
        name = pieces[lowered.index("virtualmachines") + 1]
    except (ValueError, IndexError):
        raise ResourceNotFound(resource_id) from None
    return group, name


def _image(text: str) -> dict[str, str]:
    """An image reference from ``publisher:offer:sku:version`` (the CLI's URN) or an image id."""
    if text.startswith("/"):
        return {"id": text}
    parts = text.split(":")
    if len(parts) != 4:
        raise UnsupportedRequest(f"image {text!r}: use publisher:offer:sku:version or an image's ARM id")
    return dict(zip(("publisher", "offer", "sku", "version"), parts, strict=True))


class AzureCloud(NotYetAdapted):
    """One Azure subscription (a service principal or the SDK's chain), over ``regions``."""

    kind = "azure"

    @classmethod
    def provision_problems(cls, request: ProvisionRequest) -> list[Problem]:
        problems: list[Problem] = []
        if request.options["subtype"] != "instance":
            problems.append(("subtype", "the Azure adapter provisions virtual machines"))
        if not request.image:
            problems.append(("image", "an Azure VM needs an image (publisher:offer:sku:version)"))
        if not request.network:
            problems.append(("network", "an Azure VM needs the ARM id of its network interface"))
        if not request.options.get("ssh_public_key"):
            problems.append(("options", "an Azure VM needs options.ssh_public_key for its administrator"))
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
    ) -> None:
        from azure.mgmt.compute import ComputeManagementClient
        from azure.mgmt.resource.resources import ResourceManagementClient

        self.subscription_id = subscription_id
        self.regions = list(regions)
        self.default_region = default_region or (self.regions[0] if self.regions else "uksouth")
        self.resource_group = resource_group
        # seconds between polls of a long-running operation when Azure gives no Retry-After
        # (None: the SDK's own default, 30 s)
        self.polling: dict[str, Any] = {} if polling_interval is None else {"polling_interval": polling_interval}
        credential = credential_for(credentials)
        options = client_options(endpoint_url)
        self.compute = ComputeManagementClient(credential, subscription_id, **options)
        self.resources = ResourceManagementClient(credential, subscription_id, **options)

    # -- helpers -------------------------------------------------------------------------------
    def _arm(self, path: str, api_version: str) -> dict[str, Any]:
        """A GET on an ARM path through the compute client's pipeline (its auth, retries)."""
        response = self.compute.send_request(HttpRequest("GET", f"{path}?api-version={api_version}"))
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def _to_cloud(self, raw: Mapping[str, Any], power: str | None = None) -> CloudResource:
        properties = raw.get("properties") or {}
        statuses = (properties.get("instanceView") or {}).get("statuses") or []
        codes = [s.get("code", "") for s in statuses]
        power = power or next((c.split("/", 1)[1] for c in codes if c.startswith("PowerState/")), None)
        provisioning = properties.get("provisioningState", "Succeeded")
        if provisioning in ("Creating", "Updating") and power is None:
            state = ResourceState.PROVISIONING
        elif provisioning == "Failed":
            state = ResourceState.FAILED
        else:
            state = _POWER.get(power or "running", ResourceState.RUNNING)
        zones = raw.get("zones") or []
        image = (properties.get("storageProfile") or {}).get("imageReference") or {}
        return CloudResource(
            id=raw["id"],
            name=raw["name"],
            resource_type=ResourceType.COMPUTE,
            subtype="instance",
            region=raw["location"],
            zone=zones[0] if zones else None,
            state=state,
            account_id=self.subscription_id,
            size=(properties.get("hardwareProfile") or {}).get("vmSize"),
            tags=raw.get("tags") or {},
            created_at=None,
            details={
                "resource_group": _parts(raw["id"])[0],
                "image": ":".join(image[k] for k in ("publisher", "offer", "sku", "version") if k in image) or None,
                "power_state": power,
                "deallocated": power == "deallocated",
            },
        )

    def _begin(self, operation: str, *arguments: Any) -> Any:
        """Start a long-running VM operation (``begin_...``) with this adapter's polling."""
        return getattr(self.compute.virtual_machines, operation)(*arguments, **self.polling)

    def _wait(self, poller: Any, resource_id: str) -> None:
        try:
            poller.result()
        except Exception as exc:  # the poller raises the SDK's errors
            raise translate(exc, resource_id) from exc

    # -- read side -----------------------------------------------------------------------------
    def test_connection(self) -> ConnectionCheck:
        try:
            subscription = self._arm(f"/subscriptions/{self.subscription_id}", SUBSCRIPTIONS_API)
        except Exception as exc:
            return ConnectionCheck(ok=False, identity="", detail=f"the subscription cannot be read: {translate(exc)}")
        identity = f"/subscriptions/{self.subscription_id} ({subscription.get('displayName', '')})"
        missing = []
        try:
            next(iter(self.compute.virtual_machines.list_all()), None)
        except HttpResponseError as exc:
            if exc.status_code == 403:
                missing.append("Microsoft.Compute/virtualMachines/read")
        detail = (
            f"subscription {subscription.get('state', 'unknown')}; missing permissions: {', '.join(missing)}"
            if missing
            else f"subscription {subscription.get('state', 'unknown')}; every permission WedCloud reads with is granted"
        )
        return ConnectionCheck(ok=not missing, identity=identity, detail=detail, missing_permissions=missing)

    def list_regions(self) -> list[Region]:
        try:
            body = self._arm(f"/subscriptions/{self.subscription_id}/locations", SUBSCRIPTIONS_API)
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
        wanted = {region} if region else set(self.regions)
        try:
            for vm in self.compute.virtual_machines.list_all(status_only="true"):
                raw = vm.as_dict()
                if not wanted or raw["location"] in wanted:
                    yield self._to_cloud(raw)
        except Exception as exc:
            raise translate(exc) from exc

    def describe(self, resource_id: str) -> CloudResource:
        group, name = _parts(resource_id)
        try:
            vm = self.compute.virtual_machines.get(group, name, expand="instanceView")
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        return self._to_cloud(vm.as_dict())

    # -- write side ----------------------------------------------------------------------------
    def provision(self, request: ProvisionRequest) -> CloudResource:
        if request.resource_type != ResourceType.COMPUTE or request.options.get("subtype", "instance") != "instance":
            raise UnsupportedRequest("the Azure adapter provisions virtual machines")
        if not request.image:
            raise UnsupportedRequest("an Azure VM needs an image (publisher:offer:sku:version)")
        if not request.network:
            raise UnsupportedRequest("an Azure VM needs a network interface: give its ARM id as network")
        key = request.options.get("ssh_public_key")
        if not key:
            raise UnsupportedRequest("an Azure VM needs options.ssh_public_key for its administrator")
        group = str(request.options.get("resource_group") or self.resource_group)
        try:
            self.resources.resource_groups.create_or_update(group, {"location": request.region})
        except Exception as exc:
            raise translate(exc) from exc
        admin = str(request.options.get("admin_username", "wedcloud"))
        body: dict[str, Any] = {
            "location": request.region,
            "tags": dict(request.tags),
            "properties": {
                "hardwareProfile": {"vmSize": request.size},
                "storageProfile": {"imageReference": _image(request.image)},
                "osProfile": {
                    "computerName": request.name[:15],
                    "adminUsername": admin,
                    "linuxConfiguration": {
                        "disablePasswordAuthentication": True,
                        "ssh": {"publicKeys": [{"path": f"/home/{admin}/.ssh/authorized_keys", "keyData": key}]},
                    },
                },
                "networkProfile": {"networkInterfaces": [{"id": request.network}]},
            },
        }
        resource_id = (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{group}"
            f"/providers/Microsoft.Compute/virtualMachines/{request.name}"
        )
        try:
            poller = self._begin("begin_create_or_update", group, request.name, body)
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        self._wait(poller, resource_id)
        return self.describe(resource_id)

    def _action(self, resource_id: str, begin: str) -> CloudResource:
        group, name = _parts(resource_id)
        try:
            poller = self._begin(begin, group, name)
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        self._wait(poller, resource_id)
        if begin == "begin_delete":
            return self._gone(resource_id)
        return self.describe(resource_id)

    def _gone(self, resource_id: str) -> CloudResource:
        group, name = _parts(resource_id)
        return CloudResource(
            id=resource_id, name=name, resource_type=ResourceType.COMPUTE, subtype="instance",
            region=self.default_region, state=ResourceState.TERMINATED, account_id=self.subscription_id,
            details={"resource_group": group},
        )  # fmt: skip

    def start(self, resource_id: str) -> CloudResource:
        return self._action(resource_id, "begin_start")

    def stop(self, resource_id: str) -> CloudResource:
        """Deallocate: a VM that is only powered off keeps billing its compute hours."""
        return self._action(resource_id, "begin_deallocate")

    def terminate(self, resource_id: str) -> CloudResource:
        current = self.describe(resource_id)
        gone = self._action(resource_id, "begin_delete")
        return CloudResource(**{**vars(gone), "region": current.region, "size": current.size, "tags": current.tags})

    def _update(self, resource_id: str, patch: dict[str, Any]) -> CloudResource:
        group, name = _parts(resource_id)
        try:
            poller = self._begin("begin_update", group, name, patch)
        except Exception as exc:
            raise translate(exc, resource_id) from exc
        self._wait(poller, resource_id)
        return self.describe(resource_id)

    def scale(self, resource_id: str, request: ScaleRequest) -> CloudResource:
        if request.capacity is not None:
            raise UnsupportedRequest("scale sets are not part of the Azure adapter yet; give a size")
        if not request.size:
            raise UnsupportedRequest("scaling needs a new size")
        return self._update(resource_id, {"properties": {"hardwareProfile": {"vmSize": request.size}}})

    def tag(self, resource_id: str, tags: Mapping[str, str]) -> CloudResource:
        return self._update(resource_id, {"tags": dict(tags)})
