"""The audit log's hash chain (migration 0008).

Every audit row, whoever writes it, is chained when its session flushes: the transaction locks
the chain's head (``audit_chain``: ``FOR UPDATE`` on PostgreSQL; on SQLite a write to it, which
takes the database's write lock), gives each new row the next ``seq``, the head's hash as
``prev_hash`` and its own ``row_hash``, SHA-256 over the previous hash and the row's canonical
form (format v1 below), then moves the head. Rows are therefore chained one transaction after
another, in the order their transactions flushed.

:func:`verify` walks the rows in ``seq`` order and reports a row whose columns no longer match
its hash (changed), a link that does not follow from the row before (a row deleted or
inserted), and a last row that is not the head (rows cut off the end). Someone who can write
the database can still rewrite the whole chain from the point they change; keep the head hash
``wedcloud audit verify`` prints somewhere they cannot reach (docs/security.md).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, UOWTransaction

from control_plane.store.models import AuditChainHead, AuditEntry
from wedcloud.sqltypes import utcnow

GENESIS = "0" * 64
FIELDS = (
    "seq", "occurred_at", "actor", "role", "method", "path", "action", "target", "outcome", "status_code",
    "request_id", "client", "detail",
)  # fmt: skip


def canonical(values: dict[str, Any]) -> str:
    """Format v1: the row's fields as sorted, compact JSON; times in UTC, ISO 8601."""
    out = {}
    for name in FIELDS:
        value = values.get(name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        out[name] = value
    return json.dumps(out, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def link_hash(prev_hash: str, values: dict[str, Any]) -> str:
    return hashlib.sha256(f"v1\n{prev_hash}\n{canonical(values)}".encode()).hexdigest()


def _values(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in FIELDS}


@event.listens_for(Session, "before_flush")
def _chain_new_rows(session: Session, _context: UOWTransaction, _instances: Any) -> None:
    new = [obj for obj in session.new if isinstance(obj, AuditEntry) and obj.seq is None]
    if not new:
        return
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        locked = "SELECT seq, row_hash FROM audit_chain WHERE id = 1 FOR UPDATE"
    else:  # the write takes SQLite's write lock before the head is read
        connection.execute(text("UPDATE audit_chain SET seq = seq WHERE id = 1"))
        locked = "SELECT seq, row_hash FROM audit_chain WHERE id = 1"
    seq, last = connection.execute(text(locked)).one()
    for entry in sorted(new, key=lambda e: e.occurred_at or utcnow()):
        entry.occurred_at = entry.occurred_at or utcnow()
        entry.detail = entry.detail if entry.detail is not None else {}
        seq += 1
        entry.seq, entry.prev_hash = seq, last
        entry.row_hash = last = link_hash(last, _values(entry))
    connection.execute(
        text("UPDATE audit_chain SET seq = :seq, row_hash = :hash WHERE id = 1"), {"seq": seq, "hash": last}
    )


@dataclass
class Verification:
    rows: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rows(session: Session) -> Iterator[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.seq.is_(None), AuditEntry.seq, AuditEntry.id)
    yield from session.scalars(query.execution_options(yield_per=1000))


def verify(session: Session, *, max_problems: int = 100) -> Verification:
    """Walk the chain; every row that does not follow from the one before is a problem."""
    head = session.get(AuditChainHead, 1)
    result = Verification(head_seq=head.seq if head else 0, head_hash=head.row_hash if head else GENESIS)

    def problem(entry: AuditEntry | None, kind: str, detail: str) -> None:
        if len(result.problems) < max_problems:
            seq, row_id = (entry.seq, entry.id) if entry is not None else (None, None)
            result.problems.append({"seq": seq, "id": row_id, "problem": kind, "detail": detail})

    seq, last = 0, GENESIS
    for entry in _rows(session):
        result.rows += 1
        if entry.seq is None:
            problem(entry, "unchained", "the row has no place in the chain (written around the chain's code)")
            continue
        if entry.seq != seq + 1 or entry.prev_hash != last:
            missing = f"rows {seq + 1}..{entry.seq - 1} are missing" if entry.seq > seq + 1 else "the link is broken"
            problem(entry, "deleted" if entry.seq > seq + 1 else "relinked", f"{missing} before row {entry.seq}")
        if link_hash(entry.prev_hash or "", _values(entry)) != entry.row_hash:
            problem(entry, "changed", f"row {entry.seq} does not match its hash: it was changed after it was written")
        seq, last = entry.seq, entry.row_hash or ""
    if head is not None and (head.seq, head.row_hash) != (seq, last):
        problem(None, "truncated", f"the chain's head is row {head.seq}; the last row found is {seq}")
    return result
