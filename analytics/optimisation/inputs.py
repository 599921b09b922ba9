"""What the optimisation rules read, as warehouse tables, and the analysis over them.

Three input tables, written per provider by the Dagster assets in ``assets/optimisation.py``:

- ``inventory``: one row per resource per day (daily snapshots are kept), with ``state_since``
  carried from the previous snapshot while state and attachment stay the same;
- ``utilisation``: metric samples (CPU, memory where an agent reports it, network, disk);
- ``price_catalogue``: list prices per instance type and region, plus block storage and
  public address prices (``clouds.prices``).

Effective hourly rates come from ``focus_costs`` through ``resource_rates`` (what billing
actually charged per resource, after commitments and discounts; :func:`build_resource_rates`).
:func:`analyse` reads the four from one DuckDB
connection, the warehouse in Dagster or a serving snapshot in the API, and runs every rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import duckdb
import polars as pl

from analytics.optimisation.commitments import CommitmentOffer, recommend_commitments
from analytics.optimisation.model import Catalogue, Rates, Recommendation, Resource, Subtype
from analytics.optimisation.rightsizing import rightsize
from analytics.optimisation.rules import (
    IDLE_WINDOW,
    HourlyMetrics,
    Metrics,
    hourly_metrics,
    idle,
    stopped_paying,
    unattached,
)
from analytics.optimisation.schedules import MIN_LOOKBACK_DAYS, recommend_schedules
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
    network_gbps DECIMAL(10, 3)
);
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
RATE_DAYS = 7
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
    commitment_usage: pl.DataFrame = field(default_factory=pl.DataFrame)  # see build_commitment_usage


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


BILL_ID_SQL = r"regexp_replace(lower(ResourceId), '^//[^/]+/', '')"
"""A billing ResourceId in the form resources are matched in (see :func:`_bill_id`, its twin for
inventory ids): lower-cased, without Google's ``//compute.googleapis.com/`` service prefix."""
RUNNING_TIME_SQL = "lower(PricingUnit) IN ('hour', 'hours')"
"""A charge for running time (priced in hours), which stopping or resizing changes."""

RATES_SQL = f"""
CREATE OR REPLACE TABLE resource_rates AS
WITH ends AS (SELECT x_SourceId, max(ChargePeriodStart) AS last_start FROM focus_costs GROUP BY 1),
recent AS (
    SELECT f.* FROM focus_costs f JOIN ends USING (x_SourceId)
    WHERE f.ResourceId IS NOT NULL AND f.ChargePeriodStart > ends.last_start - INTERVAL (CAST($1 AS INTEGER)) DAY
)
SELECT x_SourceId AS provider, {BILL_ID_SQL} AS bill_id,
       BillingCurrency AS currency, sum(EffectiveCost) AS total,
       coalesce(sum(EffectiveCost) FILTER (WHERE {RUNNING_TIME_SQL}), 0) AS running,
       CAST($1 AS INTEGER) AS days, max(CAST(ChargePeriodStart AS DATE)) AS through
FROM recent GROUP BY ALL
"""


def build_resource_rates(con: duckdb.DuckDBPyConnection, days: int = RATE_DAYS) -> int:
    """``resource_rates``: per provider and resource, what billing charged over its last
    ``days`` days (EffectiveCost: amortised, after commitments and discounts), in all and for
    running time (charges priced in hours). Billing ids are lower-cased and lose Google's
    ``//compute.googleapis.com/`` prefix, the form :func:`_bill_id` gives inventory ids."""
    con.execute(RATES_SQL, [days])
    return int(con.execute("SELECT count(*) FROM resource_rates").fetchall()[0][0])


COMMITMENT_DAYS = 60  # the longest lookback commitments.py replays
COMMITMENT_USAGE_SQL = f"""
CREATE OR REPLACE TABLE commitment_usage AS
WITH ends AS (SELECT x_SourceId, max(ChargePeriodEnd) AS last_end FROM focus_costs GROUP BY 1),
eligible AS (
    SELECT f.x_SourceId AS provider, f.ProviderName AS cloud, f.BillingAccountId AS account_id,
           f.BillingCurrency AS currency, {BILL_ID_SQL} AS bill_id,
           f.ChargePeriodStart AS start,
           greatest(1, CAST(round(epoch(f.ChargePeriodEnd - f.ChargePeriodStart) / 3600) AS BIGINT)) AS n,
           CAST(f.ListCost AS DOUBLE) AS on_demand,
           CASE WHEN f.PricingCategory = 'Committed' THEN CAST(f.ListCost AS DOUBLE) ELSE 0 END AS covered
    FROM focus_costs f JOIN ends USING (x_SourceId)
    WHERE f.ChargeCategory = 'Usage' AND f.ServiceCategory = 'Compute'
      AND {RUNNING_TIME_SQL} AND coalesce(f.PricingCategory, '') <> 'Dynamic'
      AND f.ChargePeriodStart >= ends.last_end - INTERVAL (CAST($1 AS INTEGER)) DAY
),
spread AS (SELECT *, unnest(range(n)) AS h FROM eligible)
SELECT provider, cloud, account_id, currency, bill_id, start + to_hours(h) AS hour,
       sum(on_demand / n) AS on_demand_cost, sum(covered / n) AS already_covered
FROM spread GROUP BY ALL
"""


def build_commitment_usage(con: duckdb.DuckDBPyConnection, days: int = COMMITMENT_DAYS) -> int:
    """``commitment_usage``: per provider, billing account, resource and hour of its last ``days``
    days of bills, the on-demand-equivalent cost (ListCost) of compute running time a compute savings
    plan or flexible commitment would cover, and the part existing commitments already cover
    (PricingCategory Committed). A line that spans several hours (a daily bill) is spread evenly
    over them: within a day the usage looks flat, which the evidence says."""
    con.execute(COMMITMENT_USAGE_SQL, [days])
    return int(con.execute("SELECT count(*) FROM commitment_usage").fetchall()[0][0])


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
            effective_hourly={rid: total_by[_bill_id(rid)] for rid in ids if _bill_id(rid) in total_by},
            running_hourly={rid: running_by[_bill_id(rid)] for rid in ids if running_by.get(_bill_id(rid))},
            volume_gb_month=extra.get("block_gb_month"),
            address_hourly=extra.get("address_hourly"),
        )
    return found


def _bill_id(resource_id: str) -> str:
    """An inventory id in the form billing ids are matched in (see :func:`_rates`)."""
    lowered = resource_id.lower()
    return lowered.split("/", 3)[3] if lowered.startswith("//") else lowered


# ---------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class Settings:
    """The analysis' choices that docs/optimisation.md lets a user make."""

    rightsize_window_days: int = 14
    cpu_percentile: float = 95.0
    commitment_lookback_days: int = 30


COMMITMENT_OFFERS: Mapping[str, CommitmentOffer] = {
    "AWS": CommitmentOffer(kind="savings_plan", term_years=1, discount=Decimal("0.27")),
    "Microsoft": CommitmentOffer(kind="savings_plan", term_years=1, discount=Decimal("0.20")),
    "Google Cloud": CommitmentOffer(kind="cud", term_years=1, discount=Decimal("0.28")),
}
"""What each cloud's default commitment is assumed to save, by FOCUS ProviderName: a 1-year,
no-upfront compute savings plan (AWS, Azure) or flexible committed use discount (Google). The
discounts are our assumptions of typical published rates, not a quote: the evidence states the
discount used, and a customer's own rate changes the level chosen and the saving."""


def compute_commitments(
    usage: pl.DataFrame, provider: str, lookback_days: int, others: Sequence[Recommendation]
) -> list[Recommendation]:
    """One compute commitment per billing account and currency of ``provider``, replayed over the
    last ``lookback_days`` of its hourly usage (the level with the best net saving). Usage is
    taken net of the ``others`` recommendations first: a resource to stop or delete contributes
    nothing, a rightsized one its new type's share, so a commitment is not sized for spend the
    other advice removes."""
    if usage.is_empty():
        return []
    factors = {_bill_id(r.resource_id): 0.0 for r in others if r.action in ("stop", "terminate", "delete")}
    for rec in others:
        if rec.action == "resize" and _bill_id(rec.resource_id) not in factors:
            current, proposed = rec.evidence["current"]["list_hourly"], rec.evidence["proposed"]["list_hourly"]
            factors[_bill_id(rec.resource_id)] = float(Decimal(proposed) / Decimal(current))
    factor = pl.col("bill_id").replace_strict(factors, default=1.0, return_dtype=pl.Float64)
    mine = (  # one row per account and hour from here: the replay needs no more
        usage.lazy()
        .filter(pl.col("provider") == provider)
        .group_by("provider", "cloud", "account_id", "currency", "hour")
        .agg((pl.col("on_demand_cost") * factor).sum(), pl.col("already_covered").sum())
        .collect()
    )
    found: list[Recommendation] = []
    for (cloud, currency), rows in mine.group_by("cloud", "currency", maintain_order=True):
        offer = COMMITMENT_OFFERS.get(str(cloud))
        if offer is None:
            continue
        frame = rows.select(
            "hour", "provider", "account_id", pl.lit("").alias("region"), pl.lit("compute").alias("scope"),
            "on_demand_cost", "already_covered",
        )  # fmt: skip
        for rec in recommend_commitments(frame, offer, lookback_days=lookback_days, currency=str(currency)):
            evidence = {
                **rec.evidence,
                "net_of_recommendations": len(factors),
                "within_day_profile": "flat (daily bills)",
            }
            found.append(replace(rec, evidence=evidence))
    return found


def analyse(inputs: Inputs, settings: Settings = Settings()) -> list[Recommendation]:
    """Every rule over every provider in ``inputs``, each provider priced at its own rates. The
    samples are summarised per resource and hour once, in one pass, for every rule.
    A resource to stop, delete or terminate gets no rightsizing or schedule as well (there would
    be nothing left to resize). One recommendation per id, biggest saving first."""
    found: dict[str, Recommendation] = {}
    longest = max(settings.rightsize_window_days, MIN_LOOKBACK_DAYS, IDLE_WINDOW.days)
    hourly = (
        inputs.metrics
        if isinstance(inputs.metrics, HourlyMetrics)
        else hourly_metrics(inputs.metrics, start=inputs.now - timedelta(days=longest), end=inputs.now)
    )
    for provider, rates in inputs.rates.items():
        resources = [r for r in inputs.resources if r.provider == provider]
        ids = {r.resource_id for r in resources}
        metrics = (
            hourly if len(inputs.rates) == 1 else HourlyMetrics(hourly.frame.filter(pl.col("resource_id").is_in(ids)))
        )
        removals = [
            *idle(resources, metrics, inputs.catalogue, rates, now=inputs.now),
            *unattached(resources, rates, now=inputs.now),
            *stopped_paying(resources, rates, now=inputs.now),
        ]
        going = {rec.resource_id for rec in removals}
        kept = [r for r in resources if r.resource_id not in going]
        for rec in (
            *removals,
            *rightsize(
                kept,
                metrics,
                inputs.catalogue,
                rates,
                now=inputs.now,
                days=settings.rightsize_window_days,
                cpu_percentile=settings.cpu_percentile,
            ),
            *recommend_schedules(metrics, kept, rates, end=inputs.now, catalogue=inputs.catalogue),
        ):
            found.setdefault(rec.id, rec)
        advice = [rec for rec in found.values() if rec.provider == provider]
        for rec in compute_commitments(inputs.commitment_usage, provider, settings.commitment_lookback_days, advice):
            found.setdefault(rec.id, rec)
    return sorted(found.values(), key=lambda r: (-r.monthly_saving, r.id))
