"""The sandbox cloud's own tables in the state store.

They hold the simulated provider's truth (what exists and every lifecycle change), not
WedCloud's view of it: the control plane learns about these resources the way it learns
about real ones, through the adapter. Alembic migrates them with the control plane's tables.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, ForeignKey, Integer, MetaData, String, Table

from wedcloud.sqltypes import UTCDateTime

sandbox_metadata = MetaData()

worlds = Table(
    "sandbox_worlds",
    sandbox_metadata,
    Column("name", String(64), primary_key=True),
    Column("seed", BigInteger, nullable=False),
    Column("history_start", Date, nullable=False),
    # bills and metrics exist up to, not including, this day
    Column("as_of", Date, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # when its live 30-second samples start (NULL: at created_at); `wedcloud demo` sets it on start
    Column("live_since", UTCDateTime),
)

accounts = Table(
    "sandbox_accounts",
    sandbox_metadata,
    Column("id", String(64), primary_key=True),
    Column("world", String(64), ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), nullable=False),
    Column("flavour", String(8), nullable=False),
    # billing (payer) or a sub-account role: prod, dev
    Column("role", String(16), nullable=False),
    Column("name", String(120), nullable=False),
    Column("billing_account_id", String(64), nullable=False),
)

resources = Table(
    "sandbox_resources",
    sandbox_metadata,
    Column("id", String(512), primary_key=True),
    Column("world", String(64), ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), nullable=False),
    Column("flavour", String(8), nullable=False, index=True),
    Column("account_id", String(64), ForeignKey("sandbox_accounts.id"), nullable=False),
    # stable key of the template it came from
    Column("blueprint", String(64), nullable=False),
    Column("name", String(120), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("region", String(32), nullable=False),
    Column("zone", String(32)),
    Column("size", String(64)),
    Column("state", String(16), nullable=False),
    Column("tags", JSON, nullable=False),
    # workload, storage size, group bounds
    Column("spec", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("terminated_at", UTCDateTime),
)

events = Table(
    "sandbox_events",
    sandbox_metadata,
    Column("id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True),
    Column(
        "resource_id", String(512), ForeignKey("sandbox_resources.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("at", UTCDateTime, nullable=False),
    # created, started, stopped, resized, scaled, terminated
    Column("event", String(16), nullable=False),
    Column("detail", JSON, nullable=False),
)

dns_records = Table(
    "sandbox_dns_records",
    sandbox_metadata,
    Column("world", String(64), ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), primary_key=True),
    Column("record", String(253), primary_key=True),
    # target region -> weight, summing to 100
    Column("weights", JSON, nullable=False),
    # the values the record holds (the active target's), when set through route_dns
    Column("dns_values", JSON),
    Column("updated_at", UTCDateTime, nullable=False),
)

snapshots = Table(
    "sandbox_snapshots",
    sandbox_metadata,
    Column("id", String(64), primary_key=True),
    Column("world", String(64), ForeignKey("sandbox_worlds.name", ondelete="CASCADE"), nullable=False),
    Column("flavour", String(8), nullable=False),
    # the resource it was taken of (kept after that resource is terminated, as clouds do)
    Column("resource_id", String(512), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(255), nullable=False),
    Column("region", String(32), nullable=False),
    Column("size_gb", Integer, nullable=False),
    Column("tags", JSON, nullable=False),
    # what a restore makes: size, workload, group bounds of the source
    Column("source", JSON, nullable=False),
    Column("copied_from", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
)
