"""The optimisation engine's inputs (inventory, utilisation, price catalogue: one partition per
registered provider) and the analysis that turns them, with the bills' effective rates, into
recommendations in the state store (upserted by their stable id)."""

from datetime import datetime, timedelta
from decimal import Decimal

import dagster as dg
import httpx
import polars as pl
from google.cloud.billing_v1 import CloudCatalogClient

from analytics.money import format_amount
from analytics.optimisation.analysis import analyse
from analytics.optimisation.inputs import (
    inventory_frame,
    load_inputs,
    store_inventory,
    store_prices,
    store_utilisation,
    utilisation_since,
)
from analytics.optimisation.rates import build_commitment_usage, build_resource_rates
from assets.billing import OWNERS
from assets.partitions import billing_source_partitions
from assets.pools import WAREHOUSE_POOL
from assets.resources import ProvidersResource, WarehouseResource
from clouds.aws.prices import fetch_aws
from clouds.aws.provider import AwsCloud
from clouds.azure.prices import fetch_azure
from clouds.base import CloudProvider
from clouds.errors import CloudError
from clouds.gcp.prices import fetch_gcp
from clouds.gcp.provider import GcpCloud
from clouds.price_snapshot import shipped
from clouds.prices import PriceList
from clouds.sandbox.provider import SandboxCloud
from control_plane.services.optimisation import store_recommendations

METRIC_DAYS = 14
METRIC_PERIOD = timedelta(minutes=5)
METRIC_BATCH = 200  # resources per get_metrics call (each adapter batches further itself)
AWS_PRICING_REGION = "us-east-1"
PRICE_API_TIMEOUT = 20.0


def _hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dg.asset(
    pool=WAREHOUSE_POOL,
    name="inventory",
    partitions_def=billing_source_partitions,
    group_name="optimisation",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    description=(
        "Each registered provider's resources (instances, volumes, databases, buckets, addresses) with "
        "type, size, state, attachment, region, tags and creation time, read through its adapter. One "
        "snapshot per day is kept; state_since is carried between snapshots while state and attachment "
        "stay the same."
    ),
)
def inventory(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, providers: ProvidersResource
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    key = context.partition_key  # the provider's id; its name is only a label
    with providers.adapter(key) as (kind, adapter):
        resources = list(adapter.list_resources())
    frame = inventory_frame(key, kind, resources, taken_at=providers.clock())
    with warehouse.connect() as con:
        counts = store_inventory(con, frame, provider=key)
    by_subtype = dict(frame.group_by("subtype").len().sort("subtype").iter_rows())
    return dg.MaterializeResult(metadata={**counts, "by_subtype": by_subtype, "provider": providers.label(key)})


@dg.asset(
    pool=WAREHOUSE_POOL,
    name="utilisation",
    partitions_def=billing_source_partitions,
    deps=["inventory"],
    group_name="optimisation",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    description=(
        f"CPU, memory (where an agent reports it), network in/out and disk IO of each provider's instances "
        f"and databases at {METRIC_PERIOD.seconds // 60}-minute periods (hourly where the provider only has "
        f"that), fetched incrementally: the first run reads {METRIC_DAYS} days, later runs from where the "
        "last stopped. Samples older than 93 days (the longest rightsizing window) are dropped."
    ),
)
def utilisation(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, providers: ProvidersResource
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    key = context.partition_key  # the provider's id; its name is only a label
    end = _hour(providers.clock())
    with warehouse.connect() as con:
        latest = utilisation_since(con, key)
        ids = [
            row[0]
            for row in con.execute(
                "SELECT resource_id FROM inventory WHERE provider = $1 AND subtype IN ('instance', 'database') "
                "AND snapshot_date = (SELECT max(snapshot_date) FROM inventory WHERE provider = $1)",
                [key],
            ).fetchall()
        ]
    start = max(end - timedelta(days=METRIC_DAYS), latest) if latest else end - timedelta(days=METRIC_DAYS)
    if start >= end or not ids:
        return dg.MaterializeResult(metadata={"samples": 0, "resources": len(ids), "start": str(start)})
    frames = []
    with providers.adapter(key) as (_, adapter):
        for first in range(0, len(ids), METRIC_BATCH):
            batch = ids[first : first + METRIC_BATCH]
            frames.append(adapter.get_metrics(batch, start=start, end=end, period=METRIC_PERIOD))
            context.log.info(f"metrics of {min(first + METRIC_BATCH, len(ids))} of {len(ids)} resources")
    samples = pl.concat(frames)
    with warehouse.connect() as con:
        stored = store_utilisation(con, samples, provider=key, start=start, end=end)
    return dg.MaterializeResult(
        metadata={"samples": stored, "resources": len(ids), "start": start.isoformat(), "end": end.isoformat()}
    )


@dg.asset(
    pool=WAREHOUSE_POOL,
    name="price_catalogue",
    partitions_def=billing_source_partitions,
    deps=["inventory"],
    group_name="optimisation",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    description=(
        "On-demand list prices of each provider's instance types in the regions its inventory uses, plus "
        "block storage per GB-month and a public address per hour: the AWS Price List, the Azure Retail "
        "Prices API or the Google Cloud Billing Catalog, falling back to the shipped snapshot of common "
        "types when the price API cannot be reached. The sandbox's own catalogue for sandbox providers."
    ),
)
def price_catalogue(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, providers: ProvidersResource
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    key = context.partition_key  # the provider's id; its name is only a label
    with warehouse.connect() as con:
        regions = sorted(
            row[0]
            for row in con.execute(
                "SELECT DISTINCT region FROM inventory WHERE provider = $1 AND region IS NOT NULL", [key]
            ).fetchall()
        )
    fetched_at = providers.clock()
    lists, sources = [], {}
    with providers.adapter(key) as (kind, adapter):
        for region in regions:
            prices, source = _region_prices(kind, adapter, region, fetched_at)
            if prices is not None:
                lists.append(prices)
                sources[region] = source
            else:
                context.log.warning(f"{providers.label(key)}: no prices for {region} ({source})")
    stored = 0
    if lists:
        with warehouse.connect() as con:
            stored = store_prices(con, lists, provider=key)
    return dg.MaterializeResult(metadata={"types": stored, "regions": sources, "provider": providers.label(key)})


def _region_prices(
    kind: str, adapter: CloudProvider, region: str, fetched_at: datetime
) -> tuple[PriceList | None, str]:
    """The region's prices and where they came from: the sandbox's own catalogue, else the
    cloud's price API, else the shipped snapshot (offline, or the API refused)."""
    if isinstance(adapter, SandboxCloud):
        try:
            types = adapter.price_catalogue(region=region)
        except CloudError as exc:
            return None, str(exc)
        storage = adapter.flavour.storage
        return PriceList(
            cloud=adapter.flavour.key.value, region=region, currency=types[0].currency if types else "USD",
            instance_types=tuple(types), block_gb_month=storage.block_gb_month,
            address_hourly=storage.public_ip_hour, source="sandbox", fetched_at=fetched_at,
        ), "sandbox"  # fmt: skip
    try:
        prices, why = _live_prices(kind, adapter, region), "api"
    except Exception as exc:  # any failure of a price API falls back to the snapshot, saying why
        prices, why = shipped(kind, region), f"snapshot ({type(exc).__name__}: {str(exc)[:120]})"
    if prices is None or not prices.instance_types:
        return None, f"no prices for {kind} {region} from its API or the shipped snapshot"
    return prices, why


def _live_prices(kind: str, adapter: CloudProvider, region: str) -> PriceList | None:
    if isinstance(adapter, AwsCloud):  # the Price List API answers only in a few regions
        return fetch_aws(adapter.client("pricing", AWS_PRICING_REGION), region)
    if kind == "azure":
        with httpx.Client(timeout=PRICE_API_TIMEOUT) as client:
            return fetch_azure(region, client=client)
    if isinstance(adapter, GcpCloud):
        catalog = CloudCatalogClient(credentials=adapter.credentials, transport="rest")
        return fetch_gcp(region, catalog_client=catalog)
    return None


@dg.asset(
    pool=WAREHOUSE_POOL,
    name="optimisation",
    deps=["inventory", "utilisation", "price_catalogue", "focus_costs"],
    group_name="optimisation",
    owners=OWNERS,
    kinds={"duckdb", "python"},
    description=(
        "Idle, unattached, stopped-but-paying, rightsizing, off-hours schedule and compute commitment "
        "recommendations for "
        "every provider (rules in docs/optimisation.md), each saving priced at the resource's effective "
        "rate from billing (the table resource_rates, built here from focus_costs). Upserted into the "
        "state store by stable id: a re-run updates a "
        "recommendation, and one its provider no longer warrants becomes obsolete."
    ),
)
def optimisation(warehouse: WarehouseResource, providers: ProvidersResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    with warehouse.connect() as con:
        rates = build_resource_rates(con)
        usage_hours = build_commitment_usage(con)
        inputs = load_inputs(con)
    if inputs is None:
        return dg.MaterializeResult(metadata={"recommendations": 0, "reason": "no inventory ingested yet"})
    found = analyse(inputs)
    with providers.session() as session:
        counts = store_recommendations(session, found, providers=list(inputs.rates), seen_at=inputs.now)
        counts["resources_with_rates"] = rates
        counts["commitment_usage_hours"] = usage_hours
        session.commit()
    totals: dict[str, Decimal] = {}
    for rec in found:
        totals[rec.currency] = totals.get(rec.currency, Decimal(0)) + rec.monthly_saving
    by_kind = pl.DataFrame({"kind": [r.kind for r in found]}).group_by("kind").len().sort("kind") if found else None
    return dg.MaterializeResult(
        metadata={
            **counts,
            "as_of": inputs.now.isoformat(),
            "by_kind": dict(by_kind.iter_rows()) if by_kind is not None else {},
            "monthly_saving": {currency: format_amount(amount) for currency, amount in totals.items()},
        }
    )
