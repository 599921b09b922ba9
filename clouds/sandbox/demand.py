"""Demand and utilisation of the sandbox, hour by hour, deterministic from a seed.

Demand follows WedSync's business: an engagement peak in January, the wedding season from
June to September, a lull at Christmas, weekend spikes (Saturday most of all), an evening
peak in UK local time, and 25% growth a year. Random noise is drawn per calendar month
from a generator seeded by (seed, series key, year, month), so any window of hours gives
the same values whatever range it was asked for.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import polars as pl

from clouds.base import Metric
from clouds.sandbox.blueprint import Workload

LOCAL_TZ = "Europe/London"
WEEKDAY_FACTOR = np.array([0.94, 0.94, 0.96, 1.0, 1.08, 1.32, 1.20])  # Monday first
HOUR_SHAPE = np.array(
    [
        0.35,
        0.28,
        0.24,
        0.22,
        0.22,
        0.26,
        0.38,
        0.58,
        0.78,
        0.92,
        1.00,
        1.05,
        1.08,
        1.04,
        1.00,
        0.98,
        1.00,
        1.08,
        1.20,
        1.32,
        1.35,
        1.20,
        0.88,
        0.55,
    ]
)
HOUR_FACTOR = HOUR_SHAPE / HOUR_SHAPE.mean()
ANNUAL_GROWTH = 1.25
GROUP_TARGET_UTILISATION = 0.6


def stable_hash(text: str) -> int:
    """A 63-bit hash that is the same in every process (``hash()`` is salted)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


def hour_range(start: datetime, end: datetime) -> np.ndarray:
    """UTC hours in [start, end) as ``datetime64[h]``."""
    first = np.datetime64(start.replace(tzinfo=None), "h")
    last = np.datetime64(end.replace(tzinfo=None), "h")
    return np.arange(first, last, dtype="datetime64[h]")


@dataclass(frozen=True)
class LocalCalendar:
    """Local (UK) weekday (0 = Monday), hour and day of year for each UTC hour."""

    weekday: np.ndarray
    hour: np.ndarray
    day_of_year: np.ndarray

    @classmethod
    def of(cls, hours: np.ndarray) -> LocalCalendar:
        local = (
            pl.Series("t", hours.astype("datetime64[us]")).dt.replace_time_zone("UTC").dt.convert_time_zone(LOCAL_TZ)
        )
        return cls(
            weekday=(local.dt.weekday() - 1).to_numpy(),
            hour=local.dt.hour().to_numpy(),
            day_of_year=local.dt.ordinal_day().to_numpy().astype(float),
        )


def _season(day_of_year: np.ndarray) -> np.ndarray:
    def bump(centre: float, width: float) -> np.ndarray:
        return np.exp(-0.5 * ((day_of_year - centre) / width) ** 2)

    engagement = 0.45 * (bump(12, 11) + bump(12 + 365, 11))
    wedding_season = 0.6 / (1 + np.exp(-(day_of_year - 152) / 6)) / (1 + np.exp((day_of_year - 273) / 6))
    christmas_lull = -0.12 * bump(358, 6)
    season: np.ndarray = 1 + engagement + wedding_season + christmas_lull
    return season


def block_noise(seed: int, key: str, hours: np.ndarray) -> np.ndarray:
    """Standard normal draws per hour, reproducible for any window (drawn per month)."""
    out = np.empty(hours.shape, dtype=float)
    months = hours.astype("datetime64[M]")
    key_hash = stable_hash(key)
    for month in np.unique(months):
        mask = months == month
        month_start = month.astype("datetime64[h]")
        next_month = (month + 1).astype("datetime64[h]")
        year, month_no = int(str(month)[:4]), int(str(month)[5:7])
        rng = np.random.default_rng([seed, key_hash, year, month_no])
        draws = rng.standard_normal(int((next_month - month_start).astype(int)))
        out[mask] = draws[(hours[mask] - month_start).astype(int)]
    return out


def demand(seed: int, flavour: str, hours: np.ndarray, history_start: date) -> np.ndarray:
    """Relative demand (about 1.0 on an ordinary weekday afternoon in spring)."""
    calendar = LocalCalendar.of(hours)
    years = (hours - np.datetime64(history_start, "h")).astype(float) / (24 * 365.25)
    base = (
        _season(calendar.day_of_year)
        * WEEKDAY_FACTOR[calendar.weekday]
        * HOUR_FACTOR[calendar.hour]
        * ANNUAL_GROWTH**years
    )
    noisy: np.ndarray = base * np.exp(0.06 * block_noise(seed, f"traffic:{flavour}", hours))
    return noisy


def group_capacity(
    demand_series: np.ndarray, demand_vcpus: float, vcpus: int | np.ndarray, bounds: tuple[int, int]
) -> np.ndarray:
    """Instances an autoscaler keeps running to hold CPU near the target utilisation."""
    needed = np.ceil(demand_vcpus * demand_series / (vcpus * GROUP_TARGET_UTILISATION))
    return np.clip(needed, bounds[0], bounds[1]).astype(np.int64)


@dataclass(frozen=True)
class UtilisationInputs:
    seed: int
    resource_id: str
    workload: Workload
    hours: np.ndarray
    demand: np.ndarray
    vcpus: int = 2
    capacity: np.ndarray | None = None  # instances in service, for groups
    demand_vcpus: float = 0.0
    calendar: LocalCalendar | None = None  # of ``hours``, when the caller already has it


def utilisation(inputs: UtilisationInputs) -> dict[Metric, np.ndarray]:
    """Hourly CPU and memory (percent), network (bytes) and disk operations of a workload."""
    noise = {m: block_noise(inputs.seed, f"{inputs.resource_id}:{m}", inputs.hours) for m in Metric}
    calendar = inputs.calendar or LocalCalendar.of(inputs.hours)
    load = inputs.demand
    working = (calendar.weekday < 5) & (calendar.hour >= 8) & (calendar.hour < 18)
    nightly = (calendar.hour >= 1) & (calendar.hour < 5)
    match inputs.workload:
        case Workload.WEB:
            capacity = inputs.capacity if inputs.capacity is not None else np.ones_like(load)
            cpu = 100 * inputs.demand_vcpus * load / (capacity * inputs.vcpus) + 3 * noise[Metric.CPU_PERCENT]
            memory = 55 + 4 * noise[Metric.MEMORY_PERCENT]
            net_out = 4e9 * load / capacity
        case Workload.API:
            cpu = 12 + 30 * load + 3 * noise[Metric.CPU_PERCENT]
            memory = 60 + 5 * noise[Metric.MEMORY_PERCENT]
            net_out = 1e9 * load
        case Workload.DATABASE:
            cpu = 10 + 25 * load + 3 * noise[Metric.CPU_PERCENT]
            memory = 75 + 3 * noise[Metric.MEMORY_PERCENT]
            net_out = 5e8 * load
        case Workload.NIGHTLY_BATCH:
            cpu = np.where(nightly, 80, 6) + np.where(nightly, 8, 2) * noise[Metric.CPU_PERCENT]
            memory = np.where(nightly, 70, 40) + 4 * noise[Metric.MEMORY_PERCENT]
            net_out = np.where(nightly, 2e9, 2e8)
        case Workload.OFFICE_HOURS:
            cpu = np.where(working, 30, 1) + np.where(working, 10, 0.4) * noise[Metric.CPU_PERCENT]
            memory = np.where(working, 35, 30) + 3 * noise[Metric.MEMORY_PERCENT]
            net_out = np.where(working, 5e7, 1e6)
        case Workload.IDLE:
            cpu = 0.8 + 0.4 * noise[Metric.CPU_PERCENT]
            memory = 12 + 1 * noise[Metric.MEMORY_PERCENT]
            net_out = np.full_like(load, 2e5)
        case Workload.OVERSIZED:
            cpu = 1.5 + 2.0 * load + 0.8 * noise[Metric.CPU_PERCENT]
            memory = 11 + 1.5 * noise[Metric.MEMORY_PERCENT]
            net_out = 1e8 * load
        case Workload.GPU_BURST:
            cpu = 92 + 4 * noise[Metric.CPU_PERCENT]
            memory = 80 + 4 * noise[Metric.MEMORY_PERCENT]
            net_out = np.full_like(load, 5e8)
        case Workload.STORAGE:
            zeros = np.zeros_like(load)
            return {
                Metric.CPU_PERCENT: zeros,
                Metric.MEMORY_PERCENT: zeros,
                Metric.NETWORK_IN_BYTES: zeros,
                Metric.NETWORK_OUT_BYTES: zeros,
                Metric.DISK_IO_OPS: np.clip(2e5 * load * (1 + 0.1 * noise[Metric.DISK_IO_OPS]), 0, None),
            }
    net_scale = np.exp(0.1 * noise[Metric.NETWORK_OUT_BYTES])
    return {
        Metric.CPU_PERCENT: np.clip(cpu, 0.05, 99.5),
        Metric.MEMORY_PERCENT: np.clip(memory, 1, 99),
        Metric.NETWORK_OUT_BYTES: np.clip(net_out * net_scale, 0, None),
        Metric.NETWORK_IN_BYTES: np.clip(0.3 * net_out * np.exp(0.1 * noise[Metric.NETWORK_IN_BYTES]), 0, None),
        Metric.DISK_IO_OPS: np.clip(np.abs(cpu) * 2e3 * (1 + 0.1 * noise[Metric.DISK_IO_OPS]), 0, None),
    }
