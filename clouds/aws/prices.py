"""AWS list prices from the Price List Query API (``pricing:GetProducts``).

The API answers in us-east-1, eu-central-1 and ap-south-1 only, whatever region is being priced,
so the caller builds the boto3 ``pricing`` client (endpoint, credentials) and passes it in. Each
product comes back as a JSON document: ``product.attributes`` describes it and ``terms.OnDemand``
holds its on-demand price per unit; Reserved terms are ignored. Three lookups make a price list:
EC2 instances (Linux, shared tenancy, no pre-installed software, capacity actually used rather
than reserved-but-unused), EBS gp3 storage per GB-month, and the public IPv4 address hour, which
AWS has billed under the AmazonVPC service since February 2024.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from clouds.base import InstanceType
from clouds.prices import PriceList

log = logging.getLogger(__name__)

CURRENCY = "USD"
_NETWORK = re.compile(r"(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>Gigabit|Megabit)", re.IGNORECASE)
_ARM = re.compile(r"graviton|\barm")  # Graviton says "64-bit" in processorArchitecture
# Older generations state bandwidth in words; these are the usual measured figures, in Gbps.
_NETWORK_WORDS = {"very low": "0.05", "low": "0.1", "low to moderate": "0.3", "moderate": "0.5", "high": "1"}


def _filters(**terms: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in terms.items()]


def _products(client: Any, service_code: str, filters: list[dict[str, str]]) -> Iterator[dict[str, Any]]:
    """Every product matching the filters, across pages. botocore may hand a PriceList entry over
    as the JSON string the API sends or already decoded; both are accepted."""
    pages = client.get_paginator("get_products").paginate(ServiceCode=service_code, Filters=filters)
    for page in pages:
        for entry in page.get("PriceList", []):
            yield json.loads(entry, parse_float=Decimal) if isinstance(entry, str) else entry


def _on_demand(product: dict[str, Any], unit: str) -> Decimal | None:
    """The product's on-demand USD price per ``unit`` for the first tier (beginRange 0)."""
    for term in product.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            if dimension.get("unit") != unit or str(dimension.get("beginRange", "0")) not in ("0", "0.0"):
                continue
            try:
                return Decimal(str(dimension["pricePerUnit"][CURRENCY]))
            except (KeyError, InvalidOperation):
                return None
    return None


def _network_gbps(text: str) -> Decimal:
    found = _NETWORK.search(text)
    if found:
        amount = Decimal(found["amount"])
        return amount / 1000 if found["unit"].lower() == "megabit" else amount
    return Decimal(_NETWORK_WORDS.get(text.strip().lower(), "10"))


def _instance(attributes: dict[str, Any], price: Decimal) -> InstanceType | None:
    name = attributes.get("instanceType", "")
    try:
        vcpus = int(attributes.get("vcpu", ""))
        memory = Decimal(attributes.get("memory", "").removesuffix("GiB").replace(",", "").strip())
    except (ValueError, InvalidOperation):
        return None
    processor = f"{attributes.get('processorArchitecture', '')} {attributes.get('physicalProcessor', '')}".lower()
    gpus = attributes.get("gpu", "0")
    return InstanceType(
        name=name,
        family=name.split(".")[0],
        vcpus=vcpus,
        memory_gib=memory,
        hourly_price=price,
        currency=CURRENCY,
        architecture="arm64" if _ARM.search(processor) else "x86_64",
        gpus=int(gpus) if str(gpus).isdigit() else 0,
        network_gbps=_network_gbps(attributes.get("networkPerformance", "")),
    )


def instance_types(client: Any, region: str) -> list[InstanceType]:
    """On-demand Linux instance types in a region, sorted by name. Products that are not plain
    on-demand box usage (capacity blocks, dedicated usage) or carry no positive price are dropped."""
    filters = _filters(
        regionCode=region,
        operatingSystem="Linux",
        tenancy="Shared",
        preInstalledSw="NA",
        capacitystatus="Used",
        productFamily="Compute Instance",
    )
    found: dict[str, InstanceType] = {}
    for product in _products(client, "AmazonEC2", filters):
        attributes = product["product"]["attributes"]
        on_demand_box = attributes.get("marketoption", "OnDemand") == "OnDemand"
        if not on_demand_box or "BoxUsage" not in attributes.get("usagetype", ""):
            continue
        price = _on_demand(product, "Hrs")
        kind = _instance(attributes, price) if price is not None and price > 0 else None
        if kind is None:
            log.info("skipping AWS product %s: no usable specs or price", product["product"].get("sku"))
            continue
        found.setdefault(kind.name, kind)
    return sorted(found.values(), key=lambda t: t.name)


def gp3_gb_month(client: Any, region: str) -> Decimal | None:
    """EBS gp3 storage per GB-month (IOPS and throughput above the baseline are priced apart)."""
    filters = _filters(regionCode=region, productFamily="Storage", volumeApiName="gp3")
    for product in _products(client, "AmazonEC2", filters):
        if product["product"]["attributes"].get("usagetype", "").endswith("EBS:VolumeUsage.gp3"):
            price = _on_demand(product, "GB-Mo")
            if price is not None:
                return price
    return None


def public_ipv4_hourly(client: Any, region: str) -> Decimal | None:
    """A public IPv4 address per hour. The idle-address rate is what an unattached address
    costs; the in-use rate is the same today and is the fallback."""
    filters = _filters(regionCode=region, group="VPCPublicIPv4Address")
    prices: dict[str, Decimal] = {}
    for product in _products(client, "AmazonVPC", filters):
        usage = product["product"]["attributes"].get("usagetype", "")
        price = _on_demand(product, "Hrs")
        for kind in ("PublicIPv4:IdleAddress", "PublicIPv4:InUseAddress"):
            if price is not None and usage.endswith(kind):
                prices.setdefault(kind, price)
    return prices.get("PublicIPv4:IdleAddress", prices.get("PublicIPv4:InUseAddress"))


def fetch_aws(client: Any, region: str) -> PriceList:
    """The region's price list from the Price List Query API, through ``client`` (a boto3
    ``pricing`` client)."""
    return PriceList(
        cloud="aws",
        region=region,
        currency=CURRENCY,
        instance_types=tuple(instance_types(client, region)),
        block_gb_month=gp3_gb_month(client, region),
        address_hourly=public_ipv4_hourly(client, region),
        source="api",
        fetched_at=datetime.now(UTC),
    )
