"""The role split of docs/security.md, on a real PostgreSQL: migrations under the owner, the
API under a role that writes audit rows but cannot change them, truncate them, or lift the
triggers that refuse it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from control_plane.security import Role
from control_plane.services import api_keys, audit_log
from control_plane.store.db import make_engine
from control_plane.store.migrate import current_revision, head_revision, upgrade

pytestmark = pytest.mark.integration


@pytest.fixture
def roles(postgres_server: str) -> Iterator[tuple[str, str]]:
    """A fresh database owned by a new owner role, and an app role, set up as the doc says."""
    suffix = secrets.token_hex(4)
    owner, app, database = f"wc_owner_{suffix}", f"wc_app_{suffix}", f"wc_roles_{suffix}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE ROLE {owner} LOGIN"))
        connection.execute(text(f"CREATE ROLE {app} LOGIN"))
        connection.execute(text(f"CREATE DATABASE {database} OWNER {owner}"))
    base = make_url(postgres_server).set(database=database)
    superuser = create_engine(base, isolation_level="AUTOCOMMIT")
    with superuser.connect() as connection:
        for statement in (
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            f"GRANT USAGE ON SCHEMA public TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public "
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        ):
            connection.execute(text(statement))
    superuser.dispose()
    try:
        yield (
            base.set(username=owner).render_as_string(hide_password=False),
            base.set(username=app).render_as_string(hide_password=False),
        )
    finally:
        with admin.connect() as connection:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"), {"name": database}
            )
            connection.execute(text(f"DROP DATABASE IF EXISTS {database}"))
            connection.execute(text(f"DROP ROLE IF EXISTS {app}"))
            connection.execute(text(f"DROP ROLE IF EXISTS {owner}"))
        admin.dispose()


def test_the_app_role_writes_the_audit_log_but_cannot_rewrite_it_or_lift_its_triggers(
    roles: tuple[str, str],
) -> None:
    owner_url, app_url = roles
    owner = make_engine(owner_url)
    upgrade(owner)
    with owner.begin() as connection:
        connection.execute(text(f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM {make_url(app_url).username}"))
    owner.dispose()
    app = make_engine(app_url)
    try:
        assert upgrade(app) == head_revision() == current_revision(app)  # the API's start-up, at head
        with Session(app) as session, session.begin():
            api_keys.create_key(session, name="ops", role=Role.ADMIN)
        for statement in (
            "ALTER TABLE audit_log DISABLE TRIGGER USER",
            "DROP TRIGGER audit_log_append_only ON audit_log",
            "TRUNCATE audit_log",
            "DELETE FROM audit_log",
            "UPDATE audit_log SET actor = 'someone-else'",
        ):
            with app.connect() as connection, pytest.raises(DBAPIError, match=r"must be owner|permission denied"):
                connection.execute(text(statement))
        with Session(app) as session:
            assert (audit_log.verify(session).ok, audit_log.verify(session).rows) == (True, 1)
    finally:
        app.dispose()
