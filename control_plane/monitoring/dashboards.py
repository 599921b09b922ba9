"""The built-in dashboards: fleet health, cost, and one per registered provider.

A dashboard is a JSON definition (``definition``): panels, each with an id, a title, a chart
kind (``line``, ``stat``), a unit, the query a client would run for it (a path and its
parameters against /api/cloud/monitoring/metrics, /alerts, /health or a cost endpoint) and, for
panels the page keeps live, what it listens to on the stream. ``panel_data`` reads what the
page draws from the state store and the serving snapshot, in one aggregate query per panel:
metric panels reduce every resource's samples (of one provider, for a provider dashboard) per
30-second bucket to their average, maximum or sum over the last ``WINDOW``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.services.errors import NotFound
from control_plane.store.models import Provider
from control_plane.store.monitoring_models import MetricSample, MonitorAlert

WINDOW = timedelta(minutes=30)
BUCKET = 30  # seconds: the collector's default interval
METRICS_PATH = "/api/cloud/monitoring/metrics"
SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    kind: str  # line | stat
    unit: str
    query: dict[str, Any]
    reduce: tuple[str, ...] = ()  # for a metric line: avg, max, sum over the resources, per bucket
    metric: str | None = None
    stream: dict[str, Any] | None = None  # what the page listens to: {"topic": ..., ...}


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    provider_id: str | None = None
    topics: tuple[str, ...] = field(default=())

    def definition(self) -> dict[str, Any]:
        body = asdict(self)
        body["panels"] = [{k: v for k, v in asdict(p).items() if v not in (None, ())} for p in self.panels]
        body["topics"] = list(self.topics)
        return body


def _metric_panel(
    panel_id: str, title: str, metric: str, unit: str, reduce: tuple[str, ...], provider: str | None
) -> Panel:
    params: dict[str, Any] = {"metric": metric, "step": "30s", "aggregation": "avg"}
    if provider:
        params["provider"] = provider
    return Panel(
        id=panel_id,
        title=title,
        kind="line",
        unit=unit,
        metric=metric,
        reduce=reduce,
        query={"path": METRICS_PATH, "params": params, "combine": list(reduce)},
        stream={"topic": "metrics", "value": metric, **({"provider": provider} if provider else {})},
    )


def _alerts_panel(provider: str | None) -> Panel:
    params = {"state": "firing", **({"label": f"provider_id={provider}"} if provider else {})}
    return Panel(
        id="firing-alerts",
        title="Firing alerts",
        kind="stat",
        unit="alerts",
        query={"path": "/api/cloud/monitoring/alerts", "params": params},
        stream={"topic": "alerts", **({"provider": provider} if provider else {})},
    )


def _fleet() -> Dashboard:
    return Dashboard(
        id="fleet-health",
        title="Fleet health",
        description="CPU and memory across every resource, firing alerts, and the resources' health.",
        panels=(
            _metric_panel("cpu", "CPU across the fleet", "cpu", "%", ("avg", "max"), None),
            _metric_panel("memory", "Memory across the fleet", "memory", "%", ("avg", "max"), None),
            _alerts_panel(None),
            Panel(
                id="resources",
                title="Resources by health",
                kind="stat",
                unit="resources",
                query={"path": "/api/cloud/monitoring/health", "params": {}},
            ),
        ),
        topics=("metrics", "alerts"),
    )


def _cost() -> Dashboard:
    return Dashboard(
        id="cost",
        title="Cost",
        description="What the fleet costs per hour now (list prices), and the bills' daily spend.",
        panels=(
            _metric_panel("run-rate", "Hourly run rate of the fleet", "cost_rate", "per hour", ("sum",), None),
            Panel(
                id="daily-spend",
                title="Daily spend, last 30 days",
                kind="line",
                unit="spend",
                query={
                    "path": "/api/cloud/costs/breakdown",
                    "params": {"group_by": "provider", "granularity": "day", "metric": "EffectiveCost"},
                },
            ),
        ),
        topics=("metrics",),
    )


def _provider(provider: Provider) -> Dashboard:
    pid = str(provider.id)
    return Dashboard(
        id=f"provider-{pid}",
        title=f"Provider {provider.name}",
        description=f"The resources of {provider.name} ({provider.kind}): CPU, network, cost rate, firing alerts.",
        panels=(
            _metric_panel("cpu", "CPU", "cpu", "%", ("avg", "max"), pid),
            _metric_panel("network-in", "Network in", "network_in", "bytes", ("sum",), pid),
            _metric_panel("run-rate", "Hourly run rate", "cost_rate", "per hour", ("sum",), pid),
            _alerts_panel(pid),
        ),
        provider_id=pid,
        topics=("metrics", "alerts"),
    )


def dashboards(session: Session) -> list[Dashboard]:
    providers = session.scalars(select(Provider).order_by(Provider.name))
    return [_fleet(), _cost(), *(_provider(p) for p in providers)]


def find(session: Session, dashboard_id: str) -> Dashboard:
    if dashboard_id in ("fleet-health", "cost"):
        return _fleet() if dashboard_id == "fleet-health" else _cost()
    if dashboard_id.startswith("provider-"):
        try:
            provider = session.get(Provider, uuid.UUID(dashboard_id.removeprefix("provider-")))
        except ValueError:
            provider = None
        if provider is not None:
            return _provider(provider)
    raise NotFound(f"no dashboard {dashboard_id!r}; GET /api/cloud/monitoring/dashboards lists them")


# -- data ------------------------------------------------------------------------------------
Buckets = list[dict[str, float]]  # [{"t": epoch seconds, "sum", "count", "max"}], oldest first


def metric_buckets(session: Session, metric: str, *, now: datetime, provider_id: str | None = None) -> Buckets:
    """Every resource's samples of ``metric`` in the last WINDOW, per 30-second bucket: their
    sum, count and maximum (one grouped query; instants are bucketed here)."""
    column = getattr(MetricSample, metric)
    query = (
        select(MetricSample.at, func.count(column), func.sum(column), func.max(column))
        .where(MetricSample.at >= now - WINDOW, MetricSample.at <= now, column.is_not(None))
        .group_by(MetricSample.at)
    )
    if provider_id:
        query = query.where(MetricSample.provider_id == uuid.UUID(provider_id))
    merged: dict[int, dict[str, float]] = {}
    for at, count, total, top in session.execute(query):
        start = int(at.timestamp()) // BUCKET * BUCKET
        bucket = merged.setdefault(start, {"t": float(start), "sum": 0.0, "count": 0.0, "max": float("-inf")})
        bucket["sum"] += float(total)
        bucket["count"] += float(count)
        bucket["max"] = max(bucket["max"], float(top))
    return [merged[t] for t in sorted(merged)]


def reduced(buckets: Buckets, how: str) -> list[tuple[float, float]]:
    pick: dict[str, Callable[[dict[str, float]], float]] = {
        "avg": lambda b: b["sum"] / b["count"],
        "max": lambda b: b["max"],
        "sum": lambda b: b["sum"],
    }
    return [(b["t"], pick[how](b)) for b in buckets if b["count"]]


def firing_alerts(session: Session, provider_id: str | None = None) -> dict[str, int]:
    query = select(MonitorAlert.severity, func.count()).where(MonitorAlert.state == "firing")
    if provider_id:
        query = query.where(MonitorAlert.provider_id == uuid.UUID(provider_id))
    return {severity: int(count) for severity, count in session.execute(query.group_by(MonitorAlert.severity))}


DAILY_SPEND_SQL = """
SELECT ChargeDate, BillingCurrency, SUM(EffectiveCost) FROM cost_daily
WHERE ChargeDate > (SELECT MAX(ChargeDate) FROM cost_daily) - INTERVAL 30 DAY
GROUP BY ChargeDate, BillingCurrency ORDER BY ChargeDate, BillingCurrency
"""


def daily_spend(rows: list[tuple[Any, ...]]) -> dict[str, list[tuple[float, float]]]:
    """The snapshot's last 30 days of spend per currency as (epoch seconds, amount) points."""
    found: dict[str, list[tuple[float, float]]] = {}
    for day, currency, amount in rows:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        found.setdefault(str(currency), []).append((moment, float(Decimal(amount))))
    return found
