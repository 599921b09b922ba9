"""The audit log's hash chain on SQLite and PostgreSQL: rows from every writer are chained,
rows written before migration 0008 are chained by it, and PostgreSQL refuses TRUNCATE."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from control_plane.crypto import Cipher
from control_plane.security import Role
from control_plane.services import api_keys, audit_log
from control_plane.services.secrets import reseal_all
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import AuditEntry


def test_key_and_secret_changes_are_audited_in_one_chain(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        row, _ = api_keys.create_key(session, name="ops", role=Role.ADMIN, actor="cli:alice")
        key_id, prefix = row.id, row.prefix
    with Session(engine) as session, session.begin():
        api_keys.revoke_key(session, key_id=key_id, actor="cli:bob")
        api_keys.revoke_key(session, key_id=key_id, actor="cli:bob")  # already revoked: nothing to record
    with Session(engine) as session, session.begin():
        reseal_all(session, Cipher(os.urandom(32)), actor="cli:alice")
    with Session(engine) as session:
        rows = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
        result = audit_log.verify(session)
    assert [(r.seq, r.actor, r.action, r.method) for r in rows] == [
        (1, "cli:alice", "api_key.create", "CLI"),
        (2, "cli:bob", "api_key.revoke", "CLI"),
        (3, "cli:alice", "secrets.rotate", "CLI"),
    ]
    assert rows[0].detail == {"name": "ops", "role": "admin", "prefix": prefix}
    assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
    assert (result.ok, result.rows, result.head_seq, result.head_hash) == (True, 3, 3, rows[-1].row_hash)


def test_rows_written_before_the_chain_are_chained_by_its_migration(empty_store_url: str) -> None:
    engine = make_engine(empty_store_url)
    try:
        upgrade(engine, "0005")
        with engine.begin() as connection:
            for actor in ("anonymous", "key:ops:1"):
                connection.execute(
                    text(
                        "INSERT INTO audit_log (occurred_at, actor, method, path, action, outcome, status_code,"
                        " request_id, detail) VALUES (:at, :actor, 'GET', '/x', 'GET /x', 'denied', 401, 'r', :detail)"
                    ),
                    {"at": datetime(2026, 12, 1, 9, tzinfo=UTC), "actor": actor, "detail": '{"n": 1}'},
                )
        upgrade(engine)
        with Session(engine) as session, session.begin():
            api_keys.create_key(session, name="after", role=Role.VIEWER)
        with Session(engine) as session:
            result = audit_log.verify(session)
            actors = session.scalars(select(AuditEntry.actor).order_by(AuditEntry.seq)).all()
        assert (result.ok, result.rows, result.problems) == (True, 3, [])
        assert actors == ["anonymous", "key:ops:1", "system"]
    finally:
        engine.dispose()


@pytest.mark.integration
def test_postgresql_refuses_truncate_update_and_delete_of_the_audit_log(postgres_url: str) -> None:
    # PostgreSQL only: SQLite has no TRUNCATE; its DELETE and UPDATE triggers are tested in test_store
    engine = make_engine(postgres_url)
    upgrade(engine)
    try:
        _refuses_every_rewrite(engine)
    finally:
        engine.dispose()


def _refuses_every_rewrite(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        api_keys.create_key(session, name="kept", role=Role.VIEWER)
    for statement in ("TRUNCATE audit_log", "DELETE FROM audit_log", "UPDATE audit_log SET actor = 'x'"):
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with Session(engine) as session:
        assert audit_log.verify(session).rows == 1
