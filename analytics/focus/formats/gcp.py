"""Google Cloud Billing export (BigQuery, standard or detailed) to FOCUS 1.2.

Rows arrive as the export table's nested records (JSONL or Parquet from ``bq extract`` or the
BigQuery API) or flattened to CSV with dotted names (``service.description``) and the
repeated fields written as text (``credits`` as JSON or as Python's repr with single quotes).
Every shape is read into the same canonical columns first.

Credits are negative amounts on a row. Discounts that reduce what that usage costs
(sustained-use, committed-use, negotiated, free tier, reseller margin, fee offsets) are
applied on the row itself, as FOCUS asks; promotional credits and subscription benefits are
not discounts of that usage but money the customer was given, so each becomes its own
``Credit`` row. Either way the sum of BilledCost equals the export's ``cost`` plus its
credits, which is what the invoice charges.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from analytics.focus.formats.base import (
    MONEY,
    QUANTITY,
    Context,
    Requirement,
    SourceInfo,
    UnitMap,
    clean,
    decimal_sql,
    lineage_sql,
    literal,
    priced_sql,
)
from analytics.focus.reconcile import Cause, SourceTotals

PROMOTIONAL = "('PROMOTION', 'SUBSCRIPTION_BENEFIT')"
CREDITS_TYPE = '[{"name":"VARCHAR","amount":"DOUBLE","full_name":"VARCHAR","id":"VARCHAR","type":"VARCHAR"}]'
LABELS_TYPE = '[{"key":"VARCHAR","value":"VARCHAR"}]'
REGION_NAMES = {
    "us-central1": "Iowa", "us-east1": "South Carolina", "us-east4": "Northern Virginia", "us-west1": "Oregon",
    "us-west2": "Los Angeles", "europe-west1": "Belgium", "europe-west2": "London", "europe-west3": "Frankfurt",
    "europe-west4": "Netherlands", "europe-north1": "Finland", "asia-east1": "Taiwan", "asia-northeast1": "Tokyo",
    "asia-southeast1": "Singapore", "australia-southeast1": "Sydney", "northamerica-northeast1": "Montreal",
    "southamerica-east1": "Sao Paulo",
}  # fmt: skip
SERVICES = {
    "Compute Engine": ("Compute", "Virtual Machines"),
    "Kubernetes Engine": ("Compute", "Containers"),
    "Cloud Run": ("Compute", "Serverless Compute"),
    "Cloud Functions": ("Compute", "Serverless Compute"),
    "App Engine": ("Web", "Application Platforms"),
    "Cloud Storage": ("Storage", "Object Storage"),
    "Filestore": ("Storage", "File Storage"),
    "Cloud SQL": ("Databases", "Relational Databases"),
    "Cloud Spanner": ("Databases", "Relational Databases"),
    "Cloud Bigtable": ("Databases", "NoSQL Databases"),
    "Firestore": ("Databases", "NoSQL Databases"),
    "Cloud Memorystore for Redis": ("Databases", "Caching"),
    "BigQuery": ("Databases", "Data Warehouses"),
    "Networking": ("Networking", "Network Connectivity"),
    "Cloud CDN": ("Networking", "Content Delivery"),
    "Cloud DNS": ("Networking", "Network Routing"),
    "Cloud Load Balancing": ("Networking", "Application Networking"),
    "Cloud Armor": ("Networking", "Network Security"),
    "Cloud Pub/Sub": ("Integration", "Messaging"),
    "Cloud Scheduler": ("Integration", "Workflow Orchestration"),
    "Workflows": ("Integration", "Workflow Orchestration"),
    "Apigee": ("Integration", "API Management"),
    "Dataflow": ("Analytics", "Data Processing"),
    "Dataproc": ("Analytics", "Data Processing"),
    "Looker": ("Analytics", "Business Intelligence"),
    "Vertex AI": ("AI and Machine Learning", "AI Platforms"),
    "Gemini API": ("AI and Machine Learning", "Generative AI"),
    "Cloud Logging": ("Management and Governance", "Observability"),
    "Cloud Monitoring": ("Management and Governance", "Observability"),
    "Security Command Center": ("Security", "Security Posture Management"),
    "Secret Manager": ("Security", "Secret Management"),
    "Cloud Key Management Service (KMS)": ("Security", "Secret Management"),
    "Identity Platform": ("Identity", "Identity and Access Management"),
    "Cloud Build": ("Developer Tools", "Continuous Integration and Deployment"),
    "Artifact Registry": ("Developer Tools", "Developer Platforms"),
    "Support": ("Management and Governance", "Support"),
}


def _field(info: SourceInfo, dotted: str) -> str:
    """A nested field, from a flattened column (``service.description``) or a struct column."""
    if info.has(dotted):
        return info.col(dotted)
    top, _, rest = dotted.partition(".")
    if rest and info.has(top):
        return f"json_extract_string(to_json({info.col(top)}), {literal('$.' + rest)})"
    return "NULL"


def _repeated(info: SourceInfo, name: str, json_type: str) -> str:
    """A repeated record (list of structs), from native lists or from text (JSON or repr)."""
    column = info.find(name)
    if column is None:
        return f"from_json('[]', {literal(json_type)})"
    ref = info.col(name)
    if info.type_of(column).startswith("VARCHAR"):
        text = (
            f"replace(replace(replace(replace(COALESCE(NULLIF(trim({ref}), ''), '[]'), '''', '\"'), "
            "'None', 'null'), 'True', 'true'), 'False', 'false')"
        )
    else:
        text = f"COALESCE(to_json({ref}), '[]')"
    return f"from_json({text}, {literal(json_type)})"


def _values(name: str, rows: Mapping[str, Sequence[str]], columns: str) -> str:
    body = ", ".join("(" + ", ".join(literal(v) for v in (k, *values)) + ")" for k, values in sorted(rows.items()))
    return f"(VALUES {body}) AS {name}({columns})"


# What the invoice charges for a row: its cost plus every credit on it. A partial export can
# hold usage with committed-use credits but not the commitment's fee rows (SKU "Commitment
# v1: ..."); FOCUS keeps the provider's numbers, and the notice says what is missing.
INVOICED = f"cost + COALESCE(list_sum(list_transform(credits, lambda c: {decimal_sql('c.amount')})), 0)"


def _with_commitments(canonical_sql: str, _units: UnitMap) -> str:
    cud = "list_filter(credits, lambda c: c.type LIKE 'COMMITTED_USAGE_DISCOUNT%')"
    return f"""
WITH src AS ({canonical_sql}),
fees AS (
    SELECT currency AS fee_currency, count(*) AS commitment_fees FROM src
    WHERE sku_description ILIKE 'Commitment%' GROUP BY ALL
)
SELECT src.*, COALESCE(fees.commitment_fees, 0) AS commitment_fees,
    COALESCE(list_sum(list_transform({cud}, lambda c: {decimal_sql("c.amount")})), 0) AS cud_credits
FROM src LEFT JOIN fees ON src.currency = fees.fee_currency"""


class GcpBillingExport:
    """Cloud Billing export to BigQuery: standard and detailed (resource-level) rows."""

    name = "gcp_billing_export"
    provider = "Google Cloud"
    description = "Google Cloud Billing BigQuery export (standard or detailed), nested or flattened"
    reconciles_with = "BilledCost"
    requirements: tuple[Requirement, ...] = (
        Requirement("cost", ("cost",)),
        Requirement("currency", ("currency",)),
        Requirement("usage_start_time", ("usage_start_time",)),
        Requirement("billing_account_id", ("billing_account_id",)),
    )
    currency_column = "currency"
    cost_sources: tuple[str, ...] = ("cost",)
    unit_columns: tuple[str, ...] = ("usage_unit", "pricing_unit")

    def matches(self, info: SourceInfo) -> bool:
        return info.has("usage_start_time") and info.has("billing_account_id") and info.has("cost")

    def canonical_sql(self, info: SourceInfo) -> str:
        def f(dotted: str) -> str:
            return _field(info, dotted)

        return f"""
SELECT
    CAST({info.col("billing_account_id")} AS VARCHAR) AS billing_account_id,
    {clean(f("service.id"))} AS service_id,
    {clean(f("service.description"))} AS service_description,
    {clean(f("sku.id"))} AS sku_id,
    {clean(f("sku.description"))} AS sku_description,
    CAST({info.col("usage_start_time")} AS TIMESTAMPTZ) AS usage_start,
    CAST({info.col("usage_end_time")} AS TIMESTAMPTZ) AS usage_end,
    {clean(f("project.id"))} AS project_id,
    {clean(f("project.name"))} AS project_name,
    {clean(f("project.number"))} AS project_number,
    {_repeated(info, "labels", LABELS_TYPE)} AS labels,
    {_repeated(info, "system_labels", LABELS_TYPE)} AS system_labels,
    {clean(f("location.region"))} AS region,
    {clean(f("location.zone"))} AS zone,
    {clean(f("location.location"))} AS location,
    {decimal_sql(info.col("cost"))} AS cost,
    trim(CAST({info.col("currency")} AS VARCHAR)) AS currency,
    {decimal_sql(f("currency_conversion_rate"))} AS conversion_rate,
    {decimal_sql(f("usage.amount"), QUANTITY)} AS usage_amount,
    {clean(f("usage.unit"))} AS usage_unit,
    {decimal_sql(f("usage.amount_in_pricing_units"), QUANTITY)} AS pricing_amount,
    {clean(f("usage.pricing_unit"))} AS pricing_unit,
    {decimal_sql(f("price.effective_price"))} AS effective_price,
    {decimal_sql(f("cost_at_list"))} AS cost_at_list,
    {_repeated(info, "credits", CREDITS_TYPE)} AS credits,
    {clean(f("invoice.month"))} AS invoice_month,
    COALESCE({clean(f("cost_type"))}, 'regular') AS cost_type,
    {clean(f("adjustment_info.type"))} AS adjustment_type,
    {clean(f("adjustment_info.mode"))} AS adjustment_mode,
    {clean(f("resource.name"))} AS resource_name,
    {clean(f("resource.global_name"))} AS resource_global_name,
    {clean(f("subscription.instance_id"))} AS subscription_id,
    {clean(f("transaction_type"))} AS transaction_type,
    {clean(f("seller_name"))} AS seller_name,
    {clean(f("export_time"))} AS export_time,
    md5(CAST(source_row AS VARCHAR)) AS line_id
FROM {info.relation} AS source_row
"""

    def focus_sql(self, canonical_sql: str, context: Context) -> str:
        units = context.units
        return f"""
WITH src AS ({canonical_sql}),
typed AS (
    SELECT *,
        COALESCE(list_sum(list_transform(
            list_filter(credits, lambda c: c.type NOT IN {PROMOTIONAL}),
            lambda c: {decimal_sql("c.amount")})), 0)::{MONEY} AS row_discounts,
        list_filter(credits, lambda c: c.type LIKE 'COMMITTED_USAGE_DISCOUNT%')[1] AS cud,
        CASE WHEN cost_type = 'tax' THEN 'Tax'
             WHEN cost_type IN ('adjustment', 'rounding_error') THEN 'Adjustment'
             WHEN sku_description ILIKE 'Commitment%' THEN 'Purchase'
             ELSE 'Usage' END AS row_category,
        CASE WHEN invoice_month IS NOT NULL THEN timezone('America/Los_Angeles', make_timestamp(
            CAST(substr(invoice_month, 1, 4) AS BIGINT), CAST(substr(invoice_month, 5, 2) AS BIGINT), 1, 0, 0, 0))
        END AS invoice_start
    FROM src
),
-- one row per export row (credit NULL), plus one Credit row per promotional credit it
-- carries; in one pass, because reading ``typed`` twice makes DuckDB fan the scan out
with_credits AS (
    SELECT *, unnest(list_concat([NULL], list_filter(credits, lambda c: c.type IN {PROMOTIONAL}))) AS credit
    FROM typed
),
expanded AS (
    SELECT *, credit IS NOT NULL AS is_credit,
        CASE WHEN credit IS NULL THEN row_category ELSE 'Credit' END AS category,
        CASE WHEN credit IS NULL THEN (cost + row_discounts)::{MONEY} ELSE {decimal_sql("credit.amount")} END
            AS billed
    FROM with_credits
),
priced AS (
    SELECT *,
        {units.block_sql("pricing_unit")} AS block,
        CASE WHEN category IN ('Usage', 'Purchase') THEN COALESCE(pricing_amount, usage_amount) END AS pricing_quantity,
        CASE WHEN category IN ('Usage', 'Purchase') THEN COALESCE(
            effective_price,
            CASE WHEN COALESCE(pricing_amount, usage_amount) <> 0
                 THEN CAST(cost / COALESCE(pricing_amount, usage_amount) AS {MONEY}) END,
            0::{MONEY}) END AS contracted_unit_price,
        CASE WHEN category IN ('Usage', 'Purchase') THEN COALESCE(
            CASE WHEN cost_at_list IS NOT NULL AND COALESCE(pricing_amount, usage_amount) <> 0
                 THEN CAST(cost_at_list / COALESCE(pricing_amount, usage_amount) AS {MONEY}) END,
            effective_price,
            CASE WHEN COALESCE(pricing_amount, usage_amount) <> 0
                 THEN CAST(cost / COALESCE(pricing_amount, usage_amount) AS {MONEY}) END,
            0::{MONEY}) END AS list_unit_price
    FROM expanded
),
services AS (SELECT * FROM {_values("gcp_services", SERVICES, "service_key, service_category, service_subcategory")}),
regions AS (SELECT * FROM {
            _values("gcp_regions", {k: (v,) for k, v in REGION_NAMES.items()}, "region_key, region_name")
        })
SELECT
    CASE WHEN NOT is_credit THEN zone END AS AvailabilityZone,
    billed AS BilledCost,
    billing_account_id AS BillingAccountId,
    billing_account_id AS BillingAccountName,
    'Billing Account' AS BillingAccountType,
    currency AS BillingCurrency,
    COALESCE(invoice_start + INTERVAL 1 MONTH, date_trunc('month', usage_start) + INTERVAL 1 MONTH) AS BillingPeriodEnd,
    COALESCE(invoice_start, date_trunc('month', usage_start)) AS BillingPeriodStart,
    NULL::VARCHAR AS CapacityReservationId,
    NULL::VARCHAR AS CapacityReservationStatus,
    category AS ChargeCategory,
    CASE WHEN adjustment_mode IS NOT NULL AND adjustment_type LIKE '%CORRECTION' THEN 'Correction' END AS ChargeClass,
    CASE WHEN is_credit THEN COALESCE(credit.full_name, credit.name) ELSE sku_description END AS ChargeDescription,
    CASE WHEN is_credit OR category = 'Adjustment' THEN 'One-Time'
         WHEN category = 'Purchase' OR category = 'Tax' THEN 'Recurring'
         ELSE 'Usage-Based' END AS ChargeFrequency,
    usage_end AS ChargePeriodEnd,
    usage_start AS ChargePeriodStart,
    CASE WHEN is_credit OR cud IS NULL THEN NULL
         WHEN cud.type = 'COMMITTED_USAGE_DISCOUNT_DOLLAR_BASE' THEN 'Spend' ELSE 'Usage' END
        AS CommitmentDiscountCategory,
    CASE WHEN NOT is_credit AND cud IS NOT NULL THEN COALESCE(subscription_id, cud.id, cud.name) END
        AS CommitmentDiscountId,
    CASE WHEN NOT is_credit AND cud IS NOT NULL THEN COALESCE(cud.full_name, cud.name) END AS CommitmentDiscountName,
    NULL::{QUANTITY} AS CommitmentDiscountQuantity,
    CASE WHEN NOT is_credit AND cud IS NOT NULL AND category = 'Usage' THEN 'Used' END AS CommitmentDiscountStatus,
    CASE WHEN NOT is_credit AND cud IS NOT NULL THEN 'Committed Use Discount' END AS CommitmentDiscountType,
    NULL::VARCHAR AS CommitmentDiscountUnit,
    CASE WHEN category = 'Usage' THEN usage_amount END AS ConsumedQuantity,
    CASE WHEN category = 'Usage' AND usage_amount IS NOT NULL
         THEN {units.unit_sql("usage_unit", with_block=False)} END AS ConsumedUnit,
    CASE WHEN category IN ('Usage', 'Purchase')
         THEN {priced_sql("contracted_unit_price", "pricing_quantity", "cost")} ELSE billed END AS ContractedCost,
    contracted_unit_price AS ContractedUnitPrice,
    billed AS EffectiveCost,
    CASE WHEN invoice_month IS NOT NULL THEN billing_account_id || '-' || invoice_month END AS InvoiceId,
    CASE WHEN transaction_type LIKE 'THIRD_PARTY%' THEN COALESCE(seller_name, 'Google Cloud') ELSE 'Google Cloud' END
        AS InvoiceIssuerName,
    CASE WHEN category IN ('Usage', 'Purchase')
         THEN {priced_sql("list_unit_price", "pricing_quantity", "COALESCE(cost_at_list, cost)")} ELSE billed END
        AS ListCost,
    list_unit_price AS ListUnitPrice,
    CASE WHEN category NOT IN ('Usage', 'Purchase') THEN NULL
         WHEN category = 'Usage' AND cud IS NOT NULL THEN 'Committed'
         WHEN sku_description ILIKE '%Spot%' OR sku_description ILIKE '%Preemptible%' THEN 'Dynamic'
         ELSE 'Standard' END AS PricingCategory,
    currency AS PricingCurrency,
    contracted_unit_price AS PricingCurrencyContractedUnitPrice,
    billed AS PricingCurrencyEffectiveCost,
    list_unit_price AS PricingCurrencyListUnitPrice,
    pricing_quantity AS PricingQuantity,
    CASE WHEN pricing_quantity IS NOT NULL
         THEN COALESCE({units.unit_sql("pricing_unit")}, {units.unit_sql("usage_unit")}, 'Units') END AS PricingUnit,
    'Google Cloud' AS ProviderName,
    CASE WHEN transaction_type LIKE 'THIRD_PARTY%' THEN COALESCE(seller_name, 'Google Cloud') ELSE 'Google Cloud' END
        AS PublisherName,
    CASE WHEN region IS NOT NULL AND region <> 'global' THEN region END AS RegionId,
    CASE WHEN region IS NOT NULL AND region <> 'global' THEN COALESCE(regions.region_name, region) END AS RegionName,
    CASE WHEN NOT is_credit THEN resource_global_name END AS ResourceId,
    CASE WHEN NOT is_credit AND resource_global_name IS NOT NULL THEN resource_name END AS ResourceName,
    CASE WHEN NOT is_credit AND resource_global_name IS NOT NULL
         THEN COALESCE(NULLIF(regexp_extract(resource_global_name, '/([A-Za-z]+)/[^/]+$', 1), ''), 'resource') END
        AS ResourceType,
    COALESCE(services.service_category, 'Other') AS ServiceCategory,
    COALESCE(service_description, service_id, 'Google Cloud') AS ServiceName,
    COALESCE(services.service_subcategory, 'Other (Other)') AS ServiceSubcategory,
    CASE WHEN category IN ('Usage', 'Purchase') THEN sku_id END AS SkuId,
    CASE WHEN category IN ('Usage', 'Purchase') AND sku_id IS NOT NULL THEN sku_description END AS SkuMeter,
    NULL::JSON AS SkuPriceDetails,
    CASE WHEN category IN ('Usage', 'Purchase') AND sku_id IS NOT NULL THEN sku_id || ':' || currency END
        AS SkuPriceId,
    project_id AS SubAccountId,
    CASE WHEN project_id IS NOT NULL THEN COALESCE(project_name, project_id) END AS SubAccountName,
    CASE WHEN project_id IS NOT NULL THEN 'Project' END AS SubAccountType,
    CASE WHEN len(labels) + len(system_labels) > 0 THEN to_json(map_from_entries(list_transform(
        list_concat(labels, system_labels), lambda l: struct_pack(key := l.key, value := l.value))))::JSON END AS Tags,
    {
            lineage_sql(
                context,
                "line_id || CASE WHEN is_credit THEN ':credit:' || COALESCE(credit.id, credit.name) ELSE '' END",
                "sku_id",
                '''json_object('CostType', cost_type, 'ServiceId', service_id, 'ProjectNumber', project_number,
                'InvoiceMonth', invoice_month, 'Location', location, 'CurrencyConversionRate', conversion_rate,
                'Credits', to_json(credits), 'ExportTime', export_time,
                'AdjustmentType', adjustment_type)''',
            )
        }
FROM priced
LEFT JOIN services ON services.service_key = priced.service_description
LEFT JOIN regions ON regions.region_key = priced.region
"""

    source_totals = SourceTotals(
        currency="currency",
        figures={"BilledCost": INVOICED, "EffectiveCost": INVOICED},
        causes=(
            Cause(
                code="cud-credits-without-fee",
                metric="BilledCost",
                condition="commitment_fees = 0 AND cud_credits <> 0",
                amount="cud_credits",
                lines="lines with committed use discount credits (COMMITTED_USAGE_DISCOUNT, _DOLLAR_BASE) "
                "and no commitment fee line in the file",
                reason="the credits cancel the usage's cost; the commitment fee that pays for it is billed in "
                "lines this file does not hold",
                against="the cost column",
                checked=False,
            ),
        ),
        prepare=_with_commitments,
    )

    def totals_sql(self, canonical_sql: str) -> str:
        """The export's cost plus all its credits (what the invoice charges), per day and currency."""
        return f"""
SELECT CAST(usage_start AS DATE) AS day, currency,
       sum(cost + COALESCE(list_sum(list_transform(credits, lambda c: {decimal_sql("c.amount")})), 0)) AS cost,
       count(*) AS line_items
FROM ({canonical_sql}) GROUP BY ALL"""
