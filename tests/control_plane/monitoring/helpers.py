"""A provider, resources and rules in a migrated store, for the alerting tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.monitoring import samples
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import AlertRule, AlertTransition, MonitorAlert

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)


def add_provider(session: Session, name: str = "sandbox-aws") -> Provider:
    provider = Provider(kind="sandbox", name=name, regions=["eu-west-2"])
    session.add(provider)
    session.flush()
    return provider


def add_resource(session: Session, provider: Provider, name: str, *, tags: dict[str, str] | None = None,
                 created_at: datetime = T0 - timedelta(hours=1)) -> Resource:  # fmt: skip
    resource = Resource(provider_id=provider.id, cloud_id=f"i-{name}", name=name, resource_type="compute",
                        subtype="vm", region="eu-west-2", state="running", tags=tags or {},
                        created_at=created_at)  # fmt: skip
    session.add(resource)
    session.flush()
    return resource


def add_rule(session: Session, name: str, kind: str, spec: dict[str, Any], *, severity: str = "warning",
             hold: float = 60.0, labels: dict[str, str] | None = None) -> AlertRule:  # fmt: skip
    rule = AlertRule(name=name, kind=kind, spec={**spec, "hold": hold}, severity=severity, labels=labels or {},
                     annotations={"summary": "{resource} at {value}"}, routes=[], grouping={})  # fmt: skip
    session.add(rule)
    session.flush()
    return rule


def cpu(sessions: sessionmaker[Session], resource: Resource, at: datetime, value: float) -> None:
    with sessions.begin() as session:
        samples.write_samples(
            session, [{"resource_id": resource.id, "provider_id": resource.provider_id, "at": at, "cpu": value}]
        )


def alerts_of(sessions: sessionmaker[Session], rule_id: uuid.UUID) -> list[MonitorAlert]:
    with sessions() as session:
        query = select(MonitorAlert).where(MonitorAlert.rule_id == rule_id).order_by(MonitorAlert.created_at)
        return list(session.scalars(query))


def history(sessions: sessionmaker[Session], alert_id: uuid.UUID) -> list[tuple[str | None, str]]:
    with sessions() as session:
        query = select(AlertTransition).where(AlertTransition.alert_id == alert_id).order_by(AlertTransition.id)
        return [(t.from_state, t.to_state) for t in session.scalars(query)]
