"""FOCUS files from anyone (1.0, 1.1 or 1.2; AWS, Microsoft, Google, OCI, SaaS) upgraded to 1.2.

Columns are matched by name, case-insensitively (real files carry typos such as
``SkuPriceid``). What a file does not have is derived where FOCUS defines it
(ServiceSubcategory "Other (<category>)", PricingCurrency = BillingCurrency, EffectiveCost,
ListCost and ContractedCost = BilledCost for standalone charges, the billing period from the
charge period), given a neutral label where 1.2 requires one that older versions lacked
(BillingAccountType "Billing Account", SubAccountType "Sub Account", SkuMeter from the charge
description), and left empty otherwise; a file without the columns no row can do without
(costs, currency, category, charge period, account, provider) is refused. Values from older
versions are translated (``On-Demand`` -> ``Standard``, ``Commitment-Based`` -> ``Committed``),
text placeholders such as ``null`` become real nulls, and every column FOCUS 1.2 does not
define (a provider's ``x_`` columns included) is kept in ``x_Extras``.
"""

from __future__ import annotations

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
    quote,
)
from analytics.focus.reconcile import SourceTotals
from analytics.focus.schema import COLUMNS

REQUIRED = {
    "BilledCost": ("BilledCost",),
    "BillingCurrency": ("BillingCurrency",),
    "ChargeCategory": ("ChargeCategory", "ChargeType"),
    "ChargePeriodStart": ("ChargePeriodStart",),
    "ChargePeriodEnd": ("ChargePeriodEnd",),
    "BillingAccountId": ("BillingAccountId",),
    "ProviderName": ("ProviderName", "Provider"),
}
# names of the FOCUS 1.0 preview that OCI's FOCUS reports still write (``Provider``, ``Region``,
# ``UsageQuantity`` ...), read as the 1.0 columns that replaced them
PREVIEW_NAMES = {
    "InvoiceIssuerName": ("InvoiceIssuer",),
    "ProviderName": ("Provider",),
    "PublisherName": ("Publisher",),
    "RegionId": ("Region",),
    "RegionName": ("Region",),
    "ConsumedQuantity": ("UsageQuantity",),
    "ConsumedUnit": ("UsageUnit",),
}
_OLD_VALUES = {"On-Demand": "Standard", "Commitment-Based": "Committed"}


def _timestamp(expr: str) -> str:
    text = f"trim(CAST({expr} AS VARCHAR))"
    return (
        f"COALESCE(TRY_CAST({expr} AS TIMESTAMPTZ), try_strptime({text}, '%m/%d/%y')::TIMESTAMPTZ, "
        f"try_strptime({text}, '%m/%d/%Y')::TIMESTAMPTZ, try_strptime({text}, '%m/%d/%Y %H:%M')::TIMESTAMPTZ)"
    )


class FocusFile:
    """A FOCUS dataset (CSV, Parquet or JSONL) of version 1.0, 1.1 or 1.2."""

    name = "focus"
    provider = "any"
    description = "FOCUS 1.0, 1.1 or 1.2 from any provider (AWS, Microsoft FocusCost, Google, OCI, SaaS)"
    reconciles_with = "BilledCost"
    #: the provider's own FOCUS values pass through: every source-data rule applies
    carries_focus_values = True
    # a FOCUS file states both metrics itself; an empty EffectiveCost reads as BilledCost
    source_totals = SourceTotals(
        "BillingCurrency", {"BilledCost": "BilledCost", "EffectiveCost": "COALESCE(EffectiveCost, BilledCost)"}
    )
    requirements: tuple[Requirement, ...] = tuple(Requirement(k, v) for k, v in REQUIRED.items())
    currency_column = "BillingCurrency"
    cost_sources: tuple[str, ...] = ("BilledCost",)
    unit_columns: tuple[str, ...] = ("PricingUnit", "ConsumedUnit")

    def matches(self, info: SourceInfo) -> bool:
        return info.has("BilledCost") and info.has("ChargePeriodStart")

    def canonical_sql(self, info: SourceInfo) -> str:
        select = []
        for column in COLUMNS:
            aliases = (*REQUIRED.get(column.name, ())[1:], *PREVIEW_NAMES.get(column.name, ()))
            source = info.col(column.name, *dict.fromkeys(aliases))
            # numbers are read as numbers: "-2" is a placeholder only where an id or a name
            # is expected, and text such as "N/A" is no number anyway
            if column.sql_type == MONEY:
                value = money_sql(source)
            elif column.sql_type == QUANTITY:
                value = f"CAST({money_sql(source)} AS {QUANTITY})"
            elif column.sql_type.startswith("TIMESTAMP"):
                value = _timestamp(clean(source))
            elif column.sql_type == "JSON":
                value = f"CASE WHEN json_valid({clean(source)}) THEN CAST({clean(source)} AS JSON) END"
            else:
                value = clean(source)
            select.append(f"{value} AS {column.name}")
        known = (
            {c.name.lower() for c in COLUMNS} | {"chargetype"} | {a.lower() for v in PREVIEW_NAMES.values() for a in v}
        )
        extras = [c for c in info.columns if c.lower() not in known]
        pairs = ", ".join(f"{literal(c)}, {quote(c)}" for c in extras)
        select.append(f"json_object({pairs})::VARCHAR AS source_extras" if extras else "NULL AS source_extras")
        select.append("md5(CAST(source_row AS VARCHAR)) AS line_id")
        return f"SELECT {', '.join(select)} FROM {info.relation} AS source_row"

    def focus_sql(self, canonical_sql: str, context: Context) -> str:
        units = context.units
        old_values = " ".join(f"WHEN {literal(k)} THEN {literal(v)}" for k, v in _OLD_VALUES.items())
        return f"""
WITH src AS ({canonical_sql})
SELECT
    AvailabilityZone,
    BilledCost,
    BillingAccountId,
    COALESCE(BillingAccountName, BillingAccountId) AS BillingAccountName,
    COALESCE(BillingAccountType, 'Billing Account') AS BillingAccountType,
    BillingCurrency,
    COALESCE(BillingPeriodEnd, date_trunc('month', ChargePeriodStart) + INTERVAL 1 MONTH) AS BillingPeriodEnd,
    COALESCE(BillingPeriodStart, date_trunc('month', ChargePeriodStart)) AS BillingPeriodStart,
    CapacityReservationId,
    CapacityReservationStatus,
    ChargeCategory,
    ChargeClass,
    ChargeDescription,
    COALESCE(ChargeFrequency, CASE ChargeCategory WHEN 'Usage' THEN 'Usage-Based' WHEN 'Purchase' THEN 'One-Time'
                                                  WHEN 'Tax' THEN 'Recurring' ELSE 'One-Time' END) AS ChargeFrequency,
    ChargePeriodEnd,
    ChargePeriodStart,
    CommitmentDiscountCategory,
    CommitmentDiscountId,
    CommitmentDiscountName,
    CommitmentDiscountQuantity,
    CommitmentDiscountStatus,
    CommitmentDiscountType,
    CommitmentDiscountUnit,
    ConsumedQuantity,
    COALESCE({units.unit_sql("ConsumedUnit", with_block=False)}, ConsumedUnit) AS ConsumedUnit,
    COALESCE(ContractedCost, BilledCost) AS ContractedCost,
    ContractedUnitPrice,
    COALESCE(EffectiveCost, BilledCost) AS EffectiveCost,
    InvoiceId,
    COALESCE(InvoiceIssuerName, ProviderName) AS InvoiceIssuerName,
    COALESCE(ListCost, BilledCost) AS ListCost,
    ListUnitPrice,
    CASE PricingCategory {old_values} ELSE PricingCategory END AS PricingCategory,
    COALESCE(PricingCurrency, BillingCurrency) AS PricingCurrency,
    COALESCE(PricingCurrencyContractedUnitPrice,
             CASE WHEN COALESCE(PricingCurrency, BillingCurrency) = BillingCurrency THEN ContractedUnitPrice END)
        AS PricingCurrencyContractedUnitPrice,
    COALESCE(PricingCurrencyEffectiveCost,
             CASE WHEN COALESCE(PricingCurrency, BillingCurrency) = BillingCurrency
                  THEN COALESCE(EffectiveCost, BilledCost) END) AS PricingCurrencyEffectiveCost,
    COALESCE(PricingCurrencyListUnitPrice,
             CASE WHEN COALESCE(PricingCurrency, BillingCurrency) = BillingCurrency THEN ListUnitPrice END)
        AS PricingCurrencyListUnitPrice,
    PricingQuantity,
    COALESCE({units.unit_sql("PricingUnit")}, PricingUnit) AS PricingUnit,
    ProviderName,
    COALESCE(PublisherName, ProviderName) AS PublisherName,
    RegionId,
    CASE WHEN RegionId IS NOT NULL THEN COALESCE(RegionName, RegionId) END AS RegionName,
    ResourceId,
    ResourceName,
    ResourceType,
    COALESCE(ServiceCategory, 'Other') AS ServiceCategory,
    COALESCE(ServiceName, ProviderName) AS ServiceName,
    COALESCE(ServiceSubcategory, 'Other (' || COALESCE(ServiceCategory, 'Other') || ')') AS ServiceSubcategory,
    SkuId,
    CASE WHEN SkuId IS NOT NULL THEN COALESCE(SkuMeter, ChargeDescription, SkuId) END AS SkuMeter,
    SkuPriceDetails,
    SkuPriceId,
    SubAccountId,
    CASE WHEN SubAccountId IS NOT NULL THEN COALESCE(SubAccountName, SubAccountId) END AS SubAccountName,
    CASE WHEN SubAccountId IS NOT NULL THEN COALESCE(SubAccountType, 'Sub Account') END AS SubAccountType,
    Tags,
    {lineage_sql(context, "line_id", "SkuMeter", "source_extras")}
FROM src
"""

    def totals_sql(self, canonical_sql: str) -> str:
        return (
            "SELECT CAST(ChargePeriodStart AS DATE) AS day, BillingCurrency AS currency, sum(BilledCost) AS cost, "
            f"count(*) AS line_items FROM ({canonical_sql}) GROUP BY ALL"
        )
