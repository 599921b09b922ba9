"""The automatic-failover rule: each plan's health-check URL, probed on a cadence.

For every plan whose ``auto_failover`` is enabled and whose routing has a health-check URL, and
that serves normally now (``active`` or ``failed_over``: a failover in progress or a degraded
plan is left to its run and to people), :func:`check_plans` GETs the URL once (through the
outbound guard). A failure adds one to the plan's ``failed_checks``; a success sets it back to
0. When the count reaches the plan's ``failed_checks`` (and again each time as many more fail
while it stays down):

- with ``require_approval``, a critical event on the stream's ``dr`` topic asks an admin to fail
  over (POST /failover); the plan's status is left as it is. The ``disaster_recovery`` alert
  rule reports the plan (problem ``health``) for as long as the count stays at or past the
  threshold.
- without, a failover to the plan's standby begins (actor ``system:auto-failover``, the reason
  naming the failed checks) and runs. A failover that succeeds sets the count back to 0.

Its Idempotency-Key is the plan, the count that triggered it and the round's time, so a retried
job does not begin a second failover for the same failures.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.disaster_recovery import health
from control_plane.disaster_recovery.schedules import Outcome, run_scheduled
from control_plane.monitoring import events
from control_plane.services.errors import ServiceError
from control_plane.services.resources import AdapterFor
from control_plane.store.recovery_models import RecoveryPlan

log = logging.getLogger(__name__)

AUTO_ACTOR = "system:auto-failover"
WATCHED = ("active", "failed_over")


@dataclass(frozen=True)
class Trigger:
    """A plan whose health checks failed ``failed_checks`` times in a row: fail it over (or ask)."""

    plan_id: uuid.UUID
    plan_name: str
    failed_checks: int
    seen: str  # what the last check saw
    needs_approval: bool
    at: datetime  # the round that reached it

    @property
    def reason(self) -> str:
        return f"automatic failover: {self.failed_checks} health checks failed in a row (last: {self.seen})"

    @property
    def key(self) -> str:
        """The failover's Idempotency-Key (and a run key): the plan, the count and the round."""
        return f"auto-failover:{self.plan_id}:{self.failed_checks}:{self.at.isoformat()}"


@dataclass
class Round:
    """What one round of health checks found and did."""

    checked: int = 0
    failing: dict[str, int] = field(default_factory=dict)  # plan name -> failed checks in a row
    triggers: list[Trigger] = field(default_factory=list)
    failovers: list[Outcome] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # plan name -> why its failover did not begin


def _watched(plan: RecoveryPlan) -> str | None:
    """The plan's health-check URL when the automatic rule applies to it now."""
    rule = plan.auto_failover or {}
    url = (plan.routing or {}).get("health_check_url")
    if not rule.get("enabled") or not url or plan.status not in WATCHED:
        return None
    return str(url)


def probe_plans(sessions: sessionmaker[Session], *, now: datetime) -> Round:
    """Probe every watched plan once and keep the counts; publish the approval events. Returns
    the triggers reached this round (the failovers to run are those not needing approval)."""
    done = Round()
    with sessions() as session:
        targets = [(p.id, url) for p in session.scalars(select(RecoveryPlan).order_by(RecoveryPlan.created_at))
                   if (url := _watched(p))]  # fmt: skip
    for plan_id, url in targets:
        ok, seen = health.probe(url, attempts=1)  # outside any transaction: a probe may take seconds
        with sessions.begin() as session:
            plan = session.get(RecoveryPlan, plan_id, with_for_update=True)
            if plan is None or _watched(plan) != url:  # deleted or changed while we probed
                continue
            done.checked += 1
            plan.failed_checks = 0 if ok else plan.failed_checks + 1
            if ok:
                continue
            done.failing[plan.name] = plan.failed_checks
            threshold = int(plan.auto_failover.get("failed_checks", 3))
            if plan.failed_checks % threshold:
                continue
            approval = bool(plan.auto_failover.get("require_approval", True))
            trigger = Trigger(plan.id, plan.name, plan.failed_checks, seen, needs_approval=approval, at=now)
            done.triggers.append(trigger)
            if trigger.needs_approval:
                _ask_approval(session, plan, trigger, now)
    return done


def _ask_approval(session: Session, plan: RecoveryPlan, trigger: Trigger, now: datetime) -> None:
    payload = {"kind": "health", "plan_id": str(plan.id), "plan": plan.name, "failed_checks": trigger.failed_checks,
               "status": "approval_needed", "serving_region": plan.active_region, "seen": trigger.seen,
               "summary": f"{plan.name}: {trigger.failed_checks} health checks failed in a row; the plan asks for "
                          "an admin's approval: POST /api/cloud/disaster-recovery/failover to fail over"}  # fmt: skip
    events.publish(session, "dr", payload, provider_id=plan.active_provider_id, severity="critical", at=now)


def auto_failover(sessions: sessionmaker[Session], adapter_for: AdapterFor, trigger: Trigger) -> Outcome | None:
    """Fail the trigger's plan over to its standby and run it here; None when the plan has
    recovered (or changed) since the trigger, so nothing was begun. ServiceError: it could not
    begin (another operation of the plan is in flight, the plan is gone)."""
    with sessions() as session:
        plan = session.get(RecoveryPlan, trigger.plan_id)
        if plan is None or _watched(plan) is None:
            return None
        if plan.failed_checks < int(plan.auto_failover.get("failed_checks", 3)):
            return None
    return run_scheduled(sessions, adapter_for, kind="failover", plan_id=trigger.plan_id,
                         idempotency_key=trigger.key, actor=AUTO_ACTOR, region=None, reason=trigger.reason,
                         dry_run=False)  # fmt: skip


def check_plans(
    sessions: sessionmaker[Session], adapter_for: AdapterFor, *, now: datetime, run_failovers: bool = True
) -> Round:
    """One round: probe the watched plans, ask for approval where the plan wants it, and (with
    ``run_failovers``) carry out the automatic failovers in this process. A scheduler that runs
    failovers elsewhere passes False and runs :func:`auto_failover` for each trigger itself."""
    done = probe_plans(sessions, now=now)
    if not run_failovers:
        return done
    for trigger in done.triggers:
        if trigger.needs_approval:
            continue
        try:
            outcome = auto_failover(sessions, adapter_for, trigger)
        except ServiceError as exc:
            log.warning("automatic failover of %s did not begin: %s", trigger.plan_name, exc)
            done.errors[trigger.plan_name] = str(exc)
            continue
        if outcome is not None:
            done.failovers.append(outcome)
    return done
