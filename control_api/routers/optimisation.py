"""Optimisation endpoints under /api/cloud/costs: run the analysis, list recommendations, apply
one (dry run, or for real as an operation that verifies and reverts)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import anyio
import duckdb
from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.orm import Session

from analytics.money import format_amount
from analytics.optimisation.analysis import Settings, analyse
from analytics.optimisation.inputs import load_inputs
from analytics.optimisation.model import HOURS_PER_MONTH, Kind
from analytics.optimisation.rightsizing import RIGHTSIZE_CPU_PERCENTILES
from control_api.deps import RequireOperator, RequireViewer, SessionDep, SnapshotDep
from control_api.errors import ProblemException
from control_api.provider_filter import PROVIDER_FILTER, resolve
from control_api.routers.costs import _require
from control_api.routers.operations import ActingDep
from control_api.schemas.operations import OperationOut
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_plane.security import Role
from control_plane.services import applying, operations, provider_keys
from control_plane.services import optimisation as service
from control_plane.services.errors import InvalidRequest
from control_plane.serving import SnapshotReader
from control_plane.store.models import RecommendationRow
from wedcloud.snapshots import SnapshotInfo

router = APIRouter(prefix="/costs", tags=["optimisation"], dependencies=[RequireViewer])
SYNC_SECONDS = 2.0  # an analysis that takes longer answers 202 with its operation
_RUNNING: set[asyncio.Future[None]] = set()

_EXAMPLE: dict[str, Any] = {
    "id": "3f9c1d2b7a6e4c0f8d1e2a3b",
    "kind": "rightsize",
    "provider": "sandbox-aws",
    "account_id": "224787186802",
    "region": "eu-west-2",
    "resource_id": "i-0a1b2c3d4e5f60718",
    "action": "resize",
    "target": "m5.xlarge",
    "monthly_saving": "430.70",
    "currency": "USD",
    "evidence": {"cpu_p95_percent": 6.1, "hourly_rate": "0.888", "rate_basis": "effective"},
    "risk": "low",
    "risk_reason": "a resize restarts the instance",
    "confidence": 0.93,
    "confidence_reason": "336 of 336 hours have CPU data; steady load",
    "status": "open",
    "first_seen_at": "2026-11-27T00:00:00+00:00",
    "last_seen_at": "2026-11-27T00:00:00+00:00",
    "applied_at": None,
    "applied_by": None,
    "operation_id": None,
    "outcome": None,
    "realised": None,
}


class RecommendationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    id: str = Field(description="Stable: the same advice on a later run has the same id.")
    kind: str
    provider: str
    account_id: str
    region: str
    resource_id: str = Field(description="The provider's own id of the resource.")
    action: str
    target: str | None
    monthly_saving: str = Field(description="Per 730-hour month, at the effective rate from billing.")
    currency: str
    evidence: dict[str, Any]
    risk: str
    risk_reason: str
    confidence: float
    confidence_reason: str
    status: str
    first_seen_at: str
    last_seen_at: str
    applied_at: str | None
    applied_by: str | None
    operation_id: str | None
    outcome: dict[str, Any] | None
    realised: dict[str, Any] | None = Field(
        description="For an applied recommendation, once bills cover days after it: the hourly cost since, "
        "and the monthly saving it represents against the rate it was priced at."
    )


class AmountOut(BaseModel):
    currency: str
    amount: str


class RecommendationPageOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_EXAMPLE],
                    "next_cursor": None,
                    "total": 1,
                    "potential_monthly_saving": [{"currency": "USD", "amount": "430.70"}],
                }
            ]
        }
    )

    items: list[RecommendationOut]
    next_cursor: str | None
    total: int = Field(description="Recommendations matching the filters, on every page.")
    potential_monthly_saving: list[AmountOut] = Field(
        description="Per currency, the open matching recommendations' monthly savings (currencies are never added)."
    )


class OptimizeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"provider": "sandbox-aws", "rightsize_window_days": 14, "cpu_percentile": 95}]
        },
    )

    provider: str | None = Field(
        default=None,
        description="Only this provider's inventory (every provider of a cloud for a FOCUS name or cloud); all when "
        f"absent. {PROVIDER_FILTER}",
    )
    rightsize_window_days: Literal[14, 32, 93] = 14
    commitment_lookback_days: Literal[7, 30, 60] = 30
    cpu_percentile: float = Field(default=95, description="P90, P95 or P99.5 of CPU (AWS Compute Optimizer's choices).")

    @field_validator("cpu_percentile")
    @classmethod
    def _known_percentile(cls, value: float) -> float:
        if value not in RIGHTSIZE_CPU_PERCENTILES:
            raise ValueError(f"must be one of {', '.join(f'{p:g}' for p in RIGHTSIZE_CPU_PERCENTILES)}")
        return value


class OptimizeOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "succeeded",
                    "result": {"recommendations": 7, "created": 7, "updated": 0, "obsolete": 0},
                    "operation": None,
                }
            ]
        }
    )

    status: str
    result: dict[str, Any] | None
    operation: OperationOut | None


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"dry_run": True}]})

    dry_run: bool = Field(default=False, description="Show exactly what would change, and change nothing.")
    confirm: str | None = Field(
        default=None, description="Commitment purchases only: the recommendation's target, typed again."
    )


class PlanOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "dry_run": True,
                    "recommendation": "3f9c1d2b7a6e4c0f8d1e2a3b",
                    "resource": {"id": "i-0a1b2c3d4e5f60718", "state": "running", "size": "m5.4xlarge", "tags": {}},
                    "steps": ["stop i-0a1b…", "change type of i-0a1b… from m5.4xlarge to m5.xlarge", "start i-0a1b…"],
                    "verify": ["state is running", "type is m5.xlarge"],
                    "rollback": ["stop i-0a1b…", "change type of i-0a1b… from m5.xlarge back to m5.4xlarge"],
                    "monthly_saving": "430.70",
                    "currency": "USD",
                }
            ]
        }
    )

    dry_run: bool
    recommendation: str
    resource: dict[str, Any]
    steps: list[str]
    verify: list[str]
    rollback: list[str]
    monthly_saving: str
    currency: str


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No recommendation with this id."}}


# ---------------------------------------------------------------- run the analysis


@router.post(
    "/optimize",
    response_model=OptimizeOut,
    dependencies=[RequireOperator],
    summary="Run the optimisation analysis now over the serving snapshot (202 and an operation past 2 s)",
    operation_id="run_optimisation",
    responses={
        202: {"description": "Still running: poll the operation.", "model": OptimizeOut},
        422: {"description": "Unknown provider or option."},
        503: {"description": "No serving snapshot has been published yet."},
    },
)
async def optimize(
    body: OptimizeIn, request: Request, response: Response, acting: ActingDep, snapshot: SnapshotDep
) -> Any:
    info = _require(snapshot)
    reader: SnapshotReader = request.app.state.snapshots
    sessions = request.app.state.sessions
    # The snapshot's inventory is keyed by provider id; the body names one. DuckDB and SQL: off the loop.
    labels, chosen = await anyio.to_thread.run_sync(_labels_and_keys, sessions, body.provider)
    keys = await anyio.to_thread.run_sync(_provider_names, reader, info)
    if chosen is not None and not chosen & set(keys):
        raise InvalidRequest(
            f"the serving snapshot has no inventory of a provider named {body.provider!r}; "
            f"known: {', '.join(sorted(labels.get(k, k) for k in keys)) or 'none'}",
            parameter="provider",
            errors=[{"location": "body", "field": "provider", "message": "no inventory of it in the snapshot"}],
        )
    operation_id = await anyio.to_thread.run_sync(_begin_analysis, sessions, acting.principal.actor, body)
    work = _analysis(reader, info, body, None if chosen is None else sorted(chosen & set(keys)))
    task = asyncio.ensure_future(anyio.to_thread.run_sync(operations.execute, sessions, operation_id, work))
    _RUNNING.add(task)  # the loop keeps only a weak reference to a task that outlives the request
    task.add_done_callback(_RUNNING.discard)
    done, _ = await asyncio.wait({task}, timeout=SYNC_SECONDS)
    acting.audit.record(target=f"operation:{operation_id}", requested=body.model_dump(mode="json"))
    view = await anyio.to_thread.run_sync(_view_of, sessions, operation_id)
    if not done:
        response.status_code = 202
        response.headers["Location"] = f"/api/cloud/operations/{operation_id}"
        return {"status": view["status"], "result": None, "operation": view}
    return {"status": view["status"], "result": view["result"], "operation": view}


def _labels_and_keys(sessions: Any, provider: str | None) -> tuple[dict[str, str], frozenset[str] | None]:
    with sessions() as session:
        chosen = None if provider is None else resolve(session, [provider], field="provider", location="body").keys
        return provider_keys.labels(session), chosen


def _begin_analysis(sessions: Any, actor: str, body: OptimizeIn) -> Any:
    with sessions() as session:
        operation, _ = operations.begin(session, kind="optimize", actor=actor, request=body.model_dump(mode="json"))
        session.commit()
        return operation.id


def _view_of(sessions: Any, operation_id: Any) -> dict[str, Any]:
    with sessions() as session:
        return operations.public_view(operations.get_operation(session, operation_id))


def _provider_names(reader: SnapshotReader, info: SnapshotInfo) -> list[str]:
    try:
        return [row[0] for row in reader.query(info, "SELECT DISTINCT provider FROM inventory ORDER BY 1")]
    except duckdb.CatalogException:  # a snapshot published before the optimisation inputs existed
        return []


def _analysis(reader: SnapshotReader, info: SnapshotInfo, body: OptimizeIn, keys: list[str] | None) -> operations.Work:
    def work(session: Session) -> dict[str, Any]:
        cursor = reader.cursor(info)
        try:
            inputs = load_inputs(cursor, providers=keys, window_days=body.rightsize_window_days)
        finally:
            cursor.close()
        if inputs is None:
            return {"recommendations": 0, "reason": "the snapshot has no inventory yet"}
        settings = Settings(
            rightsize_window_days=body.rightsize_window_days,
            cpu_percentile=float(body.cpu_percentile),
            commitment_lookback_days=body.commitment_lookback_days,
        )
        found = analyse(inputs, settings)
        counts = service.store_recommendations(session, found, providers=list(inputs.rates), seen_at=inputs.now)
        return {**counts, "as_of": inputs.now.isoformat(), "snapshot": info.version}

    return work


# ---------------------------------------------------------------- list and read


@router.get(
    "/optimization",
    response_model=RecommendationPageOut,
    summary="Recommendations, biggest monthly saving first, with the total potential saving",
    operation_id="list_recommendations",
    responses={422: {"description": "A bad filter or cursor, or an unknown provider (the known ones are listed)."}},
)
def list_recommendations(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    kind: Annotated[Kind | None, Query(alias="type", description="Only this kind of recommendation.")] = None,
    provider: Annotated[str | None, Query(description=f"Only this provider's. {PROVIDER_FILTER}")] = None,
    account: Annotated[str | None, Query(description="Account (sub-account) id.")] = None,
    status: Annotated[str | None, Query(description=f"One of {', '.join(service.STATUSES)}.")] = None,
    min_saving: Annotated[Decimal | None, Query(ge=0, description="Minimum monthly saving.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    reader: SnapshotReader = request.app.state.snapshots
    chosen = None
    if provider is not None:  # the rows keep the provider's id (or, before the rekey job, its name)
        in_use = service.provider_keys_in_use(session)
        chosen = resolve(session, [provider], reader=reader, snapshot=snapshot, data_keys=in_use).keys
    where = service.RecommendationFilter(
        kind=kind, providers=chosen, account_id=account, status=status, min_saving=min_saving
    )
    page = service.list_recommendations(session, where, limit=limit, cursor=cursor)
    names = provider_keys.labels(session)
    return {
        "items": [service.public_view(row, _realised(reader, snapshot, row), names) for row in page.items],
        "next_cursor": page.next_cursor,
        "total": page.total,
        "potential_monthly_saving": [
            {"currency": currency, "amount": format_amount(amount)}
            for currency, amount in sorted(page.potential.items())
        ],
    }


@router.get(
    "/optimization/{rec_id}",
    response_model=RecommendationOut,
    summary="One recommendation with its evidence, status, apply outcome and realised saving",
    operation_id="get_recommendation",
    responses=_NOT_FOUND,
)
def get_recommendation(rec_id: str, request: Request, session: SessionDep, snapshot: SnapshotDep) -> Any:
    row = service.get_recommendation(session, rec_id)
    names = provider_keys.labels(session)
    return service.public_view(row, _realised(request.app.state.snapshots, snapshot, row), names)


def _realised(reader: SnapshotReader, info: SnapshotInfo | None, row: RecommendationRow) -> dict[str, Any] | None:
    """What billing shows since the apply: the mean hourly cost over whole billed days after it,
    against the hourly rate the saving was priced at."""
    if info is None or row.status != service.APPLIED or row.applied_at is None:
        return None
    baseline = (row.outcome or {}).get("baseline_hourly")
    if baseline is None:
        return None
    first_day = row.applied_at.date() + timedelta(days=1)

    def compute() -> dict[str, Any] | None:
        (through,) = reader.query(
            info, "SELECT max(ChargeDate) FROM cost_detail_daily WHERE x_SourceId = $1", [row.provider]
        )[0]
        if through is None or through < first_day:
            return None
        (cost,) = reader.query(
            info,
            "SELECT coalesce(sum(EffectiveCost), 0) FROM cost_detail_daily WHERE x_SourceId = $1 "
            "AND lower(ResourceId) = lower($2) AND ChargeDate BETWEEN $3 AND $4",
            [row.provider, row.resource_id, first_day, through],
        )[0]
        days = (through - first_day).days + 1
        hourly = Decimal(cost) / (days * 24)
        saving = (Decimal(baseline) - hourly) * HOURS_PER_MONTH
        return {
            "from": first_day.isoformat(),
            "through": through.isoformat() if isinstance(through, date) else str(through),
            "days": days,
            "hourly_cost_since": str(hourly.quantize(Decimal("0.000001"))),
            "monthly_saving": format_amount(saving),
            "currency": row.currency,
        }

    return reader.memoized(info, ("realised", row.id, row.applied_at), compute)


# ---------------------------------------------------------------- apply


@router.post(
    "/optimization/{rec_id}/apply",
    response_model=OperationOut | PlanOut,
    dependencies=[RequireOperator],
    summary="Apply a recommendation (operator; admin and a confirmation for purchases); dry_run shows the plan",
    operation_id="apply_recommendation",
    responses={
        202: {"description": "The apply's operation: poll it.", "model": OperationOut},
        403: {"description": "A purchase needs the admin role."},
        409: {"description": "The recommendation is dismissed or obsolete."},
        **_NOT_FOUND,
        422: {"description": "A purchase without its confirmation, or an action the API cannot apply."},
    },
)
def apply(rec_id: str, body: ApplyIn, acting: ActingDep) -> Any:
    row = service.get_recommendation(acting.session, rec_id)
    if row.action == "purchase":
        _check_purchase(acting, row, body)
        return service.purchase_plan(row)  # (reached by a dry run only)
    key = acting.request.headers.get("Idempotency-Key")
    if not body.dry_run and row.status in (service.APPLIED, service.APPLYING):  # harmless: its operation again
        operation, created = service.begin_apply(acting.session, row, actor=acting.principal.actor, idempotency_key=key)
        if created:  # its earlier apply died: this one starts afresh
            acting.start(
                operation, applying.apply_work(acting.adapter_for, operation.id, row.id, actor=acting.principal.actor)
            )
        acting.audit.record(target=f"recommendation:{row.id}", operation=str(operation.id), replayed=not created)
        acting.response.status_code = 202
        return acting.accepted(operation)
    provider = service.provider_of(acting.session, row)
    adapter = acting.adapter_for(provider, acting.session)
    current = adapter.describe(row.resource_id)
    change = service.change_for(row, current)
    if body.dry_run:
        return service.plan_view(row, current, change)
    operation, created = service.begin_apply(acting.session, row, actor=acting.principal.actor, idempotency_key=key)
    if created:
        acting.start(
            operation,
            applying.apply_work(acting.adapter_for, operation.id, row.id, actor=acting.principal.actor),
        )
    acting.audit.record(
        target=f"recommendation:{row.id}",
        before={"resource": current.id, "size": current.size, "state": current.state.value},
        requested={"action": row.action, "target": row.target},
        operation=str(operation.id),
        replayed=not created,
    )
    acting.response.status_code = 202
    return acting.accepted(operation)


def _check_purchase(acting: Any, row: RecommendationRow, body: ApplyIn) -> None:
    if not acting.principal.role.allows(Role.ADMIN):
        raise ProblemException(
            403, f"A commitment purchase needs the admin role; your key has {acting.principal.role.value}.",
            slug="forbidden",
        )  # fmt: skip
    if body.dry_run:  # shows the purchase and changes nothing: no confirmation needed
        return
    if body.confirm != row.target:
        raise InvalidRequest(
            f"a commitment purchase needs `confirm` set to its target ({row.target!r}) to show it was read",
            parameter="confirm",
        )
    raise InvalidRequest(
        "purchasing commitments through the API is not adapted yet: buy it in the provider's console; the "
        "recommendation's evidence has the level, term and break-even month"
    )


@router.post(
    "/optimization/{rec_id}/dismiss",
    response_model=RecommendationOut,
    dependencies=[RequireOperator],
    summary="Dismiss a recommendation (it stays dismissed when later runs find it again)",
    operation_id="dismiss_recommendation",
    responses={**_NOT_FOUND, 409: {"description": "It is being applied or was applied."}},
)
def dismiss(rec_id: str, acting: ActingDep) -> Any:
    row = service.dismiss(acting.session, rec_id)
    acting.audit.record(target=f"recommendation:{row.id}", after={"status": row.status})
    return service.public_view(row, names=provider_keys.labels(acting.session))
