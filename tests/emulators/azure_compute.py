"""Azure Resource Manager, compute and storage side: subscriptions, locations, resource groups,
virtual machines, managed disks, virtual machine scale sets and storage accounts, with the
long-running operations the SDK polls, over real HTTP.

What it enforces, as ARM documents it: a bearer token and an ``api-version`` on every call
(inherited from the cost emulator); unknown subscriptions answer 404 ``SubscriptionNotFound``;
a VM needs a location, a size, an image, an OS profile and a network interface, and its
resource group must exist; actions the caller may not take answer 403 ``AuthorizationFailed``
naming the action (``deny``). Creating, starting, deallocating, powering off and deleting a VM
answer 201/202 with an ``Azure-AsyncOperation`` URL that reports ``InProgress`` once and then
``Succeeded`` (``Retry-After: 0`` keeps the SDK's polling fast). Lists page with ``nextLink``
(``page_size``, restored by ``reset``).

Managed disks: a name of 1-80 letters, digits, ``_ . -``; an ``Empty`` disk needs
``diskSizeGB`` 1..32767; a SKU Azure sells; creating and deleting are long-running; deleting an
attached disk answers 409 ``OperationNotAllowed``. Scale sets (a test adds them; there is no
PUT): ``sku.capacity`` 0..1000 through a long-running PATCH. Storage accounts: a name of 3-24
lowercase letters and digits, unique across every subscription (409
``StorageAccountAlreadyTaken``); a SKU and kind Azure sells; creating answers 202 with a
``Location`` that answers 202 once and then 200 with the account; deleting is immediate (200,
or 204 when there was nothing to delete). ``deny`` takes each kind's actions too
(``Microsoft.Storage/storageAccounts/read``, ``Microsoft.Compute/disks/write`` ...).

Managed disks report ``lastOwnershipUpdateTime`` when a test sets it (Azure stamps it when a disk
is attached, detached, or its VM deallocated or started), and a ``diskState`` and
``managedByExtended`` a test gives.

Networking (``Microsoft.Network``, api-version 2024-05-01 as the adapter asks): public IP
addresses (a test adds them) are listed per subscription with ``nextLink``, read, retagged with a
PATCH and deleted (202 with an ``Azure-AsyncOperation`` the SDK polls); one whose
``ipConfiguration`` or ``natGateway`` is set cannot be deleted (400
``PublicIPAddressCannotBeDeleted``). Network interfaces (a test adds them) are listed per
subscription with ``nextLink`` and read, each with the ``virtualMachine`` it belongs to. ``deny``
takes ``Microsoft.Network/publicIPAddresses/read``, ``Microsoft.Network/networkInterfaces/read``
and the like.

Its server also answers Azure Monitor's metrics of VMs and scale sets and a location's VM sizes
(:mod:`tests.emulators.azure_monitor`); a test puts samples with ``add_metric``. Snapshots, disks
copied from them, VMs booting from an attached OS disk and network interfaces made with a PUT are
:mod:`tests.emulators.azure_recovery` (``recovery``); Azure DNS zones and record sets are
:mod:`tests.emulators.azure_dns` (``dns``); virtual networks and network security groups
:mod:`tests.emulators.azure_networks` (``networks``). A resource group exists in one location: a PUT naming
another answers 409 ``InvalidResourceGroupLocation``.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from tests.emulators.azure_arm import AzureArmEmulator
from tests.emulators.azure_dns import AzureDns
from tests.emulators.azure_monitor import AzureMonitor, Sample
from tests.emulators.azure_networks import AzureNetworks
from tests.emulators.azure_recovery import AzureRecovery
from tests.emulators.http import HttpError, Reply, Request

SUB = r"/subscriptions/(?P<sub>[^/]+)"
VM = SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Compute)/(?i:virtualMachines)/(?P<name>[^/]+)"
LOCATIONS = (
    ("uksouth", "UK South", "Europe"),
    ("ukwest", "UK West", "Europe"),
    ("westeurope", "West Europe", "Europe"),
    ("eastus", "East US", "US"),
)
SIZES = ("Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_E2s_v5")
DISK = SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Compute)/(?i:disks)/(?P<name>[^/]+)"
SCALE_SET = (
    SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Compute)"
    r"/(?i:virtualMachineScaleSets)/(?P<name>[^/]+)"
)
ACCOUNT = (
    SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Storage)/(?i:storageAccounts)/(?P<name>[^/]+)"
)
PUBLIC_IP = (
    SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Network)/(?i:publicIPAddresses)"
    r"/(?P<name>[^/]+)"
)
NIC = (
    SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Network)/(?i:networkInterfaces)"
    r"/(?P<name>[^/]+)"
)
DISK_SKUS = (
    "Standard_LRS", "Premium_LRS", "StandardSSD_LRS", "UltraSSD_LRS", "Premium_ZRS", "StandardSSD_ZRS", "PremiumV2_LRS",
)  # fmt: skip
DISK_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")
MAX_DISK_GB = 32767
MAX_CAPACITY = 1000
STORAGE_SKUS = (
    "Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Premium_LRS", "Premium_ZRS", "Standard_GZRS",
    "Standard_RAGZRS",
)  # fmt: skip
STORAGE_KINDS = ("StorageV2", "Storage", "BlobStorage", "BlockBlobStorage", "FileStorage")
ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
Item = TypeVar("Item", "ManagedDisk", "ScaleSet", "StorageAccount", "PublicIp", "NetworkInterface")


def _arm_id(subscription: str, group: str, kind: str, name: str) -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{kind}/{name}"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _invalid(message: str, code: str = "InvalidParameter") -> HttpError:
    return HttpError(400, {"error": {"code": code, "message": message}})


@dataclass
class VirtualMachine:
    subscription: str
    group: str
    name: str
    location: str
    size: str
    tags: dict[str, str] = field(default_factory=dict)
    power: str = "running"  # running, stopped (powered off, still billed), deallocated
    zones: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    vm_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.group}"
            f"/providers/Microsoft.Compute/virtualMachines/{self.name}"
        )

    def view(self, *, instance_view: bool = False) -> dict[str, Any]:
        properties = {
            **self.body.get("properties", {}),
            "vmId": self.vm_id,
            "hardwareProfile": {"vmSize": self.size},
            "provisioningState": "Succeeded",
        }
        if instance_view:
            properties["instanceView"] = {"statuses": self.statuses()}
        return {
            "id": self.id,
            "name": self.name,
            "type": "Microsoft.Compute/virtualMachines",
            "location": self.location,
            "tags": self.tags,
            "zones": self.zones,
            "properties": properties,
        }

    def statuses(self) -> list[dict[str, str]]:
        return [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded"},
            {"code": f"PowerState/{self.power}", "level": "Info", "displayStatus": f"VM {self.power}"},
        ]


@dataclass
class ManagedDisk:
    subscription: str
    group: str
    name: str
    location: str
    size_gb: int
    sku: str = "StandardSSD_LRS"
    tags: dict[str, str] = field(default_factory=dict)
    managed_by: str | None = None  # the ARM id of the VM it is attached to
    zones: list[str] = field(default_factory=list)
    created: str = field(default_factory=_now)
    ownership_updated: str | None = None  # lastOwnershipUpdateTime
    disk_state: str | None = None  # diskState when a test sets one (ActiveSAS ...), else as managed_by implies
    managed_by_extended: list[str] = field(default_factory=list)  # a shared disk's VMs
    creation: dict[str, Any] = field(default_factory=lambda: {"createOption": "Empty"})  # creationData
    os_type: str | None = None  # osType: Linux or Windows for an OS disk

    @property
    def id(self) -> str:
        return _arm_id(self.subscription, self.group, "Microsoft.Compute/disks", self.name)

    def view(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id, "name": self.name, "type": "Microsoft.Compute/disks", "location": self.location,
            "tags": self.tags, "zones": self.zones, "sku": {"name": self.sku, "tier": self.sku.split("_")[0]},
            "properties": {
                "creationData": dict(self.creation), "diskSizeGB": self.size_gb, "timeCreated": self.created,
                "diskState": self.disk_state or ("Attached" if self.managed_by else "Unattached"),
                "provisioningState": "Succeeded",
            },
        }  # fmt: skip
        if self.managed_by:
            body["managedBy"] = self.managed_by
        if self.managed_by_extended:
            body["managedByExtended"] = list(self.managed_by_extended)
        if self.ownership_updated:
            body["properties"]["lastOwnershipUpdateTime"] = self.ownership_updated
        if self.os_type:
            body["properties"]["osType"] = self.os_type
        return body


@dataclass
class ScaleSet:
    subscription: str
    group: str
    name: str
    location: str
    size: str
    capacity: int
    tags: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=_now)

    @property
    def id(self) -> str:
        return _arm_id(self.subscription, self.group, "Microsoft.Compute/virtualMachineScaleSets", self.name)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "type": "Microsoft.Compute/virtualMachineScaleSets",
            "location": self.location, "tags": self.tags,
            "sku": {"name": self.size, "tier": "Standard", "capacity": self.capacity},
            "properties": {
                "orchestrationMode": "Uniform", "upgradePolicy": {"mode": "Manual"}, "timeCreated": self.created,
                "provisioningState": "Succeeded",
            },
        }  # fmt: skip


@dataclass
class StorageAccount:
    subscription: str
    group: str
    name: str
    location: str
    sku: str = "Standard_LRS"
    kind: str = "StorageV2"
    tags: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=_now)

    @property
    def id(self) -> str:
        return _arm_id(self.subscription, self.group, "Microsoft.Storage/storageAccounts", self.name)

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "type": "Microsoft.Storage/storageAccounts", "location": self.location,
            "tags": self.tags, "kind": self.kind, "sku": {"name": self.sku, "tier": self.sku.split("_")[0]},
            "properties": {
                "provisioningState": "Succeeded", "creationTime": self.created, "accessTier": "Hot",
                "primaryLocation": self.location, "statusOfPrimary": "available",
                "primaryEndpoints": {"blob": f"https://{self.name}.blob.core.windows.net/"},
            },
        }  # fmt: skip


@dataclass
class PublicIp:
    """A public IP address; ``ip_configuration`` is the ARM id of the IP configuration (of a
    network interface, a load balancer ...) it is associated with."""

    subscription: str
    group: str
    name: str
    location: str
    ip: str | None = None  # a dynamic address has none until it is associated
    allocation: str = "Static"
    sku: str = "Standard"
    tags: dict[str, str] = field(default_factory=dict)
    ip_configuration: str | None = None
    nat_gateway: str | None = None
    zones: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return _arm_id(self.subscription, self.group, "Microsoft.Network/publicIPAddresses", self.name)

    def view(self) -> dict[str, Any]:
        properties: dict[str, Any] = {
            "provisioningState": "Succeeded", "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": self.allocation, "idleTimeoutInMinutes": 4,
        }  # fmt: skip
        if self.ip:
            properties["ipAddress"] = self.ip
        if self.ip_configuration:
            properties["ipConfiguration"] = {"id": self.ip_configuration}
        if self.nat_gateway:
            properties["natGateway"] = {"id": self.nat_gateway}
        return {
            "id": self.id, "name": self.name, "type": "Microsoft.Network/publicIPAddresses",
            "location": self.location, "tags": self.tags, "zones": self.zones,
            "sku": {"name": self.sku, "tier": "Regional"}, "properties": properties,
        }  # fmt: skip


@dataclass
class NetworkInterface:
    subscription: str
    group: str
    name: str
    location: str
    vm: str | None = None  # the ARM id of the VM it belongs to
    tags: dict[str, str] = field(default_factory=dict)
    subnet: str | None = None  # the ARM id of the subnet of its IP configuration
    public_ip: str | None = None  # the ARM id of the public IP address its IP configuration names

    @property
    def id(self) -> str:
        return _arm_id(self.subscription, self.group, "Microsoft.Network/networkInterfaces", self.name)

    def ip_configuration(self, name: str = "ipconfig1") -> str:
        return f"{self.id}/ipConfigurations/{name}"

    def view(self) -> dict[str, Any]:
        configuration: dict[str, Any] = {"id": self.ip_configuration(), "name": "ipconfig1"}
        if self.subnet:
            configuration["properties"] = {"subnet": {"id": self.subnet}, "privateIPAllocationMethod": "Dynamic"}
        properties: dict[str, Any] = {"provisioningState": "Succeeded", "ipConfigurations": [configuration]}
        if self.vm:
            properties["virtualMachine"] = {"id": self.vm}
        return {
            "id": self.id, "name": self.name, "type": "Microsoft.Network/networkInterfaces",
            "location": self.location, "tags": self.tags, "properties": properties,
        }  # fmt: skip


class AzureComputeEmulator(AzureArmEmulator):
    def __init__(self, page_size: int = 50) -> None:
        super().__init__(page_size=page_size)
        self.subscriptions: set[str] = set()
        self.groups: dict[tuple[str, str], str] = {}  # (subscription, group lower) -> location
        self.vms: dict[tuple[str, str, str], VirtualMachine] = {}
        self.disks: dict[tuple[str, str, str], ManagedDisk] = {}
        self.scale_sets: dict[tuple[str, str, str], ScaleSet] = {}
        self.accounts: dict[tuple[str, str, str], StorageAccount] = {}
        self.public_ips: dict[tuple[str, str, str], PublicIp] = {}
        self.nics: dict[tuple[str, str, str], NetworkInterface] = {}
        self.created_accounts: dict[str, StorageAccount] = {}  # storage operation id -> the account it creates
        self.default_page_size = page_size
        self.denied: set[str] = set()
        self.operations: dict[str, int] = {}  # operation id -> polls left before Succeeded
        self._ids = itertools.count(1)
        self.route("GET", SUB, self._subscription)
        self.route("GET", SUB + "/locations", self._locations)
        self.route("PUT", SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)", self._put_group)
        self.route("GET", SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)", self._get_group)
        self.route("GET", SUB + r"/providers/(?i:Microsoft\.Compute)/(?i:virtualMachines)", self._list_vms)
        self.route("GET", VM, self._get_vm)
        self.route("GET", VM + "/instanceView", self._instance_view)
        self.route("PUT", VM, self._put_vm)
        self.route("PATCH", VM, self._patch_vm)
        self.route("DELETE", VM, self._delete_vm)
        for action in ("start", "deallocate", "powerOff", "restart"):
            self.route("POST", VM + f"/{action}", self._power(action))
        for namespace in ("Compute", "Network"):  # the long-running operations of each, polled alike
            operation = rf"/providers/(?i:Microsoft\.{namespace})/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)"
            self.route("GET", SUB + operation, self._operation)
        self._disk_routes()
        self._scale_set_routes()
        self._storage_routes()
        self._network_routes()
        self.monitor = AzureMonitor(self)
        self.recovery = AzureRecovery(self)
        self.dns = AzureDns(self)
        self.networks = AzureNetworks(self)  # virtual networks and security groups

    def _reads(self, kind: str, item: str, store: dict[tuple[str, str, str], Any]) -> None:
        """The subscription's list of a kind (``Microsoft.Compute/disks``) and a GET of one, both
        needing the kind's read permission."""
        namespace, collection = (re.escape(part) for part in kind.split("/"))
        permission = f"{kind}/read"
        self.route("GET", SUB + f"/providers/(?i:{namespace})/(?i:{collection})", self._list_of(store, permission))
        self.route("GET", item, self._get_of(store, permission))

    def _disk_routes(self) -> None:
        self._reads("Microsoft.Compute/disks", DISK, self.disks)
        self.route("PUT", DISK, self._put_disk)
        self.route("PATCH", DISK, self._retag_of(self.disks, "Microsoft.Compute/disks/write"))
        self.route("DELETE", DISK, self._delete_disk)

    def _scale_set_routes(self) -> None:
        self._reads("Microsoft.Compute/virtualMachineScaleSets", SCALE_SET, self.scale_sets)
        self.route("PATCH", SCALE_SET, self._patch_scale_set)
        self.route("DELETE", SCALE_SET, self._delete_scale_set)

    def _storage_routes(self) -> None:
        self._reads("Microsoft.Storage/storageAccounts", ACCOUNT, self.accounts)
        self.route("PUT", ACCOUNT, self._put_account)
        self.route("PATCH", ACCOUNT, self._patch_account)
        self.route("DELETE", ACCOUNT, self._delete_account)
        self.route(
            "GET",
            SUB + r"/providers/(?i:Microsoft\.Storage)/locations/(?P<loc>[^/]+)/asyncoperations/(?P<op>[^/]+)",
            self._storage_operation,
        )

    def _network_routes(self) -> None:
        self._reads("Microsoft.Network/publicIPAddresses", PUBLIC_IP, self.public_ips)
        self.route("PATCH", PUBLIC_IP, self._retag_of(self.public_ips, "Microsoft.Network/publicIPAddresses/write"))
        self.route("DELETE", PUBLIC_IP, self._delete_public_ip)
        self._reads("Microsoft.Network/networkInterfaces", NIC, self.nics)

    # -- test set-up ---------------------------------------------------------------------------
    def add_subscription(self, subscription: str) -> None:
        with self.lock:
            self.subscriptions.add(subscription)

    def add_vm(self, vm: VirtualMachine) -> VirtualMachine:
        with self.lock:
            self.subscriptions.add(vm.subscription)
            self.groups.setdefault((vm.subscription, vm.group.lower()), vm.location)
            self.vms[(vm.subscription, vm.group.lower(), vm.name.lower())] = vm
        return vm

    def add_disk(self, disk: ManagedDisk) -> ManagedDisk:
        return self._add(self.disks, disk)

    def add_scale_set(self, scale_set: ScaleSet) -> ScaleSet:
        return self._add(self.scale_sets, scale_set)

    def add_account(self, account: StorageAccount) -> StorageAccount:
        return self._add(self.accounts, account)

    def add_public_ip(self, public_ip: PublicIp) -> PublicIp:
        return self._add(self.public_ips, public_ip)

    def add_nic(self, nic: NetworkInterface) -> NetworkInterface:
        return self._add(self.nics, nic)

    def _add(self, store: dict[tuple[str, str, str], Item], item: Item) -> Item:
        with self.lock:
            self.subscriptions.add(item.subscription)
            self.groups.setdefault((item.subscription, item.group.lower()), item.location)
            store[(item.subscription, item.group.lower(), item.name.lower())] = item
        return item

    def add_metric(self, resource_id: str, name: str, samples: list[Sample]) -> None:
        """Samples of an Azure Monitor metric (``Percentage CPU`` ...) of a VM or scale set."""
        self.monitor.add_metric(resource_id, name, samples)

    def deny(self, *actions: str) -> None:
        with self.lock:
            self.denied |= set(actions)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.subscriptions.clear()
            self.groups.clear()
            self.vms.clear()
            self.disks.clear()
            self.scale_sets.clear()
            self.accounts.clear()
            self.public_ips.clear()
            self.nics.clear()
            self.created_accounts.clear()
            self.denied.clear()
            self.operations.clear()
            self.page_size = self.default_page_size
        self.monitor.reset()
        self.recovery.reset()
        self.networks.reset()
        self.dns.reset()

    # -- helpers -------------------------------------------------------------------------------
    def _check(self, request: Request, action: str) -> str:
        self._common(request)
        subscription = request.params["sub"]
        with self.lock:
            if subscription not in self.subscriptions:
                raise HttpError(
                    404,
                    {
                        "error": {
                            "code": "SubscriptionNotFound",
                            "message": f"The subscription '{subscription}' could not be found.",
                        }
                    },
                )
            if action in self.denied:
                raise HttpError(
                    403,
                    {
                        "error": {
                            "code": "AuthorizationFailed",
                            "message": f"The client does not have authorization to perform action '{action}' "
                            f"over scope '/subscriptions/{subscription}'.",
                        }
                    },
                )
        return subscription

    def _vm(self, request: Request) -> VirtualMachine:
        vm: VirtualMachine = self._find(self.vms, request)
        return vm

    def _find(self, store: dict[tuple[str, str, str], Any], request: Request) -> Any:
        key = (request.params["sub"], request.params["rg"].lower(), request.params["name"].lower())
        with self.lock:
            found = store.get(key)
        if found is None:
            raise HttpError(
                404,
                {
                    "error": {
                        "code": "ResourceNotFound",
                        "message": f"The Resource '{request.params['name']}' was not found.",
                    }
                },
            )
        return found

    def _require_group(self, subscription: str, group: str) -> None:
        with self.lock:
            if (subscription, group.lower()) not in self.groups:
                raise HttpError(
                    404,
                    {
                        "error": {
                            "code": "ResourceGroupNotFound",
                            "message": f"Resource group '{group}' could not be found.",
                        }
                    },
                )

    def _listed(self, request: Request, store: dict[tuple[str, str, str], Any], subscription: str) -> Reply:
        with self.lock:
            items = sorted((i for i in store.values() if i.subscription == subscription), key=lambda i: i.id.lower())
        return self._page(request, [i.view() for i in items])

    def _list_of(self, store: dict[tuple[str, str, str], Any], permission: str) -> Callable[[Request], Reply]:
        """The handler of a subscription's list of one kind of resource, paged."""

        def handler(request: Request) -> Reply:
            subscription = self._check(request, permission)
            return self._listed(request, store, subscription)

        return handler

    def _get_of(self, store: dict[tuple[str, str, str], Any], permission: str) -> Callable[[Request], Reply]:
        """The handler of a GET of one resource of a kind."""

        def handler(request: Request) -> Reply:
            self._check(request, permission)
            return Reply(200, self._find(store, request).view())

        return handler

    def _retag_of(self, store: dict[tuple[str, str, str], Any], permission: str) -> Callable[[Request], Reply]:
        """The handler of a PATCH of a resource whose tags are all a PATCH may change."""

        def handler(request: Request) -> Reply:
            self._check(request, permission)
            item = self._find(store, request)
            body = request.json() or {}
            with self.lock:
                if "tags" in body:
                    item.tags = body["tags"] or {}
            return Reply(200, item.view())

        return handler

    def _remove(self, store: dict[tuple[str, str, str], Any], item: Any) -> None:
        with self.lock:
            store.pop((item.subscription, item.group.lower(), item.name.lower()), None)

    def _long_running(
        self, request: Request, location: str, status: int, body: Any = None, namespace: str = "Microsoft.Compute"
    ) -> Reply:
        operation = f"op-{next(self._ids)}"
        with self.lock:
            self.operations[operation] = 1
        url = (
            f"{self.url}/subscriptions/{request.params['sub']}/providers/{namespace}/locations/{location}"
            f"/operations/{operation}?api-version={request.query['api-version']}"
        )
        return Reply(status, body, {"Azure-AsyncOperation": url, "Retry-After": "0"})

    def _page(self, request: Request, items: list[dict[str, Any]]) -> Reply:
        offset = int(request.query.get("$skiptoken") or 0)
        page = items[offset : offset + self.page_size]
        reply: dict[str, Any] = {"value": page}
        if offset + self.page_size < len(items):
            reply["nextLink"] = (
                f"{self.url}{request.path}?api-version={request.query['api-version']}"
                f"&$skiptoken={offset + self.page_size}"
                + ("&statusOnly=true" if request.query.get("statusOnly") == "true" else "")
            )
        return Reply(200, reply)

    # -- routes --------------------------------------------------------------------------------
    def _subscription(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Resources/subscriptions/read")
        return Reply(
            200,
            {
                "id": f"/subscriptions/{subscription}",
                "subscriptionId": subscription,
                "displayName": "WedSync production",
                "state": "Enabled",
                "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            },
        )

    def _locations(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Resources/subscriptions/locations/read")
        return Reply(
            200,
            {
                "value": [
                    {
                        "id": f"/subscriptions/{subscription}/locations/{name}",
                        "name": name,
                        "displayName": display,
                        "metadata": {"geographyGroup": geography, "regionType": "Physical"},
                    }
                    for name, display, geography in LOCATIONS
                ]
            },
        )

    def _put_group(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Resources/subscriptions/resourceGroups/write")
        body = request.json() or {}
        if not body.get("location"):
            raise HttpError(
                400, {"error": {"code": "LocationRequired", "message": "The location property is required."}}
            )
        key = (subscription, request.params["rg"].lower())
        with self.lock:
            existed = key in self.groups
            if existed and self.groups[key] != body["location"]:
                message = (
                    f"Invalid resource group location '{body['location']}'. The Resource group already exists in "
                    f"location '{self.groups[key]}'."
                )
                raise HttpError(409, {"error": {"code": "InvalidResourceGroupLocation", "message": message}})
            self.groups[key] = body["location"]
        return Reply(200 if existed else 201, self._group_view(subscription, request.params["rg"], body["location"]))

    def _get_group(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Resources/subscriptions/resourceGroups/read")
        with self.lock:
            location = self.groups.get((subscription, request.params["rg"].lower()))
        if location is None:
            raise HttpError(404, {"error": {"code": "ResourceGroupNotFound", "message": "Resource group not found."}})
        return Reply(200, self._group_view(subscription, request.params["rg"], location))

    @staticmethod
    def _group_view(subscription: str, group: str, location: str) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{subscription}/resourceGroups/{group}",
            "name": group,
            "location": location,
            "properties": {"provisioningState": "Succeeded"},
        }

    def _list_vms(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Compute/virtualMachines/read")
        status = request.query.get("statusOnly") == "true"
        with self.lock:
            vms = sorted((v for v in self.vms.values() if v.subscription == subscription), key=lambda v: v.id)
        return self._page(request, [v.view(instance_view=status) for v in vms])

    def _get_vm(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Compute/virtualMachines/read")
        expand = request.query.get("$expand") == "instanceView"
        return Reply(200, self._vm(request).view(instance_view=expand))

    def _instance_view(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Compute/virtualMachines/read")
        return Reply(200, {"statuses": self._vm(request).statuses()})

    def _put_vm(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Compute/virtualMachines/write")
        body = request.json() or {}
        properties = body.get("properties") or {}
        problems = []
        if not body.get("location"):
            problems.append("location")
        size = (properties.get("hardwareProfile") or {}).get("vmSize")
        if size not in SIZES:
            problems.append(f"hardwareProfile.vmSize (one of {', '.join(SIZES)})")
        os_disk = (properties.get("storageProfile") or {}).get("osDisk") or {}
        attaching = os_disk.get("createOption") == "Attach"  # an existing OS disk: no image, no OS profile
        if not attaching and not (properties.get("storageProfile") or {}).get("imageReference"):
            problems.append("storageProfile.imageReference")
        if not attaching and not (properties.get("osProfile") or {}).get("adminUsername"):
            problems.append("osProfile.adminUsername")
        if not (properties.get("networkProfile") or {}).get("networkInterfaces"):
            problems.append("networkProfile.networkInterfaces")
        if problems:
            raise HttpError(
                400, {"error": {"code": "InvalidParameter", "message": f"Required or invalid: {', '.join(problems)}."}}
            )
        self._require_group(subscription, request.params["rg"])
        vm_id = _arm_id(subscription, request.params["rg"], "Microsoft.Compute/virtualMachines", request.params["name"])
        disk = self.recovery.os_disk(body["location"], properties, vm_id) if attaching else None
        nics = self.recovery.interfaces(body["location"], properties, vm_id)
        with self.lock:
            key = (subscription, request.params["rg"].lower(), request.params["name"].lower())
            existing = self.vms.get(key)
            vm = existing or VirtualMachine(
                subscription, request.params["rg"], request.params["name"], body["location"], size
            )
            vm.size, vm.tags, vm.body, vm.zones = size, body.get("tags") or {}, body, body.get("zones") or []
            self.vms[key] = vm
        self.recovery.attach(vm, disk, nics)
        return self._long_running(request, vm.location, 200 if existing else 201, vm.view())

    def _patch_vm(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Compute/virtualMachines/write")
        vm = self._vm(request)
        body = request.json() or {}
        size = ((body.get("properties") or {}).get("hardwareProfile") or {}).get("vmSize")
        if size is not None and size not in SIZES:
            raise HttpError(
                400, {"error": {"code": "InvalidParameter", "message": f"vmSize {size!r} is not available."}}
            )
        with self.lock:
            if size:
                vm.size = size
            if "tags" in body:
                vm.tags = body["tags"] or {}
        return Reply(200, vm.view())

    def _delete_vm(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Compute/virtualMachines/delete")
        vm = self._vm(request)
        self._remove(self.vms, vm)
        self.recovery.release(vm)
        return self._long_running(request, vm.location, 202)

    def _power(self, action: str) -> Any:
        target = {"start": "running", "deallocate": "deallocated", "powerOff": "stopped", "restart": "running"}[action]

        def handler(request: Request) -> Reply:
            self._check(request, f"Microsoft.Compute/virtualMachines/{action}/action")
            vm = self._vm(request)
            with self.lock:
                vm.power = target
            return self._long_running(request, vm.location, 202)

        return handler

    def _operation(self, request: Request) -> Reply:
        self._common(request)
        operation = request.params["op"]
        with self.lock:
            left = self.operations.get(operation)
            if left is None:
                raise HttpError(404, {"error": {"code": "NotFound", "message": f"operation {operation} not found"}})
            self.operations[operation] = max(left - 1, 0)
        status = "InProgress" if left else "Succeeded"
        return Reply(200, {"name": operation, "status": status}, {"Retry-After": "0"})

    # -- managed disks ---------------------------------------------------------------------------
    def _put_disk(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Compute/disks/write")
        name, body = request.params["name"], request.json() or {}
        properties = body.get("properties") or {}
        sku = (body.get("sku") or {}).get("name", "Standard_LRS")
        size = properties.get("diskSizeGB")
        if not DISK_NAME.fullmatch(name):
            message = f"Disk name '{name}' is invalid: 1-80 letters, digits, '_', '.' or '-'."
            raise _invalid(message, "InvalidResourceName")
        if not body.get("location"):
            raise _invalid("The location property is required.", "LocationRequired")
        creation = properties.get("creationData") or {}
        os_type = properties.get("osType")
        if creation.get("createOption") == "Copy":  # from a snapshot
            size, os_type = self.recovery.disk_source(body["location"], properties)
        elif creation.get("createOption") != "Empty":
            raise _invalid("creationData.createOption: this emulator creates Empty disks and Copy disks of snapshots.")
        if not isinstance(size, int) or not 1 <= size <= MAX_DISK_GB:
            raise _invalid(f"diskSizeGB must be between 1 and {MAX_DISK_GB} for an Empty disk.")
        if sku not in DISK_SKUS:
            raise _invalid(f"The value '{sku}' of sku.name is not valid: one of {', '.join(DISK_SKUS)}.")
        self._require_group(subscription, request.params["rg"])
        key = (subscription, request.params["rg"].lower(), name.lower())
        with self.lock:
            disk = self.disks.get(key) or ManagedDisk(subscription, request.params["rg"], name, body["location"], size)
            if size < disk.size_gb:
                raise _invalid("Disk size can only be increased.", "BadRequest")
            if key in self.disks and disk.creation.get("sourceResourceId") != creation.get("sourceResourceId"):
                message = f"Changing property 'creationData' is not allowed for existing disk '{name}'."
                raise HttpError(409, {"error": {"code": "PropertyChangeNotAllowed", "message": message}})
            disk.size_gb, disk.sku, disk.tags = size, sku, body.get("tags") or {}
            disk.creation, disk.os_type = dict(creation), os_type
            self.disks[key] = disk
        return self._long_running(request, disk.location, 202)

    def _delete_disk(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Compute/disks/delete")
        disk: ManagedDisk = self._find(self.disks, request)
        if disk.managed_by:
            message = f"Disk {disk.name} is attached to VM {disk.managed_by}."
            raise HttpError(409, {"error": {"code": "OperationNotAllowed", "message": message}})
        self.recovery.note_disk_deleted(disk.id)
        self._remove(self.disks, disk)
        return self._long_running(request, disk.location, 202)

    # -- virtual machine scale sets --------------------------------------------------------------
    def _patch_scale_set(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Compute/virtualMachineScaleSets/write")
        scale_set: ScaleSet = self._find(self.scale_sets, request)
        body = request.json() or {}
        capacity = (body.get("sku") or {}).get("capacity", scale_set.capacity)
        if not isinstance(capacity, int) or not 0 <= capacity <= MAX_CAPACITY:
            raise _invalid(f"sku.capacity must be between 0 and {MAX_CAPACITY}.")
        with self.lock:
            scale_set.capacity = capacity
            if "tags" in body:
                scale_set.tags = body["tags"] or {}
        return self._long_running(request, scale_set.location, 200, scale_set.view())

    def _delete_scale_set(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Compute/virtualMachineScaleSets/delete")
        scale_set: ScaleSet = self._find(self.scale_sets, request)
        self._remove(self.scale_sets, scale_set)
        return self._long_running(request, scale_set.location, 202)

    # -- storage accounts ------------------------------------------------------------------------
    def _put_account(self, request: Request) -> Reply:
        subscription = self._check(request, "Microsoft.Storage/storageAccounts/write")
        name, body = request.params["name"], request.json() or {}
        sku, kind = (body.get("sku") or {}).get("name"), body.get("kind")
        if not ACCOUNT_NAME.fullmatch(name):
            message = f"{name} is not a valid storage account name: 3-24 lowercase letters and numbers."
            raise _invalid(message, "AccountNameInvalid")
        if not body.get("location"):
            raise _invalid("The location property is required.", "LocationRequired")
        if sku not in STORAGE_SKUS or kind not in STORAGE_KINDS:
            message = f"sku.name ({', '.join(STORAGE_SKUS)}) and kind ({', '.join(STORAGE_KINDS)}) are required."
            raise _invalid(message, "InvalidValuesForRequestParameters")
        self._require_group(subscription, request.params["rg"])
        key = (subscription, request.params["rg"].lower(), name)
        with self.lock:
            holder = next((a for k, a in self.accounts.items() if a.name == name and k != key), None)
            if holder is not None:
                message = f"The storage account named {name} is already taken."
                raise HttpError(409, {"error": {"code": "StorageAccountAlreadyTaken", "message": message}})
            existing = self.accounts.get(key)
            account = existing or StorageAccount(subscription, request.params["rg"], name, body["location"])
            account.sku, account.kind, account.tags = sku, kind, body.get("tags") or {}
            self.accounts[key] = account
        if existing:
            return Reply(200, account.view())
        return self._accepted(request, account)

    def _accepted(self, request: Request, account: StorageAccount) -> Reply:
        """202 with a Location the SDK polls: 202 once more, then 200 with the account."""
        operation = f"op-{next(self._ids)}"
        with self.lock:
            self.operations[operation] = 1
            self.created_accounts[operation] = account
        url = (
            f"{self.url}/subscriptions/{request.params['sub']}/providers/Microsoft.Storage/locations/"
            f"{account.location}/asyncoperations/{operation}?monitor=true&api-version={request.query['api-version']}"
        )
        return Reply(202, None, {"Location": url, "Retry-After": "0"})

    def _storage_operation(self, request: Request) -> Reply:
        self._common(request)
        operation = request.params["op"]
        with self.lock:
            left, account = self.operations.get(operation), self.created_accounts.get(operation)
            if left is None or account is None:
                raise HttpError(404, {"error": {"code": "NotFound", "message": f"operation {operation} not found"}})
            self.operations[operation] = max(left - 1, 0)
        if left:
            return Reply(202, None, {"Location": f"{self.url}{request.path}?{_query(request)}", "Retry-After": "0"})
        return Reply(200, account.view())

    def _patch_account(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Storage/storageAccounts/write")
        account: StorageAccount = self._find(self.accounts, request)
        body = request.json() or {}
        sku = (body.get("sku") or {}).get("name")
        if sku is not None and sku not in STORAGE_SKUS:
            raise _invalid(f"sku.name must be one of {', '.join(STORAGE_SKUS)}.", "InvalidValuesForRequestParameters")
        with self.lock:
            account.sku = sku or account.sku
            if "tags" in body:
                account.tags = body["tags"] or {}
        return Reply(200, account.view())

    def _delete_account(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Storage/storageAccounts/delete")
        key = (request.params["sub"], request.params["rg"].lower(), request.params["name"].lower())
        with self.lock:
            gone = self.accounts.pop(key, None)
        return Reply(200 if gone else 204, None)

    # -- networking ------------------------------------------------------------------------------
    def _delete_public_ip(self, request: Request) -> Reply:
        self._check(request, "Microsoft.Network/publicIPAddresses/delete")
        public_ip: PublicIp = self._find(self.public_ips, request)
        user = public_ip.ip_configuration or public_ip.nat_gateway
        if user:
            message = (
                f"Public IP address {public_ip.id} can not be deleted since it is still allocated to resource {user}."
            )
            raise HttpError(400, {"error": {"code": "PublicIPAddressCannotBeDeleted", "message": message}})
        self._remove(self.public_ips, public_ip)
        return self._long_running(request, public_ip.location, 202, namespace="Microsoft.Network")


def _query(request: Request) -> str:
    return "&".join(f"{k}={v}" for k, v in request.query.items())
