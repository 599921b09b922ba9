"""Thin typed resources around the warehouse, the billing sources and the serving folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from sqlalchemy.orm import Session

from analytics.warehouse import ensure_schema
from clouds.billing import BillingSource
from control_api.crypto import load_cipher
from control_api.services import billing
from control_api.store.db import make_engine
from wedcloud.home import HomeLayout


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


class BillingSourcesResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The billing source of each registered provider, read from the state store."""

    database_url: str
    home: str
    environment: str = "development"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()

    def source(self, name: str) -> BillingSource:
        home = Path(self.home)
        with self._session() as session:
            return billing.billing_source(
                session, HomeLayout(home), name=name, cipher=load_cipher(home, environment=self.environment)
            )

    def sources(self) -> list[BillingSource]:
        home = Path(self.home)
        with self._session() as session:
            return billing.billing_sources(session, HomeLayout(home), load_cipher(home, environment=self.environment))


class ServingResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where serving snapshots are published for the API."""

    serving_dir: str

    @property
    def folder(self) -> Path:
        return Path(self.serving_dir)
