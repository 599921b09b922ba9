"""Probes for load balancers: /api/healthz (alive) and /api/readyz (store reachable,
migrations current, snapshot published), both without an API key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from fastapi.testclient import TestClient

from control_api.app import create_app
from control_api.settings import ApiSettings
from control_plane.store.db import make_engine
from control_plane.store.migrate import head_revision, upgrade
from wedcloud import snapshots


def _app(tmp_path: Path, database_url: str) -> tuple[TestClient, ApiSettings]:
    settings = ApiSettings(home=tmp_path / "home", database_url=database_url, environment="test")
    # not entered as a context manager: the lifespan, which migrates the store, does not run
    return TestClient(create_app(settings)), settings


def _publish(settings: ApiSettings) -> None:
    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            con.execute("CREATE TABLE cost_daily (day DATE)")
        return {}

    snapshots.publish(settings.layout.serving, build)


def test_readyz_is_503_while_migrations_are_pending_and_200_after(tmp_path: Path, empty_store_url: str) -> None:
    client, settings = _app(tmp_path, empty_store_url)
    _publish(settings)
    pending = client.get("/api/readyz")
    assert pending.status_code == 503
    assert pending.headers["content-type"].startswith("application/problem+json")
    assert set(pending.json()["checks"]) == {"migrations"}
    assert head_revision() in pending.json()["checks"]["migrations"]
    engine = make_engine(empty_store_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    ready = client.get("/api/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"store": "ok", "migrations": "ok", "snapshot": "ok"}}


def test_readyz_names_a_missing_snapshot(tmp_path: Path, store_url: str) -> None:
    client, _ = _app(tmp_path, store_url)
    with client:  # the lifespan migrates the store
        response = client.get("/api/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"snapshot": "no serving snapshot is published yet"}


def test_readyz_is_503_when_the_store_cannot_be_reached(tmp_path: Path) -> None:
    client, settings = _app(tmp_path, "postgresql+psycopg://wedcloud@127.0.0.1:9/none?connect_timeout=2")
    _publish(settings)
    response = client.get("/api/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["store"].startswith("unreachable")


def test_healthz_answers_without_a_key_even_when_the_store_is_down(tmp_path: Path) -> None:
    client, _ = _app(tmp_path, "postgresql+psycopg://wedcloud@127.0.0.1:9/none?connect_timeout=2")
    assert client.get("/api/healthz").json() == {"status": "alive"}
