"""Disaster-recovery plans through the API, on SQLite and PostgreSQL, protecting the booking stack
deployed on the sandbox: create, read, list with a cursor and replace (If-Match); every bad
plan is a 422 naming its field by JSON pointer and writes nothing; viewers only read."""

from __future__ import annotations

from typing import Any, get_args

import pytest

from control_api.schemas import disaster_recovery as schemas
from control_plane.security import Role
from control_plane.store import recovery_models
from tests.control_api.conftest import Api
from tests.control_api.recovery import PRIMARY, STANDBY, URL, Stack, booking_stack, pointers, problem, rows


@pytest.fixture
def stack(api: Api) -> Stack:
    return booking_stack(api)


def test_the_api_states_are_the_stores(api: Api) -> None:
    assert get_args(schemas.PlanState) == recovery_models.PLAN_STATUSES
    assert get_args(schemas.RunKind) == recovery_models.RUN_KINDS
    assert get_args(schemas.RunState) == recovery_models.RUN_STATUSES
    assert get_args(schemas.BackupState) == recovery_models.BACKUP_STATUSES


def test_an_operator_creates_a_plan_that_reads_back_with_its_standing(stack: Stack) -> None:
    response = stack.post("/plans", stack.plan_body(), Role.OPERATOR)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert response.headers["location"] == f"/api/cloud/disaster-recovery/plans/{plan['id']}"
    assert response.headers["etag"] == '"1"'
    assert (plan["name"], plan["status"], plan["revision"]) == ("booking", "active", 1)
    assert plan["dr_targets"] == [{"provider_id": stack.provider_id, "region": STANDBY}]
    assert plan["active"] == {"provider_id": stack.provider_id, "region": PRIMARY}
    assert plan["backup"]["schedule"] == "0 */4 * * *"  # the default
    shown = stack.get(f"/plans/{plan['id']}")
    assert shown.status_code == 200
    assert shown.headers["etag"] == '"1"'
    detail = shown.json()
    assert detail["rpo_seconds"] == 4 * 3600
    assert detail["runs"] == []
    standing = detail["standing"]
    assert standing["readiness"] == "not_ready"  # no backup yet
    assert "never drilled: run POST /api/cloud/disaster-recovery/test" in standing["problems"]
    assert standing["protected"] == {"from_backups": 1, "made_again": 1, "unprotected": 1}
    assert any("web" not in p and "no completed backup" in p for p in standing["problems"])


def test_plans_list_newest_first_by_status_and_page_with_a_cursor(stack: Stack) -> None:
    made = [stack.plan(name=f"booking-{n}")["id"] for n in range(3)]
    first = stack.read("/plans", limit=2)
    assert [p["id"] for p in first["items"]] == made[::-1][:2]
    second = stack.read("/plans", limit=2, cursor=first["next_cursor"])
    assert [p["id"] for p in second["items"]] == [made[0]]
    assert second["next_cursor"] is None
    assert stack.read("/plans", status="failed_over")["items"] == []
    assert len(stack.read("/plans", status="active")["items"]) == 3
    assert problem(stack.get("/plans", status="sunk"), 422)["errors"][0]["field"] == "status"


def test_a_put_replaces_the_plan_and_if_match_refuses_a_stale_revision(stack: Stack) -> None:
    plan = stack.plan()
    path, operator = f"{URL}/plans/{plan['id']}", stack.api.headers(Role.OPERATOR)
    changed = stack.plan_body(rpo_seconds=7200, backup={"schedule": "0 */2 * * *"})
    response = stack.api.client.put(path, json=changed, headers={**operator, "If-Match": '"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    assert (response.json()["rpo_seconds"], response.json()["revision"]) == (7200, 2)
    stale = stack.api.client.put(path, json=stack.plan_body(rpo_seconds=60), headers={**operator, "If-Match": '"1"'})
    assert "revision 2, not 1" in problem(stale, 409)["detail"]
    assert stack.read(f"/plans/{plan['id']}")["rpo_seconds"] == 7200  # the stale change wrote nothing
    unconditional = stack.api.client.put(path, json=stack.plan_body(rto_seconds=1800), headers=operator)
    assert unconditional.json()["revision"] == 3
    malformed = stack.api.client.put(path, json=changed, headers={**operator, "If-Match": "yesterday"})
    assert problem(malformed, 422)["errors"][0]["field"] == "If-Match"
    replaced = [e for e in stack.api.audit() if e.action == "replace_plan"]
    assert [e.detail.get("changed") for e in replaced if e.outcome == "success"] == [
        ["backup", "rpo_seconds"], ["backup", "rpo_seconds", "rto_seconds"]  # a whole body: back to the defaults
    ]  # fmt: skip


def _refused(stack: Stack, body: dict[str, Any], expected: set[str]) -> None:
    before = rows(stack.api)
    found = pointers(stack.post("/plans", body, Role.OPERATOR))
    assert expected <= found, found
    assert rows(stack.api) == before


@pytest.mark.parametrize("rpo", [0, -5])
def test_an_rpo_that_is_not_positive_is_a_422_at_rpo_seconds(stack: Stack, rpo: int) -> None:
    _refused(stack, stack.plan_body(rpo_seconds=rpo), {"/rpo_seconds"})


def test_unknown_regions_and_a_target_equal_to_the_primary_are_422s_at_their_fields(stack: Stack) -> None:
    _refused(stack, stack.plan_body(primary_region="mars-north-1"), {"/primary_region"})
    _refused(stack, stack.plan_body(dr_targets=[{"region": "moon-1"}]), {"/dr_targets/0/region"})
    _refused(stack, stack.plan_body(dr_targets=[{"region": PRIMARY}]), {"/dr_targets/0/region"})


def test_a_selector_that_matches_nothing_is_a_422_at_protected(stack: Stack) -> None:
    _refused(stack, stack.plan_body(protected={"tags": {"app": "nothing-here"}}), {"/protected"})
    _refused(stack, stack.plan_body(protected={}), {"/protected"})


def test_a_malformed_cron_an_unknown_field_and_an_unknown_provider_are_422s(stack: Stack) -> None:
    _refused(stack, stack.plan_body(backup={"schedule": "every day at noon"}), {"/backup/schedule"})
    _refused(stack, stack.plan_body(drill_schedule="61 * * * *"), {"/drill_schedule"})
    _refused(stack, stack.plan_body(colour="blue"), {"/colour"})
    missing = "00000000-0000-4000-8000-000000000000"
    _refused(stack, stack.plan_body(primary_provider_id=missing), {"/primary_provider_id"})
    _refused(stack, stack.plan_body(routing={**stack.plan_body()["routing"], "targets": {PRIMARY: "203.0.113.10",
                                                                                         "eu-north-1": "1.2.3.4"}}),
             {"/routing/targets", "/routing/targets/eu-north-1"})  # fmt: skip


@pytest.mark.parametrize("zone", ["../../hostedzone", "rg/zone/extra", "a b"])
def test_a_dns_zone_that_is_a_path_is_a_422_at_routing_zone(stack: Stack, zone: str) -> None:
    _refused(stack, stack.plan_body(routing={**stack.plan_body()["routing"], "zone": zone}), {"/routing/zone"})


def test_a_backup_with_neither_retention_count_nor_days_is_a_422_at_backup(stack: Stack) -> None:
    backup = {"schedule": "0 */4 * * *", "retention_count": None, "retention_days": None}
    _refused(stack, stack.plan_body(backup=backup), {"/backup"})


@pytest.mark.parametrize("name", ["api.wedsync.example.\n", "api wedsync.example.", "-api.example."])
def test_a_record_name_that_is_not_a_dns_name_is_a_422_at_routing(stack: Stack, name: str) -> None:
    _refused(stack, stack.plan_body(routing={**stack.plan_body()["routing"], "name": name}), {"/routing"})


@pytest.mark.parametrize("url", ["file:///etc/passwd", "http://user:pw@example.com/", "gopher://example.com/"])
def test_a_health_check_url_the_outbound_guard_refuses_is_a_422(stack: Stack, url: str) -> None:
    routing = {**stack.plan_body()["routing"], "health_check_url": url}
    _refused(stack, stack.plan_body(routing=routing), {"/routing/health_check_url"})


@pytest.mark.parametrize(
    ("url", "allow_private"),
    [
        ("http://169.254.169.254/latest/meta-data/", "true"),  # never, whatever the setting
        ("http://[fe80::1]/healthz", "true"),
        ("http://127.0.0.1:9/x", "false"),
        ("http://127.1/x", "false"),  # the resolver reads it as 127.0.0.1
        ("http://10.0.0.7/healthz", "false"),
        ("http://[::1]/healthz", "false"),
    ],
)
def test_a_health_check_url_at_a_non_public_address_is_a_422_at_its_field(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, url: str, allow_private: str
) -> None:
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", allow_private)  # the suite's test servers are on loopback
    routing = {**stack.plan_body()["routing"], "health_check_url": url}
    _refused(stack, stack.plan_body(routing=routing), {"/routing/health_check_url"})


@pytest.mark.parametrize(
    ("kind", "value"),
    [("A", "127.0.0.1"), ("A", "169.254.169.254"), ("A", "0.0.0.0"), ("A", "224.0.0.251"),  # noqa: S104
     ("AAAA", "::1"), ("AAAA", "fe80::1"), ("AAAA", "::"), ("AAAA", "ff02::1"), ("AAAA", "::ffff:127.0.0.1"),
     ("AAAA", "2001:db8::1%eth0"), ("AAAA", "2001:db8::1%\x1b[31m")],
)  # fmt: skip
def test_a_dns_target_nobody_can_be_sent_to_is_a_422_at_its_region(stack: Stack, kind: str, value: str) -> None:
    other = "198.51.100.20" if kind == "A" else "2001:db8::20"
    routing = {**stack.plan_body()["routing"], "type": kind, "targets": {PRIMARY: other, STANDBY: value}}
    _refused(stack, stack.plan_body(routing=routing), {f"/routing/targets/{STANDBY}"})


def test_a_private_network_dns_target_is_allowed_for_an_internal_zone(stack: Stack) -> None:
    plan = stack.plan(routing={**stack.plan_body()["routing"], "targets": {PRIMARY: "10.0.1.10", STANDBY: "10.0.2.10"}})
    assert plan["routing"]["targets"] == {PRIMARY: "10.0.1.10", STANDBY: "10.0.2.10"}


def test_a_taken_name_is_a_409_and_a_viewer_can_neither_create_nor_replace(stack: Stack) -> None:
    plan = stack.plan()
    assert "booking" in problem(stack.post("/plans", stack.plan_body(), Role.OPERATOR), 409)["detail"]
    before = rows(stack.api)
    assert problem(stack.post("/plans", stack.plan_body(name="other"), Role.VIEWER), 403)["detail"].startswith(
        "This action needs the operator role"
    )
    viewer = stack.api.headers(Role.VIEWER)
    put = stack.api.client.put(f"{URL}/plans/{plan['id']}", json=stack.plan_body(rpo_seconds=60), headers=viewer)
    problem(put, 403)
    assert rows(stack.api) == before
    assert stack.read(f"/plans/{plan['id']}")["rpo_seconds"] == 4 * 3600


def test_unknown_ids_in_paths_and_filters_are_404s(stack: Stack) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for path in (f"/plans/{missing}", f"/plans/{missing}/backups", f"/runs/{missing}"):
        problem(stack.get(path), 404)
    problem(stack.get("/status", plan_id=missing), 404)
    put = stack.api.client.put(f"{URL}/plans/{missing}", json=stack.plan_body(), headers=stack.api.headers(Role.ADMIN))
    problem(put, 404)


def test_a_cron_that_never_comes_is_a_422_at_its_field_and_writes_nothing(stack: Stack) -> None:
    # croniter parses both, yet no date matches them: the schedules could never compute a time
    _refused(stack, stack.plan_body(backup={"schedule": "0 0 30 2 *"}), {"/backup/schedule"})
    _refused(stack, stack.plan_body(drill_schedule="0 0 31 4 *"), {"/drill_schedule"})
    assert stack.plan(backup={"schedule": "0 0 29 2 *"})["backup"]["schedule"] == "0 0 29 2 *"  # leap days do come


@pytest.mark.parametrize("schedule", ["* * * * *", "*/5 * * * *", "0,10 * * * *", "0,55 * * * *", "0,59 0,23 * * *"])
def test_backups_less_than_15_minutes_apart_are_a_422_that_says_why(stack: Stack, schedule: str) -> None:
    before = rows(stack.api)
    response = stack.post("/plans", stack.plan_body(backup={"schedule": schedule}), Role.OPERATOR)
    assert pointers(response) == {"/backup/schedule"}
    assert "at least 15 minutes apart" in response.json()["errors"][0]["message"]
    assert rows(stack.api) == before


def test_backups_every_15_minutes_and_drills_every_minute_are_accepted(stack: Stack) -> None:
    plan = stack.plan(backup={"schedule": "*/15 * * * *"}, drill_schedule="* * * * *")
    assert (plan["backup"]["schedule"], plan["drill_schedule"]) == ("*/15 * * * *", "* * * * *")


@pytest.mark.parametrize("bad", ["\x00", "\x1b[2J", "\x7f", "\x85", "\u2028", "\u202e", "\u2066"])
def test_control_characters_in_free_text_are_a_422_at_the_field_and_write_nothing(stack: Stack, bad: str) -> None:
    _refused(stack, stack.plan_body(description=f"booking{bad}api"), {"/description"})
    _refused(stack, stack.plan_body(protected={"tags": {"app": f"booking{bad}"}}), {"/protected/tags/app"})


def test_free_text_keeps_tabs_line_breaks_and_unicode(stack: Stack) -> None:
    description = "The booking API\r\nand its database:\tback in an hour. Ünïcødé 🎉"
    assert stack.plan(description=description)["description"] == description


def test_a_plan_with_data_stores_whose_first_target_is_another_provider_is_a_422_at_dr_targets(stack: Stack) -> None:
    body = {"kind": "sandbox", "name": "sandbox-gcp", "flavour": "gcp"}
    gcp = stack.api.client.post("/api/cloud/providers", json=body, headers=stack.api.headers(Role.ADMIN)).json()["id"]
    cold = {"provider_id": gcp, "region": "europe-west2"}
    routing = {**stack.plan_body()["routing"], "targets": {**stack.plan_body()["routing"]["targets"],
                                                           "europe-west2": "198.51.100.30"}}  # fmt: skip
    before = rows(stack.api)
    response = stack.post("/plans", stack.plan_body(dr_targets=[cold, {"region": STANDBY}], routing=routing),
                          Role.OPERATOR)  # fmt: skip
    assert pointers(response) == {"/dr_targets"}
    assert "another cloud cannot restore" in response.json()["errors"][0]["message"]
    assert rows(stack.api) == before
    # its own provider's region first (where backups are copied), the cold standby after it
    plan = stack.plan(dr_targets=[{"region": STANDBY}, cold], routing=routing)
    assert [t["region"] for t in plan["dr_targets"]] == [STANDBY, "europe-west2"]
