"""Optimisation rules on crafted metric series, each at its boundaries, with savings checked by hand."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from analytics.money import to_cents
from analytics.optimisation.model import Catalogue, Rates, Recommendation, Resource, recommendation_id
from analytics.optimisation.rightsizing import rightsize
from analytics.optimisation.rules import hourly_metrics, idle, stopped_paying, unattached
from clouds.base import METRICS_SCHEMA, InstanceType, ResourceState

NOW = datetime(2026, 11, 27, tzinfo=UTC)
HOUR = timedelta(hours=1)
GIB = Decimal


def _type(name: str, vcpus: int, memory: int, price: str, arch: str = "x86_64", gpus: int = 0) -> InstanceType:
    return InstanceType(name, name.split(".")[0], vcpus, GIB(memory), Decimal(price), architecture=arch, gpus=gpus)


TYPES = [
    _type("m5.xlarge", 4, 16, "0.192"),
    _type("m5.large", 2, 8, "0.096"),
    _type("r5.large", 2, 16, "0.126"),
    _type("c5.large", 2, 4, "0.085"),
    _type("t3.medium", 2, 4, "0.0416"),
    _type("m6g.xlarge", 4, 16, "0.154", arch="arm64"),
    _type("m6g.large", 2, 8, "0.077", arch="arm64"),
    _type("g4dn.large", 2, 8, "0.050", gpus=1),  # implausibly cheap on purpose: GPUs must still be refused
]
CATALOGUE = Catalogue({("aws", "us-east-1"): TYPES})
# 10 Gbps moves 10e9 / 8 * 3600 = 4.5e12 bytes an hour; 2 % of that is 9e10
CAPACITY_BYTES_PER_HOUR = 4.5e12


def _vm(rid: str = "i-1", size: str = "m5.xlarge", arch: str | None = None, **kw: object) -> Resource:
    fields: dict[str, object] = {"state": ResourceState.RUNNING, "state_since": NOW - timedelta(days=60)}
    fields.update(kw)
    return Resource(rid, "aws", "123", "us-east-1", "instance", size=size, architecture=arch, **fields)  # type: ignore[arg-type]


def _series(rid: str, metric: str, values: Sequence[float], step: timedelta = HOUR) -> pl.DataFrame:
    """``values`` as consecutive samples ending just before NOW."""
    start = NOW - step * len(values)
    rows = [(rid, metric, start + step * i, float(v)) for i, v in enumerate(values)]
    return pl.DataFrame(rows, schema=list(METRICS_SCHEMA), orient="row").cast(METRICS_SCHEMA)


def _idle_metrics(cpu: Sequence[float], net_percent: float = 0.5, rid: str = "i-1") -> pl.DataFrame:
    """CPU as given, network split evenly in/out at ``net_percent`` of capacity, same hours."""
    half = CAPACITY_BYTES_PER_HOUR * net_percent / 100 / 2
    return pl.concat(
        [
            _series(rid, "cpu_percent", cpu),
            _series(rid, "network_in_bytes", [half] * len(cpu)),
            _series(rid, "network_out_bytes", [half] * len(cpu)),
        ]
    )


RATES = Rates("USD", {"i-1": Decimal("0.1")})


# ---------------------------------------------------------------- idle


@pytest.mark.parametrize(("cpu", "expected"), [(2.9, 1), (3.0, 0)])
def test_idle_cpu_p95_boundary_is_strictly_below_3_percent(cpu: float, expected: int) -> None:
    assert len(idle([_vm()], _idle_metrics([cpu] * 168), CATALOGUE, RATES, now=NOW)) == expected


@pytest.mark.parametrize(("hours", "expected"), [(29, 0), (30, 1)])
def test_idle_needs_30_hours_of_data(hours: int, expected: int) -> None:
    assert len(idle([_vm()], _idle_metrics([1.0] * hours), CATALOGUE, RATES, now=NOW)) == expected


@pytest.mark.parametrize(("net", "expected"), [(1.99, 1), (2.01, 0)])
def test_idle_network_boundary_at_2_percent_of_capacity(net: float, expected: int) -> None:
    assert len(idle([_vm()], _idle_metrics([1.0] * 168, net), CATALOGUE, RATES, now=NOW)) == expected


def test_idle_saving_is_the_effective_rate_over_730_hours() -> None:
    (rec,) = idle([_vm()], _idle_metrics([1.0] * 168), CATALOGUE, RATES, now=NOW)
    assert rec.monthly_saving == Decimal("0.1") * 730
    assert (rec.kind, rec.action, rec.target) == ("idle", "stop", None)
    assert rec.evidence["rate_basis"] == "effective"
    assert rec.evidence["hours_with_data"] == 168
    assert rec.confidence == 1.0


def test_idle_falls_back_to_the_list_price_and_says_so() -> None:
    (rec,) = idle([_vm()], _idle_metrics([1.0] * 168), CATALOGUE, Rates("USD"), now=NOW)
    assert rec.monthly_saving == Decimal("0.192") * 730
    assert rec.evidence["rate_basis"] == "list"


def test_busy_at_night_only_is_not_idle() -> None:
    night = [60.0 if h % 24 < 6 else 0.5 for h in range(168)]
    assert idle([_vm()], _idle_metrics(night), CATALOGUE, RATES, now=NOW) == []


def test_high_p95_with_low_mean_is_not_idle() -> None:
    cpu = [30.0] * 9 + [0.5] * 159  # mean 2.08 %, but 5.4 % of hours are busy
    assert sum(cpu) / len(cpu) < 3
    assert idle([_vm()], _idle_metrics(cpu), CATALOGUE, RATES, now=NOW) == []


def test_short_peaks_within_the_hour_are_not_averaged_away() -> None:
    five_minutes = [20.0 if i % 12 == 0 else 0.5 for i in range(168 * 12)]  # hourly mean 2.1 %, max 20 %
    metrics = pl.concat(
        [_series("i-1", "cpu_percent", five_minutes, timedelta(minutes=5)), _idle_metrics([0.0] * 168).slice(168)]
    )
    assert idle([_vm()], metrics, CATALOGUE, RATES, now=NOW) == []


def test_idle_without_network_data_says_nothing() -> None:
    assert idle([_vm()], _series("i-1", "cpu_percent", [0.1] * 168), CATALOGUE, RATES, now=NOW) == []


def test_idle_ignores_samples_older_than_7_days() -> None:
    old = _idle_metrics([1.0] * 200).with_columns(pl.col("timestamp") - timedelta(days=7))
    assert idle([_vm()], old, CATALOGUE, RATES, now=NOW) == []


def test_production_raises_the_risk_of_stopping() -> None:
    (rec,) = idle([_vm(tags={"Environment": "Prod"})], _idle_metrics([1.0] * 168), CATALOGUE, RATES, now=NOW)
    assert rec.risk == "high"


# ---------------------------------------------------------------- unattached and stopped


def _detached(rid: str, subtype: str, days: float, size: str | None = None) -> Resource:
    return Resource(rid, "aws", "123", "us-east-1", subtype, ResourceState.AVAILABLE,  # type: ignore[arg-type]
                    size=size, state_since=NOW - timedelta(days=days))  # fmt: skip


@pytest.mark.parametrize(("days", "expected"), [(6, 0), (8, 1)])
def test_unattached_disk_after_more_than_7_days(days: float, expected: int) -> None:
    rates = Rates("USD", volume_gb_month=Decimal("0.08"))
    found = unattached([_detached("vol-1", "volume", days, "100GB")], rates, now=NOW)
    assert len(found) == expected
    if found:
        assert found[0].kind == "unattached_disk"
        assert to_cents(found[0].monthly_saving) == Decimal("8.00")  # 100 GB x 0.08 a GB-month


def test_unattached_ip_priced_at_its_effective_rate() -> None:
    rates = Rates("USD", {"eip-1": Decimal("0.005")}, address_hourly=Decimal("0.01"))
    (rec,) = unattached([_detached("eip-1", "address", 8)], rates, now=NOW)
    assert (rec.kind, rec.action, rec.monthly_saving) == ("unattached_ip", "delete", Decimal("3.650"))


def test_attached_or_undated_volumes_are_left_alone() -> None:
    rates = Rates("USD", volume_gb_month=Decimal("0.08"))
    attached = Resource("vol-2", "aws", "123", "us-east-1", "volume", ResourceState.AVAILABLE, size="10GB",
                        attached_to="i-1", state_since=NOW - timedelta(days=30))  # fmt: skip
    undated = Resource("vol-3", "aws", "123", "us-east-1", "volume", ResourceState.AVAILABLE, size="10GB")
    assert unattached([attached, undated], rates, now=NOW) == []


@pytest.mark.parametrize(("days", "expected"), [(6, 0), (8, 1)])
def test_stopped_instance_still_paying_for_its_disks(days: float, expected: int) -> None:
    vm = _vm(state=ResourceState.STOPPED, state_since=NOW - timedelta(days=days))
    disk = Resource("vol-1", "aws", "123", "us-east-1", "volume", ResourceState.AVAILABLE, size="50GB",
                    attached_to="i-1")  # fmt: skip
    found = stopped_paying([vm, disk], Rates("USD", {"vol-1": Decimal("0.01")}), now=NOW)
    assert len(found) == expected
    if found:
        assert (found[0].action, found[0].monthly_saving) == ("terminate", Decimal("7.30"))


def test_stopped_instance_costing_nothing_is_not_reported() -> None:
    vm = _vm(state=ResourceState.STOPPED, state_since=NOW - timedelta(days=30))
    assert stopped_paying([vm], Rates("USD", {"i-1": Decimal(0)}), now=NOW) == []


# ---------------------------------------------------------------- rightsizing


def _load(cpu: float | Sequence[float], memory: float | None, hours: int = 14 * 24) -> pl.DataFrame:
    cpu_values = [cpu] * hours if isinstance(cpu, int | float) else list(cpu)
    frames = [_series("i-1", "cpu_percent", cpu_values)]
    if memory is not None:
        frames.append(_series("i-1", "memory_percent", [memory] * hours))
    return pl.concat(frames)


def test_rightsize_picks_the_cheapest_fit_and_carries_the_discount_over() -> None:
    # need 4 x 20 % x 1.2 = 0.96 vCPU and 16 x 30 % x 1.2 = 5.76 GiB -> m5.large (2, 8) at 0.096
    (rec,) = rightsize([_vm()], _load(20, 30), CATALOGUE, RATES, now=NOW)
    assert (rec.kind, rec.action, rec.target) == ("rightsize", "resize", "m5.large")
    expected = Decimal("0.1") * (1 - Decimal("0.096") / Decimal("0.192")) * 730  # 36.50
    assert rec.monthly_saving == expected == Decimal("36.5")
    assert rec.evidence["rate_basis"] == "effective"
    assert rec.confidence == 1.0  # full window, flat load, memory measured


def test_unknown_memory_keeps_current_memory_as_floor_and_lowers_confidence() -> None:
    known = rightsize([_vm()], _load(20, 30), CATALOGUE, RATES, now=NOW)[0]
    (unknown,) = rightsize([_vm()], _load(20, None), CATALOGUE, RATES, now=NOW)
    assert unknown.target == "r5.large"  # the only cheaper 16 GiB x86 type
    assert unknown.evidence["memory_measured"] is False
    assert unknown.confidence < known.confidence
    assert unknown.risk == "medium"


@pytest.mark.parametrize(("headroom", "target"), [(0.0, "m5.large"), (0.2, None)])
def test_headroom_makes_the_next_size_down_not_fit(headroom: float, target: str | None) -> None:
    # 4 x 45 % = 1.8 vCPU fits in 2; with 20 % headroom 2.16 does not
    found = rightsize([_vm()], _load(45, 30), CATALOGUE, RATES, now=NOW, headroom=headroom)
    assert [r.target for r in found] == ([target] if target else [])


def test_architecture_is_respected_and_gpus_refused() -> None:
    arm = _vm(size="m6g.xlarge", arch="arm64")
    (rec,) = rightsize([arm], _load(20, 15), CATALOGUE, RATES, now=NOW)
    assert rec.target == "m6g.large"  # x86 t3.medium is cheaper and fits, but is another architecture
    (x86,) = rightsize([_vm()], _load(20, 15), CATALOGUE, RATES, now=NOW)
    assert x86.target == "t3.medium"  # not the cheaper g4dn.large: no GPU unless the current has one


def test_never_a_bigger_or_pricier_type() -> None:
    assert rightsize([_vm(size="m5.large")], _load(90, 90), CATALOGUE, RATES, now=NOW) == []


def test_rightsize_needs_half_the_window_and_spiky_load_lowers_confidence() -> None:
    assert rightsize([_vm()], _load(20, 30, hours=167), CATALOGUE, RATES, now=NOW) == []
    spiky = [5.0 if h % 2 else 35.0 for h in range(14 * 24)]  # P95 35 % -> 1.68 vCPU, fits in 2
    (rec,) = rightsize([_vm()], _load(spiky, 30), CATALOGUE, RATES, now=NOW)
    assert rec.confidence < 0.7
    assert rec.evidence["cpu_coefficient_of_variation"] > 0.5


def test_rightsize_refuses_unsupported_settings() -> None:
    with pytest.raises(ValueError, match="days"):
        rightsize([], _load(1, 1), CATALOGUE, RATES, now=NOW, days=20)
    with pytest.raises(ValueError, match="cpu_percentile"):
        rightsize([], _load(1, 1), CATALOGUE, RATES, now=NOW, cpu_percentile=80)


# ---------------------------------------------------------------- ids


def test_ids_are_stable_across_runs_and_change_with_the_target() -> None:
    same = recommendation_id("idle", "aws", "i-1", "stop", None)
    first = rightsize([_vm()], _load(20, 30), CATALOGUE, RATES, now=NOW)[0]
    later = rightsize([_vm()], _load(21, 31), CATALOGUE, RATES, now=NOW + timedelta(days=1))[0]
    assert first.target == later.target
    assert first.id == later.id
    other = rightsize([_vm()], _load(20, 15), CATALOGUE, RATES, now=NOW)[0]
    assert other.target != first.target
    assert other.id != first.id
    assert same != recommendation_id("idle", "gcp", "i-1", "stop", None)


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone"):
        unattached([], RATES, now=NOW.replace(tzinfo=None))


# ---------------------------------------------------------------- one pass over the fleet


def _same(found: list[Recommendation]) -> list[Recommendation]:
    """Confidence to 9 places: a mean and standard deviation summed in another order may differ
    in the last bits, which was already so between runs of the per-resource version."""
    return [replace(r, confidence=round(r.confidence, 9)) for r in found]


def _fleet() -> tuple[list[Resource], pl.DataFrame]:
    """Resources of every case side by side: idle, busy, oversized with and without memory,
    gappy, with null samples, stopped, of an unknown type, and one listed twice."""
    spiky = [5.0 if h % 3 else 40.0 for h in range(14 * 24)]
    gaps = [None if h % 4 == 0 else 1.0 for h in range(14 * 24)]
    loads = {
        "i-idle": _idle_metrics([1.0] * 14 * 24, rid="i-idle"),
        "i-busy": _idle_metrics([70.0] * 14 * 24, 20, rid="i-busy"),
        "i-over": pl.concat([_series("i-over", "cpu_percent", spiky), _series("i-over", "memory_percent", [20] * 336)]),
        "i-nomem": _series("i-nomem", "cpu_percent", [12.0] * 14 * 24),
        "i-gappy": _idle_metrics([1.0] * 100, rid="i-gappy").filter(pl.col("timestamp").dt.hour() % 2 == 0),
        "i-nulls": _idle_metrics([1.0] * 14 * 24, rid="i-nulls").with_columns(
            pl.when(pl.col("timestamp").dt.hour() < 12).then(None).otherwise(pl.col("value")).alias("value")
        ),
        "i-stopped": _idle_metrics([1.0] * 168, rid="i-stopped"),
        "i-odd": _idle_metrics([1.0] * 168, rid="i-odd"),
        "i-spiky": _series("i-spiky", "cpu_percent", [float(v) for v in gaps if v is not None]),
    }
    resources = [
        _vm("i-idle"),
        _vm("i-busy"),
        _vm("i-over"),
        _vm("i-nomem"),
        _vm("i-gappy"),
        _vm("i-nulls", size="m6g.xlarge", arch="arm64"),
        _vm("i-stopped", state=ResourceState.STOPPED),
        _vm("i-odd", size="x9.huge"),
        _vm("i-spiky"),
        _vm("i-idle", tags={"env": "prod"}),
        _vm("i-none"),
    ]
    return resources, pl.concat(loads.values()).sample(fraction=1.0, shuffle=True, seed=1)


@pytest.mark.parametrize("rule", [idle, rightsize])
def test_the_whole_fleet_at_once_equals_each_resource_alone(rule: Callable[..., list[Recommendation]]) -> None:
    resources, metrics = _fleet()
    alone = [
        rec
        for resource in resources
        for rec in rule(
            [resource], metrics.filter(pl.col("resource_id") == resource.resource_id), CATALOGUE, RATES, now=NOW
        )
    ]
    together = rule(resources, metrics, CATALOGUE, RATES, now=NOW)
    assert _same(together) == _same(alone)
    assert {r.resource_id for r in together} >= ({"i-idle"} if rule is idle else {"i-over", "i-nomem"})


def test_null_samples_are_not_hours_of_cpu_but_null_bytes_count_as_zero() -> None:
    cpu = _series("i-1", "cpu_percent", [1.0] * 168).with_columns(
        pl.when(pl.int_range(pl.len()) < 139).then(None).otherwise(pl.col("value")).alias("value")
    )
    network = (
        _idle_metrics([1.0] * 168)
        .filter(pl.col("metric") != "cpu_percent")
        .with_columns(pl.lit(None, pl.Float64).alias("value"))
    )
    assert idle([_vm()], pl.concat([cpu, network]), CATALOGUE, RATES, now=NOW) == []  # 29 hours of CPU
    (rec,) = idle(
        [_vm()], pl.concat([cpu.with_columns(pl.lit(1.0).alias("value")), network]), CATALOGUE, RATES, now=NOW
    )
    assert rec.evidence["network_p95_percent_of_capacity"] == 0.0


@pytest.mark.parametrize("rule", [idle, rightsize])
def test_metrics_summarised_per_hour_once_give_the_same_recommendations_as_raw_samples(
    rule: Callable[..., list[Recommendation]],
) -> None:
    resources, metrics = _fleet()
    # each hourly sample as twelve 5-minute ones: percentages peak at the hour's value, bytes add up to it
    bytes_ = pl.col("metric").str.ends_with("_bytes")
    five_minutes = pl.concat(
        metrics.with_columns(
            (pl.col("timestamp") + timedelta(minutes=5 * k)).alias("timestamp"),
            pl.when(bytes_).then(pl.col("value") / 12).otherwise(pl.col("value") * (1.0 if k == 7 else 0.5)),
        )
        for k in range(12)
    )
    hourly = hourly_metrics(five_minutes, start=NOW - timedelta(days=93), end=NOW)
    raw = rule(resources, five_minutes, CATALOGUE, RATES, now=NOW)
    assert raw
    assert _same(rule(resources, hourly, CATALOGUE, RATES, now=NOW)) == _same(raw)
