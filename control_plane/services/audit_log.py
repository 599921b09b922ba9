"""Reading the audit log (newest first, filtered, in cursor pages) and checking its chain; the
rows of changes made outside the API (keys, secrets) by the command line."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane import audit
from control_plane.pagination import decode_cursor, encode_cursor
from control_plane.services.errors import InvalidRequest
from control_plane.store.audit_chain import Verification, verify
from control_plane.store.models import AuditEntry

__all__ = ["AuditPage", "Verification", "list_entries", "record_change", "verify"]


@dataclass(frozen=True)
class AuditPage:
    items: list[AuditEntry]
    next_cursor: str | None


def list_entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
    cursor: str | None = None,
) -> AuditPage:
    """Rows newest first (by their place in the chain); ``since`` inclusive, ``until`` not."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit + 1)
    query = query.where(AuditEntry.seq.is_not(None))
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEntry.occurred_at < until)
    if since is not None and until is not None and until <= since:
        raise InvalidRequest("`until` must be after `since`")
    if cursor:
        (before,) = decode_cursor(cursor, 1)
        if not isinstance(before, int) or isinstance(before, bool) or not 0 < before < 2**63:
            raise InvalidRequest("the cursor is not one this API issued; start again without `cursor`")
        query = query.where(AuditEntry.seq < before)
    rows = list(session.scalars(query))
    if len(rows) <= limit:
        return AuditPage(rows, None)
    rows = rows[:limit]
    return AuditPage(rows, encode_cursor(rows[-1].seq))


def record_change(
    session: Session, *, actor: str, action: str, target: str | None, detail: dict[str, Any], command: str
) -> AuditEntry:
    """The audit row of a change made outside the API (the command line, the demo), in the
    caller's transaction: with the change, or not at all."""
    entry = audit.entry(
        actor=actor,
        method="CLI",
        path=command[:400],
        action=action,
        target=target,
        status=200,
        request_id=uuid.uuid4().hex,
        detail=audit.redact(detail),
    )
    session.add(entry)
    return entry
