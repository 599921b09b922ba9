"""Request and response models of /api/cloud/disaster-recovery. A plan's body is
:class:`control_plane.disaster_recovery.spec.PlanSpec` itself; these are the runs' requests and
what the reads answer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, ValidationInfo, field_validator

from control_api.schemas.operations import OperationOut
from control_plane.disaster_recovery.spec import EXAMPLE, REGION
from control_plane.text import Text

PLAN = "3f6e2a9c-1b7d-4e0a-8c5f-9d2b1a0e7c64"
RUN = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
OPERATION = "5d0c1bd6-0e77-4b4f-9a8e-6f1f0c3f2a10"
PROVIDER = EXAMPLE["primary_provider_id"]
RESOURCE = "2c4e6a8b-0d1f-4e3a-9b5c-7d9f1a3b5c7e"
BACKUP = "7e5c3a1f-9d7b-4f5e-8a3c-1e9d7b5f3a1c"
AT = "2026-11-27T03:00:00+00:00"

# the store's values (control_plane.store.recovery_models), spelt out for the type checker
PlanState = Literal["active", "failing_over", "failed_over", "degraded"]
RunKind = Literal["backup", "drill", "failover", "restore"]
RunState = Literal["running", "succeeded", "failed", "rolled_back", "stayed"]
BackupState = Literal["pending", "completed", "failed", "expired"]
Region = Annotated[str, Field(pattern=REGION, max_length=64, examples=["eu-west-1"])]
Confirm = Annotated[StrictBool, Field(description="`true` to show the change was meant (JSON true only).")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests -------------------------------------------------------------------------------------
class BackupIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"plan_id": PLAN}]})

    plan_id: uuid.UUID = Field(description="The plan whose protected data stores are snapshotted (and copied).")


class DrillIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{"plan_id": PLAN}, {"plan_id": PLAN,
                                                                                  "region": "eu-west-1"}]})  # fmt: skip

    plan_id: uuid.UUID
    region: Region | None = Field(default=None, description="One of the plan's DR target regions; default: the first.")


class FailoverIn(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"plan_id": PLAN, "reason": "eu-west-2 is down (AWS Health event)", "confirm": True},
                {"plan_id": PLAN, "reason": "rehearsal before the wedding season", "dry_run": True},
            ]
        }
    )

    plan_id: uuid.UUID
    reason: Text = Field(min_length=1, max_length=500, pattern=r"\S", description="Why: kept on the run and audited.")
    dry_run: bool = Field(
        default=False,
        description="Check readiness and report what would happen; nothing is changed. Needs operator only, "
        "and no `confirm`.",
    )
    region: Region | None = Field(
        default=None,
        description="Where to: a DR target or the primary (a failback). Default: the standby (the first DR "
        "target while the primary serves, the primary while a DR target serves).",
    )
    confirm: Confirm = False


class RestoreIn(Strict):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"plan_id": PLAN},
                {"resource_id": RESOURCE, "point_in_time": AT, "name": "booking-db-audit"},
                {"resource_id": RESOURCE, "backup_id": BACKUP, "mode": "replace", "confirm": True},
            ]
        }
    )

    plan_id: uuid.UUID | None = Field(default=None, description="Every data store the plan protects.")
    resource_id: uuid.UUID | None = Field(
        default=None, validate_default=True, description="One resource (its row id). Exactly one of the two."
    )
    backup_id: uuid.UUID | None = Field(default=None, description="This backup; default: the newest that fits.")
    point_in_time: AwareDatetime | None = Field(
        default=None,
        validate_default=True,
        description="The newest backup whole at or before this time (ISO 8601 with its zone). Not with backup_id.",
    )
    region: Region | None = Field(default=None, description="Where to restore; default: the resource's region.")
    mode: Literal["new", "replace"] = Field(
        default="new",
        description="`new`: new resources beside the old (operator). `replace`: the old ones are snapshotted, "
        "terminated and replaced (admin, with `confirm`).",
    )
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]{0,23}$",
        description="Prefix of the new resources' names, each `<name>-<old name>-<4 hex of its id>` "
        "(default: restored-<run>).",
    )
    confirm: Confirm = False

    @field_validator("resource_id")
    @classmethod
    def _one_source(cls, value: uuid.UUID | None, info: ValidationInfo) -> uuid.UUID | None:
        if "plan_id" not in info.data:  # plan_id itself is invalid: that is its own error
            return value
        if (value is None) == (info.data["plan_id"] is None):
            raise ValueError("give exactly one of plan_id and resource_id")
        return value

    @field_validator("point_in_time")
    @classmethod
    def _one_point(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        if value is None:
            return value
        if info.data.get("backup_id") is not None:
            raise ValueError("give backup_id or point_in_time, not both")
        try:
            return value.astimezone(UTC)
        except OverflowError:  # year 1 with a zone east of UTC
            raise ValueError("a time between the years 1 and 9999 in UTC") from None


# -- answers --------------------------------------------------------------------------------------
class Where(BaseModel):
    provider_id: uuid.UUID
    region: str


_PLAN_EXAMPLE: dict[str, Any] = {
    **EXAMPLE, "id": PLAN, "dr_targets": [{"provider_id": PROVIDER, "region": "eu-west-1"}], "status": "active",
    "active": {"provider_id": PROVIDER, "region": "eu-west-2"}, "serving": [], "revision": 1,
    "created_by": "key:ops-alice", "created_at": AT, "updated_at": AT,
}  # fmt: skip


class RecoveryPlanOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PLAN_EXAMPLE]})

    id: uuid.UUID
    name: str
    description: str | None
    primary_provider_id: uuid.UUID
    primary_region: str
    dr_targets: list[Where]
    protected: dict[str, Any] = Field(description="`resource_ids`, `tags`, `deployment_id`, as given.")
    rto_seconds: int
    rpo_seconds: int
    backup: dict[str, Any] = Field(description="`schedule`, `retention_count`, `retention_days`, `cross_region_copy`.")
    routing: dict[str, Any] | None
    auto_failover: dict[str, Any]
    drill_schedule: str | None
    status: PlanState = Field(description="active, failing_over, failed_over (serving from a DR target) or degraded.")
    active: Where = Field(description="Where traffic goes now.")
    serving: list[str] = Field(description="Resource ids serving since the last failover; empty: the protected set.")
    revision: int = Field(description="Changes with every PUT; send it back as `If-Match` to update safely.")
    created_by: str
    created_at: datetime
    updated_at: datetime


class Objective(BaseModel):
    target_seconds: int


class Measured(Objective):
    current_seconds: float | None
    met: bool


class LastBackup(BaseModel):
    """The backup the RPO now counts from: the newest usable backup of the data store whose newest
    one is oldest."""

    backup_id: uuid.UUID
    resource: str
    taken_at: datetime = Field(description="When its source snapshot was taken.")
    copied_at: datetime | None = Field(description="When its cross-region copy was whole.")
    usable_at: datetime = Field(
        description="When it became usable for recovery: copied_at, or the snapshot's completion when the plan "
        "does not copy."
    )
    age_seconds: float = Field(description="Now minus usable_at: the RPO now (rpo.current_seconds).")


class LastDrill(BaseModel):
    run_id: uuid.UUID
    started_at: datetime
    status: RunState
    passed: bool | None
    rto_seconds: float | None
    rpo_seconds: float | None
    operation_id: uuid.UUID | None


class PlanStatusOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": PLAN, "name": "booking-platform", "status": "active", "readiness": "ready",
                    "serving": {"provider_id": PROVIDER, "region": "eu-west-2"}, "standby_region": "eu-west-1",
                    "rpo": {"target_seconds": 14400, "current_seconds": 5412.3, "met": True},
                    "rto": {"target_seconds": 3600},
                    "last_backup": {"backup_id": BACKUP, "resource": "booking-db", "taken_at": AT,
                                    "copied_at": "2026-11-27T03:04:10+00:00",
                                    "usable_at": "2026-11-27T03:04:10+00:00", "age_seconds": 5412.3},
                    "last_drill": {"run_id": RUN, "started_at": AT, "status": "succeeded", "passed": True,
                                   "rto_seconds": 1312.4, "rpo_seconds": 250.0, "operation_id": OPERATION},
                    "protected": {"from_backups": 1, "made_again": 1, "unprotected": 1},
                    "problems": ["not protected by snapshots (use the cloud's replication): booking-files"],
                }
            ]
        }
    )  # fmt: skip

    plan_id: uuid.UUID
    name: str
    status: PlanState
    readiness: Literal["ready", "at_risk", "not_ready"] = Field(
        description="not_ready: no backup within the RPO, or a failover left it degraded; at_risk: it could fail "
        "over, but `problems` lists what to fix."
    )
    serving: Where
    standby_region: str = Field(description="Where the next failover goes.")
    rpo: Measured = Field(description="The RPO now (age of the newest usable cross-region copy) against the target.")
    rto: Objective
    last_backup: LastBackup | None = Field(
        description="The backup the RPO now counts from; null while a data store has no usable backup."
    )
    last_drill: LastDrill | None = Field(description="The last drill, with its measured RTO and RPO.")
    protected: dict[str, int] = Field(description="Data stores restored from backups, tiers made again, unprotected.")
    problems: list[str]


class RecoveryStatusOut(BaseModel):
    plans: list[PlanStatusOut]


class RunOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": RUN, "plan_id": PLAN, "kind": "drill", "status": "succeeded", "dry_run": False,
                    "actor": "key:ops-alice", "reason": None, "operation_id": OPERATION,
                    "request": {"plan_id": PLAN, "region": None},
                    "source": {"provider_id": PROVIDER, "region": "eu-west-2"},
                    "target": {"provider_id": PROVIDER, "region": "eu-west-1"}, "started_at": AT,
                    "finished_at": "2026-11-27T03:00:09+00:00", "rto_seconds": 1312.4, "rpo_seconds": 250.0,
                    "passed": True, "summary": "drill passed: RTO 1312.4 s (target 3600 s), RPO 250.0 s ...",
                    "error": None,
                }
            ]
        }
    )  # fmt: skip

    id: uuid.UUID
    plan_id: uuid.UUID | None
    kind: RunKind
    status: RunState = Field(description="running, succeeded, failed, rolled_back (a failover undone) or stayed.")
    dry_run: bool
    actor: str
    reason: str | None
    operation_id: uuid.UUID | None
    request: dict[str, Any]
    source: Where | None = Field(description="Where it started from (drills and failovers).")
    target: Where | None = Field(description="Where it recovers to.")
    started_at: datetime
    finished_at: datetime | None
    rto_seconds: float | None = Field(description="Measured: a drill's RTO, a failover's recovery time.")
    rpo_seconds: float | None = Field(description="Measured: the age of the data a drill restored.")
    passed: bool | None = Field(description="A drill: both targets met and nothing left behind.")
    summary: str | None
    error: dict[str, Any] | None


class RunStepOut(BaseModel):
    seq: int
    name: str
    status: str = Field(description="started, done, failed, skipped, undone or undo_failed.")
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    cloud_seconds: float | None = Field(description="What the cloud needed besides (the sandbox's modelled waits).")
    detail: dict[str, Any] = Field(description="What the step made or found: cloud ids, snapshots, listings.")
    error: dict[str, Any] | None


class RunDetail(RunOut):
    steps: list[RunStepOut] = Field(description="The journal, in order; live while the run runs.")
    report: dict[str, Any] = Field(
        description="How it ended: a drill's `rto_met`, `rpo_met`, `restored`, `cleanup` (the listing that "
        "proves nothing is left) and `recommendations` with their price; a failover's `recovery_seconds`."
    )


class CopyOut(BaseModel):
    region: str
    snapshot_id: str
    completed_at: datetime | None


class BackupOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": BACKUP, "plan_id": PLAN, "run_id": RUN, "provider_id": PROVIDER, "resource_id": RESOURCE,
                    "cloud_id": "db-booking-7f3a", "resource_name": "booking-db", "subtype": "database",
                    "size": "db.m5.large", "region": "eu-west-2", "status": "completed",
                    "snapshot_name": "wedcloud-booking-platform-booking-db-9a8b7c6d",
                    "snapshot_id": "snap-0a1b2c3d", "size_gb": 20,
                    "copies": [{"region": "eu-west-1", "snapshot_id": "snap-9f8e7d6c",
                                "completed_at": "2026-11-27T03:04:10+00:00"}],
                    "taken_at": AT, "completed_at": "2026-11-27T03:01:30+00:00",
                    "copied_at": "2026-11-27T03:04:10+00:00", "expired_at": None, "error": None,
                }
            ]
        }
    )  # fmt: skip

    id: uuid.UUID
    plan_id: uuid.UUID
    run_id: uuid.UUID | None
    provider_id: uuid.UUID
    resource_id: uuid.UUID | None
    cloud_id: str = Field(description="The backed-up resource's id at its cloud.")
    resource_name: str
    subtype: str
    size: str | None
    region: str
    status: BackupState
    snapshot_name: str
    snapshot_id: str | None
    size_gb: int | None
    copies: list[CopyOut] = Field(description="Its cross-region copies, each with when it was whole.")
    taken_at: datetime
    completed_at: datetime | None = Field(description="When the snapshot was whole.")
    copied_at: datetime | None = Field(description="When the newest copy was whole: the RPO counts from here.")
    expired_at: datetime | None
    error: dict[str, Any] | None


class RecoveryPlanDetail(RecoveryPlanOut):
    standing: PlanStatusOut = Field(description="What GET /disaster-recovery/status says of this plan.")
    runs: list[RunOut] = Field(description="Its last runs (backups, drills, failovers, restores), newest first.")


class RunAccepted(OperationOut):
    """The run's operation (poll it; its result is the run's report), with the run's id."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": OPERATION, "kind": "dr_drill", "status": "pending", "provider_id": PROVIDER,
                    "resource_id": None, "request": {"plan_id": PLAN, "region": None}, "result": None,
                    "error": None, "attempts": 0, "created_at": AT, "started_at": None, "finished_at": None,
                    "run_id": RUN, "plan_id": PLAN,
                }
            ]
        }
    )  # fmt: skip

    run_id: uuid.UUID = Field(description="Follow it at GET /disaster-recovery/runs/{run_id}.")
    plan_id: uuid.UUID | None
