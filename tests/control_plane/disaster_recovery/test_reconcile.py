"""A drill whose process died part-way is found by the reconciler (its operation's lease expired)
and undone from its journal: every copy it made is deleted, even one whose cloud id the journal
never got, and the run ends failed saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session

from clouds.base import CloudProvider
from control_plane.disaster_recovery import service
from control_plane.disaster_recovery.runs import DRILL_TAG
from control_plane.services import operations
from control_plane.services.reconciler import reconcile
from control_plane.store.models import Operation, Provider
from tests.control_plane.disaster_recovery.support import STANDBY, ProcessDied, Recovery, booking_recovery
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
