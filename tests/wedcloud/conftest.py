"""A CLI context on a temporary home whose store holds a small sandbox world and its providers."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from clouds.sandbox.world import build_world, save_world
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_engine, transaction
from control_plane.store.migrate import upgrade
from wedcloud.cli.context import CliContext


@pytest.fixture
def context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliContext:
    monkeypatch.setenv("WEDCLOUD_HOME", str(tmp_path))
    monkeypatch.setenv("WEDCLOUD_ENVIRONMENT", "test")
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    save_world(engine, build_world(4, date(2026, 12, 6), date(2026, 10, 1)))
    engine.dispose()
    context = CliContext()
    with transaction(context.sessions) as session:
        register_sandbox_providers(session)
    return context
