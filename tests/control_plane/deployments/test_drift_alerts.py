"""The ``drift`` alert rule over real drift checks of the sandbox, on SQLite and PostgreSQL:
one alert per drifted deployment, from the stored check (the rule calls no cloud), resolved
once a later check finds the deployment back in line; ``deployment_id`` narrows it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from clouds.base import ScaleRequest
from control_plane.monitoring import lifecycle
from control_plane.store.deployment_models import Deployment
from tests.control_plane.deployments.test_drift import Stack, build_stack
from tests.control_plane.monitoring.helpers import T0, add_rule, alerts_of, history


def _rule(stack: Stack, name: str, spec: dict[str, Any], severity: str = "warning") -> Any:
    with stack.sessions.begin() as session:
        return add_rule(session, name, "drift", {"deployment_id": None, "for": 0.0, **spec}, severity=severity,
                        hold=0.0)  # fmt: skip


def test_a_drift_rule_fires_per_drifted_deployment_and_resolves_when_the_drift_clears(
    engine: Engine, tmp_path: Path
) -> None:
    stack = build_stack(engine, tmp_path)
    booking, ids = stack.make("booking")
    clean, _ = stack.make("clean", {"box": ("instance", "t3.micro", "us-east-1", {})})
    rule = _rule(stack, "deployments drifted", {}, severity="critical")
    stack.check(clean)
    stack.cloud().scale(ids["db"], ScaleRequest(size="db.r5.large"))
    stack.cloud().terminate(ids["cache"])
    stack.check(booking)

    lifecycle.evaluate(stack.sessions, now=T0)
    (alert,) = alerts_of(stack.sessions, rule.id)
    assert alert.state == "firing"
    assert alert.labels == {"alertname": "deployments drifted", "severity": "critical", "deployment": "booking",
                            "deployment_id": str(booking)}  # fmt: skip
    assert alert.value == 2.0  # one changed, one missing

    stack.cloud().scale(ids["db"], ScaleRequest(size="db.m5.large"))
    with stack.sessions.begin() as session:  # the cache is made again, as a re-apply records it
        cache = stack.cloud().provision(stack.request_of("booking", "cache", booking))
        row = stack.row(session, booking, "cache")
        row.cloud_id = cache.id
    lifecycle.evaluate(stack.sessions, now=T0 + timedelta(minutes=1))
    assert alerts_of(stack.sessions, rule.id)[0].state == "firing"  # the rule reads the stored check only
    assert stack.check(booking)["drifted"] is False
    lifecycle.evaluate(stack.sessions, now=T0 + timedelta(minutes=2))
    (alert,) = alerts_of(stack.sessions, rule.id)
    assert alert.state == "resolved"
    assert history(stack.sessions, alert.id) == [("inactive", "firing"), ("firing", "resolved")]


def test_a_drift_rule_with_a_deployment_id_watches_only_that_deployment(engine: Engine, tmp_path: Path) -> None:
    stack = build_stack(engine, tmp_path)
    booking, booking_ids = stack.make("booking")
    standby, standby_ids = stack.make("standby", {"db": ("database", "db.m5.large", "eu-west-2", {})})
    rule = _rule(stack, "standby drifted", {"deployment_id": str(standby)})
    stack.cloud().scale(booking_ids["db"], ScaleRequest(size="db.r5.large"))
    stack.cloud().scale(standby_ids["db"], ScaleRequest(size="db.r5.large"))
    stack.check(booking)
    stack.check(standby)
    lifecycle.evaluate(stack.sessions, now=T0)
    assert [a.labels["deployment"] for a in alerts_of(stack.sessions, rule.id)] == ["standby"]


def test_a_destroyed_deployment_no_longer_raises_its_drift(engine: Engine, tmp_path: Path) -> None:
    stack = build_stack(engine, tmp_path)
    booking, ids = stack.make("booking")
    rule = _rule(stack, "deployments drifted", {})
    stack.cloud().terminate(ids["cache"])
    stack.check(booking)
    lifecycle.evaluate(stack.sessions, now=T0)
    with stack.sessions.begin() as session:
        deployment = session.get(Deployment, booking)
        assert deployment is not None
        deployment.status = "destroyed"
    lifecycle.evaluate(stack.sessions, now=T0 + timedelta(minutes=1))
    assert [a.state for a in alerts_of(stack.sessions, rule.id)] == ["resolved"]
