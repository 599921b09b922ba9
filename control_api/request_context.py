"""Every request's id, and the audit row of every mutating request and every refused one.

A successful change writes its audit row in the same transaction as the change (see
``deps.get_session``), so there is never a change without its row. Requests that fail or
are refused (401, 403, 4xx, 5xx) change nothing; the middleware records them afterwards
in a transaction of their own. What a row says is ``control_plane.audit``'s.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

import anyio
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_api.access_log import log_access
from control_plane import audit
from control_plane.audit import AuditTrail
from control_plane.services.api_keys import Principal
from control_plane.store.models import AuditEntry

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
log = logging.getLogger(__name__)


def build_entry(scope: Scope, status: int) -> AuditEntry:
    """The audit row of the request in ``scope``, which answered ``status``."""
    state = scope.setdefault("state", {})
    principal: Principal | None = state.get("principal")
    trail: AuditTrail = state.setdefault("audit", AuditTrail())
    route = scope.get("route")
    client = scope.get("client")
    return audit.entry(
        actor=principal.actor if principal else "anonymous",
        role=principal.role.value if principal else None,
        method=scope["method"],
        path=scope["path"][:400],
        action=getattr(route, "name", None) or f"{scope['method']} {scope['path']}"[:120],
        target=trail.target,
        status=status,
        request_id=state.get("request_id", ""),
        client=client[0] if client else None,
        detail=trail.detail,
    )


def needs_audit(method: str, status: int) -> bool:
    return method in MUTATING or status in (401, 403)


class RequestContextMiddleware:
    """Gives each request an id (echoed as ``X-Request-ID``), writes the audit rows the
    request's own transaction could not, and the request's access-log line."""

    def __init__(self, app: ASGIApp, sessions: sessionmaker[Session]) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state["request_id"] = request_id
        state["audit"] = AuditTrail()
        status = 500
        started = time.perf_counter()

        async def send_with_context(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_context)
        finally:
            log_access(scope, status, time.perf_counter() - started)
            if needs_audit(scope["method"], status) and not state["audit"].written:
                entry = build_entry(scope, status)
                try:
                    await anyio.to_thread.run_sync(self._write, entry)
                except Exception:  # the response is already sent; never lose the reason
                    log.exception("could not write audit entry", extra={"request_id": request_id})

    def _write(self, entry: AuditEntry) -> None:
        with self.sessions() as session, session.begin():
            session.add(entry)
