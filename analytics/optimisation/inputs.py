"""What the optimisation rules read, as warehouse tables: storing them, and reading them back.

Three input tables, written per provider by the Dagster assets in ``assets/optimisation.py``:

- ``inventory``: one row per resource per day (daily snapshots are kept), with ``state_since``
  carried from the previous snapshot while state and attachment stay the same;
- ``utilisation``: metric samples (CPU, memory where an agent reports it, network, disk);
- ``price_catalogue``: list prices per instance type and region, plus block storage and
  public address prices (``clouds.prices``).

Effective hourly rates come from ``focus_costs`` through ``resource_rates`` (what billing
actually charged per resource, after commitments and discounts;
:func:`analytics.optimisation.rates.build_resource_rates`). :func:`load_inputs` reads the four
from one DuckDB connection, the warehouse in Dagster or a serving snapshot in the API, and
:func:`analytics.optimisation.analysis.analyse` runs every rule over them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import duckdb
import polars as pl

from analytics.optimisation.model import Catalogue, Rates, Resource, Subtype
from analytics.optimisation.rates import bill_id
from analytics.optimisation.rules import HourlyMetrics, Metrics
from clouds.base import METRICS_SCHEMA, CloudResource, InstanceType, Metric, ResourceState
from clouds.prices import PriceList, from_frame, to_frame

INVENTORY_SQL = """
CREATE TABLE IF NOT EXISTS inventory (
    snapshot_date DATE NOT NULL, provider VARCHAR NOT NULL, cloud VARCHAR NOT NULL, account_id VARCHAR,
    resource_id VARCHAR NOT NULL, name VARCHAR, resource_type VARCHAR NOT NULL, subtype VARCHAR NOT NULL,
    region VARCHAR, zone VARCHAR, state VARCHAR NOT NULL, size VARCHAR, architecture VARCHAR, attached_to VARCHAR,
    tags JSON, created_at TIMESTAMPTZ, state_since TIMESTAMPTZ, taken_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (snapshot_date, provider, resource_id)
);
CREATE TABLE IF NOT EXISTS utilisation (
    provider VARCHAR NOT NULL, resource_id VARCHAR NOT NULL, metric VARCHAR NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL, value DOUBLE NOT NULL
);
CREATE TABLE IF NOT EXISTS price_catalogue (  -- clouds.prices.to_frame's columns, per provider
    provider VARCHAR NOT NULL, cloud VARCHAR NOT NULL, region VARCHAR NOT NULL, currency VARCHAR NOT NULL,
    source VARCHAR NOT NULL, fetched_at TIMESTAMPTZ NOT NULL, block_gb_month DECIMAL(18, 6),
    address_hourly DECIMAL(18, 6), instance_type VARCHAR, family VARCHAR, vcpus INTEGER,
    memory_gib DECIMAL(12, 3), hourly_price DECIMAL(18, 6), architecture VARCHAR, gpus INTEGER,
    network_gbps DECIMAL(10, 3), service VARCHAR
);
-- added after the table: a warehouse made before keeps its rows, their service null (unknown)
ALTER TABLE price_catalogue ADD COLUMN IF NOT EXISTS service VARCHAR;
CREATE TABLE IF NOT EXISTS resource_rates (
    provider VARCHAR, bill_id VARCHAR, currency VARCHAR, total DECIMAL(38, 10), running DECIMAL(38, 10),
    days INTEGER, through DATE
);
CREATE TABLE IF NOT EXISTS commitment_usage (
    provider VARCHAR, cloud VARCHAR, account_id VARCHAR, currency VARCHAR, bill_id VARCHAR, hour TIMESTAMPTZ,
    on_demand_cost DOUBLE, already_covered DOUBLE
);
"""
INPUT_TABLES = ("inventory", "utilisation", "price_catalogue")  # without resource_rates, list prices
NETWORK_METRICS = (Metric.NETWORK_IN_BYTES.value, Metric.NETWORK_OUT_BYTES.value)
RULE_SUBTYPES: Mapping[str, Subtype] = {
    "instance": "instance",
    "database": "database",
    "volume": "volume",
    "address": "address",
}
UTILISATION_KEEP_DAYS = 93  # the longest rightsizing window


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(INVENTORY_SQL)


# ---------------------------------------------------------------- inventory


def inventory_frame(
    provider: str, cloud: str, resources: Iterable[CloudResource], *, taken_at: datetime
) -> pl.DataFrame:
    """Today's inventory rows of one provider; ``state_since`` is what the provider said (the
    adapter's ``details["state_since"]``) or null, to be carried from yesterday by
    :func:`store_inventory`."""
    rows = []
    for item in resources:
        since = item.details.get("state_since")
        rows.append(
            {
                "snapshot_date": taken_at.date(),
                "provider": provider,
                "cloud": cloud,
                "account_id": item.account_id or None,
                "resource_id": item.id,
                "name": item.name,
                "resource_type": item.resource_type.value,
                "subtype": item.subtype,
                "region": item.region,
                "zone": item.zone,
                "state": item.state.value,
                "size": item.size,
                "architecture": _architecture(item.details.get("architecture")),
                "attached_to": item.attached_to,
                "tags": json.dumps(dict(item.tags), sort_keys=True),
                "created_at": item.created_at,
                "state_since": since if isinstance(since, datetime) else None,
                "taken_at": taken_at,
            }
        )
    columns: dict[str, Any] = {
        "snapshot_date": pl.Date, "provider": pl.String, "cloud": pl.String, "account_id": pl.String,
        "resource_id": pl.String, "name": pl.String, "resource_type": pl.String, "subtype": pl.String,
        "region": pl.String, "zone": pl.String, "state": pl.String, "size": pl.String, "architecture": pl.String,
        "attached_to": pl.String, "tags": pl.String, "created_at": pl.Datetime("us", "UTC"),
        "state_since": pl.Datetime("us", "UTC"), "taken_at": pl.Datetime("us", "UTC"),
    }  # fmt: skip
    schema = pl.Schema(columns)
    return pl.DataFrame(rows, schema=schema, orient="row")


def _architecture(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return {"x86_64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}.get(
        value.lower(), value
    )


CARRY_SQL = """
WITH previous AS (
    SELECT * FROM inventory WHERE provider = $1 AND snapshot_date < $2
    QUALIFY row_number() OVER (PARTITION BY resource_id ORDER BY snapshot_date DESC) = 1
)
SELECT t.* REPLACE (
    CASE WHEN t.state_since IS NOT NULL THEN t.state_since
         WHEN p.resource_id IS NOT NULL AND p.state = t.state AND p.attached_to IS NOT DISTINCT FROM t.attached_to
         THEN coalesce(p.state_since, p.taken_at)
    END AS state_since
)
FROM today_inventory t LEFT JOIN previous p USING (resource_id)
"""


def store_inventory(con: duckdb.DuckDBPyConnection, today: pl.DataFrame, *, provider: str) -> dict[str, int]:
    """Replace the provider's snapshot of today's date with ``today``. A resource whose state
    and attachment match its latest earlier snapshot keeps that snapshot's ``state_since`` (or,
    when that had none, its time), so "detached for more than 7 days" is measured from when we
    first saw it detached even where the provider does not say."""
    ensure_tables(con)
    snapshot_date = today["snapshot_date"].max() if today.height else None
    con.register("today_inventory", today.to_arrow())
    try:
        carried = _frame(con, CARRY_SQL, [provider, snapshot_date])
    finally:
        con.unregister("today_inventory")
    _replace(con, "inventory", carried, "provider = $1 AND snapshot_date = $2", [provider, snapshot_date])
    return {"resources": today.height, "with_state_since": carried["state_since"].count()}


def _replace(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, where: str, params: Sequence[Any]) -> None:
    """Delete what ``where`` selects from ``table`` and insert ``rows`` (by column name), in one
    transaction: a failure leaves the table as it was."""
    con.register("replacement_rows", rows.to_arrow())
    try:
        con.execute("BEGIN")
        con.execute(f"DELETE FROM {table} WHERE {where}", list(params))
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM replacement_rows")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("replacement_rows")


# ---------------------------------------------------------------- utilisation


def utilisation_since(con: duckdb.DuckDBPyConnection, provider: str) -> datetime | None:
    """The end of the provider's stored samples (the next fetch starts there)."""
    ensure_tables(con)
    (latest,) = con.execute('SELECT max("timestamp") FROM utilisation WHERE provider = $1', [provider]).fetchall()[0]
    return cast(datetime | None, latest)


def store_utilisation(
    con: duckdb.DuckDBPyConnection, samples: pl.DataFrame, *, provider: str, start: datetime, end: datetime
) -> int:
    """Replace the provider's samples in [start, end) with ``samples`` and drop those older than
    the longest window, in one transaction (a failed fetch leaves yesterday's data whole)."""
    ensure_tables(con)
    frame = samples.cast(METRICS_SCHEMA).drop_nulls("value").with_columns(pl.lit(provider).alias("provider"))
    _replace(
        con, "utilisation", frame,
        'provider = $1 AND ("timestamp" >= $2 AND "timestamp" < $3 OR "timestamp" < $4)',
        [provider, start, end, end - timedelta(days=UTILISATION_KEEP_DAYS)],
    )  # fmt: skip
    return frame.height


# ---------------------------------------------------------------- price catalogue


def store_prices(con: duckdb.DuckDBPyConnection, lists: Sequence[PriceList], *, provider: str) -> int:
    """Replace the provider's catalogue with ``lists`` (stored as :func:`clouds.prices.to_frame`
    lays them out); returns how many instance types it holds."""
    ensure_tables(con)
    frame = to_frame(lists).with_columns(pl.lit(provider).alias("provider"))
    _replace(con, "price_catalogue", frame, "provider = $1", [provider])
    return sum(len(price_list.instance_types) for price_list in lists)


# ---------------------------------------------------------------- reading the inputs back

HOURLY_SQL = f"""
SELECT resource_id, date_trunc('hour', "timestamp") AS "timestamp",
       max(value) FILTER (WHERE metric = '{Metric.CPU_PERCENT.value}') AS cpu,
       max(value) FILTER (WHERE metric = '{Metric.MEMORY_PERCENT.value}') AS memory,
       sum(value) FILTER (WHERE metric IN {NETWORK_METRICS}) AS network,
       count(*) FILTER (WHERE metric IN {NETWORK_METRICS}) AS network_rows
FROM utilisation
WHERE resource_id IN (SELECT unnest($1::VARCHAR[])) AND "timestamp" >= $2 AND "timestamp" < $3
GROUP BY ALL
"""
"""Each resource's hours as the rules read them (``rules.hourly_metrics`` in SQL): the warehouse
summarises its samples where they are, and only the hours travel, a 12th of 5-minute data."""
HOURLY_SCHEMA = pl.Schema(
    {"resource_id": pl.String(), "timestamp": pl.Datetime("us", "UTC"), "cpu": pl.Float64(),
     "memory": pl.Float64(), "network": pl.Float64(), "network_rows": pl.UInt32()}
)  # fmt: skip


@dataclass(frozen=True)
class Inputs:
    """Everything the rules need, for some providers, as of ``now`` (the end of the data)."""

    now: datetime
    resources: list[Resource]
    metrics: Metrics  # raw samples, or already summarised per hour (as load_inputs reads them)
    catalogue: Catalogue
    rates: Mapping[str, Rates]  # per provider
    commitment_usage: pl.DataFrame = field(default_factory=pl.DataFrame)  # see rates.build_commitment_usage


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
    frame = pl.from_arrow(con.sql(sql, params=list(params)).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _has(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = $1", [table]).fetchall()[0][0])


def load_inputs(
    con: duckdb.DuckDBPyConnection, *, providers: Sequence[str] | None = None, window_days: int = 14
) -> Inputs | None:
    """The latest inventory snapshot of each provider, its samples over the ``window_days``
    before the end of its data, its catalogue and its effective rates. None when nothing has
    been ingested. ``now`` is the end of the data (the hour after the last sample, else the
    inventory's time), so a re-run on the same data gives the same recommendations."""
    if not all(_has(con, table) for table in INPUT_TABLES):
        return None
    where, params = ("WHERE provider IN (SELECT unnest($1::VARCHAR[]))", [list(providers)]) if providers else ("", [])
    inventory = _frame(
        con,
        f"""SELECT * FROM inventory {where}
            QUALIFY snapshot_date = max(snapshot_date) OVER (PARTITION BY provider)""",
        params,
    )
    if inventory.is_empty():
        return None
    (last_sample,) = con.execute(f'SELECT max("timestamp") FROM utilisation {where}', params).fetchall()[0]
    taken = inventory["taken_at"].max()
    assert isinstance(taken, datetime)
    now = last_sample + timedelta(hours=1) if isinstance(last_sample, datetime) else taken
    now = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)  # UTC, not a zone named Etc/UTC
    ids = inventory.filter(pl.col("subtype").is_in(("instance", "database")))["resource_id"].to_list()
    hours = _frame(con, HOURLY_SQL, [ids, now - timedelta(days=window_days), now]).cast(HOURLY_SCHEMA)
    metrics = HourlyMetrics(hours)
    catalogue, extras = _catalogue(_frame(con, f"SELECT * FROM price_catalogue {where}", params))
    names = sorted(set(inventory["provider"].to_list()))
    rates = _rates(con, names, inventory, extras)
    return Inputs(
        now=now,
        resources=[r for row in inventory.iter_rows(named=True) if (r := _resource(row)) is not None],
        metrics=metrics,
        catalogue=catalogue,
        rates=rates,
        commitment_usage=_commitment_usage(con, names),
    )


def _resource(row: Mapping[str, Any]) -> Resource | None:
    subtype = RULE_SUBTYPES.get(row["subtype"])
    if subtype is None:
        return None
    return Resource(
        resource_id=row["resource_id"],
        provider=row["provider"],
        account_id=row["account_id"] or "",
        region=row["region"] or "",
        subtype=subtype,
        state=ResourceState(row["state"]),
        size=row["size"],
        architecture=row["architecture"],
        attached_to=row["attached_to"],
        tags=json.loads(row["tags"] or "{}"),
        created_at=row["created_at"],
        state_since=row["state_since"],
    )


def _catalogue(prices: pl.DataFrame) -> tuple[Catalogue, dict[str, dict[str, Decimal | None]]]:
    """The stored price lists as the rules' catalogue, keyed (provider, region), and each
    provider's block storage and address prices (the first region that has them)."""
    offers: dict[tuple[str, str], tuple[InstanceType, ...]] = {}
    extras: dict[str, dict[str, Decimal | None]] = {}
    for (provider,), rows in prices.partition_by("provider", as_dict=True).items():
        known = extras.setdefault(str(provider), {"block_gb_month": None, "address_hourly": None})
        for price_list in from_frame(rows.drop("provider")):
            offers[(str(provider), price_list.region)] = price_list.instance_types
            known["block_gb_month"] = known["block_gb_month"] or price_list.block_gb_month
            known["address_hourly"] = known["address_hourly"] or price_list.address_hourly
    return Catalogue(offers), extras


def _commitment_usage(con: duckdb.DuckDBPyConnection, providers: Sequence[str]) -> pl.DataFrame:
    if not _has(con, "commitment_usage"):
        return pl.DataFrame()
    return _frame(
        con,
        "SELECT * FROM commitment_usage WHERE provider IN (SELECT unnest($1::VARCHAR[])) ORDER BY ALL",
        [list(providers)],
    )


def _rates(
    con: duckdb.DuckDBPyConnection,
    providers: Sequence[str],
    inventory: pl.DataFrame,
    extras: Mapping[str, Mapping[str, Decimal | None]],
) -> dict[str, Rates]:
    """Per provider, each resource's effective hourly rates from ``resource_rates``, in the
    provider's main billing currency; list prices fill in where billing has nothing."""
    found: dict[str, Rates] = {}
    has_rates = _has(con, "resource_rates")
    for provider in providers:
        rows: list[tuple[Any, ...]] = []
        if has_rates:
            rows = con.execute(
                "SELECT bill_id, currency, total, running, days FROM resource_rates WHERE provider = $1", [provider]
            ).fetchall()
        currencies: dict[str, Decimal] = {}
        for _, currency, total, _, _ in rows:
            currencies[currency] = currencies.get(currency, Decimal(0)) + total
        currency = max(currencies, key=lambda c: currencies[c]) if currencies else "USD"
        total_by = {rid: total / (days * 24) for rid, cur, total, _, days in rows if cur == currency}
        running_by = {rid: running / (days * 24) for rid, cur, _, running, days in rows if cur == currency}
        ids = inventory.filter(pl.col("provider") == provider)["resource_id"].to_list()
        extra = extras.get(provider, {})
        found[provider] = Rates(
            currency=currency,
            effective_hourly={rid: total_by[bill_id(rid)] for rid in ids if bill_id(rid) in total_by},
            running_hourly={rid: running_by[bill_id(rid)] for rid in ids if running_by.get(bill_id(rid))},
            volume_gb_month=extra.get("block_gb_month"),
            address_hourly=extra.get("address_hourly"),
        )
    return found
