"""The audit trail: what each change records about itself, with secrets redacted.

Every mutating request, every operation's end and every key or secret change leaves one row,
made by :func:`entry`; refusals at the gate are counted per caller and minute
(``control_api.limits.RefusalLog``). The API adds a request's row
(``control_api.request_context``): a successful change in the same transaction as the change,
a failed or refused request afterwards in a transaction of its own; an operation adds its own when it ends
(``control_plane.services.operations``). The table refuses UPDATE and DELETE in the database
itself, and each row is chained to the one before by its hash (``store.audit_chain``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from control_plane.store.models import AuditEntry

_SECRET_KEYS = re.compile(r"(secret|password|passphrase|token|credential|private|api[_-]?key)", re.I)
REDACTED = "***redacted***"
TOO_DEEP = "***nested too deep***"
MAX_DEPTH = 32  # the API refuses deeper bodies; the trail never recurses further


def redact(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` with every secret-looking key's value replaced, and anything nested
    deeper than MAX_DEPTH replaced by TOO_DEEP (a body of any depth cannot exhaust the stack)."""
    if isinstance(value, dict | list | tuple) and depth >= MAX_DEPTH:
        return TOO_DEEP
    if isinstance(value, dict):
        return {k: REDACTED if _SECRET_KEYS.search(str(k)) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v, depth + 1) for v in value]
    return value


def depth_of(value: Any) -> int:
    """How deep ``value`` nests (a scalar: 0), counted without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list | tuple):
            stack.extend((v, depth + 1) for v in item)
    return deepest


@dataclass
class AuditTrail:
    """What a handler wants remembered about its request (target, before and after)."""

    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    written: bool = False

    def record(self, *, target: str | None = None, before: Any = None, after: Any = None, **extra: Any) -> None:
        if target is not None:
            self.target = target
        if before is not None:
            self.detail["before"] = redact(before)
        if after is not None:
            self.detail["after"] = redact(after)
        self.detail.update(redact(extra))


def outcome(status: int) -> str:
    """The outcome an HTTP-like status stands for: denied, error, rejected or success."""
    if status in (401, 403):
        return "denied"
    if status >= 500:
        return "error"
    if status >= 400:
        return "rejected"
    return "success"


def entry(
    *,
    actor: str,
    method: str,
    path: str,
    action: str,
    status: int,
    request_id: str,
    target: str | None = None,
    role: str | None = None,
    client: str | None = None,
    detail: dict[str, Any],
) -> AuditEntry:
    """One audit row; the caller redacts ``detail`` (an :class:`AuditTrail` has already)."""
    return AuditEntry(
        actor=actor,
        role=role,
        method=method,
        path=path,
        action=action,
        target=target,
        outcome=outcome(status),
        status_code=status,
        request_id=request_id,
        client=client,
        detail=detail,
    )
