"""Cloud providers registered with WedCloud."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from clouds.aws.provider import AwsCloud
from clouds.azure.provider import AzureCloud
from clouds.base import CloudProvider, ConnectionCheck, ResourceState
from clouds.gcp.provider import GcpCloud
from clouds.sandbox import state as sandbox_state
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import DEFAULT_WORLD
from control_plane.crypto import Cipher, SecretKeyError
from control_plane.outbound import OutboundRefused
from control_plane.outbound.endpoints import check_endpoint
from control_plane.pagination import page_of, seek
from control_plane.services.errors import Conflict, InvalidRequest, NotFound, Unavailable
from control_plane.store.models import Operation, Provider, Resource
from wedcloud.home import HomeLayout
from wedcloud.sqltypes import utcnow


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
# clouds WedCloud reads the bills of but has no adapter for (inventory, metrics, actions)
BILLING_ONLY_KINDS = ("oci",)
ADAPTERS: dict[str, type[CloudProvider]] = {
    "sandbox": SandboxCloud, "aws": AwsCloud, "azure": AzureCloud, "gcp": GcpCloud,
}  # fmt: skip


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
    if kind not in CLOUD_KINDS + BILLING_ONLY_KINDS:
        raise InvalidRequest(f"kind must be one of {', '.join(CLOUD_KINDS + BILLING_ONLY_KINDS)}, not {kind!r}")
    for key, url in (settings or {}).items():
        if key.endswith("endpoint_url") and url:
            _allowed_endpoint(kind, str(url), field=key)
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
    try:
        return cipher.decrypt(provider.credentials_ciphertext, context=str(provider.id))
    except SecretKeyError as exc:
        raise Unavailable(f"the credentials of provider {provider.name!r} cannot be opened: {exc}") from None


def _allowed_endpoint(kind: str, url: str, *, field: str = "endpoint_url") -> str:
    """``url`` when a ``kind`` provider may send its credentials there (docs/outbound.md)."""
    try:
        return check_endpoint(kind, url)
    except OutboundRefused as exc:
        raise InvalidRequest(
            f"{field}: {exc}", errors=[{"location": "body", "field": field, "message": str(exc)}]
        ) from None


def _endpoint_in_use(provider: Provider, url: str | None) -> str | None:
    """A stored endpoint checked again where it is used: one saved before the allow-list, or
    allowed then and not now, sends no credentials anywhere."""
    if not url:
        return None
    try:
        return check_endpoint(provider.kind, url)
    except OutboundRefused as exc:
        raise Conflict(
            f"provider {provider.name!r} has an endpoint WedCloud no longer sends credentials to ({exc}); "
            "set another endpoint_url, with the credentials, in PUT /api/cloud/providers/{id}",
            provider=str(provider.id),
        ) from None


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
    query = select(Provider)
    if kind:
        query = query.where(Provider.kind == kind)
    if status:
        query = query.where(Provider.status == status)
    query = seek(query, Provider.created_at, Provider.id, limit=limit, cursor=cursor, decode=datetime.fromisoformat)
    return ProviderPage(*page_of(list(session.scalars(query)), limit, lambda p: p.created_at.isoformat()))


# what an adapter needs beyond credentials; `wedcloud billing add` registers providers without them
ADAPTER_SETTINGS = {"azure": "subscription_id", "gcp": "project_id"}


def adapter_unavailable(provider: Provider) -> str | None:
    """Why no adapter can be built for ``provider`` (a setting it lacks), or None when one can."""
    if provider.kind in BILLING_ONLY_KINDS:
        return f"provider {provider.name!r} is {provider.kind}, which WedCloud reads the bills of only (no adapter)"
    needed = ADAPTER_SETTINGS.get(provider.kind)
    if needed is None or provider.settings.get(needed):
        return None
    return (
        f"provider {provider.name!r} has no {needed}, which reading its inventory, metrics and prices needs "
        f"(it was registered for its bills only; POST /api/cloud/providers registers one with {needed})"
    )


def adapter_for(
    provider: Provider, *, session: Session, layout: HomeLayout, cipher: Cipher | None = None
) -> CloudProvider:
    """The adapter that talks to ``provider``'s cloud (credentials decrypted in memory only)."""
    if provider.kind == "sandbox":
        flavour = FlavourKey(provider.settings["flavour"])
        engine = session.get_bind()
        return SandboxCloud(
            engine,  # type: ignore[arg-type]
            flavour=flavour,
            exports_dir=layout.exports,
            world=provider.settings.get("world", DEFAULT_WORLD),
        )
    if provider.kind not in CLOUD_KINDS:
        raise InvalidRequest(f"provider kind {provider.kind!r} has no inventory adapter")
    if reason := adapter_unavailable(provider):
        raise InvalidRequest(reason)
    if provider.credentials_ciphertext is not None and cipher is None:
        raise Unavailable("the provider's credentials cannot be opened: no secret key is loaded")
    endpoint_url = _endpoint_in_use(provider, provider.settings.get("endpoint_url"))
    credentials = credentials_of(provider, cipher) if cipher else None
    _endpoint_in_use(provider, (credentials or {}).get("sts_endpoint_url"))
    common: dict[str, Any] = {
        "regions": provider.regions,
        "default_region": provider.default_region,
        "endpoint_url": endpoint_url,
    }
    if provider.kind == "aws":
        return AwsCloud(credentials, **common)
    if provider.kind == "azure":
        return AzureCloud(
            credentials,
            subscription_id=provider.settings["subscription_id"],
            polling_interval=provider.settings.get("poll_seconds"),
            recovery_subnets=provider.settings.get("recovery_subnets"),  # region -> subnet of restored VMs
            **common,
        )
    return GcpCloud(credentials, project_id=provider.settings["project_id"], **common)


def record_check(provider: Provider, check: ConnectionCheck) -> dict[str, Any]:
    """Remember a connection test on the provider (health reports it) and return it."""
    now = utcnow()
    outcome = {
        "ok": check.ok,
        "identity": check.identity,
        "detail": check.detail,
        "missing_permissions": list(check.missing_permissions),
        "checked_at": now.isoformat(),
    }
    provider.last_check, provider.last_checked_at = outcome, now
    provider.status = "active" if check.ok else "failing"
    return outcome


@dataclass(frozen=True)
class ProviderChanges:
    """What ``PUT /providers/{id}`` may change; None leaves a field as it is."""

    name: str | None = None
    default_region: str | None = None
    regions: list[str] | None = None
    tags: dict[str, str] | None = None
    credentials: dict[str, Any] | None = None
    endpoint_url: str | None = None


def update_provider(session: Session, cipher: Cipher, provider: Provider, changes: ProviderChanges) -> Provider:
    _check_endpoint_change(provider, changes)  # before anything changes: nothing half-written
    if changes.name is not None and changes.name != provider.name:
        _ensure_unique_name(session, changes.name)
        provider.name = changes.name
    regions = changes.regions if changes.regions is not None else list(provider.regions)
    default_region = changes.default_region or provider.default_region
    if provider.kind == "sandbox":
        allowed = [p.region.id for p in FLAVOURS[FlavourKey(provider.settings["flavour"])].regions]
        unknown = [r for r in [*regions, default_region] if r and r not in allowed]
        if unknown:
            raise InvalidRequest(
                f"{', '.join(sorted(set(unknown)))}: not a region of this sandbox; choose from {', '.join(allowed)}",
                errors=[{"location": "body", "field": "regions", "message": f"each one of {allowed}"}],
            )
    if default_region and default_region not in regions:
        regions = [default_region, *regions]
    provider.regions, provider.default_region = regions, default_region
    if changes.tags is not None:
        provider.tags = changes.tags
    if changes.endpoint_url is not None and (changes.endpoint_url or None) != provider.settings.get("endpoint_url"):
        provider.settings = {**provider.settings, "endpoint_url": changes.endpoint_url or None}
        provider.last_check, provider.last_checked_at = None, None  # the old test says nothing of the new place
    if changes.credentials is not None:
        if provider.kind == "sandbox":
            raise InvalidRequest("a sandbox provider has no credentials")
        provider.credentials_ciphertext = cipher.encrypt(changes.credentials, context=str(provider.id))
        provider.last_check, provider.last_checked_at = None, None  # the old test says nothing of new keys
    session.flush()
    return provider


def _check_endpoint_change(provider: Provider, changes: ProviderChanges) -> None:
    """A new endpoint must be allowed, and stored credentials do not follow it there on their
    own: whoever moves the endpoint gives the credentials again in the same request."""
    new = changes.endpoint_url or None
    if changes.endpoint_url is None or new == provider.settings.get("endpoint_url"):
        return
    if provider.kind == "sandbox":
        raise InvalidRequest(
            "a sandbox provider has no endpoint",
            errors=[{"location": "body", "field": "endpoint_url", "message": "not for a sandbox provider"}],
        )
    if new:
        _allowed_endpoint(provider.kind, new)
    if provider.credentials_ciphertext is not None and changes.credentials is None:
        raise InvalidRequest(
            "changing endpoint_url needs the credentials again in the same request: the stored ones are not "
            "sent to a new endpoint on the strength of the change alone",
            errors=[{"location": "body", "field": "credentials", "message": "required when endpoint_url changes"}],
        )


def delete_provider(session: Session, provider: Provider) -> None:
    """Forget a provider that has no active resources (terminated ones go with it)."""
    active = list(
        session.scalars(
            select(Resource)
            .where(Resource.provider_id == provider.id, Resource.state != ResourceState.TERMINATED.value)
            .order_by(Resource.name)
        )
    )
    if active:
        raise Conflict(
            f"the provider still has {len(active)} active resource(s); terminate them (or sync, if they are "
            "gone already) before removing it",
            active_resources=[{"id": str(r.id), "cloud_id": r.cloud_id, "name": r.name} for r in active[:100]],
        )
    session.execute(delete(Resource).where(Resource.provider_id == provider.id))
    session.execute(update(Operation).where(Operation.provider_id == provider.id).values(provider_id=None))
    session.delete(provider)
    session.flush()


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
        "last_check": provider.last_check,
        "created_at": provider.created_at.isoformat(),
        "updated_at": provider.updated_at.isoformat(),
    }
