"""Long-running operations: recorded before the work starts, finished when it ends.

An endpoint that changes a cloud creates an :class:`Operation` in its request's transaction
and answers 202 at once; the work runs afterwards in its own transaction (``execute``) and
the caller polls ``GET /api/cloud/operations/{id}``. An ``Idempotency-Key`` makes a retried
request return the operation the first attempt created, and refuses the same key with a
different body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from clouds.errors import CloudError
from control_plane import audit
from control_plane.audit import redact
from control_plane.pagination import page_of, seek
from control_plane.services.errors import InvalidRequest, NotFound, ServiceError
from control_plane.store.models import AuditEntry, Operation
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED)
Work = Callable[[Session], dict[str, Any]]


class IdempotencyMismatch(InvalidRequest):
    title = "Idempotency key reused"


def request_hash(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


def begin(
    session: Session,
    *,
    kind: str,
    actor: str,
    request: dict[str, Any],
    provider_id: uuid.UUID | None = None,
    resource_id: uuid.UUID | None = None,
    idempotency_key: str | None = None,
) -> tuple[Operation, bool]:
    """The operation for this request, and whether it is new (False: a retry of an earlier one)."""
    digest = request_hash({"kind": kind, **request})
    if idempotency_key:
        earlier = session.scalar(
            select(Operation).where(Operation.actor == actor, Operation.idempotency_key == idempotency_key)
        )
        if earlier is not None:
            if earlier.request_hash != digest:
                raise IdempotencyMismatch(
                    f"the Idempotency-Key {idempotency_key!r} was used for a different request "
                    f"(operation {earlier.id}); use a new key for a new request"
                )
            return earlier, False
    operation = Operation(
        kind=kind,
        status=PENDING,
        actor=actor,
        request=redact(request),
        request_hash=digest,
        idempotency_key=idempotency_key,
        provider_id=provider_id,
        resource_id=resource_id,
    )
    session.add(operation)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same key, committed by a concurrent request a moment ago
        session.expunge(operation)
        return begin(
            session, kind=kind, actor=actor, request=request, provider_id=provider_id,
            resource_id=resource_id, idempotency_key=idempotency_key,
        )  # fmt: skip
    return operation, True


def execute(sessions: sessionmaker[Session], operation_id: uuid.UUID, work: Work) -> None:
    """Run ``work`` for a pending operation and record how it ended. Never raises: the
    outcome is the operation's status, result and error."""
    with sessions() as session:
        operation = session.get(Operation, operation_id)
        if operation is None or operation.status not in (PENDING, RUNNING):
            return
        operation.status, operation.started_at = RUNNING, utcnow()
        operation.attempts += 1
        session.commit()
    try:
        with sessions() as session:
            result = work(session)
            session.commit()
        outcome: dict[str, Any] = {"status": SUCCEEDED, "result": result, "error": None}
    except (CloudError, ServiceError) as exc:
        outcome = {"status": FAILED, "result": None, "error": {"type": type(exc).__name__, "detail": str(exc)}}
    except Exception:
        log.exception("operation failed", extra={"operation_id": str(operation_id)})
        detail = "an unexpected error stopped the operation; it has been logged"
        outcome = {"status": FAILED, "result": None, "error": {"type": "InternalError", "detail": detail}}
    with sessions() as session:
        operation = session.get(Operation, operation_id)
        if operation is not None:
            operation.status, operation.result, operation.error = outcome["status"], outcome["result"], outcome["error"]
            operation.finished_at = utcnow()
            session.add(_finished_entry(operation))
            session.commit()


def _finished_entry(operation: Operation) -> AuditEntry:
    """The audit row of an operation's end: what it changed (its result holds the before and
    after state) or why it failed. The request that started it has its own row."""
    target = f"resource:{operation.resource_id}" if operation.resource_id else f"provider:{operation.provider_id}"
    succeeded = operation.status == SUCCEEDED
    return audit.entry(
        actor=operation.actor,
        method="TASK",
        path=f"/api/cloud/operations/{operation.id}",
        action=f"operation.{operation.kind}",
        target=target[:200],
        status=200 if succeeded else 500,
        request_id=operation.id.hex,
        detail=redact({"operation": str(operation.id), "result": operation.result, "error": operation.error}),
    )


def get_operation(session: Session, operation_id: uuid.UUID) -> Operation:
    operation = session.get(Operation, operation_id)
    if operation is None:
        raise NotFound(f"no operation with id {operation_id}")
    return operation


@dataclass(frozen=True)
class OperationPage:
    items: list[Operation]
    next_cursor: str | None


def list_operations(
    session: Session,
    *,
    kind: str | None = None,
    status: str | None = None,
    provider_id: uuid.UUID | None = None,
    limit: int,
    cursor: str | None = None,
) -> OperationPage:
    """Newest first."""
    query = select(Operation)
    if kind:
        query = query.where(Operation.kind == kind)
    if status:
        query = query.where(Operation.status == status)
    if provider_id:
        query = query.where(Operation.provider_id == provider_id)
    query = seek(
        query, Operation.created_at, Operation.id, limit=limit, cursor=cursor, descending=True,
        decode=datetime.fromisoformat,
    )  # fmt: skip
    return OperationPage(*page_of(list(session.scalars(query)), limit, lambda o: o.created_at.isoformat()))


def public_view(operation: Operation) -> dict[str, Any]:
    return {
        "id": str(operation.id),
        "kind": operation.kind,
        "status": operation.status,
        "provider_id": str(operation.provider_id) if operation.provider_id else None,
        "resource_id": str(operation.resource_id) if operation.resource_id else None,
        "request": operation.request,
        "result": operation.result,
        "error": operation.error,
        "attempts": operation.attempts,
        "created_at": operation.created_at.isoformat(),
        "started_at": operation.started_at.isoformat() if operation.started_at else None,
        "finished_at": operation.finished_at.isoformat() if operation.finished_at else None,
    }
