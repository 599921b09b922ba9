"""Cost reports: one self-contained HTML page with inline SVG charts, and a CSV per table.

Why it is built this way:

- A report travels: an email attachment, a bucket, a share without internet. So the page
  loads nothing: inline CSS, charts drawn here as SVG, and a Content-Security-Policy that
  forbids every fetch and every script, so no URL in the data can make a viewer phone home.
- Every chart has a table of its figures, for screen readers and for people who copy
  numbers. The CSVs are written from the very same table rows, so HTML and CSV cannot
  disagree.
- Money is Decimal and rounded once, for display, with :func:`analytics.money.format_amount`
  (cents, half up) and always next to its currency; currencies are never added together.
  Forecasts are float estimates (see :mod:`analytics.forecast`), rounded the same way.
- The output depends on the input only (no clock, no random ids, fixed ordering), so two
  renders of the same data are byte-identical and can be compared and diffed.
"""

from __future__ import annotations

import csv
import html
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from analytics.money import format_amount

Kind = Literal["weekly", "monthly"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class ReportPeriod:
    """The reported period; ``end`` is the last day included."""

    start: date
    end: date
    kind: Kind

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")
        if self.kind not in ("weekly", "monthly"):
            raise ValueError(f"period kind must be weekly or monthly, not {self.kind!r}")

    def days(self) -> list[date]:
        return _days(self.start, self.end)

    def previous(self) -> ReportPeriod:
        """The period compared against: the week before, or the previous calendar month."""
        if self.kind == "monthly":
            end = self.start - timedelta(days=1)
            return ReportPeriod(end.replace(day=1), end, "monthly")
        length = (self.end - self.start).days + 1
        return ReportPeriod(self.start - timedelta(days=length), self.start - timedelta(days=1), self.kind)


@dataclass(frozen=True)
class SpendRow:
    """Spend of a provider (``service`` None) or of a provider's service, in one currency.
    The change is derived rather than passed in, so it can never contradict the amounts."""

    provider: str
    service: str | None
    amount: Decimal
    previous: Decimal

    @property
    def change(self) -> Decimal:
        return self.amount - self.previous

    @property
    def change_percent(self) -> Decimal | None:
        """None when there was nothing to compare with (a percentage of zero is undefined)."""
        if self.previous == 0:
            return None
        return self.change / abs(self.previous) * 100


@dataclass(frozen=True)
class ForecastPoint:
    """One forecast day: the mean and the 80% and 95% interval bounds (floats: estimates)."""

    day: date
    mean: float
    lo_80: float
    hi_80: float
    lo_95: float
    hi_95: float


@dataclass(frozen=True)
class CurrencySpend:
    """Everything the report shows about one billing currency: the tables, the daily series
    of this period and of the previous one (days without a key cost nothing), and the
    forecast of the next days."""

    currency: str
    providers: Sequence[SpendRow]
    services: Sequence[SpendRow]
    daily: Mapping[date, Decimal]
    previous_daily: Mapping[date, Decimal]
    forecast: Sequence[ForecastPoint] = ()

    def __post_init__(self) -> None:
        _check_currency(self.currency)

    def has_spend(self) -> bool:
        """Any charge at all, this period or the previous one (credits count too)."""
        amounts = [*self.daily.values(), *self.previous_daily.values()]
        amounts += [row.amount for row in self.services] + [row.previous for row in self.services]
        return any(amount != 0 for amount in amounts)


@dataclass(frozen=True)
class Anomaly:
    """An anomaly as :mod:`analytics.anomalies` explains it: ``explanation`` is the drill-down
    path of (dimension, value, share of the parent's excess, 0..1)."""

    title: str
    series: str
    start: date
    end: date
    currency: str
    impact: Decimal
    explanation: Sequence[tuple[str, str, float]] = ()

    def __post_init__(self) -> None:
        _check_currency(self.currency)


@dataclass(frozen=True)
class Budget:
    """A budget and where it stands: ``forecast`` is the expected spend at the period's end."""

    name: str
    currency: str
    amount: Decimal
    spent: Decimal
    forecast: Decimal

    def __post_init__(self) -> None:
        _check_currency(self.currency)

    @property
    def percent(self) -> Decimal | None:
        """Share of the budget spent; None for a zero budget."""
        return self.spent / self.amount * 100 if self.amount else None

    @property
    def forecast_percent(self) -> Decimal | None:
        return self.forecast / self.amount * 100 if self.amount else None


@dataclass(frozen=True)
class Recommendation:
    title: str
    currency: str
    monthly_saving: Decimal
    detail: str = ""

    def __post_init__(self) -> None:
        _check_currency(self.currency)


@dataclass(frozen=True)
class ReportData:
    title: str
    period: ReportPeriod
    generated_at: datetime
    spend: Sequence[CurrencySpend]
    anomalies: Sequence[Anomaly] = ()
    budgets: Sequence[Budget] = ()
    recommendations: Sequence[Recommendation] = ()

    def __post_init__(self) -> None:
        if self.generated_at.tzinfo is None or self.generated_at.utcoffset() is None:
            raise ValueError("generated_at must be timezone-aware (UTC)")
        currencies = [spend.currency for spend in self.spend]
        if len(set(currencies)) != len(currencies):
            raise ValueError(f"one CurrencySpend per currency, got {currencies}")


def _check_currency(code: str) -> None:
    """ISO 4217 codes only: they end up in file names and element attributes."""
    if not _CURRENCY.match(code):
        raise ValueError(f"not an ISO 4217 currency code: {code!r}")


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=offset) for offset in range((end - start).days + 1)]


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


def _aligned_daily(
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
        for index, (day, amount, before, earlier) in enumerate(_aligned_daily(spend, period))
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


def _anomaly_table(anomalies: Sequence[Anomaly]) -> Table:
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


def _budget_table(budgets: Sequence[Budget]) -> Table:
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


def _recommendation_table(recommendations: Sequence[Recommendation]) -> Table:
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
        _anomaly_table(data.anomalies),
        _budget_table(data.budgets),
        _recommendation_table(data.recommendations),
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


# ---------------------------------------------------------------------------------------
# SVG charts. Coordinates are rounded to 0.1 px: plenty for a screen, and deterministic.

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
    rows = _aligned_daily(spend, period)
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


# ---------------------------------------------------------------------------------------
# The page.

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
        _section("Anomalies", _anomaly_table(data.anomalies)),
        _section("Budgets", _budget_table(data.budgets)),
        _section("Top recommendations", _recommendation_table(data.recommendations)),
    ]
    head = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(data.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>"
    )
    return "\n".join([head, _header(data), "<main>", *sections, "</main>", "</body>", "</html>", ""])
