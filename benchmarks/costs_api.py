"""The cost endpoints under load, on ten million line items.

Generates the billing benchmark's CUR 2.0 file (``benchmarks/ingest.py``: ten million rows of
one month, 200,000 resources, tags), ingests it into ``focus_costs`` as the Dagster asset does,
builds ``cost_daily`` and ``cost_detail_daily``, publishes a serving snapshot, starts the API
with uvicorn in its own process, then for each endpoint:
- times the first request, which computes the answer from the snapshot (a new snapshot's
  first visitor pays this; every later request with the same parameters is served from memory
  until the next snapshot);
- drives it at ``--concurrency`` connections for ``--seconds``, beside the bare liveness
  endpoint (``/api/healthz``) for the same time in the same run, and prints p50/p95/p99, the
  throughput and the ratio to the bare endpoint.

    uv run python benchmarks/costs_api.py [--rows 10000000] [--seconds 20] [--concurrency 50]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import httpx2 as httpx
from sqlalchemy.orm import Session

from analytics.ingest import replace_month
from analytics.warehouse import ensure_schema, replace_cost_daily
from assets.serving import SERVED_TABLES
from benchmarks.apiload import against_bare, api_server
from benchmarks.ingest import generate
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from wedcloud import snapshots
from wedcloud.home import HomeLayout

MONTH = date(2026, 1, 1)
ENDPOINTS = {
    "/costs/overview": "/api/cloud/costs/overview",
    "/costs/breakdown service x day": "/api/cloud/costs/breakdown?group_by=service&granularity=day",
    "/costs/breakdown tag:team": "/api/cloud/costs/breakdown?group_by=tag:team,region",
}


def build_home(root: Path, rows: int) -> tuple[HomeLayout, str, dict[str, Any]]:
    layout = HomeLayout(root).ensure()
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="bench", role=Role.VIEWER)
    engine.dispose()
    data = root / "cur2.parquet"
    timings: dict[str, Any] = {"generate_s": generate(data, rows)}
    with duckdb.connect(str(layout.warehouse)) as con:
        con.execute("SET TimeZone = 'UTC'")
        ensure_schema(con)
        started = time.perf_counter()
        loaded = replace_month(con, source_id="bench", month=MONTH, files=[(data, None)])
        timings["ingest_s"], timings["line_items"] = time.perf_counter() - started, loaded.rows
        started = time.perf_counter()
        for table in ("cost_daily", "cost_detail_daily"):
            timings[f"{table}_rows"] = replace_cost_daily(con, source_id="bench", month=MONTH, table=table)
        timings["aggregate_s"] = time.perf_counter() - started
        publish_served(con, layout.serving, "2026-01-31")
    data.unlink()
    return layout, key, timings


def publish_served(con: duckdb.DuckDBPyConnection, serving: Path, data_through: str) -> None:
    """A serving snapshot of the warehouse behind ``con`` (the served tables it has), as the
    ``serving`` asset publishes one."""
    present = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}

    def build(path: Path) -> dict[str, Any]:
        con.execute(f"ATTACH '{path}' AS snapshot")
        for table in SERVED_TABLES:
            if table in present:
                con.execute(f"CREATE TABLE snapshot.{table} AS SELECT * FROM {table} ORDER BY ALL")
        con.execute("DETACH snapshot")
        return {"data_through": data_through}

    snapshots.publish(serving, build)


def first_request(base: str, path: str, key: str) -> float:
    started = time.perf_counter()
    response = httpx.get(f"{base}{path}", headers={"X-API-Key": key}, timeout=300)
    response.raise_for_status()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--port", type=int, default=18767)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wedcloud-costs-") as tmp:
        print(f"building a snapshot of {args.rows:,} line items...", flush=True)
        layout, key, timings = build_home(Path(tmp), args.rows)
        print(
            f"  generated in {timings['generate_s']:.1f} s, ingested {timings['line_items']:,} in "
            f"{timings['ingest_s']:.1f} s, aggregated in {timings['aggregate_s']:.1f} s "
            f"(cost_daily {timings['cost_daily_rows']:,} rows, cost_detail_daily "
            f"{timings['cost_detail_daily_rows']:,} rows)",
            flush=True,
        )
        with api_server(layout.root, args.port, WEDCLOUD_RECONCILE_EVERY_SECONDS="0") as base:
            for label, path in ENDPOINTS.items():
                cold = first_request(base, path, key)
                print(f"{label}: first request (computed from the snapshot) {cold * 1000:.0f} ms", flush=True)
                ratio = against_bare(base, path, {"X-API-Key": key}, label, args.seconds, args.concurrency)
                print(f"{label}: throughput {ratio:.2f}x the bare endpoint's", flush=True)
    print(f"finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")


if __name__ == "__main__":
    main()
