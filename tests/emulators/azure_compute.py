"""Azure Resource Manager, compute side: subscriptions, locations, resource groups and virtual
machines, with the long-running operations the SDK polls, over real HTTP.

What it enforces, as ARM documents it: a bearer token and an ``api-version`` on every call
(inherited from the cost emulator); unknown subscriptions answer 404 ``SubscriptionNotFound``;
a VM needs a location, a size, an image, an OS profile and a network interface, and its
resource group must exist; actions the caller may not take answer 403 ``AuthorizationFailed``
naming the action (``deny``). Creating, starting, deallocating, powering off and deleting a VM
answer 201/202 with an ``Azure-AsyncOperation`` URL that reports ``InProgress`` once and then
``Succeeded`` (``Retry-After: 0`` keeps the SDK's polling fast). Lists page with ``nextLink``.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.azure_arm import AzureArmEmulator
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


class AzureComputeEmulator(AzureArmEmulator):
    def __init__(self, page_size: int = 50) -> None:
        super().__init__(page_size=page_size)
        self.subscriptions: set[str] = set()
        self.groups: dict[tuple[str, str], str] = {}  # (subscription, group lower) -> location
        self.vms: dict[tuple[str, str, str], VirtualMachine] = {}
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
        self.route(
            "GET",
            SUB + r"/providers/(?i:Microsoft\.Compute)/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)",
            self._operation,
        )

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

    def deny(self, *actions: str) -> None:
        with self.lock:
            self.denied |= set(actions)

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.subscriptions.clear()
            self.groups.clear()
            self.vms.clear()
            self.denied.clear()
            self.operations.clear()

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
        key = (request.params["sub"], request.params["rg"].lower(), request.params["name"].lower())
        with self.lock:
            vm = self.vms.get(key)
        if vm is None:
            raise HttpError(
                404,
                {
                    "error": {
                        "code": "ResourceNotFound",
                        "message": f"The Resource '{request.params['name']}' was not found.",
                    }
                },
            )
        return vm

    def _long_running(self, request: Request, location: str, status: int, body: Any = None) -> Reply:
        operation = f"op-{next(self._ids)}"
        with self.lock:
            self.operations[operation] = 1
        url = (
            f"{self.url}/subscriptions/{request.params['sub']}/providers/Microsoft.Compute/locations/{location}"
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
        if not (properties.get("storageProfile") or {}).get("imageReference"):
            problems.append("storageProfile.imageReference")
        if not (properties.get("osProfile") or {}).get("adminUsername"):
            problems.append("osProfile.adminUsername")
        if not (properties.get("networkProfile") or {}).get("networkInterfaces"):
            problems.append("networkProfile.networkInterfaces")
        if problems:
            raise HttpError(
                400, {"error": {"code": "InvalidParameter", "message": f"Required or invalid: {', '.join(problems)}."}}
            )
        with self.lock:
            if (subscription, request.params["rg"].lower()) not in self.groups:
                raise HttpError(
                    404,
                    {
                        "error": {
                            "code": "ResourceGroupNotFound",
                            "message": f"Resource group '{request.params['rg']}' could not be found.",
                        }
                    },
                )
            key = (subscription, request.params["rg"].lower(), request.params["name"].lower())
            existing = self.vms.get(key)
            vm = existing or VirtualMachine(
                subscription, request.params["rg"], request.params["name"], body["location"], size
            )
            vm.size, vm.tags, vm.body, vm.zones = size, body.get("tags") or {}, body, body.get("zones") or []
            self.vms[key] = vm
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
        with self.lock:
            self.vms.pop((vm.subscription, vm.group.lower(), vm.name.lower()), None)
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
