"""The report as one self-contained HTML page: inline CSS, the charts with the table of their
figures, and a Content-Security-Policy that forbids every fetch and every script.

The page opens on a summary that fits one screen (:mod:`analytics.reports.summary`); the details
(each currency's charts and tables, the anomalies, budgets and recommendations) follow folded in
``<details>`` elements, which open on a click without any script. Printing unfolds them."""

from __future__ import annotations

import html
import re
from datetime import UTC
from decimal import Decimal

from analytics.reports.charts import daily_chart, forecast_chart, services_chart
from analytics.reports.model import CurrencySpend, ReportData, ReportPeriod, SpendRow
from analytics.reports.summary import NO_MOVERS, Summary, summary
from analytics.reports.tables import (
    Table,
    anomaly_table,
    budget_table,
    currency_tables,
    money,
    percent_text,
    recommendation_table,
)
from analytics.reports.wording import period_text

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
#summary h2 { margin-top: 20px; } #summary h3 { font-size: 15px; margin: 14px 0 4px; }
#summary ul, #summary ol { margin: 4px 0; padding-left: 22px; } #summary li { margin: 2px 0; }
.columns { display: grid; grid-template-columns: 1fr 1fr; gap: 0 28px; }
main > details { border-top: 1px solid #d0d7de; } main > details:last-of-type { border-bottom: 1px solid #d0d7de; }
main > details > summary { cursor: pointer; padding: 8px 0; font-size: 16px; font-weight: 600; }
details.figures { border: 0; margin: 0 0 12px; } details.figures > summary { font-size: 13px; padding: 2px 0; }
#summary table { width: 100%; } #summary th { white-space: nowrap; }
main > details > summary .meta { font-weight: 400; font-size: 14px; }
details[open] > summary { margin-bottom: 4px; } details section h2 { margin-top: 12px; }
@media print { details::details-content { content-visibility: visible; display: contents; } }
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


def _figure(chart: str, caption: str, table: Table, *, fold: str = "") -> str:
    """A chart with the table of its figures; a long table (a row a day) folded under ``fold``."""
    figures = _table_html(table)
    if fold:
        figures = f'<details class="figures">\n<summary>{html.escape(fold)}</summary>\n{figures}\n</details>'
    return f"<figure>\n{chart}\n<figcaption>{html.escape(caption)}</figcaption>\n</figure>\n{figures}"


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
    heading = f'<section data-currency="{spend.currency}">'
    if not spend.has_spend():
        return f'{heading}\n<p class="empty" data-empty="spend">No spend in this period.</p>\n</section>'
    providers, services, daily, forecast = currency_tables(spend, period)
    parts = [heading, f"<p>{html.escape(_totals_text(spend))}</p>"]
    parts.append(
        _figure(
            daily_chart(spend, period),
            "Daily spend: this period (area) and the previous one (dashed).",
            daily,
            fold="Daily figures",
        )
    )
    parts.append(_table_html(providers))
    if spend.services:
        parts.append(_figure(services_chart(spend), "Spend by service this period.", services))
    else:
        parts.append(_table_html(services))
    parts.append("<h3>Forecast</h3>")
    if spend.forecast:
        caption = "Forecast: mean with 80% and 95% intervals."
        parts.append(_figure(forecast_chart(spend), caption, forecast, fold="Forecast figures"))
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


def _section(table: Table) -> str:
    return f"<section>\n{_table_html(table)}\n</section>"


def _list(items: list[str], empty: str, tag: str = "ul") -> str:
    if not items:
        return f'<p class="empty">{html.escape(empty)}</p>'
    return f"<{tag}>" + "".join(f"<li>{html.escape(item)}</li>" for item in items) + f"</{tag}>"


def _summary_html(data: ReportData, found: Summary) -> str:
    """The first screen: the figures per currency, then movers, budgets, anomalies and
    recommendations in words."""
    more = [f"{found.more_anomalies} more in the details below."] if found.more_anomalies else []
    anomalies = found.anomalies + more
    parts = [
        '<section id="summary" aria-labelledby="summary-title">',
        f'<h2 id="summary-title">Summary: {html.escape(period_text(data.period))}</h2>',
        _table_html(found.figures),
        '<div class="columns">',
        f"<div><h3>Biggest changes</h3>{_list(found.movers, NO_MOVERS)}</div>",
        f"<div><h3>Budgets</h3>{_list(found.budgets, 'No budgets set.')}</div>",
        "</div>",
        f"<h3>Anomalies</h3>{_list(anomalies, 'No anomalies in this period.')}",
        f"<h3>Top recommendations</h3>{_list(found.recommendations, 'None yet.', 'ol')}",
    ]
    if found.recommendations_total:
        parts.append(f'<p class="meta">{html.escape(found.recommendations_total)}</p>')
    parts.append("</section>")
    return "\n".join(parts)


def _folded(label: str, note: str, body: str) -> str:
    """A closed <details>: the label and a short note stay visible, the body opens on a click."""
    meta = f' <span class="meta">{html.escape(note)}</span>' if note else ""
    return f"<details>\n<summary>{html.escape(label)}{meta}</summary>\n{body}\n</details>"


def _count(items: int, one: str, many: str) -> str:
    return f"{items} {one if items == 1 else many}" if items else f"no {many}"


def render_html(data: ReportData) -> str:
    """The report as one HTML5 document that needs nothing but itself to display."""
    sections = [_summary_html(data, summary(data))]
    if not any(spend.has_spend() for spend in data.spend):
        sections.append('<p class="empty" data-empty="report">No spend in this period.</p>')
    for spend in data.spend:
        note = "charts, spend by provider and service, daily spend, forecast" if spend.has_spend() else "no spend"
        sections.append(_folded(f"Spend in {spend.currency}", note, _currency_section(spend, data.period)))
    sections += [
        _folded("Anomalies", _count(len(data.anomalies), "anomaly", "anomalies"),
                _section(anomaly_table(data.anomalies))),
        _folded("Budgets", _count(len(data.budgets), "budget", "budgets"), _section(budget_table(data.budgets))),
        _folded("Recommendations", _count(len(data.recommendations), "recommendation", "recommendations"),
                _section(recommendation_table(data.recommendations))),
    ]  # fmt: skip
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(data.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>"
    )
    return "\n".join([head, _header(data), "<main>", *sections, "</main>", "</body>", "</html>", ""])
