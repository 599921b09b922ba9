"""State-store tables of deployments (migration 0010).

A :class:`Deployment` is a named stack described by a template. Every change to it is a
:class:`DeploymentVersion` (template, parameters, plan, author, outcome), applied by one
operation whose steps are journalled in :class:`DeploymentStep`: a step's intent is committed
before its cloud call and its result after, so a process that dies mid-apply leaves a journal
the reconciler can finish or undo. :class:`DeploymentResource` maps each logical resource of the
template to the resource row (``resources``) it made; :class:`DeploymentLog` holds the ordered
log lines an apply writes (also published on the stream's ``deployments`` topic).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.store.models import AutoIncrementId, Base
from wedcloud.sqltypes import utcnow

# a deployment's status: what its last change did
DEPLOYMENT_STATUSES = (
    "pending",  # created, its first apply has not started
    "applying",  # an apply (create, update or rollback) is running
    "deployed",  # the current version is applied
    "rolled_back",  # the last apply failed and was rolled back: the current version is still the last good one
    "failed",  # the last apply failed and nothing good is left to return to (or an undo failed)
    "paused",  # the last apply failed with on_failure=pause: its finished steps are kept
    "destroying",
    "destroyed",
)
# a version's outcome
VERSION_OUTCOMES = ("planned", "applying", "applied", "failed", "rolled_back", "paused", "superseded")
# a journal step's status
STEP_STATUSES = ("planned", "started", "done", "failed", "skipped", "undoing", "undone", "undo_failed")


class Deployment(Base):
    __tablename__ = "deployments"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    environment: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    on_failure: Mapped[str] = mapped_column(String(16), default="rollback")
    current_version: Mapped[int | None] = mapped_column(Integer, default=None)  # the last good one
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    provider_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    drift: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    drift_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeploymentVersion(Base):
    __tablename__ = "deployment_versions"
    __table_args__ = (UniqueConstraint("deployment_id", "number"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    deployment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("deployments.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))  # create | update | rollback | destroy
    template: Mapped[dict[str, Any]] = mapped_column()
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    author: Mapped[str] = mapped_column(String(160))
    outcome: Mapped[str] = mapped_column(String(16), default="planned")
    rollback_of: Mapped[int | None] = mapped_column(Integer, default=None)  # the version it returns to
    operation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class DeploymentResource(Base):
    """A logical resource of a deployment and the cloud resource that realises it now."""

    __tablename__ = "deployment_resources"
    __table_args__ = (UniqueConstraint("deployment_id", "logical_name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    deployment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("deployments.id", ondelete="CASCADE"))
    logical_name: Mapped[str] = mapped_column(String(120))
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)  # its row in ``resources``
    cloud_id: Mapped[str | None] = mapped_column(String(512), default=None)
    subtype: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(64))
    size: Mapped[str | None] = mapped_column(String(64), default=None)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the rendered spec it was made or changed to
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what ${resources.<name>.<key>} reads
    version: Mapped[int] = mapped_column(Integer)  # the version that last made or changed it
    monthly_estimate: Mapped[Decimal | None] = mapped_column(default=None)
    currency: Mapped[str | None] = mapped_column(String(3), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DeploymentStep(Base):
    """One step of an apply: its intent (written before the cloud call) and its result."""

    __tablename__ = "deployment_steps"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_deployment_steps_operation", "operation_id", "seq"),
    )

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("deployments.id", ondelete="CASCADE"))
    operation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    version: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)  # its place in the plan (dependency order)
    logical_name: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(16))  # create | update | replace | delete
    status: Mapped[str] = mapped_column(String(16), default="planned")
    idempotency_key: Mapped[str] = mapped_column(String(200))  # the client token of its cloud call
    depends_on: Mapped[list[int]] = mapped_column(JSON, default=list)  # seqs that must be done first
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class DeploymentLog(Base):
    __tablename__ = "deployment_logs"
    __table_args__ = (Index("ix_deployment_logs_deployment", "deployment_id", "id"),)

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    deployment_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("deployments.id", ondelete="CASCADE"))
    operation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    step: Mapped[str | None] = mapped_column(String(160), default=None)
    level: Mapped[str] = mapped_column(String(8), default="info")
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
