"""The report as one self-contained HTML page: inline CSS, the charts with the table of their
figures, and a Content-Security-Policy that forbids every fetch and every script."""

from __future__ import annotations

import html
import re
from datetime import UTC
from decimal import Decimal

from analytics.reports.charts import daily_chart, forecast_chart, services_chart
from analytics.reports.model import CurrencySpend, ReportData, ReportPeriod, SpendRow
from analytics.reports.tables import (
    Table,
    anomaly_table,
    budget_table,
    currency_tables,
    money,
    percent_text,
    recommendation_table,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""Nothing may be fetched and no script may run: the page is complete as delivered."""

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; background: #fff; margin: 24px auto; max-width: 960px;
  padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 32px 0 8px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 16px; margin: 20px 0 6px; }
.meta, .empty { color: #57606a; } .empty { font-style: italic; }
figure { margin: 12px 0 20px; } figcaption { color: #57606a; font-size: 13px; }
svg { display: block; max-width: 100%; height: auto; background: #fff; }
svg .grid { stroke: #d8dee4; stroke-width: 1; } svg .tick, svg .label, svg .value, svg .legend { font-size: 11px;
  fill: #424a53; } svg .axis-title { font-size: 12px; fill: #1f2328; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { border-bottom: 1px solid #d8dee4; padding: 3px 10px; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
"""

_NUMBER = re.compile(r"^[+-]?\d[\d,]*(\.\d+)?%?$")


def _table_html(table: Table) -> str:
    """A captioned table; numbers right-aligned; the table's own message when it has no rows."""
    if not table.rows:
        return f'<p class="empty">{html.escape(table.caption)}: {html.escape(table.empty)}</p>'
    head = "".join(f'<th scope="col">{html.escape(header)}</th>' for header in table.headers)
    rows = []
    for row in table.rows:
        cells = "".join(
            f'<td class="num">{html.escape(cell)}</td>' if _NUMBER.match(cell) else f"<td>{html.escape(cell)}</td>"
            for cell in row
        )
        rows.append(f"<tr>{cells}</tr>")
    body = "\n".join(rows)
    caption = html.escape(table.caption)
    return f"<table>\n<caption>{caption}</caption>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _figure(chart: str, caption: str, table: Table) -> str:
    return f"<figure>\n{chart}\n<figcaption>{html.escape(caption)}</figcaption>\n</figure>\n{_table_html(table)}"


def _totals_text(spend: CurrencySpend) -> str:
    amount = sum((row.amount for row in spend.providers), Decimal(0))
    previous = sum((row.previous for row in spend.providers), Decimal(0))
    total = SpendRow("", None, amount, previous)
    change = percent_text(total.change_percent, signed=True)
    parts = [f"This period {money(amount, spend.currency)}", f"previous period {money(previous, spend.currency)}"]
    parts.append(f"change {money(total.change, spend.currency)}" + (f" ({change})" if change else ""))
    return "; ".join(parts) + "."


def _currency_section(spend: CurrencySpend, period: ReportPeriod) -> str:
    """One currency: totals, then each chart with the table of its figures."""
    heading = f'<section data-currency="{spend.currency}">\n<h2>Spend in {spend.currency}</h2>'
    if not spend.has_spend():
        return f'{heading}\n<p class="empty" data-empty="spend">No spend in this period.</p>\n</section>'
    providers, services, daily, forecast = currency_tables(spend, period)
    parts = [heading, f"<p>{html.escape(_totals_text(spend))}</p>"]
    parts.append(
        _figure(daily_chart(spend, period), "Daily spend: this period (area) and the previous one (dashed).", daily)
    )
    parts.append(_table_html(providers))
    if spend.services:
        parts.append(_figure(services_chart(spend), "Spend by service this period.", services))
    else:
        parts.append(_table_html(services))
    parts.append("<h3>Forecast</h3>")
    if spend.forecast:
        parts.append(_figure(forecast_chart(spend), "Forecast: mean with 80% and 95% intervals.", forecast))
    else:
        parts.append(f'<p class="empty" data-empty="forecast">{html.escape(forecast.empty)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _header(data: ReportData) -> str:
    period, previous = data.period, data.period.previous()
    generated = data.generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<header>\n<h1>{html.escape(data.title)}</h1>\n"
        f'<p class="meta">{period.kind.capitalize()} report, {period.start} to {period.end}, compared with '
        f"{previous.start} to {previous.end}. Generated {generated}.</p>\n</header>"
    )


def _section(heading: str, table: Table) -> str:
    return f"<section>\n<h2>{html.escape(heading)}</h2>\n{_table_html(table)}\n</section>"


def render_html(data: ReportData) -> str:
    """The report as one HTML5 document that needs nothing but itself to display."""
    sections = [_currency_section(spend, data.period) for spend in data.spend]
    if not any(spend.has_spend() for spend in data.spend):
        sections.insert(0, '<p class="empty" data-empty="report">No spend in this period.</p>')
    sections += [
        _section("Anomalies", anomaly_table(data.anomalies)),
        _section("Budgets", budget_table(data.budgets)),
        _section("Top recommendations", recommendation_table(data.recommendations)),
    ]
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(data.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>"
    )
    return "\n".join([head, _header(data), "<main>", *sections, "</main>", "</body>", "</html>", ""])
