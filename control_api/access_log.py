"""The access log: one JSON line per HTTP request, on the ``control_api.access`` logger.

Each line has the request id (the one echoed as ``X-Request-ID``), the method, the path
without its query string (a query may carry anything a client put there), the status, the
duration in milliseconds, the client address (after uvicorn's proxy-header handling: behind a
trusted proxy, the address it forwarded) and the key's name when the gate authenticated one.
Never a header, so never a key. ``WEDCLOUD_ACCESS_LOG=false`` turns it off, and ``wedcloud
api`` then leaves uvicorn's own (plain text) access log on instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

from control_api.logs import JsonFormatter
from control_plane.services.api_keys import Principal

ACCESS_LOGGER = "control_api.access"
log = logging.getLogger(ACCESS_LOGGER)


def configure_access_log(enabled: bool) -> None:
    """JSON lines on stderr whatever ``log_format`` says: access logs are read by machines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO if enabled else logging.CRITICAL + 1)
    log.propagate = False


def log_access(scope: MutableMapping[str, Any], status: int, seconds: float) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    state = scope.get("state", {})
    principal: Principal | None = state.get("principal")
    client = scope.get("client")
    method, path = scope["method"], scope["path"][:400]
    log.info(
        "%s %s %d",
        method,
        path,
        status,
        extra={
            "request_id": state.get("request_id"),
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "client": client[0] if client else None,
            "principal": principal.name if principal else None,
        },
    )
