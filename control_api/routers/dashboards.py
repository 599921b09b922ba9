"""Dashboards: /api/cloud/monitoring/dashboards (JSON definitions, or a live HTML page)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_api.deps import RequireViewer, SessionDep, SnapshotDep
from control_plane.monitoring import dashboard_page, dashboards, events
from control_plane.serving import SnapshotReader
from control_plane.store.models import Resource
from wedcloud.snapshots import SnapshotInfo
from wedcloud.sqltypes import utcnow

router = APIRouter(prefix="/monitoring", tags=["monitoring"], dependencies=[RequireViewer])
log = logging.getLogger(__name__)
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
SCRIPT = (Path(__file__).resolve().parent.parent / "static" / "dashboard.js").read_text(encoding="utf-8")

PANEL_EXAMPLE: dict[str, Any] = {
    "id": "cpu",
    "title": "CPU across the fleet",
    "kind": "line",
    "unit": "%",
    "metric": "cpu",
    "reduce": ["avg", "max"],
    "query": {
        "path": "/api/cloud/monitoring/metrics",
        "params": {"metric": "cpu", "step": "30s", "aggregation": "avg"},
        "combine": ["avg", "max"],
    },
    "stream": {"topic": "metrics", "value": "cpu"},
}
DASHBOARD_EXAMPLE: dict[str, Any] = {
    "id": "fleet-health",
    "title": "Fleet health",
    "description": "CPU and memory across every resource, firing alerts, and the resources' health.",
    "panels": [PANEL_EXAMPLE],
    "provider_id": None,
    "topics": ["metrics", "alerts"],
}


class PanelOut(BaseModel):
    id: str
    title: str
    kind: str = Field(description="line or stat.")
    unit: str
    query: dict[str, Any] = Field(description="The path and parameters a client runs for this panel.")
    metric: str | None = None
    reduce: list[str] | None = Field(
        default=None, description="How a metric line combines the resources: avg, max, sum."
    )
    stream: dict[str, Any] | None = Field(default=None, description="What the page listens to on the stream.")


class DashboardOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [DASHBOARD_EXAMPLE]})

    id: str
    title: str
    description: str
    panels: list[PanelOut]
    provider_id: str | None = None
    topics: list[str]


class DashboardList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [DASHBOARD_EXAMPLE]}]})

    items: list[DashboardOut]


@router.get(
    "/dashboards",
    response_model=DashboardList,
    summary="The built-in dashboards: fleet health, cost, one per provider",
    operation_id="list_dashboards",
)
def list_dashboards(session: SessionDep) -> Any:
    return {"items": [d.definition() for d in dashboards.dashboards(session)]}


@router.get(
    "/dashboards/{dashboard_id}",
    summary="One dashboard: its JSON definition, or with Accept: text/html a live page",
    operation_id="get_dashboard",
    response_class=Response,
    responses={
        200: {
            "description": "The definition (application/json, the default), or with `Accept: text/html` a "
            "self-contained page whose SVG charts are drawn from current data and kept live from the stream "
            "(docs/monitoring/dashboards.md: how to open it with a key).",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/DashboardOut"},
                    "example": DASHBOARD_EXAMPLE,
                },
                "text/html": {"schema": {"type": "string"}, "example": '<!DOCTYPE html>\n<html lang="en">...'},
            },
        },
        404: {"description": "No dashboard with this id.", **PROBLEM},
    },
)
def get_dashboard(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    dashboard_id: Annotated[str, PathParam(max_length=120, description="fleet-health, cost or provider-<id>.")],
) -> Response:
    dashboard = dashboards.find(session, dashboard_id)
    if not wants_html(request.headers.get("accept", "")):
        body = DashboardOut.model_validate(dashboard.definition())
        return Response(body.model_dump_json(), media_type="application/json")
    page = render(request, session, snapshot, dashboard)
    return Response(page.html, media_type="text/html; charset=utf-8", headers={"Content-Security-Policy": page.csp})


def wants_html(accept: str) -> bool:
    """text/html listed before (or without) application/json."""
    kinds = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    if "text/html" not in kinds:
        return False
    return "application/json" not in kinds or kinds.index("text/html") < kinds.index("application/json")


def render(
    request: Request, session: Session, snapshot: SnapshotInfo | None, dashboard: dashboards.Dashboard
) -> dashboard_page.Page:
    now = utcnow()
    metrics, counts = {}, {}
    for panel in dashboard.panels:
        if panel.kind == "line" and panel.metric:
            metrics[panel.id] = dashboards.metric_buckets(
                session, panel.metric, now=now, provider_id=dashboard.provider_id
            )
        elif panel.id == "firing-alerts":
            counts[panel.id] = dashboards.firing_alerts(session, dashboard.provider_id)
        elif panel.id == "resources":
            query = select(Resource.state, func.count()).where(Resource.state != "terminated").group_by(Resource.state)
            counts[panel.id] = {state: int(count) for state, count in session.execute(query)}
    spend = (
        _spend(request.app.state.snapshots, snapshot) if any(p.id == "daily-spend" for p in dashboard.panels) else {}
    )
    origin = str(request.base_url).rstrip("/")
    return dashboard_page.render(
        dashboard, now=now, metrics=metrics, counts=counts, spend=spend, script=SCRIPT, origin=origin,
        last_event_id=events.newest_id(session),
    )  # fmt: skip


def _spend(reader: SnapshotReader, snapshot: SnapshotInfo | None) -> dict[str, list[tuple[float, float]]]:
    if snapshot is None:
        return {}
    try:
        return dashboards.daily_spend(reader.query(snapshot, dashboards.DAILY_SPEND_SQL))
    except duckdb.Error as exc:  # a snapshot without cost_daily: the panel says it has no data
        log.warning("daily spend unavailable from snapshot %s: %s", snapshot.version, exc)
        return {}
