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
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import httpx2 as httpx
from sqlalchemy.orm import Session

from analytics.focus.normalise import focus_sql, open_source
from analytics.warehouse import ensure_schema, rebuild_cost_daily_sql
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import create_sandbox
from clouds.sandbox.exports import list_exports
from control_api.security import Role
from control_api.services.api_keys import create_key
from control_api.store.db import make_engine
from control_api.store.migrate import upgrade
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
        con.execute(rebuild_cost_daily_sql(), [start, start + timedelta(days=800)])
        (rows,) = con.execute("SELECT count(*) FROM focus_costs").fetchall()[0]

        def build(path: Path) -> dict[str, Any]:
            con.execute(f"ATTACH '{path}' AS snap")
            con.execute("CREATE TABLE snap.cost_daily AS SELECT * FROM cost_daily")
            con.execute("DETACH snap")
            return {"data_through": (today - timedelta(days=1)).isoformat()}

        snapshots.publish(layout.serving, build)
    engine.dispose()
    return layout, key, rows


async def drive(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def summary(name: str, latencies: list[float], seconds: float) -> float:
    cuts = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / seconds
    print(
        f"{name:<28} n={len(latencies):>6}  {rate:7.1f} req/s  p50 {cuts[49] * 1000:6.1f} ms  "
        f"p95 {cuts[94] * 1000:6.1f} ms  p99 {cuts[98] * 1000:6.1f} ms"
    )
    return rate


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
        env = {**os.environ, "WEDCLOUD_HOME": str(layout.root), "WEDCLOUD_LOG_FORMAT": "json"}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "control_api.asgi:app",
                "--port",
                str(args.port),
                "--log-level",
                "warning",
            ],
            env=env,
            start_new_session=True,
        )
        try:
            base = f"http://127.0.0.1:{args.port}"
            for _ in range(100):
                try:
                    if httpx.get(f"{base}/api/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            headers = {"X-API-Key": key}
            asyncio.run(drive(f"{base}/api/cloud/costs/overview", headers, 2, 4))  # warm up
            bare, bare_errors = asyncio.run(drive(f"{base}/api/healthz", {}, args.seconds, args.concurrency))
            real, real_errors = asyncio.run(
                drive(f"{base}/api/cloud/costs/overview", headers, args.seconds, args.concurrency)
            )
            print(f"concurrency {args.concurrency}, {args.seconds:.0f} s each, {date.today()}")
            bare_rate = summary("GET /api/healthz (bare)", bare, args.seconds)
            real_rate = summary("GET /costs/overview", real, args.seconds)
            assert bare_errors == real_errors == 0, (bare_errors, real_errors)
            print(f"overview throughput is {real_rate / bare_rate:.2f}x the bare endpoint's")
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
