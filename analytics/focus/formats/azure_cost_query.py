"""Azure Cost Management Query API results (as ``clouds.azure.CostQuerySource`` saves them:
one JSON object per row, keyed by the response's column names) to FOCUS 1.2.

The Query API returns aggregates (a day's cost per service, resource, location, charge type
and pricing model), not line items or prices; it stands in for subscriptions without an
export. ``clouds.azure.CostQuerySource`` asks for the actual cost (BilledCost: purchases at full
price, usage covered by a commitment at zero) and the amortized cost (EffectiveCost:
commitment purchases at zero, their cost spread over the usage they cover, unused commitment
on rows of its own) of each group and day; a file without ``AmortizedCost`` falls back to the
actual cost, with commitment purchases at zero when the pricing model says so.

Unit prices are unknown, so each row is priced as one unit ("Units"), or minus one for a
negative amount (FOCUS prices are never negative), at the larger of its two costs: totals are
exact, per-unit figures are not meaningful.
"""

from __future__ import annotations

from analytics.focus.formats.azure_services import values_sql
from analytics.focus.formats.base import (
    MONEY,
    QUANTITY,
    Context,
    Requirement,
    SourceInfo,
    clean,
    lineage_sql,
    money_sql,
)

COST = ("totalCost", "Cost", "PreTaxCost", "CostUSD")
EXTRAS = "json_object('Source', 'Cost Management Query', 'PricingModel', pricing_model)"


class AzureCostQuery:
    name = "azure_cost_query"
    provider = "Microsoft"
    description = "Azure Cost Management Query API rows (daily aggregates, saved as JSONL)"
    reconciles_with = "BilledCost"
    requirements: tuple[Requirement, ...] = (
        Requirement("cost", COST),
        Requirement("UsageDate", ("UsageDate",)),
        Requirement("Currency", ("Currency",)),
        Requirement("Scope", ("Scope",)),
    )
    currency_column = "currency"
    cost_sources: tuple[str, ...] = COST
    unit_columns: tuple[str, ...] = ()

    def matches(self, info: SourceInfo) -> bool:
        return info.has("UsageDate") and info.has("Scope") and info.has(*COST)

    def canonical_sql(self, info: SourceInfo) -> str:
        c = info.col
        return f"""
SELECT
    strptime(CAST({c("UsageDate")} AS VARCHAR), '%Y%m%d')::DATE AS charge_date,
    {money_sql(c(*COST))} AS cost,
    {money_sql(c("AmortizedCost"))} AS amortized_cost,
    trim({c("Currency")}) AS currency,
    {clean(c("ServiceName"))} AS service_name,
    {clean(c("MeterCategory"))} AS meter_category,
    {clean(c("ResourceId"))} AS resource_id,
    lower(replace({clean(c("ResourceLocation"))}, ' ', '')) AS location,
    COALESCE({clean(c("ChargeType"))}, 'Usage') AS charge_type,
    {clean(c("PricingModel"))} AS pricing_model,
    {c("Scope")} AS scope,
    regexp_extract({c("Scope")}, '/subscriptions/([^/]+)', 1) AS subscription_id,
    md5(CAST(source_row AS VARCHAR)) AS line_id
FROM {info.relation} AS source_row
"""

    def focus_sql(self, canonical_sql: str, context: Context) -> str:
        return f"""
WITH src AS ({canonical_sql}),
typed AS (
    SELECT *,
        CASE WHEN charge_type IN ('Usage', 'UnusedReservation', 'UnusedSavingsPlan') THEN 'Usage'
             WHEN charge_type IN ('Purchase', 'Refund') THEN 'Purchase'
             WHEN charge_type IN ('Tax', 'Credit') THEN charge_type
             ELSE 'Adjustment' END AS category
    FROM src
),
costed AS (
    SELECT *,
        COALESCE(amortized_cost,
                 CASE WHEN category = 'Purchase' AND pricing_model IN ('Reservation', 'SavingsPlan') THEN 0
                      ELSE cost END)::{MONEY} AS effective_cost,
        greatest(abs(cost), abs(COALESCE(amortized_cost, cost)))::{MONEY} AS unit_price,
        CASE WHEN COALESCE(NULLIF(cost, 0), amortized_cost, 0) < 0 THEN -1 ELSE 1 END::{QUANTITY} AS units
    FROM typed
),
services AS (SELECT * FROM {values_sql()})
SELECT
    NULL::VARCHAR AS AvailabilityZone,
    cost AS BilledCost,
    COALESCE(NULLIF(subscription_id, ''), scope) AS BillingAccountId,
    COALESCE(NULLIF(subscription_id, ''), scope) AS BillingAccountName,
    'Subscription' AS BillingAccountType,
    currency AS BillingCurrency,
    CAST(date_trunc('month', charge_date) + INTERVAL 1 MONTH AS TIMESTAMPTZ) AS BillingPeriodEnd,
    CAST(date_trunc('month', charge_date) AS TIMESTAMPTZ) AS BillingPeriodStart,
    NULL::VARCHAR AS CapacityReservationId,
    NULL::VARCHAR AS CapacityReservationStatus,
    category AS ChargeCategory,
    CASE WHEN charge_type = 'Refund' THEN 'Correction' END AS ChargeClass,
    COALESCE(service_name, meter_category, 'Azure') || ' (Cost Management daily total)' AS ChargeDescription,
    CASE category WHEN 'Usage' THEN 'Usage-Based' WHEN 'Tax' THEN 'Recurring' ELSE 'One-Time' END AS ChargeFrequency,
    CAST(charge_date + INTERVAL 1 DAY AS TIMESTAMPTZ) AS ChargePeriodEnd,
    CAST(charge_date AS TIMESTAMPTZ) AS ChargePeriodStart,
    NULL::VARCHAR AS CommitmentDiscountCategory,
    NULL::VARCHAR AS CommitmentDiscountId,
    NULL::VARCHAR AS CommitmentDiscountName,
    NULL::{QUANTITY} AS CommitmentDiscountQuantity,
    NULL::VARCHAR AS CommitmentDiscountStatus,
    NULL::VARCHAR AS CommitmentDiscountType,
    NULL::VARCHAR AS CommitmentDiscountUnit,
    CASE WHEN category = 'Usage' THEN units END AS ConsumedQuantity,
    CASE WHEN category = 'Usage' THEN 'Units' END AS ConsumedUnit,
    CASE WHEN category IN ('Usage', 'Purchase') THEN unit_price * units ELSE cost END AS ContractedCost,
    CASE WHEN category IN ('Usage', 'Purchase') THEN unit_price END AS ContractedUnitPrice,
    effective_cost AS EffectiveCost,
    NULL::VARCHAR AS InvoiceId,
    'Microsoft' AS InvoiceIssuerName,
    CASE WHEN category IN ('Usage', 'Purchase') THEN unit_price * units ELSE cost END AS ListCost,
    CASE WHEN category IN ('Usage', 'Purchase') THEN unit_price END AS ListUnitPrice,
    CASE WHEN category NOT IN ('Usage', 'Purchase') THEN NULL
         WHEN pricing_model IN ('Reservation', 'SavingsPlan') AND category = 'Usage' THEN 'Committed'
         WHEN pricing_model = 'Spot' THEN 'Dynamic' ELSE 'Standard' END AS PricingCategory,
    currency AS PricingCurrency,
    CASE WHEN category IN ('Usage', 'Purchase') THEN unit_price END AS PricingCurrencyContractedUnitPrice,
    effective_cost AS PricingCurrencyEffectiveCost,
    CASE WHEN category IN ('Usage', 'Purchase') THEN unit_price END AS PricingCurrencyListUnitPrice,
    CASE WHEN category IN ('Usage', 'Purchase') THEN units END AS PricingQuantity,
    CASE WHEN category IN ('Usage', 'Purchase') THEN 'Units' END AS PricingUnit,
    'Microsoft' AS ProviderName,
    'Microsoft' AS PublisherName,
    CASE WHEN location NOT IN ('', 'global', 'unassigned', 'unknown') THEN location END AS RegionId,
    CASE WHEN location NOT IN ('', 'global', 'unassigned', 'unknown') THEN location END AS RegionName,
    resource_id AS ResourceId,
    CASE WHEN resource_id IS NOT NULL THEN regexp_extract(resource_id, '[^/]+$') END AS ResourceName,
    CASE WHEN resource_id IS NOT NULL THEN NULLIF(regexp_extract(resource_id, '/providers/([^/]+/[^/]+)', 1), '') END
        AS ResourceType,
    COALESCE(services.service_category, 'Other') AS ServiceCategory,
    COALESCE(service_name, meter_category, 'Azure') AS ServiceName,
    COALESCE(services.service_subcategory, 'Other (Other)') AS ServiceSubcategory,
    CASE WHEN category IN ('Usage', 'Purchase') THEN 'CMQ:' || COALESCE(meter_category, service_name, 'Azure') END
        AS SkuId,
    CASE WHEN category IN ('Usage', 'Purchase') THEN COALESCE(meter_category, service_name, 'Azure') END AS SkuMeter,
    NULL::JSON AS SkuPriceDetails,
    CASE WHEN category IN ('Usage', 'Purchase') THEN 'CMQ:' || COALESCE(meter_category, service_name, 'Azure') END
        AS SkuPriceId,
    NULLIF(subscription_id, '') AS SubAccountId,
    NULLIF(subscription_id, '') AS SubAccountName,
    CASE WHEN NULLIF(subscription_id, '') IS NOT NULL THEN 'Subscription' END AS SubAccountType,
    NULL::JSON AS Tags,
    {lineage_sql(context, "line_id", "meter_category", EXTRAS)}
FROM costed LEFT JOIN services ON services.service_key = COALESCE(costed.meter_category, costed.service_name)
"""

    def totals_sql(self, canonical_sql: str) -> str:
        return (
            "SELECT charge_date AS day, currency, sum(cost) AS cost, count(*) AS line_items "
            f"FROM ({canonical_sql}) GROUP BY ALL"
        )
