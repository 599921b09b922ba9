"""Budgets and their alerts: /api/cloud/costs/budgets.

A budget's status (spent, forecast at period end, thresholds) is computed from the current
serving snapshot on every read, never stored: it is as fresh as the data, and the state store
holds only what people decided (the budget) and what happened (alerts, deliveries).
"""

from __future__ import annotations

import logging
import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

import duckdb
from fastapi import APIRouter, Query, Request, Response

from analytics.overview import latest_charge_date
from control_api.deps import AuditDep, CipherDep, RequireOperator, RequireViewer, SessionDep, SnapshotDep
from control_api.provider_filter import resolve
from control_api.routers.costs import _query_of
from control_api.schemas.budgets import AlertOut, BudgetCreate, BudgetOut, BudgetUpdate, States, WebhookSecretOut
from control_plane.outbound import OutboundRefused, check_url
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, encode_cursor
from control_plane.services import budgets as service
from control_plane.services import webhooks
from control_plane.services.errors import InvalidRequest
from control_plane.serving import SnapshotReader
from control_plane.store.models import Alert, Budget, Delivery
from wedcloud.snapshots import SnapshotInfo

router = APIRouter(prefix="/costs/budgets", tags=["budgets"], dependencies=[RequireViewer])
log = logging.getLogger(__name__)


# -- helpers -------------------------------------------------------------------------------------
def _shown(target: dict[str, Any]) -> dict[str, Any]:
    return webhooks.shown(target)


def _check_webhooks(targets: list[dict[str, Any]] | None) -> None:
    """Refuse, before anything is written, a webhook URL the outbound guard would never call."""
    for index, target in enumerate(targets or []):
        if target.get("type") != "webhook":
            continue
        try:
            check_url(str(target["url"]))
        except OutboundRefused as exc:
            field = f"targets.{index}.url"
            raise InvalidRequest(f"{field}: {exc}", errors=[{"location": "body", "field": field,
                                                             "message": str(exc)}]) from None  # fmt: skip


def _scope_providers(session: Any, request: Request, snapshot: SnapshotInfo | None, fields: dict[str, Any]) -> None:
    """A scope's providers as the costs know them: a FOCUS ProviderName (``azure`` -> Microsoft) or
    a registered provider's id (for one named by its WedCloud name or id, which renaming keeps).
    An unknown one is a 422 listing the known values."""
    scope = fields.get("scope")
    if not scope or "provider" not in scope:
        return
    reader: SnapshotReader = request.app.state.snapshots
    chosen = resolve(session, scope["provider"], reader=reader, snapshot=snapshot, field="scope.provider",
                     location="body")  # fmt: skip
    fields["scope"] = {**scope, "provider": list(chosen.cost_values)}


def _seal(budget: Budget, cipher: Any) -> str | None:
    """Seal the budget's webhook URLs; a signing secret is made when it has webhooks and none
    yet, and returned (to be shown once)."""
    budget.targets = webhooks.seal_targets(budget.id, list(budget.targets or []), cipher)
    if any(t.get("type") == "webhook" for t in budget.targets) and budget.webhook_secret_ciphertext is None:
        return webhooks.rotate_secret(budget, cipher)
    return None


def _view(budget: Budget, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": str(budget.id),
        "name": budget.name,
        "scope": service.normalized_scope(budget.scope),
        "amount": _amount_text(budget.amount),
        "currency": budget.currency,
        "period": budget.period,
        "thresholds": {kind: list(values) for kind, values in service.thresholds_of(budget).items()},
        # a webhook's path and query are often its secret: shown, logged and audited masked
        "targets": [_shown(t) for t in budget.targets or []],
        "notes": budget.notes,
        "created_at": budget.created_at.isoformat(),
        "status": status,
    }


def _amount_text(amount: Decimal) -> str:
    """Cents at least, and every digit given (a 0.125 budget stays 0.125)."""
    cents = amount.quantize(Decimal("0.01"))
    return f"{cents:f}" if cents == amount else f"{amount.normalize():f}"


class StatusReader:
    """Each budget's status from one snapshot; a scope's series is memoized per snapshot."""

    def __init__(self, request: Request, snapshot: SnapshotInfo | None) -> None:
        self.reader: SnapshotReader = request.app.state.snapshots
        self.snapshot = snapshot
        self.data_through: date | None = None
        if snapshot is not None:
            query = _query_of(self.reader, snapshot)
            self.data_through = self.reader.memoized(
                snapshot, ("budget-data-through",), lambda: latest_charge_date(query)
            )

    def status(self, budget: Budget) -> dict[str, Any] | None:
        snapshot, data_through = self.snapshot, self.data_through
        if snapshot is None or data_through is None:
            return None
        query = _query_of(self.reader, snapshot)
        try:
            series = self.reader.memoized(
                snapshot,
                service.series_key(budget, data_through),
                lambda: service.read_series(query, budget, data_through),
            )
        except (ValueError, duckdb.Error):
            log.warning(
                "budget %s: its scope cannot be read from snapshot %s", budget.id, snapshot.version, exc_info=True
            )
            return None
        return service.status_view(service.evaluate_budget(budget, data_through, series), snapshot.version)


def _fields(body: BudgetCreate | BudgetUpdate, *, only_given: bool) -> dict[str, Any]:
    """The body as column values (amount as Decimal, targets and thresholds as plain JSON)."""
    given = body.model_dump(mode="json", exclude_unset=only_given)
    if given.get("amount") is not None:
        given["amount"] = Decimal(given["amount"])
    return {name: value for name, value in given.items() if value is not None or name == "notes"}


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No budget with this id."}}
_BAD_BODY = {"description": "A field is invalid, or scope.provider names no provider (the known ones are listed)."}


# -- endpoints -----------------------------------------------------------------------------------
@router.post(
    "",
    status_code=201,
    response_model=BudgetOut,
    dependencies=[RequireOperator],
    summary="Create a budget",
    operation_id="create_budget",
    responses={409: {"description": "The name is taken."}, 422: _BAD_BODY},
)
def create_budget(
    body: BudgetCreate, request: Request, session: SessionDep, audit: AuditDep, snapshot: SnapshotDep, cipher: CipherDep
) -> Any:
    fields = _fields(body, only_given=False)
    _check_webhooks(fields.get("targets"))
    _scope_providers(session, request, snapshot, fields)
    budget = service.create_budget(session, fields)
    secret = _seal(budget, cipher)
    session.flush()
    audit.record(target=f"budget:{budget.id}", after=_view(budget), webhook_secret_made=secret is not None)
    return {**_view(budget, StatusReader(request, snapshot).status(budget)), "webhook_secret": secret}


@router.get(
    "",
    response_model=Page[BudgetOut],
    summary="List budgets with their status in the current period",
    operation_id="list_budgets",
)
def list_budgets(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    status: Annotated[States | None, Query(description="Only budgets in this state (unknown: no status).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    statuses = StatusReader(request, snapshot)
    if status is None:
        rows, next_cursor = service.budgets_after(session, limit=limit, cursor=cursor)
        return {"items": [_view(b, statuses.status(b)) for b in rows], "next_cursor": next_cursor}
    # the state is computed, not stored: walk the budgets in page order until a page is full
    matches: list[tuple[Budget, dict[str, Any] | None]] = []
    for budget in service.iter_budgets(session, cursor=cursor):
        found = statuses.status(budget)
        if (found["state"] if found else "unknown") == status:
            matches.append((budget, found))
            if len(matches) > limit:
                break
    next_cursor = None
    if len(matches) > limit:
        matches = matches[:limit]
        last = matches[-1][0]
        next_cursor = encode_cursor(last.created_at.isoformat(), str(last.id))
    return {"items": [_view(b, s) for b, s in matches], "next_cursor": next_cursor}


@router.get(
    "/{budget_id}",
    response_model=BudgetOut,
    summary="Get a budget and its status",
    operation_id="get_budget",
    responses=_NOT_FOUND,
)
def get_budget(budget_id: uuid.UUID, request: Request, session: SessionDep, snapshot: SnapshotDep) -> Any:
    budget = service.get_budget(session, budget_id)
    return _view(budget, StatusReader(request, snapshot).status(budget))


@router.put(
    "/{budget_id}",
    response_model=BudgetOut,
    dependencies=[RequireOperator],
    summary="Change a budget's amount, scope, thresholds or targets",
    operation_id="update_budget",
    responses={**_NOT_FOUND, 409: {"description": "The new name is taken."}, 422: _BAD_BODY},
)
def update_budget(
    budget_id: uuid.UUID,
    body: BudgetUpdate,
    request: Request,
    session: SessionDep,
    audit: AuditDep,
    snapshot: SnapshotDep,
    cipher: CipherDep,
) -> Any:
    budget = service.get_budget(session, budget_id)
    before = _view(budget)
    changes = _fields(body, only_given=True)
    _check_webhooks(changes.get("targets"))
    _scope_providers(session, request, snapshot, changes)
    if "thresholds" in changes:  # a kind left out keeps its thresholds
        changes["thresholds"] = {**before["thresholds"], **changes["thresholds"]}
    if "targets" in changes:  # a webhook sent back as GET shows it (masked) keeps its sealed URL
        kept = {t["url"]: t for t in budget.targets or [] if "sealed" in t}
        changes["targets"] = [kept.get(t.get("url", ""), t) for t in changes["targets"]]
    service.update_budget(session, budget, changes)
    secret = _seal(budget, cipher) if "targets" in changes else None
    session.flush()
    audit.record(
        target=f"budget:{budget.id}", before=before, after=_view(budget), webhook_secret_made=secret is not None
    )
    return {**_view(budget, StatusReader(request, snapshot).status(budget)), "webhook_secret": secret}


@router.post(
    "/{budget_id}/webhook-secret",
    response_model=WebhookSecretOut,
    dependencies=[RequireOperator],
    summary="Make a new signing secret for the budget's webhooks (shown once)",
    operation_id="rotate_budget_webhook_secret",
    responses=_NOT_FOUND,
)
def rotate_webhook_secret(budget_id: uuid.UUID, session: SessionDep, audit: AuditDep, cipher: CipherDep) -> Any:
    budget = service.get_budget(session, budget_id)
    secret = webhooks.rotate_secret(budget, cipher)
    session.flush()
    audit.record(target=f"budget:{budget.id}", rotated="webhook_secret")
    return {"budget_id": budget.id, "secret": secret, "scheme": "Standard Webhooks v1"}


@router.delete(
    "/{budget_id}",
    status_code=204,
    dependencies=[RequireOperator],
    summary="Delete a budget (its alerts stay, detached)",
    operation_id="delete_budget",
    responses=_NOT_FOUND,
)
def delete_budget(budget_id: uuid.UUID, session: SessionDep, audit: AuditDep) -> Response:
    budget = service.get_budget(session, budget_id)
    audit.record(target=f"budget:{budget.id}", before=_view(budget))
    service.delete_budget(session, budget)
    return Response(status_code=204)


def _alert_view(alert: Alert, deliveries: list[Delivery]) -> dict[str, Any]:
    return {
        "id": alert.id, "kind": alert.kind, "key": alert.key, "title": alert.title, "severity": alert.severity,
        "status": alert.status, "detail": alert.detail, "created_at": alert.created_at,
        "deliveries": [
            {"channel": d.channel, "target": d.target, "attempt": d.attempt, "status_code": d.status_code,
             "error": d.error, "delivered": d.delivered, "attempted_at": d.attempted_at,
             "next_attempt_at": d.next_attempt_at}
            for d in deliveries
        ],
    }  # fmt: skip


@router.get(
    "/{budget_id}/alerts",
    response_model=Page[AlertOut],
    summary="A budget's alerts, newest first, with every delivery attempt",
    operation_id="list_budget_alerts",
    responses=_NOT_FOUND,
)
def list_budget_alerts(
    budget_id: uuid.UUID,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    budget = service.get_budget(session, budget_id)
    alerts, next_cursor = service.alerts_of(session, budget, limit=limit, cursor=cursor)
    return {"items": [_alert_view(a, d) for a, d in alerts], "next_cursor": next_cursor}
