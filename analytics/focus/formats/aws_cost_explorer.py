"""AWS Cost Explorer ``GetCostAndUsage`` results (as ``clouds.aws.CostExplorerSource`` saves
them: one JSON object per group and day) to FOCUS 1.2.

Cost Explorer is coarse: a day's cost per linked account and service, no resources, prices or
SKUs. It stands in for accounts without a billing export. Tax is its own "service"; a
negative amount is a credit (refunds and credits are netted into Cost Explorer's groups, so
this is the best the API allows; an export is exact). UsageQuantity sums mixed units, so it is
reported in "Units".
"""

from __future__ import annotations

from analytics.focus.formats.base import (
    MONEY,
    QUANTITY,
    Context,
    Requirement,
    SourceInfo,
    lineage_sql,
    priced_sql,
)

CATEGORIES = {
    "Amazon Elastic Compute Cloud - Compute": ("Compute", "Virtual Machines"),
    "EC2 - Other": ("Compute", "Other (Compute)"),
    "Amazon Simple Storage Service": ("Storage", "Object Storage"),
    "Amazon Relational Database Service": ("Databases", "Relational Databases"),
    "AWS Data Transfer": ("Networking", "Network Connectivity"),
    "Amazon CloudFront": ("Networking", "Content Delivery"),
    "AWS Lambda": ("Compute", "Serverless Compute"),
    "Amazon DynamoDB": ("Databases", "NoSQL Databases"),
    "AmazonCloudWatch": ("Management and Governance", "Observability"),
    "Amazon Elastic Load Balancing": ("Networking", "Application Networking"),
    "Amazon Virtual Private Cloud": ("Networking", "Network Infrastructure"),
    "Tax": ("Other", "Other (Other)"),
}


def _categories() -> str:
    rows = ", ".join(
        "('" + name.replace("'", "''") + f"', '{cat}', '{sub}')" for name, (cat, sub) in sorted(CATEGORIES.items())
    )
    return f"(VALUES {rows}) AS ce_services(service_key, service_category, service_subcategory)"


class AwsCostExplorer:
    name = "aws_cost_explorer"
    provider = "AWS"
    description = "AWS Cost Explorer GetCostAndUsage, daily by linked account and service (saved as JSONL)"
    reconciles_with = "BilledCost"
    requirements: tuple[Requirement, ...] = (
        Requirement("TimePeriod", ("TimePeriod",)),
        Requirement("Keys", ("Keys",)),
        Requirement("UnblendedCost", ("UnblendedCost",)),
    )
    currency_column = "currency"
    cost_sources: tuple[str, ...] = ()
    unit_columns: tuple[str, ...] = ()

    def matches(self, info: SourceInfo) -> bool:
        return info.has("TimePeriod") and info.has("Keys") and info.has("UnblendedCost")

    def canonical_sql(self, info: SourceInfo) -> str:
        account = info.col("BillingAccountId", default="NULL")
        return f"""
SELECT
    CAST(TimePeriod.Start AS DATE) AS day_start,
    CAST(TimePeriod."End" AS DATE) AS day_end,
    Keys[1] AS account_id,
    Keys[2] AS service,
    CAST({account} AS VARCHAR) AS billing_account_id,
    CAST(UnblendedCost.Amount AS {MONEY}) AS cost,
    UnblendedCost.Unit AS currency,
    TRY_CAST({info.col("UsageQuantity", default="NULL")}.Amount AS {QUANTITY}) AS quantity,
    md5(CAST(source_row AS VARCHAR)) AS line_id
FROM {info.relation} AS source_row
"""

    def focus_sql(self, canonical_sql: str, context: Context) -> str:
        return f"""
WITH src AS ({canonical_sql}),
typed AS (
    SELECT *,
        CASE WHEN service = 'Tax' THEN 'Tax' WHEN cost < 0 THEN 'Credit' ELSE 'Usage' END AS category
    FROM src
),
priced AS (
    SELECT *,
        CASE WHEN category = 'Usage' THEN COALESCE(NULLIF(quantity, 0), 1) END AS pricing_quantity,
        CASE WHEN category = 'Usage'
             THEN CAST(cost / COALESCE(NULLIF(quantity, 0), 1) AS {MONEY}) END AS unit_price
    FROM typed
),
services AS (SELECT * FROM {_categories()})
SELECT
    NULL::VARCHAR AS AvailabilityZone,
    cost AS BilledCost,
    COALESCE(billing_account_id, account_id) AS BillingAccountId,
    COALESCE(billing_account_id, account_id) AS BillingAccountName,
    'Billing Account' AS BillingAccountType,
    currency AS BillingCurrency,
    CAST(date_trunc('month', day_start) + INTERVAL 1 MONTH AS TIMESTAMPTZ) AS BillingPeriodEnd,
    CAST(date_trunc('month', day_start) AS TIMESTAMPTZ) AS BillingPeriodStart,
    NULL::VARCHAR AS CapacityReservationId,
    NULL::VARCHAR AS CapacityReservationStatus,
    category AS ChargeCategory,
    NULL::VARCHAR AS ChargeClass,
    service || ' (Cost Explorer daily total)' AS ChargeDescription,
    CASE category WHEN 'Usage' THEN 'Usage-Based' WHEN 'Tax' THEN 'Recurring' ELSE 'One-Time' END AS ChargeFrequency,
    CAST(day_end AS TIMESTAMPTZ) AS ChargePeriodEnd,
    CAST(day_start AS TIMESTAMPTZ) AS ChargePeriodStart,
    NULL::VARCHAR AS CommitmentDiscountCategory,
    NULL::VARCHAR AS CommitmentDiscountId,
    NULL::VARCHAR AS CommitmentDiscountName,
    NULL::{QUANTITY} AS CommitmentDiscountQuantity,
    NULL::VARCHAR AS CommitmentDiscountStatus,
    NULL::VARCHAR AS CommitmentDiscountType,
    NULL::VARCHAR AS CommitmentDiscountUnit,
    CASE WHEN category = 'Usage' THEN pricing_quantity END AS ConsumedQuantity,
    CASE WHEN category = 'Usage' THEN 'Units' END AS ConsumedUnit,
    CASE WHEN category = 'Usage' THEN {priced_sql("unit_price", "pricing_quantity", "cost")} ELSE cost END
        AS ContractedCost,
    unit_price AS ContractedUnitPrice,
    cost AS EffectiveCost,
    NULL::VARCHAR AS InvoiceId,
    'AWS' AS InvoiceIssuerName,
    CASE WHEN category = 'Usage' THEN {priced_sql("unit_price", "pricing_quantity", "cost")} ELSE cost END AS ListCost,
    unit_price AS ListUnitPrice,
    CASE WHEN category = 'Usage' THEN 'Standard' END AS PricingCategory,
    currency AS PricingCurrency,
    unit_price AS PricingCurrencyContractedUnitPrice,
    cost AS PricingCurrencyEffectiveCost,
    unit_price AS PricingCurrencyListUnitPrice,
    pricing_quantity AS PricingQuantity,
    CASE WHEN category = 'Usage' THEN 'Units' END AS PricingUnit,
    'AWS' AS ProviderName,
    'AWS' AS PublisherName,
    NULL::VARCHAR AS RegionId,
    NULL::VARCHAR AS RegionName,
    NULL::VARCHAR AS ResourceId,
    NULL::VARCHAR AS ResourceName,
    NULL::VARCHAR AS ResourceType,
    COALESCE(services.service_category, 'Other') AS ServiceCategory,
    service AS ServiceName,
    COALESCE(services.service_subcategory, 'Other (Other)') AS ServiceSubcategory,
    CASE WHEN category = 'Usage' THEN 'CE:' || service END AS SkuId,
    CASE WHEN category = 'Usage' THEN service END AS SkuMeter,
    NULL::JSON AS SkuPriceDetails,
    CASE WHEN category = 'Usage' THEN 'CE:' || service END AS SkuPriceId,
    account_id AS SubAccountId,
    account_id AS SubAccountName,
    'AWS Account' AS SubAccountType,
    NULL::JSON AS Tags,
    {lineage_sql(context, "line_id", "service", "json_object('Source', 'Cost Explorer')")}
FROM priced LEFT JOIN services ON services.service_key = priced.service
"""

    def totals_sql(self, canonical_sql: str) -> str:
        return (
            "SELECT day_start AS day, currency, sum(cost) AS cost, count(*) AS line_items "
            f"FROM ({canonical_sql}) GROUP BY ALL"
        )
