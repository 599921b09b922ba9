"""Latency of GET /api/cloud/costs/overview on two years of sandbox bills.

Builds a home with the sandbox's AWS bills normalised to FOCUS and aggregated exactly as the
Dagster assets do, publishes a serving snapshot, starts the API with uvicorn in its own
process, then drives the overview endpoint and the bare liveness endpoint (`/api/healthz`, no
authentication, no database) with the same concurrency for the same time, one after the
other. Prints p50/p95/p99 and throughput of both, and the ratio.

    uv run python benchmarks/overview_api.py [--seconds 10] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy.orm import Session

from analytics.focus.normalise import focus_sql, open_source
from analytics.warehouse import ensure_schema, rebuild_sql
from benchmarks.apiload import against_bare, api_server
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import create_sandbox
from clouds.sandbox.exports import list_exports
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from wedcloud import snapshots
from wedcloud.home import HomeLayout


def build_home(root: Path) -> tuple[HomeLayout, str, int]:
    layout = HomeLayout(root).ensure()
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    today = datetime.now(UTC).date()
    world = create_sandbox(engine, layout.exports, as_of=today)
    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="bench", role=Role.VIEWER)
    with duckdb.connect(str(layout.warehouse)) as con:
        con.execute("SET TimeZone = 'UTC'")
        ensure_schema(con)
        for export in list_exports(layout.exports, FlavourKey.AWS):
            source = open_source(con, export.path)
            con.execute(f"INSERT INTO focus_costs BY NAME SELECT * FROM ({focus_sql(source, source_id='bench')})")
        start = datetime.combine(world.history_start, datetime.min.time(), tzinfo=UTC)
        con.execute(rebuild_sql(), [start, start + timedelta(days=800)])
        (rows,) = con.execute("SELECT count(*) FROM focus_costs").fetchall()[0]

        def build(path: Path) -> dict[str, Any]:
            con.execute(f"ATTACH '{path}' AS snap")
            con.execute("CREATE TABLE snap.cost_daily AS SELECT * FROM cost_daily")
            con.execute("DETACH snap")
            return {"data_through": (today - timedelta(days=1)).isoformat()}

        snapshots.publish(layout.serving, build)
    engine.dispose()
    return layout, key, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--port", type=int, default=18765)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wedcloud-bench-") as tmp:
        print("building two years of sandbox bills and a serving snapshot...", flush=True)
        layout, key, rows = build_home(Path(tmp))
        print(f"{rows} FOCUS line items")
        with api_server(layout.root, args.port) as base:
            ratio = against_bare(
                base, "/api/cloud/costs/overview", {"X-API-Key": key}, "/costs/overview", args.seconds, args.concurrency
            )
        print(f"overview throughput is {ratio:.2f}x the bare endpoint's")


if __name__ == "__main__":
    main()
