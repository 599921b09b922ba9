"""Off-hours schedules: stop non-production instances at night and at weekends.

A resource qualifies when, in its own timezone, its CPU stayed idle in the nightly window
(20:00-07:00 local) on at least 90% of weeknights and in every weekend hour (Friday 20:00 to
Monday 07:00) of a lookback of at least 14 days. Production is never scheduled, nor is anything
whose environment is unknown: a missing tag is no evidence that stopping it is safe.

Input: the long METRICS_SCHEMA frame of :mod:`clouds.base` (only ``cpu_percent`` is read: an
hourly sample is that hour's average), :class:`~analytics.optimisation.model.Resource` rows and
:class:`~analytics.optimisation.model.Rates`. Windows are built in local time with zoneinfo and
converted to UTC, so a DST week keeps its nights at 20:00-07:00 local (one of its nights is an
hour shorter or longer in UTC); samples are compared in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

from analytics.money import to_cents
from analytics.optimisation.model import HOURS_PER_MONTH, Catalogue, PricedHour, Rates, Recommendation, Resource
from analytics.optimisation.rules import HourlyMetrics, Metrics, instance_list_price
from clouds.base import Metric, ResourceState

NON_PRODUCTION = frozenset({"dev", "development", "test", "staging", "qa", "sandbox"})
"""Environment tag values (case-insensitive) that may be stopped out of hours."""

DEFAULT_TIMEZONE = "Europe/London"
"""WedSync's office: the timezone of a resource without a ``timezone`` tag."""

NIGHT_START = time(20, 0)
NIGHT_END = time(7, 0)
"""The nightly window, local time: after the evening's last deploy, before the first stand-up."""

IDLE_CPU_PERCENT = 5.0
"""An hour is idle when its average CPU is under 5%: an idle VM's agents, cron and updates stay
around 1-3%, while anything serving requests or running a job passes 5% in some hour. The
*maximum* hour of a window is compared, so one nightly batch run makes that night busy: a
schedule would have killed it."""

MIN_IDLE_WEEKNIGHTS = 0.9
"""Share of weeknights that must be idle: one busy night in ten (a late fix) is tolerated."""

MIN_SAMPLED = 0.8
"""Share of a window's hours that must have a sample: no metrics is no evidence of idleness."""

MIN_LOOKBACK_DAYS = 14
"""Two whole weeks, so both weekends and every weeknight are seen at least twice."""

OFF_HOURS_PER_WEEK = 4 * 11 + 59
"""Monday-Thursday nights (11 hours each) and the weekend from Friday 20:00 to Monday 07:00."""

HOURS_PER_WEEK = 168


@dataclass(frozen=True)
class Window:
    """One off-hours window: a weeknight or a weekend, as UTC instants."""

    kind: str  # "weeknight" | "weekend"
    start: datetime
    end: datetime

    @property
    def hours(self) -> float:
        return (self.end - self.start) / timedelta(hours=1)


def timezone_of(resource: Resource) -> ZoneInfo | None:
    """The resource's ``timezone`` tag (key case-insensitive), DEFAULT_TIMEZONE without one, None
    for a name zoneinfo does not know: guessing would stop a VM during someone's working day."""
    name = next((v for k, v in resource.tags.items() if k.lower() == "timezone"), DEFAULT_TIMEZONE)
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory such as "Europe"
        return None


def off_hours_windows(start: datetime, end: datetime, zone: ZoneInfo) -> list[Window]:
    """The weeknights (starting Monday-Thursday) and weekends (Friday 20:00 to Monday 07:00 local)
    lying wholly within [start, end)."""
    windows = []
    day = start.astimezone(zone).date() - timedelta(days=1)
    while datetime.combine(day, NIGHT_START, zone) < end:
        window = _window_starting(day, zone)
        if window is not None and window.start >= start and window.end <= end:
            windows.append(window)
        day += timedelta(days=1)
    return windows


def schedule_spec(zone: ZoneInfo) -> str:
    """The canonical target: the off-hours and the timezone they are read in."""
    night, morning = f"{NIGHT_START:%H:%M}", f"{NIGHT_END:%H:%M}"
    return f"off Mon-Thu {night}-{morning}, Fri {night}-Mon {morning}; {zone.key}"


def zone_of_spec(spec: str) -> ZoneInfo | None:
    """The timezone a :func:`schedule_spec` is read in (after its ``;``), None if unknown."""
    _, _, name = spec.rpartition(";")
    try:
        return ZoneInfo(name.strip()) if name.strip() else None
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def is_off_hours(moment: datetime, zone: ZoneInfo) -> bool:
    """Whether ``moment`` (aware) falls in a weeknight or weekend window of ``zone``'s local time.
    A window opens at most three local days before it ends, so four candidate days suffice."""
    today = moment.astimezone(zone).date()
    for back in range(4):
        window = _window_starting(today - timedelta(days=back), zone)
        if window is not None and window.start <= moment < window.end:
            return True
    return False


def _window_starting(day: date, zone: ZoneInfo) -> Window | None:
    weekday = day.weekday()
    if weekday > 4:  # Saturday and Sunday are inside Friday's weekend window
        return None
    days = 3 if weekday == 4 else 1
    opens = datetime.combine(day, NIGHT_START, zone)
    closes = datetime.combine(day + timedelta(days=days), NIGHT_END, zone)
    return Window("weekend" if weekday == 4 else "weeknight", opens.astimezone(UTC), closes.astimezone(UTC))


def window_activity(cpu: pl.DataFrame, windows: Sequence[Window]) -> pl.DataFrame:
    """Per resource and window: its kind, hours, hours with a sample and the highest hourly CPU
    (null if none), in one pass over every resource's samples (``resource_id, timestamp,
    value``). The windows are shared by every resource of one timezone."""
    frame = pl.DataFrame(
        {
            "window": list(range(len(windows))),
            "kind": [w.kind for w in windows],
            "start": [w.start for w in windows],
            "end": [w.end for w in windows],
            "hours": [w.hours for w in windows],
        },
        schema={
            "window": pl.Int64,
            "kind": pl.String,
            "start": pl.Datetime("us", "UTC"),
            "end": pl.Datetime("us", "UTC"),
            "hours": pl.Float64,
        },
    )
    samples = (
        cpu.sort("timestamp")
        .join_asof(frame.sort("start"), left_on="timestamp", right_on="start", strategy="backward")
        .filter(pl.col("timestamp") < pl.col("end"))
        .group_by("resource_id", "window")
        .agg(
            sampled=pl.col("timestamp").dt.truncate("1h").n_unique(),
            max_cpu=pl.col("value").max(),
        )
    )
    resources = cpu.select("resource_id").unique()
    return (
        resources.join(frame, how="cross")
        .join(samples, on=["resource_id", "window"], how="left")
        .with_columns(pl.col("sampled").fill_null(0))
        .sort("resource_id", "window")
    )


def _idle(activity: pl.DataFrame) -> pl.Series:
    """Idle windows: enough samples, every hour under IDLE_CPU_PERCENT."""
    return activity.select(
        (pl.col("sampled") >= pl.col("hours") * MIN_SAMPLED) & (pl.col("max_cpu") < IDLE_CPU_PERCENT)
    ).to_series()


def recommend_schedules(
    metrics: Metrics,
    resources: Sequence[Resource],
    rates: Rates,
    *,
    end: datetime,
    lookback_days: int = MIN_LOOKBACK_DAYS,
    catalogue: Catalogue | None = None,
) -> list[Recommendation]:
    """A schedule for each running non-production instance idle out of hours over the
    ``lookback_days`` before ``end``. Saving is priced at the effective rate from billing, at the
    catalogue's list price when billing has none; without either there is no recommendation."""
    if lookback_days < MIN_LOOKBACK_DAYS:
        raise ValueError(f"a schedule needs at least {MIN_LOOKBACK_DAYS} days of metrics, not {lookback_days}")
    start = end - timedelta(days=lookback_days)
    candidates = [resource for resource in resources if _candidate(resource)]
    by_zone: dict[ZoneInfo, list[Resource]] = {}
    for resource in candidates:
        zone = timezone_of(resource)
        if zone is not None:  # an unknown timezone is never guessed
            by_zone.setdefault(zone, []).append(resource)
    found = []
    for zone, group in by_zone.items():
        cpu = _cpu(metrics, start, end, [r.resource_id for r in group])
        windows = off_hours_windows(start, end, zone)
        activity = {
            key[0]: part
            for key, part in window_activity(cpu, windows).partition_by("resource_id", as_dict=True).items()
        }
        for resource in group:
            price = _price(resource, rates, catalogue)
            mine = activity.get(resource.resource_id)
            if price is None or mine is None:  # no samples at all: no evidence of idleness
                continue
            rec = _recommend_one(resource, mine, price, zone, start, end)
            if rec is not None:
                found.append(rec)
    return found


def _cpu(metrics: Metrics, start: datetime, end: datetime, ids: list[str]) -> pl.DataFrame:
    """``resource_id, timestamp, value`` CPU samples of ``ids`` in [start, end): raw samples, or
    each hour's maximum when the metrics are already summarised per hour (the windows' maximum
    and hours with data come out the same)."""
    if isinstance(metrics, HourlyMetrics):
        hours = metrics.frame.filter(
            pl.col("timestamp").is_between(start, end, closed="left")
            & pl.col("resource_id").is_in(ids)
            & pl.col("cpu").is_not_null()
        )
        return hours.select("resource_id", "timestamp", pl.col("cpu").alias("value"))
    return metrics.filter(
        (pl.col("metric") == Metric.CPU_PERCENT.value)
        & pl.col("timestamp").is_between(start, end, closed="left")
        & pl.col("resource_id").is_in(ids)
    ).select("resource_id", "timestamp", "value")


def _candidate(resource: Resource) -> bool:
    return (
        resource.subtype == "instance"
        and resource.state == ResourceState.RUNNING
        and (resource.environment or "") in NON_PRODUCTION
    )


def _price(resource: Resource, rates: Rates, catalogue: Catalogue | None) -> PricedHour | None:
    effective = rates.running(resource.resource_id)
    if effective is not None or catalogue is None:
        return effective
    return instance_list_price(catalogue.size_of(resource))


def _recommend_one(
    resource: Resource, activity: pl.DataFrame, price: PricedHour, zone: ZoneInfo, start: datetime, end: datetime
) -> Recommendation | None:
    idle = _idle(activity)
    weeknight = activity["kind"] == "weeknight"
    nights, idle_nights = int(weeknight.sum()), int((idle & weeknight).sum())
    weekends, idle_weekends = int((~weeknight).sum()), int((idle & ~weeknight).sum())
    if nights == 0 or weekends == 0 or idle_nights < MIN_IDLE_WEEKNIGHTS * nights or idle_weekends < weekends:
        return None
    off_hours = Decimal(repr(float(activity["hours"].sum())))
    target = schedule_spec(zone)
    all_nights = idle_nights == nights
    return Recommendation.build(
        kind="schedule",
        provider=resource.provider,
        account_id=resource.account_id,
        resource_id=resource.resource_id,
        region=resource.region,
        action="schedule",
        target=target,
        monthly_saving=to_cents(price.amount * OFF_HOURS_PER_WEEK * HOURS_PER_MONTH / HOURS_PER_WEEK),
        currency=price.currency,
        evidence={
            "timezone": zone.key,
            "environment": resource.environment,
            "lookback_days": (end - start).days,
            "idle_cpu_percent_below": IDLE_CPU_PERCENT,
            "weeknights": nights,
            "idle_weeknights": idle_nights,
            "weekends": weekends,
            "idle_weekends": idle_weekends,
            "off_hours_per_week": OFF_HOURS_PER_WEEK,
            "hourly_rate": price.amount,
            "price_basis": price.basis,
            "saving_over_lookback": to_cents(price.amount * off_hours),
            "max_off_hours_cpu": activity.filter(idle)["max_cpu"].max(),
        },
        risk="low" if all_nights else "medium",
        risk_reason=(
            "idle every night and weekend; it starts again at 07:00 local"
            if all_nights
            else f"busy on {nights - idle_nights} of {nights} weeknights: that night's work would need a manual start"
        ),
        confidence=0.9 if all_nights else 0.7,
        confidence_reason=f"{idle_nights}/{nights} weeknights and {idle_weekends}/{weekends} weekends idle",
    )
