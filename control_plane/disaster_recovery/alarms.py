"""What the ``disaster_recovery`` alert rule reports: the plans that need someone now.

One alarm per plan and problem, read from the store (no cloud is called):

- ``rpo``: the RPO now (:func:`backups.rpo_now`) is past the plan's target, or a data store it
  protects has no usable backup (none, or none copied to the standby when the plan copies);
  the value is the RPO in seconds (None without a usable backup). A plan protecting no data
  store has no RPO and raises none.
- ``failover``: the plan is ``degraded``: a failover could neither finish nor go back.
- ``health``: automatic failover is on and the health check has failed at least the rule's
  ``failed_checks`` times in a row (with approval required, the plan waits for an admin); the
  value is how many.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.disaster_recovery.backups import rpo_now
from control_plane.disaster_recovery.protected import serving_resources, split
from control_plane.store.recovery_models import RecoveryPlan


@dataclass(frozen=True)
class Alarm:
    plan_id: uuid.UUID
    plan_name: str
    problem: str  # rpo | failover | health
    value: float | None
    provider_id: uuid.UUID  # where the plan serves from
    detail: dict[str, Any] = field(default_factory=dict)


def plan_alarms(session: Session, plan: RecoveryPlan, now: datetime) -> list[Alarm]:
    found = []

    def alarm(problem: str, value: float | None, **detail: Any) -> None:
        found.append(Alarm(plan.id, plan.name, problem, value, plan.active_provider_id, detail))

    stateful, _, _ = split(serving_resources(session, plan))
    if stateful:
        rpo = rpo_now(session, plan, now)
        if rpo is None:
            alarm("rpo", None, target_seconds=plan.rpo_seconds, reason="a protected data store has no usable backup")
        elif rpo.seconds > plan.rpo_seconds:
            alarm("rpo", round(rpo.seconds, 3), target_seconds=plan.rpo_seconds, resource=rpo.resource,
                  since=rpo.since.isoformat())  # fmt: skip
    if plan.status == "degraded":
        alarm("failover", None, serving_region=plan.active_region,
              reason="the last failover could neither finish nor go back: see docs/runbooks/failover.md")  # fmt: skip
    rule = plan.auto_failover or {}
    threshold = int(rule.get("failed_checks", 3))
    if rule.get("enabled") and plan.failed_checks >= threshold:
        alarm("health", float(plan.failed_checks), threshold=threshold, serving_region=plan.active_region,
              require_approval=bool(rule.get("require_approval", True)))  # fmt: skip
    return found


def alarms(session: Session, *, now: datetime, plan_id: uuid.UUID | None = None) -> list[Alarm]:
    """Every plan's alarms (only ``plan_id``'s when given)."""
    query = select(RecoveryPlan).order_by(RecoveryPlan.created_at, RecoveryPlan.id)
    if plan_id is not None:
        query = query.where(RecoveryPlan.id == plan_id)
    return [found for plan in session.scalars(query) for found in plan_alarms(session, plan, now)]
