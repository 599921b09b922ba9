"""Thin typed resources around the warehouse, the billing sources and the serving folder."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
from sqlalchemy.orm import Session, sessionmaker

from analytics.lake import Lake
from analytics.warehouse import ensure_schema
from analytics.warehouse_versions import migrate
from clouds.base import CloudProvider
from clouds.billing import BillingSource
from control_plane.crypto import Cipher, cipher_from_keys, load_cipher
from control_plane.services import billing, provider_keys
from control_plane.services.providers import adapter_for
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.models import Provider
from wedcloud.home import HomeLayout


class LakeResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The lake of FOCUS Parquet files alone (``analytics.lake``): what billing normalisation
    writes and its checks read, with no warehouse and so no lock; any number of workers at once."""

    root: str
    s3_endpoint: str | None = None
    s3_region: str | None = None

    @classmethod
    def of(cls, lake: Lake) -> LakeResource:
        return cls(root=lake.root, s3_endpoint=lake.s3_endpoint, s3_region=lake.s3_region)

    @property
    def lake(self) -> Lake:
        return Lake(self.root, s3_endpoint=self.s3_endpoint, s3_region=self.s3_region)

    @contextmanager
    def read_line_items(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory connection with the ``focus_costs`` view only."""
        with self.lake.reader() as connection:
            yield connection


class WarehouseResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The DuckDB warehouse and the lake of FOCUS Parquet files its ``focus_costs`` view reads.

    Only Dagster runs open the warehouse, one writer at a time (``connect``). Writing a lake
    partition (``lake``, ``analytics.ingest.normalise_partition``) needs no warehouse and no
    lock. S3 credentials come from the standard AWS chain (``AWS_ACCESS_KEY_ID``...)."""

    path: str
    lake_files: LakeResource  # the same resource the billing assets write through

    @property
    def lake(self) -> Lake:
        return self.lake_files.lake

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        connection = duckdb.connect(self.path)
        try:
            connection.execute("SET TimeZone = 'UTC'")
            migrate(connection)  # the schema version's steps (analytics/warehouse_versions.py)
            # then the lake: its S3 access, the focus_costs view over it, and once, the move of a
            # focus_costs table left from before the lake (idempotent: every open runs it)
            ensure_schema(connection, self.lake)
            yield connection
        finally:
            connection.close()


class StateStoreResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """The control plane's state store and the home its credentials key lives in.

    ``database_url`` and ``secret_key`` hold secrets: the code location passes them as
    ``dg.EnvVar`` (``pipelines.definitions``), so the UI shows the variable's name, never its value.
    Without ``secret_key`` the key comes from where ``load_cipher`` finds it (a key file)."""

    database_url: str
    home: str
    environment: str = "development"
    secret_key: str | None = None
    secret_key_previous: str | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        engine = make_engine(self.database_url)
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()

    @contextmanager
    def sessions(self) -> Iterator[sessionmaker[Session]]:
        """A session factory on the store, for core functions that commit in steps."""
        engine = make_engine(self.database_url)
        try:
            yield make_sessionmaker(engine)
        finally:
            engine.dispose()

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(Path(self.home))

    def cipher(self) -> Cipher:
        if self.secret_key:
            return cipher_from_keys(self.secret_key + "," + (self.secret_key_previous or ""))
        return load_cipher(Path(self.home), environment=self.environment)


class BillingSourcesResource(StateStoreResource):
    """The billing source of each registered provider, read from the state store."""

    def source(self, key: str) -> BillingSource:
        with self.session() as session:
            return billing.billing_source(session, self.layout, key=key, cipher=self.cipher())

    def labels(self) -> dict[str, str]:
        """Each provider's key (the partitions') -> its name, shown as a label."""
        with self.session() as session:
            return provider_keys.labels(session)

    def sources(self) -> list[BillingSource]:
        with self.session() as session:
            return billing.billing_sources(session, self.layout, self.cipher())

    def unregistered(self, keys: Iterable[str]) -> list[str]:
        """The keys that name no registered provider any more (removed since)."""
        with self.session() as session:
            return provider_keys.unregistered(session, keys)


class ServingResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where serving snapshots are published for the API."""

    serving_dir: str

    @property
    def folder(self) -> Path:
        return Path(self.serving_dir)


class ProvidersResource(StateStoreResource):
    """The registered providers' adapters and the state store, for the optimisation assets.
    ``now`` pins the clock (ISO 8601, UTC) for the sandbox and tests; unset, it is the time."""

    now: str | None = None

    def clock(self) -> datetime:
        if self.now:
            pinned = datetime.fromisoformat(self.now)
            return pinned if pinned.tzinfo else pinned.replace(tzinfo=UTC)
        return datetime.now(UTC)

    @contextmanager
    def adapter(self, key: str) -> Iterator[tuple[str, CloudProvider]]:
        """The kind and adapter of the provider a partition's key names, open while the block runs."""
        with self.session() as session:
            provider = provider_keys.find_provider(session, key)
            if provider is None:
                raise dg.Failure(f"no provider with key {key!r}: partitions are keyed by registered providers' ids")
            yield provider.kind, self.adapter_of(provider, session)

    def label(self, key: str) -> str:
        """The name of the provider a key names (the key itself if none does)."""
        with self.session() as session:
            provider = provider_keys.find_provider(session, key)
            return provider.name if provider is not None else key

    def adapter_of(self, provider: Provider, session: Session) -> CloudProvider:
        """The adapter of a provider row read in ``session``."""
        return adapter_for(provider, session=session, layout=self.layout, cipher=self.cipher())
