"""Budget evaluation: which thresholds a period's spend has crossed, and when its forecast will.

Pure functions: callers read the serving snapshot and pass in daily amounts, so the same rules
serve the API (a budget's status) and the Dagster sensor (raising alerts). Money is Decimal
throughout. An amount in another currency than the budget's is ignored, never converted or
added: a EUR budget knows nothing of USD spend.

A threshold is a whole percent of the budget's amount and is crossed when the cumulative spend
reaches it (``>=``: exactly 50% crosses 50%). Actual thresholds compare the period-to-date
spend; forecast thresholds compare the projected spend at period end (actuals to date plus the
forecast of the remaining days). Both report the day the projected path first reaches them.

The recent days a projection learns from (a scope's run rate, or its share of the total) leave
out the days of cost anomalies that have ended: a four-day GPU experiment that is over says
nothing about the rest of the month, while a step up that is still going on does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

PERIODS = ("month", "quarter", "year")
KINDS = ("actual", "forecast")
DEFAULT_THRESHOLDS: dict[str, tuple[int, ...]] = {"actual": (50, 80, 100), "forecast": (100,)}
RUN_RATE_DAYS = 28
PERCENT = Decimal("0.01")
HUNDRED = Decimal(100)


@dataclass(frozen=True)
class DailyCost:
    day: date
    currency: str
    amount: Decimal


@dataclass(frozen=True)
class Crossing:
    """One threshold: whether it is crossed now and the day the projected spend reaches it."""

    kind: str  # actual | forecast
    percent: int
    limit: Decimal  # the amount the threshold stands for
    crossed: bool
    crosses_on: date | None  # None: the projection never reaches it this period


@dataclass(frozen=True)
class Evaluation:
    start: date
    end: date  # last day of the period, inclusive
    data_through: date
    currency: str
    amount: Decimal
    spent: Decimal
    projected: Decimal  # at period end
    forecast_method: str
    crossings: tuple[Crossing, ...]
    left_out: tuple[date, ...] = ()  # recent days the projection left out (ended anomalies)

    @property
    def complete(self) -> bool:
        """The period has no days left after ``data_through``: its spend is final."""
        return self.data_through >= self.end

    @property
    def percent_used(self) -> Decimal:
        return (self.spent * HUNDRED / self.amount).quantize(PERCENT)

    @property
    def projected_percent(self) -> Decimal:
        return (self.projected * HUNDRED / self.amount).quantize(PERCENT)

    @property
    def state(self) -> str:
        """exceeded (spent the amount), at_risk (forecast to), or ok."""
        if self.spent >= self.amount:
            return "exceeded"
        return "at_risk" if self.projected >= self.amount else "ok"


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """The calendar month, quarter or year holding ``day``: (first day, last day)."""
    if period == "month":
        start = day.replace(day=1)
        months = 1
    elif period == "quarter":
        start = day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
        months = 3
    elif period == "year":
        start = day.replace(month=1, day=1)
        months = 12
    else:
        raise ValueError(f"period is one of {', '.join(PERIODS)}, not {period!r}")
    following = start.month - 1 + months
    after = start.replace(year=start.year + following // 12, month=following % 12 + 1)
    return start, after - timedelta(days=1)


def last_closed_period(period: str, data_through: date) -> tuple[date, date]:
    """The latest period the data covers to its last day: the one holding ``data_through`` when
    that is its last day, else the one before."""
    start, end = period_bounds(period, data_through)
    return (start, end) if data_through >= end else period_bounds(period, start - timedelta(days=1))


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def run_rate_forecast(
    history: Iterable[DailyCost], *, currency: str, data_through: date, end: date, days: int = RUN_RATE_DAYS,
    leave_out: Collection[date] = (),
) -> list[DailyCost]:  # fmt: skip
    """Every day after ``data_through`` through ``end`` at the average daily spend of the last
    ``days`` days (counted from the first day with spend, so a young scope is not diluted),
    days in ``leave_out`` left out of both the spend and the count."""
    window_start = data_through - timedelta(days=days - 1)
    window = [c for c in history if c.currency == currency and window_start <= c.day <= data_through]
    if not window or data_through >= end:
        return []
    first = min(c.day for c in window)
    counted = [day for day in _days(first, data_through) if day not in leave_out] or _days(first, data_through)
    kept = set(counted)
    rate = sum((c.amount for c in window if c.day in kept), Decimal(0)) / Decimal(len(counted))
    return [DailyCost(day, currency, rate) for day in _days(data_through + timedelta(days=1), end)]


def share_of(
    part: Iterable[DailyCost], whole: Iterable[DailyCost], *, leave_out: Collection[date] = ()
) -> Decimal | None:
    """The part's share of the whole over their days, days in ``leave_out`` left out of both
    (all days when that would leave nothing); None when the whole is nothing."""
    whole = list(whole)
    kept = {c.day for c in whole} - set(leave_out) or {c.day for c in whole}
    total = sum((c.amount for c in whole if c.day in kept), Decimal(0))
    if total <= 0:
        return None
    return sum((c.amount for c in part if c.day in kept), Decimal(0)) / total


def scaled(forecast: Iterable[DailyCost], share: Decimal) -> list[DailyCost]:
    """A forecast times a share (a scope's part of its total)."""
    return [DailyCost(c.day, c.currency, c.amount * share) for c in forecast]


def evaluate(
    *,
    amount: Decimal,
    currency: str,
    start: date,
    end: date,
    data_through: date,
    actuals: Iterable[DailyCost],
    forecast: Iterable[DailyCost],
    thresholds: dict[str, tuple[int, ...]],
    forecast_method: str,
    left_out: Collection[date] = (),
) -> Evaluation:
    """The budget's spend in ``[start, end]`` as of ``data_through`` and every threshold's state.

    Actuals count from ``start`` through ``data_through``; forecast days count after it through
    ``end``. Rows in other currencies, or outside those ranges, are left out.
    """
    if amount <= 0:
        raise ValueError("a budget's amount is positive")
    last_actual = min(end, data_through)
    path: dict[date, Decimal] = {}
    for cost in actuals:
        if cost.currency == currency and start <= cost.day <= last_actual:
            path[cost.day] = path.get(cost.day, Decimal(0)) + cost.amount
    spent = sum(path.values(), Decimal(0))
    for cost in forecast:
        if cost.currency == currency and last_actual < cost.day <= end:
            path[cost.day] = path.get(cost.day, Decimal(0)) + cost.amount
    projected = sum(path.values(), Decimal(0))
    crossings = tuple(
        _crossing(kind, percent, amount, spent if kind == "actual" else projected, path)
        for kind in KINDS
        for percent in sorted(set(thresholds.get(kind, ())))
    )
    return Evaluation(start, end, data_through, currency, amount, spent, projected, forecast_method, crossings,
                      tuple(sorted(left_out)))  # fmt: skip


def _crossing(kind: str, percent: int, amount: Decimal, compared: Decimal, path: dict[date, Decimal]) -> Crossing:
    limit = amount * percent / HUNDRED
    return Crossing(kind, percent, limit, compared >= limit, _first_day_reaching(path, limit))


def _first_day_reaching(path: dict[date, Decimal], limit: Decimal) -> date | None:
    running = Decimal(0)
    for day in sorted(path):
        running += path[day]
        if running >= limit:
            return day
    return None
