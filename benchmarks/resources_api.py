"""The resource endpoints under load: listing 10,000 resources, and provisioning 1,000 at once.

Builds a home with a sandbox world, one sandbox provider and 10,000 resources in the state
store, starts the API with uvicorn in its own process, then:
- drives ``GET /api/cloud/resources`` with a filter (region and type, 50 a page) and the bare
  liveness endpoint (``/api/healthz``, no key, no database) with the same concurrency for the
  same time, one after the other; prints p50/p95/p99 and throughput of both and the ratio.
  It does so twice: with the page cache off (every request queries the store: the worst case,
  a store that changes between every two requests) and with the default cache;
- posts one ``bulk-provision`` of 1,000 sandbox resources and times it until its operation has
  finished, beside 1,000 provisions straight through the sandbox adapter (no API, no store).

    uv run python benchmarks/resources_api.py [--seconds 20] [--concurrency 50] [--resources 10000]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx2 as httpx
from sqlalchemy import insert
from sqlalchemy.orm import Session

from benchmarks.apiload import against_bare, api_server
from clouds.base import ProvisionRequest, ResourceType
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.services.providers import create_sandbox_provider
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import Resource
from wedcloud.home import HomeLayout

REGIONS = ("us-east-1", "eu-west-2", "eu-west-1")
SIZES = (("t3.medium", "0.0416"), ("m5.large", "0.0960"), ("m5.xlarge", "0.1920"), ("r5.large", "0.1260"))
TEAMS = ("bookings", "payments", "search", "photos", "messaging")


def build_home(root: Path, count: int, database_url: str | None = None) -> tuple[HomeLayout, str, str]:
    """A home with the sandbox world, one sandbox provider, an operator key and ``count``
    resources, its store in ``database_url`` (SQLite in the home when None)."""
    layout = HomeLayout(root).ensure()
    engine = make_engine(database_url or layout.default_database_url())
    upgrade(engine)
    today = datetime.now(UTC).date()
    save_world(engine, build_world(7, today + timedelta(days=1), today - timedelta(days=30)))
    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="bench", role=Role.OPERATOR)
        provider = create_sandbox_provider(
            session, name="sandbox-aws", flavour=FlavourKey.AWS, default_region=None, tags={}
        )
        provider_id = provider.id
        provider.regions = list(REGIONS)
    rows = []
    chance = random.Random(11)
    now = datetime.now(UTC)
    for index in range(count):
        kind = chance.choice((ResourceType.COMPUTE, ResourceType.COMPUTE, ResourceType.STORAGE, ResourceType.DATABASE))
        size, price = chance.choice(SIZES)
        rows.append(
            {
                "id": uuid.uuid4(), "provider_id": provider_id, "cloud_id": f"bench-{index}",
                "name": f"{chance.choice(TEAMS)}-{index}", "resource_type": kind.value,
                "subtype": {"compute": "instance", "storage": "volume", "database": "database"}[kind.value],
                "region": chance.choice(REGIONS), "zone": None, "size": size,
                "state": chance.choice(("running", "running", "running", "stopped", "terminated")),
                "account_id": "111122223333", "tags": {"team": chance.choice(TEAMS), "env": "production"},
                "details": {}, "protected": False, "hourly_cost": Decimal(price), "cost_currency": "USD",
                "launched_at": now, "created_at": now - timedelta(seconds=count - index), "updated_at": now,
                "last_seen_at": now, "terminated_at": None,
            }
        )  # fmt: skip
    if rows:
        with engine.begin() as connection:
            connection.execute(insert(Resource), rows)
    engine.dispose()
    return layout, key, str(provider_id)


def direct_provisions(layout: HomeLayout, count: int) -> float:
    """Baseline: the sandbox adapter alone, ``count`` provisions in a row."""
    engine = make_engine(layout.default_database_url())
    cloud = SandboxCloud(engine, flavour=FlavourKey.AWS, exports_dir=layout.exports)
    started = time.perf_counter()
    for index in range(count):
        cloud.provision(
            ProvisionRequest(
                name=f"direct-{index}", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.medium",
                options={"client_token": f"direct-{index}"},
            )
        )  # fmt: skip
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def bulk_provision(base: str, key: str, provider_id: str, count: int) -> tuple[float, dict[str, int]]:
    specs = [
        {"provider_id": provider_id, "name": f"bulk-{i}", "type": "compute", "size": "m5.large", "region": "eu-west-2"}
        for i in range(count)
    ]
    headers = {"X-API-Key": key}
    with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
        elapsed, operation = until_done(client, "/api/cloud/resources/bulk-provision", {"specs": specs})
    return elapsed, operation["result"]["counts"]


def until_done(client: httpx.Client, path: str, body: dict[str, Any] | None = None) -> tuple[float, dict[str, Any]]:
    """POST an operation and poll it until it ends; its seconds and its final state (stops the
    benchmark if it failed)."""
    started = time.perf_counter()
    response = client.post(path, json=body)
    response.raise_for_status()
    location = response.headers["location"]
    while True:
        operation: dict[str, Any] = client.get(location).json()
        if operation["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if operation["status"] != "succeeded":
        raise SystemExit(f"{path} failed: {operation['error']}")
    return elapsed, operation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--bulk", type=int, default=1000)
    parser.add_argument("--port", type=int, default=18766)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wedcloud-bench-") as tmp:
        print(f"building a home with {args.resources:,} resources...", flush=True)
        layout, key, provider_id = build_home(Path(tmp), args.resources)
        listing = "/api/cloud/resources?region=eu-west-2&type=compute&limit=50"
        headers = {"X-API-Key": key}
        # first with no page cache: every request queries the store and serialises the page
        with api_server(layout.root, args.port, WEDCLOUD_RECONCILE_EVERY_SECONDS="0",
                        WEDCLOUD_RESPONSE_CACHE_ENTRIES="0") as base:  # fmt: skip
            ratio = against_bare(base, listing, headers, "/resources (no cache)", args.seconds, args.concurrency)
            print(f"uncached listing throughput is {ratio:.2f}x the bare endpoint's")
        with api_server(layout.root, args.port, WEDCLOUD_RECONCILE_EVERY_SECONDS="0") as base:
            ratio = against_bare(base, listing, headers, "/resources?region&type", args.seconds, args.concurrency)
            print(f"listing throughput is {ratio:.2f}x the bare endpoint's (pages cached until the table changes)")
            elapsed, counts = bulk_provision(base, key, provider_id, args.bulk)
            print(f"bulk-provision of {args.bulk:,} sandbox resources: {elapsed:.2f} s ({counts})")
        direct = direct_provisions(layout, args.bulk)
        print(f"baseline: {args.bulk:,} provisions through the sandbox adapter alone: {direct:.2f} s")
        print(f"bulk-provision takes {elapsed / direct:.2f}x the adapter alone")


if __name__ == "__main__":
    main()
