"""Sizes across clouds, for a cold standby on another provider: a stateless tier is made again
there in the cheapest size with at least the vCPUs and memory of its own (same architecture and
catalogue: a virtual machine for a virtual machine)."""

from __future__ import annotations

from clouds import price_snapshot
from clouds.base import CloudProvider, InstanceType
from clouds.errors import CloudError, UnsupportedRequest
from clouds.prices import CLOUDS


def catalogue(adapter: CloudProvider, region: str) -> list[InstanceType]:
    """The region's sizes: the adapter's catalogue, else the shipped list-price snapshot of its
    cloud (the real clouds' adapters publish none), else nothing."""
    try:
        return list(adapter.price_catalogue(region=region))
    except (UnsupportedRequest, CloudError):
        pass
    if adapter.kind in CLOUDS and (shipped := price_snapshot.shipped(adapter.kind, region)):
        return list(shipped.instance_types)
    return []


def equivalent(size: str, source: list[InstanceType], target: list[InstanceType]) -> str | None:
    """The cheapest size of ``target`` that holds ``size`` of ``source``, or None."""
    spec = next((t for t in source if t.name == size), None)
    if spec is None:
        return None
    fits = [t for t in target if t.vcpus >= spec.vcpus and t.memory_gib >= spec.memory_gib
            and t.architecture == spec.architecture and t.service == spec.service and t.gpus >= spec.gpus]  # fmt: skip
    return min(fits, key=lambda t: (t.hourly_price, t.vcpus, t.memory_gib, t.name)).name if fits else None
