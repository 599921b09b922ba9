"""State-store tables owned by the control plane.

The sandbox cloud keeps its own tables (``clouds.sandbox.state``); both metadata objects
are migrated together by Alembic.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from wedcloud.sqltypes import Money, UTCDateTime, utcnow

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
AutoIncrementId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), Decimal: Money(), dict[str, Any]: JSON()}


class Provider(Base):
    """A cloud account registered with WedCloud. Credentials are stored encrypted only."""

    __tablename__ = "providers"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120), unique=True)
    default_region: Mapped[str | None] = mapped_column(String(64))
    regions: Mapped[list[str]] = mapped_column(JSON, default=list)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    credentials_ciphertext: Mapped[bytes | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(32), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # the outcome of the last connection test (ok, identity, detail, missing_permissions)
    last_check: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    last_checked_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiKey(Base):
    """An API key. Only a SHA-256 digest is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(16))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """One line of the append-only audit log (triggers refuse UPDATE and DELETE, and on
    PostgreSQL TRUNCATE), each chained to the one before by its hash."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_seq", "seq", unique=True),)

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(160))
    role: Mapped[str | None] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(400))
    action: Mapped[str] = mapped_column(String(120))
    target: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(16))
    status_code: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # the hash chain (0008, ``control_plane.store.audit_chain``): the row's place, the hash of
    # the row before it, and its own hash over both and a canonical form of its columns
    seq: Mapped[int | None] = mapped_column(BigInteger, default=None)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    row_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditChainHead(Base):
    """The audit chain's last link (one row, id 1): locked by every transaction that adds audit
    rows, so that rows are chained one after another, and compared with the last row on
    verification, so that rows cut off the end are found too."""

    __tablename__ = "audit_chain"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    row_hash: Mapped[str] = mapped_column(String(64))


class Budget(Base):
    """A spending limit over a scope of the cost data, per period."""

    __tablename__ = "budgets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    scope: Mapped[dict[str, Any]] = mapped_column(default=dict)
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    period: Mapped[str] = mapped_column(String(16), default="month")
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # where alerts go: [{"type": "webhook", "url": ...} | {"type": "email", "address": ...}] (0004)
    targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # a webhook's URL is sealed in its target ("sealed"), beside a masked "url"; deliveries are
    # signed with this secret, sealed with the credential cipher (0007, services/webhooks.py)
    webhook_secret_ciphertext: Mapped[bytes | None] = mapped_column(default=None)


class Alert(Base):
    """Something worth telling people about: a budget threshold crossed (later: an anomaly).

    ``key`` is unique and names the event, not the evaluation that found it (a budget alert's is
    ``budget:<id>:<period start>:<actual|forecast>:<percent>``), so an event is raised once
    however often it is evaluated. ``status``: pending until every target was tried, then
    delivered, failed (a target never took it) or no_targets.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_budget_created_at", "budget_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(200), unique=True)
    budget_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("budgets.id", ondelete="SET NULL"), default=None
    )
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(Base):
    """One attempt to hand an alert to one target, successful or not."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    alert_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | email
    target: Mapped[str] = mapped_column(String(2048))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)


class ChangeCounter(Base):
    """How many times a watched table has changed; triggers keep it (migration 0003)."""

    __tablename__ = "change_counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Resource(Base):
    """A cloud resource WedCloud knows of: provisioned through it, or imported by a sync.

    ``cloud_id`` is the provider's own id (instance id, ARM id, self link); it is unique per
    provider, so a sync or a retried provision updates the row instead of adding another.
    """

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint("provider_id", "cloud_id", name="uq_resources_provider_cloud_id"),
        Index("ix_resources_provider_state", "provider_id", "state"),
        # the default order: a filtered page walks this index and stops after one page, where
        # an index on a filter column (region, type: a few values each) would sort thousands
        Index("ix_resources_created_at_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("providers.id"))
    cloud_id: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(String(255))
    resource_type: Mapped[str] = mapped_column(String(16))
    subtype: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    zone: Mapped[str | None] = mapped_column(String(64), default=None)
    size: Mapped[str | None] = mapped_column(String(64), default=None)
    state: Mapped[str] = mapped_column(String(16))
    # the state WedCloud last asked for (provision, start: running; stop: stopped; terminate:
    # terminated); health compares it with ``state``. NULL: never asked (an imported resource)
    desired_state: Mapped[str | None] = mapped_column(String(16), default=None)
    account_id: Mapped[str | None] = mapped_column(String(64), default=None)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    hourly_cost: Mapped[Decimal | None] = mapped_column(default=None)
    cost_currency: Mapped[str | None] = mapped_column(String(3), default=None)
    launched_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    terminated_at: Mapped[datetime | None] = mapped_column(default=None)


_IN_FLIGHT = "status IN ('pending', 'running')"


class Operation(Base):
    """A long-running change (provision, scale, sync, ...) and how it ended.

    Created before the provider is called and finished after, so a crash in between leaves a
    row in ``running`` for the reconciler. ``idempotency_key`` (per actor) with the hash of the
    request makes a retried POST return the same operation.
    """

    __tablename__ = "operations"
    __table_args__ = (
        UniqueConstraint("actor", "idempotency_key", name="uq_operations_actor_idempotency_key"),
        Index(
            "uq_operations_target_in_flight",
            "target",
            unique=True,
            sqlite_where=text(_IN_FLIGHT),
            postgresql_where=text(_IN_FLIGHT),
        ),
        Index("ix_operations_lease", "status", "lease_expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), index=True)
    provider_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("providers.id"), default=None)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    actor: Mapped[str] = mapped_column(String(160))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    # 0006: who runs it and until when (renewed while it runs), the request as asked (encrypted;
    # ``request`` is the redacted copy), and what it changes (one in flight per target)
    lease_owner: Mapped[str | None] = mapped_column(String(120), default=None)
    lease_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    sealed_request: Mapped[bytes | None] = mapped_column(default=None)
    target: Mapped[str | None] = mapped_column(String(600), default=None)


class RecommendationRow(Base):
    """An optimisation recommendation and what became of it (0005).

    ``id`` is the engine's stable id (kind, provider, resource, action, target), so a re-run of
    the analysis updates the row rather than adding another. ``status``: open, applying,
    applied, reverted (applied, found unhealthy and put back), failed, dismissed, or obsolete (a
    later analysis of its provider no longer finds it). ``saving_rank`` is ``monthly_saving`` as a
    float, only for ordering: SQLite keeps Money as text, which would sort "9" after "10".
    """

    __tablename__ = "recommendations"
    __table_args__ = (
        Index("ix_recommendations_status_rank", "status", "saving_rank", "id"),
        Index("ix_recommendations_provider_resource", "provider", "resource_id"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    provider: Mapped[str] = mapped_column(String(120))  # the registered provider's name
    kind: Mapped[str] = mapped_column(String(24))
    action: Mapped[str] = mapped_column(String(16))
    target: Mapped[str | None] = mapped_column(String(255), default=None)
    resource_id: Mapped[str] = mapped_column(String(512))  # the provider's own id
    account_id: Mapped[str] = mapped_column(String(64), default="")
    region: Mapped[str] = mapped_column(String(64), default="")
    monthly_saving: Mapped[Decimal]
    saving_rank: Mapped[float] = mapped_column(Float, default=0.0)
    currency: Mapped[str] = mapped_column(String(3))
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    risk: Mapped[str] = mapped_column(String(8))
    risk_reason: Mapped[str] = mapped_column(Text, default="")
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    confidence_reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # the last apply: who, when, its operation, and its record (before, snapshot, steps, health,
    # rollback procedure); the effective hourly rate it was priced at, for realised savings
    applied_at: Mapped[datetime | None] = mapped_column(default=None)
    applied_by: Mapped[str | None] = mapped_column(String(200), default=None)
    operation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)


from control_plane.store import deployment_models as deployment_models  # noqa: E402  (its tables join Base's metadata)
from control_plane.store import monitoring_models as monitoring_models  # noqa: E402  (its tables join Base's metadata)
from control_plane.store import recovery_models as recovery_models  # noqa: E402  (its tables join Base's metadata)
