"""Silences: /api/cloud/monitoring/alerts/silences (registered before the alerts router)."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query

from control_api.deps import AuditDep, CurrentPrincipal, RequireOperator, RequireViewer, SessionDep
from control_api.schemas.alerts import SilenceIn, SilenceOut
from control_plane.monitoring import silences as service
from control_plane.monitoring.rules import jsonable
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from wedcloud.sqltypes import utcnow

router = APIRouter(prefix="/monitoring/alerts/silences", tags=["alerts"], dependencies=[RequireViewer])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No silence with this id."}}


@router.post("", status_code=201, response_model=SilenceOut, dependencies=[RequireOperator],
             summary="Silence the alerts matching label matchers until an end time", operation_id="create_silence",
             responses={422: {"description": "A field is invalid (a bad regular expression, ends_at not after "
                                             "starts_at); `errors` names it."}})  # fmt: skip
def create_silence(body: SilenceIn, session: SessionDep, audit: AuditDep, principal: CurrentPrincipal) -> Any:
    now = utcnow()
    silence = service.create(session, body.model_dump(), by=principal.name, now=now)
    view = service.view(silence, now)
    audit.record(target=f"silence:{silence.id}", after=jsonable(view))
    return view


@router.get("", response_model=Page[SilenceOut], summary="List silences, newest first", operation_id="list_silences")
def list_silences(
    session: SessionDep,
    state: Annotated[Literal["active", "pending", "expired"] | None, Query(description="Only these.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    now = utcnow()
    rows, next_cursor = service.list_silences(session, now=now, limit=limit, cursor=cursor, state=state)
    return {"items": [service.view(s, now) for s in rows], "next_cursor": next_cursor}


@router.get("/{silence_id}", response_model=SilenceOut, summary="Read a silence", operation_id="get_silence",
            responses=NOT_FOUND)  # fmt: skip
def get_silence(silence_id: UUID, session: SessionDep) -> Any:
    return service.view(service.get(session, silence_id), utcnow())


@router.delete("/{silence_id}", response_model=SilenceOut, dependencies=[RequireOperator],
               summary="Expire a silence now (it stays listed as expired)", operation_id="expire_silence",
               responses=NOT_FOUND)  # fmt: skip
def expire_silence(silence_id: UUID, session: SessionDep, audit: AuditDep) -> Any:
    now = utcnow()
    silence = service.get(session, silence_id)
    before = service.view(silence, now)
    service.expire(silence, now)
    session.flush()
    view = service.view(silence, now)
    audit.record(target=f"silence:{silence.id}", before=jsonable(before), after=jsonable(view))
    return view
