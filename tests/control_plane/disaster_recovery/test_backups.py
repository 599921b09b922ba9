"""Backups on the sandbox: a snapshot and a cross-region copy per data store, the RPO they give,
retention, and a backup whose process died resumed without taking anything twice."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from clouds.errors import Throttled
from control_plane.disaster_recovery import service, status
from control_plane.disaster_recovery.backups import rpo_now, snapshot_name
from control_plane.services import operations
from control_plane.store.models import Operation, Resource
from control_plane.store.recovery_models import RecoveryBackup, RecoveryPlan, RecoveryRun
from tests.control_plane.disaster_recovery.support import PRIMARY, STANDBY, Recovery, booking_recovery


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def _backups(dr: Recovery, plan_id: object) -> list[RecoveryBackup]:
    with dr.cloud.sessions() as session:
        query = select(RecoveryBackup).where(RecoveryBackup.plan_id == plan_id).order_by(RecoveryBackup.taken_at)
        return list(session.scalars(query))


def test_a_backup_snapshots_each_data_store_and_copies_it_to_the_dr_region(dr: Recovery) -> None:
    plan_id = dr.plan()
    run = dr.backup(plan_id)
    assert run.status == "succeeded", run.error
    (backup,) = _backups(dr, plan_id)  # the database; the web group is stateless, the bucket not snapshotted
    assert (backup.resource_name, backup.region, backup.status) == ("booking-db", PRIMARY, "completed")
    assert [c["region"] for c in backup.copies] == [STANDBY]
    snapshots = {s.id: s for s in dr.cloud.adapter().list_snapshots(tags={"wedcloud:plan": str(plan_id)})}
    assert set(snapshots) == {backup.snapshot_id, backup.copies[0]["snapshot_id"]}
    assert snapshots[backup.copies[0]["snapshot_id"]].region == STANDBY


def test_the_rpo_is_the_age_of_the_newest_cross_region_copy(dr: Recovery) -> None:
    plan_id = dr.plan()
    with dr.cloud.sessions() as session:
        assert rpo_now(session, dr.stored_plan(plan_id)) is None  # nothing backed up: no recovery point
    dr.backup(plan_id)
    (backup,) = _backups(dr, plan_id)
    assert backup.copied_at is not None
    later = backup.copied_at + timedelta(hours=5)
    with dr.cloud.sessions() as session:
        rpo = rpo_now(session, dr.stored_plan(plan_id), later)
    assert rpo is not None
    assert (rpo.seconds, rpo.resource) == (5 * 3600, "booking-db")


def test_the_status_pages_last_backup_is_the_one_the_rpo_counts_from_and_its_age_is_the_rpo_now(
    dr: Recovery,
) -> None:
    plan_id = dr.plan()
    with dr.cloud.sessions() as session:
        assert status.plan_status(session, dr.stored_plan(plan_id))["last_backup"] is None  # nothing usable yet
    dr.backup(plan_id)
    with dr.cloud.sessions.begin() as session:  # its snapshot was taken 2 h before its copy was whole
        (backup,) = session.scalars(select(RecoveryBackup).where(RecoveryBackup.plan_id == plan_id))
        assert backup.copied_at is not None
        backup.taken_at = backup.completed_at = backup.copied_at - timedelta(hours=2)
        copied_at = backup.copied_at
    with dr.cloud.sessions() as session:
        standing = status.plan_status(session, dr.stored_plan(plan_id), copied_at + timedelta(hours=1))
    last = standing["last_backup"]
    assert (last["resource"], last["usable_at"]) == ("booking-db", copied_at.isoformat())
    assert last["age_seconds"] == standing["rpo"]["current_seconds"] == 3600


def test_retention_keeps_the_newest_backups_and_deletes_the_others_snapshots(dr: Recovery) -> None:
    plan_id = dr.plan(backup={"schedule": "0 */4 * * *", "retention_count": 2, "cross_region_copy": True})
    runs = [dr.backup(plan_id) for _ in range(3)]
    assert [r.status for r in runs] == ["succeeded"] * 3
    rows = _backups(dr, plan_id)
    assert [r.status for r in rows] == ["expired", "completed", "completed"]
    left = {s.id for s in dr.cloud.adapter().list_snapshots(tags={"wedcloud:plan": str(plan_id)})}
    assert rows[0].snapshot_id not in left
    assert rows[0].copies[0]["snapshot_id"] not in left
    assert len(left) == 4  # two backups, each a snapshot and its copy


def test_a_snapshot_the_cloud_will_not_expire_keeps_the_backup_run_and_is_expired_by_the_next(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = dr.plan(backup={"schedule": "0 */4 * * *", "retention_count": 1, "cross_region_copy": True})
    dr.backup(plan_id)
    adapter_type = type(dr.cloud.adapter())

    def refuse(self: object, snapshot_id: str) -> None:
        raise Throttled(f"Rate exceeded deleting {snapshot_id}")

    with monkeypatch.context() as patched:
        patched.setattr(adapter_type, "delete_snapshot", refuse)
        second = dr.backup(plan_id)
    assert second.status == "succeeded", second.error
    first = _backups(dr, plan_id)[0]
    assert first.status == "completed"  # not expired: its snapshots are still there
    assert [k["backup_id"] for k in second.report["not_expired"]] == [str(first.id)]
    assert "Rate exceeded" in second.report["not_expired"][0]["error"]
    assert "1 not expired" in second.report["summary"]
    third = dr.backup(plan_id)
    assert str(first.id) in third.report["expired"]
    assert [r.status for r in _backups(dr, plan_id)] == ["expired", "expired", "completed"]


class Died(BaseException):
    """The process stops: nothing below the operation runner catches it."""


def test_a_backup_whose_process_died_after_its_snapshot_is_resumed_without_a_second_one(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = dr.plan()
    started = dr.begin(service.begin_backup, plan_id=plan_id)
    adapter_type = type(dr.cloud.adapter())

    def die(self: object, *args: object, **kwargs: object) -> None:
        raise Died

    with monkeypatch.context() as patched:
        patched.setattr(adapter_type, "copy_snapshot", die)
        with pytest.raises(Died):
            operations.execute(dr.cloud.sessions, started.operation.id, started.work)
    with dr.cloud.sessions() as session, session.begin():  # as the dead process left it
        session.execute(update(Operation).where(Operation.id == started.operation.id)
                        .values(status="running", lease_owner="a-dead-process"))  # fmt: skip
    taken = {s.id for s in dr.cloud.adapter().list_snapshots()}
    assert len(taken) == 1
    resumed = service.run_work(dr.cloud.adapters, started.operation.id)
    with dr.cloud.sessions() as session:
        result = resumed(session)
        session.commit()
    assert result["status"] == "succeeded"
    now = {s.id for s in dr.cloud.adapter().list_snapshots()}
    assert taken < now
    assert len(now) == 2  # the same snapshot, and its copy: nothing taken twice
    (backup,) = _backups(dr, plan_id)
    assert backup.status == "completed"
    with dr.cloud.sessions() as session:
        run = session.get(RecoveryRun, started.run.id)
        assert run is not None
        assert run.status == "succeeded"


def test_two_resources_whose_names_share_a_long_start_get_their_own_snapshot_names() -> None:
    plan = RecoveryPlan(name="wedding-platform-production-europe")
    run_id = uuid.uuid4()
    first, second = (Resource(id=uuid.uuid4(), name=f"booking-database-replica-{n}") for n in ("alpha", "beta"))
    names = {snapshot_name(plan, first, run_id), snapshot_name(plan, second, run_id)}
    assert len(names) == 2
    for name in names:
        assert len(name) <= 63
        assert re.fullmatch(r"wedcloud(-[a-z0-9]+)+", name)
