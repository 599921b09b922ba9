"""Leases: one process at a time executes an operation.

An operation is leased to an owner (a process) until a time. ``operations.begin`` leases a new
operation to the process that created it; ``claim`` takes it for execution by a conditional
UPDATE (on PostgreSQL after ``SELECT ... FOR UPDATE SKIP LOCKED`` on its row), which succeeds
only while the lease is this owner's or has expired; a :class:`Heartbeat` renews it while the
work runs, however long a cloud call takes; the end is recorded only by the lease's holder, which
releases it. The reconciler takes over only operations whose lease expired: their process died.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import datetime, timedelta
from types import TracebackType

from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from control_plane.monitoring import changes
from control_plane.store.models import Operation
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)

OWNER = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
LEASE_SECONDS = float(os.environ.get("WEDCLOUD_OPERATION_LEASE_SECONDS", "60"))
IN_FLIGHT = ("pending", "running")
_here: set[tuple[str, uuid.UUID]] = set()  # (owner, operation) this process is executing now
_here_lock = threading.Lock()


def lease_ttl() -> timedelta:
    return timedelta(seconds=LEASE_SECONDS)


def claimable(owner: str, now: datetime) -> ColumnElement[bool]:
    """In flight, and leased to nobody, to ``owner``, or past its lease."""
    return Operation.status.in_(IN_FLIGHT) & or_(
        Operation.lease_expires_at.is_(None), Operation.lease_expires_at <= now, Operation.lease_owner == owner
    )


def expired(now: datetime) -> ColumnElement[bool]:
    """In flight and nobody holds it: what the reconciler may take over."""
    free = or_(Operation.lease_expires_at.is_(None), Operation.lease_expires_at <= now)
    return Operation.status.in_(IN_FLIGHT) & free


def claim(sessions: sessionmaker[Session], operation_id: uuid.UUID, *, owner: str = OWNER) -> bool:
    """Take ``operation_id`` for execution by ``owner``: True if it is now ours to run."""
    with _here_lock:
        if (owner, operation_id) in _here:  # this process runs it already (its lease is ours too)
            return False
        _here.add((owner, operation_id))
    try:
        now = utcnow()
        with sessions() as session:
            if session.get_bind().dialect.name == "postgresql":
                locked = session.scalar(
                    select(Operation.id)
                    .where(Operation.id == operation_id, claimable(owner, now))
                    .with_for_update(skip_locked=True)
                )
                if locked is None:  # another process holds the row (or the lease) now
                    _forget(owner, operation_id)
                    return False
            taken = session.execute(
                update(Operation)
                .where(Operation.id == operation_id, claimable(owner, now))
                .values(
                    lease_owner=owner,
                    lease_expires_at=now + lease_ttl(),
                    status="running",
                    started_at=now,
                    attempts=Operation.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount == 1:  # type: ignore[attr-defined]
                changes.operation_changed(session, operation_id)  # now running: on the stream
            session.commit()
    except BaseException:
        _forget(owner, operation_id)
        raise
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        _forget(owner, operation_id)
        return False
    return True


def renew(sessions: sessionmaker[Session], operation_id: uuid.UUID, *, owner: str = OWNER) -> bool:
    """Push the lease's expiry on; False if ``owner`` no longer holds it."""
    with sessions() as session:
        done = session.execute(
            update(Operation)
            .where(Operation.id == operation_id, Operation.lease_owner == owner, Operation.status.in_(IN_FLIGHT))
            .values(lease_expires_at=utcnow() + lease_ttl())
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def _forget(owner: str, operation_id: uuid.UUID) -> None:
    with _here_lock:
        _here.discard((owner, operation_id))


class Heartbeat:
    """Renews a lease every third of its length in a thread until the block ends."""

    def __init__(self, sessions: sessionmaker[Session], operation_id: uuid.UUID, *, owner: str = OWNER) -> None:
        self.sessions, self.operation_id, self.owner = sessions, operation_id, owner
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{operation_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(LEASE_SECONDS / 3):
            try:
                if not renew(self.sessions, self.operation_id, owner=self.owner):
                    self.lost = True
                    log.warning("lost the lease of operation %s", self.operation_id)
                    return
            except Exception:  # a store that does not answer now may answer at the next beat
                log.warning("could not renew the lease of operation %s", self.operation_id, exc_info=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()


def release(operation_id: uuid.UUID, *, owner: str = OWNER) -> None:
    """``owner`` no longer executes ``operation_id`` (call once its end is recorded)."""
    _forget(owner, operation_id)
