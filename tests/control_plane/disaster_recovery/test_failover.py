"""Failover on the sandbox: readiness, restore in the DR region, the DNS switch, the recovery
time; a dry run that changes nothing; a refused step rolled back; failback."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from clouds.base import DnsRecordSet
from clouds.errors import Throttled, UnsupportedRequest
from control_plane.disaster_recovery import failover
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import StreamEvent
from tests.control_plane.disaster_recovery.support import (
    PRIMARY,
    ROUTING,
    STANDBY,
    Dies,
    Recovery,
    booking_recovery,
)
from tests.local_http import serving

RECORDS = DnsRecordSet(zone=ROUTING["zone"], name=ROUTING["name"], targets=ROUTING["targets"])


@pytest.fixture
def dr(engine: Engine, tmp_path: Path) -> Recovery:
    return booking_recovery(engine, tmp_path)


def _routed(dr: Recovery) -> str | None:
    routing = dr.cloud.adapter().dns_routing(RECORDS)
    return routing.active if routing else None


def test_a_failover_restores_in_the_dr_region_and_moves_dns_there(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    run = dr.failover(plan_id)
    assert run.status == "succeeded", run.error
    assert _routed(dr) == STANDBY
    plan = dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region, len(plan.serving)) == ("failed_over", STANDBY, 2)
    assert run.rto_seconds is not None
    assert run.rto_seconds > 0
    live = {name: state for name, _, state in dr.cloud.listing().values()}
    assert any(name.startswith(f"dr-{run.id.hex[:6]}-") for name in live)


def test_a_dry_run_reports_readiness_and_changes_nothing(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    before = dr.cloud.listing()
    run = dr.failover(plan_id, dry_run=True)
    assert run.status == "succeeded", run.error
    assert "dry run" in run.report["summary"]
    assert dr.cloud.listing() == before
    assert _routed(dr) is None
    assert dr.stored_plan(plan_id).status == "active"


def test_a_failover_refused_part_way_moves_dns_back_and_leaves_no_copies(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    adapter_type = type(dr.cloud.adapter())
    dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)
    before = dr.cloud.listing()
    original = adapter_type.provision

    def refuse_groups(self, request):  # the DR region refuses the web group, after the database is restored
        if request.region == STANDBY and request.options.get("subtype") == "instance_group":
            raise UnsupportedRequest("eu-west-1 has no capacity for m5.large")
        return original(self, request)

    monkeypatch.setattr(adapter_type, "provision", refuse_groups)
    run = dr.failover(plan_id)
    assert run.status == "rolled_back", run.error
    assert "no capacity" in (run.error or {}).get("detail", "")
    assert dr.cloud.listing() == before
    assert _routed(dr) == PRIMARY
    assert dr.stored_plan(plan_id).status == "active"


def test_a_failover_whose_first_restore_answer_was_lost_sweeps_the_copy_by_its_tag(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    adapter_type = type(dr.cloud.adapter())
    before = dr.cloud.listing()
    original = adapter_type.restore

    def answer_lost(self, *args, **kwargs):  # the cloud made the copy; its answer never arrived
        original(self, *args, **kwargs)
        raise Throttled("the connection was reset before the answer arrived")

    monkeypatch.setattr(adapter_type, "restore", answer_lost)
    run = dr.failover(plan_id)
    assert run.status == "failed", run.error
    assert [s.detail.get("cloud_id") for s in dr.steps(run.id) if s.name.startswith("restore ")] == [None]
    assert run.report["cleanup"]["remaining"] == []
    assert dr.cloud.listing() == before
    assert dr.stored_plan(plan_id).status == "active"


def test_failback_is_a_failover_back_to_the_primary(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    assert dr.failover(plan_id).status == "succeeded"
    assert dr.backup(plan_id).status == "succeeded"  # backs up the DR copies, copied to the primary
    back = dr.failover(plan_id, reason="the primary is healthy again")
    assert back.status == "succeeded", back.error
    assert _routed(dr) == PRIMARY
    plan = dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region) == ("active", PRIMARY)


class _Failing(http.server.BaseHTTPRequestHandler):
    """The service's health page, answering 503: the DR copies do not serve."""

    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"down")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def failing_health(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", "true")
    monkeypatch.setattr("control_plane.disaster_recovery.health.PAUSE_SECONDS", 0.0)
    with serving(_Failing) as port:
        yield f"http://127.0.0.1:{port}/healthz"


def test_a_failover_whose_health_check_fails_after_the_switch_moves_dns_back(dr: Recovery, failing_health: str) -> None:
    plan_id = dr.plan(routing={**ROUTING, "health_check_url": failing_health})
    dr.backup(plan_id)
    dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)
    before = dr.cloud.listing()
    run = dr.failover(plan_id)
    assert run.status == "rolled_back", run.error
    names = [s.name for s in dr.steps(run.id)]
    assert f"switch {ROUTING['name']} to {STANDBY}" in names
    assert f"switch {ROUTING['name']} back to {PRIMARY}" in names
    assert _routed(dr) == PRIMARY
    assert dr.cloud.listing() == before


def test_a_failover_that_fails_while_the_primary_is_down_stays_and_raises_the_alarm(
    dr: Recovery, failing_health: str
) -> None:
    plan_id = dr.plan(routing={**ROUTING, "health_check_url": failing_health})
    dr.backup(plan_id)
    db = next(r for r in dr.cloud.adapter().list_resources(region=PRIMARY) if r.name == "booking-db")
    dr.cloud.adapter().stop(db.id)  # the primary's database is down
    run = dr.failover(plan_id)
    assert run.status == "stayed", run.error
    assert dr.stored_plan(plan_id).status == "degraded"
    assert _routed(dr) == STANDBY  # users stay on the DR copies rather than the dead primary
    with dr.cloud.sessions() as session:
        event = session.scalars(
            select(StreamEvent).where(StreamEvent.topic == "dr").order_by(StreamEvent.id.desc()).limit(1)
        ).one()
    assert (event.severity, event.payload["status"]) == ("critical", "stayed")


def test_a_cold_standby_on_another_provider_makes_the_stateless_tier_in_an_equivalent_size(dr: Recovery) -> None:
    gcp = dr.cloud.provider("sandbox-gcp")
    with dr.cloud.sessions() as session:
        web = session.scalars(select(Resource).where(Resource.name == "booking-web")).one()
    routing = {**ROUTING, "targets": {PRIMARY: "203.0.113.10", "europe-west2": "198.51.100.30"}}
    plan_id = dr.plan(protected={"resource_ids": [str(web.id)]}, routing=routing,
                      dr_targets=[{"provider_id": str(gcp.id), "region": "europe-west2"}])  # fmt: skip
    run = dr.failover(plan_id)
    assert run.status == "succeeded", run.error
    made = [r for r in dr.cloud.adapter("sandbox-gcp").list_resources(region="europe-west2")
            if r.tags.get("wedcloud:failover") == str(run.id)]  # fmt: skip
    assert [r.subtype for r in made] == ["instance_group"]
    gcp_sizes = {t.name: t for t in dr.cloud.adapter("sandbox-gcp").price_catalogue(region="europe-west2")}
    aws_sizes = {t.name: t for t in dr.cloud.adapter().price_catalogue(region=PRIMARY)}
    chosen, source = gcp_sizes[str(made[0].size)], aws_sizes[str(web.size)]
    assert (chosen.vcpus, chosen.memory_gib) >= (source.vcpus, source.memory_gib)
    assert _routed(dr) == "europe-west2"


def test_a_cold_standby_refuses_a_failover_of_data_stores(dr: Recovery) -> None:
    gcp = dr.cloud.provider("sandbox-gcp")
    routing = {**ROUTING, "targets": {**ROUTING["targets"], "europe-west2": "198.51.100.30"}}
    # data stores need a region of their own provider first; the cold standby may follow it
    plan_id = dr.plan(routing=routing, dr_targets=[{"region": STANDBY},
                                                   {"provider_id": str(gcp.id), "region": "europe-west2"}])  # fmt: skip
    run = dr.failover(plan_id, region="europe-west2")
    assert run.status == "failed"
    assert "cannot be restored on another provider" in (run.error or {}).get("detail", "")


def test_after_a_failover_a_drill_rehearses_the_failback_to_the_primary(dr: Recovery) -> None:
    plan_id = dr.plan()
    dr.backup(plan_id)
    assert dr.failover(plan_id).status == "succeeded"
    dr.backup(plan_id)
    drill = dr.drill(plan_id)  # the standby is now the primary region
    assert drill.status == "succeeded", drill.error
    assert drill.target["region"] == PRIMARY
    assert _routed(dr) == STANDBY  # a drill never moves traffic


def test_a_failover_that_stayed_after_a_verified_switch_names_the_target_as_serving(
    dr: Recovery, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failover, "RECORD_ATTEMPTS", 1)  # no pause between tries
    plan_id = dr.plan()
    dr.backup(plan_id)
    dr.cloud.adapter().route_dns(RECORDS, active=PRIMARY)

    def refusing(provider: Provider, session: Session) -> Any:  # the cloud refuses to describe the copies
        return Dies(dr.cloud.adapters(provider, session), "describe", after="route_dns",
                    raising=Throttled("Rate exceeded"))  # fmt: skip

    run = dr.failover(plan_id, adapter_for=refusing)

    assert run.status == "stayed", run.error
    assert _routed(dr) == STANDBY
    plan = dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region) == ("degraded", STANDBY)  # the watcher watches what DNS serves
