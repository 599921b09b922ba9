"""Resources: /api/cloud/resources. Changes to a cloud answer 202 with an operation to poll."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import polars as pl
from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import TypeAdapter
from sqlalchemy.orm import Session, sessionmaker

from clouds.base import CloudProvider, ResourceType, ScaleRequest
from clouds.errors import CloudError
from control_api.deps import (
    CipherDep,
    RequireAdmin,
    RequireOperator,
    RequireViewer,
    SessionDep,
    SettingsDep,
    store_counters,
)
from control_api.errors import ProblemException
from control_api.provider_filter import PROVIDER_FILTER, provider_ids_async
from control_api.routers.operations import IDEMPOTENCY_KEY, Acting, ActingDep
from control_api.schemas.costs import DAYS, FIRST_DAY, LAST_DAY
from control_api.schemas.operations import OperationOut
from control_api.schemas.resources import (
    BulkProvision,
    MetricSeries,
    ResourceDetail,
    ResourceOut,
    ResourceSpec,
    ResourceUpdate,
    ResourceUpdated,
    ScaleBody,
)
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, MONEY_LIMIT, Page
from control_plane.services import operations, resource_queries
from control_plane.services import providers as provider_service
from control_plane.services import resources as service
from control_plane.services.errors import Conflict, InvalidRequest
from control_plane.store.changes import VersionedCache, counter_in
from control_plane.store.models import Provider

router = APIRouter(prefix="/resources", tags=["resources"], dependencies=[RequireViewer])

STEPS = {"5m": "5m", "1h": "1h", "1d": "1d"}
# the sample period asked of the provider for each step (a day is averaged from hourly samples)
PERIODS = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(hours=1)}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No resource with this id."}}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed in the resource's state (or it is protected)."}
}


def _adapter(provider: Provider, session: Session, settings: Any, cipher: Any) -> CloudProvider:
    return provider_service.adapter_for(provider, session=session, layout=settings.layout, cipher=cipher)


# -- endpoints -----------------------------------------------------------------------------------
@router.post(
    "",
    status_code=202,
    response_model=OperationOut,
    dependencies=[RequireOperator],
    summary="Provision a resource (an operation that ends in the resource or a clear error)",
    operation_id="provision_resource",
    responses={404: {"description": "No such provider."}, 422: {"description": "The spec cannot work there."}},
)
def provision(body: ResourceSpec, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    provider = provider_service.get_provider(acting.session, provider_id=body.provider_id)
    acting.adapter_for(
        provider, acting.session
    )  # refuses a provider kind without an adapter before anything is written
    operation, created, provision_request = service.begin_provision(
        acting.session, provider, body.spec(), actor=acting.principal.actor, idempotency_key=idempotency_key,
        cipher=acting.cipher,
    )  # fmt: skip
    if created:
        acting.start(operation, service.provision_work(acting.adapter_for, operation.id, provision_request))
    acting.audit.record(
        target=f"resource:{operation.resource_id}", after=body.model_dump(mode="json"), replayed=not created
    )
    return acting.accepted(operation)


@router.get(
    "",
    response_model=Page[ResourceOut],
    summary="List resources (filter, sort, paginate)",
    operation_id="list_resources",
)
async def list_resources(
    request: Request,
    provider_id: Annotated[
        uuid.UUID | None, Query(description="Only this provider's resources (a registered provider's id; 422 if none).")
    ] = None,
    provider: Annotated[
        str | None, Query(max_length=512, description=f"Only this provider's resources. {PROVIDER_FILTER}")
    ] = None,
    type: Annotated[ResourceType | None, Query(description="compute, storage or database.")] = None,
    region: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(description="A state: running, stopped, terminated, ...")] = None,
    tag: Annotated[
        str | None,
        Query(
            description="`key` (has the tag) or `key=value`.", min_length=1, max_length=385, pattern=r"^[^=]+(=.*)?$"
        ),
    ] = None,
    name_contains: Annotated[str | None, Query(max_length=120, description="Case-insensitive.")] = None,
    cost_above: Annotated[
        Decimal | None, Query(ge=0, lt=MONEY_LIMIT, description="Hourly list price above this.")
    ] = None,
    sort: Annotated[
        str,
        Query(
            description="name, created_at, region, state or hourly_cost; prefix - for descending.",
            json_schema_extra={"enum": [f"{d}{name}" for name in resource_queries.SORTS for d in ("", "-")]},
        ),
    ] = "created_at",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    chosen = await provider_ids_async(request.app.state.sessions, provider_id, provider)
    where = resource_queries.ResourceFilter(
        provider_ids=chosen, resource_type=type.value if type else None, region=region, state=status, tag=tag,
        name_contains=name_contains, cost_above=cost_above,
    )  # fmt: skip
    # A page is computed in a worker thread and kept until the resources table next changes,
    # whoever changes it (control_plane.store.changes); the same page again is served from here.
    pages: VersionedCache[bytes] = request.app.state.pages
    key = (where, sort, limit, cursor)
    cached = pages.get(key, store_counters(request)["resources"])
    if cached is not None:
        return Response(cached, media_type="application/json")
    body, version = await run_in_threadpool(_page_json, request.app.state.sessions, where, sort, limit, cursor)
    pages.put(key, version, body)
    return Response(body, media_type="application/json")


_PAGE = TypeAdapter(Page[ResourceOut])


def _page_json(
    sessions: sessionmaker[Session], where: resource_queries.ResourceFilter, sort: str, limit: int, cursor: str | None
) -> tuple[bytes, int]:
    """The page as JSON, and the resources counter read before it (so the page is at least as
    new as the counter says)."""
    with sessions() as session:
        version = counter_in(session, "resources")
        page = resource_queries.list_resources(session, where, sort=sort, limit=limit, cursor=cursor)
    body = {"items": [resource_queries.public_view(r) for r in page.items], "next_cursor": page.next_cursor}
    return _PAGE.dump_json(_PAGE.validate_python(body)), version


@router.post(
    "/bulk-provision",
    status_code=202,
    response_model=OperationOut,
    dependencies=[RequireOperator],
    summary="Provision up to 1,000 resources; each result is reported (atomic: all or nothing)",
    operation_id="bulk_provision_resources",
    responses={422: {"description": "Atomic, and a spec cannot work (each one is listed)."}},
)
def bulk_provision(body: BulkProvision, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    session = acting.session
    providers: dict[uuid.UUID, Provider] = {}
    items: list[tuple[int, uuid.UUID, Any, str | None]] = []
    problems = []
    for index, spec in enumerate(body.specs):
        provider = providers.get(spec.provider_id)
        if provider is None:
            provider = provider_service.get_provider(session, provider_id=spec.provider_id)
            acting.adapter_for(provider, session)
            providers[spec.provider_id] = provider
        try:
            items.append((index, provider.id, service.check_spec(provider, spec.spec()), None))
        except InvalidRequest as exc:
            items.append((index, provider.id, None, exc.detail))
            problems.append({"location": "body", "field": f"specs.{index}", "message": exc.detail})
    if body.atomic and problems:
        raise InvalidRequest(
            f"{len(problems)} spec(s) cannot work and the request is atomic; nothing was provisioned", errors=problems
        )
    operation, created = operations.begin(
        session,
        kind="bulk_provision",
        actor=acting.principal.actor,
        request=body.model_dump(mode="json"),
        idempotency_key=idempotency_key,
        cipher=acting.cipher,
        sealed=service.bulk_sealed(items, atomic=body.atomic),
    )
    if created:
        acting.start(operation, service.bulk_work(acting.adapter_for, operation.id, items, atomic=body.atomic))
    acting.audit.record(operation=str(operation.id), specs=len(body.specs), atomic=body.atomic, replayed=not created)
    return acting.accepted(operation)


@router.api_route(
    "/bulk-provision", methods=["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"], include_in_schema=False
)
def bulk_provision_other_methods() -> None:
    """Without this, GET /resources/bulk-provision would reach /{resource_id} and answer 422."""
    raise ProblemException(405, "Only POST is allowed here.", slug="method-not-allowed", headers={"Allow": "POST"})


@router.get(
    "/{resource_id}",
    response_model=ResourceDetail,
    summary="Get a resource, with its cost rate and latest metrics",
    operation_id="get_resource",
    responses=_NOT_FOUND,
)
def get_resource(resource_id: uuid.UUID, session: SessionDep, settings: SettingsDep, cipher: CipherDep) -> Any:
    row = resource_queries.get_resource(session, resource_id)
    view = resource_queries.public_view(row)
    view["last_metrics"] = None
    if row.subtype in service.POWERED and row.state == "running":
        provider = provider_service.get_provider(session, provider_id=row.provider_id)
        end = datetime.now(UTC)
        try:
            frame = _adapter(provider, session, settings, cipher).get_metrics(
                [row.cloud_id], start=end - timedelta(hours=1), end=end, period=timedelta(minutes=5)
            )
        except CloudError:
            frame = None  # this provider's adapter reports no metrics yet
        if frame is not None and frame.height:
            latest = frame.sort("timestamp").group_by("metric").last()
            view["last_metrics"] = {
                r["metric"]: {"timestamp": r["timestamp"], "value": r["value"]} for r in latest.iter_rows(named=True)
            }
    return view


@router.put(
    "/{resource_id}",
    response_model=ResourceUpdated,
    dependencies=[RequireOperator],
    summary="Change tags or protection; a new size goes through the scale path",
    operation_id="update_resource",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def update_resource(resource_id: uuid.UUID, body: ResourceUpdate, acting: ActingDep) -> Any:
    session = acting.session
    row = resource_queries.get_resource(session, resource_id)
    before = resource_queries.public_view(row)
    if body.size is not None and body.size != row.size:
        service.check_scale(row, ScaleRequest(size=body.size))
    if body.tags is not None and body.tags != row.tags:
        if row.cloud_id.startswith(service.PENDING_PREFIX):
            raise Conflict(f"{row.name!r} is still being provisioned; tag it once it exists")
        provider = provider_service.get_provider(session, provider_id=row.provider_id)
        adapter = acting.adapter_for(provider, session)
        service.apply_cloud(row, adapter.tag(row.cloud_id, body.tags), adapter)
    if body.protected is not None:
        row.protected = body.protected
    operation = None
    if body.size is not None and body.size != row.size:
        operation, _ = service.begin_action(
            session, row, "scale", actor=acting.principal.actor, idempotency_key=None, payload={"size": body.size}
        )
        acting.start(operation, service.action_work(acting.adapter_for, operation.id, "scale", {"size": body.size}))
    session.flush()
    after = resource_queries.public_view(row)
    acting.audit.record(
        target=f"resource:{row.id}", before=before, after=after, operation=str(operation.id) if operation else None
    )
    return {"resource": after, "operation": acting.accepted(operation) if operation else None}


def _act(
    acting: Acting, action: str, resource_id: uuid.UUID, payload: dict[str, Any], idempotency_key: str | None
) -> Any:
    """Start, stop, terminate or scale: checked against the state machine, then an operation."""
    row = resource_queries.get_resource(acting.session, resource_id)
    if action == "scale":
        service.check_scale(row, ScaleRequest(size=payload.get("size"), capacity=payload.get("capacity")))
    else:
        service.check_transition(row, action)
    operation, created = service.begin_action(
        acting.session, row, action, actor=acting.principal.actor, idempotency_key=idempotency_key, payload=payload
    )
    if created:
        acting.start(operation, service.action_work(acting.adapter_for, operation.id, action, payload))
    acting.audit.record(
        target=f"resource:{row.id}", before=resource_queries.public_view(row), requested={"action": action, **payload},
        operation=str(operation.id), replayed=not created,
    )  # fmt: skip
    return acting.accepted(operation)


@router.delete(
    "/{resource_id}",
    status_code=202,
    response_model=OperationOut,
    dependencies=[RequireAdmin],
    summary="Terminate a resource (protected resources refuse)",
    operation_id="terminate_resource",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def terminate(resource_id: uuid.UUID, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    return _act(acting, "terminate", resource_id, {}, idempotency_key)


@router.post(
    "/{resource_id}/scale",
    status_code=202,
    response_model=OperationOut,
    dependencies=[RequireOperator],
    summary="Scale vertically (a new type; stopped and restarted where the provider needs it) or horizontally",
    operation_id="scale_resource",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def scale(resource_id: uuid.UUID, body: ScaleBody, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    return _act(acting, "scale", resource_id, body.model_dump(exclude_none=True), idempotency_key)


@router.post(
    "/{resource_id}/start",
    status_code=202,
    response_model=OperationOut,
    dependencies=[RequireOperator],
    summary="Start a stopped resource",
    operation_id="start_resource",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def start(resource_id: uuid.UUID, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    return _act(acting, "start", resource_id, {}, idempotency_key)


@router.post(
    "/{resource_id}/stop",
    status_code=202,
    response_model=OperationOut,
    dependencies=[RequireOperator],
    summary="Stop a running resource (its disks keep billing)",
    operation_id="stop_resource",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def stop(resource_id: uuid.UUID, acting: ActingDep, idempotency_key: IDEMPOTENCY_KEY = None) -> Any:
    return _act(acting, "stop", resource_id, {}, idempotency_key)


@router.get(
    "/{resource_id}/metrics",
    response_model=MetricSeries,
    summary="Utilisation metrics over a time range, at a step",
    operation_id="resource_metrics",
    responses=_NOT_FOUND,
)
def metrics(
    resource_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
    start: Annotated[datetime | None, Query(description="Default: 24 hours before end.")] = None,
    end: Annotated[datetime | None, Query(description="Default: now.")] = None,
    step: Annotated[Literal["5m", "1h", "1d"], Query(description="Samples are averaged per step.")] = "1h",
) -> Any:
    end = _utc(end, "end") if end else datetime.now(UTC)
    start = _utc(start, "start") if start else end - timedelta(hours=24)
    if start >= end:
        raise InvalidRequest(
            "start must be before end", errors=[{"location": "query", "field": "start", "message": "before end"}]
        )
    if end - start > timedelta(days=93):
        raise InvalidRequest(
            "at most 93 days per request",
            errors=[{"location": "query", "field": "start", "message": "within 93 days of end"}],
        )
    row = resource_queries.get_resource(session, resource_id)
    provider = provider_service.get_provider(session, provider_id=row.provider_id)
    frame = _adapter(provider, session, settings, cipher).get_metrics(
        [row.cloud_id], start=start, end=end, period=PERIODS[step]
    )
    series: dict[str, list[dict[str, Any]]] = {}
    if frame.height:
        averaged = (
            frame.sort("timestamp")
            .group_by_dynamic("timestamp", every=STEPS[step], group_by="metric")
            .agg(pl.col("value").mean())
            .sort("metric", "timestamp")
        )
        for (metric,), part in averaged.group_by("metric", maintain_order=True):
            series[str(metric)] = [
                {"timestamp": t, "value": v} for t, v in part.select("timestamp", "value").iter_rows()
            ]
    return {"resource_id": row.id, "start": start, "end": end, "step": step, "series": series}


def _utc(moment: datetime, field: str) -> datetime:
    def refuse(message: str) -> InvalidRequest:
        return InvalidRequest(message, errors=[{"location": "query", "field": field, "message": message}])

    if moment.tzinfo is None:
        raise refuse("times need a timezone (e.g. 2026-11-27T09:00:00Z)")
    if not FIRST_DAY.year <= moment.year <= LAST_DAY.year:
        raise refuse(f"a time {DAYS}")
    return moment.astimezone(UTC)
