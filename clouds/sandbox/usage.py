"""The sandbox's meter: what each resource did, hour by hour, and what that costs per day.

A resource's lifecycle events become hourly arrays (exists, running, size, capacity) for
any window of hours; daily charges and utilisation metrics are both derived from them, so
a stopped instance bills no compute hours and reports no CPU, and a resize shows in the
next day's rate.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

import numpy as np

from clouds.base import Metric
from clouds.sandbox.blueprint import Kind, Workload
from clouds.sandbox.catalog import FLAVOURS, Flavour
from clouds.sandbox.demand import UtilisationInputs, demand, group_capacity, hour_range, utilisation
from clouds.sandbox.world import SandboxResource, World, at_midnight

COST_QUANTUM = Decimal("1e-10")
QUANTITY_QUANTUM = Decimal("1e-10")


class UsageKind(StrEnum):
    COMPUTE_HOURS = "compute_hours"
    DATABASE_HOURS = "database_hours"
    BLOCK_STORAGE = "block_storage"
    OBJECT_STORAGE = "object_storage"
    DATABASE_STORAGE = "database_storage"
    EGRESS = "egress"


UNITS = {
    UsageKind.COMPUTE_HOURS: "Hrs",
    UsageKind.DATABASE_HOURS: "Hrs",
    UsageKind.BLOCK_STORAGE: "GB-Mo",
    UsageKind.OBJECT_STORAGE: "GB-Mo",
    UsageKind.DATABASE_STORAGE: "GB-Mo",
    UsageKind.EGRESS: "GB",
}


@dataclass(frozen=True)
class Charge:
    """One day of one kind of usage of one resource, priced at list in USD."""

    day: date
    resource: SandboxResource
    usage_kind: UsageKind
    size: str | None
    quantity: Decimal
    unit_price: Decimal
    cost: Decimal

    @property
    def unit(self) -> str:
        return UNITS[self.usage_kind]


@dataclass(frozen=True)
class Timeline:
    """Hourly state of one resource over a window of UTC hours."""

    hours: np.ndarray
    exists: np.ndarray
    running: np.ndarray
    size_index: np.ndarray
    sizes: tuple[str, ...]
    desired: np.ndarray  # a group's manually set capacity floor, 0 where none was set


def timeline(world: World, resource: SandboxResource, hours: np.ndarray) -> Timeline:
    n = len(hours)
    exists = np.zeros(n, dtype=bool)
    running = np.zeros(n, dtype=bool)
    size_index = np.full(n, -1, dtype=np.int64)
    desired = np.zeros(n, dtype=np.int64)
    sizes: list[str] = []
    first = hours[0] if n else np.datetime64("1970-01-01T00", "h")
    for event in world.events_of(resource.id):
        at = np.datetime64(event.at.replace(tzinfo=None), "h")
        index = int(np.clip((at - first).astype(int), 0, n))
        if event.detail.get("size"):
            if event.detail["size"] not in sizes:
                sizes.append(event.detail["size"])
            size_index[index:] = sizes.index(event.detail["size"])
        match event.event:
            case "created":
                exists[index:] = True
                running[index:] = event.detail.get("state") == "running"
            case "started":
                running[index:] = True
            case "stopped":
                running[index:] = False
            case "scaled":
                desired[index:] = event.detail["desired"]
            case "terminated":
                exists[index:] = False
                running[index:] = False
    return Timeline(hours, exists, running, size_index, tuple(sizes), desired)


def _to_decimal(value: float, places: int = 6) -> Decimal:
    return Decimal(f"{value:.{places}f}")


def _price(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return (quantity * unit_price).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)


class Meter:
    """Computes charges and metrics for one world. Demand is computed once per flavour."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.hours = hour_range(at_midnight(world.history_start), world.end)
        self._demand: dict[str, np.ndarray] = {}

    def demand(self, flavour: str) -> np.ndarray:
        if flavour not in self._demand:
            self._demand[flavour] = demand(self.world.seed, flavour, self.hours, self.world.history_start)
        return self._demand[flavour]

    def capacity(self, resource: SandboxResource, line: Timeline, load: np.ndarray) -> np.ndarray:
        """Instances in service each hour (1 for a plain instance while it runs)."""
        if resource.kind != Kind.GROUP:
            return line.running.astype(np.int64)
        flavour = FLAVOURS[resource.flavour]
        vcpus = np.array([flavour.instance_type(s).vcpus for s in line.sizes] or [1])
        per_hour_vcpus = vcpus[np.maximum(line.size_index, 0)]
        bounds = (resource.spec["min"], resource.spec["max"])
        autoscaled = group_capacity(load, resource.spec["demand_vcpus"], per_hour_vcpus, bounds)
        return np.where(line.running, np.maximum(autoscaled, line.desired), 0)

    def charges(self, flavour_key: str, start: date | None = None, end: date | None = None) -> Iterator[Charge]:
        """Daily charges of a flavour for days in [start, end), in resource-id order."""
        flavour = FLAVOURS[flavour_key]  # type: ignore[index]
        first_day = self.world.history_start
        n_days = len(self.hours) // 24
        day_range = range(
            max(0, (start - first_day).days) if start else 0,
            min(n_days, (end - first_day).days) if end else n_days,
        )
        load = self.demand(flavour_key)
        for resource in self.world.resources_of(flavour.key):
            yield from self._resource_charges(flavour, resource, load, day_range)

    def _resource_charges(
        self, flavour: Flavour, resource: SandboxResource, load: np.ndarray, day_range: range
    ) -> Iterator[Charge]:
        region_factor = flavour.region(resource.region).price_factor
        first_day = self.world.history_start
        if resource.kind == Kind.EGRESS:
            daily_gb = resource.spec["egress_gb_per_day"] * load.reshape(-1, 24).mean(axis=1)
            price = flavour.storage.egress_gb * region_factor
            for d in day_range:
                quantity = _to_decimal(daily_gb[d])
                yield Charge(
                    first_day + timedelta(days=d),
                    resource,
                    UsageKind.EGRESS,
                    None,
                    quantity,
                    price,
                    _price(quantity, price),
                )
            return
        line = timeline(self.world, resource, self.hours)
        capacity = self.capacity(resource, line, load)
        hourly_kind = UsageKind.DATABASE_HOURS if resource.kind == Kind.DATABASE else UsageKind.COMPUTE_HOURS
        by_size = {
            size: (capacity * (line.size_index == i)).reshape(-1, 24).sum(axis=1) for i, size in enumerate(line.sizes)
        }
        storage_kind, storage_price = {
            Kind.BUCKET: (UsageKind.OBJECT_STORAGE, flavour.storage.object_gb_month),
            Kind.DATABASE: (UsageKind.DATABASE_STORAGE, flavour.storage.block_gb_month),
        }.get(resource.kind, (UsageKind.BLOCK_STORAGE, flavour.storage.block_gb_month))
        storage_price *= region_factor
        age_days = (self.hours - np.datetime64(resource.created_at.replace(tzinfo=None), "h")).astype(float) / 24
        gb = resource.spec["storage_gb"] + resource.spec.get("growth_gb_per_day", 0.0) * np.maximum(age_days, 0)
        disks = capacity if resource.kind == Kind.GROUP else line.exists.astype(np.int64)
        gb_hours = (gb * disks).reshape(-1, 24).sum(axis=1)
        for d in day_range:
            day = first_day + timedelta(days=d)
            for size, hours_per_day in by_size.items():
                if hours_per_day[d]:
                    quantity = Decimal(int(hours_per_day[d]))
                    price = flavour.hourly_price(size, resource.region)
                    yield Charge(day, resource, hourly_kind, size, quantity, price, _price(quantity, price))
            if gb_hours[d] > 0:
                month_hours = 24 * calendar.monthrange(day.year, day.month)[1]
                quantity = (_to_decimal(gb_hours[d], 4) / month_hours).quantize(QUANTITY_QUANTUM)
                yield Charge(
                    day, resource, storage_kind, None, quantity, storage_price, _price(quantity, storage_price)
                )

    def metrics(self, resource: SandboxResource, start: datetime, end: datetime) -> dict[Metric, np.ndarray] | None:
        """Hourly utilisation in [start, end), NaN while the resource is not running.
        None for resources that report no utilisation (egress)."""
        if resource.kind == Kind.EGRESS:
            return None
        hours = hour_range(start, end)
        load = demand(self.world.seed, resource.flavour.value, hours, self.world.history_start)
        line = timeline(self.world, resource, hours)
        capacity = self.capacity(resource, line, load)
        workload = Workload(resource.spec["workload"])
        flavour = FLAVOURS[resource.flavour]
        vcpus = flavour.instance_type(line.sizes[-1]).vcpus if line.sizes else 1
        series = utilisation(
            UtilisationInputs(
                seed=self.world.seed,
                resource_id=resource.id,
                workload=workload,
                hours=hours,
                demand=load,
                vcpus=vcpus,
                capacity=np.maximum(capacity, 1),
                demand_vcpus=resource.spec.get("demand_vcpus", 0.0),
            )
        )
        reporting = line.running if resource.kind in (Kind.INSTANCE, Kind.GROUP, Kind.DATABASE) else line.exists
        return {metric: np.where(reporting, values, np.nan) for metric, values in series.items()}
