"""Monitoring: /api/cloud/monitoring."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from control_api.deps import RequireViewer, SessionDep, SettingsDep, SnapshotDep
from control_plane.services.health import check_health

router = APIRouter(prefix="/monitoring", tags=["monitoring"], dependencies=[RequireViewer])


class HealthOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ok",
                    "checked_at": "2026-11-27T09:00:00Z",
                    "components": {
                        "state_store": {"status": "ok", "dialect": "sqlite", "schema_revision": "0001"},
                        "serving_snapshot": {"status": "ok", "age_seconds": 120.5, "data_through": "2026-11-26"},
                    },
                    "providers": [{"id": "…", "name": "sandbox-aws", "kind": "sandbox", "status": "ok"}],
                }
            ]
        }
    )

    status: str
    checked_at: datetime
    components: dict[str, dict[str, Any]]
    providers: list[dict[str, Any]]


@router.get("/health", response_model=HealthOut, summary="Overall infrastructure health", operation_id="get_health")
def get_health(session: SessionDep, settings: SettingsDep, snapshot: SnapshotDep) -> Any:
    return check_health(
        session,
        snapshot=snapshot,
        layout=settings.layout,
        stale_after_hours=settings.snapshot_stale_after_hours,
    )
