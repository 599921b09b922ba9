"""Stream events for changes of operations and resources, published in the transaction that
makes the change.

Resources change state in many places (a provision's work, an action's, a sync, the
reconciler, an applied recommendation), so rather than a call at each of them the session
watches its own flushes: after each flush it notes every ``Operation`` whose ``status`` changed
and every ``Resource`` whose ``state`` or ``desired_state`` changed (new rows included), and just
before the transaction commits it publishes them through ``events.publish_many``: topic
``operations`` with {id, kind, status, resource_id, updated_at} and topic ``resources`` with {id,
name, state, desired_state, provider_id}. A rolled-back transaction publishes nothing. A change
made with a bulk ``UPDATE`` (the executor's claim) is not seen by the ORM and publishes itself
with ``operation_changed``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, inspect, select
from sqlalchemy.orm import InstanceState, Session, SessionTransaction

from control_plane.monitoring import events
from control_plane.store.models import Operation, Resource
from wedcloud.sqltypes import utcnow

PENDING = "wedcloud.stream_changes"


def _changed(obj: Any, name: str, new: bool) -> bool:
    """Whether ``name`` changed in this flush, from the attribute's history."""
    if new:
        return True
    history = inspect(obj).attrs[name].history
    if not history.added:
        return False
    before = history.deleted[0] if history.deleted else None
    return bool(before != history.added[0])


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def resource_payload(row: Resource) -> dict[str, Any]:
    return {
        "id": _text(row.id),
        "name": row.name,
        "state": row.state,
        "desired_state": row.desired_state,
        "provider_id": _text(row.provider_id),
    }


def operation_payload(row: Operation) -> dict[str, Any]:
    return {
        "id": _text(row.id),
        "kind": row.kind,
        "status": row.status,
        "resource_id": _text(row.resource_id),
        "updated_at": utcnow().isoformat(),
    }


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _context: Any) -> None:
    new = set(session.new)
    for obj in (*new, *session.dirty):
        if isinstance(obj, Resource):
            changed = _changed(obj, "state", obj in new) or _changed(obj, "desired_state", obj in new)
        elif isinstance(obj, Operation):
            changed = _changed(obj, "status", obj in new)
        else:
            continue
        if changed:
            session.info.setdefault(PENDING, {})[id(obj)] = obj


@event.listens_for(Session, "before_commit")
def _publish_changes(session: Session) -> None:
    if session.get_nested_transaction() is not None:  # a savepoint's commit: wait for the real one
        return
    session.flush()  # changes not flushed yet are noted now
    noted: dict[int, Resource | Operation] = session.info.pop(PENDING, {})
    items: dict[str, list[dict[str, Any]]] = {"operations": [], "resources": []}
    for obj in noted.values():
        state: InstanceState[Any] = inspect(obj)
        if state.deleted or state.detached or state.transient:  # removed again in the same transaction
            continue
        if isinstance(obj, Resource):
            items["resources"].append(
                {"data": resource_payload(obj), "provider_id": obj.provider_id, "resource_id": obj.id}
            )
        else:
            data = operation_payload(obj)
            items["operations"].append({"data": data, "provider_id": obj.provider_id, "resource_id": obj.resource_id})
    for topic, batch in items.items():
        if batch:
            events.publish_many(session, topic, batch)


@event.listens_for(Session, "after_transaction_end")
def _forget_changes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended: committed or rolled back
        session.info.pop(PENDING, None)


def operation_changed(session: Session, operation_id: uuid.UUID) -> None:
    """Publish an operation's status after a bulk UPDATE changed it (in the same transaction)."""
    row = session.execute(
        select(Operation.id, Operation.kind, Operation.status, Operation.resource_id, Operation.provider_id).where(
            Operation.id == operation_id
        )
    ).one_or_none()
    if row is None:
        return
    data = {
        "id": str(row.id),
        "kind": row.kind,
        "status": row.status,
        "resource_id": _text(row.resource_id),
        "updated_at": utcnow().isoformat(),
    }
    events.publish(session, "operations", data, provider_id=row.provider_id, resource_id=row.resource_id)
