"""Azure Cost Management "Cost Details" (EA, actual cost) CSV, as the Azure-flavoured sandbox
delivers its bills: one file per month, US dates (M/D/YYYY), amounts in the billing currency
(GBP here) and tags as JSON without the outer braces, the way EA exports write them."""

from __future__ import annotations

import csv
import json
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from clouds.sandbox.catalog import AZURE
from clouds.sandbox.exports.common import by_billing_period, decimal_text, line_id, next_month
from clouds.sandbox.usage import Charge, UsageKind
from clouds.sandbox.world import World

EXPORT_NAME = "wedsync-costdetails"
COLUMNS = [
    "InvoiceSectionName",
    "AccountName",
    "AccountOwnerId",
    "SubscriptionId",
    "SubscriptionName",
    "ResourceGroup",
    "ResourceLocation",
    "Date",
    "ProductName",
    "MeterCategory",
    "MeterSubCategory",
    "MeterId",
    "MeterName",
    "MeterRegion",
    "UnitOfMeasure",
    "Quantity",
    "EffectivePrice",
    "CostInBillingCurrency",
    "CostCenter",
    "ConsumedService",
    "ResourceId",
    "Tags",
    "OfferId",
    "AdditionalInfo",
    "ServiceInfo1",
    "ServiceInfo2",
    "ResourceName",
    "ReservationId",
    "ReservationName",
    "UnitPrice",
    "ProductOrderId",
    "ProductOrderName",
    "Term",
    "PublisherType",
    "PublisherName",
    "ChargeType",
    "Frequency",
    "PricingModel",
    "AvailabilityZone",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrencyCode",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "BillingProfileId",
    "BillingProfileName",
    "InvoiceSectionId",
    "IsAzureCreditEligible",
    "PartNumber",
    "PayGPrice",
    "PlanName",
    "ServiceFamily",
    "CostAllocationRuleName",
    "benefitId",
    "benefitName",
]
_REGION_NAME = {"uksouth": "UK South", "westeurope": "EU West", "eastus": "US East"}
_METER = {
    UsageKind.COMPUTE_HOURS: ("Virtual Machines", "Microsoft.Compute", "Compute", "1 Hour"),
    UsageKind.BLOCK_STORAGE: ("Storage", "Microsoft.Compute", "Storage", "1 GB/Month"),
    UsageKind.OBJECT_STORAGE: ("Storage", "Microsoft.Storage", "Storage", "1 GB/Month"),
    UsageKind.DATABASE_HOURS: ("SQL Database", "Microsoft.Sql", "Databases", "1 Hour"),
    UsageKind.DATABASE_STORAGE: ("SQL Database", "Microsoft.Sql", "Databases", "1 GB/Month"),
    UsageKind.EGRESS: ("Bandwidth", "Microsoft.Network", "Networking", "1 GB"),
}
PRICE_QUANTUM = Decimal("1e-8")
COST_QUANTUM = Decimal("1e-10")


def us_date(day: date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


def _meter(charge: Charge) -> tuple[str, str]:
    """MeterSubCategory and MeterName."""
    match charge.usage_kind:
        case UsageKind.COMPUTE_HOURS:
            size = AZURE.instance_type(charge.size or "")
            return f"{size.family} Series", (charge.size or "").removeprefix("Standard_").replace("_", " ")
        case UsageKind.DATABASE_HOURS:
            return "General Purpose - Compute Gen5", "vCore"
        case UsageKind.BLOCK_STORAGE:
            return "Premium SSD Managed Disks", "P10 LRS Disk"
        case UsageKind.OBJECT_STORAGE:
            return "Tiered Block Blob", "Hot LRS Data Stored"
        case UsageKind.DATABASE_STORAGE:
            return "General Purpose - Storage", "Data Stored"
        case UsageKind.EGRESS:
            return "Rtn Preference: MGN", "Standard Data Transfer Out"


def rows_for(world: World, charges: list[Charge], period: date) -> list[dict[str, str]]:
    billing = next(a for a in world.accounts_of(AZURE.key) if a.role == "billing")
    rate = AZURE.usd_to_billing
    period_end = next_month(period) - timedelta(days=1)
    rows = []
    for charge in charges:
        resource = charge.resource
        subscription = world.account(resource.account_id)
        category, service, family, unit = _METER[charge.usage_kind]
        sub_category, meter_name = _meter(charge)
        unit_price = (charge.unit_price * rate).quantize(PRICE_QUANTUM)
        cost = (charge.cost * rate).quantize(COST_QUANTUM)
        is_egress = charge.usage_kind == UsageKind.EGRESS
        tags = json.dumps(dict(sorted(resource.tags.items())), separators=(",", ": "))[1:-1]
        rows.append(
            {
                "InvoiceSectionName": "WedSync",
                "AccountName": "wedsync.example",
                "AccountOwnerId": "finops@wedsync.example",
                "SubscriptionId": subscription.id,
                "SubscriptionName": subscription.name,
                "ResourceGroup": f"rg-wedsync-{subscription.role}",
                "ResourceLocation": _REGION_NAME[resource.region].replace(" ", ""),
                "Date": us_date(charge.day),
                "ProductName": f"{category} {sub_category} - {meter_name} - {_REGION_NAME[resource.region]}",
                "MeterCategory": category,
                "MeterSubCategory": sub_category,
                "MeterId": str(uuid.UUID(line_id(category, sub_category, meter_name, resource.region, length=32))),
                "MeterName": meter_name,
                "MeterRegion": _REGION_NAME[resource.region],
                "UnitOfMeasure": unit,
                "Quantity": decimal_text(charge.quantity),
                "EffectivePrice": decimal_text(unit_price),
                "CostInBillingCurrency": decimal_text(cost),
                "CostCenter": resource.tags.get("team", ""),
                "ConsumedService": service,
                "ResourceId": "" if is_egress else resource.id,
                "Tags": "" if is_egress else tags,
                "OfferId": "MS-AZR-0017P",
                "AdditionalInfo": json.dumps({"ServiceType": charge.size}) if charge.size else "",
                "ServiceInfo1": "",
                "ServiceInfo2": "",
                "ResourceName": "" if is_egress else resource.name,
                "ReservationId": "",
                "ReservationName": "",
                "UnitPrice": decimal_text(unit_price),
                "ProductOrderId": "",
                "ProductOrderName": "",
                "Term": "",
                "PublisherType": "Azure",
                "PublisherName": "Microsoft",
                "ChargeType": "Usage",
                "Frequency": "UsageBased",
                "PricingModel": "OnDemand",
                "AvailabilityZone": resource.zone or "",
                "BillingAccountId": billing.id,
                "BillingAccountName": billing.name,
                "BillingCurrencyCode": AZURE.billing_currency,
                "BillingPeriodStartDate": us_date(period),
                "BillingPeriodEndDate": us_date(period_end),
                "BillingProfileId": billing.id,
                "BillingProfileName": billing.name,
                "InvoiceSectionId": "",
                "IsAzureCreditEligible": "TRUE",
                "PartNumber": line_id(meter_name, length=9).upper(),
                "PayGPrice": decimal_text(unit_price),
                "PlanName": "",
                "ServiceFamily": family,
                "CostAllocationRuleName": "",
                "benefitId": "",
                "benefitName": "",
            }
        )
    return rows


def write(world: World, charges: list[Charge], root: Path) -> list[Path]:
    """Write one Cost Details CSV per month (UTF-8 with a byte-order mark, like the portal)."""
    written = []
    for period, charges_of_period in by_billing_period(charges).items():
        period_end = next_month(period) - timedelta(days=1)
        folder = root / EXPORT_NAME / f"{period:%Y%m%d}-{period_end:%Y%m%d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{EXPORT_NAME}_{line_id(world.seed, period, length=8)}.csv"
        with open(path, "w", newline="", encoding="utf-8-sig") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows_for(world, charges_of_period, period))
        written.append(path)
    return written
