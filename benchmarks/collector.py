"""The collector's cycle for 10,000 sandbox resources, and the store's size after 6 hours.

    uv run python benchmarks/collector.py [--resources 10000] [--baseline 1000] [--cycles 5]
                                          [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]

One sandbox provider with ``--resources`` running instances (made directly in the sandbox's
tables and the store's ``resources``, as a synced inventory would hold them) on SQLite in a
temporary home. The first cycle is timed on its own (it computes every resource's hourly curve;
a running collector does that once an hour), then ``--cycles`` cycles 30 s apart, of which the
median is the figure (target: < 10 s per 30-second cycle). The baseline is the same cycle for
``--baseline`` resources in the same run: the ratio says how the cycle scales.

Then the store's size: one hour of samples for every resource (120 cycles' rows, written
directly with ``samples.write_samples``) plus its twelve 5-minute rollups, measured as the SQLite
file's growth (and, with ``--postgres``, ``pg_total_relation_size`` of both tables in a new
database dropped afterwards), and extrapolated to the 6 hours raw samples are kept.
"""

from __future__ import annotations

import argparse
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from clouds.sandbox import state
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world
from control_plane.monitoring import samples
from control_plane.monitoring.collector import run_cycle
from control_plane.monitoring.settings import MonitorSettings
from control_plane.services.providers import adapter_for, create_sandbox_provider
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade
from control_plane.store.models import Provider, Resource
from wedcloud.home import HomeLayout

T0 = datetime(2026, 12, 6, 9, 10, 10, tzinfo=UTC)
WORKLOADS = ("api", "database", "web", "nightly_batch", "office_hours", "idle", "oversized")


def build(engine: Engine, count: int) -> Provider:
    """A world, one sandbox provider and ``count`` running instances known to both sides."""
    save_world(engine, build_world(4, T0.date(), date(2026, 6, 1)), created_at=T0)
    with Session(engine) as session, session.begin():
        provider = create_sandbox_provider(session, name="bench", flavour=FlavourKey.AWS, default_region=None, tags={})
        session.flush()
        account = session.execute(
            text("SELECT id FROM sandbox_accounts WHERE flavour = 'aws' AND role = 'prod'")
        ).scalar_one()
        cloud_rows, store_rows = [], []
        for n in range(count):
            cloud_id = f"i-bench{n:08d}"
            workload = WORKLOADS[n % len(WORKLOADS)]
            cloud_rows.append(
                {"id": cloud_id, "world": "default", "flavour": "aws", "account_id": account, "blueprint": f"bench-{n}",
                 "name": f"bench-{n}", "kind": "instance", "region": "eu-west-2", "zone": "eu-west-2a",
                 "size": "m5.large", "state": "running", "tags": {"env": "bench"},
                 "spec": {"workload": workload if workload != "web" else "api", "storage_gb": 50}, "created_at": T0}
            )  # fmt: skip
            store_rows.append(
                {"id": uuid.uuid4(), "provider_id": provider.id, "cloud_id": cloud_id, "name": f"bench-{n}",
                 "resource_type": "compute", "subtype": "instance", "region": "eu-west-2", "size": "m5.large",
                 "state": "running", "tags": {"env": "bench"}, "details": {}, "hourly_cost": Decimal("0.096"),
                 "cost_currency": "USD"}
            )  # fmt: skip
        for chunk in range(0, count, 5000):
            session.execute(insert(state.resources), cloud_rows[chunk : chunk + 5000])
            session.execute(insert(Resource), store_rows[chunk : chunk + 5000])
    return provider


def time_cycles(count: int, cycles: int, root: Path) -> tuple[float, list[float], int, int]:
    """(first cycle's seconds, the next cycles' seconds, samples and events of the last)."""
    engine = make_engine(f"sqlite:///{root / f'cycle-{count}.db'}")
    upgrade(engine)
    build(engine, count)
    layout = HomeLayout(root / f"home-{count}")
    layout.ensure()
    sessions = make_sessionmaker(engine)
    settings = MonitorSettings(interval_seconds=30)

    def run(now: datetime) -> Any:
        def pinned(provider: Provider, session: Session) -> Any:
            adapter = adapter_for(provider, session=session, layout=layout)
            assert isinstance(adapter, SandboxCloud)
            adapter.clock = lambda: now
            return adapter

        report = run_cycle(sessions, now=now, settings=settings, layout=layout, adapters=pinned)
        assert all(p.ok for p in report.providers), report.line()
        return report

    first = run(T0)
    times = []
    for n in range(1, cycles + 1):
        report = run(T0 + timedelta(seconds=30 * n))
        times.append(report.seconds)
    engine.dispose()
    return first.seconds, times, report.samples, report.events


def _hour_of_rows(ids: list[tuple[uuid.UUID, uuid.UUID]], start: datetime) -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(5)
    for step in range(120):
        at = start + timedelta(seconds=30 * step)
        yield [
            {"resource_id": r, "provider_id": p, "at": at, "cpu": rng.uniform(0, 100), "memory": rng.uniform(0, 100),
             "network_in": rng.uniform(0, 1e8), "network_out": rng.uniform(0, 1e8), "disk_read": rng.uniform(0, 1e4),
             "disk_write": rng.uniform(0, 1e4), "cost_rate": 0.096}
            for r, p in ids
        ]  # fmt: skip


def fill_an_hour(engine: Engine, count: int) -> float:
    """Write an hour of samples and their rollups for ``count`` resources; returns seconds."""
    provider = uuid.uuid4()
    ids = [(uuid.uuid4(), provider) for _ in range(count)]
    start = T0.replace(minute=0, second=0)
    began = time.perf_counter()
    for rows in _hour_of_rows(ids, start):
        with Session(engine) as session, session.begin():
            samples.write_samples(session, rows)
    with Session(engine) as session, session.begin():
        samples.roll_up(session, start=start, end=start + timedelta(hours=1))
    return time.perf_counter() - began


@contextmanager
def postgres_database(server: str) -> Iterator[str]:
    name = f"wedcloud_bench_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def store_size(count: int, root: Path, postgres: str | None, *, sqlite: bool = True) -> None:
    if sqlite:
        sqlite_size(count, root)
    if postgres is not None:
        postgres_size(count, postgres)


def sqlite_size(count: int, root: Path) -> None:
    path = root / "size.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    empty = path.stat().st_size
    seconds = fill_an_hour(engine, count)
    engine.dispose()
    hour = path.stat().st_size - empty
    print(
        f"SQLite: one hour of samples for {count:,} resources ({120 * count:,} rows + {12 * count:,} rollups) "
        f"= {hour / 2**20:,.1f} MiB, written in {seconds:.1f} s; 6 hours (extrapolated, x6): {6 * hour / 2**30:.2f} GiB"
    )


def postgres_size(count: int, postgres: str) -> None:
    with postgres_database(postgres) as url:
        engine = make_engine(url)
        upgrade(engine)
        seconds = fill_an_hour(engine, count)
        with engine.connect() as connection:
            raw, rolled = connection.execute(
                text("SELECT pg_total_relation_size('metric_samples'), pg_total_relation_size('metric_rollups')")
            ).one()
        engine.dispose()
    print(
        f"PostgreSQL: one hour = samples {raw / 2**20:,.1f} MiB + rollups {rolled / 2**20:,.1f} MiB "
        f"(pg_total_relation_size, with indexes), written in {seconds:.1f} s; "
        f"6 hours (extrapolated, x6): {6 * (raw + rolled) / 2**30:.2f} GiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--baseline", type=int, default=1_000)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--postgres", default=None, help="A PostgreSQL server URL (its admin database).")
    parser.add_argument("--skip-size", action="store_true")
    parser.add_argument("--skip-cycles", action="store_true", help="Only the store's size.")
    parser.add_argument("--skip-sqlite-size", action="store_true", help="The store's size on PostgreSQL only.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        results = {}
        for count in () if args.skip_cycles else (args.baseline, args.resources):
            first, times, written, published = time_cycles(count, args.cycles, root)
            results[count] = statistics.median(times)
            print(
                f"{count:,} resources: first cycle {first:.2f} s; next {len(times)} cycles "
                f"{', '.join(f'{t:.2f}' for t in times)} s, median {results[count]:.2f} s "
                f"({written:,} samples and {published:,} events per cycle)"
            )
        if not args.skip_size:
            store_size(args.resources, root, args.postgres, sqlite=not args.skip_sqlite_size)
    if args.skip_cycles:
        return
    big, small = results[args.resources], results[args.baseline]
    print(
        f"cycle median for {args.resources:,} resources {big:.2f} s (target < 10 s of a 30 s interval) vs "
        f"{small:.2f} s for {args.baseline:,}: {big / small:.1f}x for {args.resources / args.baseline:.0f}x as many"
    )


if __name__ == "__main__":
    main()
