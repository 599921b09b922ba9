"""Forecasts as the API shows them, from a serving snapshot's ``cost_forecast`` tables.

Money leaves as Decimal rounded to cents (the forecast itself is a float estimate). A period
end (month, quarter) is the exact actual cost to the last day with data plus the forecast of
the days left; its bounds add the daily bounds, a cautious interval (daily errors of one series
are correlated, so they do not cancel out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from analytics.overview import Queryable

GROUPS = {"total": None, "provider": "ProviderName", "service": "ServiceName"}
BANDS = ("lo_80", "hi_80", "lo_95", "hi_95")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class PeriodEnd:
    period: str  # month or quarter
    end: date
    actual_to_date: Decimal
    mean: Decimal
    bands: dict[str, Decimal]


@dataclass
class SeriesForecast:
    key: dict[str, str]
    currency: str
    model: str | None
    scores: dict[str, Any]
    points: list[dict[str, Any]] = field(default_factory=list)
    period_ends: list[PeriodEnd] = field(default_factory=list)


def has_forecasts(query: Queryable) -> bool:
    rows = query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'cost_forecast'", [])
    return bool(rows and rows[0][0])


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def forecasts(
    query: Queryable, *, group_by: str, horizon: int, data_through: date, currency: str | None = None
) -> list[SeriesForecast]:
    """Every series of the group (``total``, ``provider`` or ``service``) with its model, its
    backtest scores, ``horizon`` daily points after ``data_through`` and its month and quarter ends."""
    found: dict[tuple[str | None, str], SeriesForecast] = {}
    for row in query(
        "SELECT value, currency, model, mase, mape, seasonal_naive_mape, mase_insample, history_days, yearly, "
        "reason FROM cost_forecast_models WHERE series = ? AND (? IS NULL OR currency = ?) ORDER BY value, currency",
        [group_by, currency, currency],
    ):
        value, cur, model, *scores = row
        names = ("mase", "mape", "seasonal_naive_mape", "mase_insample", "history_days", "yearly", "reason")
        key = {} if value is None else {group_by: value}
        found[(value, cur)] = SeriesForecast(key, cur, model, dict(zip(names, scores, strict=True)))
    last = data_through + timedelta(days=horizon)
    for value, cur, ds, mean, *bands in query(
        f"SELECT value, currency, ds, mean, {', '.join(BANDS)} FROM cost_forecast WHERE series = ? "
        "AND ds > ? AND ds <= ? AND (? IS NULL OR currency = ?) ORDER BY value, currency, ds",
        [group_by, data_through, last, currency, currency],
    ):
        if (series := found.get((value, cur))) is not None:
            series.points.append(
                {"date": ds, "mean": money(mean), **{b: money(v) for b, v in zip(BANDS, bands, strict=True)}}
            )
    for series in found.values():
        series.period_ends = period_ends(query, group_by, series, data_through)
    return sorted(found.values(), key=lambda s: (s.currency, [str(v) for v in s.key.values()]))


def _period_bounds(day: date) -> list[tuple[str, date, date]]:
    month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    quarter_first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    quarter_next = date(quarter_first.year + (quarter_first.month + 2) // 12, (quarter_first.month + 2) % 12 + 1, 1)
    return [("month", day.replace(day=1), month_end), ("quarter", quarter_first, quarter_next - timedelta(days=1))]


def period_ends(query: Queryable, group_by: str, series: SeriesForecast, data_through: date) -> list[PeriodEnd]:
    column = GROUPS[group_by]
    value = series.key.get(group_by)
    figures = []
    for period, start, end in _period_bounds(data_through):
        scope = f"AND {column} = ?" if column else ""
        actual_rows = query(
            f"SELECT sum(BilledCost) FROM cost_daily WHERE BillingCurrency = ? AND ChargeDate BETWEEN ? AND ? {scope}",
            [series.currency, start, data_through, *([value] if column else [])],
        )
        actual = actual_rows[0][0] if actual_rows and actual_rows[0][0] is not None else Decimal(0)
        rest = query(
            f"SELECT sum(mean), {', '.join(f'sum({b})' for b in BANDS)}, count(*) FROM cost_forecast "
            "WHERE series = ? AND value IS NOT DISTINCT FROM ? AND currency = ? AND ds > ? AND ds <= ?",
            [group_by, value, series.currency, data_through, end],
        )[0]
        if rest[-1] != (end - data_through).days:
            continue  # the forecast does not reach the period's end
        mean, *bands = (Decimal(str(v or 0)) for v in rest[:-1])
        figures.append(PeriodEnd(period, end, money(actual), money(actual + mean),
                                 {b: money(actual + v) for b, v in zip(BANDS, bands, strict=True)}))  # fmt: skip
    return figures
