"""A billing backfill on dagster-celery workers beside the same months run in one process.

Builds a sandbox of three providers with ``--months`` months of bills, copies it, then:

1. baseline: ``billing_refresh`` month by month in this process (``execute_in_process``, as
   ``wedcloud materialize`` does) on a SQLite instance;
2. Celery: a fresh PostgreSQL database as the instance (``deploy/dagster.yaml``'s config), ``--workers``
   ``wedcloud worker`` processes on a queue of this run's own, and one run per month started all
   at once (a sensor's worth of concurrent runs), each orchestrated by ``dagster job execute``.

Prints both wall times, whether every run succeeded, whether any writer failed on DuckDB's lock,
and whether the two warehouses hold the same rows (every table, ``EXCEPT ALL`` both ways).

    uv run python benchmarks/celery_backfill.py [--months 12] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from analytics.focus.formats.base import literal
from analytics.lake import Lake
from clouds.sandbox.create import create_sandbox
from clouds.sandbox.world import default_history_start
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from pipelines.celery import BROKER_ENV, DEFAULT_BROKER, QUEUE_ENV
from pipelines.definitions import build_definitions
from pipelines.instance import POSTGRES_URL_ENV, production_config, write_instance_config
from pipelines.materialize import PROJECT_ROOT, QUIET, RANGE_END_TAG, RANGE_START_TAG, months_between, register_sources
from pipelines.settings import PipelineSettings
from wedcloud.home import HomeLayout

AS_OF = date(2026, 12, 6)


def sandbox(root: Path, months: int) -> tuple[HomeLayout, list[str], date]:
    layout = HomeLayout(root).ensure()
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    first = default_history_start(AS_OF, months)
    create_sandbox(engine, layout.exports, seed=7, as_of=AS_OF, history_start=first)
    with Session(engine) as session, session.begin():
        sources = [str(p.id) for p in register_sandbox_providers(session)]
    engine.dispose()
    return layout, sources, first


def baseline(layout: HomeLayout, sources: list[str], months: list[date], first: date) -> float:
    os.environ["DAGSTER_HOME"] = str(layout.dagster_home)
    write_instance_config(layout.dagster_home)
    job = build_definitions(PipelineSettings(home=layout.root, billing_start=first)).resolve_job_def("billing_refresh")
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        register_sources(instance, sources)
        for month in months:
            tags = {RANGE_START_TAG: f"{month:%Y-%m}|{sources[0]}", RANGE_END_TAG: f"{month:%Y-%m}|{sources[-1]}"}
            assert job.execute_in_process(instance=instance, run_config=QUIET, tags=tags).success
    return time.perf_counter() - started


def celery(
    layout: HomeLayout, sources: list[str], months: list[date], first: date, workers: int, pg: str
) -> tuple[float, list[int], str]:
    env = {
        **os.environ,
        "WEDCLOUD_HOME": str(layout.root),
        "DAGSTER_HOME": str(layout.dagster_home),
        "WEDCLOUD_BILLING_START": first.isoformat(),
        "WEDCLOUD_EXECUTOR": "celery",
        QUEUE_ENV: f"wedcloud-bench-{secrets.token_hex(4)}",
        BROKER_ENV: os.environ.get(BROKER_ENV, DEFAULT_BROKER),
        POSTGRES_URL_ENV: pg,
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", POSTGRES_URL_ENV)})
    write_instance_config(layout.dagster_home, production_config())
    with dg.DagsterInstance.get() as instance:
        register_sources(instance, sources)
    logs = layout.root / "logs"
    logs.mkdir(exist_ok=True)

    def start(argv: list[str], log: str) -> subprocess.Popen[bytes]:
        with open(logs / log, "wb") as out:
            return subprocess.Popen(
                argv, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    pool = [
        start([sys.executable, "-m", "wedcloud.cli.main", "worker", "--name", f"w{i}"], f"w{i}.log")
        for i in range(workers)
    ]
    runs: list[subprocess.Popen[bytes]] = []
    try:
        started = time.perf_counter()
        for month in months:
            tags = {RANGE_START_TAG: f"{month:%Y-%m}|{sources[0]}", RANGE_END_TAG: f"{month:%Y-%m}|{sources[-1]}"}
            argv = [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions", "-a", "defs"]
            runs.append(start([*argv, "-j", "billing_refresh", "--tags", json.dumps(tags)], f"{month:%Y-%m}.log"))
        codes = [run.wait() for run in runs]
        elapsed = time.perf_counter() - started
    finally:
        for run in runs:  # interrupted: a run's process would take minutes to wind down
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
        for worker in pool:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in pool:
            worker.wait(60)
    return elapsed, codes, "".join(p.read_text() for p in logs.glob("*.log"))


def differences(a: HomeLayout, b: HomeLayout) -> dict[str, tuple[int, int, int]]:
    """Per warehouse table, and for the lake's line items (``lake:focus_costs``): the rows, the
    rows only in ``a`` and the rows only in ``b`` (``EXCEPT ALL`` both ways). Two columns differ by
    where and when, not by what was computed, and are left out: ``schema_version.applied_at`` (when
    the warehouse was made) and the home folder in front of ``x_SourceFile`` (the two homes are
    two folders holding copies of the same export files)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"ATTACH {literal(str(a.warehouse))} AS a (READ_ONLY)")
    con.execute(f"ATTACH {literal(str(b.warehouse))} AS b (READ_ONLY)")
    tables = [r[0] for r in con.sql("SELECT table_name FROM duckdb_tables() WHERE database_name = 'a'").fetchall()]
    pairs = {table: (f"a.{table}", f"b.{table}") for table in sorted(tables)}
    version = "(SELECT * EXCLUDE (applied_at) FROM {}.schema_version)"
    pairs["schema_version"] = (version.format("a"), version.format("b"))
    for name, layout in (("lake_a", a), ("lake_b", b)):
        con.execute(Lake(str(layout.lake)).view_sql(f"{name}_files"))
        home = literal(f"{layout.root}/")
        con.execute(
            f"CREATE VIEW {name} AS SELECT * REPLACE (replace(x_SourceFile, {home}, '') AS x_SourceFile) "
            f"FROM {name}_files"
        )
    pairs["lake:focus_costs"] = ("lake_a", "lake_b")
    result = {}
    for table, (left, right) in pairs.items():
        rows = con.sql(f"SELECT count(*) FROM {left}").fetchall()[0][0]
        only_a = con.sql(f"SELECT count(*) FROM (FROM {left} EXCEPT ALL FROM {right})").fetchall()[0][0]
        only_b = con.sql(f"SELECT count(*) FROM (FROM {right} EXCEPT ALL FROM {left})").fetchall()[0][0]
        result[table] = (int(rows), int(only_a), int(only_b))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--postgres-admin", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wedcloud-celery-bench-"))
    layout, sources, first = sandbox(root / "one", args.months)
    months = months_between(first, date(AS_OF.year, AS_OF.month, 1))[: args.months]
    shutil.copytree(layout.root, root / "celery")
    name = f"wedcloud_bench_{secrets.token_hex(4)}"
    admin = create_engine(args.postgres_admin, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    pg = (
        make_url(args.postgres_admin)
        .set(drivername="postgresql+psycopg2", database=name)
        .render_as_string(hide_password=False)
    )
    try:
        one = baseline(layout, sources, months, first)
        print(f"one process: {len(months)} months x {len(sources)} sources in {one:.1f} s", flush=True)
        wall, codes, logs = celery(HomeLayout(root / "celery"), sources, months, first, args.workers, pg)
    finally:
        with admin.connect() as c:
            c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    print(
        f"celery ({args.workers} workers, {len(months)} concurrent runs): {wall:.1f} s; "
        f"runs exited {sorted(set(codes))}"
    )
    print(f"lock failures: {logs.count('Could not set lock')}")
    diff = differences(layout, HomeLayout(root / "celery"))
    for table, (rows, only_one, only_celery) in diff.items():
        print(f"  {table}: {rows} rows; {only_one} only in one-process, {only_celery} only in celery")
    same = all(d[1:] == (0, 0) for d in diff.values()) and diff["lake:focus_costs"][0] > 0
    print(f"celery / one process: {wall / one:.2f}x; warehouses identical: {same}")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
