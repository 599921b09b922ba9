"""Forecasts as the API shows them, from a serving snapshot's ``cost_forecast`` tables.

Money leaves as Decimal rounded to cents (the forecast itself is a float estimate). A period
end (month, quarter) is the exact actual cost to the last day with data plus the forecast of
the days left, read from ``cost_forecast_cumulative``: the running total from the first forecast
day, whose intervals were calibrated on the backtest's running totals (daily errors of one
series are correlated, but not perfectly: adding the daily bounds made the demo's December
range 1,230 to 45,129 around 8,085). Snapshots published before that table existed get no
period ends, and their series no coverage figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from analytics.overview import Queryable

GROUPS = {"total": None, "provider": "ProviderName", "service": "ServiceName"}
BANDS = ("lo_80", "hi_80", "lo_95", "hi_95")
SCORES = ("mase", "mape", "seasonal_naive_mape", "mase_insample", "history_days", "yearly", "reason", "outlier_days",
          "coverage_80", "coverage_95", "cv_coverage_80", "cv_coverage_95")  # fmt: skip
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


def _columns(query: Queryable, table: str) -> set[str]:
    return {row[0] for row in query("SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table])}


def money(value: float | Decimal) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def forecasts(
    query: Queryable, *, group_by: str, horizon: int, data_through: date, currency: str | None = None
) -> list[SeriesForecast]:
    """Every series of the group (``total``, ``provider`` or ``service``) with its model, its
    backtest scores, ``horizon`` daily points after ``data_through`` and its month and quarter ends."""
    found: dict[tuple[str | None, str], SeriesForecast] = {}
    present = _columns(query, "cost_forecast_models")
    picked = ", ".join(name if name in present else f"NULL AS {name}" for name in SCORES)
    for row in query(
        f"SELECT value, currency, model, {picked} FROM cost_forecast_models "
        "WHERE series = ? AND (? IS NULL OR currency = ?) ORDER BY value, currency",
        [group_by, currency, currency],
    ):
        value, cur, model, *scores = row
        key = {} if value is None else {group_by: value}
        found[(value, cur)] = SeriesForecast(key, cur, model, dict(zip(SCORES, scores, strict=True)))
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
    """The month and the quarter ``data_through`` falls in: the actual cost from the period's first
    day to ``data_through`` plus the forecast's running total from the next day to the period's
    end, with that running total's intervals. Empty when the forecast does not start the day after
    ``data_through``; a period whose end the forecast does not reach is left out."""
    if "ds" not in _columns(query, "cost_forecast_cumulative"):
        return []  # a snapshot from before running totals were forecast
    column = GROUPS[group_by]
    value = series.key.get(group_by)
    scope = f"AND {column} = ?" if column else ""
    where = "series = ? AND value IS NOT DISTINCT FROM ? AND currency = ?"
    first = query(f"SELECT min(ds) FROM cost_forecast_cumulative WHERE {where}", [group_by, value, series.currency])
    if not first or first[0][0] != data_through + timedelta(days=1):
        return []
    figures = []
    for period, start, end in _period_bounds(data_through):
        actual_rows = query(
            f"SELECT sum(BilledCost) FROM cost_daily WHERE BillingCurrency = ? AND ChargeDate BETWEEN ? AND ? {scope}",
            [series.currency, start, data_through, *([value] if column else [])],
        )
        actual = actual_rows[0][0] if actual_rows and actual_rows[0][0] is not None else Decimal(0)
        if end == data_through:  # no days left
            figures.append(PeriodEnd(period, end, money(actual), money(actual), dict.fromkeys(BANDS, money(actual))))
            continue
        rest = query(
            f"SELECT mean, {', '.join(BANDS)} FROM cost_forecast_cumulative WHERE {where} AND ds = ?",
            [group_by, value, series.currency, end],
        )
        if not rest:
            continue  # the forecast does not reach the period's end
        mean, *bands = (Decimal(str(v)) for v in rest[0])
        figures.append(PeriodEnd(period, end, money(actual), money(actual + mean),
                                 {b: money(actual + v) for b, v in zip(BANDS, bands, strict=True)}))  # fmt: skip
    return figures
