"""Waiting for a cloud: a snapshot to be whole, a restored resource to be ready, a deleted one
to be gone. Each polls the adapter until done or ``run.wait_seconds`` have passed.

A snapshot can take an hour, so its wait backs off: it looks after ``run.poll_seconds``, then
doubles the pause up to ``run.max_poll_seconds`` (a few dozen reads an hour, not thousands, which
would meet EC2's and RDS's describe throttles), and a read the cloud throttles (``Throttled``,
once the SDK's own retries gave up) is asked again at the next pause rather than ending the wait.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from clouds.base import CloudProvider, CloudResource, ResourceState, Snapshot
from clouds.errors import ResourceNotFound, Throttled
from control_plane.disaster_recovery.runs import Run, StepFailed

READY = (ResourceState.RUNNING, ResourceState.AVAILABLE)


class Clock(Protocol):
    """What a wait needs of its caller: a clock, a sleep, how long to wait and how often to look
    (a :class:`Run`, or an optimisation apply's own): first after ``poll_seconds``, and a
    snapshot's wait at most ``max_poll_seconds`` apart."""

    @property
    def monotonic(self) -> Callable[[], float]: ...
    @property
    def sleep(self) -> Callable[[float], None]: ...
    @property
    def wait_seconds(self) -> float: ...
    @property
    def poll_seconds(self) -> float: ...
    @property
    def max_poll_seconds(self) -> float: ...


def snapshot_whole(run: Clock, adapter: CloudProvider, snapshot: Snapshot) -> Snapshot:
    """The snapshot once the cloud reports it whole; StepFailed when the cloud reports it failed or
    it is still not whole after ``run.wait_seconds`` (throttled reads included)."""
    deadline = run.monotonic() + run.wait_seconds
    pause, throttled = run.poll_seconds, ""
    while snapshot.state == "pending" or snapshot.completed_at is None:
        if snapshot.state == "failed":
            break
        left = deadline - run.monotonic()
        if left < 0:
            raise StepFailed(f"snapshot {snapshot.id} was not whole after {run.wait_seconds:.0f} s{throttled}")
        run.sleep(min(pause, left))
        pause = min(pause * 2, max(run.max_poll_seconds, run.poll_seconds))
        try:
            snapshot = adapter.describe_snapshot(snapshot.id)
        except Throttled as exc:  # the cloud asks us to slow down: look again after the next pause
            throttled = f" (its last read was throttled: {exc})"
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
