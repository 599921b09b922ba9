"""The state store behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session

from clouds.sandbox.state import sandbox_metadata
from control_plane.store.migrate import current_revision, head_revision, upgrade
from control_plane.store.models import AuditEntry, Base, Budget, Provider


def test_migrations_produce_exactly_the_modelled_schema(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, [Base.metadata, sandbox_metadata])
    assert differences == []
    assert current_revision(engine) == head_revision()


def test_upgrading_twice_changes_nothing(engine: Engine) -> None:
    assert upgrade(engine) == head_revision()


def test_times_come_back_timezone_aware_in_utc(engine: Engine) -> None:
    created = datetime(2026, 6, 13, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    with Session(engine) as session, session.begin():
        session.add(Provider(kind="sandbox", name="tz", regions=[], tags={}, settings={}, created_at=created))
    with Session(engine) as session:
        stored = session.scalars(select(Provider.created_at).where(Provider.name == "tz")).one()
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)
    assert stored == created


def test_naive_times_are_refused(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Provider(kind="sandbox", name="naive", created_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


def test_money_keeps_every_digit(engine: Engine) -> None:
    amount = Decimal("123456789012.123456")
    with Session(engine) as session, session.begin():
        session.add(Budget(name="exact", amount=amount, currency="GBP"))
    with Session(engine) as session:
        assert session.scalars(select(Budget.amount)).one() == amount


def test_money_refuses_floats(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Budget(name="float", amount=10.5, currency="GBP"))  # type: ignore[arg-type]
        with pytest.raises(StatementError, match="money must be Decimal"):
            session.flush()


def test_provider_names_are_unique(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(Provider(kind="sandbox", name="twin", regions=[], tags={}, settings={}))
    with Session(engine) as session:
        session.add(Provider(kind="sandbox", name="twin", regions=[], tags={}, settings={}))
        with pytest.raises(IntegrityError):
            session.flush()


def _audit_row() -> AuditEntry:
    return AuditEntry(
        actor="key:test",
        role="admin",
        method="POST",
        path="/api/cloud/providers",
        action="create_provider",
        outcome="success",
        status_code=201,
        request_id="r1",
        occurred_at=datetime.now(UTC),
        detail={},
    )


def test_audit_log_refuses_updates_and_deletes(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        session.add(_audit_row())
    with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(update(AuditEntry).values(outcome="rewritten"))
    with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(text("DELETE FROM audit_log"))
    with Session(engine) as session:
        assert session.scalars(select(AuditEntry.outcome)).all() == ["success"]


def test_sqlite_store_runs_in_wal_mode(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
