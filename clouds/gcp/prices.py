"""Google Cloud list prices from the Cloud Billing Catalog API (``services.skus.list``).

Compute Engine does not price machine types: it prices a vCPU-hour and a GiB-hour of memory per
machine series and region (SKUs such as "N2 Instance Core running in Americas" and "N2 Instance
Ram running in Americas"), so a predefined type costs vCPUs x core rate + GiB x RAM rate of its
series. Only on-demand SKUs count; custom, sole-tenant, Spot/preemptible and commitment SKUs are
not predefined on-demand usage and are left out by their usage type or description.

Machine type specs come from ``machine_types`` or, by default, the shipped spec table
(:func:`clouds.price_snapshot.specs`), not from the Compute API: ``machineTypes.list`` needs a
project and a zone, so reading a public price list would need project credentials and a zone per
region for data that does not change once a type is published. Shared-core types (e2-micro,
e2-small, e2-medium, f1-micro, g1-small) bill a fraction of a vCPU and are not priced by the
formula, so they are skipped. Types whose series has no rates in the region are skipped and logged.

Block storage is the balanced persistent disk (pd-balanced) per GiB-month; the address price is
a reserved static external IPv4 address that is not in use (the unattached case; an address in
use on a standard VM is billed at a lower rate).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clouds.base import InstanceType
from clouds.price_snapshot import Spec, specs
from clouds.prices import PriceList

log = logging.getLogger(__name__)

COMPUTE_ENGINE = "services/6F81-5844-456A"
SHARED_CORE = frozenset({"e2-micro", "e2-small", "e2-medium", "f1-micro", "g1-small"})
ARM_SERIES = frozenset({"t2a", "c4a"})
# "<series>[ AMD| Intel| Arm] Instance Core|Ram running in <place>"; two series are named in words
_RESOURCE = re.compile(r"^(?P<series>[A-Z0-9]+)(?: AMD| Intel| Arm)? Instance (?P<kind>Core|Ram) running in ")
_WORDED = re.compile(r"^(?P<series>Compute optimized|Memory-optimized Instance) (?P<kind>Core|Ram) running in ")
_WORDED_SERIES = {"Compute optimized": "c2", "Memory-optimized Instance": "m1"}


def _money(unit_price: Any) -> Decimal:
    return Decimal(int(unit_price.units)) + Decimal(int(unit_price.nanos)).scaleb(-9)


def _rate(sku: Any, currency: str) -> tuple[Decimal, str] | None:
    """The SKU's unit price (the last tier: the rate that applies at volume) and usage unit."""
    if not sku.pricing_info:
        return None
    expression = sku.pricing_info[0].pricing_expression
    if not expression.tiered_rates:
        return None
    unit_price = expression.tiered_rates[-1].unit_price
    if unit_price.currency_code and unit_price.currency_code != currency:
        raise ValueError(f"the catalogue answered in {unit_price.currency_code}, not {currency}")
    return _money(unit_price), expression.usage_unit


def _series(description: str) -> tuple[str, str] | None:
    """(series, "Core"|"Ram") of a predefined on-demand vCPU or memory SKU, else None."""
    found = _RESOURCE.match(description)
    if found:
        return found["series"].lower(), found["kind"]
    found = _WORDED.match(description)
    return (_WORDED_SERIES[found["series"]], found["kind"]) if found else None


def _catalogue(client: Any, region: str, currency: str) -> tuple[dict[str, dict[str, Decimal]], dict[str, Decimal]]:
    """Per-series core and RAM rates, plus the disk and address prices, in one pass over the SKUs."""
    rates: dict[str, dict[str, Decimal]] = {}
    extras: dict[str, Decimal] = {}
    for sku in client.list_skus(request={"parent": COMPUTE_ENGINE, "currency_code": currency}):
        category = sku.category
        if category.usage_type != "OnDemand" or not ({region, "global"} & set(sku.service_regions)):
            continue
        priced = _rate(sku, currency)
        if priced is None:
            continue
        price, unit = priced
        family, description = category.resource_family, sku.description
        resource = _series(description) if family == "Compute" else None
        if resource is not None and unit in ("h", "GiBy.h"):
            rates.setdefault(resource[0], {}).setdefault(resource[1], price)
        elif family == "Storage" and unit == "GiBy.mo" and description.startswith("Balanced PD Capacity"):
            extras.setdefault("block", price)
        elif family == "Network" and unit == "h" and description.startswith("Static Ip Charge"):
            extras.setdefault("address", price)
    return rates, extras


def _machine_type(
    name: str, shape: tuple[int, Decimal], rates: Mapping[str, Decimal], spec: Spec | None, currency: str
) -> InstanceType:
    vcpus, memory = shape
    series, _, klass = name.partition("-")
    base = spec or Spec(
        family=series if klass.startswith("standard") else f"{series}-{klass.rsplit('-', 1)[0]}",
        vcpus=vcpus,
        memory_gib=Decimal(memory),
        architecture="arm64" if series in ARM_SERIES else "x86_64",
    )
    price = vcpus * rates["Core"] + Decimal(memory) * rates["Ram"]
    return replace(base, vcpus=vcpus, memory_gib=Decimal(memory)).priced(name, price, currency)


def fetch_gcp(
    region: str,
    *,
    catalog_client: Any,
    machine_types: Mapping[str, tuple[int, Decimal]] | None = None,
    currency: str = "USD",
) -> PriceList:
    """The region's price list through ``catalog_client`` (a
    ``google.cloud.billing_v1.CloudCatalogClient``). ``machine_types`` maps predefined type
    names to (vCPUs, memory GiB) and replaces the shipped spec table."""
    rates, extras = _catalogue(catalog_client, region, currency)
    table = specs("gcp")
    shapes = {n: (s.vcpus, s.memory_gib) for n, s in table.items()} if machine_types is None else dict(machine_types)
    types, skipped = [], []
    for name in sorted(shapes):
        series_rates = rates.get(name.split("-")[0], {})
        if name in SHARED_CORE or not {"Core", "Ram"} <= series_rates.keys():
            skipped.append(name)
            continue
        types.append(_machine_type(name, shapes[name], series_rates, table.get(name), currency))
    if skipped:
        log.info("gcp %s: %d machine types skipped (shared-core or no rates): %s", region, len(skipped), skipped)
    return PriceList(
        cloud="gcp",
        region=region,
        currency=currency,
        instance_types=tuple(types),
        block_gb_month=extras.get("block"),
        address_hourly=extras.get("address"),
        source="api",
        fetched_at=datetime.now(UTC),
    )
