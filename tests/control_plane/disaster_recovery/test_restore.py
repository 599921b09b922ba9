"""Restores on the sandbox: from a plan's newest backup into a new resource (the default), at a
point in time, and in place of the old resource."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from clouds.errors import UnsupportedRequest
from control_plane.disaster_recovery import service
from control_plane.disaster_recovery.protected import serving_resources
from control_plane.disaster_recovery.restore import KEPT_TAG
from control_plane.services.errors import Conflict, InvalidRequest
from control_plane.store.models import Resource
from control_plane.store.recovery_models import RecoveryBackup
from tests.control_plane.disaster_recovery.support import PRIMARY, Recovery, booking_recovery


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def _db(dr: Recovery, name: str = "booking-db") -> Resource:
    with dr.cloud.sessions() as session:
        return session.scalars(select(Resource).where(Resource.name == name)).one()


def test_a_restore_makes_a_new_database_beside_the_old_with_its_tags(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    old = _db(dr)
    _, run = dr.run(dr.begin(service.begin_restore, request={"plan_id": str(plan_id)}))
    assert run.status == "succeeded", run.error
    (made,) = run.report["made"]
    restored = dr.cloud.adapter().describe(made["cloud_id"])
    assert (restored.region, restored.subtype, restored.size) == (PRIMARY, "database", old.size)
    assert restored.tags["env"] == old.tags["env"]  # the old one's own tags
    assert restored.tags["wedcloud:restore"] == str(run.id)
    assert dr.cloud.adapter().describe(old.cloud_id).state.value == "running"  # the old one is untouched
    with dr.cloud.sessions() as session:
        assert session.scalars(select(Resource).where(Resource.cloud_id == restored.id)).one().state == "running"


def test_a_point_in_time_before_every_backup_is_refused_naming_the_field(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    with dr.cloud.sessions() as session:
        first = session.scalars(select(RecoveryBackup)).one()
    before = (first.completed_at - timedelta(hours=1)).isoformat()
    with pytest.raises(InvalidRequest) as refused:
        dr.begin(service.begin_restore, request={"plan_id": str(plan_id), "point_in_time": before})
    assert [e["pointer"] for e in refused.value.extra["errors"]] == ["/point_in_time"]


def test_a_restore_in_place_keeps_a_snapshot_of_the_old_and_the_plan_protects_the_new(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    old = _db(dr)
    request = {"resource_id": str(old.id), "mode": "replace"}
    _, run = dr.run(dr.begin(service.begin_restore, request=request))
    assert run.status == "succeeded", run.error
    (replaced,) = run.report["replaced"]
    assert dr.cloud.adapter().describe(old.cloud_id).state.value == "terminated"
    kept = dr.cloud.adapter().describe_snapshot(replaced["kept_snapshot"])
    assert kept.resource_id == old.cloud_id
    assert kept.tags[KEPT_TAG] == str(run.id)
    with dr.cloud.sessions() as session:
        protected = {r.id for r in serving_resources(session, dr.stored_plan(plan_id))}
    assert str(old.id) not in {str(i) for i in protected}
    assert replaced["new_resource_id"] in {str(i) for i in protected}


def test_a_restore_in_place_of_a_protected_resource_waits_for_its_plans_failover_to_end(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    old = _db(dr)
    failing_over = dr.begin(service.begin_failover, plan_id=plan_id, reason="eu-west-2 is down", dry_run=False,
                            region=None)  # fmt: skip
    with pytest.raises(Conflict, match=str(failing_over.operation.id)):
        dr.begin(service.begin_restore, request={"resource_id": str(old.id), "mode": "replace"})
    _, made_new = dr.run(dr.begin(service.begin_restore, request={"resource_id": str(old.id)}))
    assert made_new.status == "succeeded", made_new.error  # a new copy beside it changes nothing that serves


def test_a_replacement_that_fails_keeps_the_new_resource_and_the_old_one(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    old = _db(dr)
    adapter_type = type(dr.cloud.adapter())

    def refuse(self: object, resource_id: str) -> None:
        raise UnsupportedRequest("termination protection is on")

    monkeypatch.setattr(adapter_type, "terminate", refuse)
    _, run = dr.run(dr.begin(service.begin_restore, request={"resource_id": str(old.id), "mode": "replace"}))
    assert run.status == "failed"
    assert "termination protection" in (run.error or {}).get("detail", "")
    (new_id,) = run.report["resources"]
    with dr.cloud.sessions() as session:
        new = session.get(Resource, uuid.UUID(new_id))
        assert new is not None
    assert dr.cloud.adapter().describe(new.cloud_id).state.value == "running"
    assert dr.cloud.adapter().describe(old.cloud_id).state.value == "running"
