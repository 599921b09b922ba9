"""The warehouse's schema version: ordered steps applied on open by the single writer.

A new warehouse gets today's tables (``analytics.warehouse.ensure_schema``) and is stamped with
the newest version. A warehouse at an older version gets each later step, in order, each in a
transaction of its own with its ``schema_version`` row, so a crash leaves it at the last step
that finished. A warehouse written before versions existed holds exactly the baseline (every
open ran ``ensure_schema`` then) and is stamped 1 first. A warehouse newer than this code is
refused: older code would read tables it does not know and could overwrite what it cannot read.

To change a table that exists: change ``ensure_schema`` (what a new warehouse gets) and append a
step that brings a warehouse of the previous version to the same tables. Never edit or reorder
a step that has shipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import duckdb

from analytics.warehouse import ensure_schema

BASELINE = 1
VERSION_TABLE = "schema_version"
VERSION_SQL = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version INTEGER PRIMARY KEY,
    description VARCHAR NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
)
"""


@dataclass(frozen=True)
class Step:
    """What brings a warehouse at ``version - 1`` to ``version``."""

    version: int
    description: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


STEPS: tuple[Step, ...] = ()
"""The steps after the baseline (version 2 onwards), oldest first."""


class WarehouseTooNew(RuntimeError):
    """The warehouse was written by newer code than this."""


def newest(steps: Sequence[Step] = STEPS) -> int:
    return steps[-1].version if steps else BASELINE


def current_version(connection: duckdb.DuckDBPyConnection) -> int | None:
    """The warehouse's version, or None when it has no ``schema_version`` rows."""
    if not _has_table(connection, VERSION_TABLE):
        return None
    found = connection.execute(f"SELECT max(version) FROM {VERSION_TABLE}").fetchall()[0][0]
    return int(found) if found is not None else None


def migrate(
    connection: duckdb.DuckDBPyConnection,
    *,
    steps: Sequence[Step] = STEPS,
    create: Callable[[duckdb.DuckDBPyConnection], None] = ensure_schema,
) -> int:
    """Bring the warehouse on ``connection`` to the newest version; returns it. ``steps`` and
    ``create`` are the module's own unless a test passes others."""
    _check_order(steps)
    target = newest(steps)
    found = current_version(connection)
    if found is None:
        fresh = not _user_tables(connection)
        with _transaction(connection):
            if fresh:
                create(connection)
            connection.execute(VERSION_SQL)
            stamp = target if fresh else BASELINE
            description = "created at this version" if fresh else "baseline: written before schema versions"
            _record(connection, stamp, description)
        found = stamp
    if found > target:
        raise WarehouseTooNew(
            f"the warehouse is at schema version {found} and this code knows versions up to {target}: "
            "run the newer WedCloud that wrote it, or restore a backup taken before the upgrade"
        )
    for step in steps:
        if step.version > found:
            with _transaction(connection):
                step.apply(connection)
                _record(connection, step.version, step.description)
    return target


def _record(connection: duckdb.DuckDBPyConnection, version: int, description: str) -> None:
    connection.execute(f"INSERT INTO {VERSION_TABLE} (version, description) VALUES ($1, $2)", [version, description])


def _check_order(steps: Sequence[Step]) -> None:
    versions = [step.version for step in steps]
    if versions != list(range(BASELINE + 1, BASELINE + 1 + len(versions))):
        raise ValueError(f"warehouse steps must be numbered {BASELINE + 1}, {BASELINE + 2}... in order: {versions}")


def _has_table(connection: duckdb.DuckDBPyConnection, name: str) -> bool:
    query = "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database() AND table_name = $1"
    return bool(connection.execute(query, [name]).fetchall()[0][0])


def _user_tables(connection: duckdb.DuckDBPyConnection) -> list[str]:
    query = (
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND NOT internal"
    )
    return [row[0] for row in connection.execute(query).fetchall()]


@contextmanager
def _transaction(connection: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, or ROLLBACK when the block raises."""
    connection.execute("BEGIN TRANSACTION")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
