"""Google Cloud Billing "detailed usage cost" export rows (the BigQuery table's shape), as the
GCP-flavoured sandbox delivers its bills: newline-delimited JSON with the nested records
(``service``, ``sku``, ``project``, ``labels``, ``location``, ``resource``, ``usage``,
``credits``, ``invoice``) that a ``bq extract`` of the export table produces."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from clouds.sandbox.blueprint import Kind
from clouds.sandbox.catalog import GCP
from clouds.sandbox.exports.common import by_billing_period, decimal_text, line_id
from clouds.sandbox.usage import Charge, UsageKind
from clouds.sandbox.world import World

DATASET = "wedsync_billing"
_SERVICE = {flavour_service.category: flavour_service for flavour_service in GCP.services}
_KIND_SERVICE = {
    UsageKind.COMPUTE_HOURS: "Compute",
    UsageKind.BLOCK_STORAGE: "Compute",
    UsageKind.OBJECT_STORAGE: "Storage",
    UsageKind.DATABASE_HOURS: "Databases",
    UsageKind.DATABASE_STORAGE: "Databases",
    UsageKind.EGRESS: "Networking",
}
_USAGE_UNIT = {
    UsageKind.COMPUTE_HOURS: ("seconds", "hour", Decimal(3600)),
    UsageKind.DATABASE_HOURS: ("seconds", "hour", Decimal(3600)),
    UsageKind.BLOCK_STORAGE: ("byte-seconds", "gibibyte month", None),
    UsageKind.OBJECT_STORAGE: ("byte-seconds", "gibibyte month", None),
    UsageKind.DATABASE_STORAGE: ("byte-seconds", "gibibyte month", None),
    UsageKind.EGRESS: ("bytes", "gibibyte", Decimal(2**30)),
}


def _sku_description(charge: Charge) -> str:
    match charge.usage_kind:
        case UsageKind.COMPUTE_HOURS:
            return (
                f"{(charge.size or '').split('-')[0].upper()} Instance Core and Ram running in {charge.resource.region}"
            )
        case UsageKind.DATABASE_HOURS:
            return f"Cloud SQL for PostgreSQL: Zonal - vCPU and RAM in {charge.resource.region}"
        case UsageKind.BLOCK_STORAGE:
            return f"Balanced PD Capacity in {charge.resource.region}"
        case UsageKind.OBJECT_STORAGE:
            return f"Standard Storage {charge.resource.region}"
        case UsageKind.DATABASE_STORAGE:
            return f"Cloud SQL for PostgreSQL: Zonal - Standard storage in {charge.resource.region}"
        case UsageKind.EGRESS:
            return f"Network Internet Data Transfer Out from {charge.resource.region}"


def _usage_amount(charge: Charge, day_seconds: int, month_seconds: int) -> Decimal:
    _unit, _, per_pricing_unit = _USAGE_UNIT[charge.usage_kind]
    if per_pricing_unit is not None:
        return charge.quantity * per_pricing_unit
    # storage: GiB-months back to byte-seconds over the month
    return (charge.quantity * Decimal(2**30) * month_seconds).quantize(Decimal(1))


def rows_for(world: World, charges: list[Charge]) -> list[dict[str, object]]:
    billing = next(a for a in world.accounts_of(GCP.key) if a.role == "billing")
    rows: list[dict[str, object]] = []
    for charge in charges:
        resource = charge.resource
        project = world.account(resource.account_id)
        service = _SERVICE[_KIND_SERVICE[charge.usage_kind]]
        start = datetime.combine(charge.day, time(0), tzinfo=UTC)
        end = start + timedelta(days=1)
        month_days = (charge.day.replace(day=28) + timedelta(days=4)).replace(day=1) - charge.day.replace(day=1)
        unit, pricing_unit, _ = _USAGE_UNIT[charge.usage_kind]
        sku_description = _sku_description(charge)
        is_resource = charge.usage_kind != UsageKind.EGRESS
        api = "storage" if resource.kind == Kind.BUCKET else "compute"
        rows.append(
            {
                "billing_account_id": billing.id,
                "service": {"id": service.id, "description": service.name},
                "sku": {"id": line_id(sku_description, length=12).upper(), "description": sku_description},
                "usage_start_time": start.isoformat(),
                "usage_end_time": end.isoformat(),
                "project": {
                    "id": project.id,
                    "number": str(int(line_id(project.id, length=10), 16))[:12],
                    "name": project.name,
                    "labels": [],
                    "ancestry_numbers": f"/{billing.id.replace('-', '')[:10]}/",
                },
                "labels": [{"key": k, "value": v} for k, v in sorted(resource.tags.items())] if is_resource else [],
                "system_labels": [],
                "location": {
                    "location": resource.region,
                    "country": "GB"
                    if resource.region == "europe-west2"
                    else "BE"
                    if resource.region == "europe-west1"
                    else "US",
                    "region": resource.region,
                    "zone": resource.zone if resource.kind != Kind.BUCKET and is_resource else None,
                },
                "resource": {
                    "name": resource.name if is_resource else None,
                    "global_name": f"//{api}.googleapis.com/{resource.id}" if is_resource else None,
                },
                "export_time": (end + timedelta(hours=5)).isoformat(),
                "cost": float(charge.cost),
                "currency": "USD",
                "currency_conversion_rate": 1.0,
                "usage": {
                    "amount": float(_usage_amount(charge, 86400, month_days.days * 86400)),
                    "unit": unit,
                    "amount_in_pricing_units": float(charge.quantity),
                    "pricing_unit": pricing_unit,
                },
                "price": {
                    "effective_price": decimal_text(charge.unit_price),
                    "unit": pricing_unit,
                    "pricing_unit_quantity": 1,
                },
                "credits": [],
                "invoice": {"month": f"{charge.day:%Y%m}"},
                "cost_type": "regular",
                "adjustment_info": None,
            }
        )
    return rows


def write(world: World, charges: list[Charge], root: Path) -> list[Path]:
    """Write one JSONL file of export rows per invoice month."""
    billing = next(a for a in world.accounts_of(GCP.key) if a.role == "billing")
    folder = root / DATASET / f"gcp_billing_export_v1_{billing.id.replace('-', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for period, charges_of_period in by_billing_period(charges).items():
        path = folder / f"{period:%Y-%m}.jsonl"
        with open(path, "w") as handle:
            for row in rows_for(world, charges_of_period):
                handle.write(json.dumps(row, separators=(",", ":")) + "\n")
        written.append(path)
    return written
