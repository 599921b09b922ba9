"""Health of the control plane's dependencies (the state store, the serving snapshot and each
registered provider), and the probe of a resource's own health URL (``wedcloud:health-url``),
which goes through the outbound guard: a tag anyone with operator rights can set must not make
the server read its own files, its admin ports or a metadata service.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from control_plane.outbound import OutboundRefused, OutboundSettings, fetch
from control_plane.services.providers import adapter_for
from control_plane.store.migrate import current_revision, head_revision
from control_plane.store.models import Provider
from wedcloud.home import HomeLayout
from wedcloud.snapshots import SnapshotInfo

OK, DEGRADED, DOWN = "ok", "degraded", "down"


@dataclass
class Health:
    status: str
    checked_at: datetime
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    providers: list[dict[str, Any]] = field(default_factory=list)


def _worst(statuses: list[str]) -> str:
    return DOWN if DOWN in statuses else DEGRADED if DEGRADED in statuses else OK


def check_health(
    session: Session,
    *,
    snapshot: SnapshotInfo | None,
    layout: HomeLayout,
    stale_after_hours: float,
) -> Health:
    now = datetime.now(UTC)
    started = time.perf_counter()
    session.execute(text("SELECT 1"))
    engine = session.get_bind()
    revision = current_revision(engine)  # type: ignore[arg-type]
    store = {
        "status": OK if revision == head_revision() else DEGRADED,
        "dialect": engine.dialect.name,
        "schema_revision": revision,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
    }
    if snapshot is None:
        serving: dict[str, Any] = {"status": DEGRADED, "detail": "no snapshot published yet"}
    else:
        age = snapshot.age_seconds(now)
        serving = {
            "status": OK if age <= stale_after_hours * 3600 else DEGRADED,
            "version": snapshot.version,
            "published_at": snapshot.published_at.isoformat(),
            "age_seconds": round(age, 1),
            "data_through": snapshot.metadata.get("data_through"),
        }
    providers = []
    for provider in session.scalars(select(Provider).order_by(Provider.name)):
        reach = _reach(provider, session=session, layout=layout)
        providers.append({"id": str(provider.id), "name": provider.name, "kind": provider.kind, **reach})
    statuses = [store["status"], serving["status"], *(DEGRADED if p["status"] == DOWN else OK for p in providers)]
    return Health(
        status=_worst(statuses),
        checked_at=now,
        components={"state_store": store, "serving_snapshot": serving},
        providers=providers,
    )


def _reach(provider: Provider, *, session: Session, layout: HomeLayout) -> dict[str, Any]:
    """The sandbox is asked now (it is local); a real cloud is not called on every health
    probe: its last connection test is reported, with when it ran."""
    if provider.kind == "sandbox":
        check = adapter_for(provider, session=session, layout=layout).test_connection()
        return {"status": OK if check.ok else DOWN, "detail": check.detail}
    if provider.last_check is None:
        return {"status": DEGRADED, "detail": "never tested: POST /api/cloud/providers/{id}/test-connection"}
    return {
        "status": OK if provider.last_check["ok"] else DOWN,
        "detail": provider.last_check["detail"],
        "checked_at": provider.last_check["checked_at"],
    }


def http_health(
    url: str, *, attempts: int = 3, pause_seconds: float = 1.0, sleep: Any = time.sleep
) -> tuple[bool, str]:
    """GET ``url`` until it answers 2xx, up to ``attempts`` tries: (healthy, what we saw). Never
    raises: a URL the guard refuses (not http(s), credentials in it, a loopback, private,
    link-local or metadata address unless WEDCLOUD_OUTBOUND_ALLOW_PRIVATE) or a redirect is an
    unhealthy answer with the reason, at once, without retrying."""
    settings = OutboundSettings()
    shown = _shown(url)
    seen = ""
    for attempt in range(attempts):
        if attempt:
            sleep(pause_seconds)
        try:
            answer = fetch(
                "GET",
                url,
                allow_private=settings.allow_private,
                timeout=settings.timeout_seconds,
                max_bytes=settings.max_response_bytes,
            )
        except OutboundRefused as exc:
            return False, f"{shown} refused: {exc}"
        except (OSError, ValueError) as exc:  # refused, reset, timed out, bad TLS, a broken answer
            seen = f"{shown} did not answer: {type(exc).__name__}: {exc}"
            continue
        if 200 <= answer.status < 300:
            return True, f"{shown} answered {answer.status}"
        if answer.redirect:
            return False, f"{shown} answered {answer.status}: a redirect, which a health check does not follow"
        seen = f"{shown} answered {answer.status}"
    return False, seen


def _shown(url: str) -> str:
    """The URL as a check's detail shows it: at most 200 characters, no control characters."""
    clean = "".join(c if c.isprintable() else "?" for c in url)
    return clean if len(clean) <= 200 else f"{clean[:200]}..."
