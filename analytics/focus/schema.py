"""FOCUS 1.2: the columns of the ``focus_costs`` table, their types and allowed values.

The FinOps Open Cost and Usage Specification is the vocabulary of the whole warehouse and
API. Every column of the 1.2 Cost and Usage dataset is present, in specification order,
followed by WedCloud's own ``x_`` columns. Costs and unit prices are DECIMAL(38, 18) so that
every digit a provider writes survives (Azure writes up to 16 decimals) and a sum is exact;
quantities are DECIMAL(38, 10), which leaves room for byte-seconds; times are TIMESTAMPTZ in
UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

FOCUS_VERSION = "1.2"
MONEY = "DECIMAL(38,18)"
QUANTITY = "DECIMAL(38,10)"


class Level(StrEnum):
    MANDATORY = "Mandatory"
    CONDITIONAL = "Conditional"
    RECOMMENDED = "Recommended"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    level: Level
    nullable: bool


def _c(name: str, sql_type: str, level: str, nullable: bool) -> Column:
    return Column(name, sql_type, Level(level), nullable)


M, C, R = "Mandatory", "Conditional", "Recommended"
TS = "TIMESTAMP WITH TIME ZONE"  # DuckDB's own name for TIMESTAMPTZ
S = "VARCHAR"
J = "JSON"

COLUMNS: tuple[Column, ...] = (
    _c("AvailabilityZone", S, R, True),
    _c("BilledCost", MONEY, M, False),
    _c("BillingAccountId", S, M, False),
    _c("BillingAccountName", S, M, True),
    _c("BillingAccountType", S, C, True),
    _c("BillingCurrency", S, M, False),
    _c("BillingPeriodEnd", TS, M, False),
    _c("BillingPeriodStart", TS, M, False),
    _c("CapacityReservationId", S, C, True),
    _c("CapacityReservationStatus", S, C, True),
    _c("ChargeCategory", S, M, False),
    _c("ChargeClass", S, M, True),
    _c("ChargeDescription", S, M, True),
    _c("ChargeFrequency", S, R, False),
    _c("ChargePeriodEnd", TS, M, False),
    _c("ChargePeriodStart", TS, M, False),
    _c("CommitmentDiscountCategory", S, C, True),
    _c("CommitmentDiscountId", S, C, True),
    _c("CommitmentDiscountName", S, C, True),
    _c("CommitmentDiscountQuantity", QUANTITY, C, True),
    _c("CommitmentDiscountStatus", S, C, True),
    _c("CommitmentDiscountType", S, C, True),
    _c("CommitmentDiscountUnit", S, C, True),
    _c("ConsumedQuantity", QUANTITY, C, True),
    _c("ConsumedUnit", S, C, True),
    _c("ContractedCost", MONEY, M, False),
    _c("ContractedUnitPrice", MONEY, C, True),
    _c("EffectiveCost", MONEY, M, False),
    _c("InvoiceId", S, R, True),
    _c("InvoiceIssuerName", S, M, False),
    _c("ListCost", MONEY, M, False),
    _c("ListUnitPrice", MONEY, C, True),
    _c("PricingCategory", S, C, True),
    _c("PricingCurrency", S, C, True),
    _c("PricingCurrencyContractedUnitPrice", MONEY, C, True),
    _c("PricingCurrencyEffectiveCost", MONEY, C, True),
    _c("PricingCurrencyListUnitPrice", MONEY, C, True),
    _c("PricingQuantity", QUANTITY, M, True),
    _c("PricingUnit", S, M, True),
    _c("ProviderName", S, M, False),
    _c("PublisherName", S, M, False),
    _c("RegionId", S, C, True),
    _c("RegionName", S, C, True),
    _c("ResourceId", S, C, True),
    _c("ResourceName", S, C, True),
    _c("ResourceType", S, C, True),
    _c("ServiceCategory", S, M, False),
    _c("ServiceName", S, M, False),
    _c("ServiceSubcategory", S, R, False),
    _c("SkuId", S, C, True),
    _c("SkuMeter", S, C, True),
    _c("SkuPriceDetails", J, C, True),
    _c("SkuPriceId", S, C, True),
    _c("SubAccountId", S, C, True),
    _c("SubAccountName", S, C, True),
    _c("SubAccountType", S, C, True),
    _c("Tags", J, C, True),
)

EXTRA_COLUMNS: tuple[Column, ...] = (
    _c("x_SourceId", S, M, False),  # the ingestion source (export) the row came from
    _c("x_SourceFormat", S, M, False),  # the native format it was normalised from
    _c("x_SourceFile", S, M, False),  # file (or API call) it was read from
    _c("x_SourceLineId", S, R, True),  # the provider's line-item id, where it has one
    _c("x_UsageType", S, R, True),  # the provider's own usage type / meter
    _c("x_Extras", J, R, True),  # provider fields FOCUS has no column for (JSON object)
    _c("x_BillingMonth", "DATE", R, True),  # the billing-source month (partition) the row was loaded under
)

ALL_COLUMNS = COLUMNS + EXTRA_COLUMNS
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
MANDATORY_NON_NULL = tuple(c.name for c in COLUMNS if c.level == Level.MANDATORY and not c.nullable)

CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
CHARGE_CLASSES = ("Correction",)
CHARGE_FREQUENCIES = ("One-Time", "Recurring", "Usage-Based")
PRICING_CATEGORIES = ("Standard", "Committed", "Dynamic", "Other")
COMMITMENT_DISCOUNT_CATEGORIES = ("Spend", "Usage")
COMMITMENT_DISCOUNT_STATUSES = ("Used", "Unused")
CAPACITY_RESERVATION_STATUSES = ("Used", "Unused")

SERVICE_SUBCATEGORIES: dict[str, tuple[str, ...]] = {
    "AI and Machine Learning": (
        "AI Platforms",
        "Bots",
        "Generative AI",
        "Machine Learning",
        "Natural Language Processing",
    ),
    "Analytics": ("Analytics Platforms", "Business Intelligence", "Data Processing", "Search", "Streaming Analytics"),
    "Business Applications": ("Productivity and Collaboration",),
    "Compute": ("Containers", "End User Computing", "Quantum Compute", "Serverless Compute", "Virtual Machines"),
    "Databases": (
        "Caching",
        "Data Warehouses",
        "Ledger Databases",
        "NoSQL Databases",
        "Relational Databases",
        "Time Series Databases",
    ),
    "Developer Tools": (
        "Developer Platforms",
        "Continuous Integration and Deployment",
        "Development Environments",
        "Source Code Management",
        "Quality Assurance",
    ),
    "Identity": ("Identity and Access Management",),
    "Integration": ("API Management", "Messaging", "Workflow Orchestration"),
    "Internet of Things": ("IoT Analytics", "IoT Platforms"),
    "Management and Governance": (
        "Architecture",
        "Compliance",
        "Cost Management",
        "Data Governance",
        "Disaster Recovery",
        "Endpoint Management",
        "Observability",
        "Support",
    ),
    "Media": ("Content Creation", "Gaming", "Media Streaming", "Mixed Reality"),
    "Migration": ("Data Migration", "Resource Migration"),
    "Mobile": (),
    "Multicloud": ("Multicloud Integration",),
    "Networking": (
        "Application Networking",
        "Content Delivery",
        "Network Connectivity",
        "Network Infrastructure",
        "Network Routing",
        "Network Security",
    ),
    "Security": ("Secret Management", "Security Posture Management", "Threat Detection and Response"),
    "Storage": ("Backup Storage", "Block Storage", "File Storage", "Object Storage", "Storage Platforms"),
    "Web": ("Application Platforms",),
    "Other": (),
}
SERVICE_CATEGORIES = tuple(SERVICE_SUBCATEGORIES)


def allowed_subcategories(category: str) -> tuple[str, ...]:
    """The subcategories of a category, including its ``Other (<category>)`` fallback."""
    return (*SERVICE_SUBCATEGORIES[category], f"Other ({category})")


ALLOWED_VALUES: dict[str, tuple[str, ...]] = {
    "ChargeCategory": CHARGE_CATEGORIES,
    "ChargeClass": CHARGE_CLASSES,
    "ChargeFrequency": CHARGE_FREQUENCIES,
    "PricingCategory": PRICING_CATEGORIES,
    "CommitmentDiscountCategory": COMMITMENT_DISCOUNT_CATEGORIES,
    "CommitmentDiscountStatus": COMMITMENT_DISCOUNT_STATUSES,
    "CapacityReservationStatus": CAPACITY_RESERVATION_STATUSES,
    "ServiceCategory": SERVICE_CATEGORIES,
    "ServiceSubcategory": tuple(s for c in SERVICE_CATEGORIES for s in allowed_subcategories(c)),
}


def create_table_sql(table: str = "focus_costs") -> str:
    columns = ",\n    ".join(f'"{c.name}" {c.sql_type}' for c in ALL_COLUMNS)
    return f"CREATE TABLE IF NOT EXISTS {table} (\n    {columns}\n)"
