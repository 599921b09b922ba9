"""What a made resource offers to ``${resources.<name>.<attribute>}``, and the substitution of
those references once the resources they name exist; the names deployments give their
resources in the cloud."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from clouds.base import CloudResource
from control_plane.deployments.spec import ATTRIBUTES, REFERENCE, DesiredResource

Attributes = Mapping[str, Mapping[str, str]]  # logical name -> attribute -> value
_CLOUD_NAME = re.compile(r"[^a-z0-9-]+")


class UnresolvedReference(KeyError):
    """A ``${resources...}`` reference to something not made (or not offered) yet."""

    def __str__(self) -> str:
        return str(self.args[0])


def cloud_name(deployment: str, logical: str, *, suffix: str = "") -> str:
    """The name a deployment's resource has in its cloud: ``<deployment>-<logical>``, in the
    lowercase letters, digits and hyphens every cloud accepts, at most 63 characters. A
    resource made beside one of the same logical name (a replacement: ``r<version>``; one put
    back by a rollback: ``u<version>``) ends in ``-<suffix>``."""
    suffix = f"-{suffix}" if suffix else ""
    base = _CLOUD_NAME.sub("-", f"{deployment}-{logical}".lower()).strip("-")
    base = re.sub(r"-{2,}", "-", base)[: 63 - len(suffix)].rstrip("-")
    if not base[:1].isalpha():
        base = f"d{base}"[: 63 - len(suffix)]
    return base + suffix


def attributes_of(resource: CloudResource) -> dict[str, str]:
    """The values ``${resources.<name>.<attribute>}`` reads of a made resource."""
    details = resource.details or {}
    endpoint = next((str(details[k]) for k in ("endpoint", "address", "dns_name") if details.get(k)), resource.name)
    values = {
        "id": resource.id,
        "name": resource.name,
        "region": resource.region,
        "size": resource.size or "",
        "zone": resource.zone or "",
        "endpoint": endpoint,
        "account_id": resource.account_id or "",
    }
    return {k: values[k] for k in ATTRIBUTES}


def substitute(text: str, attributes: Attributes) -> str:
    """``text`` with each ``${resources.<name>.<attribute>}`` replaced by its value."""

    def value(match: re.Match[str]) -> str:
        path = match.group(1).strip().split(".")
        if len(path) != 3 or path[0] != "resources":
            raise UnresolvedReference(f"{match.group(0)} is not a resource reference")
        made = attributes.get(path[1])
        if made is None or path[2] not in made:
            raise UnresolvedReference(f"{match.group(0)}: {path[1]!r} has not been made (or has no {path[2]!r})")
        return str(made[path[2]])

    return REFERENCE.sub(value, text)


def resolve(desired: DesiredResource, attributes: Attributes) -> DesiredResource:
    """``desired`` with its pending references substituted (``pending`` empty afterwards)."""
    if not desired.pending:
        return desired
    tags: dict[str, str] = dict(desired.tags)
    options: dict[str, Any] = dict(desired.options)
    fields: dict[str, Any] = {}
    for path, text in desired.pending.items():
        value = substitute(text, attributes)
        head, _, key = path.partition(".")
        if head == "tags":
            tags[key] = value
        elif head == "options":
            options[key] = value
        else:
            fields[head] = value
    return replace(desired, tags=tags, options=options, pending={}, **fields)


def resolve_outputs(outputs: Mapping[str, str], attributes: Attributes) -> dict[str, str]:
    """Each output with its references substituted; one that names something missing says so."""
    resolved = {}
    for name, text in outputs.items():
        try:
            resolved[name] = substitute(str(text), attributes)
        except UnresolvedReference as exc:
            resolved[name] = f"<unresolved: {exc}>"
    return resolved
