"""Applying a plan: steps in dependency order, independent ones in parallel, with a journal.

An apply is one operation (kind ``deployment``) whose steps were journalled (``planned``) in the
transaction that began it. ``apply_work`` runs them: a step starts once every step it depends
on is done, at most ``WEDCLOUD_DEPLOY_PARALLELISM`` (8) at a time; its intent (``started``) is
committed before its cloud call and its result after (``steps``). When a step fails, no new step
starts; the ones running finish; then, with ``on_failure: rollback`` (the default), every done
step is undone, the last done first (``undo``), and the deployment is back at its last good
version; with ``pause`` the done steps stay and the deployment is ``paused``.

After a crash the reconciler runs the same work again. It sees the journal: a step left
``started`` is settled first (a create or replace is repeated with its client token, which
finds what the first attempt made; an update counts as done; a delete whose resource still
exists counts as not done). Then, with ``rollback``, the apply is rolled back, since it was
interrupted; with ``pause`` it goes on from where it stopped. An apply that was already rolling
back goes on rolling back. So nothing is made twice or lost.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import ResourceState
from clouds.errors import CloudError, ResourceNotFound
from control_plane import audit
from control_plane.audit import redact
from control_plane.deployments.references import UnresolvedReference
from control_plane.deployments.steps import FORWARD, Apply, _adapter, log, step_label
from control_plane.deployments.template_refs import resolve_outputs
from control_plane.deployments.undo import done_steps, undo
from control_plane.services import operations
from control_plane.services.errors import ServiceError
from control_plane.services.resources import PENDING_PREFIX, AdapterFor
from control_plane.store.deployment_models import Deployment, DeploymentResource, DeploymentStep, DeploymentVersion
from control_plane.store.models import Resource
from wedcloud.sqltypes import utcnow

log_ = logging.getLogger(__name__)
PARALLELISM = max(1, int(os.environ.get("WEDCLOUD_DEPLOY_PARALLELISM", "8")))
KIND = "deployment"
EXPECTED = (CloudError, ServiceError, UnresolvedReference)


class StepFailed(Exception):
    """A step the provider (or the engine) refused; its error is in the journal."""


def apply_work(adapter_for: AdapterFor, operation_id: uuid.UUID, *, parallelism: int | None = None) -> operations.Work:
    """The work of a deployment operation (begun by ``service``), resumable from its journal."""

    def work(session: Session) -> dict[str, Any]:
        sessions = sessionmaker(session.get_bind(), expire_on_commit=False)
        return run_apply(sessions, adapter_for, operation_id, parallelism=parallelism or PARALLELISM)

    return work


def _context(
    sessions: sessionmaker[Session], adapter_for: AdapterFor, operation_id: uuid.UUID
) -> tuple[Apply, Deployment, DeploymentVersion, list[DeploymentStep]]:
    with sessions() as session:
        version = session.scalar(select(DeploymentVersion).where(DeploymentVersion.operation_id == operation_id))
        if version is None:
            raise ServiceError(f"operation {operation_id} applies no deployment version")
        deployment = session.get(Deployment, version.deployment_id)
        assert deployment is not None
        steps = list(
            session.scalars(
                select(DeploymentStep).where(DeploymentStep.operation_id == operation_id).order_by(DeploymentStep.seq)
            )
        )
    run = Apply(sessions, adapter_for, deployment.id, deployment.name, operation_id, version.number)
    return run, deployment, version, steps


def run_apply(
    sessions: sessionmaker[Session], adapter_for: AdapterFor, operation_id: uuid.UUID, *, parallelism: int
) -> dict[str, Any]:
    run, deployment, version, steps = _context(sessions, adapter_for, operation_id)
    rolling_back = any(s.status in ("undoing", "undone", "undo_failed") for s in steps)
    resumed = any(s.status != "planned" for s in steps) and not rolling_back
    with sessions() as session:
        if resumed or rolling_back:
            log(session, run, "the process applying this version stopped; the reconciler took over", level="warning")
        else:
            log(session, run, f"applying version {version.number}: {len(steps)} step(s)")
        session.commit()
    # a destroy that fails stops where it is (making the rest again would undo what was asked)
    on_failure = "pause" if version.kind == "destroy" else deployment.on_failure
    failed = rolling_back
    if resumed:
        _settle(run, [s for s in steps if s.status == "started"])
        # a step that had failed before the process died: the apply was failing already
        failed = on_failure == "rollback" or any(s.status == "failed" for s in steps)
        if failed:
            _note(run, "on_failure is rollback: the interrupted apply is rolled back", level="warning")
    if not failed:
        failed = not _forward(run, parallelism)
    if not failed:
        return _finish(run, "applied")
    if on_failure == "pause" and not rolling_back:
        _note(run, "a step failed; on_failure is pause: the finished steps are kept", level="error")
        return _finish(run, "paused")
    left = _rollback(run, parallelism)
    return _finish(run, "rolled_back" if not left else "failed", left=left)


def _note(run: Apply, message: str, *, level: str = "info", step: str | None = None) -> None:
    with run.sessions() as session:
        log(session, run, message, level=level, step=step)
        session.commit()


def _steps(run: Apply) -> dict[int, DeploymentStep]:
    with run.sessions() as session:
        query = select(DeploymentStep).where(DeploymentStep.operation_id == run.operation_id)
        return {s.seq: s for s in session.scalars(query)}


def _forward(run: Apply, parallelism: int) -> bool:
    """Run every step not done yet in dependency order; False once one has failed."""
    steps = _steps(run)
    done = {seq for seq, s in steps.items() if s.status in ("done", "skipped")}
    waiting = {seq: s for seq, s in steps.items() if seq not in done}
    needs = {seq: set(s.depends_on) - done for seq, s in waiting.items()}
    ran, failed = _in_order(needs, lambda seq: _run_step(run, waiting[seq]), parallelism, f"deploy-{run.version}")
    return not failed and ran == set(waiting)


def _in_order(
    needs: dict[int, set[int]],
    task: Callable[[int], None],
    parallelism: int,
    name: str,
    *,
    stop_on_failure: bool = True,
    first: Callable[[int], Any] = lambda seq: seq,
) -> tuple[set[int], set[int]]:
    """Run ``task`` for each key of ``needs`` once every key it needs has run, up to
    ``parallelism`` at a time, the ready ones in ``first`` order. A task that raises has failed;
    with ``stop_on_failure`` nothing new starts after one has (what runs finishes). Returns the
    keys that ran and those that failed."""
    waiting = dict(needs)
    ran: set[int] = set()
    failed: set[int] = set()
    with ThreadPoolExecutor(max_workers=parallelism, thread_name_prefix=name) as pool:
        running: dict[Future[None], int] = {}
        while waiting or running:
            if not (failed and stop_on_failure):
                for key in sorted(waiting, key=first):
                    if len(running) >= parallelism:
                        break
                    if waiting[key] <= ran:
                        waiting.pop(key)
                        running[pool.submit(task, key)] = key
            if not running:
                break  # stopped, or what waits needs something that failed
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                key = running.pop(future)
                ran.add(key)
                if future.exception() is not None:
                    failed.add(key)
    return ran, failed


def _run_step(run: Apply, step: DeploymentStep) -> None:
    label = step_label(step)
    with run.sessions() as session:
        fresh = session.get(DeploymentStep, step.id)
        assert fresh is not None
        if fresh.status == "planned":
            fresh.status, fresh.started_at = "started", utcnow()
            changes = (step.after or {}).get("changes") or []
            log(
                session,
                run,
                f"{step.action} {step.logical_name}" + (f": {'; '.join(changes)}" if changes else ""),
                step=label,
            )
            session.commit()
    try:
        FORWARD[step.action](run, step)
    except Exception as exc:
        _failed(run, step, exc)
        raise StepFailed(label) from exc


def _failed(run: Apply, step: DeploymentStep, exc: Exception, *, undoing: bool = False) -> None:
    if not isinstance(exc, EXPECTED):
        log_.exception("deployment step %s failed", step_label(step))
    detail = str(exc) if isinstance(exc, EXPECTED) else f"unexpected error ({type(exc).__name__}); it has been logged"
    with run.sessions() as session:
        fresh = session.get(DeploymentStep, step.id)
        assert fresh is not None
        fresh.status = "undo_failed" if undoing else "failed"
        fresh.finished_at = utcnow()
        fresh.error = {"type": type(exc).__name__, "detail": detail}
        token = f"{step.idempotency_key}:undo" if undoing else step.idempotency_key
        waiting = session.scalar(select(Resource).where(Resource.cloud_id == f"{PENDING_PREFIX}{token}"))
        if waiting is not None:  # the row of a resource the provider refused to make
            waiting.state = ResourceState.FAILED.value
        verb = "undo" if undoing else step.action
        log(session, run, f"{verb} {step.logical_name} failed: {detail}", step=step_label(step), level="error")
        session.commit()


def _settle(run: Apply, started: list[DeploymentStep]) -> None:
    """Learn how each step the dead process had started ended."""
    for step in started:
        if step.action in ("create", "replace"):
            try:
                FORWARD[step.action](run, step)  # the same client token: finds what it made, or makes it once
            except Exception as exc:
                _failed(run, step, exc)
        elif step.action == "update":
            with run.sessions() as session:
                fresh = session.get(DeploymentStep, step.id)
                assert fresh is not None
                fresh.status, fresh.finished_at = "done", utcnow()  # undone by putting the before values back
                session.commit()
        else:
            _settle_removal(run, step)


def _settle_removal(run: Apply, step: DeploymentStep) -> None:
    before = step.before or {}
    with run.sessions() as session:
        _, adapter = _adapter(run, session, before["provider_id"])
    try:
        still = adapter.describe(before["cloud_id"]).state.value != "terminated"
    except ResourceNotFound:
        still = False
    except CloudError as exc:
        _failed(run, step, exc)
        return
    if still:
        _failed(run, step, ServiceError("interrupted before its delete took effect; nothing to undo"))
    else:
        FORWARD[step.action](run, step)  # records the deletion (terminating what is gone is a no-op)


def _rollback(run: Apply, parallelism: int) -> list[str]:
    """Undo every done step: a step once every done step that depends on it is undone (so the
    last done first), up to ``parallelism`` at a time. Returns the labels of those that could
    not be undone."""
    _note(run, "rolling back: undoing the finished steps, the last first", level="warning")
    steps = done_steps(run)
    by_seq = {s.seq: s for s in steps}
    needs = {seq: {s.seq for s in steps if seq in s.depends_on} for seq in by_seq}
    latest_first = {s.seq: index for index, s in enumerate(steps)}
    _, failed = _in_order(needs, lambda seq: _undo_step(run, by_seq[seq]), parallelism, f"undo-{run.version}",
                          stop_on_failure=False, first=latest_first.__getitem__)  # fmt: skip
    return [step_label(by_seq[seq]) for seq in sorted(failed)]


def _undo_step(run: Apply, step: DeploymentStep) -> None:
    with run.sessions() as session:
        fresh = session.get(DeploymentStep, step.id)
        assert fresh is not None
        fresh.status = "undoing"
        log(session, run, f"undo {step.action} of {step.logical_name}", step=step_label(step))
        session.commit()
    try:
        undo(run, step)
    except Exception as exc:
        _failed(run, step, exc, undoing=True)
        raise


def _finish(run: Apply, outcome: str, *, left: list[str] | None = None) -> dict[str, Any]:
    """Record how the version ended on it and its deployment, with an audit row."""
    with run.sessions() as session:
        version = session.scalar(select(DeploymentVersion).where(DeploymentVersion.operation_id == run.operation_id))
        deployment = session.get(Deployment, run.deployment_id)
        assert version is not None
        assert deployment is not None
        steps = list(session.scalars(select(DeploymentStep).where(DeploymentStep.operation_id == run.operation_id)))
        for step in steps:
            if step.status == "planned" and outcome != "applied":
                step.status = "skipped"  # never started: this apply will not run it
        failures = [{"step": step_label(s), **(s.error or {})} for s in steps if s.error]
        version.outcome, version.finished_at = outcome, utcnow()
        version.error = {"steps": failures, "not_undone": left or []} if failures else None
        if outcome == "applied":
            _applied(session, deployment, version)
        elif outcome == "paused":
            deployment.status = "paused"
        else:  # rolled back (or failed to): back at the last good version, if there is one
            deployment.status = "failed" if left or deployment.current_version is None else "rolled_back"
        counts = {status: sum(1 for s in steps if s.status == status) for status in {s.status for s in steps}}
        log(
            session,
            run,
            f"version {version.number} {outcome.replace('_', ' ')} ({counts})",
            level="info" if outcome == "applied" else "error",
        )
        session.add(_version_entry(deployment, version))
        session.commit()
    result = {"deployment_id": str(run.deployment_id), "version": run.version, "outcome": outcome, "steps": counts}
    if outcome != "applied":
        raise ApplyFailed(result)
    return result


def _applied(session: Session, deployment: Deployment, version: DeploymentVersion) -> None:
    if version.kind == "destroy":
        deployment.status, deployment.outputs, deployment.current_version = "destroyed", {}, version.number
        return
    deployment.status, deployment.current_version = "deployed", version.number
    held = session.scalars(select(DeploymentResource).where(DeploymentResource.deployment_id == deployment.id))
    attributes = {row.logical_name: dict(row.attributes) for row in held}
    deployment.outputs = resolve_outputs(version.template.get("outputs") or {}, attributes)


def _version_entry(deployment: Deployment, version: DeploymentVersion) -> Any:
    return audit.entry(
        actor=version.author,
        method="TASK",
        path=f"/api/cloud/deployments/{deployment.id}",
        action=f"deployment.{version.kind}",
        target=f"deployment:{deployment.id}",
        status=200 if version.outcome == "applied" else 500,
        request_id=(version.operation_id or version.id).hex,
        detail=redact(
            {
                "version": version.number,
                "outcome": version.outcome,
                "template": version.template,
                "parameters": version.parameters,
                "plan": version.plan.get("summary"),
                "error": version.error,
            }
        ),
    )


class ApplyFailed(ServiceError):
    """The apply did not reach its version; the operation fails with this summary."""

    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(
            f"version {result['version']} {result['outcome'].replace('_', ' ')}: see "
            f"GET /api/cloud/deployments/{result['deployment_id']}/logs"
        )
        self.result = result
