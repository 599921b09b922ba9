"""Off-hours schedules in force: resources tagged ``wedcloud:schedule`` (an applied schedule
recommendation) are stopped when their off-hours begin and started again when they end.

Only what the schedule stopped is started again: it tags the resource
``wedcloud:stopped-by=schedule`` when it stops it, so a machine someone stopped by hand stays
stopped. The Dagster schedule ``enforce_off_hours`` runs this every 15 minutes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.optimisation.schedules import is_off_hours, zone_of_spec
from clouds.base import CloudProvider, ResourceState
from clouds.errors import CloudError
from control_plane.services.optimisation import SCHEDULE_TAG
from control_plane.store.models import Provider, Resource

STOPPED_BY = "wedcloud:stopped-by"
log = logging.getLogger(__name__)


@dataclass
class Enforcement:
    stopped: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # resource or provider -> what went wrong


def enforce_off_hours(
    session: Session, adapter_for: Callable[[Provider], CloudProvider], *, now: datetime
) -> Enforcement:
    """Stop what is running in its off-hours, start what the schedule stopped once they end."""
    done = Enforcement()
    asked: dict[tuple[uuid.UUID, str], tuple[ResourceState, ResourceState]] = {}
    for provider in session.scalars(select(Provider).order_by(Provider.name)):
        try:
            adapter = adapter_for(provider)
            scheduled = [r for r in adapter.list_resources() if SCHEDULE_TAG in r.tags]
        except CloudError as exc:
            done.errors[provider.name] = str(exc)
            continue
        for resource in scheduled:
            zone = zone_of_spec(resource.tags[SCHEDULE_TAG])
            if zone is None:
                done.errors[resource.id] = f"unreadable schedule {resource.tags[SCHEDULE_TAG]!r}"
                continue
            off = is_off_hours(now, zone)
            try:
                if off and resource.state == ResourceState.RUNNING:
                    asked[(provider.id, resource.id)] = (ResourceState.STOPPED, adapter.stop(resource.id).state)
                    adapter.tag(resource.id, {**resource.tags, STOPPED_BY: "schedule"})
                    done.stopped.append(resource.id)
                elif (
                    not off and resource.state == ResourceState.STOPPED and resource.tags.get(STOPPED_BY) == "schedule"
                ):
                    asked[(provider.id, resource.id)] = (ResourceState.RUNNING, adapter.start(resource.id).state)
                    adapter.tag(resource.id, {k: v for k, v in resource.tags.items() if k != STOPPED_BY})
                    done.started.append(resource.id)
            except CloudError as exc:
                log.warning("off-hours schedule of %s failed: %s", resource.id, exc)
                done.errors[resource.id] = str(exc)
    _record(session, asked)
    return done


def _record(session: Session, asked: dict[tuple[uuid.UUID, str], tuple[ResourceState, ResourceState]]) -> None:
    """Write on the rows WedCloud knows what the schedule asked and what the provider answered,
    after every provider call (on SQLite a write held during them would block the sandbox's own);
    the caller commits."""
    for (provider_id, cloud_id), (desired, state) in asked.items():
        row = session.scalar(select(Resource).where(Resource.provider_id == provider_id, Resource.cloud_id == cloud_id))
        if row is not None:
            row.desired_state, row.state = desired.value, state.value
