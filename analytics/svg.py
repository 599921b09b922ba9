"""SVG chart primitives shared by the cost report (``analytics.reports.charts``) and the
monitoring dashboards (``control_plane.monitoring.dashboard_page``): a "nice" linear scale, the
chart element, the value axis, the legend, lines and bands, and a line chart over time.
Everything is drawn as text, so a page that shows a chart loads nothing. Coordinates are rounded
to 0.1 px: plenty for a screen, and deterministic."""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

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


def coord(value: float) -> str:
    """A coordinate as text: one decimal, no ``-0.0``."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def index_x(index: int, count: int) -> float:
    plot = WIDTH - LEFT - RIGHT
    return LEFT + plot / 2 if count <= 1 else LEFT + plot * index / (count - 1)


def value_y(value: float, scale: Scale, height: int = HEIGHT) -> float:
    plot = height - TOP - BOTTOM
    return TOP + plot * (1 - scale.fraction(value))


def svg_element(name: str, title: str, description: str, body: list[str], height: int = HEIGHT) -> str:
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


def value_axis(scale: Scale, unit: str, height: int = HEIGHT) -> list[str]:
    """Horizontal grid lines with tick labels, and the rotated axis title."""
    parts = []
    for tick in scale.ticks():
        y = coord(value_y(tick, scale, height))
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y}" text-anchor="end">{scale.label(tick)}</text>')
    middle = coord(TOP + (height - TOP - BOTTOM) / 2)
    parts.append(
        f'<text class="axis-title" transform="translate(16 {middle}) rotate(-90)" '
        f'text-anchor="middle">{html.escape(unit)}</text>'
    )
    return parts


def legend(entries: Sequence[tuple[str, str, str]]) -> list[str]:
    """Swatches and names along the top: (colour, dash pattern or "", label)."""
    parts, x = [], LEFT
    for colour, dash, label in entries:
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(f'<line x1="{x}" x2="{x + 22}" y1="14" y2="14" stroke="{colour}" stroke-width="3"{dashing}/>')
        parts.append(f'<text class="legend" x="{x + 28}" y="18">{html.escape(label)}</text>')
        x += 40 + 7 * len(label)
    return parts


def polyline(points: Sequence[tuple[float, float]], colour: str, series: str, dash: str = "") -> str:
    """A polyline path, or a dot when there is a single point (a path of one point draws
    nothing)."""
    if len(points) == 1:
        x, y = points[0]
        return f'<circle class="mark" data-series="{series}" cx="{coord(x)}" cy="{coord(y)}" r="4" fill="{colour}"/>'
    path = " ".join(f"{'M' if i == 0 else 'L'}{coord(x)} {coord(y)}" for i, (x, y) in enumerate(points))
    dashing = f' stroke-dasharray="{dash}"' if dash else ""
    return (
        f'<path class="mark" data-series="{series}" d="{path}" fill="none" stroke="{colour}" '
        f'stroke-width="2.5" stroke-linejoin="round"{dashing}/>'
    )


def band(upper: Sequence[tuple[float, float]], lower: Sequence[tuple[float, float]], colour: str, series: str) -> str:
    """A filled region between two lines (an area down to zero, or an interval band)."""
    outline = [*upper, *reversed(lower)]
    if len(upper) == 1:  # widen a single day to a visible sliver
        (x, top), (_, bottom) = upper[0], lower[0]
        outline = [(x - 6, top), (x + 6, top), (x + 6, bottom), (x - 6, bottom)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{coord(x)} {coord(y)}" for i, (x, y) in enumerate(outline)) + " Z"
    return f'<path class="mark" data-series="{series}" d="{path}" fill="{colour}" fill-opacity="0.25" stroke="none"/>'


TimePoint = tuple[float, float]  # (seconds since the epoch, value)


@dataclass(frozen=True)
class TimeSeries:
    """One line of a time chart; ``key`` is what the page's script matches events against."""

    key: str
    label: str
    colour: str
    points: Sequence[TimePoint]


PALETTE = ("#1f6feb", "#bf5b04", "#1a7f37", "#8250df", "#cf222e", "#0a7b83", "#6e7781", "#9a6700")


def time_x(moment: float, start: float, end: float) -> float:
    plot = WIDTH - LEFT - RIGHT
    return LEFT + plot / 2 if end <= start else LEFT + plot * (moment - start) / (end - start)


def _time_axis(start: float, end: float) -> list[str]:
    """Five HH:MM (or day) labels along the bottom of a time chart."""
    parts: list[str] = []
    if end <= start:
        return parts
    fmt = "%H:%M" if end - start <= 2 * 86400 else "%d %b"
    for index in range(5):
        moment = start + (end - start) * index / 4
        label = datetime.fromtimestamp(moment, UTC).strftime(fmt)
        parts.append(
            f'<text class="tick" x="{coord(time_x(moment, start, end))}" y="{HEIGHT - BOTTOM + 18}" '
            f'text-anchor="middle">{label}</text>'
        )
    return parts


def time_chart(
    name: str, title: str, unit: str, series: Sequence[TimeSeries], *, start: float, end: float, description: str = ""
) -> str:
    """Lines over [start, end] (UTC epoch seconds), one per series, on one value axis. The plot
    sits in ``<g class="plot">`` and carries its geometry as data attributes, so a script can
    redraw the same chart when new points arrive."""
    values = [v for s in series for _, v in s.points]
    scale = Scale.over(values)
    marks = []
    for item in series:
        points = [(time_x(t, start, end), value_y(v, scale)) for t, v in item.points if start <= t <= end]
        if points:
            marks.append(polyline(points, item.colour, html.escape(item.key)))
    *axis, title_text = value_axis(scale, unit)  # the axis title stays when a script redraws the plot
    body = [
        f'<g class="plot" data-start="{start:.0f}" data-end="{end:.0f}" data-unit="{html.escape(unit)}">',
        *axis,
        *_time_axis(start, end),
        *marks,
        "</g>",
        title_text,
        *legend([(s.colour, "", s.label) for s in series[:6]]),
    ]
    if not values:
        body.append(
            f'<text class="empty" x="{coord(LEFT + (WIDTH - LEFT - RIGHT) / 2)}" y="{coord(HEIGHT / 2)}" '
            'text-anchor="middle">No samples yet</text>'
        )
    count = sum(len(s.points) for s in series)
    return svg_element(name, title, description or f"{len(series)} series, {count} points.", body)
