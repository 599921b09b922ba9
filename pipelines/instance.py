"""The Dagster instance's ``dagster.yaml``: the demo's (SQLite) and production's (PostgreSQL).

Both turn telemetry and the UI's first-visit pop-up off and give each concurrency pool one slot
(``assets.pools``: the warehouse has one writer). Production adds, for ``wedcloud serve``:

- run, event-log and schedule storage on PostgreSQL (dagster-postgres), its URL read from
  ``WEDCLOUD_DAGSTER_POSTGRES_URL`` when the instance loads, never written in the file;
- the ``QueuedRunCoordinator``: runs queue in the store and the daemon launches them, at most
  ``max_concurrent_runs`` at a time, a run's warehouse steps waiting for the pool's slot.

The pool is enforced per op (``granularity: op``) by whichever process orchestrates a run's
steps, the multiprocess and the Celery executor alike, through the instance's event-log storage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from assets.pools import POOL_LIMIT

POSTGRES_URL_ENV = "WEDCLOUD_DAGSTER_POSTGRES_URL"
DEFAULT_MAX_CONCURRENT_RUNS = 10


def postgres_url_problem() -> str | None:
    """Why ``WEDCLOUD_DAGSTER_POSTGRES_URL`` would not work, or None. dagster-postgres issues
    psycopg2-style statements; SQLAlchemy 2.1 maps a bare ``postgresql://`` to psycopg 3, on which
    its run-event ``NOTIFY`` fails, so the URL must name psycopg2."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    scheme = url.partition("://")[0]
    if url and scheme != "postgresql+psycopg2":
        return f"{POSTGRES_URL_ENV} must start with postgresql+psycopg2:// (it starts with {scheme}://)"
    return None


def demo_config() -> dict[str, Any]:
    return {
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "concurrency": {"pools": {"default_limit": POOL_LIMIT}},
    }


def production_config(max_concurrent_runs: int = DEFAULT_MAX_CONCURRENT_RUNS) -> dict[str, Any]:
    return {
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "storage": {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}},
        "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
        "concurrency": {
            "runs": {"max_concurrent_runs": max_concurrent_runs},
            "pools": {"default_limit": POOL_LIMIT, "granularity": "op"},
        },
    }


def render(config: dict[str, Any]) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def write_instance_config(dagster_home: Path, template: dict[str, Any] | None = None) -> Path:
    """Write ``dagster_home/dagster.yaml`` from ``template`` (default: the demo's). Top-level
    settings already in the file are kept (someone put them there); the pool limit is always set,
    since the warehouse's single writer depends on it. Returns the file's path."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    path = dagster_home / "dagster.yaml"
    found = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    config = {**(template or demo_config()), **found}
    config["concurrency"] = {**config.get("concurrency", {})}
    config["concurrency"]["pools"] = {**config["concurrency"].get("pools", {}), "default_limit": POOL_LIMIT}
    if config != found or not path.exists():
        path.write_text(render(config))
    return path
