"""What a made resource offers to ``${resources.<name>.<attribute>}`` and the substitution of one
such reference in a text (``template_refs.resolve`` applies it to a whole resource); the names
deployments give their resources in the cloud."""

from __future__ import annotations

import re
from collections.abc import Mapping

from clouds.base import CloudResource
from control_plane.deployments.spec import ATTRIBUTES, REFERENCE

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
    """``text`` with each ``${resources.<name>.<attribute>}`` replaced by its value (other
    ``${...}`` are left as they are); UnresolvedReference names one that cannot be filled."""

    def value_of(match: re.Match[str]) -> str:
        parts = match.group(1).strip().split(".")
        if parts[0] != "resources":
            return str(match.group(0))
        if len(parts) != 3:
            raise UnresolvedReference(f"{match.group(0)} is not ${{resources.<name>.<attribute>}}")
        made = attributes.get(parts[1])
        if made is None:
            raise UnresolvedReference(f"{match.group(0)}: resource {parts[1]!r} has no attributes yet")
        if parts[2] not in made:
            raise UnresolvedReference(f"{match.group(0)}: resource {parts[1]!r} has no attribute {parts[2]!r}")
        return str(made[parts[2]])

    return REFERENCE.sub(value_of, text)
