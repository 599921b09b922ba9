"""The resource endpoints at the issue's scale: listing with 100,000 resources in the store, and
importing 100,000 sandbox resources with one sync.

Part of ``benchmarks/scale.py`` (``resources``); see its docstring.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx2 as httpx
from sqlalchemy import insert, select

from benchmarks.apiload import api_server, compare
from benchmarks.collector import postgres_database
from benchmarks.resources_api import build_home, until_done
from clouds.sandbox import state
from clouds.sandbox.blueprint import Kind
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import DEFAULT_WORLD, SandboxResource, load_world
from control_plane.store.db import make_engine
from wedcloud.home import HomeLayout

LISTINGS = {
    "/resources (first page)": "/api/cloud/resources",
    "/resources?region&type": "/api/cloud/resources?region=eu-west-2&type=compute&limit=50",
}
TARGET_P95_MS = {"cache": 50.0, "no cache": 150.0}
TARGET_SYNC_S = 60.0


@contextmanager
def store(postgres: str | None) -> Iterator[str | None]:
    """A new PostgreSQL database on ``postgres`` (dropped after), or None for SQLite in the home."""
    with postgres_database(postgres) if postgres else nullcontext(None) as url:
        yield url


def listing(
    root: Path, *, postgres: str | None, count: int, seconds: float, concurrency: int, port: int, workers: int
) -> list[str]:
    """Drive each listing with the page cache off, then on; returns the summary lines."""
    backend = "PostgreSQL" if postgres else "SQLite"
    lines = []
    with store(postgres) as url:
        print(f"[{backend}] building a store with {count:,} resources...", flush=True)
        started = time.perf_counter()
        layout, key, _ = build_home(root, count, url)
        print(f"  built in {time.perf_counter() - started:.1f} s", flush=True)
        environment = {"WEDCLOUD_RECONCILE_EVERY_SECONDS": "0", **({"WEDCLOUD_DATABASE_URL": url} if url else {})}
        options = ["--workers", str(workers)] if workers > 1 else []
        for cache, entries in (("no cache", {"WEDCLOUD_RESPONSE_CACHE_ENTRIES": "0"}), ("cache", {})):
            with api_server(layout.root, port, options=options, **environment, **entries) as base:
                for label, path in LISTINGS.items():
                    seen = compare(base, path, {"X-API-Key": key}, f"{label} ({cache})", seconds, concurrency)
                    target = TARGET_P95_MS[cache]
                    verdict = "met" if seen.p95 * 1000 < target else "MISSED"
                    lines.append(
                        f"{backend} x{workers} {label} {cache}: p50 {seen.p50 * 1000:.1f} ms, p95 "
                        f"{seen.p95 * 1000:.1f} ms (target {target:.0f}: {verdict}); bare p95 "
                        f"{seen.bare_p95 * 1000:.1f} ms; throughput {seen.ratio:.2f}x bare"
                    )
                    print(lines[-1], flush=True)
    return lines


def add_sandbox_resources(url: str, count: int) -> None:
    """``count`` more live resources in the sandbox world's AWS flavour, copies of its own
    (instances, volumes, databases, buckets) with ids and names of their own, each with the
    ``created`` event the world gives every resource."""
    engine = make_engine(url)
    world = load_world(engine, DEFAULT_WORLD)
    assert world is not None
    models = [
        r for r in world.resources_of(FlavourKey.AWS) if r.kind != Kind.EGRESS and r.terminated_at is None
    ]  # fmt: skip
    made: list[SandboxResource] = []
    for index in range(count):
        model = models[index % len(models)]
        made.append(replace(model, id=f"{model.id}-scale-{index}", name=f"{model.name}-{index}"))
    with engine.begin() as connection:
        connection.execute(
            insert(state.resources),
            [
                {
                    "id": r.id, "world": world.name, "flavour": r.flavour.value, "account_id": r.account_id,
                    "blueprint": r.blueprint, "name": r.name, "kind": r.kind.value, "region": r.region,
                    "zone": r.zone, "size": r.size, "state": r.state, "tags": r.tags, "spec": r.spec,
                    "created_at": r.created_at, "terminated_at": None,
                }
                for r in made
            ],
        )  # fmt: skip
        connection.execute(
            insert(state.events),
            [{"resource_id": r.id, "at": r.created_at, "event": "created", "detail": {"size": r.size}} for r in made],
        )
        listed = connection.execute(select(state.resources.c.id).where(state.resources.c.flavour == "aws")).all()
    engine.dispose()
    print(f"  sandbox world: {len(listed):,} AWS resources", flush=True)


def listed_alone(layout: HomeLayout, url: str) -> tuple[float, int]:
    """Baseline: the sandbox adapter listing its resources, nothing stored."""
    engine = make_engine(url)
    cloud = SandboxCloud(engine, flavour=FlavourKey.AWS, exports_dir=layout.exports)
    started = time.perf_counter()
    count = sum(1 for _ in cloud.list_resources())
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed, count


def sync(root: Path, *, postgres: str | None, count: int, port: int) -> list[str]:
    """``POST /providers/{id}/sync`` of ``count`` new sandbox resources until its operation ends,
    then again (nothing changed), beside the adapter's listing alone."""
    backend = "PostgreSQL" if postgres else "SQLite"
    lines = []
    with store(postgres) as url:
        print(f"[{backend}] a sandbox world with {count:,} more resources...", flush=True)
        layout, key, provider_id = build_home(root, 0, url)
        url = url or layout.default_database_url()
        add_sandbox_resources(url, count)
        bare, listed = listed_alone(layout, url)
        environment = {"WEDCLOUD_RECONCILE_EVERY_SECONDS": "0", "WEDCLOUD_DATABASE_URL": url}
        path = f"/api/cloud/providers/{provider_id}/sync"
        with (
            api_server(layout.root, port, **environment) as base,
            httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=600) as client,
        ):
            first, operation = until_done(client, path)
            again, repeated = until_done(client, path)
        verdict = "met" if first < TARGET_SYNC_S else "MISSED"
        lines.append(
            f"{backend} sync of {listed:,} sandbox resources: first {first:.2f} s (target {TARGET_SYNC_S:.0f}: "
            f"{verdict}; {operation['result']['counts']}), again {again:.2f} s ({repeated['result']['counts']}); "
            f"the adapter's listing alone {bare:.2f} s: {first / bare:.1f}x"
        )
        print(lines[-1], flush=True)
    return lines


def run_resources(
    root: Path,
    *,
    postgres: str | None,
    count: int,
    sync_count: int,
    seconds: float,
    concurrency: int,
    port: int,
    workers: Sequence[int],
    backends: Sequence[str],
) -> list[str]:
    lines: list[str] = []
    for backend in backends:
        server = postgres if backend == "postgres" else None
        for number in workers if count else ():  # --resources 0: the sync alone
            lines += listing(
                root / f"{backend}-list-{number}", postgres=server, count=count, seconds=seconds,
                concurrency=concurrency, port=port, workers=number,
            )  # fmt: skip
        if sync_count:
            lines += sync(root / f"{backend}-sync", postgres=server, count=sync_count, port=port)
    print(f"finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    return lines
