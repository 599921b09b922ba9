"""On-demand list prices per (cloud, region), from the providers' price APIs or a shipped snapshot.

The optimisation engine prices a recommendation at the effective (billed) rate and falls back to
list prices when billing has none: instance types for rightsizing candidates, block storage per
GB-month for unattached volumes, a public IPv4 address per hour for unattached addresses. Each
cloud publishes these differently (:mod:`clouds.aws.prices`, :mod:`clouds.azure.prices`,
:mod:`clouds.gcp.prices`); a :class:`PriceList` is the one shape they all become, and
:func:`to_frame` / :func:`from_frame` store it as a table with money kept as Decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import polars as pl

from clouds.base import InstanceType

CLOUDS = ("aws", "azure", "gcp")
SOURCES = ("api", "snapshot", "sandbox")


@dataclass(frozen=True)
class PriceList:
    """One region's list prices. ``block_gb_month`` is general-purpose SSD block storage per
    GB-month and ``address_hourly`` a public IPv4 address per hour while it is not attached to
    anything (what an unattached-address saving is worth); either is None when the source did not
    have it. ``source`` says whether the prices were fetched (``"api"``), are the shipped,
    approximate ``"snapshot"``, or the simulated cloud's own (``"sandbox"``); ``fetched_at`` is
    when (for a snapshot, the date it was compiled)."""

    cloud: str
    region: str
    currency: str
    instance_types: tuple[InstanceType, ...]
    block_gb_month: Decimal | None
    address_hourly: Decimal | None
    source: str
    fetched_at: datetime

    def __post_init__(self) -> None:
        if self.cloud not in CLOUDS:
            raise ValueError(f"unknown cloud {self.cloud!r}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        if self.fetched_at.tzinfo is None:
            raise ValueError("fetched_at must be timezone-aware (UTC)")
        if any(t.currency != self.currency for t in self.instance_types):
            raise ValueError(f"every instance type must be priced in the list's currency, {self.currency}")

    def instance_type(self, name: str) -> InstanceType | None:
        return next((t for t in self.instance_types if t.name == name), None)


_MONEY_COLUMNS = ("block_gb_month", "address_hourly", "hourly_price")
_DECIMAL_COLUMNS = (*_MONEY_COLUMNS, "memory_gib", "network_gbps")


def _scale(values: Iterable[Decimal | None]) -> int:
    """The smallest scale that holds every value exactly (polars would round to a smaller one)."""
    exponents = [int(v.as_tuple().exponent) for v in values if v is not None]
    return max([0, *(-e for e in exponents)])


def to_frame(lists: Iterable[PriceList]) -> pl.DataFrame:
    """One row per instance type, with its list's cloud, region, currency, source, fetched_at and
    extras (block_gb_month, address_hourly) repeated on each row. A list without instance types
    still gets one row, its type columns null, so its extras survive the round trip. Money, memory
    and bandwidth are Decimal columns whose scale fits every value, so nothing is rounded."""
    rows: list[dict[str, Any]] = []
    for price_list in lists:
        common = {
            "cloud": price_list.cloud,
            "region": price_list.region,
            "currency": price_list.currency,
            "source": price_list.source,
            "fetched_at": price_list.fetched_at.astimezone(UTC),
            "block_gb_month": price_list.block_gb_month,
            "address_hourly": price_list.address_hourly,
        }
        types: tuple[InstanceType | None, ...] = price_list.instance_types or (None,)
        for kind in types:
            rows.append(common | _type_columns(kind))
    schema: dict[str, pl.DataType] = {
        "cloud": pl.String(),
        "region": pl.String(),
        "currency": pl.String(),
        "source": pl.String(),
        "fetched_at": pl.Datetime("us", "UTC"),
        "block_gb_month": pl.Decimal(38, 0),
        "address_hourly": pl.Decimal(38, 0),
        "instance_type": pl.String(),
        "family": pl.String(),
        "vcpus": pl.Int32(),
        "memory_gib": pl.Decimal(38, 0),
        "hourly_price": pl.Decimal(38, 0),
        "architecture": pl.String(),
        "gpus": pl.Int32(),
        "network_gbps": pl.Decimal(38, 0),
        "service": pl.String(),
    }
    for column in _DECIMAL_COLUMNS:
        schema[column] = pl.Decimal(38, _scale(row[column] for row in rows))
    return pl.DataFrame(rows, schema=schema, orient="row")


def _type_columns(kind: InstanceType | None) -> dict[str, Any]:
    if kind is None:
        return dict.fromkeys(
            ("instance_type", "family", "vcpus", "memory_gib", "hourly_price", "architecture", "gpus", "network_gbps",
             "service")
        )  # fmt: skip
    return {
        "instance_type": kind.name,
        "family": kind.family,
        "vcpus": kind.vcpus,
        "memory_gib": kind.memory_gib,
        "hourly_price": kind.hourly_price,
        "architecture": kind.architecture,
        "gpus": kind.gpus,
        "network_gbps": kind.network_gbps,
        "service": kind.service,
    }


def from_frame(df: pl.DataFrame) -> list[PriceList]:
    """The price lists :func:`to_frame` stored, in their original order. Decimals come back with
    the column's scale (``0.0960`` may read ``0.09600``): equal as numbers, which is what matters.
    A frame stored before the ``service`` column existed gives types whose service is None
    (unknown), which the rules never resize into or out of."""
    found: dict[tuple[str, str, str, str, datetime], dict[str, Any]] = {}
    for row in df.iter_rows(named=True):
        fetched_at = row["fetched_at"].astimezone(UTC)
        key = (row["cloud"], row["region"], row["currency"], row["source"], fetched_at)
        entry = found.setdefault(key, {"block": row["block_gb_month"], "address": row["address_hourly"], "types": []})
        if row["instance_type"] is not None:
            entry["types"].append(
                InstanceType(
                    name=row["instance_type"],
                    family=row["family"],
                    vcpus=row["vcpus"],
                    memory_gib=row["memory_gib"],
                    hourly_price=row["hourly_price"],
                    currency=row["currency"],
                    architecture=row["architecture"],
                    gpus=row["gpus"],
                    network_gbps=row["network_gbps"],
                    service=row.get("service"),  # None in a catalogue stored before the column
                )
            )
    return [
        PriceList(
            cloud=cloud,
            region=region,
            currency=currency,
            instance_types=tuple(entry["types"]),
            block_gb_month=entry["block"],
            address_hourly=entry["address"],
            source=source,
            fetched_at=fetched_at,
        )
        for (cloud, region, currency, source, fetched_at), entry in found.items()
    ]
