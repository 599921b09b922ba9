"""Drills on the sandbox: restore from the latest cross-region backups into the DR region, measure
RTO and RPO, delete everything made, and prove it by listing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from clouds.errors import UnsupportedRequest
from clouds.sandbox.blueprint import Kind
from clouds.sandbox.recovery import NETWORK_TAG, ready_after_seconds
from control_plane.disaster_recovery.runs import DRILL_TAG
from control_plane.store.recovery_models import RecoveryBackup
from tests.control_plane.disaster_recovery.support import ROUTING, STANDBY, Recovery, booking_recovery


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def test_a_drill_restores_measures_and_leaves_the_cloud_as_it_found_it(dr: Recovery) -> None:
    plan_id = dr.plan()
    backup = dr.backup(plan_id)
    assert backup.status == "succeeded", backup.error
    before = dr.cloud.listing()
    drill = dr.drill(plan_id)
    assert drill.status == "succeeded", drill.error
    assert drill.passed is True
    assert dr.cloud.listing() == before
    assert drill.report["cleanup"]["remaining"] == []
    restored = drill.report["restored"]
    assert {r["subtype"] for r in restored} == {"database", "instance_group"}
    # the RTO includes the cloud's modelled restore of the 20 GB database
    assert drill.rto_seconds is not None
    assert drill.rto_seconds >= ready_after_seconds(Kind.DATABASE, 20)
    assert drill.rpo_seconds is not None
    assert 0 <= drill.rpo_seconds < 3600
    names = [s.name for s in dr.steps(drill.id)]
    assert names[0] == f"check readiness in {STANDBY}"
    assert names[-1] == f"list {STANDBY} to prove nothing is left"


def test_a_drills_rpo_is_the_age_of_the_restored_data_from_when_its_snapshot_was_taken(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    with dr.cloud.sessions.begin() as session:  # a snapshot taken 3 h ago whose copy took 2 h to finish
        (backup,) = session.scalars(select(RecoveryBackup).where(RecoveryBackup.plan_id == plan_id))
        assert backup.copied_at is not None
        backup.taken_at = backup.completed_at = backup.copied_at - timedelta(hours=3)
        backup.copied_at -= timedelta(hours=1)
    drill = dr.drill(plan_id)
    assert drill.status == "succeeded", drill.error
    assert drill.rpo_seconds is not None
    # the restored copy holds the data as it was 3 h ago, not as of the copy's end 1 h ago
    assert 3 * 3600 <= drill.rpo_seconds < 3 * 3600 + 600


def test_a_drill_without_a_backup_fails_at_readiness_and_makes_nothing(dr: Recovery) -> None:
    plan_id = dr.plan()
    before = dr.cloud.listing()
    drill = dr.drill(plan_id)
    assert drill.status == "failed"
    assert drill.passed is False
    assert "no completed backup" in (drill.error or {}).get("detail", "")
    assert dr.cloud.listing() == before


def test_drill_copies_carry_the_drill_tag_and_their_own_names(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    drill = dr.drill(plan_id)
    restores = [s for s in dr.steps(drill.id) if s.name.startswith("restore ")]
    assert restores
    for step in restores:
        assert step.detail["made_name"].startswith(f"drill-{drill.id.hex[:6]}-")
    adapter = dr.cloud.adapter()
    made = {s.detail["cloud_id"] for s in restores}
    for resource in adapter.list_resources(region=STANDBY):
        if resource.id in made:
            assert resource.tags[DRILL_TAG] == str(drill.id)
            assert resource.state.value == "terminated"


def test_a_sandbox_drill_places_its_copies_in_an_isolated_network_and_checks_their_health(dr: Recovery) -> None:
    plan_id = dr.plan(routing={**ROUTING, "health_check_url": "https://api.wedsync.example/healthz"})
    dr.backup(plan_id)
    drill = dr.drill(plan_id)
    assert drill.status == "succeeded", drill.error
    isolation = drill.report["isolation"]
    assert isolation["isolated"] is True
    assert "in an isolated network" in drill.report["summary"]
    steps = {s.name: s for s in dr.steps(drill.id)}
    made = {s.detail["cloud_id"] for s in steps.values() if s.name.startswith("restore ")}
    copies = [dr.cloud.adapter().describe(cloud_id) for cloud_id in made]  # terminated now, still described
    assert {r.tags.get(NETWORK_TAG) for r in copies} == {isolation["network_id"]}
    health = steps[f"check the health of {len(made)} copies in {STANDBY}"]
    assert health.status == "done"
    assert {c["cloud_id"] for c in health.detail["copies"]} == made
    assert all(c["healthy"] for c in health.detail["copies"])
    assert health.detail["application_probe"].startswith("not made: https://api.wedsync.example/healthz is production")


def test_a_drill_the_cloud_gives_no_isolated_network_restores_nothing_and_does_not_pass(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    before = dr.cloud.listing()

    def refuse(self: object, **kwargs: object) -> None:
        raise UnsupportedRequest("VpcLimitExceeded: The maximum number of VPCs has been reached.")

    monkeypatch.setattr(type(dr.cloud.adapter()), "isolated_network", refuse)
    drill = dr.drill(plan_id)
    assert drill.report["passed"] is False
    assert drill.report["isolation"]["isolated"] is False
    assert "VpcLimitExceeded" in drill.report["isolation"]["why"]
    assert "none restored" in drill.report["summary"]
    steps = dr.steps(drill.id)
    assert not [s for s in steps if s.name.startswith("restore ")]
    assert [s.status for s in steps if s.name.startswith("make an isolated network")] == ["failed"]
    assert dr.cloud.listing() == before
