"""API keys: create (the key is returned once), authenticate, list, revoke."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.security import NewKey, Role, generate_key, matches, parse_prefix
from control_plane.services.audit_log import record_change
from control_plane.services.errors import Conflict, NotFound
from control_plane.store.models import ApiKey

# last_used_at is a hint, not an audit record: refresh it at most this often per key.
_LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved from an API key."""

    key_id: uuid.UUID
    name: str
    role: Role

    @property
    def actor(self) -> str:
        return f"key:{self.name}:{self.key_id}"


def create_key(
    session: Session, *, name: str, role: Role, key: NewKey | None = None, actor: str = "system"
) -> tuple[ApiKey, str]:
    """Store a new key, with its audit row; returns the row and the token, which is never
    retrievable again."""
    key = key or generate_key()
    if session.scalar(select(ApiKey).where(ApiKey.prefix == key.prefix)) is not None:
        raise Conflict(f"an API key with prefix {key.prefix} already exists")
    row = ApiKey(name=name, role=role.value, prefix=key.prefix, digest=key.digest)
    session.add(row)
    session.flush()
    detail = {"name": name, "role": role.value, "prefix": key.prefix}
    record_change(
        session, actor=actor, action="api_key.create", target=f"api_key:{row.id}", detail=detail, command="keys create"
    )
    return row, key.token


def ensure_key(session: Session, *, name: str, role: Role, key: NewKey, actor: str = "system") -> ApiKey:
    """Register ``key`` unless it is already registered (idempotent, for the demo)."""
    existing = session.scalar(select(ApiKey).where(ApiKey.prefix == key.prefix))
    if existing is not None:
        if existing.digest != key.digest:
            raise Conflict(f"a different API key with prefix {key.prefix} is already registered")
        return existing
    row, _ = create_key(session, name=name, role=role, key=key, actor=actor)
    return row


def authenticate(session: Session, *, token: str, now: datetime | None = None) -> Principal | None:
    prefix = parse_prefix(token)
    if prefix is None:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if row is None or row.revoked_at is not None or not matches(token, row.digest):
        return None
    now = now or datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at > _LAST_USED_GRANULARITY:
        row.last_used_at = now
    return Principal(key_id=row.id, name=row.name, role=Role(row.role))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_key(session: Session, *, key_id: uuid.UUID, actor: str = "system") -> ApiKey:
    """Revoke the key, with its audit row (revoking a revoked key changes, and records, nothing)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        detail = {"name": row.name, "role": row.role, "prefix": row.prefix}
        record_change(
            session,
            actor=actor,
            action="api_key.revoke",
            target=f"api_key:{row.id}",
            detail=detail,
            command="keys revoke",
        )
    return row
