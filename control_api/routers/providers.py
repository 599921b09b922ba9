"""Provider management: /api/cloud/providers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from clouds.sandbox.catalog import FlavourKey
from control_api.deps import AuditDep, RequireAdmin, RequireViewer, SessionDep
from control_api.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from control_api.services import providers as service

router = APIRouter(prefix="/providers", tags=["providers"], dependencies=[RequireViewer])

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,119}$"


class SandboxProviderCreate(BaseModel):
    """Register one flavour of the embedded sandbox cloud."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "sandbox", "name": "sandbox-aws", "flavour": "aws", "tags": {"owner": "platform"}}]
        },
    )

    kind: Literal["sandbox"] = Field(description="Provider kind. This release accepts `sandbox`.")
    name: str = Field(pattern=NAME_PATTERN, description="Unique display name.")
    flavour: FlavourKey = Field(description="Which cloud the sandbox imitates: aws, azure or gcp.")
    default_region: str | None = Field(default=None, description="Defaults to the flavour's first region.")
    tags: dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=256)]] = Field(
        default_factory=dict, max_length=50
    )


class ProviderOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11",
                    "kind": "sandbox",
                    "name": "sandbox-aws",
                    "default_region": "eu-west-2",
                    "regions": ["eu-west-2", "us-east-1", "eu-west-1"],
                    "tags": {"owner": "platform"},
                    "settings": {"flavour": "aws", "world": "default"},
                    "status": "active",
                    "has_credentials": False,
                    "created_at": "2026-11-27T09:00:00Z",
                    "updated_at": "2026-11-27T09:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    kind: str
    name: str
    default_region: str | None
    regions: list[str]
    tags: dict[str, str]
    settings: dict[str, Any]
    status: str
    has_credentials: bool
    created_at: datetime
    updated_at: datetime


@router.post(
    "",
    status_code=201,
    response_model=ProviderOut,
    dependencies=[RequireAdmin],
    summary="Add a cloud provider",
    operation_id="create_provider",
    responses={409: {"description": "The name is taken, or the sandbox world does not exist yet."}},
)
def create_provider(body: SandboxProviderCreate, session: SessionDep, audit: AuditDep) -> Any:
    provider = service.create_sandbox_provider(
        session, name=body.name, flavour=body.flavour, default_region=body.default_region, tags=body.tags
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
