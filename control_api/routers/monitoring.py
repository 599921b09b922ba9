"""Monitoring: /api/cloud/monitoring/health and /api/cloud/monitoring/prometheus."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field

from control_api.deps import RequireViewer, SessionDep, SettingsDep, SnapshotDep
from control_plane.monitoring import exposition
from control_plane.monitoring.health import check_health, resource_page
from control_plane.monitoring.settings import MonitorSettings
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_plane.services.errors import InvalidRequest

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
router = APIRouter(prefix="/monitoring", tags=["monitoring"], dependencies=[RequireViewer])

EXAMPLE: dict[str, Any] = {
    "status": "degraded",
    "checked_at": "2026-12-06T09:00:00Z",
    "components": {
        "state_store": {"status": "ok", "dialect": "postgresql", "schema_revision": "0009", "latency_ms": 0.8},
        "serving_snapshot": {"status": "ok", "age_seconds": 120.5, "data_through": "2026-12-05"},
        "stream": {"status": "ok", "clients": 3, "last_event_id": 48210, "lag_seconds": 0.02, "mode": "listen"},
    },
    "providers": [
        {
            "id": "0b6f8a9e-5a43-4c1e-9b7d-2d1f0c3e4a5b",
            "name": "sandbox-aws",
            "kind": "sandbox",
            "status": "ok",
            "source": "collector",
            "detail": "its recent calls succeed",
            "last_success_at": "2026-12-06T08:59:45Z",
            "error_rate": 0.0,
        }
    ],
    "resources": {
        "status": "degraded",
        "total": 412,
        "by_state": {"running": 380, "stopped": 32},
        "drifted": 1,
        "converging": 0,
        "failed": 0,
        "metrics_stale": 0,
        "firing_alerts": {"critical": 1},
        "resources_with_firing_alerts": 1,
    },
    "pipelines": {
        "billing": {"status": "ok", "data_through": "2026-12-05", "days_behind": 1},
        "metrics": {"status": "ok", "last_sample_at": "2026-12-06T08:59:30Z", "age_seconds": 30.0},
        "collector": {"status": "ok", "last_cycle_at": "2026-12-06T08:59:30Z", "age_seconds": 30.0},
    },
}
ITEM_EXAMPLE: dict[str, Any] = {
    "id": "6a1e2b3c-4d5e-4f60-8a71-92b3c4d5e6f7",
    "name": "bookings-api-1",
    "provider_id": "0b6f8a9e-5a43-4c1e-9b7d-2d1f0c3e4a5b",
    "state": "running",
    "desired_state": "running",
    "status": "degraded",
    "problems": ["1 firing alert(s)"],
    "last_sample_at": "2026-12-06T08:59:30Z",
    "last_sample_age_seconds": 30.0,
    "firing_alerts": {"critical": 1},
}


class HealthOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [EXAMPLE, {**EXAMPLE, "items": [ITEM_EXAMPLE], "next_cursor": None}]}
    )

    status: Literal["ok", "degraded", "down"] = Field(
        description="The worst of the parts below (docs/monitoring/health.md)."
    )
    checked_at: datetime
    components: dict[str, dict[str, Any]] = Field(description="state_store, serving_snapshot, stream.")
    providers: list[dict[str, Any]]
    resources: dict[str, Any] = Field(default_factory=dict, description="Counts over every resource not terminated.")
    pipelines: dict[str, dict[str, Any]] = Field(default_factory=dict, description="billing, metrics, collector.")
    items: list[dict[str, Any]] | None = Field(
        default=None, description="With detail=resources: one page of resources, by name, each with its health."
    )
    next_cursor: str | None = Field(
        default=None, description="With detail=resources: pass as `cursor` for the next page."
    )


def stream_status(request: Request) -> dict[str, Any] | None:
    """The stream's status in this API worker, or None when it serves no stream."""
    stream = getattr(request.app.state, "stream", None)
    return None if stream is None else dict(stream.status())


@router.get(
    "/health",
    response_model=HealthOut,
    response_model_exclude_none=True,
    summary="Overall infrastructure health",
    operation_id="get_health",
    responses={422: {"description": "An unknown `detail`, or a bad `limit` or `cursor`.", **PROBLEM}},
)
def get_health(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    snapshot: SnapshotDep,
    detail: Annotated[
        Literal["resources"] | None, Query(description="`resources`: also list the resources, a page at a time.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="With detail=resources: page size.")] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(max_length=400, description="With detail=resources: `next_cursor` of the previous page.")
    ] = None,
) -> Any:
    health = check_health(
        session,
        snapshot=snapshot,
        layout=settings.layout,
        stale_after_hours=settings.snapshot_stale_after_hours,
        stream=stream_status(request),
    )
    if detail == "resources":
        try:
            health.items, health.next_cursor = resource_page(session, limit=limit, cursor=cursor)
        except InvalidRequest as exc:  # the cursor is the only input the page itself reads
            problem = [{"location": "query", "field": "cursor", "message": exc.detail}]
            raise InvalidRequest(exc.detail, errors=problem) from None
    return health


@router.get(
    "/prometheus",
    summary="Metrics in the Prometheus text exposition format",
    operation_id="get_prometheus_metrics",
    response_class=Response,
    responses={
        200: {
            "description": "Resource metrics, resource counts, firing alerts, provider and collector status "
            "(docs/monitoring/dashboards.md has a scrape configuration).",
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": "# HELP wedcloud_alerts_firing Firing monitoring alerts by severity.\n"
                    "# TYPE wedcloud_alerts_firing gauge\n"
                    'wedcloud_alerts_firing{severity="critical"} 1.0\n',
                }
            },
        }
    },
)
async def get_prometheus(request: Request, settings: SettingsDep) -> Response:
    collector = exposition.StoreCollector(
        request.app.state.sessions,
        layout=settings.layout,
        settings=MonitorSettings(),
        stream=lambda: stream_status(request),
    )
    body = await anyio.to_thread.run_sync(generate_latest, exposition.registry(collector))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
