"""GET /api/cloud/monitoring/metrics: stored 30-second metrics as labelled series."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.orm import Session

from control_api.deps import RequireViewer
from control_api.provider_filter import PROVIDER_FILTER, resolve
from control_api.schemas.costs import DAYS, FIRST_DAY, LAST_DAY
from control_api.schemas.metrics import CSV_EXAMPLE, MetricsOut
from control_plane.monitoring import series as service
from control_plane.monitoring.settings import MonitorSettings
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_plane.store.monitoring_models import METRICS

router = APIRouter(prefix="/monitoring", tags=["monitoring"], dependencies=[RequireViewer])
MetricName = Literal["cpu", "memory", "network_in", "network_out", "disk_read", "disk_write", "cost_rate"]


@router.get(
    "/metrics",
    response_model=MetricsOut,
    summary="Stored metrics as series with labels and [time, value] points (a Prometheus range query)",
    operation_id="get_metrics",
    responses={200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}}},
)
async def get_metrics(
    request: Request,
    resource: Annotated[
        list[uuid.UUID] | None, Query(description="Only these resources (ids; repeat for more).", max_length=500)
    ] = None,
    provider: Annotated[
        list[Annotated[str, Query(max_length=512)]] | None,
        Query(description=f"Only these providers' resources (repeat for more). {PROVIDER_FILTER}", max_length=50),
    ] = None,
    tag: Annotated[
        list[Annotated[str, Query(max_length=385)]] | None,
        Query(description="Only resources with this tag, `key=value` (repeat: all of them).", max_length=20),
    ] = None,
    metric: Annotated[
        list[MetricName] | None,
        Query(description=f"Only these metrics (repeat for more; default: all of {', '.join(METRICS)})."),
    ] = None,
    step: Annotated[
        Literal["30s", "5m", "1h", "1d"] | None,
        Query(description="Points per step; default: the finest that keeps each series within 11,000 points."),
    ] = None,
    aggregation: Annotated[
        Literal["avg", "max", "min", "p95"], Query(description="How the samples in a step are combined.")
    ] = "avg",
    start: Annotated[
        datetime | None, Query(description=f"ISO 8601 with a timezone, {DAYS}; default: an hour before end.")
    ] = None,
    end: Annotated[datetime | None, Query(description=f"ISO 8601 with a timezone, {DAYS}; default: now.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Series per page.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1000, description="`next_cursor` of the previous page.")] = None,
) -> Any:
    """Each (resource, metric) pair with data in the range is one series. JSON as Prometheus
    answers a range query (times in unix seconds, values as strings), or CSV with
    `Accept: text/csv` (times in ISO 8601). Ranges older than the raw samples' retention
    (6 hours by default) are answered from the 5-minute rollups."""
    end = _utc(end, "end") if end else datetime.now(UTC)
    start = _utc(start, "start") if start else end - timedelta(hours=1)
    chosen_step = step or service.finest_step(start, end)
    service.check_range(start, end, chosen_step)
    tags = service.parse_tags(tag or [])
    as_csv = "text/csv" in request.headers.get("accept", "")
    settings = MonitorSettings()
    sessions = request.app.state.sessions

    def compute() -> bytes:
        with sessions() as session:
            page = _page(session, resource, provider, tags, metric, start, end, chosen_step, aggregation, limit, cursor,
                         settings)  # fmt: skip
        return _csv(page) if as_csv else _json(page, chosen_step, aggregation)

    body = await run_in_threadpool(compute)
    if as_csv:
        return Response(
            body, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="metrics.csv"'}
        )
    return Response(body, media_type="application/json")


def _page(
    session: Session,
    resource: list[uuid.UUID] | None,
    provider: list[str] | None,
    tags: list[tuple[str, str]],
    metric: list[MetricName] | None,
    start: datetime,
    end: datetime,
    step: str,
    aggregation: str,
    limit: int,
    cursor: str | None,
    settings: MonitorSettings,
) -> service.SeriesPage:
    provider_ids = None
    if provider:
        provider_ids = {uuid.UUID(key) for key in resolve(session, provider).keys}
    return service.select_series(
        session,
        resource_ids=set(resource) if resource else None,
        provider_ids=provider_ids,
        tags=tags,
        metrics=list(metric or METRICS),
        start=start,
        end=end,
        step=step,
        aggregation=aggregation,
        limit=limit,
        cursor=cursor,
        retention=settings.retention,
        now=datetime.now(UTC),
    )


def _value(number: float) -> str:
    return repr(float(number))


def _json(page: service.SeriesPage, step: str, aggregation: str) -> bytes:
    result = [
        {
            "metric": s.labels(step, aggregation),
            "values": [[int(at.timestamp()), _value(v)] for at, v in s.points],
        }
        for s in page.series
    ]
    body: dict[str, Any] = {"status": "success", "data": {"resultType": "matrix", "result": result}}
    if page.next_cursor:
        body["next_cursor"] = page.next_cursor
    return json.dumps(body, separators=(",", ":")).encode()


def _csv(page: service.SeriesPage) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["resource_id", "resource", "provider", "metric", "time", "value"])
    for s in page.series:
        for at, v in s.points:
            writer.writerow([str(s.resource.id), s.resource.name, s.provider.name, s.metric, at.isoformat(), _value(v)])
    return out.getvalue().encode()


def _utc(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise service.refuse(field, "times need a timezone (e.g. 2026-12-06T09:00:00Z)")
    if not FIRST_DAY.year <= moment.year <= LAST_DAY.year:
        raise service.refuse(field, f"a time {DAYS}")
    return moment.astimezone(UTC)
