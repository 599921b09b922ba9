"""State-store tables of disaster recovery (migration 0011).

A :class:`RecoveryPlan` says what to protect (resources by ids, tags or a deployment), where
to recover it (DR targets: a region of the same provider, or another provider as a cold
standby for stateless tiers), the RTO and RPO targets, the backup schedule, the DNS record set
that moves traffic and the health-check URL that judges it.

Every backup, drill, failover and restore is a :class:`RecoveryRun` under one operation, whose
steps (:class:`RecoveryStep`) are journalled: a step's intent is committed before its cloud
call and what it made after, so a process that dies mid-run leaves a journal the reconciler can
finish or compensate. A :class:`RecoveryBackup` records one resource's snapshot, its
cross-region copies and when each was whole: the RPO is read from them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from control_plane.store.models import AutoIncrementId, Base
from wedcloud.sqltypes import utcnow

PLAN_STATUSES = ("active", "failing_over", "failed_over", "degraded")
RUN_KINDS = ("backup", "drill", "failover", "restore")
RUN_STATUSES = ("running", "succeeded", "failed", "rolled_back", "stayed")
BACKUP_STATUSES = ("pending", "completed", "failed", "expired")
STEP_STATUSES = ("started", "done", "failed", "skipped", "undone", "undo_failed")


class RecoveryPlan(Base):
    __tablename__ = "dr_plans"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    primary_provider_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("providers.id"))
    primary_region: Mapped[str] = mapped_column(String(64))
    # [{"provider_id": str, "region": str}]: the first is where a failover goes by default
    dr_targets: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # {"resource_ids": [...], "tags": {...}, "deployment_id": str | None}
    protected: Mapped[dict[str, Any]] = mapped_column(JSON)
    rto_seconds: Mapped[int] = mapped_column(Integer)
    rpo_seconds: Mapped[int] = mapped_column(Integer)
    # {"schedule": cron, "retention_count": int | None, "retention_days": int | None, "cross_region_copy": bool}
    backup: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"zone", "name", "type", "ttl", "targets": {region: value}, "health_check_url"} or None
    routing: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # {"enabled": bool, "failed_checks": int, "require_approval": bool}
    auto_failover: Mapped[dict[str, Any]] = mapped_column(JSON)
    drill_schedule: Mapped[str | None] = mapped_column(String(120), default=None)
    status: Mapped[str] = mapped_column(String(16), default="active", index=True)
    # where traffic goes now: the primary, or the DR target of the last failover
    active_provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    active_region: Mapped[str] = mapped_column(String(64))
    # the resources serving now (resource row ids); empty: the protected selection
    serving: Mapped[list[str]] = mapped_column(JSON, default=list)
    failed_checks: Mapped[int] = mapped_column(Integer, default=0)  # consecutive, for auto-failover
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(160))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RecoveryRun(Base):
    __tablename__ = "dr_runs"
    __table_args__ = (Index("ix_dr_runs_plan_kind", "plan_id", "kind", "started_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("dr_plans.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    operation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)
    actor: Mapped[str] = mapped_column(String(160))
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # what the run asked for: targets, the backup or point in time, in place or not
    request: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"provider_id", "region"}
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"provider_id", "region"}
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    rto_seconds: Mapped[float | None] = mapped_column(Float, default=None)  # measured
    rpo_seconds: Mapped[float | None] = mapped_column(Float, default=None)  # measured
    passed: Mapped[bool | None] = mapped_column(Boolean, default=None)  # drills: targets met and cleaned up
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class RecoveryStep(Base):
    """One step of a run: its intent (written before the cloud call) and what it made."""

    __tablename__ = "dr_steps"
    __table_args__ = (Index("ix_dr_steps_run", "run_id", "seq"),)

    id: Mapped[int] = mapped_column(AutoIncrementId, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("dr_runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="started")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # what a real cloud would have waited (the sandbox's modelled restore time), in seconds
    cloud_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class RecoveryBackup(Base):
    """One resource's backup: the snapshot in its region and its copies in DR regions."""

    __tablename__ = "dr_backups"
    __table_args__ = (Index("ix_dr_backups_plan_taken", "plan_id", "taken_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    plan_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("dr_plans.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    provider_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    resource_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None, index=True)  # its row
    cloud_id: Mapped[str] = mapped_column(String(512))
    resource_name: Mapped[str] = mapped_column(String(255))
    subtype: Mapped[str] = mapped_column(String(64))
    size: Mapped[str | None] = mapped_column(String(64), default=None)
    region: Mapped[str] = mapped_column(String(64))
    snapshot_name: Mapped[str] = mapped_column(String(255))
    snapshot_id: Mapped[str | None] = mapped_column(String(512), default=None)
    size_gb: Mapped[int | None] = mapped_column(Integer, default=None)
    # [{"region", "snapshot_id", "completed_at"}]
    copies: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)  # the snapshot was whole
    copied_at: Mapped[datetime | None] = mapped_column(default=None)  # the newest copy was whole
    expired_at: Mapped[datetime | None] = mapped_column(default=None)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
