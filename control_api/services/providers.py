"""Cloud providers registered with WedCloud."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from clouds.base import CloudProvider
from clouds.sandbox import state as sandbox_state
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import DEFAULT_WORLD
from control_api.crypto import Cipher
from control_api.pagination import decode_cursor, encode_cursor
from control_api.services.errors import Conflict, InvalidRequest, NotFound
from control_api.store.models import Provider
from wedcloud.home import HomeLayout


@dataclass(frozen=True)
class ProviderPage:
    items: list[Provider]
    next_cursor: str | None


def create_sandbox_provider(
    session: Session,
    *,
    name: str,
    flavour: FlavourKey,
    default_region: str | None,
    tags: dict[str, str],
    world: str = DEFAULT_WORLD,
) -> Provider:
    """Register one flavour of the sandbox cloud. The sandbox world must exist already."""
    if _world_missing(session, world):
        raise Conflict(
            f"the sandbox world {world!r} has not been created in this WedCloud home; "
            "run `wedcloud sandbox create` first",
            world=world,
        )
    regions = [priced.region.id for priced in FLAVOURS[flavour].regions]
    region = default_region or regions[0]
    if region not in regions:
        raise InvalidRequest(
            f"default_region {region!r} is not a region of the {flavour} sandbox; choose one of {', '.join(regions)}",
            errors=[{"location": "body", "field": "default_region", "message": f"one of {regions}"}],
        )
    _ensure_unique_name(session, name)
    provider = Provider(
        kind="sandbox",
        name=name,
        default_region=region,
        regions=regions,
        tags=tags,
        settings={"flavour": flavour.value, "world": world},
    )
    session.add(provider)
    session.flush()
    return provider


CLOUD_KINDS = ("aws", "azure", "gcp")


def create_cloud_provider(
    session: Session,
    cipher: Cipher,
    *,
    kind: str,
    name: str,
    default_region: str | None,
    regions: list[str] | None = None,
    tags: dict[str, str] | None = None,
    credentials: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
) -> Provider:
    """Register an AWS, Azure or Google Cloud account. Credentials are encrypted before they
    reach the store and bound to this provider's id; without them the SDK's own chain is used."""
    if kind not in CLOUD_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(CLOUD_KINDS)}, not {kind!r}")
    _ensure_unique_name(session, name)
    provider = Provider(
        id=uuid.uuid4(),
        kind=kind,
        name=name,
        default_region=default_region,
        regions=regions or ([default_region] if default_region else []),
        tags=tags or {},
        settings=settings or {},
    )
    if credentials:
        provider.credentials_ciphertext = cipher.encrypt(credentials, context=str(provider.id))
    session.add(provider)
    session.flush()
    return provider


def credentials_of(provider: Provider, cipher: Cipher) -> dict[str, Any] | None:
    """The provider's credentials, decrypted in memory only (None: use the SDK's chain)."""
    if provider.credentials_ciphertext is None:
        return None
    return cipher.decrypt(provider.credentials_ciphertext, context=str(provider.id))


def _world_missing(session: Session, world: str) -> bool:
    found = session.execute(select(sandbox_state.worlds.c.name).where(sandbox_state.worlds.c.name == world))
    return found.first() is None


# Names become Dagster partition keys and file names: letters, digits, space, dot, dash, underscore.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,119}")


def _ensure_unique_name(session: Session, name: str) -> None:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidRequest(
            f"provider name {name!r}: 1 to 120 letters, digits, spaces, dots, dashes or underscores, "
            "starting with a letter or digit"
        )
    if session.scalar(select(Provider.id).where(Provider.name == name)) is not None:
        raise Conflict(f"a provider named {name!r} already exists; choose another name")


def get_provider(session: Session, *, provider_id: uuid.UUID) -> Provider:
    provider = session.get(Provider, provider_id)
    if provider is None:
        raise NotFound(f"no provider with id {provider_id}")
    return provider


def list_providers(
    session: Session,
    *,
    kind: str | None = None,
    status: str | None = None,
    limit: int,
    cursor: str | None = None,
) -> ProviderPage:
    """Providers in creation order, ``limit`` at a time."""
    query = select(Provider).order_by(Provider.created_at, Provider.id).limit(limit + 1)
    if kind:
        query = query.where(Provider.kind == kind)
    if status:
        query = query.where(Provider.status == status)
    if cursor:
        created_raw, id_raw = decode_cursor(cursor, 2)
        try:
            created, last_id = datetime.fromisoformat(created_raw), uuid.UUID(id_raw)
        except (TypeError, ValueError):
            raise InvalidRequest("the cursor is not one this API issued; start again without `cursor`") from None
        query = query.where(
            or_(Provider.created_at > created, and_(Provider.created_at == created, Provider.id > last_id))
        )
    rows = list(session.scalars(query))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at.isoformat(), str(rows[-1].id))
    return ProviderPage(rows, next_cursor)


def adapter_for(provider: Provider, *, session: Session, layout: HomeLayout) -> CloudProvider:
    """The adapter that talks to ``provider``'s cloud."""
    if provider.kind == "sandbox":
        flavour = FlavourKey(provider.settings["flavour"])
        engine = session.get_bind()
        return SandboxCloud(
            engine,  # type: ignore[arg-type]
            flavour=flavour,
            exports_dir=layout.exports,
            world=provider.settings.get("world", DEFAULT_WORLD),
        )
    raise InvalidRequest(f"provider kind {provider.kind!r} has no adapter yet")


def public_view(provider: Provider) -> dict[str, Any]:
    """What may be shown of a provider: everything but its credentials."""
    return {
        "id": str(provider.id),
        "kind": provider.kind,
        "name": provider.name,
        "default_region": provider.default_region,
        "regions": provider.regions,
        "tags": provider.tags,
        "settings": provider.settings,
        "status": provider.status,
        "has_credentials": provider.credentials_ciphertext is not None,
        "created_at": provider.created_at.isoformat(),
        "updated_at": provider.updated_at.isoformat(),
    }
