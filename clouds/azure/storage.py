"""Managed disks (azure-mgmt-compute) and storage accounts (azure-mgmt-storage): what they are as
CloudResources, and what provisioning one asks of ARM.

``details["state_since"]`` of a managed disk is its ``lastOwnershipUpdateTime``, only while a VM
manages it (when it was attached) or while it is ``Unattached`` and managed by nothing (when it
was detached). A disk in any other state (``Reserved``, ``ActiveSAS``, ``ActiveUpload``,
``ReadyToUpload`` ...) is in use: it is attached to its VM, else the first of
``managedByExtended``, else ``unknown``, and has no state_since.

A storage account's name is ``options.account_name`` where the request gives one, else its name:
ARM allows only 3-24 lowercase letters and digits, and the deployment engine names every
resource ``<deployment>-<logical>``, so a template's Azure bucket sets ``options.account_name``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from clouds.azure.api import Arm, parse_id, parse_time, reported_tags, settled_state
from clouds.base import CloudResource, Problem, ProvisionRequest, ResourceState, ResourceType

UNKNOWN_USER = "unknown"  # what a resource in use is attached to when Azure names no user
DISK_SKUS = (
    "Standard_LRS", "StandardSSD_LRS", "StandardSSD_ZRS", "Premium_LRS", "Premium_ZRS", "PremiumV2_LRS", "UltraSSD_LRS",
)  # fmt: skip
DEFAULT_DISK_SKU = "StandardSSD_LRS"
MAX_DISK_GB = 32767
STORAGE_SKUS = (
    "Standard_LRS", "Standard_GRS", "Standard_RAGRS", "Standard_ZRS", "Standard_GZRS", "Standard_RAGZRS",
    "Premium_LRS", "Premium_ZRS",
)  # fmt: skip
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}")
_DISK_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9_.-]{0,78}[A-Za-z0-9_])?")


def _since(text: str | None) -> dict[str, datetime]:
    """``details["state_since"]`` from a time Azure gives; absent, never guessed, without one."""
    moment = parse_time(text)
    return {} if moment is None else {"state_since": moment.astimezone(UTC)}


def _disk_user(raw: Mapping[str, Any]) -> str | None:
    """What a managed disk is attached to: None only when ARM says it is ``Unattached`` and names
    no VM. Any other state (Attached, Reserved, ActiveSAS, ActiveUpload, ReadyToUpload, or none
    given) is in use: the VM that manages it, else the first of ``managedByExtended``, else
    ``unknown``, so that it is never taken for a disk nothing uses."""
    managers = [raw.get("managedBy"), *(raw.get("managedByExtended") or [])]
    user = next((manager for manager in managers if manager), None)
    if user is None and (raw.get("properties") or {}).get("diskState") != "Unattached":
        return UNKNOWN_USER
    return user


def disk_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not _DISK_NAME.fullmatch(request.name):
        problems.append(
            ("name", "a managed disk's name is 1-80 letters, digits, '_', '.' or '-', starting with a letter or "
             "digit and ending with a letter, digit or '_'")
        )  # fmt: skip
    size = request.size.removesuffix("GB")
    if not (request.size.endswith("GB") and size.isdigit() and 1 <= int(size) <= MAX_DISK_GB):
        problems.append(("size", f"a managed disk's size is '<n>GB' with n from 1 to {MAX_DISK_GB}"))
    if request.options.get("sku", DEFAULT_DISK_SKU) not in DISK_SKUS:
        problems.append(("options", f"options.sku of a managed disk is one of {', '.join(DISK_SKUS)}"))
    return problems


def account_name(request: ProvisionRequest) -> str:
    """The storage account's name: ``options.account_name`` where given, else the request's name."""
    return str(request.options.get("account_name") or request.name)


def account_problems(request: ProvisionRequest) -> list[Problem]:
    problems: list[Problem] = []
    if not _ACCOUNT_NAME.fullmatch(account_name(request)):
        field = "options" if request.options.get("account_name") else "name"
        problems.append(
            (field, "a storage account's name is 3-24 lowercase letters and digits, and unique across all of Azure "
             "(options.account_name gives one when the resource's name has hyphens, as a deployment's do)")
        )  # fmt: skip
    if request.size not in STORAGE_SKUS:
        problems.append(("size", f"a storage account's size is its SKU: one of {', '.join(STORAGE_SKUS)}"))
    return problems


def disk_body(request: ProvisionRequest) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sku": {"name": request.options.get("sku", DEFAULT_DISK_SKU)},
        "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": int(request.size[:-2])},
    }
    if request.options.get("zone"):
        body["zones"] = [str(request.options["zone"])]
    return body


def account_body(request: ProvisionRequest) -> dict[str, Any]:
    return {
        "sku": {"name": request.size},
        "kind": "StorageV2",
        "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": False},
    }


class Storage:
    """The subscription's managed disks and storage accounts."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm

    def disk_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
        properties = raw.get("properties") or {}
        zones = raw.get("zones") or []
        size = properties.get("diskSizeGB")
        user, state = _disk_user(raw), properties.get("diskState")
        # lastOwnershipUpdateTime is the attach time of a disk a VM manages, the detach time of an
        # unattached one; a disk in any other state (ActiveSAS, ReadyToUpload ...) gets none
        since = bool(raw.get("managedBy")) or (state == "Unattached" and user is None)
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.STORAGE, subtype="volume",
            region=raw["location"], zone=zones[0] if zones else None,
            state=settled_state(properties, ResourceState.AVAILABLE), account_id=self.arm.subscription_id,
            size=None if size is None else f"{size}GB", tags=reported_tags(raw),
            created_at=parse_time(properties.get("timeCreated")), attached_to=user,
            details={
                "resource_group": parse_id(raw["id"]).group, "sku": (raw.get("sku") or {}).get("name"),
                "disk_state": state, **(_since(properties.get("lastOwnershipUpdateTime")) if since else {}),
            },
        )  # fmt: skip

    def account_to_cloud(self, raw: Mapping[str, Any]) -> CloudResource:
        properties = raw.get("properties") or {}
        return CloudResource(
            id=raw["id"], name=raw["name"], resource_type=ResourceType.STORAGE, subtype="bucket",
            region=raw["location"], state=settled_state(properties, ResourceState.AVAILABLE),
            account_id=self.arm.subscription_id, size=(raw.get("sku") or {}).get("name"), tags=reported_tags(raw),
            created_at=parse_time(properties.get("creationTime")),
            details={
                "resource_group": parse_id(raw["id"]).group, "kind": raw.get("kind"),
                "access_tier": properties.get("accessTier"),
                "blob_endpoint": (properties.get("primaryEndpoints") or {}).get("blob"),
            },
        )  # fmt: skip
