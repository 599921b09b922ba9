"""Thin typed resources around the warehouse, the serving folder and the billing sources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb

from analytics.warehouse import ensure_schema
from clouds.base import BillingExport
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.exports import list_exports


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The DuckDB warehouse. Only Dagster runs open it, one writer at a time."""

    path: str

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(self.path)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            ensure_schema(connection)
            yield connection
        finally:
            connection.close()


class SandboxExportsResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The sandbox cloud's billing export folder (WEDCLOUD_HOME/exports)."""

    exports_dir: str

    def exports(self, flavour: FlavourKey) -> list[BillingExport]:
        return list_exports(Path(self.exports_dir), flavour)


class ServingResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where serving snapshots are published for the API."""

    serving_dir: str

    @property
    def folder(self) -> Path:
        return Path(self.serving_dir)
