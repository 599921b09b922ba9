"""The report's SVG charts, drawn here so the page loads nothing: daily spend against the
previous period, spend by service as bars, and the forecast with its intervals. Coordinates are
rounded to 0.1 px: plenty for a screen, and deterministic."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from decimal import Decimal

from analytics.reports.model import CurrencySpend, ReportPeriod, SpendRow
from analytics.reports.tables import aligned_daily, money
from analytics.svg import (
    BOTTOM,
    CURRENT,
    FORECAST,
    HEIGHT,
    LEFT,
    PREVIOUS,
    RIGHT,
    TOP,
    WIDTH,
    Scale,
    band,
    coord,
    index_x,
    legend,
    polyline,
    svg_element,
    value_axis,
    value_y,
)

__all__ = ["Scale", "daily_chart", "forecast_chart", "services_chart"]


def _day_axis(labels: Sequence[str], title: str) -> list[str]:
    """Date labels along the bottom, at most eight so they never overlap."""
    every = max(1, math.ceil(len(labels) / 8))
    parts = []
    for index in range(0, len(labels), every):
        x = coord(index_x(index, len(labels)))
        parts.append(
            f'<text class="tick" x="{x}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{labels[index]}</text>'
        )
    parts.append(
        f'<text class="axis-title" x="{coord(LEFT + (WIDTH - LEFT - RIGHT) / 2)}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{html.escape(title)}</text>'
    )
    return parts


def daily_chart(spend: CurrencySpend, period: ReportPeriod) -> str:
    """This period's daily spend as an area, the previous period's as a dashed line, day 1
    over day 1, so a reader sees at a glance whether spend rose and on which days."""
    rows = aligned_daily(spend, period)
    current = [(i, float(amount)) for i, (day, amount, _, _) in enumerate(rows) if day]
    previous = [(i, float(earlier)) for i, (_, _, before, earlier) in enumerate(rows) if before]
    scale = Scale.over([v for _, v in current] + [v for _, v in previous])
    count = len(rows)
    line = [(index_x(i, count), value_y(v, scale)) for i, v in current]
    base = [(index_x(i, count), value_y(0.0, scale)) for i, _ in current]
    labels = [day.strftime("%d %b") if day else f"day {i + 1}" for i, (day, _, _, _) in enumerate(rows)]
    body = [
        *value_axis(scale, f"Spend ({spend.currency})"),
        *_day_axis(labels, "Day of the period"),
        *legend([(CURRENT, "", "This period"), (PREVIOUS, "6 4", "Previous period")]),
        band(line, base, CURRENT, "this-period-area"),
        polyline([(index_x(i, count), value_y(v, scale)) for i, v in previous], PREVIOUS, "previous-period", "6 4"),
        polyline(line, CURRENT, "this-period"),
    ]
    title = f"Daily spend in {spend.currency}, {period.start} to {period.end}, with the previous period"
    total = sum((amount for day, amount, _, _ in rows if day), Decimal(0))
    description = f"Total this period {money(total, spend.currency)}."
    return svg_element(f"daily-spend-{spend.currency}", title, description, body)


def forecast_chart(spend: CurrencySpend) -> str:
    """The forecast mean with its 95% band (lighter, wider) under its 80% band."""
    points = sorted(spend.forecast, key=lambda point: point.day)
    scale = Scale.over([v for p in points for v in (p.lo_95, p.hi_95, p.lo_80, p.hi_80, p.mean)])
    count = len(points)

    def bound(values: Iterable[float]) -> list[tuple[float, float]]:
        return [(index_x(i, count), value_y(v, scale)) for i, v in enumerate(values)]

    body = [
        *value_axis(scale, f"Spend ({spend.currency})"),
        *_day_axis([p.day.strftime("%d %b") for p in points], "Forecast day"),
        *legend([(FORECAST, "", "Mean"), ("#e3b791", "", "80% interval"), ("#efd6c0", "", "95% interval")]),
        band(bound(p.hi_95 for p in points), bound(p.lo_95 for p in points), FORECAST, "interval-95"),
        band(bound(p.hi_80 for p in points), bound(p.lo_80 for p in points), FORECAST, "interval-80"),
        polyline(bound(p.mean for p in points), FORECAST, "mean"),
    ]
    title = f"Forecast of daily spend in {spend.currency}, {points[0].day} to {points[-1].day}"
    description = "Mean forecast with 80% and 95% prediction intervals."
    return svg_element(f"forecast-{spend.currency}", title, description, body)


BAR_ROWS = 10
"""Services drawn as bars; the rest share one "other" bar (the table lists them all)."""
LABEL_WIDTH = 230
BAR_HEIGHT = 26


def _bar_rows(services: Sequence[SpendRow]) -> list[tuple[str, Decimal]]:
    """Largest first; ties by name so the order is stable."""
    ranked = sorted(services, key=lambda row: (-row.amount, row.provider, row.service or ""))
    bars = [(f"{row.provider} · {row.service or '(no service)'}", row.amount) for row in ranked[:BAR_ROWS]]
    rest = ranked[BAR_ROWS:]
    if rest:
        bars.append((f"Other ({len(rest)} services)", sum((row.amount for row in rest), Decimal(0))))
    return bars


def _short(label: str, limit: int = 32) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def services_chart(spend: CurrencySpend) -> str:
    """Horizontal bars, one per service: names are long, so they get a line each."""
    bars = _bar_rows(spend.services)
    height = TOP + BOTTOM + BAR_HEIGHT * len(bars)
    scale = Scale.over(float(amount) for _, amount in bars)
    plot = WIDTH - LABEL_WIDTH - RIGHT - 90  # room for the value after the bar

    def x(value: float) -> float:
        return LABEL_WIDTH + plot * scale.fraction(value)

    body = []
    for tick in scale.ticks():
        body.append(
            f'<line class="grid" x1="{coord(x(tick))}" x2="{coord(x(tick))}" y1="{TOP}" y2="{height - BOTTOM}"/>'
        )
        body.append(
            f'<text class="tick" x="{coord(x(tick))}" y="{height - BOTTOM + 18}" text-anchor="middle">'
            f"{scale.label(tick)}</text>"
        )
    for index, (label, amount) in enumerate(bars):
        top = TOP + index * BAR_HEIGHT
        left, right = sorted((x(0.0), x(float(amount))))
        middle = coord(top + BAR_HEIGHT / 2 + 4)
        name = html.escape(_short(label))
        body.append(f'<text class="label" x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end">{name}</text>')
        body.append(
            f'<rect class="mark" data-series="service" x="{coord(left)}" y="{coord(top + 4)}" '
            f'width="{coord(max(right - left, 1))}" height="{BAR_HEIGHT - 8}" fill="{CURRENT}">'
            f"<title>{html.escape(label)}: {money(amount, spend.currency)}</title></rect>"
        )
        body.append(f'<text class="value" x="{coord(right + 6)}" y="{middle}">{money(amount, spend.currency)}</text>')
    body.append(
        f'<text class="axis-title" x="{coord(LABEL_WIDTH + plot / 2)}" y="{height - 8}" text-anchor="middle">'
        f"Spend this period ({spend.currency})</text>"
    )
    count = len(spend.services)
    title = f"Spend by service in {spend.currency}, {count} service{'' if count == 1 else 's'}"
    return svg_element(
        f"spend-by-service-{spend.currency}", title, "Services ordered by spend, largest first.", body, height
    )
