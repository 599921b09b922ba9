"""Schedule rule: off-hours idleness in the resource's own timezone, at its boundaries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from analytics.optimisation.model import Catalogue, Rates, Resource
from analytics.optimisation.schedules import (
    is_off_hours,
    off_hours_windows,
    recommend_schedules,
    schedule_spec,
    zone_of_spec,
)
from clouds.base import METRICS_SCHEMA, InstanceType, ResourceState

LONDON = ZoneInfo("Europe/London")
END = datetime(2026, 11, 23, 7, tzinfo=UTC)  # Monday 07:00 in London (GMT)
RATES = Rates(currency="GBP", effective_hourly={"vm-1": Decimal("0.10")})


def _office_hours(zone: ZoneInfo = LONDON) -> Callable[[datetime], bool]:
    """Busy Monday-Friday 07:00-20:00 in ``zone``, idle otherwise."""

    def busy(at: datetime) -> bool:
        local = at.astimezone(zone)
        return local.weekday() < 5 and 7 <= local.hour < 20

    return busy


def _cpu(
    busy: Callable[[datetime], bool], *, days: int = 14, end: datetime = END, idle: float = 1.0, rid: str = "vm-1"
) -> pl.DataFrame:
    """Hourly cpu_percent samples of one VM: 40% when ``busy``, ``idle`` otherwise."""
    hours = [end - timedelta(hours=h) for h in range(days * 24, 0, -1)]
    return pl.DataFrame(
        {
            "resource_id": rid,
            "metric": "cpu_percent",
            "timestamp": hours,
            "value": [40.0 if busy(h) else idle for h in hours],
        },
        schema=METRICS_SCHEMA,
    )


def _vm(**tags: str) -> Resource:
    return Resource(
        resource_id="vm-1",
        provider="aws",
        account_id="111122223333",
        region="eu-west-2",
        subtype="instance",
        state=ResourceState.RUNNING,
        size="m5.large",
        tags=tags,
    )


def test_dev_vm_idle_every_night_and_weekend_gets_a_schedule() -> None:
    [rec] = recommend_schedules(_cpu(_office_hours()), [_vm(env="dev")], RATES, end=END)
    assert rec.kind == "schedule"
    assert rec.action == "schedule"
    assert rec.target == "off Mon-Thu 20:00-07:00, Fri 20:00-Mon 07:00; Europe/London"
    # 4 nights x 11 h + 59 weekend hours = 103 h a week; 0.10 x 103 x 730 / 168 = 44.7559...
    assert rec.monthly_saving == Decimal("44.76")
    assert rec.currency == "GBP"
    # 14 days: 8 weeknights (88 h) and 2 weekends (118 h): 206 h x 0.10.
    assert rec.evidence["saving_over_lookback"] == "20.60"
    assert (rec.evidence["weeknights"], rec.evidence["weekends"]) == (8, 2)
    assert rec.evidence["price_basis"] == "effective"
    assert rec.risk == "low"


def test_rerunning_later_keeps_the_id() -> None:
    later = END + timedelta(days=7)
    first = recommend_schedules(_cpu(_office_hours()), [_vm(env="dev")], RATES, end=END)
    second = recommend_schedules(_cpu(_office_hours(), end=later), [_vm(env="dev")], RATES, end=later)
    assert [r.id for r in first] == [r.id for r in second]


@pytest.mark.parametrize("tags", [{"env": "prod"}, {"environment": "Production"}, {}, {"env": "preprod"}])
def test_production_or_unknown_environment_is_never_scheduled(tags: dict[str, str]) -> None:
    assert recommend_schedules(_cpu(_office_hours()), [_vm(**tags)], RATES, end=END) == []


@pytest.mark.parametrize("env", ["dev", "Development", "TEST", "staging", "qa", "sandbox"])
def test_every_non_production_environment_qualifies(env: str) -> None:
    assert len(recommend_schedules(_cpu(_office_hours()), [_vm(Environment=env)], RATES, end=END)) == 1


@pytest.mark.parametrize(("busy_nights", "qualifies"), [(0, True), (1, True), (2, False)])
def test_busy_weeknights_of_ten(busy_nights: int, qualifies: bool) -> None:
    # 19 days before Monday 23 November 07:00: Wednesday 4 November 07:00, so 10 weeknights
    # (4, 5, 9-12, 16-19 November) and 3 weekends. 1 busy night in 10 is 90% idle; 2 is 80%.
    nights = [datetime(2026, 11, day, 22, tzinfo=UTC) for day in (4, 10)[:busy_nights]]

    def busy(at: datetime) -> bool:
        return _office_hours()(at) or at in nights

    recs = recommend_schedules(_cpu(busy, days=19), [_vm(env="dev")], RATES, end=END, lookback_days=19)
    assert len(recs) == int(qualifies)
    if recs:
        assert recs[0].evidence["weeknights"] == 10
        assert recs[0].evidence["idle_weeknights"] == 10 - busy_nights
        assert recs[0].risk == ("low" if busy_nights == 0 else "medium")


def test_a_busy_weekend_hour_disqualifies() -> None:
    saturday = datetime(2026, 11, 14, 3, tzinfo=UTC)
    recs = recommend_schedules(_cpu(lambda at: _office_hours()(at) or at == saturday), [_vm(env="dev")], RATES, end=END)
    assert recs == []


@pytest.mark.parametrize(("night_cpu", "qualifies"), [(4.9, True), (5.0, False)])
def test_idle_threshold_is_under_five_percent(night_cpu: float, qualifies: bool) -> None:
    recs = recommend_schedules(_cpu(_office_hours(), idle=night_cpu), [_vm(env="dev")], RATES, end=END)
    assert len(recs) == int(qualifies)


def test_dst_week_keeps_the_window_at_local_hours() -> None:
    # London leaves BST on Sunday 25 October 2026: nights before it start at 19:00 UTC, after it at 20:00.
    end = datetime(2026, 11, 2, 7, tzinfo=UTC)
    windows = off_hours_windows(end - timedelta(days=14), end, LONDON)
    starts = {w.start.astimezone(LONDON).strftime("%a %d %H:%M") for w in windows}
    assert {"Thu 22 20:00", "Fri 23 20:00", "Thu 29 20:00"} <= starts
    thursday_before = next(w for w in windows if w.start.astimezone(LONDON).day == 22)
    assert thursday_before.start == datetime(2026, 10, 22, 19, tzinfo=UTC)
    weekend = next(w for w in windows if w.kind == "weekend" and w.start.day == 23)
    assert weekend.hours == 60  # the clocks went back: one more real hour
    spring = off_hours_windows(datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC), LONDON)
    assert next(w for w in spring if w.kind == "weekend").hours == 58

    # An office-hours VM in London qualifies across the change; one on UTC office hours is busy
    # at 20:00 BST (19:00 UTC) on the BST nights and does not.
    assert len(recommend_schedules(_cpu(_office_hours(), end=end), [_vm(env="dev")], RATES, end=end)) == 1
    utc_office = _office_hours(ZoneInfo("UTC"))
    assert recommend_schedules(_cpu(utc_office, end=end), [_vm(env="dev")], RATES, end=end) == []


def test_missing_timezone_tag_uses_london_and_a_tag_moves_the_window() -> None:
    [rec] = recommend_schedules(_cpu(_office_hours()), [_vm(env="dev")], RATES, end=END)
    assert rec.evidence["timezone"] == "Europe/London"
    # London office hours are 02:00-15:00 in New York: its nights are busy.
    assert (
        recommend_schedules(_cpu(_office_hours()), [_vm(env="dev", timezone="America/New_York")], RATES, end=END) == []
    )
    new_york = _cpu(_office_hours(ZoneInfo("America/New_York")))
    [ny] = recommend_schedules(new_york, [_vm(env="dev", TimeZone="America/New_York")], RATES, end=END)
    assert ny.target is not None
    assert ny.target.endswith("; America/New_York")
    assert ny.id != rec.id
    for unknown in ("Mars/Olympus", "Europe", ""):
        assert recommend_schedules(new_york, [_vm(env="dev", timezone=unknown)], RATES, end=END) == []


def test_missing_metrics_are_not_idleness() -> None:
    cpu = _cpu(_office_hours()).filter(pl.col("timestamp").dt.weekday() != 6)  # no Saturday samples
    assert recommend_schedules(cpu, [_vm(env="dev")], RATES, end=END) == []
    assert recommend_schedules(cpu.clear(), [_vm(env="dev")], RATES, end=END) == []


def test_list_price_when_billing_has_no_rate_and_nothing_without_either() -> None:
    catalogue = Catalogue(
        offers={("aws", "eu-west-2"): [InstanceType("m5.large", "m5", 2, Decimal(8), Decimal("0.168"), "USD")]}
    )
    no_rate = Rates(currency="USD")
    [rec] = recommend_schedules(_cpu(_office_hours()), [_vm(env="dev")], no_rate, end=END, catalogue=catalogue)
    assert rec.evidence["price_basis"] == "list"
    assert rec.monthly_saving == Decimal("75.19")  # 0.168 x 103 x 730 / 168 = 75.19
    assert recommend_schedules(_cpu(_office_hours()), [_vm(env="dev")], no_rate, end=END) == []


def test_lookback_under_14_days_is_refused() -> None:
    with pytest.raises(ValueError, match="14 days"):
        recommend_schedules(_cpu(_office_hours()), [_vm(env="dev")], RATES, end=END, lookback_days=7)


@pytest.mark.parametrize(
    ("moment", "off"),
    [
        (datetime(2026, 3, 24, 19, 59, tzinfo=UTC), False),  # Tuesday 19:59 GMT
        (datetime(2026, 3, 24, 20, 0, tzinfo=UTC), True),  # Tuesday 20:00 GMT
        (datetime(2026, 3, 25, 6, 59, tzinfo=UTC), True),  # Wednesday 06:59 GMT
        (datetime(2026, 3, 25, 7, 0, tzinfo=UTC), False),  # Wednesday 07:00 GMT
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), True),  # Saturday noon
        (datetime(2026, 3, 29, 23, 0, tzinfo=UTC), True),  # Monday 00:00 BST, after the clocks went forward
        (datetime(2026, 3, 30, 6, 0, tzinfo=UTC), False),  # Monday 07:00 BST: the weekend ended an hour early in UTC
        (datetime(2026, 3, 31, 18, 59, tzinfo=UTC), False),  # Tuesday 19:59 BST
        (datetime(2026, 3, 31, 19, 0, tzinfo=UTC), True),  # Tuesday 20:00 BST
    ],
)
def test_off_hours_are_read_in_local_time_across_the_clock_change(moment: datetime, off: bool) -> None:
    zone = zone_of_spec(schedule_spec(ZoneInfo("Europe/London")))
    assert zone == ZoneInfo("Europe/London")
    assert is_off_hours(moment, zone) is off


def test_a_schedule_with_an_unknown_timezone_is_not_read() -> None:
    assert zone_of_spec("off Mon-Thu 20:00-07:00, Fri 20:00-Mon 07:00; Mars/Olympus") is None
