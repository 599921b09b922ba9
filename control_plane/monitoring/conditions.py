"""What each rule kind finds breaching now: one :class:`Breach` per label set.

Metric rules read the state store's samples; ``provider_unreachable`` the collector's
``monitor_status`` rows; the cost rules the current serving snapshot (read-only), with the
budget status and anomaly signals that the budgets API and budget alerts use; ``drift`` the
deployments' stored drift checks; ``disaster_recovery`` the plans' backups, status and health
checks. A rule whose
data cannot be read this round answers None (unknown): its alerts are left as they are.
"""

from __future__ import annotations

import json
import logging
import math
import operator
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from analytics.money import format_amount
from analytics.overview import Queryable, latest_charge_date
from control_plane.deployments import drift as deployment_drift
from control_plane.disaster_recovery.alarms import alarms as recovery_alarms
from control_plane.services.anomalies import list_anomalies
from control_plane.services.budgets import evaluate_budget, read_series
from control_plane.store.models import Budget, Provider, Resource
from control_plane.store.monitoring_models import AlertRule, MetricSample, MonitorStatus
from wedcloud import snapshots

log = logging.getLogger(__name__)
IN_LIMIT = 500

LOOKBACK = timedelta(minutes=5)  # how old a resource's newest sample may be and still be judged
COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip


@dataclass(frozen=True)
class Breach:
    labels: dict[str, str]
    value: float | None = None
    resource_id: uuid.UUID | None = None
    provider_id: uuid.UUID | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What one evaluation round reads once and shares between its rules."""

    session: Session
    now: datetime
    serving_dir: Path | None = None
    providers: dict[uuid.UUID, str] = field(default_factory=dict)
    query: Queryable | None = None
    data_through: date | None = None
    snapshot_version: str | None = None
    selections: dict[str, dict[uuid.UUID, Any]] = field(default_factory=dict)


def selected_resources(session: Session, selector: dict[str, Any]) -> list[Any]:
    """The resources a selector names that still exist (not terminated): rows of id, name,
    provider_id, tags and created_at."""
    columns = (Resource.id, Resource.name, Resource.provider_id, Resource.tags, Resource.created_at)
    query: Select[Any] = select(*columns).where(Resource.state != "terminated", Resource.terminated_at.is_(None))
    if selector.get("provider"):
        query = query.where(Resource.provider_id.in_([uuid.UUID(p) for p in selector["provider"]]))
    if selector.get("resources"):
        query = query.where(Resource.id.in_([uuid.UUID(r) for r in selector["resources"]]))
    tags = selector.get("tags") or {}
    return [r for r in session.execute(query) if all(str((r.tags or {}).get(k)) == str(v) for k, v in tags.items())]


def _selection(ctx: Context, rule: AlertRule) -> dict[uuid.UUID, Any]:
    """The rule's selected resources by id, read once per round for each distinct selector."""
    selector = rule.spec.get("selector") or {}
    key = json.dumps(selector, sort_keys=True)
    if key not in ctx.selections:
        ctx.selections[key] = {r.id: r for r in selected_resources(ctx.session, selector)}
    return ctx.selections[key]


def _among(query: Any, resources: Mapping[uuid.UUID, Any]) -> Any:
    """``query`` cut to the resources in SQL when they are few; a large selection (a fleet) is
    filtered by the caller, as an IN list of thousands of ids would be slower, and past
    SQLite's limit on parameters."""
    if len(resources) <= IN_LIMIT:
        return query.where(MetricSample.resource_id.in_(list(resources)))
    return query


def _resource_breach(ctx: Context, resource: Any, value: float | None, **detail: Any) -> Breach:
    return Breach(
        labels={"resource": resource.name, "resource_id": str(resource.id),
                "provider": ctx.providers.get(resource.provider_id, ""), "provider_id": str(resource.provider_id)},
        value=value, resource_id=resource.id, provider_id=resource.provider_id, detail=detail,
    )  # fmt: skip


def _aggregate(values: list[float], aggregation: str) -> float:
    if aggregation == "max":
        return max(values)
    if aggregation == "min":
        return min(values)
    if aggregation == "p95":  # linear interpolation, as the sample store's p95
        ordered = sorted(values)
        rank = 0.95 * (len(ordered) - 1)
        low = math.floor(rank)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
    return sum(values) / len(values)


def threshold(ctx: Context, rule: AlertRule) -> list[Breach] | None:
    """Each selected resource whose metric, aggregated over ``window`` of its samples, compares
    true with the threshold. The window ends at the resource's newest sample when that is at most
    ``LOOKBACK`` old (clouds publish a minute or more late: CloudWatch, Cloud Monitoring), as
    Prometheus's lookback delta lets an instant query see the last sample. A resource without a
    sample in the lookback is not judged (an absence rule reports that)."""
    spec = rule.spec
    resources = _selection(ctx, rule)
    if not resources:
        return []
    metric = getattr(MetricSample, spec["metric"])
    window = timedelta(seconds=float(spec.get("window", 60)))
    # most resources have a sample in the last window: two windows back hold all their window needs
    samples = _window_samples(ctx, resources, metric, ctx.now - 2 * window)
    recent = {rid for rid, found in samples.items() if max(at for at, _ in found) > ctx.now - window}
    late = {rid: row for rid, row in resources.items() if rid not in recent}
    if late:  # the rest (a cloud's data lags): look back further, for them only
        samples |= _window_samples(ctx, late, metric, ctx.now - LOOKBACK - window)
    compare, limit = COMPARE[spec["comparator"]], float(spec["threshold"])
    breaches = []
    for resource_id, found in samples.items():
        newest = max(at for at, _ in found)
        if newest <= ctx.now - LOOKBACK:
            continue
        values = [value for at, value in found if at > newest - window]
        value = _aggregate(values, spec.get("aggregation", "avg"))
        if compare(value, limit):
            breaches.append(_resource_breach(ctx, resources[resource_id], round(value, 6), samples=len(values)))
    return breaches


def _window_samples(
    ctx: Context, resources: Mapping[uuid.UUID, Any], metric: Any, since: datetime
) -> dict[uuid.UUID, list[tuple[datetime, float]]]:
    query: Select[Any] = select(MetricSample.resource_id, MetricSample.at, metric).where(
        MetricSample.at > since, MetricSample.at <= ctx.now, metric.is_not(None)
    )
    found: dict[uuid.UUID, list[tuple[datetime, float]]] = {}
    for resource_id, at, value in ctx.session.execute(_among(query, resources)):
        if resource_id in resources:
            found.setdefault(resource_id, []).append((at, float(value)))
    return found


def absence(ctx: Context, rule: AlertRule) -> list[Breach] | None:
    """Each selected resource with no sample for ``minutes``: its newest sample (or, when it has
    none, its creation) is that old or older."""
    resources = _selection(ctx, rule)
    if not resources:
        return []
    query = select(MetricSample.resource_id, func.max(MetricSample.at).label("at"))
    newest = {
        row[0]: row[1] for row in ctx.session.execute(_among(query, resources).group_by(MetricSample.resource_id))
    }
    quiet = timedelta(minutes=float(rule.spec["minutes"]))
    breaches = []
    for resource_id, resource in resources.items():
        last = newest.get(resource_id) or resource.created_at
        if ctx.now - last >= quiet:
            minutes = round((ctx.now - last).total_seconds() / 60, 2)
            seen = newest.get(resource_id)
            breaches.append(_resource_breach(ctx, resource, minutes, last_sample_at=seen.isoformat() if seen else None))
    return breaches


def provider_unreachable(ctx: Context, rule: AlertRule) -> list[Breach] | None:
    """Each selected provider whose last ``failures`` collection attempts all failed (the
    collector's ``provider:<id>`` status rows); the value is how many failed in a row."""
    wanted = {uuid.UUID(p) for p in (rule.spec.get("selector") or {}).get("provider") or []}
    needed = int(rule.spec.get("failures", 1))
    breaches = []
    for status in ctx.session.scalars(select(MonitorStatus).where(MonitorStatus.name.like("provider:%"))):
        if status.provider_id is None or (wanted and status.provider_id not in wanted):
            continue
        recent = list(status.recent or [])
        streak = next((n for n, o in enumerate(reversed(recent)) if o.get("ok")), len(recent))
        if not recent and not status.ok:
            streak = 1
        if status.ok or streak < needed:
            continue
        breaches.append(
            Breach(
                labels={"provider": ctx.providers.get(status.provider_id, ""), "provider_id": str(status.provider_id)},
                value=float(streak), provider_id=status.provider_id,
                detail={"last_error": status.last_error,
                        "last_success_at": status.last_success_at.isoformat() if status.last_success_at else None},
            )
        )  # fmt: skip
    return breaches


def budget_forecast(ctx: Context, rule: AlertRule) -> list[Breach] | None:
    """The budget, while its period-end forecast (as its status shows it) is at or above
    ``percent`` of its amount; the value is the forecast's percent."""
    if ctx.query is None or ctx.data_through is None:
        return None
    budget = ctx.session.get(Budget, uuid.UUID(rule.spec["budget_id"]))
    if budget is None:
        return []
    try:
        evaluation = evaluate_budget(budget, ctx.data_through, read_series(ctx.query, budget, ctx.data_through))
    except (ValueError, duckdb.Error) as exc:  # a scope this snapshot cannot answer
        log.warning("budget %s cannot be evaluated: %s", budget.id, exc)
        return None
    percent = Decimal(str(evaluation.projected_percent))
    if percent < Decimal(str(rule.spec.get("percent", 100))):
        return []
    return [
        Breach(
            labels={"budget": budget.name, "budget_id": str(budget.id)}, value=float(percent),
            detail={"forecast": format_amount(evaluation.projected), "amount": format_amount(budget.amount),
                    "currency": budget.currency, "period_end": evaluation.end.isoformat(),
                    "snapshot": ctx.snapshot_version},
        )
    ]  # fmt: skip


def cost_anomaly(ctx: Context, rule: AlertRule) -> list[Breach] | None:
    """Each cost anomaly of the snapshot that no broader one covers, whose last day is within
    ``recent_days`` of the data's last day, and whose impact is at least ``min_impact``."""
    if ctx.query is None or ctx.data_through is None:
        return None
    minimum = Decimal(str(rule.spec.get("min_impact") or "0"))
    since = ctx.data_through - timedelta(days=int(rule.spec.get("recent_days", 7)) - 1)
    breaches = []
    for anomaly in list_anomalies(ctx.query):
        if anomaly.end < since or abs(anomaly.impact) < minimum:
            continue
        breaches.append(
            Breach(
                labels={"anomaly_id": anomaly.anomaly_id, "scope": anomaly.scope}, value=float(anomaly.impact),
                detail={"impact": format_amount(anomaly.impact), "currency": anomaly.currency,
                        "start": anomaly.start.isoformat(), "end": anomaly.end.isoformat(),
                        "direction": anomaly.direction, "snapshot": ctx.snapshot_version},
            )
        )  # fmt: skip
    return breaches


def drift(ctx: Context, rule: AlertRule) -> list[Breach] | None:
    """Each deployment (not destroyed; only ``deployment_id`` when set) whose last drift check
    found it drifted; the value is how many findings (missing, changed, extra). It reads the
    stored check (the daily asset's, or a status read's) and calls no cloud."""
    wanted = rule.spec.get("deployment_id")
    found = deployment_drift.drifted(ctx.session, deployment_id=uuid.UUID(wanted) if wanted else None)
    return [
        Breach(
            labels={"deployment": d.name, "deployment_id": str(d.id)}, value=float(d.findings),
            detail={"missing": len(d.drift.get("missing") or []), "changed": len(d.drift.get("changed") or []),
                    "extra": len(d.drift.get("extra") or []), "checked_at": d.drift.get("checked_at")},
        )
        for d in found
    ]  # fmt: skip


def disaster_recovery(ctx: Context, rule: AlertRule) -> list[Breach] | None:
    """Each plan (only ``plan_id``'s when set) past its RPO target or without a usable backup
    (problem ``rpo``, the value its RPO in seconds), left ``degraded`` by a failover
    (``failover``), or whose health check has failed its automatic-failover threshold in a row
    (``health``, the value how many): ``control_plane.disaster_recovery.alarms``."""
    wanted = rule.spec.get("plan_id")
    found = recovery_alarms(ctx.session, now=ctx.now, plan_id=uuid.UUID(wanted) if wanted else None)
    return [
        Breach(labels={"plan": a.plan_name, "plan_id": str(a.plan_id), "problem": a.problem}, value=a.value,
               provider_id=a.provider_id, detail=a.detail)
        for a in found
    ]  # fmt: skip


KIND_CHECKS: dict[str, Callable[[Context, AlertRule], list[Breach] | None]] = {
    "threshold": threshold, "absence": absence, "provider_unreachable": provider_unreachable,
    "budget_forecast": budget_forecast, "cost_anomaly": cost_anomaly, "drift": drift,
    "disaster_recovery": disaster_recovery,
}  # fmt: skip


@contextmanager
def opened(session: Session, now: datetime, serving_dir: Path | None, *, cost_rules: bool) -> Iterator[Context]:
    """A round's context; the serving snapshot is opened (read-only) only when a cost rule needs it."""
    ctx = Context(session=session, now=now, serving_dir=serving_dir)
    ctx.providers = {row[0]: row[1] for row in session.execute(select(Provider.id, Provider.name))}
    info = snapshots.current(serving_dir) if cost_rules and serving_dir is not None else None
    if info is None:
        yield ctx
        return
    try:
        connection = duckdb.connect(str(info.path), read_only=True)
    except duckdb.Error as exc:  # the snapshot was pruned under us: next round
        log.warning("serving snapshot %s cannot be opened: %s", info.version, exc)
        yield ctx
        return
    with connection:
        connection.execute("SET TimeZone = 'UTC'")

        def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
            return connection.execute(sql, params).fetchall()

        ctx.query, ctx.snapshot_version = query, info.version
        try:
            ctx.data_through = latest_charge_date(query)
        except duckdb.Error:
            ctx.data_through = None
        yield ctx
