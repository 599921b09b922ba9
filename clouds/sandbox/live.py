"""The sandbox's live samples: one every 30 seconds per running resource, from its demand model.

The hourly utilisation of ``demand.py`` (the same curve the sandbox bills and reports by the
hour) is interpolated linearly between hours, then each 30-second sample gets noise of its
own drawn from a hash of (world seed, resource, metric, instant): the same instant gives the
same value in any process and whatever window it was asked in, with no state kept.

A sample is stamped with the start of its 30 seconds and exists once they are over. Units:
``cpu`` and ``memory`` are percentages (the period's average); ``network_in``/``network_out``
bytes and ``disk_read``/``disk_write`` operations over the 30 seconds (the hourly disk
operations split 60/40 between reads and writes). Only powered resources (instances, groups,
databases) report, and only while running; volumes and buckets have no live samples.

The planted hot spot: one resource (``HOT_SPOT``: the AWS flavour's ``wedsync-api-2``) runs at
about 95% CPU (every sample above 90%) for 10 minutes starting 2 minutes after the world's live
clock starts, and stays below 85% at all other times, so a CPU alert on it goes pending, fires
and resolves early in the demo. The live clock starts at the world's ``live_since`` (set by
``wedcloud demo`` each time it starts), or at its ``created_at`` when that is not set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy import Engine, select

from clouds.base import METRICS_SCHEMA, Metric
from clouds.errors import AuthenticationFailed
from clouds.sandbox import state
from clouds.sandbox.blueprint import Kind, Workload
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.demand import (
    LocalCalendar,
    UtilisationInputs,
    demand,
    group_capacity,
    hour_range,
    stable_hash,
    utilisation,
)

STEP_SECONDS = 30
PER_HOUR = 3600 // STEP_SECONDS  # samples in an hour: bytes and operations per sample are the hour's / 120
POWERED = (Kind.INSTANCE, Kind.GROUP, Kind.DATABASE)
HOT_CEILING = 85.0
CURVE_BLOCK_HOURS = 6  # the planted resource's CPU outside its window


@dataclass(frozen=True)
class HotSpot:
    """The resource planted to run hot early in the demo, and when."""

    flavour: FlavourKey = FlavourKey.AWS
    blueprint: str = "api-2"  # wedsync-api-2
    delay: timedelta = timedelta(minutes=2)
    duration: timedelta = timedelta(minutes=10)
    cpu: float = 95.0

    def window(self, live_since: datetime) -> tuple[datetime, datetime]:
        """[start, end) of the hot spot for a world whose live clock started at ``live_since``."""
        start = live_since + self.delay
        return start, start + self.duration


HOT_SPOT = HotSpot()


@dataclass(frozen=True)
class LiveResource:
    id: str
    flavour: FlavourKey
    blueprint: str
    kind: Kind
    size: str | None
    state: str
    spec: dict[str, Any]
    desired: int = 0  # a group's manually set capacity floor (its last `scaled` event)


@dataclass(frozen=True)
class LiveWorld:
    """What live samples need of a world: its seed, its live clock and some of its resources."""

    name: str
    seed: int
    history_start: Any
    live_since: datetime
    resources: tuple[LiveResource, ...] = field(default=())


def live_since(engine: Engine, world: str) -> datetime | None:
    """When ``world``'s live clock started (None: no such world)."""
    with engine.connect() as connection:
        row = connection.execute(
            select(state.worlds.c.live_since, state.worlds.c.created_at).where(state.worlds.c.name == world)
        ).one_or_none()
    return None if row is None else (row.live_since or row.created_at)


def start_live_clock(engine: Engine, world: str, at: datetime) -> None:
    """Start ``world``'s live clock at ``at`` (the hot spot follows 2 minutes later)."""
    with engine.begin() as connection:
        connection.execute(state.worlds.update().where(state.worlds.c.name == world).values(live_since=at))


def load_live(engine: Engine, world: str, flavour: FlavourKey | str, resource_ids: Sequence[str]) -> LiveWorld:
    """The world's header and those of ``resource_ids`` that belong to ``flavour`` in it."""
    with engine.connect() as connection:
        header = connection.execute(select(state.worlds).where(state.worlds.c.name == world)).one_or_none()
        if header is None:
            raise AuthenticationFailed(f"the sandbox world {world!r} does not exist; run `wedcloud sandbox create`")
        rows: list[Any] = []
        desired: dict[str, int] = {}
        ids = list(dict.fromkeys(resource_ids))
        for chunk in range(0, len(ids), 5000):
            part = ids[chunk : chunk + 5000]
            rows += connection.execute(
                select(state.resources).where(
                    state.resources.c.world == world,
                    state.resources.c.flavour == FlavourKey(flavour).value,
                    state.resources.c.id.in_(part),
                )
            ).all()
            scaled = connection.execute(
                select(state.events.c.resource_id, state.events.c.detail)
                .where(state.events.c.event == "scaled", state.events.c.resource_id.in_(part))
                .order_by(state.events.c.at, state.events.c.id)
            )
            desired |= {row.resource_id: int(row.detail.get("desired", 0)) for row in scaled}
    resources = tuple(
        LiveResource(
            id=row.id,
            flavour=FlavourKey(row.flavour),
            blueprint=row.blueprint,
            kind=Kind(row.kind),
            size=row.size,
            state=row.state,
            spec=dict(row.spec),
            desired=desired.get(row.id, 0),
        )
        for row in rows
    )
    since = header.live_since or header.created_at
    return LiveWorld(header.name, int(header.seed), header.history_start, since, resources)


def instants(start: datetime, end: datetime) -> np.ndarray:
    """Unix seconds of the 30-second periods that start in [start, end), aligned to 30 s."""
    first = -(-int(np.ceil(start.timestamp())) // STEP_SECONDS) * STEP_SECONDS
    count = max(0, int(np.ceil((end.timestamp() - first) / STEP_SECONDS)))
    return np.arange(first, first + count * STEP_SECONDS, STEP_SECONDS, dtype=np.int64)


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)


def unit_noise(key: str, seconds: np.ndarray) -> np.ndarray:
    """Deterministic noise in [-sqrt(3), sqrt(3)) (mean 0, variance 1), one value per instant:
    SplitMix64 of the key's stable hash and the instant."""
    row: np.ndarray = hashed_noise(np.array([stable_hash(key)], dtype=np.uint64), seconds)[0]
    return row


# Hourly curves already computed, by (seed, resource, size, desired, first hour, hours): a
# long-running collector recomputes a resource's curve once an hour, not every 30 s.
_CURVES: dict[tuple[Any, ...], dict[Metric, Any]] = {}
_CURVES_MAX = 50_000


def _key(world: LiveWorld, resource: LiveResource, hours: np.ndarray) -> tuple[Any, ...]:
    return (world.seed, world.history_start, resource.id, resource.size, resource.desired, hours[0], len(hours))


def _hourly(world: LiveWorld, resource: LiveResource, hours: np.ndarray, context: dict[str, Any]) -> dict[Metric, Any]:
    key = _key(world, resource, hours)
    curve = _CURVES.get(key)
    if curve is None:
        if len(_CURVES) >= _CURVES_MAX:
            _CURVES.clear()
        curve = _CURVES[key] = _compute_hourly(world, resource, hours, context)
    return curve


def _compute_hourly(
    world: LiveWorld, resource: LiveResource, hours: np.ndarray, context: dict[str, Any]
) -> dict[Metric, Any]:
    flavour = FLAVOURS[resource.flavour]
    key = f"demand:{resource.flavour.value}"
    if key not in context:
        context[key] = demand(world.seed, resource.flavour.value, hours, world.history_start)
    load = context[key]
    vcpus = flavour.instance_type(resource.size).vcpus if resource.size else 1
    capacity = np.ones(len(hours), dtype=np.int64)
    if resource.kind == Kind.GROUP:
        bounds = (resource.spec["min"], resource.spec["max"])
        capacity = np.maximum(group_capacity(load, resource.spec["demand_vcpus"], vcpus, bounds), resource.desired)
    return utilisation(
        UtilisationInputs(
            seed=world.seed,
            resource_id=resource.id,
            workload=Workload(resource.spec.get("workload", Workload.API.value)),
            hours=hours,
            demand=load,
            vcpus=vcpus,
            capacity=np.maximum(capacity, 1),
            demand_vcpus=resource.spec.get("demand_vcpus", 0.0),
            calendar=context["calendar"],
        )
    )


def is_hot(resource: LiveResource, hot: HotSpot = HOT_SPOT) -> bool:
    return resource.flavour == hot.flavour and resource.blueprint == hot.blueprint


NOISE_KEYS = ("cpu", "memory", "network_in", "network_out", "disk_read", "disk_write", "hot")
_KEY_HASHES: dict[tuple[int, str], tuple[int, ...]] = {}


def _key_hashes(world: LiveWorld, resource: LiveResource) -> tuple[int, ...]:
    """The stable hashes seeding each of the resource's noise streams (computed once)."""
    key = (world.seed, resource.id)
    found = _KEY_HASHES.get(key)
    if found is None:
        if len(_KEY_HASHES) >= _CURVES_MAX:
            _KEY_HASHES.clear()
        found = _KEY_HASHES[key] = tuple(stable_hash(f"{world.seed}:{resource.id}:{m}") for m in NOISE_KEYS)
    return found


def hashed_noise(hashes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """:func:`unit_noise` for many keys at once: ``hashes`` (n,) by ``seconds`` (m,) -> (n, m)."""
    with np.errstate(over="ignore"):
        x = hashes.astype(np.uint64)[:, None] ^ (seconds.astype(np.uint64) * _GOLDEN)[None, :]
        x = (x ^ (x >> np.uint64(30))) * _MIX_1
        x = (x ^ (x >> np.uint64(27))) * _MIX_2
        x = x ^ (x >> np.uint64(31))
    uniform = (x >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    centred: np.ndarray = (uniform - 0.5) * 2 * np.sqrt(3.0)
    return centred


def samples_of(
    world: LiveWorld, resources: Sequence[LiveResource], seconds: np.ndarray, context: dict[str, Any], hot: HotSpot
) -> dict[str, np.ndarray]:
    """The live metrics of running resources at ``seconds``: metric -> (resources, instants)."""
    hours: np.ndarray = context["hours"]
    curves = [_hourly(world, r, hours, context) for r in resources]
    position = (seconds - context["hour0"]) / 3600.0
    index = np.clip(np.floor(position).astype(np.int64), 0, len(hours) - 2)
    weight = (position - index)[None, :]

    def at(metric: Metric) -> np.ndarray:
        table = np.stack([curve[metric] for curve in curves])  # (resources, hours)
        values: np.ndarray = table[:, index] * (1 - weight) + table[:, index + 1] * weight
        return values

    hashes = np.array([_key_hashes(world, r) for r in resources], dtype=np.uint64)  # (resources, keys)

    def noise(name: str) -> np.ndarray:
        return hashed_noise(hashes[:, NOISE_KEYS.index(name)], seconds)

    cpu = np.clip(at(Metric.CPU_PERCENT) + 2.0 * noise("cpu"), 0.05, 99.5)
    planted = np.array([is_hot(r, hot) for r in resources])
    if planted.any():
        start, end = hot.window(world.live_since)
        inside = (seconds >= int(start.timestamp())) & (seconds < int(end.timestamp()))
        spike = np.where(
            inside[None, :], np.clip(hot.cpu + 1.5 * noise("hot"), 90.5, 99.5), np.minimum(cpu, HOT_CEILING)
        )
        cpu = np.where(planted[:, None], spike, cpu)
    operations = at(Metric.DISK_IO_OPS) / PER_HOUR
    return {
        "cpu": cpu,
        "memory": np.clip(at(Metric.MEMORY_PERCENT) + 0.8 * noise("memory"), 1, 99),
        "network_in": at(Metric.NETWORK_IN_BYTES) / PER_HOUR * np.exp(0.15 * noise("network_in")),
        "network_out": at(Metric.NETWORK_OUT_BYTES) / PER_HOUR * np.exp(0.15 * noise("network_out")),
        "disk_read": 0.6 * operations * np.exp(0.15 * noise("disk_read")),
        "disk_write": 0.4 * operations * np.exp(0.15 * noise("disk_write")),
    }


def live_samples(world: LiveWorld, start: datetime, end: datetime, hot: HotSpot = HOT_SPOT) -> pl.DataFrame:
    """Long rows (resource_id, metric, timestamp, value) of every running powered resource of
    ``world`` for the 30-second periods starting in [start, end)."""
    seconds = instants(start, end)
    running = [r for r in world.resources if r.kind in POWERED and r.state == "running"]
    if not len(seconds) or not running:
        return pl.DataFrame(schema=METRICS_SCHEMA)
    first = datetime.fromtimestamp(int(seconds[0]), UTC)
    last = datetime.fromtimestamp(int(seconds[-1]), UTC)
    # curves for a whole block of hours (from the 6-hour boundary before the first sample to at
    # least the hour after the last, to interpolate to): recomputed once per block, not per cycle
    block = first.replace(hour=first.hour - first.hour % CURVE_BLOCK_HOURS, minute=0, second=0, microsecond=0)
    hours = hour_range(block, max(block + timedelta(hours=CURVE_BLOCK_HOURS + 1), last + timedelta(hours=2)))
    context: dict[str, Any] = {"hours": hours, "hour0": int(hours[0].astype("datetime64[s]").astype(np.int64))}
    if any(_key(world, r, hours) not in _CURVES for r in running):
        context["calendar"] = LocalCalendar.of(hours)
    series = samples_of(world, running, seconds, context, hot)
    n, m = len(running), len(seconds)
    ids = pl.Series([r.id for r in running], dtype=pl.String)
    frames = [
        pl.DataFrame(
            {
                "resource_id": ids.gather(np.repeat(np.arange(n), m)),
                "metric": pl.repeat(metric, n * m, dtype=pl.String, eager=True),
                "timestamp": pl.Series(np.tile(seconds, n) * 1_000_000).cast(pl.Datetime("us", "UTC")),
                "value": values.reshape(-1).astype(np.float64),
            }
        )
        for metric, values in series.items()
    ]
    return pl.concat(frames).cast(METRICS_SCHEMA)
