"""A provider's inventory, imported into the state store (``POST /providers/{id}/sync``).

Each resource the provider lists is matched to its row by the provider's own id: new ones are
added, rows whose facts changed are updated, and rows the provider no longer lists are marked
terminated (they are kept: their cost history still points at them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from clouds.base import CloudProvider, CloudResource, ResourceState
from clouds.errors import CloudError
from control_plane.store.models import Provider, Resource
from wedcloud.sqltypes import utcnow

SEEN_BATCH = 5000  # ids per UPDATE of unchanged rows (SQLite allows 32,766 parameters)
REPORT_LIMIT = 200  # resources named per category in a sync's report; the counts are always whole


def values_of(resource: CloudResource) -> dict[str, Any]:
    """The facts a sync compares and copies; the rest of a row belongs to WedCloud (protection, cost)."""
    details = {k: v for k, v in resource.details.items() if v is not None}
    if resource.attached_to:
        details["attached_to"] = resource.attached_to
    return {
        "name": resource.name[:255],
        "resource_type": resource.resource_type.value,
        "subtype": resource.subtype,
        "region": resource.region,
        "zone": resource.zone,
        "size": resource.size,
        "state": resource.state.value,
        "account_id": resource.account_id or None,
        "tags": dict(resource.tags),
        "details": json_ready(details),
    }


def json_ready(value: Any) -> Any:
    """``value`` as a JSON column keeps it: times in ISO 8601, anything else unknown as text."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


PriceLookup = Callable[[str, str | None], tuple[Decimal | None, str | None]]


def catalogue_prices(adapter: CloudProvider) -> PriceLookup:
    """(region, size) -> the size's list price per hour and its currency, from the adapter's
    price catalogue, read once per region (None, None where it has none)."""
    catalogues: dict[str, dict[str, tuple[Decimal, str]]] = {}

    def lookup(region: str, size: str | None) -> tuple[Decimal | None, str | None]:
        if not size:
            return None, None
        if region not in catalogues:
            try:
                listed = adapter.price_catalogue(region=region)
            except CloudError:
                listed = []
            catalogues[region] = {t.name: (t.hourly_price.quantize(Decimal("0.000001")), t.currency) for t in listed}
        return catalogues[region].get(size, (None, None))

    return lookup


def sync(
    session: Session, provider: Provider, listed: Iterable[CloudResource], *, prices: PriceLookup | None = None
) -> dict[str, Any]:
    """Bring ``provider``'s rows in line with what it ``listed``; returns the report. With
    ``prices``, a row with a size and no price yet gets its list price per hour (what the
    monitoring collector stores as the resource's ``cost_rate``)."""
    now = utcnow()
    rows = {r.cloud_id: r for r in session.scalars(select(Resource).where(Resource.provider_id == provider.id))}
    report: dict[str, list[dict[str, str]]] = {"added": [], "changed": [], "gone": []}
    unchanged = 0
    untouched: list[Resource] = []
    seen: set[str] = set()
    for resource in listed:
        if resource.id in seen:
            continue
        seen.add(resource.id)
        values = values_of(resource)
        row = rows.get(resource.id)
        if row is None:
            row = Resource(
                id=uuid.uuid4(),
                provider_id=provider.id,
                cloud_id=resource.id,
                launched_at=resource.created_at,
                last_seen_at=now,
                **values,
            )
            session.add(row)
            _price(row, prices)
            report["added"].append(_named(row))
            continue
        differences = {k: v for k, v in values.items() if getattr(row, k) != v}
        if differences:
            row.last_seen_at = now
            for key, value in differences.items():
                setattr(row, key, value)
            if values["state"] != ResourceState.TERMINATED:
                row.terminated_at = None
            report["changed"].append({**_named(row), "fields": ",".join(sorted(differences))})
        else:
            unchanged += 1
            if prices is None or row.hourly_cost is not None or not row.size:
                untouched.append(row)  # only last_seen_at changes: see _seen_at
            else:
                row.last_seen_at = now
        if "size" in differences:
            row.hourly_cost = None
        _price(row, prices)
    _seen_at(session, untouched, now)
    for cloud_id, row in rows.items():
        # (a row still waiting for its provision has no cloud id yet: its operation fills it in)
        if cloud_id not in seen and row.state != ResourceState.TERMINATED and not cloud_id.startswith("pending:"):
            row.state, row.terminated_at = ResourceState.TERMINATED.value, now
            report["gone"].append(_named(row))
    session.flush()
    return {
        "provider_id": str(provider.id),
        "counts": {**{k: len(v) for k, v in report.items()}, "unchanged": unchanged},
        **{k: v[:REPORT_LIMIT] for k, v in report.items()},
        "synced_at": now.isoformat(),
    }


def _seen_at(session: Session, rows: list[Resource], now: datetime) -> None:
    """``last_seen_at`` (and ``updated_at``, as a change through the unit of work sets it) is
    ``now`` for rows the sync found unchanged: an UPDATE per few thousand rows rather than one per
    row through the unit of work (100,000 unchanged resources took over a minute that way). The
    session's copies get the same values, as if loaded so."""
    for start in range(0, len(rows), SEEN_BATCH):
        batch = rows[start : start + SEEN_BATCH]
        session.execute(
            update(Resource).where(Resource.id.in_([row.id for row in batch])).values(last_seen_at=now, updated_at=now),
            execution_options={"synchronize_session": False},
        )
        for row in batch:
            set_committed_value(row, "last_seen_at", now)
            set_committed_value(row, "updated_at", now)


def _price(row: Resource, prices: PriceLookup | None) -> None:
    if prices is not None and row.hourly_cost is None and row.size:
        row.hourly_cost, row.cost_currency = prices(row.region, row.size)


def _named(row: Resource) -> dict[str, str]:
    return {"id": str(row.id), "cloud_id": row.cloud_id, "name": row.name}
