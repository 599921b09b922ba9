"""The report's SVG charts, drawn here so the page loads nothing: daily spend against the
previous period, spend by service as bars, and the forecast with its intervals. Coordinates are
rounded to 0.1 px: plenty for a screen, and deterministic."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from analytics.reports.model import CurrencySpend, ReportPeriod, SpendRow
from analytics.reports.tables import aligned_daily, money

WIDTH, HEIGHT = 760, 300
LEFT, RIGHT, TOP, BOTTOM = 84, 20, 36, 52
CURRENT, PREVIOUS, FORECAST = "#1f6feb", "#8c959f", "#bf5b04"
# The forecast bands are FORECAST at 25% opacity, the 80% band over the 95% one: the legend
# shows the colours they blend to on white (#efd6c0 for one layer, #e3b791 for two).


@dataclass(frozen=True)
class Scale:
    """A linear scale over a "nice" domain (ticks on 1, 2, 2.5 or 5 times a power of ten) that
    always includes zero, so bars and areas start from a real baseline."""

    lo: float
    hi: float
    step: float

    @classmethod
    def over(cls, values: Iterable[float]) -> Scale:
        values = [0.0, *values]
        lo, hi = min(values), max(values)
        if hi - lo <= 0:
            return cls(0.0, 1.0, 0.25)
        step = _nice_step((hi - lo) / 5)
        return cls(math.floor(lo / step) * step, math.ceil(hi / step) * step, step)

    def ticks(self) -> list[float]:
        count = round((self.hi - self.lo) / self.step)
        return [self.lo + index * self.step for index in range(count + 1)]

    def fraction(self, value: float) -> float:
        return (value - self.lo) / (self.hi - self.lo)

    def label(self, value: float) -> str:
        """Tick labels carry just enough decimals for the step (no money rounding: they are
        positions on an axis, not amounts)."""
        exponent = Decimal(repr(self.step)).normalize().as_tuple().exponent
        decimals = min(6, max(0, -exponent)) if isinstance(exponent, int) else 0
        return f"{value:,.{decimals}f}"


def _nice_step(raw: float) -> float:
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _n(value: float) -> str:
    """A coordinate as text: one decimal, no ``-0.0``."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def _x(index: int, count: int) -> float:
    plot = WIDTH - LEFT - RIGHT
    return LEFT + plot / 2 if count <= 1 else LEFT + plot * index / (count - 1)


def _y(value: float, scale: Scale, height: int = HEIGHT) -> float:
    plot = height - TOP - BOTTOM
    return TOP + plot * (1 - scale.fraction(value))


def _svg(name: str, title: str, description: str, body: list[str], height: int = HEIGHT) -> str:
    """The chart element: an image to assistive technology, named by its title, described by
    its description; ``data-chart`` is how the browser test finds it."""
    ident = html.escape(f"chart-{name}")
    return "\n".join(
        [
            f'<svg data-chart="{html.escape(name)}" role="img" viewBox="0 0 {WIDTH} {height}" '
            f'width="{WIDTH}" height="{height}" aria-labelledby="{ident}-title {ident}-desc">',
            f'<title id="{ident}-title">{html.escape(title)}</title>',
            f'<desc id="{ident}-desc">{html.escape(description)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _value_axis(scale: Scale, unit: str, height: int = HEIGHT) -> list[str]:
    """Horizontal grid lines with tick labels, and the rotated axis title."""
    parts = []
    for tick in scale.ticks():
        y = _n(_y(tick, scale, height))
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end">{scale.label(tick)}</text>')
    middle = _n(TOP + (height - TOP - BOTTOM) / 2)
    parts.append(
        f'<text class="axis-title" transform="translate(16 {middle}) rotate(-90)" '
        f'text-anchor="middle">{html.escape(unit)}</text>'
    )
    return parts


def _day_axis(labels: Sequence[str], title: str) -> list[str]:
    """Date labels along the bottom, at most eight so they never overlap."""
    every = max(1, math.ceil(len(labels) / 8))
    parts = []
    for index in range(0, len(labels), every):
        x = _n(_x(index, len(labels)))
        parts.append(
            f'<text class="tick" x="{x}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">{labels[index]}</text>'
        )
    parts.append(
        f'<text class="axis-title" x="{_n(LEFT + (WIDTH - LEFT - RIGHT) / 2)}" y="{HEIGHT - 8}" '
        f'text-anchor="middle">{html.escape(title)}</text>'
    )
    return parts


def _legend(entries: Sequence[tuple[str, str, str]]) -> list[str]:
    """Swatches and names along the top: (colour, dash pattern or "", label)."""
    parts, x = [], LEFT
    for colour, dash, label in entries:
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{x}" x2="{x + 22}" y1="14" y2="14" stroke="{colour}" stroke-width="3"{dashing}/>')
        parts.append(f'<text class="legend" x="{x + 28}" y="18">{html.escape(label)}</text>')
        x += 40 + 7 * len(label)
    return parts


def _line(points: Sequence[tuple[float, float]], colour: str, series: str, dash: str = "") -> str:
    """A polyline path, or a dot when there is a single point (a path of one point draws
    nothing)."""
    if len(points) == 1:
        x, y = points[0]
        return f'<circle class="mark" data-series="{series}" cx="{_n(x)}" cy="{_n(y)}" r="4" fill="{colour}"/>'
    path = " ".join(f"{'M' if i == 0 else 'L'}{_n(x)} {_n(y)}" for i, (x, y) in enumerate(points))
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<path class="mark" data-series="{series}" d="{path}" fill="none" stroke="{colour}" '
        f'stroke-width="2.5" stroke-linejoin="round"{dashing}/>'
    )


def _band(upper: Sequence[tuple[float, float]], lower: Sequence[tuple[float, float]], colour: str, series: str) -> str:
    """A filled region between two lines (an area down to zero, or an interval band)."""
    outline = [*upper, *reversed(lower)]
    if len(upper) == 1:  # widen a single day to a visible sliver
        (x, top), (_, bottom) = upper[0], lower[0]
        outline = [(x - 6, top), (x + 6, top), (x + 6, bottom), (x - 6, bottom)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{_n(x)} {_n(y)}" for i, (x, y) in enumerate(outline)) + " Z"
    return f'<path class="mark" data-series="{series}" d="{path}" fill="{colour}" fill-opacity="0.25" stroke="none"/>'


def daily_chart(spend: CurrencySpend, period: ReportPeriod) -> str:
    """This period's daily spend as an area, the previous period's as a dashed line, day 1
    over day 1, so a reader sees at a glance whether spend rose and on which days."""
    rows = aligned_daily(spend, period)
    current = [(i, float(amount)) for i, (day, amount, _, _) in enumerate(rows) if day]
    previous = [(i, float(earlier)) for i, (_, _, before, earlier) in enumerate(rows) if before]
    scale = Scale.over([v for _, v in current] + [v for _, v in previous])
    count = len(rows)
    line = [(_x(i, count), _y(v, scale)) for i, v in current]
    base = [(_x(i, count), _y(0.0, scale)) for i, _ in current]
    labels = [day.strftime("%d %b") if day else f"day {i + 1}" for i, (day, _, _, _) in enumerate(rows)]
    body = [
        *_value_axis(scale, f"Spend ({spend.currency})"),
        *_day_axis(labels, "Day of the period"),
        *_legend([(CURRENT, "", "This period"), (PREVIOUS, "6 4", "Previous period")]),
        _band(line, base, CURRENT, "this-period-area"),
        _line([(_x(i, count), _y(v, scale)) for i, v in previous], PREVIOUS, "previous-period", "6 4"),
        _line(line, CURRENT, "this-period"),
    ]
    title = f"Daily spend in {spend.currency}, {period.start} to {period.end}, with the previous period"
    total = sum((amount for day, amount, _, _ in rows if day), Decimal(0))
    description = f"Total this period {money(total, spend.currency)}."
    return _svg(f"daily-spend-{spend.currency}", title, description, body)


def forecast_chart(spend: CurrencySpend) -> str:
    """The forecast mean with its 95% band (lighter, wider) under its 80% band."""
    points = sorted(spend.forecast, key=lambda point: point.day)
    scale = Scale.over([v for p in points for v in (p.lo_95, p.hi_95, p.lo_80, p.hi_80, p.mean)])
    count = len(points)

    def bound(values: Iterable[float]) -> list[tuple[float, float]]:
        return [(_x(i, count), _y(v, scale)) for i, v in enumerate(values)]

    body = [
        *_value_axis(scale, f"Spend ({spend.currency})"),
        *_day_axis([p.day.strftime("%d %b") for p in points], "Forecast day"),
        *_legend([(FORECAST, "", "Mean"), ("#e3b791", "", "80% interval"), ("#efd6c0", "", "95% interval")]),
        _band(bound(p.hi_95 for p in points), bound(p.lo_95 for p in points), FORECAST, "interval-95"),
        _band(bound(p.hi_80 for p in points), bound(p.lo_80 for p in points), FORECAST, "interval-80"),
        _line(bound(p.mean for p in points), FORECAST, "mean"),
    ]
    title = f"Forecast of daily spend in {spend.currency}, {points[0].day} to {points[-1].day}"
    description = "Mean forecast with 80% and 95% prediction intervals."
    return _svg(f"forecast-{spend.currency}", title, description, body)


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
        body.append(f'<line class="grid" x1="{_n(x(tick))}" x2="{_n(x(tick))}" y1="{TOP}" y2="{height - BOTTOM}"/>')
        body.append(
            f'<text class="tick" x="{_n(x(tick))}" y="{height - BOTTOM + 18}" text-anchor="middle">'
            f"{scale.label(tick)}</text>"
        )
    for index, (label, amount) in enumerate(bars):
        top = TOP + index * BAR_HEIGHT
        left, right = sorted((x(0.0), x(float(amount))))
        middle = _n(top + BAR_HEIGHT / 2 + 4)
        name = html.escape(_short(label))
        body.append(f'<text class="label" x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end">{name}</text>')
        body.append(
            f'<rect class="mark" data-series="service" x="{_n(left)}" y="{_n(top + 4)}" '
            f'width="{_n(max(right - left, 1))}" height="{BAR_HEIGHT - 8}" fill="{CURRENT}">'
            f"<title>{html.escape(label)}: {money(amount, spend.currency)}</title></rect>"
        )
        body.append(f'<text class="value" x="{_n(right + 6)}" y="{middle}">{money(amount, spend.currency)}</text>')
    body.append(
        f'<text class="axis-title" x="{_n(LABEL_WIDTH + plot / 2)}" y="{height - 8}" text-anchor="middle">'
        f"Spend this period ({spend.currency})</text>"
    )
    count = len(spend.services)
    title = f"Spend by service in {spend.currency}, {count} service{'' if count == 1 else 's'}"
    return _svg(f"spend-by-service-{spend.currency}", title, "Services ordered by spend, largest first.", body, height)
