"""Who may write a plan that fails over on its own, on SQLite and PostgreSQL: a plan whose
automatic failover needs no approval writes its routing into DNS with no admin approving it, so
creating or replacing one needs admin (otherwise a 403 that writes nothing and is audited);
a plan whose failovers an admin approves stays an operator's to write."""

from __future__ import annotations

import pytest

from control_plane.security import Role
from tests.control_api.conftest import Api
from tests.control_api.recovery import PRIMARY, ROUTING, STANDBY, URL, Stack, booking_stack, problem, rows

UNATTENDED = {"enabled": True, "failed_checks": 1, "require_approval": False}
APPROVED = {"enabled": True, "failed_checks": 1, "require_approval": True}
PRIVILEGED = "auto_failover without approval"


@pytest.fixture
def stack(api: Api) -> Stack:
    return booking_stack(api)


def test_an_operators_plan_that_fails_over_without_approval_is_a_403_that_writes_nothing(stack: Stack) -> None:
    before = rows(stack.api)
    refused = problem(stack.post("/plans", stack.plan_body(auto_failover=UNATTENDED), Role.OPERATOR), 403)
    assert refused["detail"].startswith("A plan that fails over automatically without approval"), refused
    assert "needs the admin role; your key has operator" in refused["detail"]
    assert rows(stack.api) == before
    assert stack.read("/plans")["items"] == []
    audited = [(e.outcome, e.detail.get("privileged")) for e in stack.api.audit() if e.action == "create_plan"]
    assert audited == [("denied", PRIVILEGED)]


def test_an_admin_creates_a_plan_that_fails_over_without_approval_and_the_audit_says_so(stack: Stack) -> None:
    response = stack.post("/plans", stack.plan_body(auto_failover=UNATTENDED), Role.ADMIN)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["auto_failover"] == UNATTENDED
    created = [e for e in stack.api.audit() if e.action == "create_plan"]
    audited = [(e.outcome, e.target, e.detail.get("privileged")) for e in created]
    assert audited == [("success", f"dr_plan:{plan['id']}", PRIVILEGED)]


@pytest.mark.parametrize("rule", [APPROVED, {"enabled": False, "require_approval": False}, None])
def test_an_operators_plan_whose_failovers_an_admin_approves_is_created(
    stack: Stack, rule: dict[str, object] | None
) -> None:
    plan = stack.plan(**({} if rule is None else {"auto_failover": rule}))
    assert plan["auto_failover"]["require_approval"] or not plan["auto_failover"]["enabled"]
    created = [e for e in stack.api.audit() if e.action == "create_plan"]
    assert [(e.outcome, "privileged" in e.detail) for e in created] == [("success", False)]


def test_an_operator_can_neither_turn_approval_off_nor_reroute_a_plan_that_fails_over_unapproved(stack: Stack) -> None:
    plan = stack.plan(auto_failover=APPROVED)
    path = f"{URL}/plans/{plan['id']}"
    operator, admin = stack.api.headers(Role.OPERATOR), stack.api.headers(Role.ADMIN)
    before = rows(stack.api)
    off = stack.api.client.put(path, json=stack.plan_body(auto_failover=UNATTENDED), headers=operator)
    assert "needs the admin role" in problem(off, 403)["detail"]
    assert rows(stack.api) == before
    shown = stack.read(f"/plans/{plan['id']}")
    assert (shown["auto_failover"], shown["revision"]) == (APPROVED, 1)

    by_admin = stack.api.client.put(path, json=stack.plan_body(auto_failover=UNATTENDED), headers=admin)
    assert by_admin.status_code == 200, by_admin.text
    hijack = {**ROUTING, "targets": {PRIMARY: "203.0.113.66", STANDBY: "198.51.100.66"},
              "health_check_url": "https://attacker.example/healthz"}  # fmt: skip
    rerouted = stack.api.client.put(path, json=stack.plan_body(routing=hijack, auto_failover=UNATTENDED),
                                    headers=operator)  # fmt: skip
    problem(rerouted, 403)
    shown = stack.read(f"/plans/{plan['id']}")
    assert (shown["routing"]["targets"], shown["routing"]["health_check_url"], shown["revision"]) == (
        ROUTING["targets"], None, 2
    )  # fmt: skip
    replaced = [(e.outcome, e.target, e.detail.get("privileged")) for e in stack.api.audit()
                if e.action == "replace_plan"]  # fmt: skip
    target = f"dr_plan:{plan['id']}"
    assert replaced == [("denied", target, PRIVILEGED), ("success", target, PRIVILEGED), ("denied", target, PRIVILEGED)]

    back_on = stack.api.client.put(path, json=stack.plan_body(auto_failover=APPROVED), headers=operator)
    assert back_on.status_code == 200, back_on.text  # an operator may always ask for approval
    assert back_on.json()["auto_failover"] == APPROVED


def test_an_operator_cannot_change_the_routing_an_admins_failover_writes_but_may_change_the_rest(
    stack: Stack,
) -> None:
    plan = stack.plan(auto_failover=APPROVED)
    path = f"{URL}/plans/{plan['id']}"
    operator, admin = stack.api.headers(Role.OPERATOR), stack.api.headers(Role.ADMIN)
    swapped = {**ROUTING, "targets": {PRIMARY: "203.0.113.66", STANDBY: "198.51.100.66"}}
    before = rows(stack.api)
    refused = problem(stack.api.client.put(path, json=stack.plan_body(routing=swapped), headers=operator), 403)
    assert refused["detail"].startswith("Changing a plan's routing"), refused
    assert rows(stack.api) == before
    dropped = stack.api.client.put(path, json=stack.plan_body(routing=None), headers=operator)
    problem(dropped, 403)  # taking the routing away is a change of it too
    assert stack.read(f"/plans/{plan['id']}")["routing"]["targets"] == ROUTING["targets"]

    same_routing = stack.api.client.put(path, json=stack.plan_body(description="new words"), headers=operator)
    assert same_routing.status_code == 200, same_routing.text
    by_admin = stack.api.client.put(path, json=stack.plan_body(routing=swapped), headers=admin)
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["routing"]["targets"] == swapped["targets"]
    replaced = [(e.outcome, e.detail.get("privileged")) for e in stack.api.audit() if e.action == "replace_plan"]
    assert replaced == [("denied", "routing changed"), ("denied", "routing changed"), ("success", None),
                        ("success", "routing changed")]  # fmt: skip
