"""Infrastructure health: one status (ok, degraded or down) rolled up from the providers, the
resources, the pipelines, the state store and the stream (docs/monitoring/health.md says how
each part maps to a status).

It answers from a handful of aggregate queries whatever the fleet's size: the collector's
status rows, resource counts by (state, desired state), the resources with a sample in the
freshness window, firing alerts by severity, the newest sample. Only ``detail=resources``
reads per resource, one page at a time (three queries for the page).

A part that was never started (no collector has run, this process serves no stream) is shown
as ``not running`` and left out of the rollup: a deployment without the monitoring processes
still answers ok for what it runs. A part that ran and stopped is degraded.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from control_plane.monitoring.settings import MonitorSettings
from control_plane.pagination import page_of, seek
from control_plane.services.providers import adapter_for
from control_plane.store.migrate import current_revision, head_revision
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import MetricSample, MonitorAlert, MonitorStatus
from wedcloud.home import HomeLayout
from wedcloud.snapshots import SnapshotInfo
from wedcloud.sqltypes import utcnow

OK, DEGRADED, DOWN, NOT_RUNNING = "ok", "degraded", "down", "not running"
TERMINATED = "terminated"
# states on the way to another: a resource in one is converging, not drifted
TRANSITIONAL = frozenset({"provisioning", "pending", "starting", "stopping"})
METERED = "running"  # the collector samples what runs
ERROR_RATE_DEGRADED = 0.2  # a provider whose recent calls failed more often than this is degraded
STALE_CYCLES = 3  # a heartbeat or sample older than this many collector intervals is stale


@dataclass
class Health:
    status: str
    checked_at: datetime
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: list[dict[str, Any]] = field(default_factory=list)
    resources: dict[str, Any] = field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: list[dict[str, Any]] | None = None
    next_cursor: str | None = None


def worst(statuses: list[str]) -> str:
    return DOWN if DOWN in statuses else DEGRADED if DEGRADED in statuses else OK


def check_health(
    session: Session,
    *,
    snapshot: SnapshotInfo | None,
    layout: HomeLayout,
    stale_after_hours: float,
    stream: dict[str, Any] | None = None,
    settings: MonitorSettings | None = None,
    now: datetime | None = None,
) -> Health:
    """The rollup. ``stream``: the API worker's stream status (``app.state.stream.status()``),
    None when this process serves no stream."""
    settings = settings or MonitorSettings()
    now = now or utcnow()
    stale = timedelta(seconds=settings.interval_seconds * STALE_CYCLES)
    store = _store(session)
    serving = _serving(snapshot, now, stale_after_hours)
    collector = collector_status(session, now=now, stale=stale)
    providers = provider_statuses(session, layout=layout, now=now, stale=stale)
    resources = _resources(session, now=now, stale=stale, collector_ran=collector["status"] != NOT_RUNNING)
    pipelines = {
        "billing": _billing(snapshot, now, settings.billing_stale_days),
        "metrics": _metrics(session, now, stale, collector),
        "collector": collector,
    }
    streaming = _stream(stream)
    components = {"state_store": store, "serving_snapshot": serving, "stream": streaming}
    statuses = [
        store["status"],
        serving["status"],
        streaming["status"],
        resources["status"],
        *(p["status"] for p in pipelines.values()),
        # one provider down leaves the rest working: the whole is degraded; all of them down is down
        *([DOWN] if providers and all(p["status"] == DOWN for p in providers) else []),
        *(DEGRADED if p["status"] != OK else OK for p in providers),
    ]
    return Health(
        status=worst([s for s in statuses if s != NOT_RUNNING]),
        checked_at=now,
        components=components,
        providers=providers,
        resources=resources,
        pipelines=pipelines,
    )


def _store(session: Session) -> dict[str, Any]:
    started = time.perf_counter()
    session.execute(text("SELECT 1"))
    engine = session.get_bind()
    revision = current_revision(engine)  # type: ignore[arg-type]
    return {
        "status": OK if revision == head_revision() else DEGRADED,
        "dialect": engine.dialect.name,
        "schema_revision": revision,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _serving(snapshot: SnapshotInfo | None, now: datetime, stale_after_hours: float) -> dict[str, Any]:
    if snapshot is None:
        return {"status": DEGRADED, "detail": "no snapshot published yet"}
    age = snapshot.age_seconds(now)
    return {
        "status": OK if age <= stale_after_hours * 3600 else DEGRADED,
        "version": snapshot.version,
        "published_at": snapshot.published_at.isoformat(),
        "age_seconds": round(age, 1),
        "data_through": snapshot.metadata.get("data_through"),
    }


def _stream(stream: dict[str, Any] | None) -> dict[str, Any]:
    if stream is None:
        return {"status": NOT_RUNNING, "detail": "this API process serves no stream"}
    return {**stream, "status": OK if stream.get("status") == OK else DEGRADED}


def _age(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else round((now - moment).total_seconds(), 1)


# -- providers -------------------------------------------------------------------------------
def provider_statuses(session: Session, *, layout: HomeLayout, now: datetime, stale: timedelta) -> list[dict[str, Any]]:
    """Each provider as the collector last saw it; without a collector row, the sandbox is asked
    now (it is local) and a real cloud shows its last connection test."""
    rows = {
        row.provider_id: row
        for row in session.scalars(select(MonitorStatus).where(MonitorStatus.name.like("provider:%")))
    }
    found = []
    for provider in session.scalars(select(Provider).order_by(Provider.name)):
        seen = rows.get(provider.id)
        reach = _collected(seen, now, stale) if seen is not None else _reach(provider, session=session, layout=layout)
        found.append({"id": str(provider.id), "name": provider.name, "kind": provider.kind, **reach})
    return found


def _collected(row: MonitorStatus, now: datetime, stale: timedelta) -> dict[str, Any]:
    recent = [r for r in row.recent or [] if isinstance(r, dict)]
    failures = sum(1 for r in recent if not r.get("ok"))
    rate = round(failures / len(recent), 3) if recent else 0.0
    success_recent = row.last_success_at is not None and now - row.last_success_at <= stale
    attempted_recent = row.last_attempt_at is not None and now - row.last_attempt_at <= stale
    if not row.ok and not success_recent:
        status, why = DOWN, "its calls fail and none succeeded recently"
    elif not row.ok or rate > ERROR_RATE_DEGRADED:
        status, why = DEGRADED, f"{failures} of its last {len(recent)} calls failed"
    elif not attempted_recent:
        status, why = DEGRADED, "the collector has not called it recently"
    else:
        status, why = OK, "its recent calls succeed"
    return {
        "status": status,
        "source": "collector",
        "detail": why,
        "last_success_at": row.last_success_at.isoformat() if row.last_success_at else None,
        "last_attempt_at": row.last_attempt_at.isoformat() if row.last_attempt_at else None,
        "error_rate": rate,
        "recent_calls": len(recent),
        "last_error": row.last_error,
    }


def _reach(provider: Provider, *, session: Session, layout: HomeLayout) -> dict[str, Any]:
    if provider.kind == "sandbox":
        check = adapter_for(provider, session=session, layout=layout).test_connection()
        return {"status": OK if check.ok else DOWN, "source": "asked now", "detail": check.detail}
    if provider.last_check is None:
        return {
            "status": DEGRADED,
            "source": "connection test",
            "detail": "never tested: POST /api/cloud/providers/{id}/test-connection",
        }
    return {
        "status": OK if provider.last_check["ok"] else DOWN,
        "source": "connection test",
        "detail": provider.last_check["detail"],
        "checked_at": provider.last_check["checked_at"],
    }


# -- pipelines -------------------------------------------------------------------------------
def collector_status(session: Session, *, now: datetime, stale: timedelta) -> dict[str, Any]:
    row = session.get(MonitorStatus, "collector")
    if row is None or row.last_attempt_at is None:
        return {"status": NOT_RUNNING, "detail": "no collector has run: start `wedcloud monitor`"}
    fresh = now - row.last_attempt_at <= stale
    return {
        "status": OK if fresh and row.ok else DEGRADED,
        "detail": row.last_error if not row.ok else "cycling" if fresh else "no cycle recently",
        "last_cycle_at": row.last_attempt_at.isoformat(),
        "age_seconds": _age(row.last_attempt_at, now),
        "cycle": dict(row.detail or {}),
    }


def _billing(snapshot: SnapshotInfo | None, now: datetime, stale_days: float) -> dict[str, Any]:
    through = snapshot.metadata.get("data_through") if snapshot is not None else None
    if not through:
        return {"status": DEGRADED, "data_through": None, "detail": "no billing day loaded yet"}
    try:
        behind = (now.date() - date.fromisoformat(str(through))).days
    except ValueError:
        return {"status": DEGRADED, "data_through": str(through), "detail": "the snapshot's data_through is unreadable"}
    return {"status": OK if behind <= stale_days else DEGRADED, "data_through": str(through), "days_behind": behind}


def _metrics(session: Session, now: datetime, stale: timedelta, collector: dict[str, Any]) -> dict[str, Any]:
    newest = session.scalar(select(func.max(MetricSample.at)))
    if newest is None:
        status = NOT_RUNNING if collector["status"] == NOT_RUNNING else DEGRADED
        return {"status": status, "last_sample_at": None, "detail": "no sample stored"}
    fresh = now - newest <= stale
    return {
        "status": OK if fresh or collector["status"] == NOT_RUNNING else DEGRADED,
        "last_sample_at": newest.isoformat(),
        "age_seconds": _age(newest, now),
    }


# -- resources -------------------------------------------------------------------------------
def _resources(session: Session, *, now: datetime, stale: timedelta, collector_ran: bool) -> dict[str, Any]:
    counts = session.execute(
        select(Resource.state, Resource.desired_state, func.count())
        .where(
            (Resource.state != TERMINATED)
            | (Resource.desired_state.is_not(None) & (Resource.desired_state != TERMINATED))
        )
        .group_by(Resource.state, Resource.desired_state)
    ).all()
    by_state: Counter[str] = Counter()
    drifted = converging = metered = 0
    for state, desired, count in counts:
        by_state[state] += count
        if desired is not None and state != desired:
            if state in TRANSITIONAL:
                converging += count
            else:
                drifted += count
        metered += count if state == METERED else 0
    fresh = session.scalar(
        select(func.count(func.distinct(MetricSample.resource_id)))
        .join(Resource, Resource.id == MetricSample.resource_id)
        .where(MetricSample.at >= now - stale, Resource.state == METERED)
    )
    firing = dict(
        session.execute(
            select(MonitorAlert.severity, func.count())
            .where(MonitorAlert.state == "firing")
            .group_by(MonitorAlert.severity)
        ).all()
    )
    alerted = session.scalar(
        select(func.count(func.distinct(MonitorAlert.resource_id))).where(
            MonitorAlert.state == "firing", MonitorAlert.resource_id.is_not(None)
        )
    )
    stale_count = max(metered - int(fresh or 0), 0) if collector_ran else 0
    failed = by_state.get("failed", 0)
    troubled = drifted or failed or stale_count or sum(firing.values())
    return {
        "status": DEGRADED if troubled else OK,
        "total": sum(by_state.values()),
        "by_state": dict(sorted(by_state.items())),
        "drifted": drifted,
        "converging": converging,
        "failed": failed,
        "metrics_stale": stale_count,
        "metrics_window_seconds": stale.total_seconds(),
        "firing_alerts": dict(sorted(firing.items())),
        "resources_with_firing_alerts": int(alerted or 0),
    }


def resource_page(
    session: Session,
    *,
    limit: int,
    cursor: str | None,
    now: datetime | None = None,
    settings: MonitorSettings | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of resources (terminated ones left out, by name then id) with their health:
    state against desired state, age of the last sample, firing alerts. Three queries."""
    settings = settings or MonitorSettings()
    now = now or utcnow()
    stale = timedelta(seconds=settings.interval_seconds * STALE_CYCLES)
    query = select(Resource).where(Resource.state != TERMINATED)
    query = seek(query, Resource.name, Resource.id, limit=limit, cursor=cursor)
    rows, next_cursor = page_of(list(session.scalars(query)), limit, lambda r: r.name)
    ids = [row.id for row in rows]
    last: dict[uuid.UUID, datetime] = {}
    alerts: dict[uuid.UUID, Counter[str]] = {}
    if ids:
        last = dict(
            session.execute(
                select(MetricSample.resource_id, func.max(MetricSample.at))
                .where(MetricSample.resource_id.in_(ids))
                .group_by(MetricSample.resource_id)
            ).all()
        )
        for rid, severity, count in session.execute(
            select(MonitorAlert.resource_id, MonitorAlert.severity, func.count())
            .where(MonitorAlert.resource_id.in_(ids), MonitorAlert.state == "firing")
            .group_by(MonitorAlert.resource_id, MonitorAlert.severity)
        ):
            if rid is not None:
                alerts.setdefault(rid, Counter())[severity] += count
    return [
        _resource_item(row, last.get(row.id), alerts.get(row.id, Counter()), now, stale) for row in rows
    ], next_cursor


def _resource_item(
    row: Resource, last: datetime | None, firing: Counter[str], now: datetime, stale: timedelta
) -> dict[str, Any]:
    problems = []
    if row.desired_state is not None and row.state != row.desired_state and row.state not in TRANSITIONAL:
        problems.append(f"{row.state}, asked to be {row.desired_state}")
    if row.state == "failed":
        problems.append("failed")
    if row.state == METERED and last is not None and now - last > stale:
        problems.append("its last sample is stale")
    if firing:
        problems.append(f"{sum(firing.values())} firing alert(s)")
    return {
        "id": str(row.id),
        "name": row.name,
        "provider_id": str(row.provider_id),
        "state": row.state,
        "desired_state": row.desired_state,
        "status": DEGRADED if problems else OK,
        "problems": problems,
        "last_sample_at": last.isoformat() if last else None,
        "last_sample_age_seconds": _age(last, now),
        "firing_alerts": dict(sorted(firing.items())),
    }
