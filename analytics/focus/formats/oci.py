"""Oracle Cloud Infrastructure cost reports (``reports/cost-csv/*.csv.gz``) to FOCUS 1.2.

A cost report has one row per resource, SKU and hour: ``lineItem/*`` (reference number,
tenancy, usage interval, correction flag and the reference number it corrects),
``product/*`` (service, compartment, region, availability domain, resource OCID, SKU
description), ``usage/billedQuantity`` in the SKU's pricing unit, ``cost/*`` (subscription,
part number, unit price, ``myCost``, currency, units) and one ``tags/<namespace>.<key>``
column per tag. Oracle documents that billedQuantity, unitPrice and myCost already include
the overage figures, so ``cost/myCost`` is what the row bills; the overage columns are kept
in ``x_Extras``. Corrections are rows of their own (``lineItem/isCorrection``) that add to
the total, so they are converted as they are, with ChargeClass ``Correction`` and the
corrected line's reference in ``x_Extras``.

The report writes no currency on some zero-cost rows (free SKUs); a tenancy bills in one
currency, so such a row takes its tenancy's only currency (a tenancy with several
currencies and a row without one is refused, and so is a costed row without one).
Amounts and quantities are read as the numbers they are: ``-2`` is a placeholder only in
names and ids. A usage start or end that is no timestamp refuses the file (:meth:`check`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb

from analytics.focus.errors import NormalisationError
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
    quote,
)

SERVICES = {
    "COMPUTE": ("Compute", "Virtual Machines", "Compute"),
    "OKE": ("Compute", "Containers", "Container Engine for Kubernetes"),
    "CONTAINER_ENGINE": ("Compute", "Containers", "Container Engine for Kubernetes"),
    "CONTAINER_INSTANCES": ("Compute", "Containers", "Container Instances"),
    "FUNCTIONS": ("Compute", "Serverless Compute", "Functions"),
    "BLOCK_STORAGE": ("Storage", "Block Storage", "Block Volume"),
    "OBJECTSTORE": ("Storage", "Object Storage", "Object Storage"),
    "OBJECT_STORAGE": ("Storage", "Object Storage", "Object Storage"),
    "FILE_STORAGE": ("Storage", "File Storage", "File Storage"),
    "ARCHIVE_STORAGE": ("Storage", "Backup Storage", "Archive Storage"),
    "DATABASE": ("Databases", "Relational Databases", "Database"),
    "AUTONOMOUS_DATABASE": ("Databases", "Relational Databases", "Autonomous Database"),
    "MYSQL": ("Databases", "Relational Databases", "MySQL HeatWave"),
    "POSTGRESQL": ("Databases", "Relational Databases", "PostgreSQL"),
    "NOSQL": ("Databases", "NoSQL Databases", "NoSQL Database"),
    "CACHE": ("Databases", "Caching", "Cache"),
    "NETWORK": ("Networking", "Network Connectivity", "Networking"),
    "VIRTUAL_CLOUD_NETWORK": ("Networking", "Network Connectivity", "Virtual Cloud Network"),
    "FASTCONNECT": ("Networking", "Network Connectivity", "FastConnect"),
    "LOAD_BALANCER": ("Networking", "Application Networking", "Load Balancer"),
    "NETWORK_LOAD_BALANCER": ("Networking", "Application Networking", "Network Load Balancer"),
    "DNS": ("Networking", "Network Routing", "DNS"),
    "API_GATEWAY": ("Integration", "API Management", "API Gateway"),
    "NOTIFICATIONS": ("Integration", "Messaging", "Notifications"),
    "STREAMING": ("Integration", "Messaging", "Streaming"),
    "QUEUE": ("Integration", "Messaging", "Queue"),
    "EMAIL_DELIVERY": ("Integration", "Messaging", "Email Delivery"),
    "INTEGRATION": ("Integration", "Workflow Orchestration", "Integration"),
    "DATA_FLOW": ("Analytics", "Data Processing", "Data Flow"),
    "DATA_INTEGRATION": ("Analytics", "Data Processing", "Data Integration"),
    "ANALYTICS": ("Analytics", "Business Intelligence", "Analytics Cloud"),
    "DATA_SCIENCE": ("AI and Machine Learning", "AI Platforms", "Data Science"),
    "GENERATIVE_AI": ("AI and Machine Learning", "Generative AI", "Generative AI"),
    "TELEMETRY": ("Management and Governance", "Observability", "Monitoring"),
    "MONITORING": ("Management and Governance", "Observability", "Monitoring"),
    "LOGGING": ("Management and Governance", "Observability", "Logging"),
    "LOG_ANALYTICS": ("Management and Governance", "Observability", "Logging Analytics"),
    "APM": ("Management and Governance", "Observability", "Application Performance Monitoring"),
    "VAULT": ("Security", "Secret Management", "Vault"),
    "KMS": ("Security", "Secret Management", "Vault"),
    "WAF": ("Security", "Network Security", "Web Application Firewall"),
    "CLOUD_GUARD": ("Security", "Security Posture Management", "Cloud Guard"),
    "DATA_SAFE": ("Security", "Security Posture Management", "Data Safe"),
    "IDENTITY": ("Identity", "Identity and Access Management", "Identity and Access Management"),
    "DEVOPS": ("Developer Tools", "Continuous Integration and Deployment", "DevOps"),
    "CONTAINER_REGISTRY": ("Developer Tools", "Developer Platforms", "Container Registry"),
    "SUPPORT": ("Management and Governance", "Support", "Support"),
}
REGION_NAMES = {
    "us-ashburn-1": "US East (Ashburn)", "us-phoenix-1": "US West (Phoenix)", "us-chicago-1": "US Midwest (Chicago)",
    "us-sanjose-1": "US West (San Jose)", "ca-toronto-1": "Canada Southeast (Toronto)",
    "uk-london-1": "UK South (London)", "uk-cardiff-1": "UK West (Newport)",
    "eu-frankfurt-1": "Germany Central (Frankfurt)", "eu-amsterdam-1": "Netherlands Northwest (Amsterdam)",
    "eu-paris-1": "France Central (Paris)", "eu-zurich-1": "Switzerland North (Zurich)",
    "eu-madrid-1": "Spain Central (Madrid)", "eu-milan-1": "Italy Northwest (Milan)",
    "eu-stockholm-1": "Sweden Central (Stockholm)", "ap-tokyo-1": "Japan East (Tokyo)",
    "ap-osaka-1": "Japan Central (Osaka)", "ap-sydney-1": "Australia East (Sydney)",
    "ap-melbourne-1": "Australia Southeast (Melbourne)", "ap-mumbai-1": "India West (Mumbai)",
    "ap-singapore-1": "Singapore (Singapore)", "ap-seoul-1": "South Korea Central (Seoul)",
    "sa-saopaulo-1": "Brazil East (Sao Paulo)", "me-dubai-1": "UAE East (Dubai)",
}  # fmt: skip
_TRUE = "('true', 'y', 'yes', '1')"
# OCI's cost/skuUnitDescription writes scale words where UnitFormat wants a block size
_SCALE_WORDS = (("million ", "1000000 "), ("billion ", "1000000000 "), ("thousand ", "1000 "))


def _values(name: str, rows: Mapping[str, Sequence[str]], columns: str) -> str:
    body = ", ".join("(" + ", ".join(literal(v) for v in (k, *values)) + ")" for k, values in sorted(rows.items()))
    return f"(VALUES {body}) AS {name}({columns})"


def _unit_text(expr: str) -> str:
    """The SKU's unit with scale words as numbers (``Million Datapoints`` -> ``1000000 Datapoints``)."""
    text = f"trim({expr})"
    for word, number in _SCALE_WORDS:
        text = f"regexp_replace({text}, {literal('^' + word)}, {literal(number)}, 'i')"
    return text


def _quantity(expr: str) -> str:
    """A quantity read as the number it is (``-2`` is minus two, not a placeholder)."""
    return f"CAST({money_sql(expr)} AS {QUANTITY})"


def _timestamp(expr: str) -> str:
    """The interval's timestamp, NULL where it is empty (and where it is no timestamp, which
    :meth:`OciCostReport.check` refuses first)."""
    return f"TRY_CAST(NULLIF(trim(CAST({expr} AS VARCHAR)), '') AS TIMESTAMPTZ)"


def _tags(info: SourceInfo) -> str:
    """The ``tags/<key>`` columns as a JSON object of the tags the row has, or NULL."""
    columns = [c for c in info.columns if c.lower().startswith("tags/")]
    if not columns:
        return "NULL::JSON"
    entries = ", ".join(f"struct_pack(key := {literal(c[5:])}, value := {clean(quote(c))})" for c in columns)
    present = f"list_filter([{entries}], lambda t: t.value IS NOT NULL)"
    return f"CASE WHEN len({present}) > 0 THEN to_json(map_from_entries({present})) END"


class OciCostReport:
    """OCI cost report (``reports/cost-csv``), the proprietary CSV with ``lineItem/``, ``cost/`` names."""

    name = "oci_cost_report"
    provider = "Oracle"
    description = "Oracle Cloud Infrastructure cost report CSV (lineItem/, product/, usage/, cost/, tags/ columns)"
    reconciles_with = "BilledCost"
    requirements: tuple[Requirement, ...] = (
        Requirement("reference_no", ("lineItem/referenceNo",)),
        Requirement("tenant_id", ("lineItem/tenantId",)),
        Requirement("usage_start", ("lineItem/intervalUsageStart",)),
        Requirement("service", ("product/service",)),
        Requirement("cost", ("cost/myCost",)),
        Requirement("currency", ("cost/currencyCode",)),
    )
    currency_column = "currency"
    cost_sources: tuple[str, ...] = ("cost/myCost",)
    unit_columns: tuple[str, ...] = ("pricing_unit",)

    def matches(self, info: SourceInfo) -> bool:
        return all(info.has(*r.names) for r in self.requirements)

    def check(self, con: duckdb.DuckDBPyConnection, info: SourceInfo) -> None:
        """Refuse a usage interval that is no timestamp (and a row without its start): the
        row's day and charge period would be lost. One scan for both columns."""
        start, end = info.find("lineItem/intervalUsageStart"), info.find("lineItem/intervalUsageEnd")
        tests = []
        for name, required in ((start, True), (end, False)):
            if name is None:
                continue
            given = f"{clean(quote(name))} IS NOT NULL"
            bad = f"{_timestamp(quote(name))} IS NULL" + ("" if required else f" AND {given}")
            tests.append((name, bad))
        selects = ", ".join(
            f"count(*) FILTER (WHERE {bad}), any_value(CAST({quote(name)} AS VARCHAR)) FILTER (WHERE {bad})"
            for name, bad in tests
        )
        found = con.execute(f"SELECT {selects} FROM {info.relation}").fetchall()[0]
        for index, (name, _) in enumerate(tests):
            count, example = found[2 * index], found[2 * index + 1]
            if count:
                shown = "empty" if example is None or not example.strip() else repr(example)
                raise NormalisationError(str(info.path), name, f"{count} value(s) are not timestamps, e.g. {shown}")

    def canonical_sql(self, info: SourceInfo) -> str:
        col = info.col
        currency = f"trim({clean(col('cost/currencyCode'))})"
        cost = f"COALESCE({money_sql(col('cost/myCost'))}, 0::{MONEY})"
        # a row without a currency may take its tenancy's only one when it bills nothing; a
        # costed row without one stays empty and is refused by the currency check
        only = f"CASE WHEN count(DISTINCT {currency}) OVER tenancy = 1 THEN max({currency}) OVER tenancy END"
        tenancy_currency = f"CASE WHEN {cost} = 0 THEN {only} END"
        return f"""
SELECT
    {clean(col("lineItem/referenceNo"))} AS reference_no,
    {clean(col("lineItem/tenantId"))} AS tenant_id,
    {_timestamp(col("lineItem/intervalUsageStart"))} AS usage_start,
    {_timestamp(col("lineItem/intervalUsageEnd"))} AS usage_end,
    upper({clean(col("product/service"))}) AS service,
    {clean(col("product/compartmentId"))} AS compartment_id,
    {clean(col("product/compartmentName"))} AS compartment_name,
    {clean(col("product/region"))} AS region,
    {clean(col("product/availabilityDomain"))} AS availability_domain,
    {clean(col("product/resourceId"))} AS resource_id,
    {_quantity(col("usage/billedQuantity"))} AS billed_quantity,
    {_quantity(col("usage/billedQuantityOverage"))} AS billed_quantity_overage,
    {clean(col("cost/subscriptionId"))} AS subscription_id,
    {clean(col("cost/productSku"))} AS sku,
    {clean(col("product/Description", "product/description"))} AS sku_description,
    {money_sql(col("cost/unitPrice"))} AS unit_price,
    {money_sql(col("cost/unitPriceOverage"))} AS unit_price_overage,
    {cost} AS cost,
    {money_sql(col("cost/myCostOverage"))} AS cost_overage,
    COALESCE({currency}, {tenancy_currency}) AS currency,
    {clean(col("cost/billingUnitReadable"))} AS billing_unit,
    {_unit_text(clean(col("cost/skuUnitDescription")))} AS pricing_unit,
    upper({clean(col("cost/overageFlag"))}) AS overage_flag,
    COALESCE(lower(trim({clean(col("lineItem/isCorrection"))})) IN {_TRUE}, false) AS is_correction,
    {clean(col("lineItem/backreferenceNo", "lineItem/backReference"))} AS backreference_no,
    {_tags(info)} AS tags,
    md5(CAST(source_row AS VARCHAR)) AS row_hash
FROM {info.relation} AS source_row
WINDOW tenancy AS (PARTITION BY {col("lineItem/tenantId")})
"""

    def focus_sql(self, canonical_sql: str, context: Context) -> str:
        units = context.units
        return f"""
WITH src AS ({canonical_sql}),
priced AS (
    SELECT *,
        {units.block_sql("pricing_unit")} AS block,
        COALESCE(unit_price,
                 CASE WHEN billed_quantity <> 0 THEN CAST(cost / billed_quantity AS {MONEY}) END,
                 0::{MONEY}) AS contracted_unit_price,
        CASE WHEN resource_id IS NOT NULL
             THEN COALESCE(NULLIF(regexp_extract(resource_id, '^ocid1\\.([a-z0-9]+)\\.', 1), ''), 'resource') END
            AS resource_type
    FROM src
),
services AS (SELECT * FROM {
            _values("oci_services", SERVICES, "service_key, service_category, service_subcategory, service_name")
        }),
regions AS (SELECT * FROM {
            _values("oci_regions", {k: (v,) for k, v in REGION_NAMES.items()}, "region_key, region_name")
        })
SELECT
    availability_domain AS AvailabilityZone,
    cost AS BilledCost,
    tenant_id AS BillingAccountId,
    tenant_id AS BillingAccountName,
    'Tenancy' AS BillingAccountType,
    currency AS BillingCurrency,
    date_trunc('month', usage_start) + INTERVAL 1 MONTH AS BillingPeriodEnd,
    date_trunc('month', usage_start) AS BillingPeriodStart,
    NULL::VARCHAR AS CapacityReservationId,
    NULL::VARCHAR AS CapacityReservationStatus,
    'Usage' AS ChargeCategory,
    CASE WHEN is_correction THEN 'Correction' END AS ChargeClass,
    COALESCE(sku_description, sku, service) AS ChargeDescription,
    'Usage-Based' AS ChargeFrequency,
    COALESCE(usage_end, usage_start + INTERVAL 1 HOUR) AS ChargePeriodEnd,
    usage_start AS ChargePeriodStart,
    NULL::VARCHAR AS CommitmentDiscountCategory,
    NULL::VARCHAR AS CommitmentDiscountId,
    NULL::VARCHAR AS CommitmentDiscountName,
    NULL::{QUANTITY} AS CommitmentDiscountQuantity,
    NULL::VARCHAR AS CommitmentDiscountStatus,
    NULL::VARCHAR AS CommitmentDiscountType,
    NULL::VARCHAR AS CommitmentDiscountUnit,
    CASE WHEN billed_quantity IS NOT NULL THEN CAST(billed_quantity * block AS {QUANTITY}) END AS ConsumedQuantity,
    CASE WHEN billed_quantity IS NOT NULL
         THEN COALESCE({units.unit_sql("pricing_unit", with_block=False)}, 'Units') END AS ConsumedUnit,
    {priced_sql("contracted_unit_price", "billed_quantity", "cost")} AS ContractedCost,
    contracted_unit_price AS ContractedUnitPrice,
    cost AS EffectiveCost,
    NULL::VARCHAR AS InvoiceId,
    'Oracle' AS InvoiceIssuerName,
    {priced_sql("contracted_unit_price", "billed_quantity", "cost")} AS ListCost,
    contracted_unit_price AS ListUnitPrice,
    'Standard' AS PricingCategory,
    currency AS PricingCurrency,
    contracted_unit_price AS PricingCurrencyContractedUnitPrice,
    cost AS PricingCurrencyEffectiveCost,
    contracted_unit_price AS PricingCurrencyListUnitPrice,
    billed_quantity AS PricingQuantity,
    CASE WHEN billed_quantity IS NOT NULL THEN COALESCE({units.unit_sql("pricing_unit")}, 'Units') END
        AS PricingUnit,
    'Oracle' AS ProviderName,
    'Oracle' AS PublisherName,
    region AS RegionId,
    CASE WHEN region IS NOT NULL THEN COALESCE(regions.region_name, region) END AS RegionName,
    resource_id AS ResourceId,
    resource_id AS ResourceName,
    resource_type AS ResourceType,
    COALESCE(services.service_category, 'Other') AS ServiceCategory,
    COALESCE(services.service_name, service) AS ServiceName,
    COALESCE(services.service_subcategory, 'Other (Other)') AS ServiceSubcategory,
    sku AS SkuId,
    CASE WHEN sku IS NOT NULL THEN COALESCE(sku_description, sku) END AS SkuMeter,
    NULL::JSON AS SkuPriceDetails,
    CASE WHEN sku IS NOT NULL THEN sku || ':' || currency END AS SkuPriceId,
    compartment_id AS SubAccountId,
    CASE WHEN compartment_id IS NOT NULL THEN COALESCE(compartment_name, compartment_id) END AS SubAccountName,
    CASE WHEN compartment_id IS NOT NULL THEN 'Compartment' END AS SubAccountType,
    tags AS Tags,
    {
            lineage_sql(
                context,
                "COALESCE(reference_no, row_hash)",
                "sku",
                '''json_object('Service', service, 'SubscriptionId', subscription_id,
                'BillingUnitReadable', billing_unit, 'OverageFlag', overage_flag,
                'BilledQuantityOverage', billed_quantity_overage, 'UnitPriceOverage', unit_price_overage,
                'CostOverage', cost_overage, 'IsCorrection', is_correction,
                'BackReferenceNo', backreference_no)''',
            )
        }
FROM priced
LEFT JOIN services ON services.service_key = priced.service
LEFT JOIN regions ON regions.region_key = priced.region
"""

    def totals_sql(self, canonical_sql: str) -> str:
        """``cost/myCost`` (overage included, corrections added) per UTC day and currency."""
        return (
            "SELECT CAST(usage_start AS DATE) AS day, currency, sum(cost) AS cost, count(*) AS line_items "
            f"FROM ({canonical_sql}) GROUP BY ALL"
        )
