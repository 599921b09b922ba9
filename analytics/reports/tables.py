"""The report's tables, the single source of its figures: the formatting of each kind of figure,
one :class:`Table` of display strings per table, and the CSV files written from those tables, so
a figure in a CSV is character for character the figure on the HTML page."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from analytics.money import format_amount
from analytics.reports.model import Anomaly, Budget, CurrencySpend, Recommendation, ReportData, ReportPeriod, SpendRow
from analytics.reports.wording import (
    budget_period_text,
    budget_status,
    day_text,
    explanation_text,
    period_text,
    watched_text,
)
from analytics.reports.wording import money as money  # the charts' and the page's too
from analytics.reports.wording import percent_text as percent_text

# ---------------------------------------------------------------------------------------
# Formatting: one function per kind of figure, shared by the HTML and the CSVs.


def estimate(value: float) -> Decimal:
    """A float estimate as the Decimal it prints as (``repr``), so rounding to cents is the
    same half-up rounding as for exact amounts, not binary floating-point rounding."""
    return Decimal(repr(value))


# ---------------------------------------------------------------------------------------
# Tables: the single source of the figures for the HTML tables and the CSV files.


@dataclass(frozen=True)
class Table:
    """A table of display strings; ``file`` is its CSV name, ``empty`` what to say without rows."""

    file: str
    caption: str
    headers: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    empty: str = "No rows."


def _spend_table(spend: CurrencySpend, rows: Sequence[SpendRow], level: str) -> Table:
    headers = ("Provider", "Service") if level == "service" else ("Provider",)
    body = []
    for row in rows:
        names = (row.provider, row.service or "") if level == "service" else (row.provider,)
        figures = (spend.currency, format_amount(row.amount), format_amount(row.previous))
        changes = (format_amount(row.change), percent_text(row.change_percent, signed=True))
        body.append((*names, *figures, *changes))
    return Table(
        file=f"{spend.currency.lower()}_spend_by_{level}.csv",
        caption=f"Spend by {level} ({spend.currency})",
        headers=(*headers, "Currency", "This period", "Previous period", "Change", "Change %"),
        rows=body,
        empty="No spend in this period.",
    )


def aligned_daily(
    spend: CurrencySpend, period: ReportPeriod
) -> list[tuple[date | None, Decimal, date | None, Decimal]]:
    """This period's days next to the previous period's, day 1 with day 1: a month of 31
    days compared with one of 30 has a 31st day with nothing to compare."""
    current, previous = period.days(), period.previous().days()
    rows = []
    for index in range(max(len(current), len(previous))):
        day = current[index] if index < len(current) else None
        before = previous[index] if index < len(previous) else None
        amount = spend.daily.get(day, Decimal(0)) if day else Decimal(0)
        earlier = spend.previous_daily.get(before, Decimal(0)) if before else Decimal(0)
        rows.append((day, amount, before, earlier))
    return rows


def _daily_table(spend: CurrencySpend, period: ReportPeriod) -> Table:
    body = [
        (
            str(index + 1),
            day.isoformat() if day else "",
            format_amount(amount) if day else "",
            before.isoformat() if before else "",
            format_amount(earlier) if before else "",
        )
        for index, (day, amount, before, earlier) in enumerate(aligned_daily(spend, period))
    ]
    return Table(
        file=f"{spend.currency.lower()}_daily_spend.csv",
        caption=f"Daily spend ({spend.currency}), this period and the previous one",
        headers=("Day", "Date", f"Spend ({spend.currency})", "Previous date", f"Previous spend ({spend.currency})"),
        rows=body,
    )


def _forecast_table(spend: CurrencySpend) -> Table:
    body = [
        (
            point.day.isoformat(),
            *(format_amount(estimate(v)) for v in (point.mean, point.lo_80, point.hi_80, point.lo_95, point.hi_95)),
        )
        for point in spend.forecast
    ]
    unit = f"({spend.currency})"
    return Table(
        file=f"{spend.currency.lower()}_forecast.csv",
        caption=f"Forecast of daily spend ({spend.currency})",
        headers=("Date", f"Mean {unit}", "80% low", "80% high", "95% low", "95% high"),
        rows=body,
        empty="No forecast for the next days.",
    )


def anomaly_table(anomalies: Sequence[Anomaly]) -> Table:
    body = [
        (
            item.title,
            watched_text(item),
            item.start.isoformat(),
            item.end.isoformat(),
            item.currency,
            format_amount(item.impact),
            explanation_text(item),
        )
        for item in anomalies
    ]
    headers = ("Anomaly", "Found in", "Start", "End", "Currency", "Impact", "Where it came from")
    return Table("anomalies.csv", "Anomalies", headers, body, "No anomalies in this period.")


def budget_table(budgets: Sequence[Budget]) -> Table:
    body = [
        (
            item.name,
            budget_period_text(item),
            day_text(item.as_of) if item.as_of else "",
            item.currency,
            format_amount(item.amount),
            format_amount(item.spent),
            percent_text(item.percent),
            format_amount(item.forecast),
            percent_text(item.forecast_percent),
            budget_status(item),
        )
        for item in budgets
    ]
    headers = ("Budget", "Budget period", "Spent by", "Currency", "Amount", "Spent", "Spent %",
               "Forecast at period end", "Forecast %", "Status")  # fmt: skip
    return Table("budgets.csv", "Budgets", headers, body, "No budgets set.")


def recommendation_table(recommendations: Sequence[Recommendation]) -> Table:
    body = [(item.title, item.currency, format_amount(item.monthly_saving), item.detail) for item in recommendations]
    headers = ("Recommendation", "Currency", "Monthly saving", "Why")
    return Table("recommendations.csv", "Top recommendations", headers, body, "None yet.")


@dataclass(frozen=True)
class Forecast:
    """The next period's expected spend: what is already billed of it plus the forecast mean of
    the rest; ``billed_through`` is the last billed day, None when nothing of it was billed."""

    total: Decimal
    billed: Decimal
    billed_through: date | None


def next_forecast(spend: CurrencySpend, period: ReportPeriod) -> Forecast | None:
    """None unless the forecast covers every day of the next period after the billed ones."""
    following = period.next()
    means = {p.day: estimate(p.mean) for p in spend.forecast if following.start <= p.day <= following.end}
    if not means:
        return None
    first = min(means)
    if len(means) != (following.end - first).days + 1:
        return None
    billed = sum((v for d, v in spend.next_daily.items() if following.start <= d < first), Decimal(0))
    through = first - timedelta(days=1) if first > following.start else None
    return Forecast(billed + sum(means.values(), Decimal(0)), billed, through)


def _total(spend: CurrencySpend) -> SpendRow:
    amount = sum((row.amount for row in spend.providers), Decimal(0))
    previous = sum((row.previous for row in spend.providers), Decimal(0))
    return SpendRow("", None, amount, previous)


def figures_table(data: ReportData) -> Table:
    """One row per currency with spend: this period, the previous one, the change, the forecast."""
    period, following = data.period, data.period.next()
    rows = []
    for spend in data.spend:
        if not spend.has_spend():
            continue
        total, forecast = _total(spend), next_forecast(spend, period)
        rows.append(
            (
                spend.currency,
                format_amount(total.amount),
                format_amount(total.previous),
                format_amount(total.change),
                percent_text(total.change_percent, signed=True),
                format_amount(forecast.total) if forecast else "",
                (f"includes {format_amount(forecast.billed)} billed by {day_text(forecast.billed_through)}"
                 if forecast and forecast.billed_through else ""),
            )
        )  # fmt: skip
    headers = (
        "Currency",
        period_text(period),
        period_text(period.previous()),
        "Change",
        "Change %",
        f"Forecast {period_text(following)}",
        "Forecast note",
    )
    return Table("summary.csv", "Spend and forecast", headers, rows, "No spend in this period.")


def currency_tables(spend: CurrencySpend, period: ReportPeriod) -> list[Table]:
    return [
        _spend_table(spend, spend.providers, "provider"),
        _spend_table(spend, spend.services, "service"),
        _daily_table(spend, period),
        _forecast_table(spend),
    ]


def report_tables(data: ReportData) -> list[Table]:
    """Every table of the report, in page order."""
    tables = [figures_table(data)]
    tables += [table for spend in data.spend for table in currency_tables(spend, data.period)]
    tables += [
        anomaly_table(data.anomalies),
        budget_table(data.budgets),
        recommendation_table(data.recommendations),
    ]
    return tables


def render_csv(data: ReportData) -> dict[str, str]:
    """One CSV per table (file name → text): the same display strings as the HTML tables,
    so a figure in a CSV is character for character the figure on the page."""
    files = {}
    for table in report_tables(data):
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(table.headers)
        writer.writerows(table.rows)
        files[table.file] = buffer.getvalue()
    return files
