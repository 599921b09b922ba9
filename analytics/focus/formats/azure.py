"""Azure Cost Management "Cost Details" to FOCUS 1.2.

One reader for every variant Microsoft writes: EA (PascalCase, ``CostInBillingCurrency``) and
MCA (camelCase, billing profile as the invoice scope, pricing and billing currencies), actual
and amortized datasets, the legacy usage file (``Cost`` or ``PreTaxCost``, ``Currency``,
``UsageDateTime``), CSV with a byte-order mark or Parquet, US (``9/2/2023``) or ISO dates,
tags with or without their outer braces. Columns are matched case-insensitively.

The mapping follows Microsoft's own FOCUS conversion (see docs/focus-mapping.md):
ChargeType Usage/Purchase/Tax/Credit keep their name, UnusedReservation and
UnusedSavingsPlan become Usage with CommitmentDiscountStatus Unused, Refund becomes a
Purchase with ChargeClass Correction (Azure refunds are for reservations and savings plans; a
refund with no commitment becomes a Credit), anything else an Adjustment. Legacy
pay-as-you-go files have no billing account; their subscription is the billing scope. In an actual-cost file,
usage covered by a reservation or savings plan bills 0 and its EffectiveCost is its effective
price times quantity; commitment purchases bill their price and have EffectiveCost 0. In an
amortized file (recognised by its unused-commitment rows or by covered usage with a cost) the
cost column is the amortized cost, so it is EffectiveCost, and covered usage bills 0.
"""

from __future__ import annotations

import duckdb

from analytics.focus.formats.azure_services import values_sql
from analytics.focus.formats.azure_totals import ACTUAL_TOTALS, AMORTIZED_TOTALS
from analytics.focus.formats.base import (
    MONEY,
    QUANTITY,
    Context,
    Requirement,
    SourceInfo,
    clean,
    lineage_sql,
    literal,
    money_sql,
    priced_sql,
    product_sql,
)

COST = ("CostInBillingCurrency", "Cost", "PreTaxCost")
CURRENCY = ("BillingCurrencyCode", "BillingCurrency", "Currency")
DATE = ("Date", "UsageDateTime", "UsageDate")
COMMITTED_MODELS = "('Reservation', 'SavingsPlan', 'Savings Plan')"
UNUSED_TYPES = "('UnusedReservation', 'UnusedSavingsPlan')"

REGION_NAMES = {
    "eastus": "East US", "eastus2": "East US 2", "westus": "West US", "westus2": "West US 2", "westus3": "West US 3",
    "centralus": "Central US", "northcentralus": "North Central US", "southcentralus": "South Central US",
    "westcentralus": "West Central US", "canadacentral": "Canada Central", "canadaeast": "Canada East",
    "brazilsouth": "Brazil South", "northeurope": "North Europe", "westeurope": "West Europe",
    "uksouth": "UK South", "ukwest": "UK West", "francecentral": "France Central",
    "germanywestcentral": "Germany West Central", "switzerlandnorth": "Switzerland North",
    "norwayeast": "Norway East", "swedencentral": "Sweden Central", "polandcentral": "Poland Central",
    "italynorth": "Italy North", "spaincentral": "Spain Central", "eastasia": "East Asia",
    "southeastasia": "Southeast Asia", "japaneast": "Japan East", "japanwest": "Japan West",
    "australiaeast": "Australia East", "australiasoutheast": "Australia Southeast",
    "centralindia": "Central India", "southindia": "South India", "koreacentral": "Korea Central",
    "uaenorth": "UAE North", "southafricanorth": "South Africa North", "qatarcentral": "Qatar Central",
}  # fmt: skip
_REGION_ALIASES = {"euwest": "westeurope", "eunorth": "northeurope", "useast": "eastus", "uswest": "westus"}


def _date(expr: str) -> str:
    text = f"CAST({expr} AS VARCHAR)"
    return (
        f"COALESCE(TRY_CAST({expr} AS DATE), try_strptime({text}, '%m/%d/%Y')::DATE, "
        f"try_strptime({text}, '%m/%d/%y')::DATE, try_strptime({text}, '%Y-%m-%dT%H:%M:%S')::DATE)"
    )


def _money(expr: str) -> str:
    return money_sql(expr)


def _region_values() -> str:
    rows = [f"({literal(k)}, {literal(k)}, {literal(v)})" for k, v in REGION_NAMES.items()]
    rows += [f"({literal(alias)}, {literal(k)}, {literal(REGION_NAMES[k])})" for alias, k in _REGION_ALIASES.items()]
    return f"(VALUES {', '.join(rows)}) AS azure_regions(region_key, region_id, region_name)"


class AzureCostDetails:
    """Azure Cost Details (EA or MCA, actual or amortized) and the legacy usage file."""

    name = "azure_cost_details"
    provider = "Microsoft"
    description = "Azure Cost Management cost details: EA, MCA, actual, amortized, legacy usage"
    reconciles_with = "BilledCost"
    source_totals = ACTUAL_TOTALS
    requirements: tuple[Requirement, ...] = (
        Requirement("cost", COST),
        Requirement("billing_currency", CURRENCY),
        Requirement("charge_date", DATE),
        Requirement("subscription_id", ("SubscriptionId", "SubscriptionGuid")),
    )
    currency_column = "billing_currency"
    cost_sources: tuple[str, ...] = COST
    unit_columns: tuple[str, ...] = ("unit_of_measure",)

    def matches(self, info: SourceInfo) -> bool:
        return info.has(*COST) and info.has("MeterCategory", "ConsumedService") and not info.has("BilledCost")

    def refine(self, con: duckdb.DuckDBPyConnection, canonical_sql: str) -> AzureCostDetails:
        """The amortized variant when the rows say so (only amortized data has unused-commitment
        rows, and only there does covered usage carry a cost)."""
        (amortized,) = con.execute(
            f"SELECT coalesce(bool_or(charge_type IN {UNUSED_TYPES} OR (charge_type = 'Usage' "
            f"AND pricing_model IN {COMMITTED_MODELS} AND cost <> 0)), false) FROM ({canonical_sql})"
        ).fetchall()[0]
        return AzureCostDetailsAmortized() if amortized else self

    def canonical_sql(self, info: SourceInfo) -> str:
        c = info.col
        mca = info.has("costInUsd", "pricingCurrency", "exchangeRatePricingToBilling")
        account_id = c("BillingProfileId") if mca else c("BillingAccountId", "BillingProfileId")
        account_name = c("BillingProfileName") if mca else c("BillingAccountName", "BillingProfileName")
        tags = c("Tags")
        return f"""
SELECT
    {_date(c(*DATE))} AS charge_date,
    {_date(c("BillingPeriodStartDate"))} AS billing_period_start,
    {_date(c("BillingPeriodEndDate"))} AS billing_period_end,
    {_money(c(*COST))} AS cost,
    trim(CAST({c(*CURRENCY)} AS VARCHAR)) AS billing_currency,
    COALESCE({clean(c("ChargeType"))}, 'Usage') AS charge_type,
    replace({clean(c("PricingModel"))}, 'On Demand', 'OnDemand') AS pricing_model,
    {clean(c("Frequency"))} AS frequency,
    CAST({_money(c("Quantity", "ConsumedQuantity", "UsageQuantity"))} AS {QUANTITY}) AS quantity,
    {clean(c("UnitOfMeasure"))} AS unit_of_measure,
    {_money(c("EffectivePrice", "ResourceRate", "Rate"))} AS effective_price,
    {_money(c("UnitPrice"))} AS unit_price,
    {_money(c("PayGPrice"))} AS payg_price,
    {_money(c("paygCostInBillingCurrency"))} AS payg_cost,
    {_money(c("costInPricingCurrency"))} AS cost_in_pricing_currency,
    {clean(c("pricingCurrency"))} AS pricing_currency,
    {_money(c("exchangeRatePricingToBilling"))} AS exchange_rate,
    {clean(account_id)} AS billing_account_id,
    {clean(account_name)} AS billing_account_name,
    {literal("Billing Profile" if mca else "Billing Account")} AS billing_account_type,
    {clean(c("invoiceId"))} AS invoice_id,
    {clean(c("SubscriptionId", "SubscriptionGuid"))} AS subscription_id,
    {clean(c("SubscriptionName"))} AS subscription_name,
    {clean(c("ResourceGroup", "ResourceGroupName"))} AS resource_group,
    {clean(c("ResourceLocationNormalized", "ResourceLocation", "location"))} AS resource_location,
    {clean(c("ResourceId", "InstanceId"))} AS resource_id,
    {clean(c("ResourceName"))} AS resource_name,
    {clean(c("MeterCategory"))} AS meter_category,
    {clean(c("MeterSubCategory"))} AS meter_subcategory,
    {clean(c("MeterName"))} AS meter_name,
    {clean(c("MeterId"))} AS meter_id,
    {clean(c("ProductId"))} AS product_id,
    {clean(c("ProductName", "Product"))} AS product_name,
    {clean(c("ConsumedService"))} AS consumed_service,
    {clean(c("ServiceFamily"))} AS service_family,
    {clean(c("PartNumber"))} AS part_number,
    {clean(c("benefitId", "ReservationId"))} AS benefit_id,
    {clean(c("benefitName", "ReservationName"))} AS benefit_name,
    {clean(c("PublisherType"))} AS publisher_type,
    {clean(c("PublisherName"))} AS publisher_name,
    {clean(c("AvailabilityZone"))} AS availability_zone,
    {clean(c("InvoiceSectionName", "DepartmentName"))} AS invoice_section,
    {clean(c("CostCenter"))} AS cost_center,
    {clean(c("AdditionalInfo"))} AS additional_info,
    CASE WHEN {clean(tags)} IS NULL THEN NULL
         WHEN starts_with(trim(CAST({tags} AS VARCHAR)), '{{') THEN trim(CAST({tags} AS VARCHAR))
         ELSE '{{' || trim(CAST({tags} AS VARCHAR)) || '}}' END AS tags_json,
    md5(CAST(source_row AS VARCHAR)) AS line_id
FROM {info.relation} AS source_row
"""

    dataset = "actual"

    def focus_sql(self, canonical_sql: str, context: Context) -> str:
        units = context.units
        amortized = self.dataset == "amortized"
        billed = (
            f"CASE WHEN charge_type IN ('Usage', 'UnusedReservation', 'UnusedSavingsPlan') "
            f"AND pricing_model IN {COMMITTED_MODELS} THEN 0::{MONEY} ELSE cost END"
            if amortized
            else "cost"
        )
        effective = (
            f"CASE WHEN charge_type IN ('Purchase', 'Refund') AND benefit_id IS NOT NULL THEN 0::{MONEY} ELSE cost END"
            if amortized
            else f"""CASE WHEN charge_type IN ('Purchase', 'Refund') AND pricing_model IN {COMMITTED_MODELS}
                  THEN 0::{MONEY}
                  WHEN charge_type = 'Usage' AND pricing_model IN {COMMITTED_MODELS}
                  THEN {product_sql("COALESCE(effective_price, 0)", "COALESCE(quantity, 0)")}
                  ELSE cost END"""
        )
        return f"""
WITH src AS ({canonical_sql}),
typed AS (
    SELECT *,
        {units.block_sql("unit_of_measure")} AS block,
        {units.fold_sql("unit_of_measure")} AS fold,
        {units.unfold_sql("unit_of_measure")} AS unfold,
        CASE WHEN charge_type IN ('Usage', 'UnusedReservation', 'UnusedSavingsPlan') THEN 'Usage'
             WHEN charge_type = 'Purchase' THEN 'Purchase'
             WHEN charge_type = 'Refund' AND (benefit_id IS NOT NULL OR pricing_model IN {COMMITTED_MODELS})
             THEN 'Purchase'
             WHEN charge_type = 'Refund' THEN 'Credit'
             WHEN charge_type = 'Tax' THEN 'Tax'
             WHEN charge_type = 'Credit' THEN 'Credit'
             ELSE 'Adjustment' END AS category,
        charge_type IN {UNUSED_TYPES} AS unused,
        CASE WHEN benefit_id ILIKE '%/microsoft.capacity/%' OR pricing_model = 'Reservation'
                  OR charge_type = 'UnusedReservation' THEN 'Reservation'
             WHEN benefit_id ILIKE '%/microsoft.billingbenefits/%' OR pricing_model IN ('SavingsPlan', 'Savings Plan')
                  OR charge_type = 'UnusedSavingsPlan' THEN 'Savings Plan' END AS commitment_type,
        lower(replace(resource_location, ' ', '')) AS location_key
    FROM src
),
priced AS (
    SELECT *,
        CASE WHEN category IN ('Usage', 'Purchase') THEN CAST(quantity * fold AS {QUANTITY}) END AS pricing_quantity,
        CASE WHEN category IN ('Usage', 'Purchase')
             THEN CAST(CASE WHEN exchange_rate IS NOT NULL THEN payg_price * exchange_rate ELSE payg_price END
                       AS {MONEY}) END AS block_list_price,
        CASE WHEN category IN ('Usage', 'Purchase') THEN unit_price END AS block_contracted_price,
        -- Azure prices per UnitOfMeasure block and counts Quantity in blocks; FOCUS gets the
        -- bare unit: quantity times the block, prices divided by it, costs from the block figures
        {product_sql("block_list_price", "unfold")} AS list_unit_price,
        {product_sql("block_contracted_price", "unfold")} AS contracted_unit_price,
        {product_sql("block_list_price", "quantity")} AS list_product,
        {product_sql("block_contracted_price", "quantity")} AS contracted_product,
        {billed} AS billed,
        {effective} AS effective
    FROM typed
),
services AS (SELECT * FROM {values_sql()}),
regions AS (SELECT * FROM {_region_values()})
SELECT
    availability_zone AS AvailabilityZone,
    billed AS BilledCost,
    COALESCE(billing_account_id, subscription_id) AS BillingAccountId,
    COALESCE(billing_account_name, billing_account_id, subscription_name, subscription_id) AS BillingAccountName,
    CASE WHEN billing_account_id IS NULL THEN 'Subscription' ELSE billing_account_type END AS BillingAccountType,
    billing_currency AS BillingCurrency,
    CAST(COALESCE(billing_period_end + INTERVAL 1 DAY, date_trunc('month', charge_date) + INTERVAL 1 MONTH)
         AS TIMESTAMPTZ) AS BillingPeriodEnd,
    CAST(COALESCE(billing_period_start, date_trunc('month', charge_date)) AS TIMESTAMPTZ) AS BillingPeriodStart,
    NULL::VARCHAR AS CapacityReservationId,
    NULL::VARCHAR AS CapacityReservationStatus,
    category AS ChargeCategory,
    CASE WHEN charge_type = 'Refund' THEN 'Correction' END AS ChargeClass,
    COALESCE(product_name, meter_name) AS ChargeDescription,
    CASE WHEN frequency = 'OneTime' THEN 'One-Time'
         WHEN frequency = 'Recurring' THEN 'Recurring'
         WHEN frequency = 'UsageBased' AND category <> 'Purchase' THEN 'Usage-Based'
         WHEN category = 'Usage' THEN 'Usage-Based'
         WHEN category = 'Tax' THEN 'Recurring'
         ELSE 'One-Time' END AS ChargeFrequency,
    CAST(charge_date + INTERVAL 1 DAY AS TIMESTAMPTZ) AS ChargePeriodEnd,
    CAST(charge_date AS TIMESTAMPTZ) AS ChargePeriodStart,
    CASE commitment_type WHEN 'Reservation' THEN 'Usage' WHEN 'Savings Plan' THEN 'Spend' END
        AS CommitmentDiscountCategory,
    CASE WHEN commitment_type IS NOT NULL THEN benefit_id END AS CommitmentDiscountId,
    CASE WHEN commitment_type IS NOT NULL AND benefit_id IS NOT NULL
         THEN COALESCE(benefit_name, regexp_extract(benefit_id, '[^/]+$')) END AS CommitmentDiscountName,
    NULL::{QUANTITY} AS CommitmentDiscountQuantity,
    CASE WHEN benefit_id IS NULL OR commitment_type IS NULL THEN NULL
         WHEN unused THEN 'Unused'
         WHEN category = 'Usage' THEN 'Used' END AS CommitmentDiscountStatus,
    CASE WHEN benefit_id IS NOT NULL THEN commitment_type END AS CommitmentDiscountType,
    NULL::VARCHAR AS CommitmentDiscountUnit,
    CASE WHEN category = 'Usage' AND NOT unused THEN CAST(quantity * block AS {QUANTITY}) END AS ConsumedQuantity,
    CASE WHEN category = 'Usage' AND NOT unused AND quantity IS NOT NULL
         THEN {units.unit_sql("unit_of_measure", with_block=False)} END AS ConsumedUnit,
    CASE WHEN category IN ('Usage', 'Purchase') THEN {
            priced_sql("contracted_unit_price", "pricing_quantity", "cost", product="contracted_product")
        }
         ELSE billed END AS ContractedCost,
    contracted_unit_price AS ContractedUnitPrice,
    effective AS EffectiveCost,
    invoice_id AS InvoiceId,
    'Microsoft' AS InvoiceIssuerName,
    CASE WHEN payg_cost IS NOT NULL AND category IN ('Usage', 'Purchase') AND list_unit_price IS NULL THEN payg_cost
         WHEN category IN ('Usage', 'Purchase') THEN {
            priced_sql("list_unit_price", "pricing_quantity", "cost", product="list_product")
        }
         ELSE billed END AS ListCost,
    list_unit_price AS ListUnitPrice,
    CASE WHEN category NOT IN ('Usage', 'Purchase') THEN NULL
         WHEN unused OR pricing_model IN {COMMITTED_MODELS} AND category = 'Usage' THEN 'Committed'
         WHEN pricing_model = 'Spot' THEN 'Dynamic'
         ELSE 'Standard' END AS PricingCategory,
    COALESCE(pricing_currency, billing_currency) AS PricingCurrency,
    CASE WHEN pricing_currency IS NOT NULL AND exchange_rate IS NOT NULL
         THEN CAST(contracted_unit_price / exchange_rate AS {MONEY}) ELSE contracted_unit_price END
        AS PricingCurrencyContractedUnitPrice,
    COALESCE(cost_in_pricing_currency, effective) AS PricingCurrencyEffectiveCost,
    CASE WHEN pricing_currency IS NOT NULL AND category IN ('Usage', 'Purchase') THEN CAST(payg_price * unfold AS {
            MONEY
        })
         ELSE list_unit_price END AS PricingCurrencyListUnitPrice,
    pricing_quantity AS PricingQuantity,
    CASE WHEN pricing_quantity IS NOT NULL THEN COALESCE({units.pricing_unit_sql("unit_of_measure")}, 'Units') END
        AS PricingUnit,
    'Microsoft' AS ProviderName,
    CASE WHEN publisher_type = 'Marketplace' THEN COALESCE(publisher_name, 'Azure Marketplace')
         ELSE 'Microsoft' END AS PublisherName,
    COALESCE(regions.region_id,
             CASE WHEN priced.location_key NOT IN ('global', 'allregions', 'unknown') THEN priced.location_key END)
        AS RegionId,
    CASE WHEN RegionId IS NOT NULL THEN COALESCE(regions.region_name, resource_location) END AS RegionName,
    CASE WHEN unused THEN benefit_id ELSE resource_id END AS ResourceId,
    CASE WHEN unused THEN benefit_name
         WHEN resource_id IS NOT NULL THEN COALESCE(resource_name, regexp_extract(resource_id, '[^/]+$')) END
        AS ResourceName,
    CASE WHEN unused THEN commitment_type
         WHEN resource_id IS NOT NULL
         THEN COALESCE(NULLIF(regexp_extract(resource_id, '/providers/([^/]+/[^/]+)', 1), ''), consumed_service) END
        AS ResourceType,
    COALESCE(services.service_category, 'Other') AS ServiceCategory,
    COALESCE(meter_category, consumed_service, service_family, 'Azure') AS ServiceName,
    COALESCE(services.service_subcategory, 'Other (Other)') AS ServiceSubcategory,
    CASE WHEN category IN ('Usage', 'Purchase') THEN COALESCE(product_id, meter_id) END AS SkuId,
    CASE WHEN category IN ('Usage', 'Purchase') AND COALESCE(product_id, meter_id) IS NOT NULL
         THEN COALESCE(meter_name, meter_subcategory) END AS SkuMeter,
    NULL::JSON AS SkuPriceDetails,
    CASE WHEN category IN ('Usage', 'Purchase') THEN COALESCE(meter_id, product_id) END AS SkuPriceId,
    subscription_id AS SubAccountId,
    CASE WHEN subscription_id IS NOT NULL THEN COALESCE(subscription_name, subscription_id) END AS SubAccountName,
    CASE WHEN subscription_id IS NOT NULL THEN 'Subscription' END AS SubAccountType,
    CASE WHEN tags_json IS NOT NULL AND json_valid(tags_json) AND tags_json <> '{{}}' THEN tags_json::JSON END AS Tags,
    {
            lineage_sql(
                context,
                "line_id",
                "meter_name",
                f'''json_object('Dataset', {literal(self.dataset)}, 'ChargeType', charge_type,
                'PricingModel', pricing_model, 'MeterCategory', meter_category,
                'MeterSubCategory', meter_subcategory, 'ResourceGroup', resource_group,
                'ConsumedService', consumed_service, 'ServiceFamily', service_family,
                'InvoiceSection', invoice_section, 'CostCenter', cost_center,
                'AdditionalInfo', additional_info)''',
            )
        }
FROM priced
LEFT JOIN services ON services.service_key = priced.meter_category
LEFT JOIN regions ON regions.region_key = priced.location_key
"""

    def totals_sql(self, canonical_sql: str) -> str:
        return (
            "SELECT charge_date AS day, billing_currency AS currency, sum(cost) AS cost, count(*) AS line_items "
            f"FROM ({canonical_sql}) GROUP BY ALL"
        )


class AzureCostDetailsAmortized(AzureCostDetails):
    """The amortized dataset: the cost column is EffectiveCost."""

    name = "azure_cost_details_amortized"
    description = "Azure Cost Management cost details, amortized dataset"
    reconciles_with = "EffectiveCost"
    source_totals = AMORTIZED_TOTALS
    dataset = "amortized"

    def refine(self, con: duckdb.DuckDBPyConnection, canonical_sql: str) -> AzureCostDetails:
        return self
