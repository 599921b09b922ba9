"""One alert evaluation round over a fleet: 10,000 resources with 30-second samples.

Builds a state store (SQLite in a temporary directory, or ``--database-url``) with
``--resources`` resources of one provider, each with 10 minutes of 30-second CPU samples; a
fifth of them run above 90%. Three rules are evaluated: a fleet-wide ``cpu > 90`` threshold
(avg over 60 s, ``for`` 0), a fleet-wide absence rule (5 minutes) and the built-in
provider_unreachable rule. Times, ``--repeat`` times each:

- baseline: the bare read the threshold rule cannot do without (the window's samples,
  ``SELECT resource_id, cpu ... WHERE at in the window``, fetched);
- round: ``lifecycle.evaluate`` at the same instant, one transaction.

The first round opens the alerts (one per hot resource, each with its transition and stream
event) and is printed apart; the repeated rounds are the steady state (no transition). Medians
are printed, and the last line gives the steady round's ratio to the baseline.

    uv run python benchmarks/alert_rules.py [--resources 10000] [--repeat 5] [--database-url URL]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

from control_plane.monitoring import lifecycle, samples
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.migrate import upgrade
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import AlertRule, MetricSample

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def build(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        provider = Provider(kind="sandbox", name="sandbox-aws", regions=["eu-west-2"])
        session.add(provider)
        session.flush()
        ids = [uuid.uuid4() for _ in range(count)]
        session.execute(insert(Resource), [
            {"id": rid, "provider_id": provider.id, "cloud_id": f"i-{n:05}", "name": f"vm-{n:05}",
             "resource_type": "compute", "subtype": "vm", "region": "eu-west-2", "state": "running", "tags": {},
             "created_at": NOW - timedelta(days=1)}
            for n, rid in enumerate(ids)
        ])  # fmt: skip
        rows = [
            {"resource_id": rid, "provider_id": provider.id, "at": NOW - timedelta(seconds=30 * k),
             "cpu": 95.0 if n % 5 == 0 else 40.0, "memory": 50.0}
            for n, rid in enumerate(ids) for k in range(20)
        ]  # fmt: skip
        samples.write_samples(session, rows)
        selector = {"provider": [], "resources": [], "tags": {}}
        session.add_all([
            AlertRule(name="cpu high", kind="threshold", severity="critical", labels={}, annotations={}, routes=[],
                      grouping={}, spec={"metric": "cpu", "selector": selector, "aggregation": "avg", "window": 60.0,
                                         "comparator": ">", "threshold": 90.0, "for": 0.0, "hold": 60.0}),
            AlertRule(name="silent", kind="absence", severity="warning", labels={}, annotations={}, routes=[],
                      grouping={}, spec={"selector": selector, "minutes": 5, "for": 0.0, "hold": 60.0}),
        ])  # fmt: skip
    engine.dispose()


def baseline(sessions: object) -> float:
    start = time.perf_counter()
    with sessions() as session:  # type: ignore[operator]
        query = select(MetricSample.resource_id, MetricSample.cpu).where(
            MetricSample.at > NOW - timedelta(seconds=60), MetricSample.at <= NOW
        )
        rows = session.execute(query).all()
    assert rows
    return time.perf_counter() - start


def round_(sessions: object) -> tuple[float, int]:
    start = time.perf_counter()
    done = lifecycle.evaluate(sessions, now=NOW)  # type: ignore[arg-type]
    return time.perf_counter() - start, len(done)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resources", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'state.db'}"
        build(url, args.resources)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        first, opened = round_(sessions)
        print(f"first round: {first * 1000:.1f} ms, {opened} transitions (alerts opened)")
        bare, steady = [], []
        for _ in range(args.repeat):
            bare.append(baseline(sessions))
            seconds, moved = round_(sessions)
            assert moved == 0, moved
            steady.append(seconds)
        engine.dispose()
    b, s = statistics.median(bare), statistics.median(steady)
    print(f"{args.resources} resources, {engine.dialect.name}; medians of {args.repeat}")
    print(f"baseline (window's samples read): {b * 1000:.1f} ms  {[round(x * 1000, 1) for x in bare]}")
    print(f"steady round (3 rules, no transition): {s * 1000:.1f} ms  {[round(x * 1000, 1) for x in steady]}")
    print(f"ratio: steady round / baseline = {s / b:.2f}x")


if __name__ == "__main__":
    main()
