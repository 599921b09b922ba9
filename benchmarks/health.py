"""The health rollup, a page of ?detail=resources and a Prometheus scrape over a large fleet, in
process on SQLite (or ``--url`` PostgreSQL): 10,000 resources on three providers with 12
samples each (the last six minutes at 30 s: 120,000 rows), 50 firing alerts, the collector's
status rows. Beside them, the baseline: the part of the health check every answer had before
(``SELECT 1`` and the schema revision) on the same store.

    uv run python benchmarks/health.py [--resources 10000] [--url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from prometheus_client import generate_latest
from sqlalchemy.orm import Session

from control_plane.monitoring import exposition
from control_plane.monitoring.health import _store, check_health, resource_page
from control_plane.monitoring.samples import floor_time, write_samples
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import AlertRule, MonitorAlert, MonitorStatus
from wedcloud.home import HomeLayout
from wedcloud.sqltypes import utcnow


def median_ms(run: Callable[[], object], times: int = 7) -> tuple[float, list[float]]:
    taken = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        taken.append((time.perf_counter() - started) * 1000)
    return statistics.median(taken), taken


def build(session: Session, resources: int) -> None:
    now = utcnow()
    providers = [Provider(id=uuid.uuid4(), kind="aws", name=f"p{i}", default_region="eu-west-2") for i in range(3)]
    session.add_all(providers)
    session.flush()
    ids = []
    for index in range(resources):
        rid = uuid.uuid4()
        ids.append((rid, providers[index % 3].id))
        session.add(Resource(
            id=rid, provider_id=providers[index % 3].id, cloud_id=f"i-{index}", name=f"web-{index:05d}",
            resource_type="compute", subtype="instance", region="eu-west-2", state="running",
            desired_state="running" if index % 50 else "stopped",
        ))  # fmt: skip
    session.flush()
    start = floor_time(now, timedelta(seconds=30)) - timedelta(minutes=6)
    write_samples(session, [
        {"resource_id": rid, "provider_id": pid, "at": start + timedelta(seconds=30 * step), "cpu": 40.0 + step,
         "memory": 50.0, "cost_rate": 0.1}
        for step in range(12) for rid, pid in ids
    ])  # fmt: skip
    rule = AlertRule(name="cpu-hot", kind="threshold", spec={}, severity="critical")
    session.add(rule)
    session.flush()
    for index, (rid, pid) in enumerate(ids[:50]):
        session.add(MonitorAlert(rule_id=rule.id, fingerprint=str(index), open_key=str(index), state="firing",
                                 severity="critical", resource_id=rid, provider_id=pid))  # fmt: skip
    for provider in providers:
        session.add(MonitorStatus(name=f"provider:{provider.id}", provider_id=provider.id, ok=True,
                                  last_attempt_at=now, last_success_at=now, recent=[]))  # fmt: skip
    session.add(MonitorStatus(name="collector", ok=True, last_attempt_at=now, last_success_at=now, detail={}))
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        layout = HomeLayout(Path(scratch))
        url = args.url or f"sqlite:///{scratch}/state.db"
        engine = make_engine(url)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            build(session, args.resources)
        settings = MonitorSettings()
        with sessions() as session:
            base, _ = median_ms(lambda: _store(session))
            health, runs = median_ms(
                lambda: check_health(session, snapshot=None, layout=layout, stale_after_hours=36, settings=settings)
            )
            page, _ = median_ms(lambda: resource_page(session, limit=50, cursor=None, settings=settings))
        collector = exposition.StoreCollector(sessions, layout=layout, settings=settings)
        scrape, _ = median_ms(lambda: generate_latest(exposition.registry(collector)), times=5)
        size = len(generate_latest(exposition.registry(collector)))
        engine.dispose()
    print(f"{engine.dialect.name}, {args.resources:,} resources, {args.resources * 12:,} samples")
    print(f"baseline (SELECT 1 + schema revision): median {base:.2f} ms")
    print(f"health rollup: median {health:.2f} ms ({', '.join(f'{r:.1f}' for r in runs)})")
    print(f"detail=resources page of 50: median {page:.2f} ms")
    print(f"prometheus scrape: median {scrape:.1f} ms, {size:,} bytes")
    print(f"health rollup / baseline: {health / base:.1f}x")


if __name__ == "__main__":
    main()
