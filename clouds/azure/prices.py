"""Azure list prices from the public Retail Prices API (``GET /api/retail/prices``, no credentials).

The API filters with an OData ``$filter`` (``eq`` and ``and``; values are case-sensitive from
API version 2023-01-01-preview) and pages with ``NextPageLink``. Virtual machine meters carry a
price but no specs: vCPUs and memory come from ``sizes`` or, by default, the shipped spec table
(:func:`clouds.price_snapshot.specs`); a size neither knows is skipped and logged, because a
price without its shape cannot be a rightsizing candidate. Windows, Spot and Low Priority meters
are dropped client-side (the filter language has no "not contains").

Managed disks are sold per tier, not per GB: the block storage price is one tier's monthly price
divided by the tier's size (by default Standard SSD E10 LRS, 128 GiB), which is what an
unattached disk of that tier saves per GB. The address price is the Standard static public IPv4
meter, which costs the same attached or not.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx

from clouds.base import InstanceType
from clouds.price_snapshot import Spec, specs
from clouds.prices import PriceList

log = logging.getLogger(__name__)

API_VERSION = "2023-01-01-preview"
DISK_TIER_GIB = {"4": 32, "6": 64, "10": 128, "15": 256, "20": 512, "30": 1024, "40": 2048, "50": 4096}
DISK_PRODUCTS = {"E": "Standard SSD Managed Disks", "P": "Premium SSD Managed Disks"}
ADDRESS_METER = "Standard IPv4 Static Public IP"
_EXCLUDED = re.compile(r"Windows|Spot|Low Priority")
_ARM_SIZE = re.compile(r"^Standard_[A-Z]+\d+[a-z]*p")  # D2ps_v5, E4pds_v5: Ampere Altra


def _filter(**terms: str) -> str:
    """An OData ``eq``/``and`` filter; a quote inside a value is doubled, as OData escapes it."""
    return " and ".join("{} eq '{}'".format(name, value.replace("'", "''")) for name, value in terms.items())


def _items(http: httpx.Client, endpoint: str, odata_filter: str, currency: str) -> Iterator[dict[str, Any]]:
    """Every item the filter selects, following NextPageLink (an absolute URL with $skip)."""
    params: dict[str, str] | None = {"api-version": API_VERSION, "currencyCode": f"'{currency}'",
                                     "meterRegion": "'primary'", "$filter": odata_filter}  # fmt: skip
    url: str | None = f"{endpoint.rstrip('/')}/api/retail/prices"
    while url:
        response = http.get(url, params=params)
        response.raise_for_status()
        page = response.json(parse_float=Decimal)
        yield from page.get("Items", [])
        url, params = page.get("NextPageLink"), None


def _price(item: dict[str, Any], currency: str) -> Decimal:
    """The meter's retail (list) price, checked to be in the currency asked for."""
    if item.get("currencyCode", "USD") != currency:
        raise ValueError(f"Azure answered in {item.get('currencyCode')}, not {currency}")
    return Decimal(str(item["retailPrice"]))


def instance_types(
    http: httpx.Client, endpoint: str, region: str, currency: str, sizes: Mapping[str, tuple[int, Decimal]] | None
) -> list[InstanceType]:
    """Linux pay-as-you-go VM sizes in a region with their hourly price, sorted by name."""
    table = specs("azure")
    known: dict[str, tuple[int, Decimal]] = (
        dict(sizes) if sizes is not None else {n: (s.vcpus, s.memory_gib) for n, s in table.items()}
    )
    chosen: dict[str, dict[str, Any]] = {}
    odata = _filter(serviceName="Virtual Machines", priceType="Consumption", armRegionName=region)
    for item in _items(http, endpoint, odata, currency):
        labels = " ".join(str(item.get(k, "")) for k in ("productName", "skuName", "meterName"))
        if _EXCLUDED.search(labels) or item.get("unitOfMeasure") != "1 Hour" or item.get("type") != "Consumption":
            continue
        name = item.get("armSkuName", "")
        current = chosen.get(name)
        if current is None or str(item.get("effectiveStartDate", "")) > str(current.get("effectiveStartDate", "")):
            chosen[name] = item  # a size re-priced keeps its latest meter
    skipped = sorted(n for n in chosen if n not in known)
    if skipped:
        log.info("azure %s: %d priced VM sizes skipped, specs unknown: %s", region, len(skipped), ", ".join(skipped))
    types = []
    for name in sorted(n for n in chosen if n in known):
        vcpus, memory = known[name]
        base = table.get(name)
        series = str(chosen[name].get("productName", "")).removeprefix("Virtual Machines ").removesuffix(" Series")
        spec = (
            replace(base, vcpus=vcpus, memory_gib=Decimal(memory))
            if base is not None
            else Spec(series, vcpus, Decimal(memory), "arm64" if _ARM_SIZE.match(name) else "x86_64")
        )
        types.append(spec.priced(name, _price(chosen[name], currency), currency))
    return types


def disk_gb_month(http: httpx.Client, endpoint: str, region: str, currency: str, tier: str = "E10") -> Decimal | None:
    """A managed disk tier's monthly price per GiB of the tier (tier letter E or P, size 4..50)."""
    size = DISK_TIER_GIB.get(tier[1:])
    product = DISK_PRODUCTS.get(tier[:1])
    if size is None or product is None:
        raise ValueError(f"unsupported disk tier {tier!r}")
    odata = _filter(serviceName="Storage", priceType="Consumption", armRegionName=region, productName=product,
                    skuName=f"{tier} LRS")  # fmt: skip
    for item in _items(http, endpoint, odata, currency):
        if item.get("meterName") == f"{tier} LRS Disk" and item.get("unitOfMeasure") == "1/Month":
            return _price(item, currency) / size
    return None


def address_hourly(http: httpx.Client, endpoint: str, region: str, currency: str) -> Decimal | None:
    """A Standard static public IPv4 address per hour."""
    odata = _filter(serviceName="Virtual Network", priceType="Consumption", armRegionName=region,
                    productName="IP Addresses")  # fmt: skip
    for item in _items(http, endpoint, odata, currency):
        if item.get("meterName") == ADDRESS_METER and item.get("unitOfMeasure") == "1 Hour":
            return _price(item, currency)
    return None


def fetch_azure(
    region: str,
    *,
    endpoint: str = "https://prices.azure.com",
    client: httpx.Client | None = None,
    currency: str = "USD",
    sizes: Mapping[str, tuple[int, Decimal]] | None = None,
    disk_tier: str = "E10",
) -> PriceList:
    """The region's price list (``region`` is an ARM name such as ``uksouth``), in ``currency``.
    ``sizes`` maps VM size names to (vCPUs, memory GiB) and replaces the shipped spec table."""
    http = client or httpx.Client(timeout=60)
    try:
        types = instance_types(http, endpoint, region, currency, sizes)
        block = disk_gb_month(http, endpoint, region, currency, disk_tier)
        address = address_hourly(http, endpoint, region, currency)
    finally:
        if client is None:
            http.close()
    return PriceList(
        cloud="azure",
        region=region,
        currency=currency,
        instance_types=tuple(types),
        block_gb_month=block,
        address_hourly=address,
        source="api",
        fetched_at=datetime.now(UTC),
    )
