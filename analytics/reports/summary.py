"""The report's first screen: what a reader needs without scrolling or unfolding anything.

Per currency the period's spend, its change on the previous period and the next period's
forecast (one table, also written as ``summary.csv``), then in plain words the services that
moved most, where each budget stands, the anomalies and the recommendations with the biggest
savings. The details (charts and every table) follow on the page, folded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from analytics.reports.model import ReportData
from analytics.reports.tables import Table, figures_table
from analytics.reports.wording import anomaly_text, budget_text, change_text, saving_text, total_savings

MOVERS = 3  # per currency
MATERIAL = Decimal("0.01")
NO_MOVERS = "No service's spend changed by 1% of its currency's total or more."
RECOMMENDATIONS = 5
ANOMALIES = 3


def movers(data: ReportData, limit: int = MOVERS) -> list[str]:
    """The services whose spend changed most, per currency, in words; a change under
    :data:`MATERIAL` of the currency's total (the larger of the two periods) is noise, not news."""
    lines = []
    for spend in data.spend:
        amount = sum((r.amount for r in spend.providers), Decimal(0))
        previous = sum((r.previous for r in spend.providers), Decimal(0))
        floor = max(abs(amount), abs(previous)) * MATERIAL
        material = [r for r in spend.services if r.change != 0 and abs(r.change) >= floor]
        moved = sorted(material, key=lambda r: (-abs(r.change), r.provider, r.service or ""))
        for row in moved[:limit]:
            lines.append(f"{row.service or '(no service)'} on {row.provider}: {change_text(row, spend.currency)}")
    return lines


def recommendation_lines(data: ReportData, limit: int = RECOMMENDATIONS) -> list[str]:
    return [f"{r.title}: {saving_text(r.monthly_saving, r.currency)}" for r in data.recommendations[:limit]]


def recommendations_total(data: ReportData) -> str:
    """``All 10 listed save USD 2000.00 and GBP 250.00 a month.``; empty without any."""
    if not data.recommendations:
        return ""
    sums = total_savings([(r.currency, r.monthly_saving) for r in data.recommendations])
    count = len(data.recommendations)
    return f"The {count} listed below save {' and '.join(sums)} a month together." if count > 1 else ""


@dataclass(frozen=True)
class Summary:
    figures: Table
    movers: list[str]
    budgets: list[str]
    anomalies: list[str]
    more_anomalies: int
    recommendations: list[str]
    recommendations_total: str


def summary(data: ReportData) -> Summary:
    return Summary(
        figures=figures_table(data),
        movers=movers(data),
        budgets=[budget_text(b) for b in data.budgets],
        anomalies=[anomaly_text(a) for a in data.anomalies[:ANOMALIES]],
        more_anomalies=max(0, len(data.anomalies) - ANOMALIES),
        recommendations=recommendation_lines(data),
        recommendations_total=recommendations_total(data),
    )
