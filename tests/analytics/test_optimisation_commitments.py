"""Commitment rule: hourly simulation of each level on crafted usage, at its boundaries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from analytics.optimisation.commitments import USAGE_SCHEMA, CommitmentOffer, recommend_commitments
from analytics.optimisation.model import Recommendation, recommendation_id

END = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday 00:00 UTC
ONE_YEAR = CommitmentOffer(kind="savings_plan", term_years=1, discount=Decimal("0.4"))


def _usage(
    cost: Callable[[datetime], float], *, days: int, covered: Callable[[datetime], float] = lambda _: 0.0
) -> pl.DataFrame:
    """Hourly on-demand cost of one savings-plan scope for ``days`` days before END."""
    hours = [END - timedelta(hours=h) for h in range(days * 24, 0, -1)]
    return pl.DataFrame(
        {
            "hour": hours,
            "provider": "aws",
            "account_id": "111122223333",
            "region": "",
            "scope": "compute",
            "on_demand_cost": [cost(h) for h in hours],
            "already_covered": [covered(h) for h in hours],
        },
        schema=USAGE_SCHEMA,
    )


def _only(recs: list[Recommendation]) -> Recommendation:
    assert len(recs) == 1
    return recs[0]


def test_flat_usage_commits_at_that_level_fully_used() -> None:
    rec = _only(recommend_commitments(_usage(lambda _: 10.0, days=30), ONE_YEAR, lookback_days=30, currency="USD"))
    assert rec.kind == "commitment"
    assert rec.action == "purchase"
    assert rec.target == "savings_plan:1y:upfront=0"
    assert rec.evidence["chosen_hourly_commitment"] == "6.000"  # 10/hour at 40% off
    assert rec.evidence["utilisation"] == 1.0
    assert rec.evidence["coverage"] == 1.0
    assert rec.monthly_saving == Decimal("2920.00")  # (10 - 6) x 730
    assert rec.evidence["hours"] == 720
    assert rec.evidence["break_even_month"] == 1
    assert rec.resource_id == "111122223333/*/compute"


def test_spiky_usage_commits_below_the_peak() -> None:
    # Half the hours at 10, half at 2: above 2/hour, a dollar of commitment is used only half the
    # time, which at 40% off (0.6 per dollar avoided) does not pay. The best level is 2 x 0.6.
    rec = _only(
        recommend_commitments(
            _usage(lambda h: 10.0 if h.hour % 2 else 2.0, days=7), ONE_YEAR, lookback_days=7, currency="USD"
        )
    )
    assert rec.evidence["chosen_hourly_commitment"] == "1.200"
    assert rec.evidence["utilisation"] == 1.0
    assert rec.evidence["coverage"] == pytest.approx(2 / 6, abs=1e-4)
    assert rec.monthly_saving == Decimal("584.00")  # (2 - 1.2) x 730
    tried = {level["hourly"]: Decimal(level["net_saving"]) for level in rec.evidence["levels_tried"]}
    assert tried["6.000"] < tried["1.200"]  # the peak was tried and lost


def test_a_deep_discount_commits_to_the_peak_of_the_same_usage() -> None:
    # At 60% off, a dollar used half the time avoids 1.25 dollars: committing to the peak pays.
    offer = CommitmentOffer(kind="savings_plan", term_years=1, discount=Decimal("0.6"))
    usage = _usage(lambda h: 10.0 if h.hour % 2 else 2.0, days=7)
    rec = _only(recommend_commitments(usage, offer, lookback_days=7, currency="USD"))
    assert rec.evidence["chosen_hourly_commitment"] == "4.000"
    assert rec.evidence["utilisation"] == pytest.approx(0.6)  # (4 + 0.8) / 8
    assert rec.risk == "high"  # utilisation under 90%


def test_existing_commitments_are_netted_out_first() -> None:
    usage = _usage(lambda _: 10.0, days=30, covered=lambda _: 4.0)
    rec = _only(recommend_commitments(usage, ONE_YEAR, lookback_days=30, currency="USD"))
    assert rec.evidence["chosen_hourly_commitment"] == "3.600"  # (10 - 4) x 0.6
    assert rec.evidence["existing_commitment_coverage"] == 0.4
    assert rec.monthly_saving == Decimal("1752.00")  # (6 - 3.6) x 730


def test_fully_covered_usage_gets_no_recommendation() -> None:
    usage = _usage(lambda _: 10.0, days=30, covered=lambda _: 10.0)
    assert recommend_commitments(usage, ONE_YEAR, lookback_days=30, currency="USD") == []


def test_a_7_day_lookback_follows_recent_growth_and_60_days_smooths_it() -> None:
    # 5/hour for 53 days, then 10/hour for the last 7.
    usage = _usage(lambda h: 10.0 if h >= END - timedelta(days=7) else 5.0, days=60)
    recent = _only(recommend_commitments(usage, ONE_YEAR, lookback_days=7, currency="USD"))
    longer = _only(recommend_commitments(usage, ONE_YEAR, lookback_days=60, currency="USD"))
    assert (recent.evidence["hours"], longer.evidence["hours"]) == (168, 1440)
    assert recent.evidence["chosen_hourly_commitment"] == "6.000"
    assert longer.evidence["chosen_hourly_commitment"] == "3.000"  # 7 days of 60 is under the 40% quantile
    assert recent.id == longer.id  # the same advice, updated: one id per scope and offer
    assert longer.confidence > recent.confidence


def test_break_even_month_by_hand() -> None:
    # 6/hour committed for a year: all upfront is 6 x 8760 = 52,560; nothing recurs, 7,300 of
    # on-demand a month is avoided: 52,560 / 7,300 = 7.2, paid back at the end of month 8.
    # Half upfront: 26,280 upfront, 7,300 - 3 x 730 = 5,110 saved a month: 5.14, month 6.
    usage = _usage(lambda _: 10.0, days=30)
    for fraction, upfront, month in (("1", "52560.00", 8), ("0.5", "26280.00", 6)):
        offer = CommitmentOffer(
            kind="reserved", term_years=1, discount=Decimal("0.4"), upfront_fraction=Decimal(fraction)
        )
        rec = _only(recommend_commitments(usage, offer, lookback_days=30, currency="USD"))
        assert rec.evidence["upfront"] == upfront
        assert rec.evidence["break_even_month"] == month
        assert rec.monthly_saving == Decimal("2920.00")  # the net saving does not depend on when one pays


def test_a_discount_too_small_to_pay_gives_no_recommendation() -> None:
    # Business hours only (8 of 24 at 10/hour): a committed dollar is used a third of the time,
    # which needs a discount above two thirds to pay. 30% does not; 70% does.
    usage = _usage(lambda h: 10.0 if 9 <= h.hour < 17 else 0.0, days=30)
    small = CommitmentOffer(kind="cud", term_years=1, discount=Decimal("0.3"))
    deep = CommitmentOffer(kind="cud", term_years=1, discount=Decimal("0.7"))
    assert recommend_commitments(usage, small, lookback_days=30, currency="USD") == []
    assert len(recommend_commitments(usage, deep, lookback_days=30, currency="USD")) == 1


def test_savings_below_the_minimum_are_dropped() -> None:
    usage = _usage(lambda _: 0.01, days=30)  # 0.004 x 730 = 2.92 a month
    assert recommend_commitments(usage, ONE_YEAR, lookback_days=30, currency="USD") == []
    assert len(recommend_commitments(usage, ONE_YEAR, lookback_days=30, currency="USD", min_monthly_saving=Decimal(1)))


def test_three_year_term_is_high_risk_and_a_separate_recommendation() -> None:
    usage = _usage(lambda _: 10.0, days=30)
    three = CommitmentOffer(kind="savings_plan", term_years=3, discount=Decimal("0.6"))
    rec = _only(recommend_commitments(usage, three, lookback_days=30, currency="USD"))
    one = _only(recommend_commitments(usage, ONE_YEAR, lookback_days=30, currency="USD"))
    assert rec.risk == "high"
    assert "3-year" in rec.risk_reason
    assert one.risk == "medium"  # flat usage: no headroom if it shrinks
    assert rec.id != one.id
    assert rec.id == recommendation_id("commitment", "aws", "111122223333/*/compute", "purchase", rec.target)


def test_missing_hours_count_as_no_usage_and_decimal_costs_are_accepted() -> None:
    usage = _usage(lambda _: 10.0, days=30).filter(pl.col("hour") >= END - timedelta(days=15))
    usage = usage.with_columns(pl.col("on_demand_cost", "already_covered").cast(pl.Decimal(12, 4)))
    # Usage in half the hours: at 40% off a committed dollar avoids 0.5 / 0.6 < 1, nothing pays.
    assert recommend_commitments(usage, ONE_YEAR, lookback_days=30, currency="USD", end=END) == []
    deep = CommitmentOffer(kind="savings_plan", term_years=1, discount=Decimal("0.6"))
    rec = _only(recommend_commitments(usage, deep, lookback_days=30, currency="USD", end=END))
    assert rec.evidence["hours"] == 720
    assert rec.evidence["hours_with_usage"] == 360
    assert rec.evidence["chosen_hourly_commitment"] == "4.000"
    assert rec.evidence["utilisation"] == 0.5
    assert rec.confidence == pytest.approx(0.8 * 0.5)


@pytest.mark.parametrize("days", [1, 14, 90])
def test_only_the_documented_lookbacks(days: int) -> None:
    with pytest.raises(ValueError, match="lookback"):
        recommend_commitments(_usage(lambda _: 1.0, days=1), ONE_YEAR, lookback_days=days, currency="USD")
