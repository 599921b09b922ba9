"""An API on a temporary home, with one key per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from control_api.app import create_app
from control_api.settings import ApiSettings
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import AuditEntry


@dataclass
class Api:
    client: TestClient
    engine: Engine
    keys: dict[Role, str]
    home: Path
    setup_rows: int = 0  # audit rows the fixture wrote (its keys' creation)

    def headers(self, role: Role) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}

    def audit(self) -> list[AuditEntry]:
        """The audit rows written since the fixture made its keys."""
        with Session(self.engine) as session:
            return list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq).offset(self.setup_rows)))


def home_with_viewer(tmp_path: Path, key_name: str, **settings: object) -> tuple[ApiSettings, str]:
    """Settings for a fresh home under ``tmp_path`` (its SQLite store migrated) and a viewer key
    named ``key_name``, for tests that build the app themselves."""
    config = ApiSettings(home=tmp_path / "home", environment="test", **settings)  # type: ignore[arg-type]
    config.layout.ensure()
    engine = make_engine(config.resolved_database_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        _, key = create_key(session, name=key_name, role=Role.VIEWER)
    engine.dispose()
    return config, key


@pytest.fixture
def api(tmp_path: Path, store_url: str) -> Iterator[Api]:
    settings = ApiSettings(home=tmp_path / "home", database_url=store_url, environment="test")
    engine = make_engine(store_url)
    upgrade(engine)
    keys = {}
    with Session(engine) as session, session.begin():
        for role in Role:
            _, keys[role] = create_key(session, name=f"test-{role.value}", role=role)
    with Session(engine) as session:
        setup_rows = session.query(AuditEntry).count()
    with TestClient(create_app(settings)) as client:
        yield Api(client, engine, keys, settings.layout.root, setup_rows)
    engine.dispose()
