"""Disaster-recovery runs through the API, on SQLite and PostgreSQL, on the booking stack deployed
on the sandbox: a backup, a drill measured in GET /status and journalled in GET /runs/{id},
a failover (admin and confirm; a dry run for operators), a restore, Idempotency-Key replays,
and every refusal writing nothing."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy.orm import Session

from clouds.base import DnsRecordSet
from control_plane.security import Role
from control_plane.services.providers import adapter_for
from control_plane.store.models import Provider
from tests.control_api.conftest import Api
from tests.control_api.recovery import PRIMARY, ROUTING, STANDBY, Stack, booking_stack, pointers, problem, rows
from wedcloud.home import HomeLayout

MISSING = "00000000-0000-4000-8000-000000000000"
RECORDS = DnsRecordSet(zone=ROUTING["zone"], name=ROUTING["name"], targets=ROUTING["targets"])


@pytest.fixture
def stack(api: Api) -> Stack:
    return booking_stack(api)


def _routed(stack: Stack) -> str | None:
    """Where the sandbox's DNS sends the plan's record now (None: it was never routed)."""
    with Session(stack.api.engine) as session:
        provider = session.get(Provider, uuid.UUID(stack.provider_id))
        assert provider is not None
        routing = adapter_for(provider, session=session, layout=HomeLayout(stack.api.home)).dns_routing(RECORDS)
    return routing.active if routing else None


def test_a_backup_lists_its_snapshots_and_their_cross_region_copies(stack: Stack) -> None:
    plan = stack.plan()
    run = stack.backed_up(plan["id"])
    assert run["kind"] == "backup"
    assert run["report"]["backups"]
    backups = stack.read(f"/plans/{plan['id']}/backups")
    assert backups["next_cursor"] is None
    [backup] = backups["items"]  # the database: the web tier is made again, the bucket is not snapshotted
    assert (backup["status"], backup["subtype"], backup["region"]) == ("completed", "database", PRIMARY)
    assert backup["snapshot_id"]
    assert backup["completed_at"] is not None
    assert [c["region"] for c in backup["copies"]] == [STANDBY]
    assert backup["copied_at"] == backup["copies"][0]["completed_at"]
    assert stack.read(f"/plans/{plan['id']}/backups", status="expired")["items"] == []


def test_a_drill_through_the_api_is_measured_in_the_status_and_journalled_step_by_step(stack: Stack) -> None:
    plan = stack.plan()
    stack.backed_up(plan["id"])
    drill = stack.run("/test", {"plan_id": plan["id"]})
    assert (drill["kind"], drill["status"], drill["passed"]) == ("drill", "succeeded", True), drill
    assert drill["target"] == {"provider_id": stack.provider_id, "region": STANDBY}
    names = [step["name"] for step in drill["steps"]]
    assert names[0] == f"check readiness in {STANDBY}"
    assert any(name.startswith("restore ") for name in names)
    assert names[-1] == f"list {STANDBY} to prove nothing is left"
    assert all(step["status"] == "done" and step["finished_at"] for step in drill["steps"])
    assert [step["seq"] for step in drill["steps"]] == list(range(1, len(names) + 1))
    assert drill["report"]["cleanup"]["remaining"] == []
    assert (drill["report"]["rto_met"], drill["report"]["rpo_met"]) == (True, True)
    assert "steps" not in drill["report"]  # the journal is `steps`
    [standing] = stack.read("/status")["plans"]
    assert standing["plan_id"] == plan["id"]
    measured = standing["last_drill"]
    assert measured["run_id"] == drill["id"]
    assert measured["passed"] is True
    assert 0 < measured["rto_seconds"] <= 3600
    assert 0 <= measured["rpo_seconds"] <= 4 * 3600
    assert standing["rpo"]["met"] is True
    assert standing["readiness"] in ("ready", "at_risk")
    [only] = stack.read("/status", plan_id=plan["id"])["plans"]
    assert (only["plan_id"], only["last_drill"]) == (plan["id"], measured)
    detail = stack.read(f"/plans/{plan['id']}")
    assert [r["kind"] for r in detail["runs"]] == ["drill", "backup"]
    assert [r["id"] for r in stack.read("/runs", kind="drill", plan_id=plan["id"])["items"]] == [drill["id"]]
    assert stack.read("/runs", status="rolled_back")["items"] == []


def test_the_same_idempotency_key_on_post_test_answers_the_same_operation_and_runs_once(stack: Stack) -> None:
    plan = stack.plan()
    stack.backed_up(plan["id"])
    key = {"Idempotency-Key": "drill-2026-11-27"}
    first = stack.post("/test", {"plan_id": plan["id"]}, Role.OPERATOR, **key)
    again = stack.post("/test", {"plan_id": plan["id"]}, Role.OPERATOR, **key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["run_id"] == first.json()["run_id"]
    assert [r["id"] for r in stack.read("/runs", kind="drill")["items"]] == [first.json()["run_id"]]
    other = stack.post("/test", {"plan_id": plan["id"], "region": STANDBY}, Role.OPERATOR, **key)
    assert "different request" in problem(other, 422)["detail"]


def test_a_viewer_cannot_fail_over_or_drill_and_an_operator_may_only_dry_run(stack: Stack) -> None:
    plan = stack.plan()
    stack.backed_up(plan["id"])
    before = rows(stack.api)
    body = {"plan_id": plan["id"], "reason": "eu-west-2 is down", "confirm": True}
    problem(stack.post("/failover", body, Role.VIEWER), 403)
    problem(stack.post("/failover", {**body, "dry_run": True}, Role.VIEWER), 403)
    problem(stack.post("/test", {"plan_id": plan["id"]}, Role.VIEWER), 403)
    assert "admin role" in problem(stack.post("/failover", body, Role.OPERATOR), 403)["detail"]
    assert rows(stack.api) == before
    dry = stack.run("/failover", {"plan_id": plan["id"], "reason": "rehearsal", "dry_run": True})
    assert (dry["kind"], dry["status"], dry["dry_run"], dry["reason"]) == ("failover", "succeeded", True, "rehearsal")
    assert "nothing was changed" in dry["summary"]
    assert _routed(stack) is None  # DNS untouched
    assert stack.read(f"/plans/{plan['id']}")["status"] == "active"


def test_a_failover_without_confirm_is_refused_and_writes_nothing(stack: Stack) -> None:
    plan = stack.plan()
    stack.backed_up(plan["id"])
    before = rows(stack.api)
    body = {"plan_id": plan["id"], "reason": "eu-west-2 is down"}
    assert pointers(stack.post("/failover", body, Role.ADMIN)) == {"/confirm"}
    assert pointers(stack.post("/failover", {**body, "confirm": False}, Role.ADMIN)) == {"/confirm"}
    assert pointers(stack.post("/failover", {**body, "confirm": "yes"}, Role.ADMIN)) == {"/confirm"}
    assert pointers(stack.post("/failover", {**body, "reason": "", "confirm": True}, Role.ADMIN)) == {"/reason"}
    assert pointers(stack.post("/failover", {"plan_id": plan["id"], "confirm": True}, Role.ADMIN)) == {"/reason"}
    assert pointers(stack.post("/failover", {**body, "confirm": True, "region": "mars-1"}, Role.ADMIN)) == {"/region"}
    assert rows(stack.api) == before  # no run, no step, no operation
    assert stack.read(f"/plans/{plan['id']}")["status"] == "active"


def test_an_admin_fails_over_with_confirm_and_dns_moves_to_the_dr_region(stack: Stack) -> None:
    plan = stack.plan()
    stack.backed_up(plan["id"])
    body = {"plan_id": plan["id"], "reason": "eu-west-2 is down", "confirm": True}
    run = stack.run("/failover", body, Role.ADMIN)
    assert (run["status"], run["reason"]) == ("succeeded", "eu-west-2 is down"), run
    assert run["actor"].startswith("key:test-admin:")
    assert run["rto_seconds"] is not None
    assert any(step["name"] == f"switch {ROUTING['name']} to {STANDBY}" for step in run["steps"])
    assert _routed(stack) == STANDBY
    shown = stack.read(f"/plans/{plan['id']}")
    assert (shown["status"], shown["active"]["region"]) == ("failed_over", STANDBY)
    [standing] = stack.read("/status")["plans"]
    assert standing["serving"]["region"] == STANDBY
    audited = [e for e in stack.api.audit() if e.action == "failover" and e.outcome == "success"]
    assert [e.target for e in audited] == [f"dr_plan:{plan['id']}"]
    assert audited[0].detail["request"]["reason"] == "eu-west-2 is down"


def test_a_restore_brings_the_plans_database_back_as_a_new_resource(stack: Stack) -> None:
    plan = stack.plan()
    stack.backed_up(plan["id"])
    run = stack.run("/restore", {"plan_id": plan["id"], "name": "audit-copy"})
    assert (run["kind"], run["status"]) == ("restore", "succeeded"), run
    made = run["report"]["made"]
    assert [m["subtype"] for m in made] == ["database"]
    assert re.fullmatch(r"audit-copy-booking-db-[0-9a-f]{4}", made[0]["name"])
    [resource_id] = run["report"]["resources"]
    shown = stack.api.client.get(f"/api/cloud/resources/{resource_id}", headers=stack.api.headers(Role.VIEWER))
    assert shown.status_code == 200, shown.text
    assert shown.json()["tags"]["wedcloud:restore"] == run["id"]


def test_restore_bodies_are_checked_for_one_source_one_point_a_zone_and_the_role_to_replace(stack: Stack) -> None:
    plan = stack.plan()
    stack.backed_up(plan["id"])
    [backup] = stack.read(f"/plans/{plan['id']}/backups")["items"]
    before = rows(stack.api)
    resource = {"resource_id": backup["resource_id"]}
    assert pointers(stack.post("/restore", {}, Role.OPERATOR)) == {"/resource_id"}
    assert pointers(stack.post("/restore", {"plan_id": plan["id"], **resource}, Role.OPERATOR)) == {"/resource_id"}
    both = {**resource, "backup_id": backup["id"], "point_in_time": "2026-11-27T03:00:00Z"}
    assert pointers(stack.post("/restore", both, Role.OPERATOR)) == {"/point_in_time"}
    naive = {**resource, "point_in_time": "2026-11-27T03:00:00"}
    assert pointers(stack.post("/restore", naive, Role.OPERATOR)) == {"/point_in_time"}
    too_early = {**resource, "point_in_time": "2001-01-01T00:00:00+00:00"}
    assert pointers(stack.post("/restore", too_early, Role.OPERATOR)) == {"/point_in_time"}
    assert pointers(stack.post("/restore", {**resource, "region": "eu-north-1"}, Role.OPERATOR)) == {"/region"}
    replace = {**resource, "mode": "replace", "confirm": True}
    assert "admin role" in problem(stack.post("/restore", replace, Role.OPERATOR), 403)["detail"]
    assert pointers(stack.post("/restore", {**replace, "confirm": False}, Role.ADMIN)) == {"/confirm"}
    assert pointers(stack.post("/restore", {"plan_id": MISSING}, Role.OPERATOR), 404) == {"/plan_id"}
    assert pointers(stack.post("/restore", {"resource_id": MISSING}, Role.OPERATOR), 404) == {"/resource_id"}
    assert rows(stack.api) == before


@pytest.mark.parametrize("path", ["/test", "/backup"])
def test_a_run_of_an_unknown_plan_is_a_404_at_plan_id_and_writes_nothing(stack: Stack, path: str) -> None:
    before = rows(stack.api)
    assert pointers(stack.post(path, {"plan_id": MISSING}, Role.OPERATOR), 404) == {"/plan_id"}
    assert pointers(stack.post(path, {"plan_id": "not-an-id"}, Role.OPERATOR)) == {"/plan_id"}
    assert rows(stack.api) == before


def test_runs_page_newest_first_with_a_cursor(stack: Stack) -> None:
    plan = stack.plan()
    made = [stack.backed_up(plan["id"])["id"] for _ in range(3)]
    first = stack.read("/runs", limit=2, plan_id=plan["id"])
    assert [r["id"] for r in first["items"]] == made[::-1][:2]
    second = stack.read("/runs", limit=2, plan_id=plan["id"], cursor=first["next_cursor"])
    assert ([r["id"] for r in second["items"]], second["next_cursor"]) == ([made[0]], None)
    problem(stack.get("/runs", cursor="not-a-cursor"), 422)


@pytest.mark.parametrize("bad", ["\x00", "\x1b]0;pwned\x07"])
def test_a_failover_reason_with_control_characters_is_a_422_at_reason_and_writes_nothing(stack: Stack,
                                                                                         bad: str) -> None:  # fmt: skip
    plan = stack.plan()
    before = rows(stack.api)
    body = {"plan_id": plan["id"], "reason": f"eu-west-2{bad} is down", "dry_run": True}
    assert pointers(stack.post("/failover", body, Role.OPERATOR)) == {"/reason"}
    assert rows(stack.api) == before
