"""Drift of a deployment applied by the engine on the sandbox, on SQLite and PostgreSQL: what
the engine records is what the check compares against, so a fresh apply, and an update applied
through the engine, are never drift; a change made behind its back is, until the next apply
puts the cloud back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from clouds.base import ScaleRequest
from control_plane.deployments import drift, service
from control_plane.store.deployment_models import Deployment
from tests.control_plane.deployments.support import BOOKING, Cloud, sandbox_cloud

LARGER = BOOKING.replace("default: db.m5.large", "default: db.m5.xlarge")


@pytest.fixture
def cloud(engine: Engine, tmp_path: Path) -> Cloud:
    return sandbox_cloud(engine, tmp_path)


def _check(cloud: Cloud, deployment: Deployment) -> dict[str, object]:
    with cloud.sessions.begin() as session:
        return drift.check(session, deployment.id, cloud.adapters)


def test_an_engine_apply_has_no_drift_until_the_cloud_is_changed_behind_its_back(cloud: Cloud) -> None:
    deployment_id, operation = cloud.create()
    assert operation.status == "succeeded", operation.error
    deployment = cloud.deployment(deployment_id)
    fresh = _check(cloud, deployment)
    assert (fresh["drifted"], fresh["missing"], fresh["changed"], fresh["extra"], fresh["errors"]) == (
        False, [], [], [], [])  # fmt: skip

    db = next(r for r in cloud.adapter().list_resources() if r.name == "booking-db")
    web = next(r for r in cloud.adapter().list_resources() if r.name == "booking-web")
    cloud.adapter().scale(db.id, ScaleRequest(size="db.r5.large"))
    cloud.adapter().tag(web.id, {**web.tags, "env": "staging"})
    found = _check(cloud, deployment)
    assert [(c["resource"], c["field"], c["expected"], c["actual"]) for c in found["changed"]] == [  # type: ignore[attr-defined]
        ("db", "size", "db.m5.large", "db.r5.large"),
        ("web", "tags", {"env": "prod"}, {"env": "staging"}),
    ]

    started = cloud.begin(service.begin_update, deployment_id, template=LARGER, parameters=None)
    assert cloud.run(started).status == "succeeded"
    after = _check(cloud, deployment)
    assert [(c["resource"], c["field"]) for c in after["changed"]] == [("web", "tags")]  # type: ignore[attr-defined]


def test_a_destroyed_deployment_is_not_checked_and_raises_no_drift(cloud: Cloud) -> None:
    deployment_id, _ = cloud.create()
    db = next(r for r in cloud.adapter().list_resources() if r.name == "booking-db")
    cloud.adapter().scale(db.id, ScaleRequest(size="db.r5.large"))
    assert drift.check_all(cloud.sessions, cloud.adapters)["drifted"] == 1
    started = cloud.begin(service.begin_destroy, deployment_id)
    assert cloud.run(started).status == "succeeded"
    assert cloud.deployment(deployment_id).status == "destroyed"
    assert drift.check_all(cloud.sessions, cloud.adapters) == {"checked": 0, "drifted": 0, "with_errors": 0,
                                                                 "failed": []}  # fmt: skip
    with cloud.sessions() as session:
        assert drift.drifted(session) == []
