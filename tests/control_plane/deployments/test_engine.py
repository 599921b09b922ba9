"""The deployment engine on the sandbox cloud, on SQLite and PostgreSQL: ordered and parallel
applies, in-place updates and deletions, rollback of a refused step, pause, destroy, and the
journal that lets the reconciler finish or undo an apply whose process died."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from clouds.base import ProvisionRequest
from control_plane.deployments import service
from control_plane.deployments.spec import DEPLOYMENT_TAG, VERSION_TAG
from control_plane.monitoring import events
from control_plane.services.errors import Conflict
from control_plane.services.reconciler import reconcile
from control_plane.store.deployment_models import Deployment, DeploymentStep
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import StreamEvent
from tests.control_plane.deployments.support import BOOKING, Cloud, Refusing, sandbox_cloud

SMALLER = BOOKING.replace("default: db.m5.large", "default: db.m5.xlarge")
WITHOUT_BUCKET = SMALLER.split("  bucket:")[0] + "outputs:\n  db_endpoint: ${resources.db.endpoint}\n"


@pytest.fixture
def cloud(engine: Engine, tmp_path: Path) -> Cloud:
    return sandbox_cloud(engine, tmp_path)


def test_an_apply_makes_every_resource_after_what_it_depends_on_and_tags_it(cloud: Cloud) -> None:
    deployment_id, operation = cloud.create()
    assert operation.status == "succeeded", operation.error
    steps = {s.logical_name: s for s in cloud.steps(operation.id)}
    assert steps["web"].started_at >= steps["db"].finished_at  # web depends on db
    made = cloud.listing(deployment_id)
    assert sorted(name for name, _, _ in made.values()) == ["booking-bucket", "booking-db", "booking-web"]
    for resource in cloud.adapter().list_resources():
        if resource.id in made:
            assert resource.tags[DEPLOYMENT_TAG] == str(deployment_id)
            assert resource.tags[VERSION_TAG] == "1"
    deployment = cloud.deployment(deployment_id)
    assert (deployment.status, deployment.current_version) == ("deployed", 1)
    db = next(r for r in cloud.adapter().list_resources() if r.name == "booking-db")
    web = next(r for r in cloud.adapter().list_resources() if r.name == "booking-web")
    assert web.tags["db"] == deployment.outputs["db_endpoint"] != ""  # a reference resolved once db existed
    assert db.tags["env"] == "prod"


def test_a_change_of_size_without_the_bucket_is_one_update_and_one_delete(cloud: Cloud) -> None:
    deployment_id, _ = cloud.create()
    started = cloud.begin(service.begin_update, deployment_id, template=WITHOUT_BUCKET, parameters=None)
    assert started.plan["summary"] == {"create": 0, "update": 1, "replace": 0, "delete": 1, "unchanged": 1}
    assert {(s["action"], s["name"]) for s in started.plan["steps"]} == {("update", "db"), ("delete", "bucket")}
    assert cloud.run(started).status == "succeeded"
    names = {name: size for name, size, _ in cloud.listing(deployment_id).values()}
    assert names == {"booking-db": "db.m5.xlarge", "booking-web": "m5.large"}


def test_rollback_returns_to_the_previous_version(cloud: Cloud) -> None:
    deployment_id, _ = cloud.create()
    first = {name: size for name, size, _ in cloud.listing(deployment_id).values()}
    cloud.run(cloud.begin(service.begin_update, deployment_id, template=WITHOUT_BUCKET, parameters=None))
    started = cloud.begin(service.begin_rollback, deployment_id, version=None)
    assert started.version is not None
    assert (started.version.kind, started.version.rollback_of) == ("rollback", 1)
    assert cloud.run(started).status == "succeeded"
    assert {name: size for name, size, _ in cloud.listing(deployment_id).values()} == first
    assert cloud.deployment(deployment_id).current_version == 3


FAILING = BOOKING.replace(
    "outputs:",
    """  cache:
    provider: sandbox-aws
    type: instance
    region: eu-west-2
    size: m5.large
    depends_on: [web]
outputs:""",
)


def _refusing(cloud: Cloud, *names: str) -> Any:
    def adapters(provider: Provider, session: Any) -> Any:
        return Refusing(cloud.adapters(provider, session), names)

    return adapters


def test_a_refused_step_rolls_the_apply_back_to_what_the_cloud_held_before(cloud: Cloud) -> None:
    deployment_id, _ = cloud.create()
    before = cloud.listing()
    started = cloud.begin(service.begin_update, deployment_id, template=FAILING, parameters={"web_count": 3},
                          adapter_for=_refusing(cloud, "-cache"))  # fmt: skip
    operation = cloud.run(started)
    assert operation.status == "failed"
    assert cloud.listing() == before
    statuses = {s.logical_name: s.status for s in cloud.steps(operation.id)}
    assert statuses == {"web": "undone", "cache": "failed"}
    deployment = cloud.deployment(deployment_id)
    assert (deployment.status, deployment.current_version) == ("rolled_back", 1)
    messages = [line.message for line in cloud.logs(deployment_id) if line.operation_id == operation.id]
    assert any("undo update of web" in m for m in messages)
    with cloud.sessions() as session:
        waiting = session.scalar(select(Resource).where(Resource.name == "booking-cache"))
        assert waiting is not None
        assert waiting.state == "failed"


def test_with_on_failure_pause_the_finished_steps_stay(cloud: Cloud) -> None:
    template = "on_failure: pause\n" + FAILING
    started = cloud.begin(service.begin_create, name="paused", template=template, parameters={}, on_failure=None,
                          adapter_for=_refusing(cloud, "-cache"))  # fmt: skip
    assert started.deployment is not None
    operation = cloud.run(started)
    assert operation.status == "failed"
    assert cloud.deployment(started.deployment.id).status == "paused"
    assert len(cloud.listing(started.deployment.id)) == 3


def test_independent_steps_run_at_the_same_time(cloud: Cloud) -> None:
    meeting = threading.Barrier(2, timeout=20)  # broken unless db and bucket are made together

    class Meeting(Refusing):
        def provision(self, request: ProvisionRequest) -> Any:
            if request.name in ("booking-db", "booking-bucket"):
                meeting.wait()
            return self.adapter.provision(request)

    _, operation = cloud.create(adapter_for=lambda p, s: Meeting(cloud.adapters(p, s), ()))
    assert operation.status == "succeeded", operation.error


def test_destroy_deletes_dependents_first_and_snapshots_retained_data(cloud: Cloud) -> None:
    deployment_id, _ = cloud.create()
    started = cloud.begin(service.begin_destroy, deployment_id)
    order = [s["name"] for s in started.plan["steps"]]
    assert order.index("web") < order.index("db")
    operation = cloud.run(started)
    assert operation.status == "succeeded"
    assert cloud.listing(deployment_id) == {}
    db_step = next(s for s in cloud.steps(operation.id) if s.logical_name == "db")
    assert (db_step.after or {}).get("snapshot", "").startswith("snap-")
    assert cloud.deployment(deployment_id).status == "destroyed"


def test_destroy_refuses_while_a_resource_is_protected(cloud: Cloud) -> None:
    protected = BOOKING.replace("    retain: snapshot", "    retain: snapshot\n    protected: true")
    deployment_id, _ = cloud.create(template=protected)
    with pytest.raises(Conflict, match="'db' is protected"):
        cloud.begin(service.begin_destroy, deployment_id)
    assert len(cloud.listing(deployment_id)) == 3


def _crash_after_first_step_began(cloud: Cloud, name: str, on_failure: str | None) -> tuple[uuid.UUID, uuid.UUID]:
    """Begin an apply, mark its first step started, as a process that died mid-call leaves it."""
    started = cloud.begin(service.begin_create, name=name, template=BOOKING, parameters={}, on_failure=on_failure)
    assert started.operation is not None
    assert started.deployment is not None
    cloud.die_during(started.operation.id, seqs=(0,))
    return started.deployment.id, started.operation.id


def test_after_a_crash_the_reconciler_rolls_the_interrupted_apply_back(cloud: Cloud) -> None:
    before = cloud.listing()
    deployment_id, operation_id = _crash_after_first_step_began(cloud, "crashed", None)
    assert str(operation_id) in reconcile(cloud.sessions, cloud.adapters).resumed
    assert cloud.listing() == before
    assert cloud.deployment(deployment_id).status == "failed"
    statuses = sorted(s.status for s in cloud.steps(operation_id))
    assert statuses == ["skipped", "skipped", "undone"]


def test_after_a_crash_with_on_failure_pause_the_reconciler_finishes_the_apply(cloud: Cloud) -> None:
    deployment_id, operation_id = _crash_after_first_step_began(cloud, "resumed", "pause")
    assert str(operation_id) in reconcile(cloud.sessions, cloud.adapters).resumed
    assert cloud.deployment(deployment_id).status == "deployed"
    names = sorted(name for name, _, _ in cloud.listing(deployment_id).values())
    assert names == ["resumed-bucket", "resumed-db", "resumed-web"]  # each once


def test_a_step_repeated_with_its_key_makes_nothing_twice(cloud: Cloud) -> None:
    deployment_id, operation = cloud.create()
    cloud.die_during(operation.id)
    with cloud.sessions() as session, session.begin():
        session.execute(update(Deployment).values(on_failure="pause"))
    reconcile(cloud.sessions, cloud.adapters)
    assert len(cloud.listing(deployment_id)) == 3


def test_every_log_line_is_published_on_the_deployments_topic(cloud: Cloud) -> None:
    deployment_id, _ = cloud.create()
    lines = cloud.logs(deployment_id)
    with cloud.sessions() as session:
        query = select(StreamEvent).where(StreamEvent.topic == "deployments").order_by(StreamEvent.id)
        published = list(session.scalars(query))
    # parallel steps commit in any order: every line once, each with its own text
    assert sorted(e.payload["log_id"] for e in published) == [line.id for line in lines]
    by_id = {line.id: line.message for line in lines}
    assert all(e.payload["message"] == by_id[e.payload["log_id"]] for e in published)
    assert "deployments" in events.TOPICS


def test_a_paused_apply_whose_process_died_after_a_failure_stays_paused(cloud: Cloud) -> None:
    deployment_id, operation_id = _crash_after_first_step_began(cloud, "failing", "pause")
    with cloud.sessions() as session, session.begin():
        session.execute(
            update(DeploymentStep)
            .where(DeploymentStep.operation_id == operation_id, DeploymentStep.seq == 0)
            .values(status="failed", error={"type": "UnsupportedRequest", "detail": "refused"})
        )
    reconcile(cloud.sessions, cloud.adapters)
    assert cloud.deployment(deployment_id).status == "paused"
    statuses = [s.status for s in cloud.steps(operation_id)]
    assert statuses == ["failed", "skipped", "skipped"]  # the failed step is not tried again
    assert cloud.listing(deployment_id) == {}


def test_a_rollback_whose_process_died_is_finished_by_the_reconciler(cloud: Cloud) -> None:
    deployment_id, operation = cloud.create(name="undoing")
    assert len(cloud.listing(deployment_id)) == 3
    # as a process leaves it that died while undoing a failed apply: one undo begun, the rest done
    cloud.die_during(operation.id)
    with cloud.sessions() as session, session.begin():
        session.execute(update(DeploymentStep).where(DeploymentStep.operation_id == operation.id).values(status="done"))
        session.execute(
            update(DeploymentStep)
            .where(DeploymentStep.operation_id == operation.id, DeploymentStep.seq == 0)
            .values(status="undoing")
        )
        session.execute(
            update(Deployment).where(Deployment.id == deployment_id).values(status="applying", current_version=None)
        )
    assert str(operation.id) in reconcile(cloud.sessions, cloud.adapters).resumed
    assert cloud.listing(deployment_id) == {}
    assert [s.status for s in cloud.steps(operation.id)] == ["undone", "undone", "undone"]
    assert cloud.deployment(deployment_id).status == "failed"
