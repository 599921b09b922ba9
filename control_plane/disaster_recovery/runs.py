"""The journal of a disaster-recovery run: its steps, their times, and the stream's ``dr`` topic.

A step is committed as ``started`` before its cloud call and as ``done`` or ``failed`` after,
with what it made in ``detail``; every change is also an event on the stream. A run that is
resumed after its process died reads its steps back: what was made, and what was not.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider
from control_plane.monitoring import events
from control_plane.services.inventory import json_ready
from control_plane.services.resources import AdapterFor
from control_plane.store.models import Provider
from control_plane.store.recovery_models import RecoveryPlan, RecoveryRun, RecoveryStep
from wedcloud.sqltypes import utcnow

OPERATION_KINDS = {"backup": "dr_backup", "drill": "dr_drill", "failover": "dr_failover", "restore": "dr_restore"}
RUN_OF_OPERATION = {v: k for k, v in OPERATION_KINDS.items()}
DRILL_TAG, PLAN_TAG, BACKUP_TAG = "wedcloud:drill", "wedcloud:plan", "wedcloud:backup"
FAILOVER_TAG, RESTORE_TAG = "wedcloud:failover", "wedcloud:restore"
TAG_OF_KIND = {"drill": DRILL_TAG, "failover": FAILOVER_TAG, "restore": RESTORE_TAG}


INTERRUPTED = "Interrupted"  # the error type of a step whose process died before it ended


class StepFailed(Exception):
    """A step that cannot go on, with what the report says about it."""


@dataclass
class Run:
    """One run being carried out: its store, its clouds and its clock."""

    sessions: sessionmaker[Session]
    adapter_for: AdapterFor
    run_id: uuid.UUID
    plan_id: uuid.UUID | None
    kind: str
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    wait_seconds: float = 1800.0  # longest wait for a cloud to finish a snapshot, a restore, a delete
    poll_seconds: float = 2.0
    max_poll_seconds: float = 30.0  # a snapshot's wait doubles its pause up to this (waits.snapshot_whole)
    _adapters: dict[uuid.UUID, CloudProvider] = field(default_factory=dict)

    def adapter(self, provider_id: uuid.UUID) -> CloudProvider:
        if provider_id not in self._adapters:
            with self.sessions() as session:
                provider = session.get(Provider, provider_id)
                if provider is None:
                    raise StepFailed(f"provider {provider_id} no longer exists")
                self._adapters[provider_id] = self.adapter_for(provider, session)
        return self._adapters[provider_id]

    def plan(self, session: Session) -> RecoveryPlan:
        plan = session.get(RecoveryPlan, self.plan_id) if self.plan_id else None
        if plan is None:
            raise StepFailed(f"plan {self.plan_id} no longer exists")
        return plan

    def publish(self, session: Session, payload: dict[str, Any], *, severity: str | None = None) -> None:
        body = {"run_id": str(self.run_id), "plan_id": str(self.plan_id) if self.plan_id else None,
                "kind": self.kind, **payload}  # fmt: skip
        events.publish(session, "dr", body, severity=severity)

    def steps(self) -> list[RecoveryStep]:
        with self.sessions() as session:
            query = select(RecoveryStep).where(RecoveryStep.run_id == self.run_id).order_by(RecoveryStep.seq)
            return list(session.scalars(query))

    @contextmanager
    def step(self, name: str, **detail: Any) -> Iterator[dict[str, Any]]:
        """A journalled step: the yielded dict is its detail, saved when the step ends (set
        ``cloud_seconds`` in it for a modelled cloud wait). A :class:`StepFailed` or any error
        marks it failed and goes on up."""
        with self.sessions() as session:
            seq = (
                session.scalar(select(func.max(RecoveryStep.seq)).where(RecoveryStep.run_id == self.run_id)) or 0
            ) + 1
            row = RecoveryStep(run_id=self.run_id, seq=seq, name=name[:200], status="started", detail=dict(detail),
                               cloud_seconds=0.0, started_at=utcnow())  # fmt: skip
            session.add(row)
            self.publish(session, {"step": name, "status": "started"})
            session.commit()
            step_id = row.id
        found: dict[str, Any] = dict(detail)
        try:
            yield found
        except Exception as exc:
            self._end(step_id, name, "failed", found, error={"type": type(exc).__name__, "detail": str(exc)})
            raise
        self._end(step_id, name, "done", found)

    def interrupted(self, why: str) -> None:
        """End every step still ``started`` (its process died before it ended) as ``failed``, with
        an ``Interrupted`` error saying why, so the journal shows no step running that is not: a
        resume that carries one out again adds a new step for it."""
        with self.sessions() as session:
            query = select(RecoveryStep).where(RecoveryStep.run_id == self.run_id, RecoveryStep.status == "started")
            for row in session.scalars(query):
                row.status, row.finished_at = "failed", utcnow()
                row.error = {"type": INTERRUPTED, "detail": f"{why}; the step never ended"}
                self.publish(session, {"step": row.name, "status": "failed", "error": row.error["detail"]},
                             severity="warning")  # fmt: skip
            session.commit()

    def note(self, step_name: str, **detail: Any) -> None:
        """Save what a step has made so far (between its cloud calls), so a crash loses none of it."""
        with self.sessions() as session:
            row = session.scalar(
                select(RecoveryStep).where(RecoveryStep.run_id == self.run_id, RecoveryStep.name == step_name[:200])
                .order_by(RecoveryStep.seq.desc()).limit(1)
            )  # fmt: skip
            if row is not None:
                row.detail = {**row.detail, **json_ready(detail)}
                session.commit()

    def _end(
        self, step_id: int, name: str, status: str, detail: dict[str, Any], error: dict[str, Any] | None = None
    ) -> None:
        with self.sessions() as session:
            row = session.get(RecoveryStep, step_id)
            assert row is not None
            row.status, row.finished_at, row.error = status, utcnow(), error
            row.cloud_seconds = float(detail.pop("cloud_seconds", 0.0) or 0.0)
            row.detail = json_ready(detail)
            self.publish(session, {"step": name, "status": status, **({"error": error["detail"]} if error else {})},
                         severity="warning" if status == "failed" else None)  # fmt: skip
            session.commit()

    def finish(
        self, *, status: str, report: dict[str, Any], error: str | None = None, **measured: Any
    ) -> dict[str, Any]:
        """Record the run's end and publish it; the operation's result is the report."""
        with self.sessions() as session:
            row = session.get(RecoveryRun, self.run_id)
            assert row is not None
            row.status, row.finished_at, row.report = status, utcnow(), json_ready(report)
            row.error = {"detail": error} if error else None
            for key, value in measured.items():
                setattr(row, key, value)
            alarming = self.kind == "failover" and status in ("failed", "stayed")
            payload = {"status": status, "summary": report.get("summary"), **json_ready(measured)}
            self.publish(session, payload, severity="critical" if alarming else None)
            session.commit()
        return {"run_id": str(self.run_id), "status": status, **json_ready(report)}


def timeline(steps: list[RecoveryStep]) -> list[dict[str, Any]]:
    """The steps as a report shows them: name, status, start, end, seconds, what each made."""
    return [
        {
            "seq": s.seq,
            "name": s.name,
            "status": s.status,
            "started_at": s.started_at.isoformat(),
            "finished_at": s.finished_at.isoformat() if s.finished_at else None,
            "seconds": round((s.finished_at - s.started_at).total_seconds(), 3) if s.finished_at else None,
            "cloud_seconds": s.cloud_seconds or None,
            "detail": s.detail,
            "error": s.error,
        }
        for s in steps
    ]
