"""Probes for load balancers and orchestrators, unauthenticated and outside the rate limits:
``/api/healthz`` (the process answers) and ``/api/readyz`` (it can serve: the state store is
reachable, its migrations are current, and a serving snapshot is published).
``/api/cloud/monitoring/health`` stays the detailed, authenticated view."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, text

from control_api.errors import problem_response
from control_plane.serving import SnapshotReader
from control_plane.store.migrate import current_revision, head_revision


def _store_checks(engine: Engine) -> dict[str, str | None]:
    """Why the store is not ready, per check (None: it is)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        revision = current_revision(engine)
    except Exception as exc:  # any failure to reach the store means "not ready"
        return {"store": f"unreachable: {type(exc).__name__}", "migrations": "unknown: the store is unreachable"}
    head = head_revision()
    migrations = None if revision == head else f"at {revision or 'no revision'}, the code needs {head}"
    return {"store": None, "migrations": migrations}


def install_probes(app: FastAPI, engine: Engine, snapshots: SnapshotReader) -> None:
    @app.get("/api/healthz", tags=["meta"], summary="Liveness probe (no authentication)", operation_id="liveness")
    def liveness() -> dict[str, str]:
        return {"status": "alive"}

    @app.get(
        "/api/readyz",
        tags=["meta"],
        summary="Readiness probe (no authentication)",
        operation_id="readiness",
        description="200 when this worker can serve: the state store answers, its migrations are at the "
        "code's head revision, and a serving snapshot is published. Otherwise 503, naming each check "
        "that fails.",
        responses={503: {"description": "Not ready; `checks` names what is missing."}},
    )
    async def readiness(request: Request) -> Any:
        checks = await anyio.to_thread.run_sync(_store_checks, engine)
        checks["snapshot"] = None if snapshots.current() is not None else "no serving snapshot is published yet"
        failing = {name: why for name, why in checks.items() if why is not None}
        if failing:
            detail = "; ".join(f"{name}: {why}" for name, why in failing.items())
            return problem_response(request, 503, detail=detail, title="Not ready", slug="not-ready", checks=failing)
        return JSONResponse({"status": "ready", "checks": dict.fromkeys(checks, "ok")})
