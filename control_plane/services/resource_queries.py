"""Reading resources: the store's view of what exists (a filtered, sorted page of them, one
resource, and the view of a row the API answers with)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from control_plane.pagination import page_of, seek
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.services.resources import PENDING_PREFIX
from control_plane.store.models import Resource

SORTS = {
    "name": Resource.name,
    "created_at": Resource.created_at,
    "region": Resource.region,
    "state": Resource.state,
    "hourly_cost": func.coalesce(Resource.hourly_cost, Decimal(-1)),
}


@dataclass(frozen=True)
class ResourceFilter:
    """``provider_ids``: only these providers' resources (none when empty)."""

    provider_ids: frozenset[uuid.UUID] | None = None
    resource_type: str | None = None
    region: str | None = None
    state: str | None = None
    tag: str | None = None  # "key" or "key=value"
    name_contains: str | None = None
    cost_above: Decimal | None = None

    def clauses(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.provider_ids is not None:
            found.append(Resource.provider_id.in_(sorted(self.provider_ids)))
        if self.resource_type:
            found.append(Resource.resource_type == self.resource_type)
        if self.region:
            found.append(Resource.region == self.region)
        if self.state:
            found.append(Resource.state == self.state)
        if self.tag:
            key, has_value, value = self.tag.partition("=")
            tag = Resource.tags[key].as_string()
            found.append(tag == value if has_value else tag.is_not(None))
        if self.name_contains:
            escaped = self.name_contains.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            found.append(func.lower(Resource.name).like(f"%{escaped}%", escape="\\"))
        if self.cost_above is not None:
            found.append(Resource.hourly_cost > self.cost_above)
        return found


@dataclass(frozen=True)
class ResourcePage:
    items: list[Any]  # rows with the Resource columns as attributes
    next_cursor: str | None


def list_resources(
    session: Session, where: ResourceFilter, *, sort: str = "created_at", limit: int, cursor: str | None = None
) -> ResourcePage:
    name = sort.removeprefix("-")
    key = SORTS.get(name)
    if key is None:
        raise InvalidRequest(f"sort by one of {', '.join(SORTS)} (prefix - for descending), not {sort!r}")
    # plain rows, not ORM objects: a page is read, never changed, and this halves its cost
    query = seek(
        select(*Resource.__table__.columns).where(*where.clauses()), key, Resource.id, limit=limit, cursor=cursor,
        descending=sort.startswith("-"), decode=lambda raw: _cursor_value(name, raw),
    )  # fmt: skip
    rows: list[Any] = list(session.execute(query))
    return ResourcePage(*page_of(rows, limit, lambda row: _sort_value(name, row)))


def _sort_value(sort: str, row: Resource) -> Any:
    if sort == "hourly_cost":
        return str(row.hourly_cost if row.hourly_cost is not None else Decimal(-1))
    if sort == "created_at":
        return row.created_at.isoformat()
    return getattr(row, sort)


def _cursor_value(sort: str, raw: Any) -> Any:
    if sort == "hourly_cost":
        return Decimal(str(raw))
    if sort == "created_at":
        return datetime.fromisoformat(str(raw))
    return str(raw)


def get_resource(session: Session, resource_id: uuid.UUID) -> Resource:
    row = session.get(Resource, resource_id)
    if row is None:
        raise NotFound(f"no resource with id {resource_id}")
    return row


def public_view(row: Resource) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "provider_id": str(row.provider_id),
        "cloud_id": None if row.cloud_id.startswith(PENDING_PREFIX) else row.cloud_id,
        "name": row.name,
        "type": row.resource_type,
        "subtype": row.subtype,
        "region": row.region,
        "zone": row.zone,
        "size": row.size,
        "state": row.state,
        "account_id": row.account_id,
        "tags": row.tags,
        "details": row.details,
        "protected": row.protected,
        "cost_rate": None
        if row.hourly_cost is None
        else {"hourly": str(row.hourly_cost), "monthly": str(row.hourly_cost * 730), "currency": row.cost_currency},
        "launched_at": row.launched_at.isoformat() if row.launched_at else None,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
        "terminated_at": row.terminated_at.isoformat() if row.terminated_at else None,
    }
