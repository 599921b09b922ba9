"""Alembic environment: migrates the control plane's and the sandbox cloud's tables."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData

from clouds.sandbox.state import sandbox_metadata
from control_plane.store.models import Base


def _target_metadata() -> list[MetaData]:
    return [Base.metadata, sandbox_metadata]


def run_migrations_online() -> None:
    engine = context.config.attributes.get("engine")
    if engine is None:
        raise RuntimeError("call control_plane.store.migrate.upgrade(engine); no engine was given")
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=_target_metadata(),
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise RuntimeError("offline SQL generation is not supported; run `wedcloud db upgrade`")
run_migrations_online()
