"""A run whose process died part-way is found by the reconciler (its operation's lease expired)
and taken up from its journal. A drill is undone: every copy it made is deleted, even one whose
cloud id the journal never got, and the run ends failed saying why. A failover past its DNS
switch is completed; one that died before it while the primary is down stays and raises the
alarm, keeping its copies. A restore in place that had terminated an old resource keeps the
replacement and finishes."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from clouds.base import CloudProvider, DnsRecordSet
from control_plane.disaster_recovery import service
from control_plane.disaster_recovery.protected import serving_resources
from control_plane.disaster_recovery.restore import KEPT_TAG
from control_plane.disaster_recovery.runs import DRILL_TAG, FAILOVER_TAG
from control_plane.services import operations
from control_plane.services.reconciler import reconcile
from control_plane.store.models import Operation, Provider, Resource
from control_plane.store.monitoring_models import StreamEvent
from tests.control_plane.disaster_recovery.support import (
    PRIMARY,
    ROUTING,
    STANDBY,
    Dies,
    ProcessDied,
    Recovery,
    booking_recovery,
)
from wedcloud.sqltypes import utcnow


class DiesAfterRestore:
    """The real adapter, except that the process dies the moment the cloud has made a restore,
    before the journal can note what it made."""

    def __init__(self, adapter: CloudProvider) -> None:
        self.adapter = adapter

    def restore(self, *args: Any, **kwargs: Any) -> Any:
        self.adapter.restore(*args, **kwargs)
        raise ProcessDied

    def __getattr__(self, name: str) -> Any:
        return getattr(self.adapter, name)


RECORDS = DnsRecordSet(zone=ROUTING["zone"], name=ROUTING["name"], targets=ROUTING["targets"])


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def _drill_copies(dr: Recovery, run_id: str) -> list[str]:
    return [r.id for r in dr.cloud.adapter().list_resources(region=STANDBY) if r.tags.get(DRILL_TAG) == run_id
            and r.state.value != "terminated"]  # fmt: skip


def test_a_drill_whose_process_died_after_a_restore_is_undone_by_the_reconciler(dr: Recovery) -> None:
    plan_id = dr.plan()
    assert dr.backup(plan_id).status == "succeeded"
    before = dr.cloud.listing()

    def dying(provider: Provider, session: Session) -> Any:
        return DiesAfterRestore(dr.cloud.adapters(provider, session))

    started = dr.begin(service.begin_drill, plan_id=plan_id, region=None, adapter_for=dying)
    assert started.work is not None
    with pytest.raises(ProcessDied):
        operations.execute(dr.cloud.sessions, started.operation.id, started.work)
    run_id = str(started.run.id)
    assert len(_drill_copies(dr, run_id)) == 1  # the cloud made it; the journal does not know its id
    restoring = dr.steps(started.run.id)[-1]
    assert restoring.name.startswith("restore ")
    assert (restoring.status, restoring.detail.get("cloud_id")) == ("started", None)
    with dr.cloud.sessions() as session, session.begin():  # its process is gone: the lease runs out
        session.execute(update(Operation).where(Operation.id == started.operation.id)
                        .values(status="running", lease_owner="a-dead-process", lease_expires_at=utcnow()))  # fmt: skip

    report = reconcile(dr.cloud.sessions, dr.cloud.adapters)

    assert str(started.operation.id) in report.resumed
    assert _drill_copies(dr, run_id) == []
    assert dr.cloud.listing() == before
    with dr.cloud.sessions() as session:
        operation = session.get(Operation, started.operation.id)
        assert operation is not None
        assert operation.status == "succeeded"  # the operation ended; its result is the run's report
        assert operation.result is not None
        assert operation.result["status"] == "failed"
    run = dr.stored_run(started.run.id)
    assert run.status == "failed"
    assert "stopped part-way" in (run.error or {})["detail"]
    assert run.report["cleanup"]["remaining"] == []
    names = [s.name for s in dr.steps(started.run.id)]
    assert names[-2:] == [f"delete what the run made in {STANDBY}", f"list {STANDBY} to prove nothing is left"]


def test_a_backup_whose_process_died_before_its_first_step_is_carried_out_by_the_reconciler(dr: Recovery) -> None:
    plan_id = dr.plan()
    started = dr.begin(service.begin_backup, plan_id=plan_id)
    with dr.cloud.sessions() as session, session.begin():  # begun, then the process died before running it
        session.execute(update(Operation).where(Operation.id == started.operation.id)
                        .values(lease_owner="a-dead-process", lease_expires_at=utcnow()))  # fmt: skip

    assert str(started.operation.id) in reconcile(dr.cloud.sessions, dr.cloud.adapters).resumed

    run = dr.stored_run(started.run.id)
    assert run.status == "succeeded", run.error
    assert run.report["backups"]
    assert all(b["copies"] for b in run.report["backups"])


def _dies_then_reconciled(dr: Recovery, call: Any, dying: Dies | Any, *, meanwhile: Any = None,
                          reconciled_by: Any = None, **kwargs: Any) -> service.Started:  # fmt: skip
    """Begin a run through adapters that die as ``dying`` says, let the process die, let its
    lease run out (``meanwhile``: what else happens before the reconciler runs), and let the
    reconciler take it over (through ``reconciled_by``'s adapters, if given)."""
    wrapped: dict[uuid.UUID, Dies] = {}

    def adapters(provider: Provider, session: Session) -> Any:
        if provider.id not in wrapped:
            wrapped[provider.id] = dying(dr.cloud.adapters(provider, session))
        return wrapped[provider.id]

    started = dr.begin(call, adapter_for=adapters, **kwargs)
    assert started.work is not None
    with pytest.raises(ProcessDied):
        operations.execute(dr.cloud.sessions, started.operation.id, started.work)
    with dr.cloud.sessions() as session, session.begin():  # its process is gone: the lease runs out
        session.execute(update(Operation).where(Operation.id == started.operation.id)
                        .values(status="running", lease_owner="a-dead-process", lease_expires_at=utcnow()))  # fmt: skip
    if meanwhile is not None:
        meanwhile()
    reconciler = reconciled_by or dr.cloud.adapters
    assert str(started.operation.id) in reconcile(dr.cloud.sessions, reconciler).resumed
    return started


def _failover_copies(dr: Recovery, run_id: uuid.UUID) -> list[str]:
    return [r.id for r in dr.cloud.adapter().list_resources(region=STANDBY)
            if r.tags.get(FAILOVER_TAG) == str(run_id) and r.state.value != "terminated"]  # fmt: skip


def _routed(dr: Recovery) -> str | None:
    routing = dr.cloud.adapter().dns_routing(RECORDS)
    return routing.active if routing else None


def test_a_failover_whose_process_died_after_the_dns_switch_is_completed_by_the_reconciler(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)

    def dying(adapter: CloudProvider) -> Dies:  # dies recording the copies, once DNS was switched
        return Dies(adapter, "describe", after="route_dns")

    started = _dies_then_reconciled(dr, service.begin_failover, dying, plan_id=plan_id, region=None,
                                    reason="the primary region is down", dry_run=False)  # fmt: skip

    run = dr.stored_run(started.run.id)
    assert run.status == "succeeded", run.error
    assert "stopped part-way" in run.report["summary"]
    assert _routed(dr) == STANDBY  # users stay on the DR side
    assert len(_failover_copies(dr, run.id)) == 2  # the copies are kept
    plan = dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region, len(plan.serving)) == ("failed_over", STANDBY, 2)
    with dr.cloud.sessions() as session:
        serving = {r.cloud_id for r in serving_resources(session, plan)}
    assert serving == set(_failover_copies(dr, run.id))


def _died_recording_after_the_switch(dr: Recovery, plan_id: uuid.UUID, records: DnsRecordSet) -> uuid.UUID:
    """A failover to the standby whose process died recording the copies, once DNS was switched,
    taken over by the reconciler while the primary is down; its run's id."""
    dr.cloud.adapter().route_dns(records, active=PRIMARY)
    db = next(r for r in dr.cloud.adapter().list_resources(region=PRIMARY) if r.name == "booking-db")
    dr.cloud.adapter().stop(db.id)

    def dying(adapter: CloudProvider) -> Dies:
        return Dies(adapter, "describe", after="route_dns")

    started = _dies_then_reconciled(dr, service.begin_failover, dying, plan_id=plan_id, region=None,
                                    reason="the primary region is down", dry_run=False)  # fmt: skip
    return started.run.id


def test_a_resumed_failover_of_a_database_named_like_a_rollback_step_is_completed_not_rolled_back(
    dr: Recovery,
) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    with dr.cloud.sessions() as session, session.begin():  # a cloud's Name tag is free text
        session.execute(update(Resource).where(Resource.name == "booking-db").values(name="roll back to v2"))

    run_id = _died_recording_after_the_switch(dr, plan_id, RECORDS)

    run = dr.stored_run(run_id)
    assert run.status == "succeeded", run.error
    assert _routed(dr) == STANDBY
    assert len(_failover_copies(dr, run_id)) == 2
    assert (dr.stored_plan(plan_id).status, dr.stored_plan(plan_id).active_region) == ("failed_over", STANDBY)
    assert not any(s.detail.get("phase") == "rollback" for s in dr.steps(run_id))


def test_a_resumed_failover_whose_record_name_is_cut_in_the_journal_is_completed(dr: Recovery) -> None:
    name = ("a" * 60 + ".") * 3 + "api.wedsync.example."  # 203 characters: a valid host name
    routing = {**ROUTING, "name": name}
    records = DnsRecordSet(zone=routing["zone"], name=name, targets=routing["targets"])
    plan_id = dr.plan(routing=routing)
    dr.backup(plan_id)

    run_id = _died_recording_after_the_switch(dr, plan_id, records)

    run = dr.stored_run(run_id)
    assert run.status == "succeeded", run.error
    switch = next(s for s in dr.steps(run_id) if s.detail.get("kind") == "switch")
    assert len(switch.name) == 200  # the step's name is cut; the resume found it by its key
    routed = dr.cloud.adapter().dns_routing(records)
    assert routed is not None
    assert routed.active == STANDBY
    assert len(_failover_copies(dr, run_id)) == 2
    assert dr.stored_plan(plan_id).active_region == STANDBY


def test_a_resumed_failover_whose_take_up_fails_ends_stayed_and_leaves_the_plan_degraded(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)

    def dying(adapter: CloudProvider) -> Dies:  # dies waiting for the copies, before the switch
        return Dies(adapter, "describe", after="restore")

    def broken(provider: Provider, session: Session) -> Any:  # the resume hits an error nobody expected
        return Dies(dr.cloud.adapters(provider, session), "describe", raising=RuntimeError("an unexpected answer"))

    started = _dies_then_reconciled(dr, service.begin_failover, dying, reconciled_by=broken, plan_id=plan_id,
                                    region=None, reason="the primary region is down", dry_run=False)  # fmt: skip

    run = dr.stored_run(started.run.id)
    assert run.status == "stayed"  # ended, not left running
    assert "RuntimeError" in (run.error or {})["detail"]
    assert dr.stored_plan(plan_id).status == "degraded"  # not failing_over, which blocks changes
    assert len(_failover_copies(dr, run.id)) == 2  # nothing torn down while it is unknown what serves
    with dr.cloud.sessions() as session:
        operation = session.get(Operation, started.operation.id)
        assert operation is not None
        assert operation.status == "failed"


def test_a_failover_whose_process_died_before_the_switch_while_the_primary_is_down_stays_and_raises_the_alarm(
    dr: Recovery,
) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)
    db = next(r for r in dr.cloud.adapter().list_resources(region=PRIMARY) if r.name == "booking-db")
    dr.cloud.adapter().stop(db.id)  # the primary's database is down

    def dying(adapter: CloudProvider) -> Dies:  # dies as the switch step reads the record
        return Dies(adapter, "dns_routing")

    started = _dies_then_reconciled(dr, service.begin_failover, dying, plan_id=plan_id, region=None,
                                    reason="the primary region is down", dry_run=False)  # fmt: skip

    run = dr.stored_run(started.run.id)
    assert run.status == "stayed", run.error
    assert dr.stored_plan(plan_id).status == "degraded"
    assert _routed(dr) == PRIMARY  # the switch never happened, and nothing moved it
    assert len(_failover_copies(dr, run.id)) == 2  # the copies a next failover needs are kept
    assert not any(s.name.startswith("delete what the run made") for s in dr.steps(run.id))
    with dr.cloud.sessions() as session:
        event = session.scalars(
            select(StreamEvent).where(StreamEvent.topic == "dr").order_by(StreamEvent.id.desc()).limit(1)
        ).one()
    assert (event.severity, event.payload["status"]) == ("critical", "stayed")


def test_a_restore_in_place_whose_process_died_after_terminating_the_old_resource_keeps_the_new_one(
    dr: Recovery,
) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    with dr.cloud.sessions() as session:
        old = session.scalars(select(Resource).where(Resource.name == "booking-db")).one()

    def dying(adapter: CloudProvider) -> Dies:  # dies the moment the cloud has terminated the old one
        return Dies(adapter, "terminate", calls_first=True)

    started = _dies_then_reconciled(dr, service.begin_restore, dying,
                                    request={"resource_id": str(old.id), "mode": "replace"})  # fmt: skip

    run = dr.stored_run(started.run.id)
    assert run.status == "succeeded", run.error
    (replaced,) = run.report["replaced"]
    with dr.cloud.sessions() as session:
        new = session.get(Resource, uuid.UUID(replaced["new_resource_id"]))
        assert new is not None
        protected = {str(r.id) for r in serving_resources(session, dr.stored_plan(plan_id))}
    assert dr.cloud.adapter().describe(new.cloud_id).state.value == "running"  # the replacement is kept
    assert dr.cloud.adapter().describe(old.cloud_id).state.value == "terminated"
    assert replaced["new_resource_id"] in protected
    assert str(old.id) not in protected
    kept = list(dr.cloud.adapter().list_snapshots(tags={KEPT_TAG: str(run.id)}))
    assert [s.id for s in kept] == [replaced["kept_snapshot"]]  # taken once, not again
    replacing = [s for s in dr.steps(run.id) if s.name == "replace booking-db"]
    assert [s.status for s in replacing] == ["failed", "done"]  # the interrupted step says so; none is left running
    assert (replacing[0].error or {})["type"] == "Interrupted"


def test_a_restore_in_place_resumed_after_its_old_resource_left_the_inventory_ends_failed(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    with dr.cloud.sessions() as session:
        old = session.scalars(select(Resource).where(Resource.name == "booking-db")).one()

    def dying(adapter: CloudProvider) -> Dies:
        return Dies(adapter, "terminate", calls_first=True)

    def forgotten() -> None:  # e.g. its provider was synced or removed meanwhile
        with dr.cloud.sessions() as session, session.begin():
            session.execute(delete(Resource).where(Resource.id == old.id))

    started = _dies_then_reconciled(dr, service.begin_restore, dying, meanwhile=forgotten,
                                    request={"resource_id": str(old.id), "mode": "replace"})  # fmt: skip

    run = dr.stored_run(started.run.id)
    assert run.status == "failed"  # ended, not left running
    assert "no longer in the inventory" in (run.error or {})["detail"]
    (new_id,) = run.report["resources"]  # the restored copy is kept and recorded
    with dr.cloud.sessions() as session:
        new = session.get(Resource, uuid.UUID(new_id))
        assert new is not None
    assert dr.cloud.adapter().describe(new.cloud_id).state.value == "running"
