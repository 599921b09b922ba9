"""Waiting for a cloud: a snapshot to be whole, a restored resource to be ready, a deleted one
to be gone. Each polls the adapter until done or ``run.wait_seconds`` have passed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from clouds.base import CloudProvider, CloudResource, ResourceState, Snapshot
from clouds.errors import ResourceNotFound
from control_plane.disaster_recovery.runs import Run, StepFailed

READY = (ResourceState.RUNNING, ResourceState.AVAILABLE)


class Clock(Protocol):
    """What a wait needs of its caller: a clock, a sleep, how long to wait and how often to look
    (a :class:`Run`, or an optimisation apply's own)."""

    @property
    def monotonic(self) -> Callable[[], float]: ...
    @property
    def sleep(self) -> Callable[[float], None]: ...
    @property
    def wait_seconds(self) -> float: ...
    @property
    def poll_seconds(self) -> float: ...


def snapshot_whole(run: Clock, adapter: CloudProvider, snapshot: Snapshot) -> Snapshot:
    """The snapshot once the cloud reports it whole; StepFailed when the cloud reports it failed or
    it is still not whole after ``run.wait_seconds``."""
    deadline = run.monotonic() + run.wait_seconds
    while snapshot.state == "pending" or snapshot.completed_at is None:
        if snapshot.state == "failed":
            break
        if run.monotonic() > deadline:
            raise StepFailed(f"snapshot {snapshot.id} was not whole after {run.wait_seconds:.0f} s")
        run.sleep(run.poll_seconds)
        snapshot = adapter.describe_snapshot(snapshot.id)
    if snapshot.state == "failed":
        raise StepFailed(f"the cloud reports snapshot {snapshot.id} failed")
    return snapshot


def resource_ready(run: Run, adapter: CloudProvider, resource: CloudResource) -> CloudResource:
    deadline = run.monotonic() + run.wait_seconds
    while resource.state not in READY:
        if resource.state in (ResourceState.FAILED, ResourceState.TERMINATED):
            raise StepFailed(f"{resource.name} ({resource.id}) is {resource.state.value}, not ready")
        if run.monotonic() > deadline:
            raise StepFailed(f"{resource.name} ({resource.id}) was not ready after {run.wait_seconds:.0f} s")
        run.sleep(run.poll_seconds)
        resource = adapter.describe(resource.id)
    return resource


def terminated(run: Run, adapter: CloudProvider, cloud_id: str) -> bool:
    """Terminate ``cloud_id`` (once: a terminated or missing one is left as it is). True if it was
    there to terminate."""
    try:
        current = adapter.describe(cloud_id)
    except ResourceNotFound:
        return False
    if current.state == ResourceState.TERMINATED:
        return False
    adapter.terminate(cloud_id)
    return True
