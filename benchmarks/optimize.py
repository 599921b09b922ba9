"""Optimisation rules over 10,000 instances with 14 days of 5-minute samples, end to end.

Generates once, outside the timing, a fleet of ``--instances`` running instances of twelve types
(two architectures, list prices, network capacity), an effective rate per instance (a random
discount off list), and ``--days`` of 5-minute samples in the long metrics format of
``clouds.base.METRICS_SCHEMA``: cpu_percent, network_in_bytes and network_out_bytes for every
instance, memory_percent for 70% of them (the rest have no agent). Some instances are planted
idle (CPU around 1%, almost no traffic) and some oversized (low CPU and memory), the rest busy.
A small inventory of volumes, addresses and stopped instances goes to the other two rules.

Then times, in this process, each ``--repeat`` times:
- baseline: DuckDB computing the per-instance percentiles the rules need, alone, over the same
  Arrow table registered without a copy: P95 of hourly max CPU and of hourly network over 7
  days, P95 of hourly max CPU and P99 of hourly max memory over 14 days;
- analysis: ``analytics.optimisation.analysis.analyse`` as the pipeline runs it: ``idle``,
  ``rightsize`` and ``schedules`` (a fifth of the fleet is tagged dev) over the polars frame,
  ``unattached`` and ``stopped_paying`` over the small inventory, and a compute commitment over
  30 days of hourly usage per instance, sized net of the rest, to the Recommendation objects.
Medians are printed with peak memory (``getrusage``), and the last line gives the ratio.

    uv run python benchmarks/optimize.py [--instances 10000] [--days 14] [--repeat 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import duckdb
import numpy as np
import polars as pl

from analytics.optimisation.analysis import analyse as run_all
from analytics.optimisation.inputs import Inputs
from analytics.optimisation.model import Catalogue, Rates, Recommendation, Resource
from clouds.base import METRICS_SCHEMA, InstanceType, ResourceState

NOW = datetime(2026, 11, 27, tzinfo=UTC)
STEP = timedelta(minutes=5)
A = TypeVar("A")
T = TypeVar("T")
PROVIDER, REGION = "aws", "us-east-1"
MEMORY_SHARE = 0.7  # instances with a memory agent
IDLE_SHARE, OVERSIZED_SHARE = 0.08, 0.3
SIDE_INVENTORY = 200  # of each: volumes, addresses, stopped instances
# name, vCPU, GiB, USD an hour, architecture, Gbps
TYPES = (
    ("t3.medium", 2, 4, "0.0416", "x86_64", "5"),
    ("c5.large", 2, 4, "0.085", "x86_64", "10"),
    ("m5.large", 2, 8, "0.096", "x86_64", "10"),
    ("r5.large", 2, 16, "0.126", "x86_64", "10"),
    ("m5.xlarge", 4, 16, "0.192", "x86_64", "10"),
    ("c5.2xlarge", 8, 16, "0.34", "x86_64", "10"),
    ("m5.2xlarge", 8, 32, "0.384", "x86_64", "10"),
    ("m5.4xlarge", 16, 64, "0.768", "x86_64", "10"),
    ("m6g.large", 2, 8, "0.077", "arm64", "10"),
    ("m6g.xlarge", 4, 16, "0.154", "arm64", "10"),
    ("m6g.2xlarge", 8, 32, "0.308", "arm64", "10"),
    ("r6g.xlarge", 4, 32, "0.2016", "arm64", "10"),
)
BASELINE_SQL = """
WITH hourly AS (
    SELECT resource_id, epoch_us("timestamp") // 3600000000 AS hour,
           max(value) FILTER (WHERE metric = 'cpu_percent') AS cpu,
           max(value) FILTER (WHERE metric = 'memory_percent') AS memory,
           sum(value) FILTER (WHERE metric IN ('network_in_bytes', 'network_out_bytes')) AS network
    FROM metrics
    WHERE "timestamp" >= $start AND "timestamp" < $now
    GROUP BY ALL
)
SELECT resource_id,
       quantile_cont(cpu, 0.95) FILTER (WHERE hour >= epoch_us($week) // 3600000000) AS idle_cpu_p95,
       quantile_cont(network, 0.95) FILTER (WHERE hour >= epoch_us($week) // 3600000000) AS idle_network_p95,
       quantile_cont(cpu, 0.95) AS cpu_p95,
       quantile_cont(memory, 0.99) AS memory_p99
FROM hourly
GROUP BY resource_id
"""
"""Hours as integers (UTC epoch hours): date_trunc on a TIMESTAMPTZ goes through the time-zone
calendar and made this baseline 2.3x slower, which would flatter the rules."""


@dataclass(frozen=True)
class Fleet:
    """The generated inputs, and which instances were planted idle or busy (for the check)."""

    metrics: pl.DataFrame
    inventory: list[Resource]
    catalogue: Catalogue
    rates: Rates
    planted_idle: str
    planted_busy: str
    commitment_usage: pl.DataFrame


def _catalogue() -> list[InstanceType]:
    return [
        InstanceType(name, name.split(".")[0], cpu, Decimal(mem), Decimal(price), architecture=arch,
                     network_gbps=Decimal(gbps))
        for name, cpu, mem, price, arch, gbps in TYPES
    ]  # fmt: skip


def _levels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per instance: profile (0 idle, 1 oversized, 2 busy), mean CPU %, mean memory %, traffic
    as a share of link capacity. Idle means ~1% CPU and ~0.1% of the link, as the rule expects."""
    profile = np.where(
        rng.random(n) < IDLE_SHARE, 0, np.where(rng.random(n) < OVERSIZED_SHARE / (1 - IDLE_SHARE), 1, 2)
    )
    cpu = np.choose(profile, [rng.uniform(0.3, 1.2, n), rng.uniform(4, 12, n), rng.uniform(35, 75, n)])
    memory = np.choose(profile, [rng.uniform(5, 15, n), rng.uniform(10, 25, n), rng.uniform(40, 85, n)])
    traffic = np.choose(profile, [rng.uniform(1e-4, 1e-3, n), rng.uniform(0.02, 0.1, n), rng.uniform(0.05, 0.3, n)])
    return profile, cpu, memory, traffic


def _metric_frame(name: str, ids: pl.Series, who: np.ndarray, samples: int, values: np.ndarray) -> pl.DataFrame:
    """``samples`` consecutive 5-minute samples ending at NOW for each instance in ``who``."""
    start = int((NOW - STEP * samples).timestamp() * 1_000_000)
    stamps = start + np.arange(samples, dtype=np.int64) * int(STEP.total_seconds() * 1_000_000)
    return pl.DataFrame(
        {
            "resource_id": ids.gather(np.repeat(who, samples)),
            "metric": pl.repeat(name, len(who) * samples, eager=True),
            "timestamp": pl.Series(np.tile(stamps, len(who))).cast(pl.Datetime("us", "UTC")),
            "value": values,
        }
    )


def _samples(rng: np.random.Generator, level: np.ndarray, who: np.ndarray, samples: int, cap: float) -> np.ndarray:
    """Level x a daily cycle x noise, clipped at 0 and ``cap``: instance-major, sample-minor."""
    day = 1 + 0.3 * np.sin(np.arange(samples) * 2 * np.pi / 288)
    noise = rng.gamma(8.0, 1 / 8.0, (len(who), samples))
    return np.clip(level[who, None] * day[None, :] * noise, 0, cap).ravel()


def _metrics(
    rng: np.random.Generator, types: list[InstanceType], kinds: np.ndarray, samples: int
) -> tuple[pl.DataFrame, np.ndarray]:
    """The long metrics frame, and each instance's planted profile."""
    n = len(kinds)
    ids = pl.Series([f"i-{i:010d}" for i in range(n)])
    profile, cpu, memory, traffic = _levels(rng, n)
    everyone, agents = np.arange(n), np.flatnonzero(rng.random(n) < MEMORY_SHARE)
    link = np.array([float(t.network_gbps) * 1e9 / 8 * STEP.total_seconds() for t in types])[kinds]
    half = traffic * link / 2
    frames = [
        _metric_frame("cpu_percent", ids, everyone, samples, _samples(rng, cpu, everyone, samples, 100)),
        _metric_frame("memory_percent", ids, agents, samples, _samples(rng, memory, agents, samples, 100)),
        _metric_frame("network_in_bytes", ids, everyone, samples, _samples(rng, half, everyone, samples, np.inf)),
        _metric_frame("network_out_bytes", ids, everyone, samples, _samples(rng, half, everyone, samples, np.inf)),
    ]
    metrics = pl.concat(frames, rechunk=False)  # one chunk per metric: no second copy of the rows
    assert metrics.schema == METRICS_SCHEMA
    return metrics, profile


def _side_inventory(count: int) -> list[Resource]:
    """Volumes and addresses, half detached for a month; stopped instances with a disk each."""
    month = NOW - timedelta(days=30)
    out: list[Resource] = []
    for i in range(count):
        detached = i % 2 == 0
        out.append(Resource(f"vol-{i:06d}", PROVIDER, "123", REGION, "volume", ResourceState.AVAILABLE,
                            size=f"{50 + i % 200}GB", attached_to=None if detached else f"s-{i:06d}",
                            state_since=month))  # fmt: skip
        out.append(Resource(f"eip-{i:06d}", PROVIDER, "123", REGION, "address", ResourceState.AVAILABLE,
                            attached_to=None if detached else f"i-{i:010d}", state_since=month))  # fmt: skip
        out.append(Resource(f"s-{i:06d}", PROVIDER, "123", REGION, "instance", ResourceState.STOPPED,
                            size="m5.large", architecture="x86_64", state_since=month))  # fmt: skip
    return out


def generate(instances: int, days: int, seed: int = 11) -> Fleet:
    """The fleet, its metrics and rates; the first planted idle instance and the last busy one
    are remembered for the sanity check."""
    rng = np.random.default_rng(seed)
    types = _catalogue()
    kinds = rng.integers(0, len(types), instances)
    metrics, profile = _metrics(rng, types, kinds, days * 24 * 12)
    discount = rng.choice([1.0, 1.0, 0.72, 0.6], instances)
    fleet = [
        Resource(f"i-{i:010d}", PROVIDER, "123", REGION, "instance", ResourceState.RUNNING,
                 size=types[k].name, architecture=types[k].architecture, state_since=NOW - timedelta(days=90),
                 tags={"env": "dev" if i % 5 == 0 else "production"})
        for i, k in enumerate(kinds.tolist())
    ]  # fmt: skip
    effective = {
        r.resource_id: (types[k].hourly_price * Decimal(str(d))).quantize(Decimal("0.0001"))
        for r, k, d in zip(fleet, kinds.tolist(), discount.tolist(), strict=True)
    }
    effective.update({f"s-{i:06d}": Decimal("0.0") for i in range(SIDE_INVENTORY)})  # billed nothing itself
    rates = Rates("USD", effective, volume_gb_month=Decimal("0.08"), address_hourly=Decimal("0.005"))
    idle_ids, busy_ids = np.flatnonzero(profile == 0), np.flatnonzero(profile == 2)
    return Fleet(metrics, fleet + _side_inventory(SIDE_INVENTORY), Catalogue({(PROVIDER, REGION): types}), rates,
                 f"i-{idle_ids[0]:010d}", f"i-{busy_ids[-1]:010d}", _usage(fleet, types, kinds))  # fmt: skip


def _usage(fleet: list[Resource], types: list[InstanceType], kinds: np.ndarray) -> pl.DataFrame:
    """What the bills would give ``commitment_usage``: each instance's list price in each of the
    last 30 days' hours (one billing account, nothing covered yet)."""
    hours = pl.datetime_range(NOW - timedelta(days=30), NOW, "1h", closed="left", time_zone="UTC", eager=True)
    prices = np.array([float(t.hourly_price) for t in types])[kinds]
    per_resource = pl.DataFrame({"bill_id": [r.resource_id for r in fleet], "on_demand_cost": prices})
    return per_resource.join(pl.DataFrame({"hour": hours}), how="cross").with_columns(
        provider=pl.lit(PROVIDER),
        cloud=pl.lit("AWS"),
        account_id=pl.lit("123"),
        currency=pl.lit("USD"),
        already_covered=pl.lit(0.0),
    )


def analyse(fleet: Fleet) -> list[Recommendation]:
    """The full analysis as the pipeline runs it (``analytics.optimisation.analysis.analyse``):
    idle, unattached, stopped-but-paying, rightsizing, schedules and a commitment sized net of
    the rest, from the in-memory frames to Recommendation objects."""
    inputs = Inputs(
        now=NOW, resources=fleet.inventory, metrics=fleet.metrics, catalogue=fleet.catalogue,
        rates={PROVIDER: fleet.rates}, commitment_usage=fleet.commitment_usage,
    )  # fmt: skip
    return run_all(inputs)


def baseline(con: duckdb.DuckDBPyConnection) -> int:
    """DuckDB's per-instance percentiles alone; returns how many instances it summarised."""
    params = {"start": NOW - timedelta(days=14), "week": NOW - timedelta(days=7), "now": NOW}
    return len(con.sql(BASELINE_SQL, params=params).to_arrow_table())


def timed(fn: Callable[[A], T], arg: A) -> tuple[float, T]:
    """Wall seconds of one call, and its result."""
    started = time.perf_counter()
    result = fn(arg)
    return time.perf_counter() - started, result


def peak_gib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def check(fleet: Fleet, found: list[Recommendation]) -> None:
    """The planted idle instance must be found idle and the planted busy one must not be."""
    idle_ids = {r.resource_id for r in found if r.kind == "idle"}
    assert fleet.planted_idle in idle_ids, f"planted idle {fleet.planted_idle} not found"
    assert fleet.planted_busy not in idle_ids, f"busy {fleet.planted_busy} called idle"
    assert not any(r.resource_id == fleet.planted_busy and r.kind == "rightsize" for r in found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    fleet = generate(args.instances, args.days)
    print(f"{args.instances:,} instances x {args.days} days of 5-minute samples: {fleet.metrics.height:,} rows "
          f"({fleet.metrics.estimated_size() / 2**30:.2f} GiB), generated in {time.perf_counter() - started:.1f} s; "
          f"peak so far {peak_gib():.2f} GiB", flush=True)  # fmt: skip
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("metrics", fleet.metrics.to_arrow(compat_level=pl.CompatLevel.newest()))
    times: dict[str, list[float]] = {"baseline": [], "analysis": []}
    found: list[Recommendation] = []
    for n in range(args.repeat):
        base, summarised = timed(baseline, con)
        full, found = timed(analyse, fleet)
        times["baseline"].append(base)
        times["analysis"].append(full)
        print(f"  run {n + 1} baseline {base:6.2f} s ({summarised:,} instances)  analysis {full:6.2f} s "
              f"({len(found):,} recommendations)  peak {peak_gib():.2f} GiB", flush=True)  # fmt: skip
    check(fleet, found)
    kinds = Counter(r.kind for r in found)
    print("  recommendations: " + ", ".join(f"{kind} {count:,}" for kind, count in sorted(kinds.items())))
    base, full = statistics.median(times["baseline"]), statistics.median(times["analysis"])
    print(f"baseline DuckDB percentiles alone: median {base:.2f} s")
    print(f"full analysis (idle, rightsize, unattached, stopped_paying, schedules, commitment): median {full:.2f} s "
          "(target 5 s)")  # fmt: skip
    print(f"peak memory {peak_gib():.2f} GiB (the generated frame included)")
    print(f"full analysis takes {full / base:.1f}x DuckDB computing the percentiles alone")


if __name__ == "__main__":
    main()
