"""The cost report renderer: figures, escaping, self-containment, CSV parity, and charts that
a real headless Chromium draws."""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import math
import re
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from analytics.money import format_amount
from analytics.reports.charts import Scale
from analytics.reports.model import (
    Anomaly,
    Budget,
    CurrencySpend,
    ForecastPoint,
    Recommendation,
    ReportData,
    ReportPeriod,
    SpendRow,
)
from analytics.reports.page import CSP, render_html
from analytics.reports.tables import render_csv
from tests.browser import BrowserError, Chromium, Image, read_png

WEEK = ReportPeriod(date(2026, 11, 16), date(2026, 11, 22), "weekly")
NASTY = '<script>alert("x")</script> & Co'
URL_TEXT = "See https://example.com/rightsizing?a=1&b=<2> for details"
SERVICES = [
    ("AWS", "Amazon EC2", "1234.565", "1100.004"),
    ("AWS", "Amazon S3", "210.005", "205.50"),
    ("AWS", "Amazon RDS", "180.10", "0"),
    ("AWS", NASTY, "12.345", "10"),
    ("Google Cloud", "Compute Engine", "640.994", "700.00"),
    ("Google Cloud", "BigQuery", "95.125", "80.00"),
    ("Google Cloud", "Cloud Storage", "40.00", "41.00"),
    ("Microsoft", "Virtual Machines", "300.00", "290.00"),
    ("Microsoft", "Storage", "25.50", "25.50"),
    ("Microsoft", "Bandwidth", "8.75", "9.10"),
    ("Microsoft", "Key Vault", "1.20", "1.00"),
    ("Microsoft", "Monitor", "0.995", "1.50"),
]


def _providers(services: list[SpendRow]) -> list[SpendRow]:
    names = sorted({row.provider for row in services})
    return [
        SpendRow(
            name,
            None,
            sum((r.amount for r in services if r.provider == name), Decimal(0)),
            sum((r.previous for r in services if r.provider == name), Decimal(0)),
        )
        for name in names
    ]


def _daily(start: date, base: str, step: str) -> dict[date, Decimal]:
    return {start + timedelta(days=i): Decimal(base) + Decimal(step) * (i % 4) for i in range(7)}


def _forecast(start: date, days: int) -> list[ForecastPoint]:
    points = []
    for i in range(days):
        mean = 400.0 + 7.5 * i
        points.append(ForecastPoint(start + timedelta(days=i), mean, mean - 40, mean + 40, mean - 75, mean + 75))
    return points


def realistic(*, reverse_daily: bool = False) -> ReportData:
    """A week of spend in two currencies, with a forecast, an anomaly, budgets and
    recommendations; names with markup and a URL to test escaping."""
    services = [SpendRow(p, s, Decimal(a), Decimal(b)) for p, s, a, b in SERVICES]
    daily = _daily(WEEK.start, "380.005", "25.5")
    previous = _daily(WEEK.previous().start, "350.00", "20.125")
    if reverse_daily:  # same mapping, other insertion order: must not change the output
        daily, previous = dict(reversed(daily.items())), dict(reversed(previous.items()))
    usd = CurrencySpend("USD", _providers(services), services, daily, previous, _forecast(WEEK.end + timedelta(1), 14))
    eur_services = [SpendRow("Microsoft", "Virtual Machines", Decimal("50.004"), Decimal("48.00"))]
    eur = CurrencySpend(
        "EUR",
        _providers(eur_services),
        eur_services,
        _daily(WEEK.start, "7.1435", "0.01"),
        _daily(date(2026, 11, 9), "6.86", "0"),
    )
    return ReportData(
        title=f"Weekly cost report — {NASTY}",
        period=WEEK,
        generated_at=datetime(2026, 11, 23, 6, 0, tzinfo=UTC),
        spend=[usd, eur],
        anomalies=[
            Anomaly(
                "EC2 spend spike",
                "AWS/total",
                date(2026, 11, 18),
                date(2026, 11, 19),
                "USD",
                Decimal("212.345"),
                [("ProviderName", "AWS", 0.91), ("ServiceName", "Amazon EC2", 0.8), ("RegionId", NASTY, 0.62)],
            )
        ],
        budgets=[
            Budget(
                "Production & staging",
                "USD",
                Decimal("10000"),
                Decimal("2789.145"),
                Decimal("11950.555"),
                start=date(2026, 11, 1),
                end=date(2026, 11, 30),
                as_of=WEEK.end,
            )
        ],
        recommendations=[Recommendation("Rightsize db-1", "USD", Decimal("123.455"), URL_TEXT)],
    )


class Tables(HTMLParser):
    """Every <table> of a page as {caption: [row, ...]}, header row first, cell text unescaped."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._rows: list[list[str]] = []
        self._text: list[str] | None = None
        self._caption = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._rows = []
        elif tag == "tr":
            self._rows.append([])
        elif tag in ("td", "th", "caption"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._text is not None:
            self._rows[-1].append("".join(self._text))
            self._text = None
        elif tag == "caption" and self._text is not None:
            self._caption, self._text = "".join(self._text), None
        elif tag == "table":
            self.tables[self._caption] = self._rows

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def tables_of(page: str) -> dict[str, list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


def test_amounts_are_the_input_rounded_half_up_to_cents() -> None:
    data = realistic()
    tables = tables_of(render_html(data))
    services = {(row[0], row[1]): row[2:] for row in tables["Spend by service (USD)"][1:]}
    for provider, service, amount, previous in SERVICES:
        currency, shown, shown_previous, change, _ = services[(provider, service)]
        assert (currency, shown, shown_previous) == (
            "USD",
            format_amount(Decimal(amount)),
            format_amount(Decimal(previous)),
        )
        assert change == format_amount(Decimal(amount) - Decimal(previous))
    assert services[("AWS", "Amazon EC2")][1:3] == ["1234.57", "1100.00"]  # half up, not to even
    assert services[("AWS", "Amazon S3")][1] == "210.01"
    assert services[("AWS", "Amazon RDS")][4] == ""  # no percentage of a zero previous period
    assert services[("Google Cloud", "Compute Engine")][4] == "-8.4%"
    providers = {row[0]: row[1:] for row in tables["Spend by provider (USD)"][1:]}
    assert providers["AWS"][:3] == ["USD", "1637.02", "1315.50"]  # 1637.015 exactly, rounded once
    assert tables["Budgets"][1] == [
        "Production & staging", "November 2026", "22 Nov 2026", "USD", "10000.00", "2789.15", "27.9%", "11950.56",
        "119.5%", "forecast to pass it by USD 1950.56",
    ]  # fmt: skip
    assert tables["Top recommendations"][1][:3] == ["Rightsize db-1", "USD", "123.46"]
    assert tables["Anomalies"][1][5] == "212.35"
    assert tables["Forecast of daily spend (USD)"][1] == [
        "2026-11-23",
        "400.00",
        "360.00",
        "440.00",
        "325.00",
        "475.00",
    ]
    assert tables["Daily spend (EUR), this period and the previous one"][1] == [
        "1",
        "2026-11-16",
        "7.14",
        "2026-11-09",
        "6.86",
    ]


def test_money_on_the_page_carries_its_currency() -> None:
    page = render_html(realistic())
    assert "This period USD 2749.58; previous period USD 2463.60; change USD 285.98 (+11.6%)." in page
    assert "This period EUR 50.00; previous period EUR 48.00" in page
    assert ">USD 1234.57</text>" in page  # the bar's value label


def test_csvs_hold_the_same_figures_as_the_html_tables() -> None:
    data = realistic()
    tables = tables_of(render_html(data))
    files = render_csv(data)
    assert sorted(files) == [
        "anomalies.csv",
        "budgets.csv",
        "eur_daily_spend.csv",
        "eur_forecast.csv",
        "eur_spend_by_provider.csv",
        "eur_spend_by_service.csv",
        "recommendations.csv",
        "summary.csv",
        "usd_daily_spend.csv",
        "usd_forecast.csv",
        "usd_spend_by_provider.csv",
        "usd_spend_by_service.csv",
    ]
    html_tables = sorted(rows for rows in tables.values())
    csv_tables = sorted(
        list(csv.reader(io.StringIO(text))) for name, text in files.items() if name != "eur_forecast.csv"
    )
    assert html_tables == csv_tables
    assert files["eur_forecast.csv"].splitlines() == ["Date,Mean (EUR),80% low,80% high,95% low,95% high"]
    assert any(NASTY in row for row in csv.reader(io.StringIO(files["usd_spend_by_service.csv"])))


def test_the_page_loads_nothing_and_shows_urls_only_as_escaped_data() -> None:
    page = render_html(realistic())
    assert f'content="{CSP}"' in page
    assert "default-src 'none'" in CSP
    without_data = page.replace(URL_TEXT.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"), "")
    assert not re.search(r"https?:|//[a-z]", without_data, re.IGNORECASE)
    assert not re.search(r"\b(src|href|xlink:href)=|url\(|@import|<(script|link|img|iframe|object)\b", page, re.I)


def test_names_with_markup_are_escaped_everywhere() -> None:
    page = render_html(realistic())
    assert "<script" not in page
    assert 'alert("x")' not in page
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"
    assert page.count(escaped) >= 4  # title, heading, service table, bar tooltip, anomaly explanation
    assert ">AWS · &lt;script&gt;alert(&quot;x&quot;)&lt;/scrip…</text>" in page  # shortened, then escaped
    assert tables_of(page)["Spend by service (USD)"][4][1] == NASTY


def test_same_input_same_bytes() -> None:
    first, second = realistic(), realistic(reverse_daily=True)
    assert render_html(first) == render_html(second)
    assert render_csv(first) == render_csv(second)


def test_an_empty_period_says_no_spend_instead_of_drawing_empty_charts() -> None:
    quiet = CurrencySpend("USD", [], [], {}, {})
    for spend in ([], [quiet]):
        data = ReportData("Weekly cost report", WEEK, datetime(2026, 11, 23, tzinfo=UTC), spend)
        page = render_html(data)
        assert "No spend in this period." in page
        assert "<svg" not in page
        assert "Top recommendations: None yet." in page
        assert "Anomalies: No anomalies in this period." in page
        assert render_csv(data)["recommendations.csv"] == "Recommendation,Currency,Monthly saving,Why\n"


def test_recommendations_say_none_yet_when_there_are_none() -> None:
    page = render_html(replace(realistic(), recommendations=[]))
    assert "Top recommendations: None yet." in page


def test_a_month_is_compared_day_by_day_with_the_previous_month() -> None:
    """November has 30 days and October 31: the 31st has nothing this period to compare."""
    november = ReportPeriod(date(2026, 11, 1), date(2026, 11, 30), "monthly")
    row = [SpendRow("AWS", "Amazon EC2", Decimal("300"), Decimal("310"))]
    daily = {day: Decimal(10) for day in november.days()}
    previous = {day: Decimal(10) for day in november.previous().days()}
    spend = CurrencySpend("USD", _providers(row), row, daily, previous)
    data = ReportData("Monthly cost report", november, datetime(2026, 12, 1, tzinfo=UTC), [spend])
    rows = list(csv.reader(io.StringIO(render_csv(data)["usd_daily_spend.csv"])))
    assert len(rows) == 1 + 31
    assert rows[1] == ["1", "2026-11-01", "10.00", "2026-10-01", "10.00"]
    assert rows[31] == ["31", "", "", "2026-10-31", "10.00"]
    assert "Monthly report, 2026-11-01 to 2026-11-30, compared with 2026-10-01 to 2026-10-31." in render_html(data)


def test_data_is_checked_where_mistakes_would_be_silent() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ReportData("r", WEEK, datetime(2026, 11, 23), [])  # naive: the point of the test
    with pytest.raises(ValueError, match="ISO 4217"):
        CurrencySpend('US"D', [], [], {}, {})
    with pytest.raises(ValueError, match="one CurrencySpend per currency"):
        ReportData("r", WEEK, datetime(2026, 11, 23, tzinfo=UTC), [CurrencySpend("USD", [], [], {}, {})] * 2)


def test_previous_periods_and_axis_ticks() -> None:
    november = ReportPeriod(date(2026, 11, 1), date(2026, 11, 30), "monthly")
    assert november.previous() == ReportPeriod(date(2026, 10, 1), date(2026, 10, 31), "monthly")
    assert WEEK.previous() == ReportPeriod(date(2026, 11, 9), date(2026, 11, 15), "weekly")
    assert Scale.over([0, 473.2]).ticks() == [0, 100, 200, 300, 400, 500]
    assert Scale.over([-30, 90]).ticks() == [-50, -25, 0, 25, 50, 75, 100]
    quarter = Scale.over([12])
    assert [quarter.label(tick) for tick in quarter.ticks()] == ["0.0", "2.5", "5.0", "7.5", "10.0", "12.5"]
    assert Scale.over([12345]).label(12500) == "12,500"
    small = Scale.over([0.07])
    assert [small.label(tick) for tick in small.ticks()] == ["0.00", "0.02", "0.04", "0.06", "0.08"]
    assert Scale.over([]).ticks() == [0, 0.25, 0.5, 0.75, 1]


# --- In a real browser ---------------------------------------------------------------------

PROBE = """(() => {
  for (const details of document.querySelectorAll("details")) details.open = true;  // the charts are folded
  const out = {charts: {}, resources: performance.getEntriesByType("resource").length};
  for (const svg of document.querySelectorAll("svg[data-chart]")) {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll(".mark")];
    const drawn = marks.filter((mark) => {
      const b = mark.getBBox(), s = getComputedStyle(mark);
      return (b.width > 0 || b.height > 0) && (s.fill !== "none" || s.stroke !== "none")
        && s.visibility === "visible" && s.display !== "none";
    });
    out.charts[svg.dataset.chart] = {x: box.left + scrollX, y: box.top + scrollY, width: box.width,
      height: box.height, marks: marks.length, drawn: drawn.length, title: svg.querySelector("title").textContent};
  }
  document.getElementById("render-check").textContent = JSON.stringify(out);
})();"""

CHARTS = {"daily-spend-USD", "spend-by-service-USD", "forecast-USD", "daily-spend-EUR", "spend-by-service-EUR"}


def with_probe(page: str) -> str:
    """The page plus the measuring script; the CSP allows exactly that script (by hash) and
    still forbids every fetch, so the probe also sees whether anything was loaded."""
    digest = base64.b64encode(hashlib.sha256(PROBE.encode()).digest()).decode()
    probed = page.replace(f'content="{CSP}"', f"content=\"{CSP}; script-src 'sha256-{digest}'\"")
    assert probed != page
    return probed.replace("</body>", f'<pre id="render-check"></pre>\n<script>{PROBE}</script>\n</body>')


def coloured(image: Image, box: dict[str, float]) -> int:
    """Pixels in the box with a clear hue (chart colours); text and grid lines are grey."""
    count = 0
    for y in range(int(box["y"]) + 1, int(box["y"] + box["height"]) - 1):
        row = image.rows[y]
        for x in range(int(box["x"]) + 1, int(box["x"] + box["width"]) - 1):
            pixel = row[x * image.channels : x * image.channels + 3]
            count += max(pixel) - min(pixel) >= 40
    return count


def measure(chromium: Chromium, page_html: str, tmp_path: Path) -> dict[str, Any]:
    """Open the page in Chromium twice: once to run the probe and read its result from the
    dumped DOM, once for a screenshot as tall as the page, whose pixels are then counted in
    each chart's box. Returns the probe's result with ``coloured`` added to each chart."""
    page = tmp_path / "report.html"
    page.write_text(with_probe(page_html), encoding="utf-8")
    dom = chromium.dump_dom(page.as_uri())
    found = re.search(r'<pre id="render-check">(.*?)</pre>', dom, re.S)
    assert found, f"no probe output in the DOM: {dom[-2000:]}"
    assert found.group(1), f"the probe did not run: {dom[-2000:]}"
    check: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    shot = tmp_path / "report.png"
    bottom = max(chart["y"] + chart["height"] for chart in check["charts"].values())
    replace(chromium, window=(1000, math.ceil(bottom) + 8)).screenshot(page.as_uri(), shot)  # charts only
    image = read_png(shot)
    for chart in check["charts"].values():
        chart["coloured"] = coloured(image, chart)
    return check


@pytest.mark.integration
def test_headless_chromium_draws_every_chart(chromium: Chromium, tmp_path: Path) -> None:
    """The probe measures every <svg data-chart> after layout: its box, and how many of its
    marks (areas, lines, bands, bars) have a non-empty bounding box and a visible fill or stroke.
    The screenshot shows they were painted: each chart's box holds coloured pixels, which only
    chart marks have (text and grid lines are grey)."""
    started = time.monotonic()
    check = measure(chromium, render_html(realistic()), tmp_path)
    assert check["resources"] == 0  # nothing fetched: the CSP would have blocked it anyway
    assert set(check["charts"]) == CHARTS
    for name, chart in check["charts"].items():
        assert chart["width"] > 300, name
        assert chart["height"] > 100, name
        assert chart["marks"] >= 1, name
        assert chart["drawn"] == chart["marks"], (name, chart)
        assert chart["title"], name
        assert chart["coloured"] > 0.01 * chart["width"] * chart["height"], (name, chart)
    assert check["charts"]["spend-by-service-USD"]["marks"] == 11  # ten services and "other"
    assert check["charts"]["forecast-USD"]["marks"] == 3  # the 95% and 80% bands and the mean
    print(f"chromium: two runs and checks in {time.monotonic() - started:.1f} s")


@pytest.mark.integration
def test_the_browser_check_notices_charts_that_are_not_drawn(chromium: Chromium, tmp_path: Path) -> None:
    """The same check on the report with its marks hidden finds the charts but nothing drawn
    in them, so the test above cannot pass on charts that are present but empty."""
    hidden = render_html(realistic()).replace("</style>", "svg .mark { visibility: hidden; }</style>")
    check = measure(chromium, hidden, tmp_path)
    assert set(check["charts"]) == CHARTS
    for name, chart in check["charts"].items():
        assert chart["drawn"] == 0, name
        assert chart["coloured"] < 0.001 * chart["width"] * chart["height"], (name, chart)  # legend swatches only


def test_a_hung_browser_is_killed_with_its_children(tmp_path: Path) -> None:
    """The fake browser ignores its flags, starts a child and hangs: after the timeout both
    are gone, because the whole process group is killed."""
    child_pid = tmp_path / "child.pid"
    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {child_pid}\nsleep 300\n")
    fake.chmod(0o755)
    with pytest.raises(BrowserError, match="did not finish"):
        Chromium(str(fake), timeout=3).dump_dom("about:blank")  # time enough to start the child
    status = Path(f"/proc/{int(child_pid.read_text())}/status")
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while status.exists() and "zombie" not in status.read_text() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not status.exists() or "zombie" in status.read_text()


def _pdf_pages(chromium: Chromium, page_html: str, folder: Path) -> int:
    page, pdf = folder / "print.html", folder / "print.pdf"
    page.write_text(page_html, encoding="utf-8")
    chromium.run("--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri())
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", pdf.read_bytes()))


@pytest.mark.integration
def test_printing_unfolds_the_folded_details(chromium: Chromium, tmp_path: Path) -> None:
    """On screen the details are folded; on paper they are not: the printed report is several
    pages, where the same page without its print rule prints the summary alone."""
    page = render_html(realistic())
    printed = _pdf_pages(chromium, page, tmp_path)
    rule = re.search(r"@media print \{.*?\} \}", page)
    assert rule is not None
    summary_only = _pdf_pages(chromium, page.replace(rule.group(0), ""), tmp_path)
    assert printed > summary_only, (printed, summary_only)
    assert printed >= 3
