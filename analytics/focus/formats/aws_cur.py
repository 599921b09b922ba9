"""AWS billing to FOCUS 1.2: CUR 2.0 (Parquet or CSV) and the legacy CUR (CSV).

Both formats carry the same facts under different names. A legacy file is first renamed
into CUR 2.0 columns (``lineItem/UnblendedCost`` -> ``line_item_unblended_cost``, the
``product/*`` columns into the ``product`` map, ``resourceTags/*`` into ``resource_tags``,
``costCategory/*`` into ``cost_category``); then one mapping turns CUR 2.0 into FOCUS.
Columns an export does not include read as NULL; columns the mapping cannot do without are
required and their absence refuses the file. A legacy column that is no CUR name at all (two
names run together, a name the CSV reader gave an unnamed field) is kept in ``x_Extras``
under ``UnknownColumns``.

Line item types and what they become:
- Usage, DiscountedUsage (reserved), SavingsPlanCoveredUsage -> ChargeCategory Usage;
  usage covered by a Savings Plan has BilledCost 0 (the plan's fee carries the money) and its
  SavingsPlanNegation row, which exists only to cancel the on-demand cost, is dropped;
- Fee (upfront), RIFee, SavingsPlanUpfrontFee, SavingsPlanRecurringFee -> Purchase with
  EffectiveCost 0 (its cost is amortised into the usage it covers; a Fee that belongs to no
  reservation covers nothing and keeps its cost, as in AWS's amortised cost); the unused part of a
  recurring fee becomes an extra Usage row with CommitmentDiscountStatus Unused;
- Tax -> Tax; Credit, Refund and the discount types -> Credit; anything else -> Adjustment.

Every row is on AWS's invoice, Marketplace purchases included, so InvoiceIssuerName is "AWS"
like ProviderName (the legal invoicing entity, e.g. "Amazon Web Services EMEA SARL", is kept
in ``x_Extras``); Marketplace rows name the seller as publisher.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from analytics.focus.formats.aws_services import values_sql
from analytics.focus.formats.aws_totals import CUR_TOTALS
from analytics.focus.formats.base import (
    Context,
    Requirement,
    SourceInfo,
    decimal_sql,
    lineage_sql,
    literal,
    priced_sql,
    product_sql,
    quote,
)
from analytics.focus.schema import MONEY, QUANTITY

D, S, TS, MAP = MONEY, "VARCHAR", "TIMESTAMP WITH TIME ZONE", "MAP(VARCHAR, VARCHAR)"

CUR2_COLUMNS: dict[str, str] = {
    "bill_billing_entity": S,
    "bill_billing_period_end_date": TS,
    "bill_billing_period_start_date": TS,
    "bill_invoice_id": S,
    "bill_invoicing_entity": S,
    "bill_payer_account_id": S,
    "bill_payer_account_name": S,
    "identity_line_item_id": S,
    "identity_time_interval": S,
    "line_item_availability_zone": S,
    "line_item_currency_code": S,
    "line_item_legal_entity": S,
    "line_item_line_item_description": S,
    "line_item_line_item_type": S,
    "line_item_net_unblended_cost": D,
    "line_item_net_unblended_rate": D,
    "line_item_operation": S,
    "line_item_product_code": S,
    "line_item_resource_id": S,
    "line_item_unblended_cost": D,
    "line_item_unblended_rate": D,
    "line_item_usage_account_id": S,
    "line_item_usage_account_name": S,
    "line_item_usage_amount": QUANTITY,
    "line_item_usage_end_date": TS,
    "line_item_usage_start_date": TS,
    "line_item_usage_type": S,
    "pricing_currency": S,
    "pricing_public_on_demand_cost": D,
    "pricing_public_on_demand_rate": D,
    "pricing_rate_code": S,
    "pricing_rate_id": S,
    "pricing_term": S,
    "pricing_unit": S,
    "product": MAP,
    "product_instance_type": S,
    "product_location": S,
    "product_product_family": S,
    "product_region_code": S,
    "product_servicecode": S,
    "product_sku": S,
    "reservation_effective_cost": D,
    "reservation_reservation_a_r_n": S,
    "reservation_unused_amortized_upfront_fee_for_billing_period": D,
    "reservation_unused_recurring_fee": D,
    "resource_tags": MAP,
    "cost_category": MAP,
    "unknown_columns": MAP,
    "savings_plan_savings_plan_a_r_n": S,
    "savings_plan_savings_plan_effective_cost": D,
    "savings_plan_total_commitment_to_date": D,
    "savings_plan_used_commitment": D,
}
REQUIRED_COLUMNS = (
    "bill_payer_account_id",
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
    "line_item_currency_code",
    "line_item_unblended_cost",
)
EXTRAS_SQL = """json_object(
        'InvoicingEntity', NULLIF(bill_invoicing_entity, ''),
        'LegalEntity', NULLIF(line_item_legal_entity, ''),
        'LineItemType', line_item_line_item_type,
        'Operation', NULLIF(line_item_operation, ''),
        'ProductCode', line_item_product_code,
        'CostCategories', CASE WHEN cardinality(cost_category) > 0 THEN cost_category END,
        'UnknownColumns', CASE WHEN cardinality(unknown_columns) > 0 THEN unknown_columns END
    )"""

# FOCUS Tags are the tags as their owner wrote them: AWS prefixes user-defined keys with
# ``user_`` (``aws_`` keys are AWS's own and keep theirs). The prefix is taken off in the JSON
# text: in JSON ``{"`` and ``,"`` only ever open a key (a quote inside a value is escaped), and
# this is five times faster than rebuilding the map.
TAGS_SQL = """replace(replace(to_json(resource_tags)::VARCHAR, '{"user_', '{"'), ',"user_', ',"')::JSON"""

_LEGACY_PREFIXES = {
    "identity": "identity",
    "bill": "bill",
    "lineItem": "line_item",
    "pricing": "pricing",
    "product": "product",
    "reservation": "reservation",
    "savingsPlan": "savings_plan",
    "discount": "discount",
    "splitLineItem": "split_line_item",
}


_LEGACY_NAMES = {
    "bill/PayerAccountId": "bill_payer_account_id",
    "bill/BillingPeriodStartDate": "bill_billing_period_start_date",
    "bill/BillingPeriodEndDate": "bill_billing_period_end_date",
    "lineItem/LineItemType": "line_item_line_item_type",
    "lineItem/UsageStartDate": "line_item_usage_start_date",
    "lineItem/UsageEndDate": "line_item_usage_end_date",
    "lineItem/CurrencyCode": "line_item_currency_code",
    "lineItem/UnblendedCost": "line_item_unblended_cost",
}


def snake(name: str) -> str:
    """CUR 2.0's renaming of a legacy attribute: every capital starts a new word
    (``UnblendedCost`` -> ``unblended_cost``, ``SavingsPlanARN`` -> ``savings_plan_a_r_n``)."""
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower().replace("__", "_")


def legacy_to_cur2(column: str) -> str | None:
    """The CUR 2.0 name of a legacy CUR column (``lineItem/UnblendedCost``), or None."""
    prefix, _, rest = column.partition("/")
    if prefix not in _LEGACY_PREFIXES or not rest:
        return None
    return f"{_LEGACY_PREFIXES[prefix]}_{snake(rest)}"


def _map_sql(pairs: list[tuple[str, str]]) -> str:
    """A MAP built from (key, column) pairs, leaving out empty values."""
    if not pairs:
        return f"MAP {{}}::{MAP}"
    entries = ", ".join(f"struct_pack(key := {literal(k)}, value := {quote(c)}::VARCHAR)" for k, c in pairs)
    return f"map_from_entries(list_filter([{entries}], lambda e: e.value IS NOT NULL AND e.value <> ''))"


def cur2_source_sql(columns: list[str] | tuple[str, ...], relation: str, types: Mapping[str, str] | None = None) -> str:
    """Select the mapping's CUR 2.0 columns from a CUR 2.0 relation, typed, NULL if absent.
    Map columns are native maps in Parquet and JSON objects in the CSV exports."""
    present = set(columns)
    select = []
    for name, sql_type in CUR2_COLUMNS.items():
        if name not in present:
            select.append(f"NULL::{sql_type} AS {name}")
        elif sql_type != MAP:
            cast = decimal_sql(quote(name), sql_type) if sql_type in (MONEY, QUANTITY) else None
            select.append(f"{cast or f'TRY_CAST({quote(name)} AS {sql_type})'} AS {name}")
        elif (types or {}).get(name, MAP).startswith("MAP"):
            select.append(name)
        else:
            select.append(f"COALESCE(TRY_CAST(TRY_CAST({quote(name)} AS JSON) AS {MAP}), MAP {{}}) AS {name}")
    return f"SELECT {', '.join(select)} FROM {relation}"


def is_legacy_name(column: str) -> bool:
    """Whether ``column`` has the shape of a legacy CUR name (``lineItem/UnblendedCost``,
    ``resourceTags/user:team``); two names run together (``pricing/OfferingClasspricing/
    PurchaseOption``), a prefix AWS does not write or a name without one have not."""
    prefix, _, rest = column.partition("/")
    if prefix in ("resourceTags", "costCategory"):
        return bool(rest)
    return prefix in _LEGACY_PREFIXES and bool(rest) and "/" not in rest


def legacy_source_sql(columns: list[str] | tuple[str, ...], relation: str) -> str:
    """Rename a legacy CUR relation into the CUR 2.0 columns the mapping reads. Columns that
    are no legacy CUR name are kept, by their name as written, in ``unknown_columns``."""
    renamed: dict[str, str] = {}
    product_pairs: list[tuple[str, str]] = []
    tag_pairs: list[tuple[str, str]] = []
    category_pairs: list[tuple[str, str]] = []
    unknown_pairs: list[tuple[str, str]] = []
    for column in columns:
        if not is_legacy_name(column):
            unknown_pairs.append((column, column))
            continue
        if column.startswith("costCategory/"):
            category_pairs.append((column.removeprefix("costCategory/"), column))
            continue
        if column.startswith("resourceTags/"):
            key = column.removeprefix("resourceTags/")
            tag_pairs.append((key.replace("user:", "user_", 1).replace("aws:", "aws_", 1), column))
            continue
        if column.startswith("product/"):
            product_pairs.append((snake(column.removeprefix("product/")), column))
        target = legacy_to_cur2(column)
        if target in CUR2_COLUMNS:
            renamed.setdefault(target, column)
    select = []
    for name, sql_type in CUR2_COLUMNS.items():
        if name == "product":
            select.append(f"{_map_sql(product_pairs)} AS product")
        elif name == "resource_tags":
            select.append(f"{_map_sql(tag_pairs)} AS resource_tags")
        elif name == "cost_category":
            select.append(f"{_map_sql(category_pairs)} AS cost_category")
        elif name == "unknown_columns":
            select.append(f"{_map_sql(unknown_pairs)} AS unknown_columns")
        elif name in renamed:
            select.append(f"TRY_CAST(NULLIF({quote(renamed[name])}, '') AS {sql_type}) AS {name}")
        else:
            select.append(f"NULL::{sql_type} AS {name}")
    return f"SELECT {', '.join(select)} FROM {relation}"


_USAGE_TYPES = "('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage')"
_PURCHASE_TYPES = "('Fee', 'RIFee', 'SavingsPlanUpfrontFee', 'SavingsPlanRecurringFee')"
_CREDIT_TYPES = (
    "('Credit', 'Refund', 'BundledDiscount', 'EdpDiscount', 'PrivateRateDiscount', 'DistributorDiscount', "
    "'SppDiscount')"
)


def focus_sql(canonical_sql: str, context: Context) -> str:
    """FOCUS 1.2 rows (plus WedCloud's ``x_`` columns) from CUR 2.0-shaped rows."""
    units = context.units
    return f"""
WITH src AS ({canonical_sql}),
typed AS (
    SELECT *,
        line_item_line_item_type AS t,
        CASE
            WHEN line_item_line_item_type IN {_USAGE_TYPES} THEN 'Usage'
            WHEN line_item_line_item_type IN {_PURCHASE_TYPES} THEN 'Purchase'
            WHEN line_item_line_item_type = 'Tax' THEN 'Tax'
            WHEN line_item_line_item_type IN {_CREDIT_TYPES} THEN 'Credit'
            ELSE 'Adjustment'
        END AS category,
        COALESCE(
            NULLIF(reservation_reservation_a_r_n, ''), NULLIF(savings_plan_savings_plan_a_r_n, '')
        ) AS commitment_id,
        CASE WHEN NULLIF(reservation_reservation_a_r_n, '') IS NOT NULL THEN 'Reservation'
             WHEN NULLIF(savings_plan_savings_plan_a_r_n, '') IS NOT NULL THEN 'Savings Plan' END AS commitment_type,
        line_item_line_item_type IN ('DiscountedUsage', 'SavingsPlanCoveredUsage') AS committed,
        CASE WHEN line_item_line_item_type = 'SavingsPlanCoveredUsage' THEN 0::{MONEY}
             ELSE line_item_unblended_cost END AS billed,
        CASE line_item_line_item_type
            WHEN 'RIFee' THEN COALESCE(reservation_unused_amortized_upfront_fee_for_billing_period, 0)
                              + COALESCE(reservation_unused_recurring_fee, 0)
            WHEN 'SavingsPlanRecurringFee' THEN GREATEST(
                COALESCE(savings_plan_total_commitment_to_date, 0) - COALESCE(savings_plan_used_commitment, 0), 0)
            ELSE 0
        END::{MONEY} AS unused_commitment
    FROM src
    WHERE line_item_line_item_type IS DISTINCT FROM 'SavingsPlanNegation'
),
-- A commitment's fee is a Purchase with EffectiveCost 0; the part of it nobody used
-- becomes a separate Usage row with CommitmentDiscountStatus Unused (FOCUS 1.2).
-- (One pass over the file: a second reference to ``typed`` would make DuckDB fan the whole
-- scan out to two consumers, which costs more than the rest of the mapping together.)
doubled AS (
    SELECT *, unnest(CASE WHEN unused_commitment > 0 THEN [FALSE, TRUE] ELSE [FALSE] END) AS unused FROM typed
),
expanded AS (
    SELECT * EXCLUDE (category, billed),
        CASE WHEN unused THEN 'Usage' ELSE category END AS category,
        CASE WHEN unused THEN 0::{MONEY} ELSE billed END AS billed
    FROM doubled
),
priced AS (
    SELECT *,
        CASE WHEN category IN ('Usage', 'Purchase') THEN line_item_usage_amount END AS pricing_quantity,
        CASE WHEN unused THEN 0::{MONEY}
             WHEN category IN ('Usage', 'Purchase') THEN pricing_public_on_demand_rate END AS list_unit_price,
        CASE WHEN unused THEN 0::{MONEY}
             WHEN category IN ('Usage', 'Purchase') AND committed THEN pricing_public_on_demand_rate
             WHEN category IN ('Usage', 'Purchase')
             THEN COALESCE(line_item_net_unblended_rate, line_item_unblended_rate) END AS contracted_unit_price
    FROM expanded
),
-- Unit price x quantity, once per row: rounding the exact product back to MONEY's scale is
-- the dearest step of the mapping, and on-demand usage has the same list and contracted price.
multiplied AS (
    SELECT *,
        {product_sql("list_unit_price", "pricing_quantity")} AS list_product,
        CASE WHEN contracted_unit_price = list_unit_price THEN list_product
             ELSE {product_sql("contracted_unit_price", "pricing_quantity")} END AS contracted_product
    FROM priced
),
services AS (SELECT * FROM {values_sql()})
SELECT
    NULLIF(line_item_availability_zone, '') AS AvailabilityZone,
    billed AS BilledCost,
    bill_payer_account_id AS BillingAccountId,
    COALESCE(NULLIF(bill_payer_account_name, ''), bill_payer_account_id) AS BillingAccountName,
    'Billing Account' AS BillingAccountType,
    line_item_currency_code AS BillingCurrency,
    bill_billing_period_end_date AS BillingPeriodEnd,
    bill_billing_period_start_date AS BillingPeriodStart,
    NULL::VARCHAR AS CapacityReservationId,
    NULL::VARCHAR AS CapacityReservationStatus,
    category AS ChargeCategory,
    NULL::VARCHAR AS ChargeClass,
    CASE WHEN unused THEN 'Unused commitment: ' || COALESCE(line_item_line_item_description, commitment_id)
         ELSE NULLIF(line_item_line_item_description, '') END AS ChargeDescription,
    CASE WHEN unused THEN 'Usage-Based'
         WHEN t IN ('Fee', 'SavingsPlanUpfrontFee') THEN 'One-Time'
         WHEN t IN ('RIFee', 'SavingsPlanRecurringFee', 'Tax') THEN 'Recurring'
         WHEN category = 'Usage' THEN 'Usage-Based'
         ELSE 'One-Time' END AS ChargeFrequency,
    line_item_usage_end_date AS ChargePeriodEnd,
    line_item_usage_start_date AS ChargePeriodStart,
    CASE commitment_type WHEN 'Reservation' THEN 'Usage' WHEN 'Savings Plan' THEN 'Spend' END
        AS CommitmentDiscountCategory,
    commitment_id AS CommitmentDiscountId,
    regexp_extract(commitment_id, '[^/:]+$') AS CommitmentDiscountName,
    NULL::{QUANTITY} AS CommitmentDiscountQuantity,
    CASE WHEN unused THEN 'Unused'
         WHEN commitment_id IS NOT NULL AND category = 'Usage' THEN 'Used' END AS CommitmentDiscountStatus,
    commitment_type AS CommitmentDiscountType,
    NULL::VARCHAR AS CommitmentDiscountUnit,
    CASE WHEN category = 'Usage' AND NOT unused THEN line_item_usage_amount END AS ConsumedQuantity,
    CASE WHEN category = 'Usage' AND NOT unused AND line_item_usage_amount IS NOT NULL
         THEN {units.unit_sql("pricing_unit", with_block=False)} END AS ConsumedUnit,
    CASE WHEN category IN ('Usage', 'Purchase') THEN {
        priced_sql(
            "contracted_unit_price",
            "pricing_quantity",
            "CASE WHEN committed THEN COALESCE(pricing_public_on_demand_cost, billed) "
            "ELSE COALESCE(line_item_net_unblended_cost, line_item_unblended_cost) END",
            product="contracted_product",
        )
    }
         ELSE billed END AS ContractedCost,
    contracted_unit_price AS ContractedUnitPrice,
    CASE WHEN unused THEN unused_commitment
         WHEN t = 'DiscountedUsage' THEN COALESCE(reservation_effective_cost, billed)
         WHEN t = 'SavingsPlanCoveredUsage' THEN COALESCE(savings_plan_savings_plan_effective_cost, 0)
         WHEN t = 'Fee' AND commitment_id IS NULL THEN billed
         WHEN category = 'Purchase' THEN 0::{MONEY}
         ELSE billed END AS EffectiveCost,
    NULLIF(bill_invoice_id, '') AS InvoiceId,
    'AWS' AS InvoiceIssuerName,
    CASE WHEN category IN ('Usage', 'Purchase') THEN {
        priced_sql(
            "list_unit_price",
            "pricing_quantity",
            "COALESCE(pricing_public_on_demand_cost, billed)",
            product="list_product",
        )
    }
         ELSE billed END AS ListCost,
    list_unit_price AS ListUnitPrice,
    CASE WHEN category = 'Usage' AND (committed OR unused) THEN 'Committed'
         WHEN category = 'Usage' AND (pricing_term = 'Spot' OR line_item_usage_type LIKE '%SpotUsage%') THEN 'Dynamic'
         WHEN category IN ('Usage', 'Purchase') THEN 'Standard' END AS PricingCategory,
    COALESCE(NULLIF(pricing_currency, ''), line_item_currency_code) AS PricingCurrency,
    ContractedUnitPrice AS PricingCurrencyContractedUnitPrice,
    EffectiveCost AS PricingCurrencyEffectiveCost,
    ListUnitPrice AS PricingCurrencyListUnitPrice,
    pricing_quantity AS PricingQuantity,
    CASE WHEN category IN ('Usage', 'Purchase') AND line_item_usage_amount IS NOT NULL
         THEN COALESCE({units.unit_sql("pricing_unit")}, 'Units') END AS PricingUnit,
    'AWS' AS ProviderName,
    CASE WHEN bill_billing_entity = 'AWS Marketplace'
         THEN COALESCE(NULLIF(line_item_legal_entity, ''), 'AWS Marketplace') ELSE 'AWS' END AS PublisherName,
    COALESCE(NULLIF(product_region_code, ''), NULLIF(product['region_code'], ''), NULLIF(product['region'], ''))
        AS RegionId,
    CASE WHEN RegionId IS NOT NULL THEN COALESCE(NULLIF(product_location, ''), RegionId) END AS RegionName,
    CASE WHEN unused THEN commitment_id ELSE NULLIF(line_item_resource_id, '') END AS ResourceId,
    CASE WHEN NULLIF(line_item_resource_id, '') IS NOT NULL AND NOT unused
         THEN COALESCE(resource_tags['user_Name'], resource_tags['user_name']) END AS ResourceName,
    CASE WHEN unused THEN commitment_type
         WHEN NULLIF(line_item_resource_id, '') IS NOT NULL THEN COALESCE(
             NULLIF(product_product_family, ''), NULLIF(product['product_family'], ''), line_item_product_code
         ) END AS ResourceType,
    COALESCE(services.service_category, 'Other') AS ServiceCategory,
    COALESCE(
        NULLIF(product['product_name'], ''), NULLIF(product['servicename'], ''),
        NULLIF(product_servicecode, ''), line_item_product_code, 'AWS'
    ) AS ServiceName,
    COALESCE(services.service_subcategory, 'Other (Other)') AS ServiceSubcategory,
    CASE WHEN category IN ('Usage', 'Purchase') THEN NULLIF(product_sku, '') END AS SkuId,
    CASE WHEN category IN ('Usage', 'Purchase') AND NULLIF(product_sku, '') IS NOT NULL
         THEN COALESCE(NULLIF(line_item_usage_type, ''), NULLIF(product['usagetype'], '')) END AS SkuMeter,
    CASE WHEN category IN ('Usage', 'Purchase') AND NULLIF(product_instance_type, '') IS NOT NULL
              AND COALESCE(NULLIF(pricing_rate_code, ''), NULLIF(pricing_rate_id, '')) IS NOT NULL
         THEN json_object('InstanceType', product_instance_type) END AS SkuPriceDetails,
    CASE WHEN category IN ('Usage', 'Purchase')
         THEN COALESCE(NULLIF(pricing_rate_code, ''), NULLIF(pricing_rate_id, '')) END AS SkuPriceId,
    NULLIF(line_item_usage_account_id, '') AS SubAccountId,
    CASE WHEN NULLIF(line_item_usage_account_id, '') IS NOT NULL
         THEN COALESCE(NULLIF(line_item_usage_account_name, ''), line_item_usage_account_id) END AS SubAccountName,
    CASE WHEN NULLIF(line_item_usage_account_id, '') IS NOT NULL THEN 'AWS Account' END AS SubAccountType,
    CASE WHEN cardinality(resource_tags) > 0 THEN {TAGS_SQL} END AS Tags,
    {
        lineage_sql(
            context,
            "NULLIF(identity_line_item_id, '') || CASE WHEN unused THEN ':unused' ELSE '' END",
            "NULLIF(line_item_usage_type, '')",
            EXTRAS_SQL,
        )
    }
FROM multiplied LEFT JOIN services ON services.code = multiplied.line_item_product_code
"""


def totals_sql(canonical_sql: str) -> str:
    """The export's own cost column per UTC day of usage start and currency."""
    return (
        "SELECT CAST(line_item_usage_start_date AS DATE) AS day, line_item_currency_code AS currency, "
        f"sum(line_item_unblended_cost) AS cost, count(*) AS line_items FROM ({canonical_sql}) GROUP BY ALL"
    )


_REQUIREMENTS = tuple(Requirement(c, (c,)) for c in REQUIRED_COLUMNS)


class AwsCur2:
    """AWS Data Exports "CUR 2.0" (Parquet, CSV or gzip CSV)."""

    name = "aws_cur2"
    provider = "AWS"
    description = "AWS Data Exports CUR 2.0 (snake_case columns, product and resource_tags maps)"
    reconciles_with = "BilledCost"
    source_totals = CUR_TOTALS
    requirements: tuple[Requirement, ...] = _REQUIREMENTS
    currency_column = "line_item_currency_code"
    cost_sources: tuple[str, ...] = ("line_item_unblended_cost",)
    unit_columns: tuple[str, ...] = ("pricing_unit",)

    def matches(self, info: SourceInfo) -> bool:
        return info.has("line_item_unblended_cost", "line_item_line_item_type")

    def canonical_sql(self, info: SourceInfo) -> str:
        return cur2_source_sql(info.columns, info.relation, info.types)

    def focus_sql(self, canonical_sql: str, context: Context) -> str:
        return focus_sql(canonical_sql, context)

    def totals_sql(self, canonical_sql: str) -> str:
        return totals_sql(canonical_sql)


class AwsCurLegacy(AwsCur2):
    """The legacy AWS Cost and Usage Report (CSV, ``lineItem/UnblendedCost`` names)."""

    name = "aws_cur_legacy"
    description = "AWS Cost and Usage Report, legacy (lineItem/... columns)"
    requirements: tuple[Requirement, ...] = tuple(
        Requirement(c, (next(k for k, v in _LEGACY_NAMES.items() if v == c),)) for c in REQUIRED_COLUMNS
    )

    cost_sources: tuple[str, ...] = ("lineItem/UnblendedCost",)

    def matches(self, info: SourceInfo) -> bool:
        return info.has("lineItem/UnblendedCost", "lineItem/LineItemType")

    def canonical_sql(self, info: SourceInfo) -> str:
        return legacy_source_sql(info.columns, info.relation)
