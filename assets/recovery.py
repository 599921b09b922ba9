"""Disaster recovery's scheduled work: a plan's backup, its drill, and an automatic failover,
each an op run as the ``dr_schedules`` and ``dr_health`` sensors ask (``pipelines/recovery.py``).

Each op begins its run through ``control_plane.disaster_recovery`` (actor ``system:schedule``
or ``system:auto-failover``), commits, and carries it out in the Dagster run's process; the run
is an operation like one the API starts, so the reconciler finishes or undoes it if this
process dies. The run's Idempotency-Key comes from the config (the plan, the kind and the due
time), so a re-executed Dagster run reports the first run's outcome instead of taking another
backup. A run that does not succeed (a drill that does not pass) fails the op, with the same
metadata. They read and write the state store only, never the warehouse.
"""

# No `from __future__ import annotations`: Dagster reads the op's context annotation as a class.
import uuid
from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import Field

from assets.resources import ProvidersResource
from control_plane.disaster_recovery import schedules, watch
from control_plane.services.errors import ServiceError

BACKUP_OP, DRILL_OP, FAILOVER_OP = "take_dr_backup", "run_dr_drill", "run_auto_failover"


class ScheduledRunConfig(dg.Config):
    plan_id: str = Field(description="The disaster-recovery plan's id.")
    due_at: str = Field(description="The schedule's time this run is for (ISO 8601, UTC).")


class AutoFailoverConfig(dg.Config):
    plan_id: str = Field(description="The disaster-recovery plan's id.")
    failed_checks: int = Field(description="How many health checks had failed in a row.")
    seen: str = Field(default="", description="What the last health check saw.")
    at: str = Field(description="The health-check round that reached the threshold (ISO 8601, UTC).")


def _metadata(outcome: schedules.Outcome) -> dict[str, Any]:
    return {key: value for key, value in outcome.metadata().items() if value is not None}


def _ended(context: dg.OpExecutionContext, outcome: schedules.Outcome | None, what: str) -> dg.Output[None]:
    if outcome is None:
        context.log.info(f"{what}: nothing to do any more")
        return dg.Output(None, metadata={"status": "skipped"})
    metadata = _metadata(outcome)
    if not outcome.ok:
        raise dg.Failure(description=f"{what}: {outcome.summary or outcome.status}", metadata=metadata)
    context.log.info(f"{what}: {outcome.summary}")
    return dg.Output(None, metadata=metadata)


def _scheduled(
    context: dg.OpExecutionContext, providers: ProvidersResource, kind: str, config: ScheduledRunConfig
) -> dg.Output[None]:
    key = schedules.schedule_key(config.plan_id, kind, config.due_at)
    with providers.sessions() as sessions:
        try:
            outcome = schedules.run_scheduled(
                sessions, providers.adapter_of, kind=kind, plan_id=uuid.UUID(config.plan_id), idempotency_key=key
            )
        except ServiceError as exc:
            raise dg.Failure(description=f"the {kind} of plan {config.plan_id} did not begin: {exc}") from exc
    return _ended(context, outcome, f"{kind} of plan {config.plan_id} due at {config.due_at}")


@dg.op(
    name=BACKUP_OP,
    description="Snapshot every data store the plan protects, copy each snapshot to the standby region, expire "
    "backups past retention, and report the RPO the plan has now.",
)
def take_dr_backup(
    context: dg.OpExecutionContext, config: ScheduledRunConfig, providers: ProvidersResource
) -> dg.Output[None]:
    return _scheduled(context, providers, "backup", config)


@dg.op(
    name=DRILL_OP,
    description="Restore the plan's protected resources from their latest backups, isolated in its DR region, "
    "check their health, measure the RTO and RPO, and delete everything the drill made.",
)
def run_dr_drill(
    context: dg.OpExecutionContext, config: ScheduledRunConfig, providers: ProvidersResource
) -> dg.Output[None]:
    return _scheduled(context, providers, "drill", config)


@dg.op(
    name=FAILOVER_OP,
    description="Fail the plan over to its standby after its health check failed its automatic-failover "
    "threshold in a row (nothing, if it answers again by now).",
)
def run_auto_failover(
    context: dg.OpExecutionContext, config: AutoFailoverConfig, providers: ProvidersResource
) -> dg.Output[None]:
    with providers.sessions() as sessions:
        trigger = watch.Trigger(uuid.UUID(config.plan_id), config.plan_id, config.failed_checks, config.seen,
                                needs_approval=False, at=datetime.fromisoformat(config.at))  # fmt: skip
        try:
            outcome = watch.auto_failover(sessions, providers.adapter_of, trigger)
        except ServiceError as exc:
            raise dg.Failure(description=f"the failover of plan {config.plan_id} did not begin: {exc}") from exc
    return _ended(context, outcome, f"automatic failover of plan {config.plan_id}")
