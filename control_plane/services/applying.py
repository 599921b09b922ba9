"""Applying a recommendation, run as its operation's work: record the resource's configuration
(committed before the change, so an apply resumed after a crash can put it back), make the change
through the provider's adapter, verify it, and put the resource back when anything goes wrong
once the change has begun.

A delete or terminate first snapshots the resource and waits until the cloud reports the
snapshot whole (``waits.snapshot_whole``, as disaster-recovery backups do): nothing is deleted
while the snapshot is still being made (RDS refuses it, a disk's deletion races it) nor when it
failed or was not whole in time; the apply then fails saying so, and the resource stays.

The snapshot is named for the apply's operation (``snapshot_name``), not only the
recommendation: every adapter answers a snapshot name it already holds with the snapshot it
made, so a name shared by every apply of a recommendation would let a later apply (after a
failed one) find the old snapshot whole at once and delete what was written since. The record
is committed with the snapshot as soon as the cloud names it, and again once it is whole, so an
apply whose process died while waiting is put back (nothing deleted, no second snapshot); the
same operation resumed before the first commit asks again under the same name and is answered
with the snapshot its first call made.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from clouds.base import CloudProvider, CloudResource, ResourceState, ScaleRequest, Snapshot
from clouds.errors import CloudError
from control_plane.disaster_recovery import waits
from control_plane.disaster_recovery.runs import StepFailed
from control_plane.services import operations
from control_plane.services.errors import Conflict
from control_plane.services.health import http_health
from control_plane.services.optimisation import (
    APPLIED,
    FAILED,
    HEALTH_TAG,
    IN_PROGRESS,
    REVERTED,
    SCHEDULE_TAG,
    AdapterFor,
    Change,
    HealthProbe,
    _resource_row,
    change_for,
    get_recommendation,
    provider_of,
)
from control_plane.services.resources import apply_cloud, scale_resource
from control_plane.store.models import RecommendationRow
from wedcloud.sqltypes import utcnow

# what an applied recommendation asks the resource to stay in (a resize or a schedule asks nothing new)
DESIRED_AFTER = {"stop": "stopped", "terminate": "terminated", "delete": "terminated"}


@dataclass(frozen=True)
class SnapshotWait:
    """How long a delete waits for its snapshot to be whole, and how often it looks."""

    wait_seconds: float = 3600.0  # a first EBS or RDS snapshot of a large store can take this long
    poll_seconds: float = 1.0  # the first look; each pause doubles, up to max_poll_seconds
    max_poll_seconds: float = 60.0
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


WAIT = SnapshotWait()  # what an apply waits unless told otherwise


class SnapshotNotWhole(Conflict):
    """The snapshot a delete takes first failed or was not whole in time: nothing was deleted."""


def apply_work(
    adapter_for: AdapterFor,
    operation_id: uuid.UUID,
    rec_id: str,
    *,
    actor: str,
    probe: HealthProbe = http_health,
    wait: SnapshotWait | None = None,
) -> operations.Work:
    """The apply itself, run as the operation's work. Before the change it records the resource
    as it was (committed), so an apply resumed after a crash puts that back (compensates)."""

    waiting = wait or WAIT

    def work(session: Session) -> dict[str, Any]:
        row = get_recommendation(session, rec_id)
        provider = provider_of(session, row)
        adapter = adapter_for(provider, session)
        mark = row.outcome or {}

        def checkpoint(record: dict[str, Any]) -> None:
            row.outcome = {**record, "result": IN_PROGRESS, "operation": str(operation_id)}
            session.commit()

        try:
            if mark.get("result") == IN_PROGRESS and mark.get("operation") == str(operation_id):
                outcome, final = _compensate(adapter, row, mark)
            else:
                outcome, final = _apply(adapter, row, probe, checkpoint, waiting, operation_id)
        except Exception as exc:
            row.status = FAILED
            why = f"{type(exc).__name__}: {exc}"
            row.outcome = {**(row.outcome or {}), "result": "failed", "reason": why}
            session.commit()  # the recommendation says failed even though the work raises
            raise
        row.outcome = outcome
        row.status = APPLIED if outcome["result"] == "applied" else REVERTED
        row.applied_at, row.applied_by = utcnow(), actor
        if (known := _resource_row(session, provider, row.resource_id)) is not None:
            apply_cloud(known, final, adapter)  # its state, size and list price as the provider now says
            if outcome["result"] == "applied" and row.action in DESIRED_AFTER:
                known.desired_state = DESIRED_AFTER[row.action]
        return outcome

    return work


def snapshot_name(rec_id: str, operation_id: uuid.UUID) -> str:
    """The name of the snapshot an apply takes before a delete: one per operation (42 characters of
    lowercase letters, digits and hyphens, starting with a letter: a Compute Engine, ARM, RDS
    and AMI name as it is)."""
    return f"wedcloud-{rec_id}-{operation_id.hex[:8]}"


def _apply(
    adapter: CloudProvider, row: RecommendationRow, probe: HealthProbe, checkpoint: Callable[[dict[str, Any]], None],
    wait: SnapshotWait, operation_id: uuid.UUID,
) -> tuple[dict[str, Any], CloudResource]:  # fmt: skip
    """The apply's record, and the resource as it was left. Whatever goes wrong once the change
    has begun (the provider refusing, the health check raising) puts the resource back."""
    before = adapter.describe(row.resource_id)
    change = change_for(row, before)
    record: dict[str, Any] = {
        "before": _config(before),
        "steps": change.steps,
        "rollback": change.rollback,
        "baseline_hourly": row.evidence.get("hourly_rate"),
        "rate_basis": row.evidence.get("rate_basis"),
    }
    if change.needs_data_snapshot:
        # this operation's own: the same one again if it is resumed, never an earlier apply's
        snap = adapter.snapshot(row.resource_id, name=snapshot_name(row.id, operation_id))
        record["snapshot"] = _snapshot_record(snap)
        record["rollback"] = [f"restore snapshot {snap.id} in {before.region}"]
        checkpoint(record)  # from here a resumed apply puts the resource back: no second snapshot, no delete
        try:
            snap = waits.snapshot_whole(wait, adapter, snap)
        except StepFailed as exc:
            raise SnapshotNotWhole(_not_whole(adapter, row, snap, exc)) from exc
        record["snapshot"] = _snapshot_record(snap)
    checkpoint(record)
    try:
        after = _change(adapter, row, before)
        healthy, checks = _verify(after, change, before, probe)
    except Exception as exc:  # part of it may have happened (stopped, not resized): put it back
        reverted = _revert(adapter, row, record["before"])
        why = f"the change failed: {exc}" if isinstance(exc, CloudError) else f"{type(exc).__name__}: {exc}"
        return {**record, "result": "reverted", "after": _config(reverted), "reason": why}, reverted
    record["health"] = checks
    if healthy:
        return {**record, "result": "applied", "after": _config(after)}, after
    reverted = _revert(adapter, row, record["before"])
    why = "; ".join(c["detail"] for c in checks if not c["ok"])
    return {**record, "result": "reverted", "after": _config(reverted), "reason": why}, reverted


def _compensate(
    adapter: CloudProvider, row: RecommendationRow, mark: dict[str, Any]
) -> tuple[dict[str, Any], CloudResource]:
    """An apply whose process died during the change (or while waiting for its snapshot): its
    verification never ran, so the resource is put back as it was recorded before the change."""
    record = {k: v for k, v in mark.items() if k not in ("result", "operation")}
    reverted = _revert(adapter, row, mark["before"])
    why = "the apply was interrupted (its process stopped) during the change; the resource was put back"
    if (mark.get("snapshot") or {}).get("state", "completed") != "completed":
        why = ("the apply was interrupted (its process stopped) while its snapshot was being made; "
               f"nothing was {row.action}d")  # fmt: skip
    return {**record, "result": "reverted", "after": _config(reverted), "reason": why}, reverted


def _not_whole(adapter: CloudProvider, row: RecommendationRow, snapshot: Snapshot, exc: StepFailed) -> str:
    """Why nothing was deleted. A failed snapshot is deleted; one still being made is kept (it may
    yet be whole). Applying again takes a new one either way."""
    why = f"{exc}: {row.resource_id} was not {row.action}d (nothing is deleted without a whole snapshot)"
    try:
        if adapter.describe_snapshot(snapshot.id).state == "failed":
            adapter.delete_snapshot(snapshot.id)
            return f"{why}; the failed snapshot was deleted: apply again to take a new one"
    except CloudError:
        pass
    return f"{why}; snapshot {snapshot.id} is kept (delete it if it is not wanted): applying again takes a new one"


def _snapshot_record(snapshot: Snapshot) -> dict[str, Any]:
    return {"id": snapshot.id, "created_at": snapshot.created_at.isoformat(), "state": snapshot.state,
            "completed_at": snapshot.completed_at.isoformat() if snapshot.completed_at else None}  # fmt: skip


def _config(resource: CloudResource) -> dict[str, Any]:
    return {"id": resource.id, "state": resource.state.value, "size": resource.size, "tags": dict(resource.tags)}


def _change(adapter: CloudProvider, row: RecommendationRow, before: CloudResource) -> CloudResource:
    rid = row.resource_id
    if row.action == "resize":
        assert row.target is not None
        return scale_resource(
            adapter, rid, ScaleRequest(size=row.target), running=before.state == ResourceState.RUNNING
        )
    if row.action == "stop":
        return adapter.stop(rid)
    if row.action in ("terminate", "delete"):
        return adapter.terminate(rid)
    return adapter.tag(rid, {**before.tags, SCHEDULE_TAG: row.target or ""})


def _verify(
    after: CloudResource, change: Change, before: CloudResource, probe: HealthProbe
) -> tuple[bool, list[dict[str, Any]]]:
    checks = []
    if change.expected_state:
        ok = after.state.value == change.expected_state
        checks.append({"check": "state", "ok": ok, "detail": f"state is {after.state.value}"})
    if change.expected_size:
        ok = after.size == change.expected_size
        checks.append({"check": "type", "ok": ok, "detail": f"type is {after.size}"})
    url = before.tags.get(HEALTH_TAG)
    if url and after.state == ResourceState.RUNNING:
        try:
            ok, detail = probe(url)
        except Exception as exc:  # a check that cannot run is a failed check
            ok, detail = False, f"the health check of {url} raised {type(exc).__name__}: {exc}"
        checks.append({"check": "health", "ok": ok, "detail": detail})
    return all(c["ok"] for c in checks), checks


def _revert(adapter: CloudProvider, row: RecommendationRow, before: dict[str, Any]) -> CloudResource:
    """Put the resource back as ``before`` (``_config``) recorded it; tried twice, as it runs
    after something already went wrong."""
    for attempt in (1, 2):
        try:
            return _put_back(adapter, row, before)
        except Exception:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _put_back(adapter: CloudProvider, row: RecommendationRow, before: dict[str, Any]) -> CloudResource:
    rid = row.resource_id
    current = adapter.describe(rid)
    if current.state == ResourceState.TERMINATED:
        return current  # a delete cannot be undone here: the rollback procedure says how
    running = ResourceState.RUNNING.value
    if row.action == "resize" and before["size"] and current.size != before["size"]:
        current = scale_resource(
            adapter, rid, ScaleRequest(size=before["size"]), running=current.state.value == running
        )
    if before["state"] == running and current.state == ResourceState.STOPPED:
        current = adapter.start(rid)
    if row.action == "schedule":
        current = adapter.tag(rid, dict(before["tags"]))
    return current
