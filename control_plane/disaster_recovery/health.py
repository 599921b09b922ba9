"""Health as disaster recovery judges it: the plan's health-check URL (through the outbound
guard, so a plan cannot make the server fetch an address it should not) and the cloud's own
view of the resources serving now."""

from __future__ import annotations

from clouds.errors import CloudError
from control_plane.disaster_recovery.protected import serving_resources
from control_plane.disaster_recovery.runs import Run
from control_plane.disaster_recovery.waits import READY
from control_plane.services.health import http_health

PAUSE_SECONDS = 2.0  # between two tries of a health check


def probe(url: str, *, attempts: int = 3) -> tuple[bool, str]:
    """GET the health-check URL until it answers 2xx, up to ``attempts`` tries."""
    return http_health(url, attempts=attempts, pause_seconds=PAUSE_SECONDS)


def source_up(run: Run, *, url: str | None) -> tuple[bool, str]:
    """Whether the region serving now still serves: its URL answers (when given), and the cloud
    reports every serving resource running or available."""
    if url:
        ok, seen = probe(url, attempts=1)
        if not ok:
            return False, seen
    with run.sessions() as session:
        rows = [(r.provider_id, r.cloud_id, r.name) for r in serving_resources(session, run.plan(session))]
    for provider_id, cloud_id, name in rows:
        try:
            state = run.adapter(provider_id).describe(cloud_id).state
        except CloudError as exc:
            return False, f"{name}: the cloud cannot describe it: {exc}"
        if state not in READY:
            return False, f"{name} is {state.value}"
    return True, f"{len(rows)} serving resource(s) are up"
