"""The stable key of a registered provider in the data plane, and its name as a label.

Billing partitions (``2026-11|<key>``), the warehouse's source columns (``x_SourceId``, the
``provider`` column of the optimisation tables) and recommendations (their ``provider`` and the
stable id derived from it) are keyed by the provider's id, which never changes: renaming a
provider launches no run for new partitions and keeps its history. The name is only a label
(run tags, asset metadata, API answers).

Data written before this keyed everything by the provider's name; ``find_provider`` still
reads such a key, and ``rekey_warehouse`` / ``rekey_recommendations`` (run by the
``rekey_providers`` job, once, after upgrading) move it to the ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping

import duckdb
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from control_plane.store.models import Provider, RecommendationRow

# warehouse table -> the column holding the provider's key
KEYED_TABLES = {
    "focus_costs": "x_SourceId", "cost_daily": "x_SourceId", "cost_detail_daily": "x_SourceId",
    "inventory": "provider", "utilisation": "provider", "price_catalogue": "provider",
    "resource_rates": "provider", "commitment_usage": "provider",
}  # fmt: skip


def source_key(provider: Provider) -> str:
    return str(provider.id)


def find_provider(session: Session, key: str) -> Provider | None:
    """The provider a data-plane key names: its id, or (data keyed before ids) its name."""
    try:
        found = session.get(Provider, uuid.UUID(key))
    except ValueError:
        found = None
    return found or session.scalar(select(Provider).where(Provider.name == key))


def key_of(session: Session, name_or_key: str) -> str:
    """The key of a provider named by its name or its key; the argument itself if none matches."""
    provider = find_provider(session, name_or_key)
    return source_key(provider) if provider is not None else name_or_key


def labels(session: Session) -> dict[str, str]:
    """Key -> name of every registered provider."""
    return {source_key(p): p.name for p in session.scalars(select(Provider))}


def unregistered(session: Session, keys: Iterable[str]) -> list[str]:
    """The data-plane keys that name no registered provider (by id, or by name before re-keying):
    providers removed since their partitions were made."""
    known = {name for provider in session.scalars(select(Provider)) for name in (source_key(provider), provider.name)}
    return [key for key in keys if key not in known]


def names_to_keys(session: Session) -> dict[str, str]:
    return {p.name: source_key(p) for p in session.scalars(select(Provider))}


def rekey_warehouse(con: duckdb.DuckDBPyConnection, names: Mapping[str, str]) -> dict[str, int]:
    """Replace provider names by their keys in every keyed warehouse table: rows changed per table."""
    tables = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
        ).fetchall()
    }  # views aside: the lake's focus_costs is re-keyed by ``Lake.rename_source``
    changed: dict[str, int] = {}
    for table, column in KEYED_TABLES.items():
        if table not in tables:
            continue
        count = 0
        for name, key in names.items():
            (n,) = con.execute(f"SELECT count(*) FROM {table} WHERE {column} = $1", [name]).fetchall()[0]
            if n:
                con.execute(f"UPDATE {table} SET {column} = $1 WHERE {column} = $2", [key, name])
                count += int(n)
        changed[table] = count
    return changed


def rekey_recommendations(session: Session, names: Mapping[str, str]) -> int:
    """Point recommendations stored under a provider's name at its key. Their ids stay: the next
    analysis finds the open ones again under ids derived from the key, and the old ones become
    obsolete; applied ones keep their history."""
    changed = 0
    for name, key in names.items():
        result = session.execute(
            update(RecommendationRow).where(RecommendationRow.provider == name).values(provider=key)
        )
        changed += int(result.rowcount or 0)  # type: ignore[attr-defined]
    return changed
