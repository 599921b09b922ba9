"""Alerts: /api/cloud/monitoring/alerts (list, read, acknowledge) and POST to create a rule.

Registered after the rules and silences routers: ``/alerts/rules`` and ``/alerts/silences``
are theirs, ``/alerts/{id}`` an alert's."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Query

from control_api.deps import AuditDep, CipherDep, CurrentPrincipal, RequireOperator, RequireViewer, SessionDep
from control_api.routers.alert_rules import BAD_BODY, RuleBody, create
from control_api.schemas.alert_rules import RuleCreated
from control_api.schemas.alerts import AckIn, AlertState, MonitorAlertOut
from control_plane.monitoring import alerts as service
from control_plane.monitoring.settings import MonitorSettings
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from wedcloud.sqltypes import utcnow

router = APIRouter(prefix="/monitoring/alerts", tags=["alerts"], dependencies=[RequireViewer])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No alert with this id."}}


@router.post("", status_code=201, response_model=RuleCreated, dependencies=[RequireOperator],
             summary="Create an alert rule (as POST /monitoring/alerts/rules)", operation_id="create_alert",
             responses=BAD_BODY)  # fmt: skip
def create_alert_rule(
    body: RuleBody, session: SessionDep, audit: AuditDep, cipher: CipherDep, principal: CurrentPrincipal
) -> Any:
    return create(body, session, audit, cipher, principal)


@router.get("", response_model=Page[MonitorAlertOut], summary="List alerts by state, newest change first",
            operation_id="list_alerts", responses={422: {"description": "A filter is invalid."}})  # fmt: skip
def list_alerts(
    session: SessionDep,
    state: Annotated[list[AlertState], Query(description="pending, firing (not acknowledged), acknowledged, "
                                                          "resolved (in the last 15 minutes); default: all.")] = [],  # noqa: B006
    severity: Annotated[list[Literal["critical", "warning", "info"]], Query(max_length=3)] = [],  # noqa: B006
    rule: Annotated[list[Annotated[str, Query(max_length=120)]], Query(max_length=20,
                    description="A rule's name or id.")] = [],  # noqa: B006
    resource: Annotated[list[UUID], Query(max_length=100, description="A resource's id.")] = [],  # noqa: B006
    label: Annotated[list[Annotated[str, Query(max_length=400)]], Query(max_length=20,
                     description="`name=value`; every one must hold.")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:  # fmt: skip
    keep = timedelta(minutes=MonitorSettings().resolved_keep_minutes)
    items, next_cursor = service.list_alerts(
        session, now=utcnow(), keep=keep, limit=limit, cursor=cursor, states=state, severities=severity, rules=rule,
        resources=resource, labels=[service.parse_label(v) for v in label],
    )  # fmt: skip
    return {"items": items, "next_cursor": next_cursor}


@router.get("/{alert_id}", response_model=MonitorAlertOut, summary="Read an alert with its whole history",
            operation_id="get_alert", responses=NOT_FOUND)  # fmt: skip
def get_alert(alert_id: UUID, session: SessionDep) -> Any:
    return service.alert_detail(session, service.get_alert(session, alert_id), utcnow())


@router.post("/{alert_id}/ack", response_model=MonitorAlertOut, dependencies=[RequireOperator],
             summary="Acknowledge an alert: repeat notifications stop until it resolves or the ack expires",
             operation_id="acknowledge_alert",
             responses={**NOT_FOUND, 409: {"description": "The alert is resolved (or was dropped while pending)."},
                        422: {"description": "expires_at is past, or both expiries are given."}})  # fmt: skip
def acknowledge(
    alert_id: UUID, session: SessionDep, audit: AuditDep, principal: CurrentPrincipal,
    body: Annotated[AckIn, Body()] = AckIn(),  # noqa: B008
) -> Any:  # fmt: skip
    now = utcnow()
    alert = service.get_alert(session, alert_id, lock=True)  # not resolved under us by the evaluator
    expires = body.expires_at
    if body.expires_in is not None:
        expires = now + timedelta(seconds=float(body.expires_in))
    view = service.acknowledge(session, alert, by=principal.name, note=body.note, expires_at=expires, now=now)
    audit.record(target=f"alert:{alert.id}", acknowledged_by=principal.name, note=body.note,
                 expires_at=expires.isoformat() if expires else None, state=alert.state)  # fmt: skip
    return view
