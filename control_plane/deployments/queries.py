"""The read side of deployments: the list, one deployment in detail (with each resource's cost
estimate beside its billed cost when the serving snapshot has it), the state of its latest apply,
and its log lines. Keyword-only functions; nothing here writes."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
from sqlalchemy import String, cast, false, func, or_, select
from sqlalchemy.orm import Session

from analytics.money import format_amount
from control_plane.pagination import page_of, seek
from control_plane.services.errors import NotFound
from control_plane.serving import SnapshotReader
from control_plane.store.deployment_models import (
    Deployment,
    DeploymentLog,
    DeploymentResource,
    DeploymentStep,
    DeploymentVersion,
)
from control_plane.store.models import Provider, Resource
from wedcloud.snapshots import SnapshotInfo

ACTUAL_DAYS = 30  # the billed cost beside the estimate: the last 30 billed days
LOG_LEVELS = ("debug", "info", "warning", "error")
# a journal step that will not move again in this apply
FINISHED_STEPS = ("done", "failed", "skipped", "undone", "undo_failed")


@dataclass(frozen=True)
class DeploymentPage:
    items: list[dict[str, Any]]
    next_cursor: str | None


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _money(amount: Decimal | None) -> str | None:
    return format_amount(amount) if amount is not None else None


def get_deployment(session: Session, deployment_id: uuid.UUID) -> Deployment:
    found = session.get(Deployment, deployment_id)
    if found is None:
        raise NotFound(f"no deployment with id {deployment_id}")
    return found


def summary_view(row: Deployment, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A deployment as the list shows it: ``names`` maps a provider id to its name."""
    names = names or {}
    return {
        "id": str(row.id),
        "name": row.name,
        "environment": row.environment,
        "status": row.status,
        "on_failure": row.on_failure,
        "current_version": row.current_version,
        "latest_version": row.latest_version,
        "providers": [{"id": key, "name": names.get(key)} for key in row.provider_ids or []],
        "created_by": row.created_by,
        "created_at": _iso(row.created_at),
        "updated_at": _iso(row.updated_at),
    }


def _provider_names(session: Session) -> dict[str, str]:
    return {str(p.id): p.name for p in session.scalars(select(Provider))}


def list_deployments(
    session: Session,
    *,
    status: str | None = None,
    provider_ids: Collection[uuid.UUID] | None = None,
    environment: str | None = None,
    limit: int,
    cursor: str | None = None,
) -> DeploymentPage:
    """Newest first. ``provider_ids``: only deployments with a resource on one of them (none
    when empty); ``environment``: its ``env`` parameter or tag, as the template rendered it."""
    query = select(Deployment)
    if status:
        query = query.where(Deployment.status == status)
    if environment:
        query = query.where(Deployment.environment == environment)
    if provider_ids is not None:
        # provider_ids is a JSON list of id strings: matched as text, the same on SQLite and
        # PostgreSQL (an id is hex and dashes, nothing LIKE treats specially)
        listed = cast(Deployment.provider_ids, String)
        query = query.where(or_(false(), *(listed.like(f'%"{key}"%') for key in sorted(map(str, provider_ids)))))
    query = seek(
        query, Deployment.created_at, Deployment.id, limit=limit, cursor=cursor, descending=True,
        decode=datetime.fromisoformat,
    )  # fmt: skip
    rows, next_cursor = page_of(list(session.scalars(query)), limit, lambda d: d.created_at.isoformat())
    names = _provider_names(session) if rows else {}
    return DeploymentPage([summary_view(row, names) for row in rows], next_cursor)


def version_view(version: DeploymentVersion, *, full: bool = False) -> dict[str, Any]:
    view: dict[str, Any] = {
        "number": version.number,
        "kind": version.kind,
        "outcome": version.outcome,
        "author": version.author,
        "rollback_of": version.rollback_of,
        "operation_id": str(version.operation_id) if version.operation_id else None,
        "error": version.error,
        "created_at": _iso(version.created_at),
        "finished_at": _iso(version.finished_at),
    }
    if full:
        view.update(template=version.template, parameters=version.parameters)
    return view


def _versions(session: Session, deployment_id: uuid.UUID) -> list[DeploymentVersion]:
    query = select(DeploymentVersion).where(DeploymentVersion.deployment_id == deployment_id)
    return list(session.scalars(query.order_by(DeploymentVersion.number)))


def deployment_detail(
    session: Session,
    *,
    deployment_id: uuid.UUID,
    reader: SnapshotReader | None = None,
    snapshot: SnapshotInfo | None = None,
) -> dict[str, Any]:
    """The deployment, the template and parameters of its current version (the latest while none
    is applied yet), each resource with its cloud id, estimate and billed cost, its outputs and
    every version in short."""
    row = get_deployment(session, deployment_id)
    names = _provider_names(session)
    versions = _versions(session, row.id)
    shown = next((v for v in versions if v.number == row.current_version), versions[-1] if versions else None)
    resources = list(
        session.scalars(
            select(DeploymentResource)
            .where(DeploymentResource.deployment_id == row.id)
            .order_by(DeploymentResource.logical_name)
        )
    )
    rows = {r.id: r for r in session.scalars(select(Resource).where(Resource.id.in_(
        [r.resource_id for r in resources if r.resource_id is not None])))}  # fmt: skip
    estimates = {r.logical_name: _planned_estimate(r, versions) for r in resources}
    actual = billed_costs(reader, snapshot, [(r.provider_id, r.cloud_id) for r in resources if r.cloud_id])
    return {
        **summary_view(row, names),
        "version": version_view(shown, full=True) if shown is not None else None,
        "resources": [
            _resource_view(
                r, rows.get(r.resource_id) if r.resource_id else None, names, actual, estimates[r.logical_name]
            )
            for r in resources
        ],
        "outputs": row.outputs or {},
        "monthly_estimate": _total_estimate(estimates.values()),
        "versions": [version_view(v) for v in reversed(versions)],
    }


def _planned_estimate(
    item: DeploymentResource, versions: Sequence[DeploymentVersion]
) -> tuple[Decimal, str | None] | None:
    """The resource's monthly estimate and currency: as stored with it, else as priced by the plan
    of the version that last made or changed it."""
    if item.monthly_estimate is not None:
        return item.monthly_estimate, item.currency
    plan = next((v.plan for v in versions if v.number == item.version), None) or {}
    step = next((s for s in plan.get("steps", []) if s.get("name") == item.logical_name), None)
    amount = step.get("monthly_estimate") if step else None
    if amount is None:
        return None
    return Decimal(str(amount)), (plan.get("monthly_estimate") or {}).get("currency")


def _resource_view(
    item: DeploymentResource,
    row: Resource | None,
    names: dict[str, str],
    actual: dict[tuple[str, str], dict[str, Any]],
    estimate: tuple[Decimal, str | None] | None,
) -> dict[str, Any]:
    key = (str(item.provider_id), (item.cloud_id or "").lower())
    return {
        "name": item.logical_name,
        "provider": {"id": str(item.provider_id), "name": names.get(str(item.provider_id))},
        "type": item.subtype,  # a template type is its subtype (spec.TYPES)
        "region": item.region,
        "size": item.size,
        "tags": item.tags or {},
        "cloud_id": item.cloud_id,
        "resource_id": str(item.resource_id) if item.resource_id else None,
        "state": row.state if row is not None else None,
        "version": item.version,
        "monthly_estimate": {"amount": _money(estimate[0]), "currency": estimate[1]} if estimate else None,
        "actual_cost": actual.get(key) if item.cloud_id else None,
        "attributes": item.attributes or {},
    }


def _total_estimate(estimates: Iterable[tuple[Decimal, str | None] | None]) -> list[dict[str, str]]:
    """The resources' monthly estimates summed per currency (never added across currencies)."""
    totals: dict[str, Decimal] = {}
    for found in estimates:
        if found is not None and found[1]:
            totals[found[1]] = totals.get(found[1], Decimal(0)) + found[0]
    return [{"amount": format_amount(amount), "currency": cur} for cur, amount in sorted(totals.items())]


def billed_costs(
    reader: SnapshotReader | None, snapshot: SnapshotInfo | None, resources: Sequence[tuple[uuid.UUID, str | None]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """(provider id, lower-cased cloud id) -> the effective cost the bills show for it over the
    provider's last ``ACTUAL_DAYS`` billed days (FOCUS ResourceId = cloud id). A resource the
    snapshot has no line for is absent."""
    wanted: dict[str, list[str]] = {}
    for provider_id, cloud_id in resources:
        if cloud_id:
            wanted.setdefault(str(provider_id), []).append(cloud_id.lower())
    if reader is None or snapshot is None or not wanted:
        return {}

    def compute() -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for source, cloud_ids in wanted.items():
            try:
                (through,) = reader.query(
                    snapshot, "SELECT max(ChargeDate) FROM cost_detail_daily WHERE x_SourceId = $1", [source]
                )[0]
                if through is None:
                    continue
                start = through - timedelta(days=ACTUAL_DAYS - 1)
                rows = reader.query(
                    snapshot,
                    "SELECT lower(ResourceId), BillingCurrency, sum(EffectiveCost) FROM cost_detail_daily "
                    "WHERE x_SourceId = $1 AND list_contains($2, lower(ResourceId)) AND ChargeDate BETWEEN $3 AND $4 "
                    "GROUP BY 1, 2 ORDER BY 1, 2",
                    [source, cloud_ids, start, through],
                )
            except duckdb.CatalogException:  # a snapshot without per-resource costs
                return {}
            for cloud_id, currency, amount in rows:
                found.setdefault((source, cloud_id), _actual(Decimal(amount), currency, start, through))
        return found

    key = ("deployment-billed", tuple(sorted((s, tuple(sorted(ids))) for s, ids in wanted.items())))
    result: dict[tuple[str, str], dict[str, Any]] = reader.memoized(snapshot, key, compute)
    return result


def _actual(amount: Decimal, currency: str, start: date, through: date) -> dict[str, Any]:
    return {"amount": format_amount(amount), "currency": currency, "from": start.isoformat(),
            "through": through.isoformat(), "days": ACTUAL_DAYS}  # fmt: skip


def step_view(step: DeploymentStep) -> dict[str, Any]:
    return {
        "seq": step.seq,
        "name": step.logical_name,
        "action": step.action,
        "status": step.status,
        "depends_on": list(step.depends_on or []),
        "started_at": _iso(step.started_at),
        "finished_at": _iso(step.finished_at),
        "error": step.error,
    }


def deployment_status(session: Session, *, deployment_id: uuid.UUID) -> dict[str, Any]:
    """Its state, versions, each step of its latest apply with the progress, and the drift the
    last check stored."""
    row = get_deployment(session, deployment_id)
    latest = session.scalar(
        select(DeploymentVersion)
        .where(DeploymentVersion.deployment_id == row.id)
        .order_by(DeploymentVersion.number.desc())
        .limit(1)
    )
    steps: list[DeploymentStep] = []
    if latest is not None and latest.operation_id is not None:
        steps = list(
            session.scalars(
                select(DeploymentStep)
                .where(DeploymentStep.deployment_id == row.id, DeploymentStep.operation_id == latest.operation_id)
                .order_by(DeploymentStep.seq)
            )
        )
    return {
        "id": str(row.id),
        "name": row.name,
        "status": row.status,
        "current_version": row.current_version,
        "latest_version": row.latest_version,
        "apply": version_view(latest) if latest is not None else None,
        "steps": [step_view(s) for s in steps],
        "progress": {"done": sum(s.status in FINISHED_STEPS for s in steps), "total": len(steps)},
        "drift": row.drift,
        "drift_checked_at": _iso(row.drift_checked_at),
    }


@dataclass(frozen=True)
class LogPage:
    items: list[dict[str, Any]]
    next_after: int | None  # pass as ``after`` for the lines written since (None: no line yet)
    more: bool  # more lines already wait after this page


def deployment_logs(
    session: Session,
    *,
    deployment_id: uuid.UUID,
    level: str | None = None,
    step: str | None = None,
    version: int | None = None,
    after: int | None = None,
    limit: int,
) -> LogPage:
    """Its log lines in the order they were written, from after the line ``after``. ``level``
    keeps that level and the more severe ones; ``step`` a step's label or every step of one
    logical resource."""
    get_deployment(session, deployment_id)
    query = select(DeploymentLog).where(DeploymentLog.deployment_id == deployment_id)
    if level is not None:
        query = query.where(func.lower(DeploymentLog.level).in_(LOG_LEVELS[LOG_LEVELS.index(level) :]))
    if step is not None:  # a step's label (``2:update:web``) or its resource's logical name (``web``)
        query = query.where(or_(DeploymentLog.step == step, DeploymentLog.step.endswith(f":{step}", autoescape=True)))
    if version is not None:
        query = query.where(DeploymentLog.version == version)
    if after is not None:
        query = query.where(DeploymentLog.id > after)
    rows = list(session.scalars(query.order_by(DeploymentLog.id).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    next_after = rows[-1].id if rows else after
    return LogPage([log_view(r) for r in rows], next_after, more)


def log_view(line: DeploymentLog) -> dict[str, Any]:
    return {
        "id": line.id,
        "at": _iso(line.at),
        "level": line.level,
        "step": line.step,
        "message": line.message,
        "version": line.version,
        "operation_id": str(line.operation_id) if line.operation_id else None,
    }
