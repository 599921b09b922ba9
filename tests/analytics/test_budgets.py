"""Budget evaluation: thresholds on actual and forecast spend, periods, currencies, run rate, and
the share and run rate leaving out the days of an ended spike."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from analytics.budgets import (
    DailyCost,
    Evaluation,
    evaluate,
    last_closed_period,
    period_bounds,
    run_rate_forecast,
    scaled,
    share_of,
)

NOV1, NOV30 = date(2026, 11, 1), date(2026, 11, 30)


def _days(first: date, count: int, amount: str, currency: str = "USD") -> list[DailyCost]:
    return [DailyCost(first + timedelta(days=i), currency, Decimal(amount)) for i in range(count)]


def _evaluate(actuals: list[DailyCost], forecast: list[DailyCost] = (), *, through: date = date(2026, 11, 10),  # type: ignore[assignment]
              amount: str = "1000", thresholds: dict[str, tuple[int, ...]] | None = None) -> Evaluation:  # fmt: skip
    return evaluate(
        amount=Decimal(amount), currency="USD", start=NOV1, end=NOV30, data_through=through, actuals=actuals,
        forecast=forecast, thresholds=thresholds or {"actual": (50, 80, 100), "forecast": (100,)},
        forecast_method="cost_forecast",
    )  # fmt: skip


def _crossing(evaluation: Evaluation, kind: str, percent: int) -> tuple[bool, date | None]:
    found = next(c for c in evaluation.crossings if c.kind == kind and c.percent == percent)
    return found.crossed, found.crosses_on


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 17), (date(2026, 11, 1), date(2026, 11, 30))),
        (date(2026, 2, 28), (date(2026, 2, 1), date(2026, 2, 28))),
        (date(2026, 12, 31), (date(2026, 12, 1), date(2026, 12, 31))),
    ],
)
def test_a_month_runs_from_its_first_to_its_last_day(day: date, expected: tuple[date, date]) -> None:
    assert period_bounds("month", day) == expected


def test_quarters_and_years_are_calendar_ones() -> None:
    assert period_bounds("quarter", date(2026, 11, 17)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert period_bounds("quarter", date(2026, 2, 1)) == (date(2026, 1, 1), date(2026, 3, 31))
    assert period_bounds("year", date(2026, 6, 6)) == (date(2026, 1, 1), date(2026, 12, 31))
    with pytest.raises(ValueError, match="period"):
        period_bounds("week", date(2026, 6, 6))


def test_exactly_fifty_percent_crosses_fifty_and_not_eighty() -> None:
    evaluation = _evaluate(_days(NOV1, 10, "50"))  # 500 of 1000
    assert evaluation.spent == Decimal(500)
    assert evaluation.percent_used == Decimal("50.00")
    assert _crossing(evaluation, "actual", 50) == (True, date(2026, 11, 10))
    assert _crossing(evaluation, "actual", 80)[0] is False


def test_a_cent_short_of_fifty_percent_does_not_cross() -> None:
    actuals = [*_days(NOV1, 9, "50"), DailyCost(date(2026, 11, 10), "USD", Decimal("49.99"))]
    assert _crossing(_evaluate(actuals), "actual", 50) == (False, None)


def test_the_forecast_crosses_before_the_actual_does() -> None:
    actuals = _days(NOV1, 10, "30")  # 300 spent
    forecast = _days(date(2026, 11, 11), 20, "40")  # +800: 1100 at period end
    evaluation = _evaluate(actuals, forecast)
    assert evaluation.projected == Decimal(1100)
    assert _crossing(evaluation, "forecast", 100) == (True, date(2026, 11, 28))  # 300 + 18 * 40 = 1020
    assert _crossing(evaluation, "actual", 100) == (False, date(2026, 11, 28))  # not yet, but forecast to
    assert _crossing(evaluation, "actual", 50) == (False, date(2026, 11, 15))  # 300 + 5 * 40
    assert evaluation.state == "at_risk"


def test_spend_in_another_currency_never_adds() -> None:
    actuals = [*_days(NOV1, 10, "50"), *_days(NOV1, 10, "1000", currency="EUR")]
    forecast = _days(date(2026, 11, 11), 20, "9999", currency="EUR")
    evaluation = _evaluate(actuals, forecast)
    assert (evaluation.spent, evaluation.projected) == (Decimal(500), Decimal(500))
    assert _crossing(evaluation, "actual", 80) == (False, None)
    assert evaluation.state == "ok"


def test_days_outside_the_period_and_forecasts_of_past_days_are_left_out() -> None:
    actuals = [*_days(date(2026, 10, 25), 7, "100"), *_days(NOV1, 10, "10")]  # October is not November
    forecast = _days(date(2026, 11, 5), 26, "1")  # days up to data_through are actuals, not forecast
    evaluation = _evaluate(actuals, forecast)
    assert evaluation.spent == Decimal(100)
    assert evaluation.projected == Decimal(120)


def test_exceeded_when_spend_reaches_the_amount() -> None:
    evaluation = _evaluate(_days(NOV1, 10, "100"))
    assert evaluation.state == "exceeded"
    assert evaluation.percent_used == Decimal("100.00")
    assert all(c.crossed for c in evaluation.crossings)


def test_the_run_rate_averages_the_last_28_days_from_the_first_with_spend() -> None:
    history = [*_days(date(2026, 10, 1), 10, "999"), *_days(date(2026, 11, 1), 10, "20"), *_days(NOV1, 10, "5", "EUR")]
    forecast = run_rate_forecast(history, currency="USD", data_through=date(2026, 11, 10), end=NOV30)
    assert [c.day for c in forecast] == [date(2026, 11, 11) + timedelta(days=i) for i in range(20)]
    assert {c.amount for c in forecast} == {Decimal(20)}  # October's days are older than 28 days
    assert run_rate_forecast(history, currency="USD", data_through=NOV30, end=NOV30) == []
    assert run_rate_forecast([], currency="USD", data_through=date(2026, 11, 10), end=NOV30) == []


def test_a_share_scales_each_day() -> None:
    assert scaled(_days(NOV1, 2, "10"), Decimal("0.25")) == _days(NOV1, 2, "2.50")


# realistic shapes: a flat sub-account inside a weekly-seasonal total, with a spike or a step

WINDOW_START = date(2026, 11, 8)  # the 28 days through 5 December
THROUGH = date(2026, 12, 5)
SPIKE = [date(2026, 11, 24) + timedelta(days=i) for i in range(4)]
GPU = dict(zip(SPIKE, ("213.75", "342", "342", "128.25"), strict=True))


def _total_without_scope(day: date) -> Decimal:
    return Decimal({5: "258", 6: "249"}.get(day.weekday(), "228")) + Decimal(day.toordinal() % 5)


def _window(scope_on: dict[date, Decimal]) -> tuple[list[DailyCost], list[DailyCost]]:
    """The scope (8.54 a day plus ``scope_on``) and the total (the scope plus the rest) over the window."""
    days = [WINDOW_START + timedelta(days=i) for i in range(28)]
    scope = [DailyCost(d, "USD", Decimal("8.54") + scope_on.get(d, Decimal(0))) for d in days]
    total = [DailyCost(c.day, "USD", c.amount + _total_without_scope(c.day)) for c in scope]
    return scope, total


def test_an_ended_spike_left_out_gives_the_scope_its_usual_share() -> None:
    scope, total = _window({d: Decimal(v) for d, v in GPU.items()})
    usual_scope, usual_total = _window({})
    usual = sum(c.amount for c in usual_scope) / sum(c.amount for c in usual_total)

    inflated = share_of(scope, total)
    share = share_of(scope, total, leave_out=SPIKE)

    assert inflated is not None
    assert share is not None
    assert inflated > 3 * usual  # the four GPU days counted: what made December's forecast 144%
    assert abs(share - usual) <= Decimal("0.02") * usual


def test_the_run_rate_leaves_out_an_ended_spike_and_counts_only_the_days_kept() -> None:
    scope, _ = _window({d: Decimal(v) for d, v in GPU.items()})
    forecast = run_rate_forecast(scope, currency="USD", data_through=THROUGH, end=date(2026, 12, 31), leave_out=SPIKE)
    assert {c.amount for c in forecast} == {Decimal("8.54")}
    assert len(forecast) == 26


def test_a_step_up_still_going_on_is_not_left_out() -> None:
    step = {WINDOW_START + timedelta(days=i): Decimal(30) for i in range(18, 28)}  # the last ten days, and on
    scope, total = _window(step)
    before, before_total = _window({})

    share = share_of(scope, total)  # nothing left out: no anomaly has ended
    assert share is not None
    assert share > 2 * sum(c.amount for c in before) / sum(c.amount for c in before_total)


def test_leaving_out_every_day_leaves_out_none_and_nothing_to_share_is_none() -> None:
    scope, total = _window({})
    assert share_of(scope, total, leave_out=[c.day for c in total]) == share_of(scope, total)
    assert share_of(scope, []) is None


@pytest.mark.parametrize(
    ("period", "through", "expected"),
    [
        ("month", date(2026, 12, 5), (date(2026, 11, 1), date(2026, 11, 30))),
        ("month", date(2026, 11, 30), (date(2026, 11, 1), date(2026, 11, 30))),
        ("quarter", date(2027, 1, 3), (date(2026, 10, 1), date(2026, 12, 31))),
        ("year", date(2027, 3, 1), (date(2026, 1, 1), date(2026, 12, 31))),
    ],
)
def test_the_last_closed_period_is_the_latest_the_data_covers_to_its_end(
    period: str, through: date, expected: tuple[date, date]
) -> None:
    assert last_closed_period(period, through) == expected
