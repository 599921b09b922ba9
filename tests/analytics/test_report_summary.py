"""The report's summary and its plain words: the figures of the first screen, the forecast of
the next period, the movers, and anomalies, budgets and recommendations said as a reader says them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from analytics.anomalies import DIMENSIONS
from analytics.reports.model import Anomaly, Budget, CurrencySpend, ForecastPoint, ReportPeriod, SpendRow
from analytics.reports.page import render_html
from analytics.reports.summary import movers, summary
from analytics.reports.tables import next_forecast
from analytics.reports.wording import explanation_text, period_text, recommendation_text
from tests.analytics.test_reports import NASTY, WEEK, realistic, tables_of

NOVEMBER = ReportPeriod(date(2026, 11, 1), date(2026, 11, 30), "monthly")


def _point(day: date, mean: float) -> ForecastPoint:
    return ForecastPoint(day, mean, mean - 1, mean + 1, mean - 2, mean + 2)


def test_the_summary_comes_first_and_every_detail_is_folded() -> None:
    page = render_html(realistic())
    first_fold = page.index("<details")
    assert page.index('id="summary"') < first_fold
    assert "<details open" not in page
    assert page.index("<svg") > first_fold  # every chart is folded below the summary
    assert page.index("<caption>Daily spend (USD)") > first_fold
    summary_html = page[page.index('id="summary"') : first_fold]
    for words in ("Biggest changes", "Budgets", "Anomalies", "Top recommendations", "saves USD 123.46 a month"):
        assert words in summary_html


def test_the_summary_table_has_each_currencys_spend_change_and_the_next_weeks_forecast() -> None:
    table = tables_of(render_html(realistic()))["Spend and forecast"]
    assert table[0] == ["Currency", "16–22 Nov 2026", "9–15 Nov 2026", "Change", "Change %",
                        "Forecast 23–29 Nov 2026", "Forecast note"]  # fmt: skip
    # the next week's forecast is the sum of its seven daily means: 400 + 7.5 * i for i in 0..6
    assert table[1:] == [
        ["USD", "2749.58", "2463.60", "285.98", "+11.6%", "2957.50", ""],
        ["EUR", "50.00", "48.00", "2.00", "+4.2%", "", ""],
    ]


def test_the_next_periods_forecast_adds_what_is_already_billed_and_needs_every_other_day() -> None:
    """A November report made on 6 December: 1-5 December are billed, the rest is forecast."""
    billed = {date(2026, 12, day): Decimal("100.005") for day in range(1, 6)}
    forecast = [_point(date(2026, 12, 6) + timedelta(days=i), 80.0) for i in range(26)]
    spend = CurrencySpend("USD", [], [], {}, {}, forecast, next_daily=billed)
    found = next_forecast(spend, NOVEMBER)
    assert found is not None
    assert (found.total, found.billed, found.billed_through) == (
        Decimal("500.025") + 26 * Decimal("80.0"), Decimal("500.025"), date(2026, 12, 5),
    )  # fmt: skip
    gap = replace(spend, forecast=[p for p in forecast if p.day != date(2026, 12, 20)])
    assert next_forecast(gap, NOVEMBER) is None  # no figure rather than one missing a day
    short = replace(spend, forecast=forecast[:-1])  # stops on 30 December
    assert next_forecast(short, NOVEMBER) is None
    assert next_forecast(replace(spend, forecast=[]), NOVEMBER) is None


def test_movers_are_the_biggest_changes_per_currency_leaving_out_noise() -> None:
    assert movers(realistic()) == [
        "Amazon RDS on AWS: up USD 180.10, new this period",
        "Amazon EC2 on AWS: up USD 134.56 (+12.2%)",
        "Compute Engine on Google Cloud: down USD 59.01 (-8.4%)",
        "Virtual Machines on Microsoft: up EUR 2.00 (+4.2%)",
    ]
    # USD's total is about 2750, so a change under 27.50 (1%) is no news
    quiet = [SpendRow("AWS", "Amazon S3", Decimal("100"), Decimal("99"))]
    data = replace(realistic(), spend=[CurrencySpend("USD", [SpendRow("AWS", None, Decimal("200"), Decimal("199"))],
                                                     quiet, {}, {})])  # fmt: skip
    assert movers(data) == []
    assert "No service&#x27;s spend changed by 1%" in render_html(data)


def test_anomalies_are_explained_in_words_without_focus_column_names() -> None:
    data = realistic()
    text = explanation_text(data.anomalies[0])
    assert text == f"62% of the increase came from Amazon EC2 on AWS, region {NASTY}."
    page = render_html(data)
    for column in DIMENSIONS:
        assert column not in page
    anomaly = Anomaly(
        "Drop in total spend", "total", date(2026, 11, 18), date(2026, 11, 18), "USD", Decimal("-80"),
        [("ProviderName", "AWS", 1.02), ("BillingAccountId", "027613937434", 1.02), ("SubAccountId", "2247", 1.0),
         ("ResourceId", "arn:aws:rds:eu-west-2:2247:db:orders", 0.999)],
        direction="drop", others=[("ResourceType", "Compute Instance", 0.4)], names={"2247": "wedsync-dev"},
    )  # fmt: skip
    assert explanation_text(anomaly) == (
        "All of the decrease came from AWS, account wedsync-dev, resource orders. "
        "Largest parts: resource type Compute Instance (40%)."
    )
    assert "027613937434" not in explanation_text(anomaly)  # the account below it says more


def test_budgets_say_where_they_stood_in_words() -> None:
    over = Budget("AWS dev", "USD", Decimal("790"), Decimal("1282.27"), Decimal("1282.27"),
                  start=date(2026, 11, 1), end=date(2026, 11, 30), as_of=date(2026, 11, 30))  # fmt: skip
    quarter = Budget("Data", "EUR", Decimal("900"), Decimal("300"), Decimal("850"),
                     start=date(2026, 10, 1), end=date(2026, 12, 31), as_of=date(2026, 11, 30))  # fmt: skip
    lines = summary(replace(realistic(), budgets=[over, quarter])).budgets
    assert lines == [
        "AWS dev, November 2026: USD 1282.27 of USD 790.00 (162.3%) spent, over by USD 492.27.",
        "Data, 1 Oct – 31 Dec 2026: EUR 300.00 of EUR 900.00 (33.3%) spent by 30 Nov 2026, within budget.",
    ]


def test_period_words() -> None:
    assert period_text(NOVEMBER) == "November 2026"
    assert period_text(WEEK) == "16–22 Nov 2026"
    assert period_text(ReportPeriod(date(2026, 11, 30), date(2026, 12, 6), "weekly")) == "30 Nov – 6 Dec 2026"
    assert period_text(ReportPeriod(date(2026, 12, 28), date(2027, 1, 3), "weekly")) == "28 Dec 2026 – 3 Jan 2027"
    assert NOVEMBER.next() == ReportPeriod(date(2026, 12, 1), date(2026, 12, 31), "monthly")
    assert ReportPeriod(date(2027, 1, 1), date(2027, 1, 31), "monthly").next().end == date(2027, 2, 28)
    assert WEEK.next() == ReportPeriod(date(2026, 11, 23), date(2026, 11, 29), "weekly")


RESIZE = {"current": {"type": "m5.4xlarge"}, "cpu_p95_percent": 7.351, "memory_p99_percent": 14.5, "window_days": 14}


@pytest.mark.parametrize(
    ("fields", "title", "why"),
    [
        ({"kind": "rightsize", "action": "resize", "target": "r5.large", "evidence": RESIZE},
         "Resize wedsync-reporting (sandbox-aws) from m5.4xlarge to r5.large",
         "CPU peaks at 7.4%, memory at 14% over 14 days"),
        ({"kind": "idle", "action": "stop", "target": None,
          "evidence": {"type": "m5.large", "cpu_p95_of_hourly_max_percent": 1.432, "window_days": 7}},
         "Stop wedsync-reporting (sandbox-aws), an idle m5.large", "CPU under 1.4% for 7 days"),
        ({"kind": "schedule", "action": "schedule", "target": "off Mon-Fri 20:00-07:00; Europe/London", "evidence": {}},
         "Switch wedsync-reporting (sandbox-aws) off out of hours", "off Mon-Fri 20:00-07:00; Europe/London"),
        ({"kind": "unattached_disk", "action": "delete", "target": None, "evidence": {"unattached_days": 12.5}},
         "Delete the unattached disk wedsync-reporting (sandbox-aws)", "unattached for 12.5 days"),
        ({"kind": "stopped_paying", "action": "terminate", "target": None, "evidence": {"stopped_days": 9}},
         "Terminate wedsync-reporting (sandbox-aws)", "stopped for 9 days and still billed"),
        ({"kind": "commitment", "action": "purchase", "target": "savings_plan:1y:upfront=0", "account": "wedsync-payer",
          "evidence": {"chosen_hourly_commitment": "2.118", "coverage": 0.9992, "lookback_days": 30}},
         "Buy a 1-year compute savings plan at USD 2.118 an hour for wedsync-payer (sandbox-aws), no upfront payment",
         "would have covered 100% of the eligible usage of the last 30 days"),
        ({"kind": "commitment", "action": "purchase", "target": "cud:3y:upfront=0.5", "evidence": {}},
         "Buy a 3-year committed use discount (sandbox-aws), 0.5 paid upfront", ""),
    ],
)  # fmt: skip
def test_recommendations_are_a_verb_a_name_and_the_reason(fields: dict[str, Any], title: str, why: str) -> None:
    said = recommendation_text(name="wedsync-reporting", provider="sandbox-aws", currency="USD", **fields)
    assert said == (title, why)
