"""Alert rules: /api/cloud/monitoring/alerts/rules (and POST /monitoring/alerts, the issue's
name for creating one). Registered before the alerts router, so that ``/alerts/rules`` is
never taken for an alert's id."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy.orm import Session

from control_api.deps import AuditDep, CipherDep, CurrentPrincipal, RequireOperator, RequireViewer, SessionDep
from control_api.schemas.alert_rules import EXAMPLE_RULE, RuleCreated, RuleIn, RuleOut, fields_of
from control_plane.audit import AuditTrail
from control_plane.crypto import Cipher
from control_plane.monitoring import rules as service
from control_plane.monitoring.rules import jsonable
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from control_plane.services.api_keys import Principal

router = APIRouter(prefix="/monitoring/alerts/rules", tags=["alerts"], dependencies=[RequireViewer])

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No alert rule with this id."}}
BAD_BODY: dict[int | str, dict[str, Any]] = {
    409: {"description": "Another rule has this name."},
    422: {"description": "A field is invalid (an unknown metric, a negative `for`, a selector naming no provider or "
                         "resource, a route URL the outbound guard refuses, ...); `errors` names each field."},
}  # fmt: skip
RuleBody = Annotated[RuleIn, Body(openapi_examples={"threshold": {"value": EXAMPLE_RULE},
    "absence": {"value": {"name": "web silent", "kind": "absence", "severity": "warning", "minutes": 10,
                          "selector": {"tags": {"role": "web"}}}},
    "provider_unreachable": {"value": {"name": "aws down", "kind": "provider_unreachable", "severity": "critical",
                                       "selector": {"provider": ["aws"]}, "failures": 2}},
    "budget_forecast": {"value": {"name": "bookings over budget", "kind": "budget_forecast", "severity": "warning",
                                  "budget_id": "2b7d3c4e-5f60-4a1b-8c2d-3e4f5a6b7c8d", "percent": 100}},
    "cost_anomaly": {"value": {"name": "cost spike", "kind": "cost_anomaly", "severity": "info",
                               "min_impact": "50.00", "recent_days": 3}},
    "drift": {"value": {"name": "booking stack drifted", "kind": "drift", "severity": "warning"}}})]  # fmt: skip


def create(body: Any, session: Session, audit: AuditTrail, cipher: Cipher, principal: Principal) -> dict[str, Any]:
    rule, secret = service.save_rule(session, fields_of(body), cipher, actor=principal.name)
    view = service.rule_view(rule)
    audit.record(target=f"alert_rule:{rule.id}", after=jsonable(view), webhook_secret_made=secret is not None)
    return {**view, "webhook_secret": secret}


@router.post("", status_code=201, response_model=RuleCreated, dependencies=[RequireOperator],
             summary="Create an alert rule (its webhook signing secret is shown once)",
             operation_id="create_alert_rule", responses=BAD_BODY)  # fmt: skip
def create_rule(
    body: RuleBody, session: SessionDep, audit: AuditDep, cipher: CipherDep, principal: CurrentPrincipal
) -> Any:
    return create(body, session, audit, cipher, principal)


@router.get("", response_model=Page[RuleOut], summary="List alert rules by name", operation_id="list_alert_rules")
def list_rules(
    session: SessionDep,
    kind: Annotated[Literal["threshold", "absence", "provider_unreachable", "budget_forecast", "cost_anomaly",
                            "drift"] | None,
                    Query(description="Only rules of this kind.")] = None,
    enabled: Annotated[bool | None, Query(description="Only enabled (true) or disabled (false) rules.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:  # fmt: skip
    rows, next_cursor = service.list_rules(session, limit=limit, cursor=cursor, kind=kind, enabled=enabled)
    return {"items": [service.rule_view(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{rule_id}", response_model=RuleOut, summary="Read an alert rule", operation_id="get_alert_rule",
            responses=NOT_FOUND)  # fmt: skip
def get_rule(rule_id: UUID, session: SessionDep) -> Any:
    return service.rule_view(service.get_rule(session, rule_id))


@router.put("/{rule_id}", response_model=RuleCreated, dependencies=[RequireOperator],
            summary="Replace an alert rule (routes sent back as shown keep their URL)",
            operation_id="replace_alert_rule", responses={**NOT_FOUND, **BAD_BODY})  # fmt: skip
def replace_rule(rule_id: UUID, body: RuleBody, session: SessionDep, audit: AuditDep, cipher: CipherDep) -> Any:
    rule = service.get_rule(session, rule_id)
    before = service.rule_view(rule)
    rule, secret = service.save_rule(session, fields_of(body), cipher, rule=rule)
    view = service.rule_view(rule)
    audit.record(
        target=f"alert_rule:{rule.id}",
        before=jsonable(before),
        after=jsonable(view),
        webhook_secret_made=secret is not None,
    )
    return {**view, "webhook_secret": secret}


@router.delete("/{rule_id}", status_code=204, dependencies=[RequireOperator],
               summary="Delete an alert rule and its alerts", operation_id="delete_alert_rule",
               responses=NOT_FOUND)  # fmt: skip
def delete_rule(rule_id: UUID, session: SessionDep, audit: AuditDep) -> Response:
    rule = service.get_rule(session, rule_id)
    audit.record(target=f"alert_rule:{rule.id}", before=jsonable(service.rule_view(rule)))
    service.delete_rule(session, rule)
    return Response(status_code=204)
