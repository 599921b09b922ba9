"""When each plan's backups and drills are due, and running one on behalf of a schedule.

A plan's backup schedule (``backup.schedule``) and drill schedule (``drill_schedule``) are cron
expressions in UTC, read against the plan's last run of that kind (:func:`service.last_started`):
a run is due once the schedule's first time after that run has come. Times missed meanwhile (a
scheduler that was down) make one run, for the latest of them, not one each: a backup taken now
covers them all. A plan never backed up is due at once (without a backup it has no recovery
point at all); a plan never drilled is due at the first drill time after it was made. A plan
whose own operation is in flight (a drill, a failover) is not due until that ends: the plan
runs one operation at a time, and the schedule's turn comes at the next look. A schedule whose
times cannot be computed (a plan stored before its cron was checked, e.g. ``0 0 30 2 *``) is
skipped and reported as :class:`Unschedulable`; the other plans' runs are still due.

:func:`run_scheduled` begins the run, commits, and carries it out in this process. Its
Idempotency-Key is the plan, the kind and the due time, so running the same due time again (a
retried job) returns the first run's outcome instead of taking another backup.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.disaster_recovery import service
from control_plane.services import operations
from control_plane.services.resources import AdapterFor
from control_plane.store.models import Operation
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun

SCHEDULE_ACTOR = "system:schedule"
KINDS = ("backup", "drill")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Due:
    """A plan's run of ``kind`` that its schedule asks for, for the schedule's time ``due_at``."""

    plan_id: uuid.UUID
    plan_name: str
    kind: str
    due_at: datetime

    @property
    def slot(self) -> str:
        """The plan's schedule of this kind: ``<plan id>:<kind>``."""
        return f"{self.plan_id}:{self.kind}"

    @property
    def key(self) -> str:
        return schedule_key(self.plan_id, self.kind, self.due_at.isoformat())


@dataclass(frozen=True)
class Unschedulable:
    """A plan's schedule of ``kind`` whose times cannot be computed: it is skipped, not run."""

    plan_id: uuid.UUID
    plan_name: str
    kind: str
    cron: str
    error: str

    def __str__(self) -> str:
        return f"plan {self.plan_name} ({self.plan_id}): {self.kind} schedule {self.cron!r} cannot run: {self.error}"


def schedule_key(plan_id: uuid.UUID | str, kind: str, due_at: str) -> str:
    """One due time of one schedule: a run key, and the run's Idempotency-Key."""
    return f"{plan_id}:{kind}:{due_at}"


def cron_of(plan: RecoveryPlan, kind: str) -> str | None:
    return (plan.backup or {}).get("schedule") if kind == "backup" else plan.drill_schedule


def latest_time(cron: str, now: datetime) -> datetime:
    """The schedule's latest time at or before ``now`` (croniter's previous time is strictly
    before its start, so it starts at the next whole minute)."""
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    found: datetime = croniter(cron, start).get_prev(datetime)
    return found.replace(fold=0)


def due_time(cron: str, last: datetime | None, now: datetime) -> datetime | None:
    """The time a run is due for, or None when none is: the latest scheduled time at or before
    ``now``, once the first scheduled time after ``last`` has come (None for ``last``: at once)."""
    if last is not None:
        first: datetime = croniter(cron, last).get_next(datetime)
        if first > now:
            return None
    return latest_time(cron, now)


def _busy(session: Session, plan_id: uuid.UUID) -> bool:
    lock = f"dr_plan:{plan_id}"
    query = select(Operation.id).where(Operation.target == lock, Operation.status.in_(operations.IN_FLIGHT))
    return session.scalar(query.limit(1)) is not None


def plan_ids(session: Session) -> list[uuid.UUID]:
    return list(session.scalars(select(RecoveryPlan.id)))


def due_runs(session: Session, *, now: datetime, skipped: list[Unschedulable] | None = None) -> list[Due]:
    """Every plan's backup and drill whose scheduled time has come, oldest plan first. A schedule
    that cannot be computed is logged, added to ``skipped`` and passed over: one bad plan does
    not stop the others' backups and drills."""
    found = []
    for plan in session.scalars(select(RecoveryPlan).order_by(RecoveryPlan.created_at, RecoveryPlan.id)):
        if _busy(session, plan.id):
            continue
        for kind in KINDS:
            cron = cron_of(plan, kind)
            if not cron:
                continue
            last = service.last_started(session, plan.id, kind)
            if last is None and kind == "drill":
                last = plan.created_at
            try:
                at = due_time(cron, last, now)
            except Exception as exc:  # croniter's (CroniterBadDateError), or junk stored in the plan
                bad = Unschedulable(plan.id, plan.name, kind, cron, str(exc) or type(exc).__name__)
                log.error("%s", bad)
                if skipped is not None:
                    skipped.append(bad)
                continue
            if at is not None:
                found.append(Due(plan.id, plan.name, kind, at))
                break  # one operation at a time per plan: the drill's turn comes after the backup
    return found


@dataclass(frozen=True)
class Outcome:
    """How a run that a schedule (or the watch) started ended."""

    run_id: uuid.UUID
    operation_id: uuid.UUID
    kind: str
    status: str  # the run's: running (another process carries it on), succeeded, failed, ...
    operation_status: str
    replayed: bool  # the key had started this run already; nothing new was begun
    summary: str | None
    rpo_seconds: float | None
    rto_seconds: float | None
    passed: bool | None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded" and (self.kind != "drill" or bool(self.passed))

    def metadata(self) -> dict[str, Any]:
        return {"run_id": str(self.run_id), "operation_id": str(self.operation_id), "status": self.status,
                "replayed": self.replayed, "summary": self.summary, "rpo_seconds": self.rpo_seconds,
                "rto_seconds": self.rto_seconds, "passed": self.passed}  # fmt: skip


BEGIN: dict[str, Callable[..., service.Started]] = {
    "backup": service.begin_backup,
    "drill": service.begin_drill,
    "failover": service.begin_failover,
}


def run_scheduled(
    sessions: sessionmaker[Session],
    adapter_for: AdapterFor,
    *,
    kind: str,
    plan_id: uuid.UUID,
    idempotency_key: str,
    actor: str = SCHEDULE_ACTOR,
    **options: Any,
) -> Outcome:
    """Begin the plan's run of ``kind`` (``options``: the begin function's own, e.g. a drill's
    region), commit, carry it out here, and read how it ended. Errors of the begin (a plan gone,
    another operation in flight) go up as the service raised them."""
    if kind == "drill":
        options.setdefault("region", None)
    with sessions.begin() as session:
        started = BEGIN[kind](session, plan_id=plan_id, actor=actor, idempotency_key=idempotency_key,
                              adapter_for=adapter_for, **options)  # fmt: skip
        operation_id, run_id, work = started.operation.id, started.run.id, started.work
    if work is not None:
        operations.execute(sessions, operation_id, work)
    with sessions() as session:
        run, operation = session.get(RecoveryRun, run_id), session.get(Operation, operation_id)
        assert run is not None
        assert operation is not None
        summary = run.report.get("summary") or (run.error or {}).get("detail") or (operation.error or {}).get("detail")
        return Outcome(run_id=run_id, operation_id=operation_id, kind=kind, status=run.status,
                       operation_status=operation.status, replayed=work is None, summary=summary,
                       rpo_seconds=run.rpo_seconds, rto_seconds=run.rto_seconds, passed=run.passed)  # fmt: skip
