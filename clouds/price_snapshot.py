"""The shipped price snapshot: common instance types' specs and list prices, for offline use.

Each cloud's ``price_snapshot.json`` (in ``clouds/aws/``, ``clouds/azure/``, ``clouds/gcp/``)
holds published on-demand Linux list prices (USD) as compiled on its ``as_of`` date,
approximate and never live: a deployment without credentials or network still gets plausible
list prices, and says so (``source="snapshot"``). Each file also holds the types' specs (vCPUs,
memory, architecture, bandwidth), which the Azure and Google Cloud fetchers need because those
price APIs do not carry them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from clouds.base import InstanceType
from clouds.prices import CLOUDS, PriceList

_EXTRAS = ("block_gb_month", "address_hourly")


@dataclass(frozen=True)
class Spec:
    """What an instance type is, apart from its price."""

    family: str
    vcpus: int
    memory_gib: Decimal
    architecture: str = "x86_64"
    gpus: int = 0
    network_gbps: Decimal = Decimal("10")

    def priced(self, name: str, hourly_price: Decimal, currency: str) -> InstanceType:
        return InstanceType(
            name=name,
            family=self.family,
            vcpus=self.vcpus,
            memory_gib=self.memory_gib,
            hourly_price=hourly_price,
            currency=currency,
            architecture=self.architecture,
            gpus=self.gpus,
            network_gbps=self.network_gbps,
        )


@cache
def _document(cloud: str) -> dict[str, Any]:
    if cloud not in CLOUDS:
        raise ValueError(f"unknown cloud {cloud!r}")
    text = resources.files(f"clouds.{cloud}").joinpath("price_snapshot.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text, parse_float=Decimal)
    return document


def basis(cloud: str) -> str:
    """What the snapshot's prices are (so a caller can show it next to them)."""
    return str(_document(cloud)["basis"])


def specs(cloud: str) -> dict[str, Spec]:
    """The spec table of the snapshot's types, by type name."""
    return {
        name: Spec(
            family=row["family"],
            vcpus=int(row["vcpus"]),
            memory_gib=Decimal(row["memory_gib"]),
            architecture=row["architecture"],
            gpus=int(row["gpus"]),
            network_gbps=Decimal(row["network_gbps"]),
        )
        for name, row in _document(cloud)["types"].items()
    }


def shipped_regions(cloud: str) -> list[str]:
    """The regions the snapshot prices, sorted."""
    return sorted(_document(cloud)["regions"])


def shipped(cloud: str, region: str) -> PriceList | None:
    """The snapshot's price list for a region, or None when it has none."""
    document = _document(cloud)
    prices = document["regions"].get(region)
    if prices is None:
        return None
    currency = document["currency"]
    table = specs(cloud)
    types = tuple(table[name].priced(name, Decimal(price), currency) for name, price in prices["hourly"].items())
    extras = {key: None if prices.get(key) is None else Decimal(prices[key]) for key in _EXTRAS}
    return PriceList(
        cloud=cloud,
        region=region,
        currency=currency,
        instance_types=types,
        block_gb_month=extras["block_gb_month"],
        address_hourly=extras["address_hourly"],
        source="snapshot",
        fetched_at=datetime.fromisoformat(document["as_of"]).replace(tzinfo=UTC),
    )
