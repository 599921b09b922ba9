"""Budgets: their rows and their status against the serving snapshot.

The API (``routers.budgets``) and the Dagster sensor (``pipelines.budgets``, through
``services.alerts``) share these functions, so a budget's status on screen and the alerts it
sends follow the same rules (``analytics.budgets``). A budget's scope is a set of breakdown
filters, read through ``analytics.breakdown`` so that a budget over ``tag:team=bookings`` counts
exactly what the breakdown by that tag shows. The alerts a budget raises, and their delivery,
are in ``services.alerts``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from analytics.breakdown import MAX_TOP, BreakdownQuery, breakdown
from analytics.budgets import (
    DEFAULT_THRESHOLDS,
    RUN_RATE_DAYS,
    DailyCost,
    Evaluation,
    evaluate,
    last_closed_period,
    period_bounds,
    run_rate_forecast,
    scaled,
    share_of,
)
from analytics.money import format_amount
from analytics.overview import Queryable
from control_plane.pagination import page_of, seek
from control_plane.services.anomalies import has_anomalies
from control_plane.services.errors import Conflict, NotFound
from control_plane.store.models import Alert, Budget, Delivery

# The sandbox's planted budget was stored before the API existed, with these spellings.
SCOPE_ALIASES = {"sub_account_id": "sub_account"}
# forecast_method values: how the rest of the period was projected
FROM_FORECAST, FROM_SHARE, FROM_RUN_RATE, COMPLETE = "cost_forecast", "cost_forecast_share", "run_rate", "complete"


# -- the rows ------------------------------------------------------------------------------------
def normalized_scope(scope: dict[str, Any]) -> dict[str, list[str]]:
    """A stored scope as {dimension: sorted values}: old spellings and single values accepted."""
    out: dict[str, list[str]] = {}
    for name, values in scope.items():
        listed = values if isinstance(values, list) else [values]
        out[SCOPE_ALIASES.get(name, name)] = sorted({str(v) for v in listed})
    return dict(sorted(out.items()))


def scope_filters(scope: dict[str, Any]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((name, tuple(values)) for name, values in normalized_scope(scope).items())


def thresholds_of(budget: Budget) -> dict[str, tuple[int, ...]]:
    stored = budget.thresholds or {}
    return {
        kind: tuple(sorted({int(p) for p in stored.get(kind, default)})) for kind, default in DEFAULT_THRESHOLDS.items()
    }


def get_budget(session: Session, budget_id: uuid.UUID) -> Budget:
    budget = session.get(Budget, budget_id)
    if budget is None:
        raise NotFound(f"no budget with id {budget_id}; list them at GET /api/cloud/costs/budgets")
    return budget


def _check_name_free(session: Session, name: str, budget_id: uuid.UUID | None = None) -> None:
    taken = session.scalar(select(Budget.id).where(Budget.name == name))
    if taken is not None and taken != budget_id:
        raise Conflict(f"a budget named {name!r} already exists; choose another name")


def create_budget(session: Session, fields: dict[str, Any]) -> Budget:
    _check_name_free(session, fields["name"])
    budget = Budget(**fields)
    session.add(budget)
    session.flush()
    return budget


def update_budget(session: Session, budget: Budget, changes: dict[str, Any]) -> Budget:
    """Apply the given fields only; the name stays unique."""
    if "name" in changes:
        _check_name_free(session, changes["name"], budget.id)
    for name, value in changes.items():
        setattr(budget, name, value)
    session.flush()
    return budget


def delete_budget(session: Session, budget: Budget) -> None:
    """The budget goes; its alerts stay as history, no longer tied to it."""
    for alert in session.scalars(select(Alert).where(Alert.budget_id == budget.id)):
        alert.budget_id = None
    session.delete(budget)
    session.flush()


def budgets_after(session: Session, *, limit: int, cursor: str | None) -> tuple[list[Budget], str | None]:
    """One page of budgets, oldest first (created_at, id)."""
    query = seek(
        select(Budget), Budget.created_at, Budget.id, limit=limit, cursor=cursor, decode=datetime.fromisoformat
    )
    return page_of(list(session.scalars(query)), limit, lambda b: b.created_at.isoformat())


def iter_budgets(session: Session, *, cursor: str | None, chunk: int = 200) -> Iterator[Budget]:
    """Every budget after ``cursor`` in page order, chunk by chunk (for filters the database
    cannot apply, such as a state computed from the snapshot)."""
    while True:
        rows, cursor = budgets_after(session, limit=chunk, cursor=cursor)
        yield from rows
        if cursor is None:
            return


def alerts_of(
    session: Session, budget: Budget, *, limit: int, cursor: str | None
) -> tuple[list[tuple[Alert, list[Delivery]]], str | None]:
    """A page of the budget's alerts, newest first, each with its delivery attempts in order."""
    query = seek(
        select(Alert).where(Alert.budget_id == budget.id), Alert.created_at, Alert.id,
        limit=limit, cursor=cursor, descending=True, decode=datetime.fromisoformat,
    )  # fmt: skip
    alerts, next_cursor = page_of(list(session.scalars(query)), limit, lambda a: a.created_at.isoformat())
    attempts: dict[uuid.UUID, list[Delivery]] = {a.id: [] for a in alerts}
    if alerts:
        in_page: ColumnElement[bool] = Delivery.alert_id.in_(list(attempts))
        for delivery in session.scalars(select(Delivery).where(in_page).order_by(Delivery.id)):
            attempts[delivery.alert_id].append(delivery)
    return [(a, attempts[a.id]) for a in alerts], next_cursor


# -- status from the snapshot --------------------------------------------------------------------
@dataclass(frozen=True)
class Series:
    """What a budget's status needs from the snapshot for one period."""

    actuals: tuple[DailyCost, ...]  # from the period's start (or 28 days back, if earlier)
    forecast: tuple[DailyCost, ...]  # the days after data_through, through the period's end
    method: str
    left_out: tuple[date, ...] = ()  # days of the last 28 the share or run rate left out


def _daily(query: Queryable, filters: tuple[tuple[str, tuple[str, ...]], ...], currency: str,
           start: date, end: date) -> list[DailyCost]:  # fmt: skip
    """The scope's spend per day in one currency, through the breakdown's own filters."""
    q = BreakdownQuery(("provider",), start, end, granularity="day", filters=filters, currency=currency, top=MAX_TOP)
    days: dict[date, Decimal] = {}
    for group in breakdown(query, q).groups:
        for day, amount in group.series.items():
            days[day] = days.get(day, Decimal(0)) + amount
    return [DailyCost(day, currency, amount) for day, amount in sorted(days.items())]


def _has_forecast(query: Queryable) -> bool:
    rows = query("SELECT count(*) FROM information_schema.tables WHERE table_name = 'cost_forecast'", [])
    return bool(rows and rows[0][0])


def _forecast_rows(query: Queryable, series: str, value: str | None, currency: str,
                   after: date, end: date) -> list[DailyCost]:  # fmt: skip
    """One mean per day from ``cost_forecast`` (the first model by name if several), with the
    days past its horizon filled at its average so that a year's budget still projects."""
    rows = query(
        "SELECT ds, mean FROM cost_forecast WHERE series = ? AND value IS NOT DISTINCT FROM ? AND currency = ? "
        "AND ds > ? AND ds <= ? ORDER BY ds, model",
        [series, value, currency, after, end],
    )
    means: dict[date, Decimal] = {}
    for day, mean in rows:
        means.setdefault(day, Decimal(str(round(float(mean or 0), 6))))
    if not means:
        return []
    average = sum(means.values(), Decimal(0)) / len(means)
    day = max(means) + timedelta(days=1)
    while day <= end:
        means[day], day = average, day + timedelta(days=1)
    return [DailyCost(day, currency, amount) for day, amount in sorted(means.items())]


def _direct_series(filters: tuple[tuple[str, tuple[str, ...]], ...]) -> tuple[str, str | None] | None:
    """The cost_forecast series that is exactly this scope: the total, one provider or one service."""
    if not filters:
        return "total", None
    if len(filters) == 1 and filters[0][0] in ("provider", "service") and len(filters[0][1]) == 1:
        return filters[0][0], filters[0][1][0]
    return None


def _ended_anomaly_days(query: Queryable, currency: str, first: date, data_through: date) -> list[date]:
    """The days from ``first`` of the snapshot's cost anomalies in ``currency`` (of any series,
    covered or not) that ended before ``data_through``: over, so not the scope's usual spend.
    One still going on the last day is kept: it may be a new level that the rest of the period
    will pay too."""
    if not has_anomalies(query):
        return []
    rows = query(
        'SELECT start, "end" FROM cost_anomalies WHERE currency = ? AND "end" < ? AND "end" >= ?',
        [currency, data_through, first],
    )
    days = {
        max(start, first) + timedelta(days=i) for start, end in rows for i in range((end - max(start, first)).days + 1)
    }
    return sorted(days)


def _forecast(query: Queryable, filters: tuple[tuple[str, tuple[str, ...]], ...], currency: str,
              actuals: list[DailyCost], data_through: date,
              end: date) -> tuple[list[DailyCost], str, tuple[date, ...]]:  # fmt: skip
    """The rest of the period and the recent days left out of it: the scope's own forecast,
    else its share of the total over the last 28 days times the total's forecast, else its
    28-day run rate (older snapshots have no cost_forecast). The share and the run rate leave out
    the days of cost anomalies that have ended (a spike that is over would otherwise be projected
    onto every remaining day)."""
    if data_through >= end:
        return [], COMPLETE, ()
    window = data_through - timedelta(days=RUN_RATE_DAYS - 1)
    left_out = tuple(_ended_anomaly_days(query, currency, window, data_through))
    if _has_forecast(query):
        direct = _direct_series(filters)
        if direct is not None and (rows := _forecast_rows(query, *direct, currency, data_through, end)):
            return rows, FROM_FORECAST, ()
        total = _forecast_rows(query, "total", None, currency, data_through, end) if direct != ("total", None) else []
        if total:
            whole = _daily(query, (), currency, window, data_through)
            share = share_of([c for c in actuals if c.day >= window], whole, leave_out=left_out)
            if share is not None:
                return scaled(total, share), FROM_SHARE, left_out
    rate = run_rate_forecast(actuals, currency=currency, data_through=data_through, end=end, leave_out=left_out)
    return rate, FROM_RUN_RATE, left_out


def read_series(query: Queryable, budget: Budget, data_through: date) -> Series:
    start, end = period_bounds(budget.period, data_through)
    filters = scope_filters(budget.scope)
    history_start = min(start, data_through - timedelta(days=RUN_RATE_DAYS - 1))
    actuals = _daily(query, filters, budget.currency, history_start, data_through)
    forecast, method, left_out = _forecast(query, filters, budget.currency, actuals, data_through, end)
    return Series(tuple(actuals), tuple(forecast), method, left_out)


def series_key(budget: Budget, data_through: date) -> tuple[Any, ...]:
    """What a budget's series depends on (not its amount or thresholds): a memo key."""
    return ("budget-series", scope_filters(budget.scope), budget.currency, budget.period, data_through)


def evaluate_budget(budget: Budget, data_through: date, series: Series) -> Evaluation:
    """The budget's period holding ``data_through``, as of that day."""
    start, end = period_bounds(budget.period, data_through)
    return evaluate(
        amount=budget.amount, currency=budget.currency, start=start, end=end, data_through=data_through,
        actuals=series.actuals, forecast=series.forecast, thresholds=thresholds_of(budget),
        forecast_method=series.method, left_out=series.left_out,
    )  # fmt: skip


def evaluate_last_closed(query: Queryable, budget: Budget, data_through: date) -> Evaluation:
    """The budget's latest period the data covers to its end (``analytics.budgets.last_closed_period``),
    with its final spend."""
    _, end = last_closed_period(budget.period, data_through)
    return evaluate_budget(budget, end, read_series(query, budget, end))


def status_view(evaluation: Evaluation, snapshot_version: str) -> dict[str, Any]:
    """A budget's status as the API shows it (amounts in cents, percents to two places)."""
    return {
        "state": evaluation.state,
        "period_start": evaluation.start,
        "period_end": evaluation.end,
        "data_through": evaluation.data_through,
        "spent": format_amount(evaluation.spent),
        "forecast": format_amount(evaluation.projected),
        "forecast_method": evaluation.forecast_method,
        "forecast_left_out": list(evaluation.left_out),
        "percent_used": str(evaluation.percent_used),
        "forecast_percent": str(evaluation.projected_percent),
        "thresholds": [
            {"kind": c.kind, "percent": c.percent, "amount": format_amount(c.limit), "crossed": c.crossed,
             "crosses_on": c.crosses_on}
            for c in evaluation.crossings
        ],
        "snapshot_version": snapshot_version,
    }  # fmt: skip
