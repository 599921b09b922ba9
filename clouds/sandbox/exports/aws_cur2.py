"""AWS Data Exports "CUR 2.0" Parquet, as the AWS-flavoured sandbox delivers its bills.

One Parquet file per billing period with daily line items, in the CUR 2.0 column layout:
snake_case columns, costs as doubles, rates as strings, and ``product`` and
``resource_tags`` as map<string, string> columns (user tags keyed ``user_<name>``). An EC2
instance's or volume's name is its ``Name`` tag, which the bill carries as ``user_Name``, as
it does for an organisation that made ``Name`` a cost allocation tag.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from clouds.sandbox.blueprint import Kind
from clouds.sandbox.catalog import AWS
from clouds.sandbox.exports.common import by_billing_period, decimal_text, line_id, next_month
from clouds.sandbox.usage import Charge, UsageKind
from clouds.sandbox.world import SandboxResource, World

EXPORT_NAME = "wedsync-cur2"
LEGAL_ENTITY = "Amazon Web Services EMEA SARL"
_REGION_PREFIX = {"us-east-1": "USE1", "eu-west-1": "EU", "eu-west-2": "EUW2"}
_LOCATION = {"us-east-1": "US East (N. Virginia)", "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)"}
_NORMALIZATION = {"micro": 0.5, "medium": 2, "large": 4, "xlarge": 8, "2xlarge": 16, "4xlarge": 32}
STRING_MAP = pa.map_(pa.string(), pa.string())
TS = pa.timestamp("ms", tz="UTC")

SCHEMA = pa.schema(
    [
        ("bill_bill_type", pa.string()),
        ("bill_billing_entity", pa.string()),
        ("bill_billing_period_end_date", TS),
        ("bill_billing_period_start_date", TS),
        ("bill_invoice_id", pa.string()),
        ("bill_invoicing_entity", pa.string()),
        ("bill_payer_account_id", pa.string()),
        ("bill_payer_account_name", pa.string()),
        ("identity_line_item_id", pa.string()),
        ("identity_time_interval", pa.string()),
        ("line_item_availability_zone", pa.string()),
        ("line_item_blended_cost", pa.float64()),
        ("line_item_blended_rate", pa.string()),
        ("line_item_currency_code", pa.string()),
        ("line_item_legal_entity", pa.string()),
        ("line_item_line_item_description", pa.string()),
        ("line_item_line_item_type", pa.string()),
        ("line_item_net_unblended_cost", pa.float64()),
        ("line_item_normalization_factor", pa.float64()),
        ("line_item_normalized_usage_amount", pa.float64()),
        ("line_item_operation", pa.string()),
        ("line_item_product_code", pa.string()),
        ("line_item_resource_id", pa.string()),
        ("line_item_tax_type", pa.string()),
        ("line_item_unblended_cost", pa.float64()),
        ("line_item_unblended_rate", pa.string()),
        ("line_item_usage_account_id", pa.string()),
        ("line_item_usage_account_name", pa.string()),
        ("line_item_usage_amount", pa.float64()),
        ("line_item_usage_end_date", TS),
        ("line_item_usage_start_date", TS),
        ("line_item_usage_type", pa.string()),
        ("pricing_currency", pa.string()),
        ("pricing_public_on_demand_cost", pa.float64()),
        ("pricing_public_on_demand_rate", pa.string()),
        ("pricing_term", pa.string()),
        ("pricing_unit", pa.string()),
        ("product", STRING_MAP),
        ("product_instance_type", pa.string()),
        ("product_location", pa.string()),
        ("product_product_family", pa.string()),
        ("product_region_code", pa.string()),
        ("product_servicecode", pa.string()),
        ("product_sku", pa.string()),
        ("resource_tags", STRING_MAP),
        ("reservation_reservation_a_r_n", pa.string()),
        ("savings_plan_savings_plan_a_r_n", pa.string()),
    ]
)

_SERVICE = {
    UsageKind.COMPUTE_HOURS: ("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute Instance", "RunInstances"),
    UsageKind.BLOCK_STORAGE: ("AmazonEC2", "Amazon Elastic Compute Cloud", "Storage", "CreateVolume-Gp3"),
    UsageKind.OBJECT_STORAGE: ("AmazonS3", "Amazon Simple Storage Service", "Storage", "StandardStorage"),
    UsageKind.DATABASE_HOURS: (
        "AmazonRDS",
        "Amazon Relational Database Service",
        "Database Instance",
        "CreateDBInstance:0014",
    ),
    UsageKind.DATABASE_STORAGE: (
        "AmazonRDS",
        "Amazon Relational Database Service",
        "Database Storage",
        "CreateDBInstance:0014",
    ),
    UsageKind.EGRESS: ("AWSDataTransfer", "AWS Data Transfer", "Data Transfer", ""),
}


def _usage_type(charge: Charge) -> str:
    prefix = _REGION_PREFIX[charge.resource.region]
    match charge.usage_kind:
        case UsageKind.COMPUTE_HOURS:
            return f"{prefix}-BoxUsage:{charge.size}"
        case UsageKind.DATABASE_HOURS:
            return f"{prefix}-InstanceUsage:{charge.size}"
        case UsageKind.BLOCK_STORAGE:
            return f"{prefix}-EBS:VolumeUsage.gp3"
        case UsageKind.OBJECT_STORAGE:
            return f"{prefix}-TimedStorage-ByteHrs"
        case UsageKind.DATABASE_STORAGE:
            return f"{prefix}-RDS:GP3-Storage"
        case UsageKind.EGRESS:
            return f"{prefix}-DataTransfer-Out-Bytes"


def _description(charge: Charge) -> str:
    rate = decimal_text(charge.unit_price)
    match charge.usage_kind:
        case UsageKind.COMPUTE_HOURS:
            return f"${rate} per On Demand Linux {charge.size} Instance Hour"
        case UsageKind.DATABASE_HOURS:
            return f"${rate} per RDS {charge.size} instance hour (or partial hour) running PostgreSQL"
        case UsageKind.EGRESS:
            return f"${rate} per GB - first 10 TB / month data transfer out beyond the global free tier"
        case _:
            return f"${rate} per GB-month of storage"


def _as_float(value: Decimal) -> float:
    return float(value)


def rows_for(world: World, charges: list[Charge], period_start: datetime, closed: bool) -> dict[str, list[object]]:
    payer = next(a for a in world.accounts_of(AWS.key) if a.role == "billing")
    period_end = datetime.combine(next_month(period_start.date()), time(0), tzinfo=UTC)
    columns: dict[str, list[object]] = {field.name: [] for field in SCHEMA}
    for charge in charges:
        resource = charge.resource
        account = world.account(resource.account_id)
        code, product_name, family, operation = _SERVICE[charge.usage_kind]
        start = datetime.combine(charge.day, time(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        usage_type = _usage_type(charge)
        size = charge.size if charge.usage_kind in (UsageKind.COMPUTE_HOURS, UsageKind.DATABASE_HOURS) else None
        factor = _NORMALIZATION.get(size.split(".")[-1]) if size else None
        product = {
            "product_name": product_name,
            "region": resource.region,
            "servicecode": code,
            "usagetype": usage_type,
        }
        if size:
            instance = AWS.instance_type(size)
            product |= {"instance_type": size, "vcpu": str(instance.vcpus), "memory": f"{instance.memory_gib} GiB"}
        cost = _as_float(charge.cost)
        values: dict[str, object] = {
            "bill_bill_type": "Anniversary",
            "bill_billing_entity": "AWS",
            "bill_billing_period_end_date": period_end,
            "bill_billing_period_start_date": period_start,
            "bill_invoice_id": f"EUINGB{period_start:%y%m}{payer.id[-6:]}" if closed else None,
            "bill_invoicing_entity": LEGAL_ENTITY,
            "bill_payer_account_id": payer.id,
            "bill_payer_account_name": payer.name,
            "identity_line_item_id": line_id(resource.id, usage_type, charge.day),
            "identity_time_interval": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",
            "line_item_availability_zone": resource.zone
            if resource.kind != Kind.BUCKET and charge.usage_kind != UsageKind.EGRESS
            else None,
            "line_item_blended_cost": cost,
            "line_item_blended_rate": decimal_text(charge.unit_price),
            "line_item_currency_code": "USD",
            "line_item_legal_entity": LEGAL_ENTITY,
            "line_item_line_item_description": _description(charge),
            "line_item_line_item_type": "Usage",
            "line_item_net_unblended_cost": None,
            "line_item_normalization_factor": factor,
            "line_item_normalized_usage_amount": float(charge.quantity) * factor if factor else None,
            "line_item_operation": operation,
            "line_item_product_code": code,
            "line_item_resource_id": None if charge.usage_kind == UsageKind.EGRESS else resource.id,
            "line_item_tax_type": None,
            "line_item_unblended_cost": cost,
            "line_item_unblended_rate": decimal_text(charge.unit_price),
            "line_item_usage_account_id": account.id,
            "line_item_usage_account_name": account.name,
            "line_item_usage_amount": float(charge.quantity),
            "line_item_usage_end_date": end,
            "line_item_usage_start_date": start,
            "line_item_usage_type": usage_type,
            "pricing_currency": "USD",
            "pricing_public_on_demand_cost": cost,
            "pricing_public_on_demand_rate": decimal_text(charge.unit_price),
            "pricing_term": "OnDemand",
            "pricing_unit": charge.unit,
            "product": list(product.items()),
            "product_instance_type": size,
            "product_location": _LOCATION[resource.region],
            "product_product_family": family,
            "product_region_code": resource.region,
            "product_servicecode": code,
            "product_sku": line_id(code, usage_type, length=16).upper(),
            "resource_tags": [(f"user_{k}", v) for k, v in sorted(_bill_tags(resource).items())],
            "reservation_reservation_a_r_n": None,
            "savings_plan_savings_plan_a_r_n": None,
        }
        for name, value in values.items():
            columns[name].append(value)
    return columns


def write(world: World, charges: list[Charge], root: Path) -> list[Path]:
    """Write one CUR 2.0 Parquet file (and its manifest) per billing period."""
    written = []
    current_period = world.as_of.replace(day=1)
    for period, rows in by_billing_period(charges).items():
        period_start = datetime.combine(period, time(0), tzinfo=UTC)
        table = pa.table(rows_for(world, rows, period_start, closed=period < current_period), schema=SCHEMA)
        folder = root / EXPORT_NAME / "data" / f"BILLING_PERIOD={period:%Y-%m}"
        folder.mkdir(parents=True, exist_ok=True)
        data_file = folder / f"{EXPORT_NAME}-00001.snappy.parquet"
        pq.write_table(table, data_file, compression="snappy")
        manifest_dir = root / EXPORT_NAME / "metadata" / f"BILLING_PERIOD={period:%Y-%m}"
        manifest_dir.mkdir(parents=True, exist_ok=True)
        payer = next(a for a in world.accounts_of(AWS.key) if a.role == "billing")
        manifest = {
            "exportName": EXPORT_NAME,
            "exportArn": f"arn:aws:bcm-data-exports:us-east-1:{payer.id}:export/{EXPORT_NAME}",
            "billingPeriod": {
                "start": f"{period_start:%Y-%m-%dT%H:%M:%SZ}",
                "end": f"{next_month(period):%Y-%m-%d}T00:00:00Z",
            },
            "dataFiles": [str(data_file.relative_to(root))],
            "recordCount": table.num_rows,
            "columns": [{"name": f.name, "type": str(f.type)} for f in SCHEMA],
        }
        (manifest_dir / f"{EXPORT_NAME}-Manifest.json").write_text(json.dumps(manifest, indent=2))
        written.append(data_file)
    return written


def _bill_tags(resource: SandboxResource) -> dict[str, str]:
    """The resource's tags as the bill shows them: EC2 names instances and volumes by a tag."""
    named = {"Name": resource.name} if resource.kind in (Kind.INSTANCE, Kind.VOLUME) else {}
    return {**resource.tags, **named}
