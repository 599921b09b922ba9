"""The API's provider filters: a value may be a provider's id, its WedCloud name, its FOCUS
ProviderName or its cloud (``control_plane.services.provider_filters``); an unknown one is a 422
listing the known values. The FOCUS names a snapshot's costs carry are known too."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import anyio
import duckdb
from sqlalchemy.orm import Session

from control_plane.services.provider_filters import ProviderSelection, select_providers
from control_plane.serving import SnapshotReader
from wedcloud.snapshots import SnapshotInfo

PROVIDER_FILTER = (
    "A provider's id, its WedCloud name (sandbox-aws), its FOCUS ProviderName (AWS, Microsoft, Google Cloud) "
    "or its cloud (aws, azure, gcp); an unknown value answers 422 with the known ones."
)


def data_provider_names(reader: SnapshotReader, snapshot: SnapshotInfo | None) -> tuple[str, ...]:
    """The FOCUS ProviderNames the snapshot's costs carry (memoized per snapshot)."""
    if snapshot is None:
        return ()

    def read() -> tuple[str, ...]:
        try:
            rows = reader.query(snapshot, "SELECT DISTINCT ProviderName FROM cost_daily WHERE ProviderName IS NOT NULL")
        except duckdb.CatalogException:  # a snapshot without costs
            return ()
        return tuple(sorted(str(row[0]) for row in rows))

    names: tuple[str, ...] = reader.memoized(snapshot, ("provider-names",), read)
    return names


def resolve(
    session: Session,
    values: Sequence[str],
    *,
    reader: SnapshotReader | None = None,
    snapshot: SnapshotInfo | None = None,
    field: str = "provider",
    location: str = "query",
    data_keys: Sequence[str] = (),
) -> ProviderSelection:
    """What ``values`` name, in the state store and (when given) the snapshot's costs; ``data_keys``
    are the provider keys the rows being filtered hold."""
    names = data_provider_names(reader, snapshot) if reader is not None else ()
    return select_providers(session, values, field=field, location=location, data_names=names, data_keys=data_keys)


def provider_ids(session: Session, provider_id: uuid.UUID | None, provider: str | None) -> frozenset[uuid.UUID] | None:
    """The providers a list of state-store rows is filtered to: ``provider_id`` (a registered
    provider's id) and ``provider`` (any name of one, :func:`resolve`), both when both are given;
    None when neither is. An unknown one is a 422."""
    chosen: frozenset[str] | None = None
    if provider_id is not None:
        chosen = resolve(session, [str(provider_id)], field="provider_id").named
    if provider is not None:
        keys = resolve(session, [provider]).keys
        chosen = keys if chosen is None else chosen & keys
    return None if chosen is None else frozenset(uuid.UUID(key) for key in chosen)


async def resolve_async(
    sessions: Any,
    values: Sequence[str],
    *,
    reader: SnapshotReader | None = None,
    snapshot: SnapshotInfo | None = None,
    field: str = "provider",
) -> ProviderSelection:
    """:func:`resolve` for an async handler: the store and the snapshot are read off the loop."""

    def run() -> ProviderSelection:
        with sessions() as session:
            return resolve(session, values, reader=reader, snapshot=snapshot, field=field)

    return await anyio.to_thread.run_sync(run)


async def provider_ids_async(
    sessions: Any, provider_id: uuid.UUID | None, provider: str | None
) -> frozenset[uuid.UUID] | None:
    """:func:`provider_ids` for an async handler."""
    if provider_id is None and provider is None:
        return None

    def run() -> frozenset[uuid.UUID] | None:
        with sessions() as session:
            return provider_ids(session, provider_id, provider)

    return await anyio.to_thread.run_sync(run)
