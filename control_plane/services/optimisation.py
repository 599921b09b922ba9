"""Optimisation recommendations in the state store: stored by stable id, listed, and applied.

Applying one is an operation: it records the resource's configuration (and, before a delete or
terminate, a snapshot of its data), makes the change through the provider's adapter, verifies
the resource is healthy, and puts it back if it is not. The recommendation keeps the outcome,
including the steps that would undo the change (its rollback procedure).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from analytics.money import format_amount
from analytics.optimisation.model import Recommendation
from clouds.base import CloudProvider, CloudResource, ResourceState
from control_plane.pagination import decode_cursor, encode_cursor
from control_plane.services import operations
from control_plane.services.errors import Conflict, InvalidRequest, NotFound
from control_plane.services.provider_keys import find_provider
from control_plane.services.resources import target_of
from control_plane.store.models import Operation, Provider, RecommendationRow
from control_plane.store.models import Resource as ResourceRow

OPEN, APPLYING, APPLIED, REVERTED, FAILED, DISMISSED, OBSOLETE = (
    "open", "applying", "applied", "reverted", "failed", "dismissed", "obsolete",
)  # fmt: skip
STATUSES = (OPEN, APPLYING, APPLIED, REVERTED, FAILED, DISMISSED, OBSOLETE)
APPLICABLE = (OPEN, REVERTED, FAILED)  # an apply may be (re)tried from these
IN_PROGRESS = "in_progress"  # outcome.result while the change is under way
HEALTH_TAG = "wedcloud:health-url"
SCHEDULE_TAG = "wedcloud:schedule"
HEALTH_ATTEMPTS = 3
HEALTH_PAUSE_SECONDS = 1.0
AdapterFor = Callable[[Provider, Session], CloudProvider]


# ---------------------------------------------------------------- storing


def store_recommendations(
    session: Session, found: Sequence[Recommendation], *, providers: Sequence[str], seen_at: datetime
) -> dict[str, int]:
    """Upsert ``found`` by id. A recommendation already applied, applying or dismissed keeps its
    status (its figures are refreshed); an obsolete one found again reopens. Open ones of the
    analysed ``providers`` that were not found become obsolete."""
    existing = {
        row.id: row
        for row in session.scalars(select(RecommendationRow).where(RecommendationRow.id.in_([r.id for r in found])))
    }
    created = updated = 0
    for rec in found:
        row = existing.get(rec.id)
        if row is None:
            row = RecommendationRow(id=rec.id, status=OPEN, first_seen_at=seen_at, outcome={})
            session.add(row)
            created += 1
        else:
            updated += 1
            if row.status == OBSOLETE:
                row.status = OPEN
        row.provider, row.kind, row.action, row.target = rec.provider, rec.kind, rec.action, rec.target
        row.resource_id, row.account_id, row.region = rec.resource_id, rec.account_id, rec.region
        row.monthly_saving, row.saving_rank, row.currency = rec.monthly_saving, float(rec.monthly_saving), rec.currency
        row.evidence, row.risk, row.risk_reason = dict(rec.evidence), rec.risk, rec.risk_reason
        row.confidence, row.confidence_reason = rec.confidence, rec.confidence_reason
        row.last_seen_at = seen_at
    ids = [rec.id for rec in found]
    stale = session.scalars(
        select(RecommendationRow).where(
            RecommendationRow.provider.in_(list(providers)),
            RecommendationRow.status == OPEN,
            RecommendationRow.id.not_in(ids),
        )
    ).all()
    for row in stale:
        row.status = OBSOLETE
    session.flush()
    return {"recommendations": len(found), "created": created, "updated": updated, "obsolete": len(stale)}


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class RecommendationFilter:
    """``providers``: the keys of the providers to list (``provider_filters.select_providers``)."""

    kind: str | None = None
    providers: frozenset[str] | None = None
    account_id: str | None = None
    status: str | None = None
    min_saving: Decimal | None = None
    resource_id: str | None = None

    def clauses(self) -> list[Any]:
        if self.status is not None and self.status not in STATUSES:
            raise InvalidRequest(f"status must be one of {', '.join(STATUSES)}", parameter="status")
        found: list[ColumnElement[bool]] = []
        if self.providers is not None:
            found.append(RecommendationRow.provider.in_(sorted(self.providers)))
        for column, value in (
            (RecommendationRow.kind, self.kind),
            (RecommendationRow.account_id, self.account_id), (RecommendationRow.status, self.status),
            (RecommendationRow.resource_id, self.resource_id),
        ):  # fmt: skip
            if value is not None:
                found.append(column == value)
        if self.min_saving is not None:
            found.append(RecommendationRow.saving_rank >= float(self.min_saving))
        return found


@dataclass(frozen=True)
class RecommendationPage:
    items: list[RecommendationRow]
    next_cursor: str | None
    total: int
    potential: dict[str, Decimal]  # per currency: the open ones' monthly saving


def list_recommendations(
    session: Session, where: RecommendationFilter, *, limit: int, cursor: str | None = None
) -> RecommendationPage:
    """Biggest saving first (then id), a page at a time; ``total`` and ``potential`` cover every
    match. ``potential`` counts open ones only (what could still be saved), and one per resource,
    its biggest: a rightsizing and a schedule of the same machine do not add up."""
    clauses = where.clauses()
    query = select(RecommendationRow).where(*clauses)
    if cursor:
        rank, last_id = decode_cursor(cursor, 2)
        if not isinstance(rank, int | float) or not isinstance(last_id, str):
            raise InvalidRequest("the cursor is not one this API issued; start again without `cursor`")
        query = query.where(
            or_(
                RecommendationRow.saving_rank < rank,
                and_(RecommendationRow.saving_rank == rank, RecommendationRow.id > last_id),
            )
        )
    rows = list(
        session.scalars(query.order_by(RecommendationRow.saving_rank.desc(), RecommendationRow.id).limit(limit + 1))
    )
    next_cursor = encode_cursor(rows[limit - 1].saving_rank, rows[limit - 1].id) if len(rows) > limit else None
    total = session.scalar(select(func.count()).select_from(RecommendationRow).where(*clauses)) or 0
    best: dict[tuple[str, str], tuple[str, Decimal]] = {}
    for provider, resource, currency, amount in session.execute(
        select(
            RecommendationRow.provider, RecommendationRow.resource_id, RecommendationRow.currency,
            RecommendationRow.monthly_saving,
        ).where(*clauses, RecommendationRow.status == OPEN)
    ):  # fmt: skip
        if (provider, resource) not in best or amount > best[(provider, resource)][1]:
            best[(provider, resource)] = (currency, amount)
    potential: dict[str, Decimal] = {}
    for currency, amount in best.values():
        potential[currency] = potential.get(currency, Decimal(0)) + amount
    return RecommendationPage(rows[:limit], next_cursor, total, potential)


def provider_keys_in_use(session: Session) -> list[str]:
    """The provider keys recommendations are stored under (a removed provider's among them)."""
    return list(session.scalars(select(RecommendationRow.provider).distinct()))


def get_recommendation(session: Session, rec_id: str) -> RecommendationRow:
    row = session.get(RecommendationRow, rec_id)
    if row is None:
        raise NotFound(f"no recommendation with id {rec_id!r}")
    return row


def dismiss(session: Session, rec_id: str) -> RecommendationRow:
    """Dismissed stays dismissed: a later run refreshes its figures but not its status."""
    row = get_recommendation(session, rec_id)
    if row.status in (APPLYING, APPLIED):
        raise Conflict(f"recommendation {row.id} is {row.status}; it cannot be dismissed", state=row.status)
    row.status = DISMISSED
    return row


def public_view(
    row: RecommendationRow, realised: dict[str, Any] | None = None, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The API's view; ``names`` (``provider_keys.labels``) shows the provider by its name."""
    return {
        "id": row.id,
        "kind": row.kind,
        "provider": (names or {}).get(row.provider, row.provider),
        "account_id": row.account_id,
        "region": row.region,
        "resource_id": row.resource_id,
        "action": row.action,
        "target": row.target,
        "monthly_saving": format_amount(row.monthly_saving),
        "currency": row.currency,
        "evidence": row.evidence,
        "risk": row.risk,
        "risk_reason": row.risk_reason,
        "confidence": round(row.confidence, 3),
        "confidence_reason": row.confidence_reason,
        "status": row.status,
        "first_seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
        "applied_at": row.applied_at.isoformat() if row.applied_at else None,
        "applied_by": row.applied_by,
        "operation_id": str(row.operation_id) if row.operation_id else None,
        "outcome": row.outcome or None,
        "realised": realised,
    }


# ---------------------------------------------------------------- applying


@dataclass(frozen=True)
class Change:
    """What an apply does to the resource, and what undoes it."""

    steps: list[str]
    expected_state: str | None  # what verification expects afterwards
    expected_size: str | None
    rollback: list[str]
    needs_data_snapshot: bool


def provider_of(session: Session, row: RecommendationRow) -> Provider:
    """The recommendation's provider, by its key (``provider_keys``: the id; a name before re-keying)."""
    provider = find_provider(session, row.provider)
    if provider is None:
        raise NotFound(f"the recommendation's provider {row.provider!r} is no longer registered")
    return provider


def change_for(row: RecommendationRow, current: CloudResource) -> Change:
    """The exact change an apply makes, from the resource as the provider reports it now."""
    rid, size, state = row.resource_id, current.size, current.state.value
    running = current.state == ResourceState.RUNNING
    if row.action == "resize":
        if row.target is None:
            raise InvalidRequest("this recommendation names no target type")
        measured = (row.evidence.get("current") or {}).get("type")
        if measured is not None and size != measured:
            raise Conflict(
                f"{rid} is {size} now, not the {measured} the recommendation was made for; run the analysis again",
                state=size,
            )
        restart = [f"stop {rid}", f"change type of {rid} from {size} to {row.target}", f"start {rid}"]
        back = [f"stop {rid}", f"change type of {rid} from {row.target} back to {size}", f"start {rid}"]
        return Change(restart if running else restart[1:2], state, row.target, back if running else back[1:2], False)
    if row.action == "stop":
        return Change([f"stop {rid}"], ResourceState.STOPPED.value, size, [f"start {rid}"], False)
    if row.kind == "unattached_ip":  # an address holds no data: nothing to snapshot, nothing to restore
        gone = ["allocate a new address: this one cannot be recovered"]
        return Change([f"release {rid}"], ResourceState.TERMINATED.value, None, gone, False)
    if row.action in ("terminate", "delete"):
        steps = [f"snapshot {rid}", f"{row.action} {rid}"]
        return Change(steps, ResourceState.TERMINATED.value, None, [f"restore {rid} from the snapshot"], True)
    if row.action == "schedule":
        tag = f"{SCHEDULE_TAG}={row.target}"
        return Change([f"tag {rid} with {tag}"], state, size, [f"restore the tags of {rid}"], False)
    raise InvalidRequest(f"applying a {row.action!r} recommendation is not supported through the API")


def plan_view(row: RecommendationRow, current: CloudResource, change: Change) -> dict[str, Any]:
    """A dry run's answer: what would change, exactly, and how it would be undone."""
    return {
        "dry_run": True,
        "recommendation": row.id,
        "resource": {"id": current.id, "state": current.state.value, "size": current.size, "tags": dict(current.tags)},
        "steps": change.steps,
        "verify": _verify_text(current, change),
        "rollback": change.rollback,
        "monthly_saving": format_amount(row.monthly_saving),
        "currency": row.currency,
    }


def purchase_plan(row: RecommendationRow) -> dict[str, Any]:
    """A commitment purchase's dry run: what would be bought; nothing undoes it once bought."""
    return {
        "dry_run": True,
        "recommendation": row.id,
        "resource": {"id": row.resource_id, "state": None, "size": None, "tags": {}},
        "steps": [f"purchase {row.target} for {row.resource_id} in the provider's console"],
        "verify": [],
        "rollback": ["none: a commitment cannot be returned once bought; the evidence has its break-even month"],
        "monthly_saving": format_amount(row.monthly_saving),
        "currency": row.currency,
    }


def _verify_text(current: CloudResource, change: Change) -> list[str]:
    checks = []
    if change.expected_state:
        checks.append(f"state is {change.expected_state}")
    if change.expected_size:
        checks.append(f"type is {change.expected_size}")
    if url := current.tags.get(HEALTH_TAG):
        checks.append(f"GET {url} answers 2xx (within {HEALTH_ATTEMPTS} tries)")
    return checks


def begin_apply(
    session: Session, row: RecommendationRow, *, actor: str, idempotency_key: str | None
) -> tuple[Any, bool]:
    """The apply's operation (new, or the one already running or done). Applying an applied
    recommendation again is harmless: it answers with the operation that applied it. The status
    moves by a conditional update, so of two concurrent applies one starts and the other is
    refused; a recommendation left ``applying`` by an operation that died may be applied again."""
    earlier = session.get(Operation, row.operation_id) if row.operation_id is not None else None
    if row.status in (APPLIED, APPLYING) and earlier is not None:
        if row.status == APPLIED or earlier.status in operations.IN_FLIGHT:
            return earlier, False
    elif row.status not in APPLICABLE:
        raise Conflict(f"recommendation {row.id} is {row.status}; only open, reverted or failed ones can be applied",
                       state=row.status)  # fmt: skip
    provider = provider_of(session, row)
    known = _resource_row(session, provider, row.resource_id)
    operation_id = uuid.uuid4()
    moved = session.execute(
        update(RecommendationRow)
        .where(RecommendationRow.id == row.id, RecommendationRow.status == row.status)
        .where(_same(RecommendationRow.operation_id, row.operation_id))
        .values(status=APPLYING, operation_id=operation_id)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"recommendation {row.id} is being applied by another request now; poll its status")
    operation, created = operations.begin(
        session, kind="apply_recommendation", actor=actor,
        request={"recommendation": row.id, "action": row.action, "target": row.target},
        provider_id=provider.id, resource_id=known.id if known else None, idempotency_key=idempotency_key,
        target=target_for(provider, row.resource_id, known), operation_id=operation_id,
    )  # fmt: skip
    session.refresh(row)
    return operation, created


def _same(column: Any, value: Any) -> Any:
    return column.is_(None) if value is None else column == value


def target_for(provider: Provider, cloud_id: str, known: ResourceRow | None) -> str:
    """What an apply changes, named as the resource actions name it when WedCloud has a row."""
    return target_of(known.id) if known is not None else f"cloud:{provider.id}:{cloud_id}"[:600]


def _resource_row(session: Session, provider: Provider, cloud_id: str) -> ResourceRow | None:
    """WedCloud's row of the resource, when a sync or a provision made one."""
    return session.scalar(
        select(ResourceRow).where(ResourceRow.provider_id == provider.id, ResourceRow.cloud_id == cloud_id)
    )


HealthProbe = Callable[[str], tuple[bool, str]]  # health.http_health: through the outbound guard
