"""The sandbox world: deterministic from its seed, shaped like WedSync's business, and
carrying the planted problems the cost and optimisation features must find."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from clouds.base import Metric
from clouds.sandbox.blueprint import Kind, Workload
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import planted_budgets, write_exports
from clouds.sandbox.demand import demand, hour_range
from clouds.sandbox.exports.common import month_of
from clouds.sandbox.usage import Meter, UsageKind
from clouds.sandbox.world import World, build_world, load_world, save_world

AS_OF = date(2026, 3, 10)
SHORT_START = date(2026, 1, 1)


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def test_same_seed_writes_byte_identical_bills(tmp_path: Path) -> None:
    first = build_world(7, AS_OF, SHORT_START)
    second = build_world(7, AS_OF, SHORT_START)
    assert first == second
    write_exports(first, tmp_path / "a")
    write_exports(second, tmp_path / "b")
    digests = _digest(tmp_path / "a")
    assert digests == _digest(tmp_path / "b")
    assert {p.split("/")[0] for p in digests} == {"aws", "azure", "gcp"}


def test_another_seed_gives_other_ids_and_other_noise() -> None:
    first, second = build_world(7, AS_OF, SHORT_START), build_world(8, AS_OF, SHORT_START)

    def instance_ids(world: World) -> set[str]:
        return {r.id for r in world.resources_of(FlavourKey.AWS) if r.kind == Kind.INSTANCE}

    assert instance_ids(first).isdisjoint(instance_ids(second))
    totals = [sum(c.cost for c in Meter(w).charges("aws")) for w in (first, second)]
    assert totals[0] != totals[1]


def test_world_survives_a_trip_through_the_state_store(engine: Engine) -> None:
    world = build_world(11, AS_OF, SHORT_START)
    save_world(engine, world)
    assert load_world(engine) == world


def test_events_of_gives_each_resource_its_own_events_oldest_first() -> None:
    world = build_world(7, AS_OF)
    listed = {r.id: world.events_of(r.id) for r in world.resources}
    assert sum(len(events) for events in listed.values()) == len(world.events)
    for resource_id, events in listed.items():
        assert {e.resource_id for e in events} == {resource_id}
        assert [e.at for e in events] == sorted(e.at for e in events)
        assert events[0].event == "created"
    changed = [events for events in listed.values() if len(events) > 1]
    assert changed, "the default world has resized, stopped or terminated resources"
    changed[0].clear()  # a caller's list is its own
    assert all(world.events_of(r.id) for r in world.resources)
    assert world.events_of("no-such-resource") == []


def test_default_history_covers_two_years_up_to_the_day_before_as_of() -> None:
    world = build_world(1, date(2026, 11, 27))
    assert world.history_start == date(2024, 11, 1)
    days = {c.day for c in Meter(world).charges("gcp")}
    assert min(days) == date(2024, 11, 1)
    assert max(days) == date(2026, 11, 26)


def test_demand_peaks_in_january_in_the_wedding_season_and_on_saturdays() -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    hours = hour_range(start, start + timedelta(days=365))
    load = demand(3, "aws", hours, date(2025, 1, 1))
    months = hours.astype("datetime64[M]").astype(int) % 12 + 1
    monthly = {m: load[months == m].mean() for m in range(1, 13)}
    assert monthly[1] > monthly[2] * 1.15  # engagement peak
    assert min(monthly[m] for m in (6, 7, 8, 9)) > max(monthly[m] for m in (2, 3, 4)) * 1.3  # wedding season
    weekday = (hours.astype("datetime64[D]").astype(int) + 3) % 7  # 0 = Monday
    assert load[weekday == 5].mean() > load[weekday < 5].mean() * 1.2  # Saturday


def test_metrics_do_not_depend_on_the_window_asked_for() -> None:
    world = build_world(5, AS_OF, SHORT_START)
    meter = Meter(world)
    api = next(r for r in world.resources if r.blueprint == "api-2")
    start = datetime(2026, 2, 1, tzinfo=UTC)
    wide = meter.metrics(api, start, start + timedelta(days=10))
    narrow = meter.metrics(api, start + timedelta(days=3), start + timedelta(days=4))
    assert wide is not None
    assert narrow is not None
    np.testing.assert_array_equal(wide[Metric.CPU_PERCENT][72:96], narrow[Metric.CPU_PERCENT])


def _p95_cpu(blueprint: str, flavour: FlavourKey) -> float:
    world = build_world(9, AS_OF, SHORT_START)
    resource = next(r for r in world.resources_of(flavour) if r.blueprint == blueprint)
    series = Meter(world).metrics(resource, datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))
    assert series is not None
    return float(np.nanpercentile(series[Metric.CPU_PERCENT], 95))


@pytest.mark.parametrize(("blueprint", "flavour"), [("staging-old", FlavourKey.AWS), ("vm-test-old", FlavourKey.AZURE)])
def test_planted_idle_machines_stay_under_three_percent_cpu(blueprint: str, flavour: FlavourKey) -> None:
    assert _p95_cpu(blueprint, flavour) < 3


@pytest.mark.parametrize(("blueprint", "flavour"), [("reporting", FlavourKey.AWS), ("warehouse-vm", FlavourKey.GCP)])
def test_planted_oversized_machines_use_little_of_their_cpu(blueprint: str, flavour: FlavourKey) -> None:
    assert 3 < _p95_cpu(blueprint, flavour) < 15


def test_healthy_machines_are_busy() -> None:
    assert _p95_cpu("api-2", FlavourKey.AWS) > 40


def test_gpu_experiment_bills_three_days_in_the_aws_dev_account() -> None:
    world = build_world(9, AS_OF, SHORT_START)
    dev = next(a for a in world.accounts_of(FlavourKey.AWS) if a.role == "dev")
    gpu_days: dict[date, Decimal] = defaultdict(Decimal)
    for charge in Meter(world).charges("aws"):
        if charge.size == "p3.2xlarge":
            assert charge.resource.account_id == dev.id
            gpu_days[charge.day] += charge.quantity
    # created 12 days before as-of at 09:00, terminated 3 days later at 09:00: four instances
    assert sorted(gpu_days) == [AS_OF - timedelta(days=d) for d in (12, 11, 10, 9)]
    assert sum(gpu_days.values()) == 4 * 72


def test_the_planted_budget_is_overrun_in_exactly_one_month() -> None:
    world = build_world(9, AS_OF, SHORT_START)
    (budget,) = planted_budgets(world)
    monthly: dict[date, Decimal] = defaultdict(Decimal)
    for charge in Meter(world).charges("aws"):
        if charge.resource.account_id == budget.scope["sub_account_id"]:
            monthly[month_of(charge.day)] += charge.cost
    overrun = [month for month, spent in monthly.items() if spent > budget.amount]
    assert overrun == [budget.overrun_month]
    assert budget.overrun_month == month_of(AS_OF - timedelta(days=12))


def test_a_stopped_instance_pays_for_its_disk_but_not_for_compute() -> None:
    world = build_world(9, date(2025, 9, 1), date(2025, 1, 1))  # stopped 200 days in, at 17:00
    meter = Meter(world)
    stopped_on = date(2025, 1, 1) + timedelta(days=200)
    charges = [c for c in meter.charges("aws") if c.resource.blueprint == "analytics-old"]
    compute = {c.day: c.quantity for c in charges if c.usage_kind == UsageKind.COMPUTE_HOURS}
    storage_days = {c.day for c in charges if c.usage_kind == UsageKind.BLOCK_STORAGE}
    assert compute[stopped_on] == 17
    assert max(compute) == stopped_on
    assert max(storage_days) == date(2025, 8, 31)


def test_a_resize_changes_the_rate_from_that_hour_on() -> None:
    world = build_world(9, date(2025, 12, 1), date(2025, 1, 1))  # api-1 resized on day 300 at 02:00
    resized_on = date(2025, 1, 1) + timedelta(days=300)
    hours = {
        (c.day, c.size): c.quantity
        for c in Meter(world).charges("aws")
        if c.resource.blueprint == "api-1" and c.usage_kind == UsageKind.COMPUTE_HOURS
    }
    assert hours[(resized_on - timedelta(days=1), "m5.large")] == 24
    assert hours[(resized_on, "m5.large")] == 2
    assert hours[(resized_on, "m5.xlarge")] == 22
    assert (resized_on + timedelta(days=1), "m5.large") not in hours


def test_autoscaled_group_runs_more_instances_in_the_wedding_season() -> None:
    world = build_world(9, date(2025, 10, 1), date(2025, 1, 1))
    by_month: dict[int, list[Decimal]] = defaultdict(list)
    for charge in Meter(world).charges("aws"):
        if charge.resource.blueprint == "web" and charge.usage_kind == UsageKind.COMPUTE_HOURS:
            by_month[charge.day.month].append(charge.quantity)
    average = {month: sum(q) / len(q) for month, q in by_month.items()}
    assert average[7] > average[3] * Decimal("1.3")
    assert all(Workload.WEB for _ in average)
