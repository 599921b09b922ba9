"""The renderer's input (:class:`analytics.reports.model.ReportData`) read from a serving snapshot.

Why it is separate from the renderer: the renderer only formats, so it stays testable with
hand-made data; this module only reads. Everything comes through a ``query(sql, params)``
callable (:class:`analytics.overview.Queryable`), so the pipeline (its own read-only
connection) and the API (the shared :class:`control_plane.serving.SnapshotReader`) read alike.

Money is summed by DuckDB over ``DECIMAL`` columns and kept as Decimal; currencies are
grouped apart and never added. Forecasts and anomaly impacts are float estimates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from analytics.overview import Queryable
from analytics.reports.model import (
    Anomaly,
    Budget,
    CurrencySpend,
    ForecastPoint,
    Kind,
    Recommendation,
    ReportData,
    ReportPeriod,
    SpendRow,
)
from analytics.reports.tables import estimate
from analytics.reports.wording import period_text

FORECAST_DAYS = 30
ZERO = Decimal(0)


def last_complete_period(kind: Kind, today: date) -> ReportPeriod:
    """The latest period that ended before ``today``: Monday–Sunday of last week, or last month.
    A report is about a finished period, so its figures do not change after it is written."""
    if kind == "monthly":
        end = today.replace(day=1) - timedelta(days=1)
        return ReportPeriod(end.replace(day=1), end, "monthly")
    this_monday = today - timedelta(days=today.weekday())
    return ReportPeriod(this_monday - timedelta(days=7), this_monday - timedelta(days=1), "weekly")


def period_starting(kind: Kind, start: date) -> ReportPeriod:
    """The week (7 days) or the calendar month beginning on ``start`` (a month starts on the 1st)."""
    if kind == "monthly":
        first = start.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return ReportPeriod(first, following - timedelta(days=1), "monthly")
    return ReportPeriod(start, start + timedelta(days=6), "weekly")


def report_data(
    query: Queryable,
    period: ReportPeriod,
    *,
    generated_at: datetime,
    budgets: Sequence[Budget] = (),
    recommendations: Sequence[Recommendation] = (),
    title: str | None = None,
) -> ReportData:
    """Spend by provider and service against the previous period, daily series, the total's
    forecast after the period (with what is already billed of the next period, for the
    summary's forecast of it), anomalies overlapping it (those not covered by a broader one),
    and the budgets and recommendations the caller read (it has the state store; this module
    does not)."""
    previous, following = period.previous(), period.next()
    providers = _spend_rows(query, "NULL", period, previous)
    services = _spend_rows(query, "ServiceName", period, previous)
    daily = _daily(query, period.start, period.end)
    previous_daily = _daily(query, previous.start, previous.end)
    next_daily = _daily(query, following.start, following.end)
    forecast = _forecast(query, period.end, max(period.end + timedelta(days=FORECAST_DAYS), following.end))
    currencies = sorted({*providers, *services, *daily, *previous_daily, *forecast})
    spend = [
        CurrencySpend(
            currency=currency,
            providers=providers.get(currency, []),
            services=services.get(currency, []),
            daily=daily.get(currency, {}),
            previous_daily=previous_daily.get(currency, {}),
            forecast=forecast.get(currency, []),
            next_daily=next_daily.get(currency, {}),
        )
        for currency in currencies
    ]
    return ReportData(
        title=title or f"Cloud cost report, {period_text(period)}",
        period=period,
        generated_at=generated_at,
        spend=spend,
        anomalies=_anomalies(query, period, id_names(query)),
        budgets=budgets,
        recommendations=recommendations,
    )


def _amount(value: Any) -> Decimal:
    """A DuckDB sum as Decimal (None when no row matched); never through float."""
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _spend_rows(
    query: Queryable, service: str, period: ReportPeriod, previous: ReportPeriod
) -> dict[str, list[SpendRow]]:
    """Per currency, one row per provider (``service`` is ``NULL``) or per provider and service,
    with both periods' sums from one scan; largest first, ties by name for a stable order."""
    rows = query(
        f"SELECT BillingCurrency, ProviderName, {service} AS service, "
        "sum(BilledCost) FILTER (WHERE ChargeDate BETWEEN ? AND ?), "
        "sum(BilledCost) FILTER (WHERE ChargeDate BETWEEN ? AND ?) "
        "FROM cost_daily WHERE ChargeDate BETWEEN ? AND ? GROUP BY ALL",
        [period.start, period.end, previous.start, previous.end, previous.start, period.end],
    )
    out: dict[str, list[SpendRow]] = {}
    for currency, provider, name, amount, before in rows:
        out.setdefault(currency, []).append(SpendRow(provider, name, _amount(amount), _amount(before)))
    for listed in out.values():
        listed.sort(key=lambda r: (-r.amount, -r.previous, r.provider, r.service or ""))
    return out


def _daily(query: Queryable, start: date, end: date) -> dict[str, dict[date, Decimal]]:
    rows = query(
        "SELECT BillingCurrency, ChargeDate, sum(BilledCost) FROM cost_daily "
        "WHERE ChargeDate BETWEEN ? AND ? GROUP BY ALL ORDER BY 1, 2",
        [start, end],
    )
    out: dict[str, dict[date, Decimal]] = {}
    for currency, day, amount in rows:
        out.setdefault(currency, {})[day] = _amount(amount)
    return out


def has_table(query: Queryable, name: str) -> bool:
    """Older snapshots lack the forecast and anomaly tables; a report is still made without them."""
    rows = query("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name])
    return bool(rows and rows[0][0])


def _forecast(query: Queryable, end: date, until: date) -> dict[str, list[ForecastPoint]]:
    """The total's forecast for the days after the period through ``until``, per currency; with
    several models for a day, the first by name (as budgets read it). Missing bounds fall back
    to the mean."""
    if not has_table(query, "cost_forecast"):
        return {}
    rows = query(
        "SELECT currency, ds, mean, lo_80, hi_80, lo_95, hi_95 FROM cost_forecast "
        "WHERE series = 'total' AND ds > ? AND ds <= ? ORDER BY currency, ds, model",
        [end, until],
    )
    seen: set[tuple[str, date]] = set()
    out: dict[str, list[ForecastPoint]] = {}
    for currency, day, mean, *bounds in rows:
        if (currency, day) in seen:
            continue
        seen.add((currency, day))
        lo80, hi80, lo95, hi95 = (float(mean if b is None else b) for b in bounds)
        out.setdefault(currency, []).append(ForecastPoint(day, float(mean), lo80, hi80, lo95, hi95))
    return out


def id_names(query: Queryable) -> dict[str, str]:
    """The names of the ids a reader meets: accounts (from the bills' account names) and
    resources (from the latest inventory). An id whose name is the id itself is left out."""
    names: dict[str, str] = {}
    if has_table(query, "accounts"):
        for billing_id, billing_name, sub_id, sub_name in query(
            "SELECT BillingAccountId, BillingAccountName, SubAccountId, SubAccountName FROM accounts ORDER BY ALL", []
        ):
            names.update({k: v for k, v in ((billing_id, billing_name), (sub_id, sub_name)) if k and v and k != v})
    if has_table(query, "inventory"):
        latest = "SELECT resource_id, arg_max(name, snapshot_date) FROM inventory WHERE name IS NOT NULL GROUP BY 1"
        rows = query(f"{latest} ORDER BY 1", [])
        names.update({rid: name for rid, name in rows if rid and name and rid != name})
    return names


def _anomalies(query: Queryable, period: ReportPeriod, names: dict[str, str]) -> list[Anomaly]:
    """Anomalies overlapping the period that no broader anomaly explains (``covered_by``
    null): a service spike inside a provider spike is reported once, as the provider's."""
    if not has_table(query, "cost_anomalies"):
        return []
    rows = query(
        'SELECT series, value, currency, direction, start, "end", impact, explanation FROM cost_anomalies '
        'WHERE covered_by IS NULL AND start <= ? AND "end" >= ? ORDER BY abs(impact) DESC, start, series, value',
        [period.end, period.start],
    )
    return [_anomaly(*row, names=names) for row in rows]


def _steps(raw: Any) -> tuple[tuple[str, str, float], ...]:
    return tuple((str(p["dimension"]), str(p["value"]), float(p["share"])) for p in raw if p.get("value") is not None)


def _anomaly(series: str, value: str | None, currency: str, direction: str, start: date, end: date,
             impact: float, explanation: Any, *, names: dict[str, str]) -> Anomaly:  # fmt: skip
    name = value if value is not None else "all"
    raw = json.loads(explanation) if isinstance(explanation, str) else (explanation or {})
    path, others = _steps(raw.get("path", [])), _steps(raw.get("others", []))
    # the anomaly asset named its resources when it ran; a terminated one has no inventory row
    known = {str(r["resource_id"]): str(r["name"]) for r in raw.get("resources", []) if r.get("name")} | names
    shown = {v: known[v] for _, v, _ in (*path, *others) if v in known}
    return Anomaly(
        title=f"{direction.capitalize()} in {name} spend",
        series=series if value is None else f"{series}: {value}",
        start=start,
        end=end,
        currency=currency,
        impact=estimate(float(impact)),
        explanation=path,
        value=value,
        direction=direction,
        others=others,
        names=shown,
    )
