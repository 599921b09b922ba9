"""Provider management: /api/cloud/providers."""

from __future__ import annotations

import re
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, SecretStr, TypeAdapter, ValidationError

from clouds.base import CloudProvider
from control_api.deps import (
    AuditDep,
    CipherDep,
    RequireAdmin,
    RequireOperator,
    RequireViewer,
    SessionDep,
    SettingsDep,
)
from control_api.routers.operations import IDEMPOTENCY_KEY, ActingDep
from control_api.schemas.operations import OperationOut
from control_api.schemas.providers import (
    CREDENTIALS,
    REGION_PATTERNS,
    AzureProviderCreate,
    ConnectionOut,
    GcpProviderCreate,
    Listing,
    ProviderCreate,
    ProviderOut,
    ProviderUpdate,
    RegionOut,
    SandboxProviderCreate,
    ServiceOut,
)
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from control_plane.services import operations, reconciler
from control_plane.services import providers as service
from control_plane.services.errors import InvalidRequest

router = APIRouter(prefix="/providers", tags=["providers"], dependencies=[RequireViewer])


# -- credentials ---------------------------------------------------------------------------
def _revealed(model: BaseModel) -> dict[str, Any]:
    """The credentials as stored (encrypted): secrets revealed, absent fields left out."""
    out = {}
    for key, value in model.model_dump(exclude_none=True).items():
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        out[key] = str(value) if isinstance(value, uuid.UUID) else value  # stored as JSON: ids as text
    return out


_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No provider with this id."}}


def provider_adapter(provider_id: uuid.UUID, session: SessionDep, settings: SettingsDep, cipher: CipherDep) -> Any:
    """The adapter to the cloud of the provider in the path (404 when there is no such provider)."""
    provider = service.get_provider(session, provider_id=provider_id)
    return service.adapter_for(provider, session=session, layout=settings.layout, cipher=cipher)


AdapterDep = Annotated[CloudProvider, Depends(provider_adapter)]


# -- endpoints -----------------------------------------------------------------------------
@router.post(
    "",
    status_code=201,
    response_model=ProviderOut,
    dependencies=[RequireAdmin],
    summary="Add a cloud provider",
    operation_id="create_provider",
    responses={409: {"description": "The name is taken, or the sandbox world does not exist yet."}},
)
def create_provider(body: ProviderCreate, session: SessionDep, audit: AuditDep, cipher: CipherDep) -> Any:
    if isinstance(body, SandboxProviderCreate):
        provider = service.create_sandbox_provider(
            session, name=body.name, flavour=body.flavour, default_region=body.default_region, tags=body.tags
        )
    else:
        settings: dict[str, Any] = {"endpoint_url": body.endpoint_url} if body.endpoint_url else {}
        if body.poll_seconds is not None:
            settings["poll_seconds"] = body.poll_seconds
        if isinstance(body, AzureProviderCreate):
            settings["subscription_id"] = str(body.subscription_id)
            if body.recovery_subnets:
                settings["recovery_subnets"] = dict(body.recovery_subnets)
        elif isinstance(body, GcpProviderCreate):
            settings["project_id"] = body.project_id
        regions = list(dict.fromkeys([body.default_region, *body.regions]))
        provider = service.create_cloud_provider(
            session,
            cipher,
            kind=body.kind,
            name=body.name,
            default_region=body.default_region,
            regions=regions,
            tags=body.tags,
            credentials=_revealed(body.credentials) if body.credentials else None,
            settings=settings,
        )
    view = service.public_view(provider)
    audit.record(target=f"provider:{provider.id}", after=view)
    return view


@router.get("", response_model=Page[ProviderOut], summary="List cloud providers", operation_id="list_providers")
def list_providers(
    session: SessionDep,
    kind: Annotated[str | None, Query(description="Only providers of this kind.")] = None,
    status: Annotated[str | None, Query(description="Only providers in this status.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    page = service.list_providers(session, kind=kind, status=status, limit=limit, cursor=cursor)
    return {"items": [service.public_view(p) for p in page.items], "next_cursor": page.next_cursor}


@router.get(
    "/{provider_id}",
    response_model=ProviderOut,
    summary="Get a provider",
    operation_id="get_provider",
    responses=_NOT_FOUND,
)
def get_provider(provider_id: uuid.UUID, session: SessionDep) -> Any:
    return service.public_view(service.get_provider(session, provider_id=provider_id))


@router.put(
    "/{provider_id}",
    response_model=ProviderOut,
    dependencies=[RequireAdmin],
    summary="Rename a provider, rotate its credentials or change its regions",
    operation_id="update_provider",
    responses={**_NOT_FOUND, 409: {"description": "The new name is taken."}},
)
def update_provider(
    provider_id: uuid.UUID, body: ProviderUpdate, session: SessionDep, audit: AuditDep, cipher: CipherDep
) -> Any:
    provider = service.get_provider(session, provider_id=provider_id)
    before = service.public_view(provider)
    credentials = None
    if body.credentials is not None:
        shape = CREDENTIALS.get(provider.kind)
        if shape is None:
            raise InvalidRequest(f"a {provider.kind} provider has no credentials")
        try:
            credentials = _revealed(TypeAdapter(shape).validate_python(body.credentials))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("body", "credentials", *e["loc"]), "input": None} for e in exc.errors()]
            ) from None
    for region in [*(body.regions or []), *([body.default_region] if body.default_region else [])]:
        pattern = REGION_PATTERNS.get(provider.kind)
        if pattern and not re.fullmatch(pattern, region):
            raise InvalidRequest(
                f"{region!r} is not a {provider.kind} region name",
                errors=[{"location": "body", "field": "regions", "message": "a region name of the provider's cloud"}],
            )
    changes = service.ProviderChanges(
        name=body.name,
        default_region=body.default_region,
        regions=body.regions,
        tags=body.tags,
        credentials=credentials,
        endpoint_url=body.endpoint_url,
    )
    service.update_provider(session, cipher, provider, changes)
    view = service.public_view(provider)
    audit.record(target=f"provider:{provider.id}", before=before, after=view, rotated=credentials is not None)
    return view


@router.delete(
    "/{provider_id}",
    status_code=204,
    dependencies=[RequireAdmin],
    summary="Remove a provider",
    operation_id="delete_provider",
    responses={**_NOT_FOUND, 409: {"description": "The provider still has active resources; they are listed."}},
)
def delete_provider(provider_id: uuid.UUID, session: SessionDep, audit: AuditDep) -> Response:
    provider = service.get_provider(session, provider_id=provider_id)
    before = service.public_view(provider)
    service.delete_provider(session, provider)
    audit.record(target=f"provider:{provider_id}", before=before)
    return Response(status_code=204)


@router.post(
    "/{provider_id}/test-connection",
    response_model=ConnectionOut,
    dependencies=[RequireOperator],
    summary="Check the provider's credentials and the permissions WedCloud needs",
    operation_id="test_provider_connection",
    responses=_NOT_FOUND,
)
def test_connection(provider_id: uuid.UUID, session: SessionDep, adapter: AdapterDep, audit: AuditDep) -> Any:
    provider = service.get_provider(session, provider_id=provider_id)
    outcome = service.record_check(provider, adapter.test_connection())
    audit.record(target=f"provider:{provider.id}", ok=outcome["ok"])
    return outcome


@router.get(
    "/{provider_id}/regions",
    response_model=Listing[RegionOut],
    summary="Regions the provider's cloud offers",
    operation_id="list_provider_regions",
    responses=_NOT_FOUND,
)
def list_regions(adapter: AdapterDep) -> Any:
    return {"items": [vars(r) for r in adapter.list_regions()]}


@router.get(
    "/{provider_id}/services",
    response_model=Listing[ServiceOut],
    summary="Services WedCloud manages and bills at this provider",
    operation_id="list_provider_services",
    responses=_NOT_FOUND,
)
def list_services(adapter: AdapterDep) -> Any:
    return {
        "items": [
            {"id": s.id, "name": s.name, "category": s.category, "resource_types": [t.value for t in s.resource_types]}
            for s in adapter.list_services()
        ]
    }


@router.post(
    "/{provider_id}/sync",
    status_code=202,
    response_model=OperationOut,
    dependencies=[RequireOperator],
    summary="Import the provider's inventory into WedCloud (an operation)",
    operation_id="sync_provider",
    responses={
        **_NOT_FOUND,
        422: {"description": "The Idempotency-Key was used before for a different request."},
    },
)
def sync_provider(
    provider_id: uuid.UUID, acting: ActingDep, adapter: AdapterDep, idempotency_key: IDEMPOTENCY_KEY = None
) -> Any:
    # (the adapter is asked for only to refuse, before anything is written, a kind without one)
    operation, created = operations.begin(
        acting.session,
        kind="sync",
        actor=acting.principal.actor,
        request={"provider_id": str(provider_id)},
        provider_id=provider_id,
        idempotency_key=idempotency_key,
        target=f"sync:{provider_id}",
    )
    if created:
        acting.start(operation, reconciler.sync_work(acting.adapter_for, provider_id))
    acting.audit.record(target=f"provider:{provider_id}", operation=str(operation.id), replayed=not created)
    return acting.accepted(operation)
