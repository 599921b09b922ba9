"""Long-running operations: /api/cloud/operations."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request, Response
from sqlalchemy.orm import Session

from clouds.base import CloudProvider
from control_api.deps import AuditDep, CipherDep, CurrentPrincipal, RequireViewer, SessionDep, SettingsDep
from control_api.provider_filter import PROVIDER_FILTER, provider_ids
from control_api.schemas.operations import OperationOut
from control_api.settings import ApiSettings
from control_plane.audit import AuditTrail
from control_plane.crypto import Cipher
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from control_plane.services import operations as service
from control_plane.services import providers as provider_service
from control_plane.services.api_keys import Principal
from control_plane.store.models import Operation, Provider

router = APIRouter(prefix="/operations", tags=["operations"], dependencies=[RequireViewer])

IDEMPOTENCY_KEY = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Makes a retry safe: the same key and body return the first attempt's operation; "
        "the same key with another body is refused (422).",
    ),
]


def accepted(response: Response, operation: Operation) -> dict[str, Any]:
    """A 202 answer: the operation, with where to poll it."""
    response.headers["Location"] = f"/api/cloud/operations/{operation.id}"
    return service.public_view(operation)


@dataclass
class Acting:
    """What an endpoint that changes a cloud needs: the request's session and audit trail, who
    asks, the adapters to the clouds, and a way to run an operation's work after answering."""

    request: Request
    response: Response
    background: BackgroundTasks
    session: Session
    settings: ApiSettings
    cipher: Cipher
    principal: Principal
    audit: AuditTrail

    def adapter_for(self, provider: Provider, session: Session) -> CloudProvider:
        return provider_service.adapter_for(provider, session=session, layout=self.settings.layout, cipher=self.cipher)

    def start(self, operation: Operation, work: service.Work) -> None:
        """Run ``work`` for ``operation`` once the answer has gone (in its own transaction)."""
        self.background.add_task(service.execute, self.request.app.state.sessions, operation.id, work)

    def accepted(self, operation: Operation) -> dict[str, Any]:
        return accepted(self.response, operation)


async def acting(
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    cipher: CipherDep,
    principal: CurrentPrincipal,
    audit: AuditDep,
) -> Acting:
    return Acting(request, response, background, session, settings, cipher, principal, audit)


ActingDep = Annotated[Acting, Depends(acting)]


@router.get(
    "/{operation_id}",
    response_model=OperationOut,
    summary="Get an operation (poll until it succeeds or fails)",
    operation_id="get_operation",
    responses={404: {"description": "No operation with this id."}},
)
def get_operation(operation_id: uuid.UUID, session: SessionDep) -> Any:
    return service.public_view(service.get_operation(session, operation_id))


@router.get(
    "", response_model=Page[OperationOut], summary="List operations, newest first", operation_id="list_operations"
)
def list_operations(
    session: SessionDep,
    kind: Annotated[str | None, Query(description="Only operations of this kind (sync, provision, ...).")] = None,
    status: Annotated[str | None, Query(description="pending, running, succeeded or failed.")] = None,
    provider_id: Annotated[
        uuid.UUID | None, Query(description="Only this provider's operations (a registered provider's id, else 422).")
    ] = None,
    provider: Annotated[
        str | None, Query(max_length=512, description=f"Only this provider's operations. {PROVIDER_FILTER}")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    chosen = provider_ids(session, provider_id, provider)
    page = service.list_operations(session, kind=kind, status=status, provider_ids=chosen, limit=limit, cursor=cursor)
    return {"items": [service.public_view(o) for o in page.items], "next_cursor": page.next_cursor}
