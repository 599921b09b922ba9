"""Billing's part of the inputs, in SQL over ``focus_costs``: each resource's effective hourly
rates (``resource_rates``) and the hourly compute usage commitments are sized on
(``commitment_usage``), with the form billing and inventory ids are matched in."""

from __future__ import annotations

import duckdb

BILL_ID_SQL = r"regexp_replace(lower(ResourceId), '^//[^/]+/', '')"
"""A billing ResourceId in the form resources are matched in (see :func:`bill_id`, its twin for
inventory ids): lower-cased, without Google's ``//compute.googleapis.com/`` service prefix."""
RUNNING_TIME_SQL = "lower(PricingUnit) IN ('hour', 'hours')"
"""A charge for running time (priced in hours), which stopping or resizing changes."""

RATE_DAYS = 7
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
    ``//compute.googleapis.com/`` prefix, the form :func:`bill_id` gives inventory ids."""
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


def bill_id(resource_id: str) -> str:
    """An inventory id in the form billing ids are matched in (see :func:`analytics.optimisation.inputs._rates`)."""
    lowered = resource_id.lower()
    return lowered.split("/", 3)[3] if lowered.startswith("//") else lowered
