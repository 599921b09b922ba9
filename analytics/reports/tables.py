"""The report's tables, the single source of its figures: the formatting of each kind of figure,
one :class:`Table` of display strings per table, and the CSV files written from those tables, so
a figure in a CSV is character for character the figure on the HTML page."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from analytics.money import format_amount
from analytics.reports.model import Anomaly, Budget, CurrencySpend, Recommendation, ReportData, ReportPeriod, SpendRow

# ---------------------------------------------------------------------------------------
# Formatting: one function per kind of figure, shared by the HTML and the CSVs.


def money(amount: Decimal, currency: str) -> str:
    """How an amount reads on the page: currency first, cents half up (``USD 1234.50``)."""
    return f"{currency} {format_amount(amount)}"


def estimate(value: float) -> Decimal:
    """A float estimate as the Decimal it prints as (``repr``), so rounding to cents is the
    same half-up rounding as for exact amounts, not binary floating-point rounding."""
    return Decimal(repr(value))


def percent_text(value: Decimal | None, *, signed: bool = False) -> str:
    """One decimal place, half up; empty when undefined (nothing to compare with)."""
    if value is None:
        return ""
    rounded = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{rounded:+f}%" if signed and rounded != 0 else f"{rounded:f}%"


def _explanation_text(path: Sequence[tuple[str, str, float]]) -> str:
    shares = [f"{dim} = {value} ({percent_text(estimate(share * 100))})" for dim, value, share in path]
    return " → ".join(shares)


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
            item.series,
            item.start.isoformat(),
            item.end.isoformat(),
            item.currency,
            format_amount(item.impact),
            _explanation_text(item.explanation),
        )
        for item in anomalies
    ]
    headers = ("Anomaly", "Series", "Start", "End", "Currency", "Impact", "Explanation")
    return Table("anomalies.csv", "Anomalies", headers, body, "No anomalies in this period.")


def budget_table(budgets: Sequence[Budget]) -> Table:
    body = [
        (
            item.name,
            item.currency,
            format_amount(item.amount),
            format_amount(item.spent),
            percent_text(item.percent),
            format_amount(item.forecast),
            percent_text(item.forecast_percent),
        )
        for item in budgets
    ]
    headers = ("Budget", "Currency", "Amount", "Spent", "Spent %", "Forecast at period end", "Forecast %")
    return Table("budgets.csv", "Budgets", headers, body, "No budgets set.")


def recommendation_table(recommendations: Sequence[Recommendation]) -> Table:
    body = [(item.title, item.currency, format_amount(item.monthly_saving), item.detail) for item in recommendations]
    headers = ("Recommendation", "Currency", "Monthly saving", "Detail")
    return Table("recommendations.csv", "Top recommendations", headers, body, "None yet.")


def currency_tables(spend: CurrencySpend, period: ReportPeriod) -> list[Table]:
    return [
        _spend_table(spend, spend.providers, "provider"),
        _spend_table(spend, spend.services, "service"),
        _daily_table(spend, period),
        _forecast_table(spend),
    ]


def report_tables(data: ReportData) -> list[Table]:
    """Every table of the report, in page order."""
    tables = [table for spend in data.spend for table in currency_tables(spend, data.period)]
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
