"""What the gate (``control_api.gate``) counts: token buckets per caller, and refusals per
caller and minute, so that a flood of refused requests neither reaches the app nor grows the
audit log by a row per request.

Both live in one API process's memory: with several processes each keeps its own counts (a
limit of N a minute becomes N per process) and writes its own refusal rows.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from control_plane import audit
from control_plane.store.models import AuditEntry

# Beyond this many callers, the least recently seen are forgotten (a forgotten bucket is full
# again, which only errs on the caller's side; a forgotten refusal window is written first).
MAX_TRACKED = 50_000


def client_subject(scope: MutableMapping[str, Any]) -> str:
    """Who a request comes from, as far as the network says: its address, or for IPv6 its /64
    (one host can hold a whole /64, so counting single IPv6 addresses would count nothing)."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"client:{host[:64]}"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"client:{address.ipv4_mapped}"
        return f"client:{ipaddress.ip_network(f'{address}/64', strict=False)}"
    return f"client:{address}"


class TokenBuckets:
    """One bucket per subject holding up to ``per_minute`` tokens, refilled at ``per_minute``
    a minute; a request takes one. ``per_minute`` 0 turns the limit off."""

    def __init__(self, per_minute: int, *, clock: Any = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # subject: (tokens, at)

    def take(self, subject: str) -> float | None:
        """None when the request may go on; otherwise the seconds until a token is back."""
        if self.rate <= 0:
            return None
        now = self.clock()
        tokens, at = self._buckets.pop(subject, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        wait = None if tokens >= 1 else (1 - tokens) / self.rate
        self._buckets[subject] = (tokens - 1 if wait is None else tokens, now)
        while len(self._buckets) > MAX_TRACKED:
            self._buckets.popitem(last=False)
        return wait


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


@dataclass
class _Window:
    minute: int
    first: AuditEntry
    more: int = 0
    last_at: datetime | None = None
    statuses: dict[int, int] = field(default_factory=dict)


class RefusalLog:
    """Refused requests (401, 413, 429 at the gate) become audit rows by subject (a client
    address, or a key's prefix) and minute: the first refusal of a minute is written at once,
    as a full row; the rest of that minute are counted and written as one more row,
    ``detail.count`` of them, when the minute is over (or the API stops). So a subject adds at
    most two rows a minute, however hard it knocks, and the sum of ``count`` is every refusal."""

    def __init__(self, *, clock: Any = time.time) -> None:
        self.clock = clock
        self._windows: OrderedDict[str, _Window] = OrderedDict()
        self._swept = 0

    def record(self, subject: str, entry: AuditEntry) -> list[AuditEntry]:
        """Count ``entry`` (a refusal's full row); the rows to write now."""
        now = self.clock()
        minute = int(now // 60)
        due = self.sweep(now) if minute != self._swept else []
        window = self._windows.get(subject)
        if window is not None and window.minute == minute:
            window.more += 1
            window.last_at = datetime.fromtimestamp(now, UTC)
            window.statuses[entry.status_code] = window.statuses.get(entry.status_code, 0) + 1
            self._windows.move_to_end(subject)
            return due
        if window is not None:  # a window the sweep has not closed yet (the same minute's sweep ran)
            due.extend(self._close(subject))
        entry.detail = {**entry.detail, "count": 1, "subject": subject, "aggregated": "first of the minute"}
        self._windows[subject] = _Window(minute, entry)
        while len(self._windows) > MAX_TRACKED:
            due.extend(self._close(next(iter(self._windows))))
        return [*due, entry]

    def sweep(self, now: float | None = None) -> list[AuditEntry]:
        """The rows of every window whose minute is over (all of them with ``now`` = inf)."""
        now = self.clock() if now is None else now
        minute = now // 60 if math.isfinite(now) else math.inf
        self._swept = int(minute) if math.isfinite(minute) else self._swept
        ended = [subject for subject, window in self._windows.items() if window.minute < minute]
        return [row for subject in ended for row in self._close(subject)]

    def _close(self, subject: str) -> list[AuditEntry]:
        window = self._windows.pop(subject)
        if window.more == 0:
            return []
        first = window.first
        start = datetime.fromtimestamp(window.minute * 60, UTC)
        status = max(window.statuses, key=lambda s: window.statuses[s])
        return [
            audit.entry(
                actor=first.actor,
                role=first.role,
                method=first.method,
                path=first.path,
                action="refused (aggregated)",
                status=status,
                request_id=first.request_id,
                client=first.client,
                detail={
                    "count": window.more,
                    "subject": subject,
                    "aggregated": "the rest of the minute",
                    "window_start": start.isoformat(),
                    "last_at": window.last_at.isoformat() if window.last_at else None,
                    "statuses": {str(s): n for s, n in sorted(window.statuses.items())},
                },
            )
        ]
