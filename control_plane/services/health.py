"""The probe of a resource's own health URL (``wedcloud:health-url``), which goes through the
outbound guard: a tag anyone with operator rights can set must not make the server read its own
files, its admin ports or a metadata service. (The infrastructure rollup is
``control_plane.monitoring.health``.)
"""

from __future__ import annotations

import time
from typing import Any

from control_plane.outbound import OutboundRefused, OutboundSettings, fetch


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
