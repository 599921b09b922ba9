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
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from clouds.errors import CloudError
from control_plane import audit
from control_plane.audit import redact
from control_plane.crypto import Cipher
from control_plane.pagination import page_of, seek
from control_plane.services import executor
from control_plane.services.errors import Conflict, InvalidRequest, NotFound, ServiceError
from control_plane.store.models import AuditEntry, Operation
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)

PENDING, RUNNING, SUCCEEDED, FAILED = "pending", "running", "succeeded", "failed"
STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED)
IN_FLIGHT = (PENDING, RUNNING)
MAX_ATTEMPTS = 3  # runs of an operation whose provider was busy or unreachable
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
    target: str | None = None,
    cipher: Cipher | None = None,
    sealed: dict[str, Any] | None = None,
    operation_id: uuid.UUID | None = None,
) -> tuple[Operation, bool]:
    """The operation for this request, and whether it is new (False: a retry of an earlier one).

    ``target`` names what it changes: while another operation on it is pending or running the
    request is refused (Conflict naming that operation). With ``cipher``, ``sealed`` (default:
    ``request``) is kept encrypted, so a resumed operation uses the real values and readers see
    only the redacted copy. The new operation is leased to this process (``executor``) until it
    starts, so no reconciler takes it over in the meantime."""
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
    if target is not None:
        refuse_if_in_flight(session, target)
    operation_id = operation_id or uuid.uuid4()
    operation = Operation(
        id=operation_id,
        kind=kind,
        status=PENDING,
        actor=actor,
        request=redact(request),
        request_hash=digest,
        idempotency_key=idempotency_key,
        provider_id=provider_id,
        resource_id=resource_id,
        target=target,
        sealed_request=cipher.encrypt(sealed if sealed is not None else request, context=str(operation_id))
        if cipher is not None
        else None,
        lease_owner=executor.OWNER,
        lease_expires_at=utcnow() + executor.lease_ttl(),
    )
    try:
        # added inside the savepoint: begin_nested() flushes what is pending *before* it, where a
        # failed insert would roll the caller's whole transaction back; rolled back here, the
        # savepoint alone goes, and the operation with it
        with session.begin_nested():
            session.add(operation)
            session.flush()
    except IntegrityError:  # the same key or target, committed by a concurrent request a moment ago
        return begin(
            session, kind=kind, actor=actor, request=request, provider_id=provider_id,
            resource_id=resource_id, idempotency_key=idempotency_key, target=target, cipher=cipher,
            sealed=sealed, operation_id=operation_id,
        )  # fmt: skip
    return operation, True


def refuse_if_in_flight(session: Session, target: str) -> None:
    """Conflict naming the operation that is changing ``target`` now, if there is one."""
    busy = session.scalar(select(Operation).where(Operation.target == target, Operation.status.in_(IN_FLIGHT)))
    if busy is not None:
        raise Conflict(
            f"operation {busy.id} ({busy.kind}, {busy.status}) is changing this now; wait for it to end "
            f"(GET /api/cloud/operations/{busy.id})",
            operation=str(busy.id),
        )


def unsealed(operation: Operation, cipher: Cipher | None) -> dict[str, Any] | None:
    """The request as asked, or None when it was not sealed (or cannot be read here)."""
    if operation.sealed_request is None or cipher is None:
        return None
    return cipher.decrypt(operation.sealed_request, context=str(operation.id))


def execute(
    sessions: sessionmaker[Session],
    operation_id: uuid.UUID,
    work: Work,
    *,
    claimed: bool = False,
    owner: str = executor.OWNER,
) -> None:
    """Run ``work`` for an operation ``owner`` (this process) can claim (``executor.claim``;
    ``claimed``: it did already) and record how it ended. Never raises: the outcome is the
    operation's status, result and error. Does nothing when another owner holds the lease or the
    operation ended. A provider that is busy or unreachable (a retryable error) leaves it pending
    for the reconciler to try again, up to MAX_ATTEMPTS runs."""
    if not claimed and not executor.claim(sessions, operation_id, owner=owner):
        return
    try:
        with executor.Heartbeat(sessions, operation_id, owner=owner):
            outcome = _outcome(sessions, operation_id, work)
        finish(sessions, operation_id, **outcome, owner=owner)
    finally:
        executor.release(operation_id, owner=owner)


def _outcome(sessions: sessionmaker[Session], operation_id: uuid.UUID, work: Work) -> dict[str, Any]:
    try:
        with sessions() as session:
            result = work(session)
            session.commit()
        return {"status": SUCCEEDED, "result": result, "error": None}
    except (CloudError, ServiceError) as exc:
        again = isinstance(exc, CloudError) and exc.retryable
        error = {"type": type(exc).__name__, "detail": str(exc)}
        return {"status": PENDING if again else FAILED, "result": None, "error": error}
    except Exception:
        log.exception("operation failed", extra={"operation_id": str(operation_id)})
        detail = "an unexpected error stopped the operation; it has been logged"
        return {"status": FAILED, "result": None, "error": {"type": "InternalError", "detail": detail}}


def finish(
    sessions: sessionmaker[Session],
    operation_id: uuid.UUID,
    *,
    status: str,
    result: dict[str, Any] | None,
    error: dict[str, Any] | None,
    owner: str = executor.OWNER,
) -> bool:
    """Record the end and release the lease, only while ``owner`` holds it (a process that lost
    its lease records nothing: the one that took over does). True if recorded. ``PENDING``: to be
    tried again (the lease is released at once), unless it has had MAX_ATTEMPTS runs."""
    with sessions() as session:
        operation = session.get(Operation, operation_id, with_for_update=True)
        if operation is None or operation.status not in IN_FLIGHT or operation.lease_owner != owner:
            log.warning("operation %s: lease lost before its end was recorded", operation_id)
            return False
        if status == PENDING and operation.attempts >= MAX_ATTEMPTS:
            status = FAILED
        operation.status, operation.result, operation.error = status, result, error
        operation.lease_owner, operation.lease_expires_at = None, None
        if status != PENDING:
            operation.finished_at = utcnow()
            operation.sealed_request = None  # kept only to resume; an ended operation needs it no more
            session.add(_finished_entry(operation))
        session.commit()
    return True


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
    provider_ids: Collection[uuid.UUID] | None = None,
    limit: int,
    cursor: str | None = None,
) -> OperationPage:
    """Newest first; ``provider_ids``: only operations on these providers (none when empty)."""
    query = select(Operation)
    if kind:
        query = query.where(Operation.kind == kind)
    if status:
        query = query.where(Operation.status == status)
    if provider_ids is not None:
        query = query.where(Operation.provider_id.in_(sorted(provider_ids)))
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
