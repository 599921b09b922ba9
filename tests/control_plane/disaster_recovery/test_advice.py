"""The price a drill puts on backing up more often, against figures worked by hand from the model
in ``advice.py`` (20 GB, 5% changing a day, 0.2% at least per snapshot, 0.05 USD per GB-month of
snapshots and 0.02 USD per GB copied between regions, copies stored in the DR region too)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from control_plane.disaster_recovery import advice

DAILY_FOR_TWO_WEEKS = {"retention_count": 14}


def test_daily_backups_kept_two_weeks_cost_what_the_model_says() -> None:
    # 1 GB changes a day; 20 GB + 14 x 1 GB = 34 GB stored, twice (a copy): 2 x 34 x 0.05 = 3.40;
    # 1 GB copied a day for 30 days: 30 x 0.02 = 0.60; 4.00 in all
    cost = advice.monthly_backup_cost(Decimal(20), timedelta(days=1), timedelta(days=14), cloud="aws", copies=True)
    assert cost == Decimal("4.00")


def test_backing_up_every_two_hours_instead_costs_nothing_more_when_increments_are_linear() -> None:
    # every 2 h holds 20 x 0.05 / 12 GB, over the floor; 168 of them hold the same 14 GB: 4.00 again
    found = advice.rpo_advice(measured=26 * 3600, target=4 * 3600, schedule="0 0 * * *",
                              retention=DAILY_FOR_TWO_WEEKS, data_gb=Decimal(20), cloud="aws", copies=True)  # fmt: skip
    assert found is not None
    assert (found["schedule"], found["monthly_cost_change"]) == ("0 */2 * * *", "0.00")
    assert "keep 168 to cover the same 336 h" in found["message"]


def test_backing_up_every_15_minutes_pays_the_floor_of_each_snapshot() -> None:
    # 0.2% of 20 GB = 0.04 GB each, 1344 kept: 20 + 53.76 = 73.76 GB, twice: 7.376; copied:
    # 0.04 GB x 2880 a month x 0.02 = 2.304; 9.68 in all, 5.68 more than daily
    found = advice.rpo_advice(measured=26 * 3600, target=40 * 60, schedule="0 0 * * *",
                              retention=DAILY_FOR_TWO_WEEKS, data_gb=Decimal(20), cloud="aws", copies=True)  # fmt: skip
    assert found is not None
    assert (found["schedule"], found["monthly_cost_change"]) == ("*/15 * * * *", "5.68")


def test_a_met_rpo_has_no_advice_and_one_under_30_minutes_asks_for_replication() -> None:
    assert advice.rpo_advice(measured=600, target=3600, schedule="0 * * * *", retention=DAILY_FOR_TWO_WEEKS,
                             data_gb=Decimal(20), cloud="aws", copies=True) is None  # fmt: skip
    found = advice.rpo_advice(measured=3600, target=1200, schedule="0 * * * *", retention=DAILY_FOR_TWO_WEEKS,
                              data_gb=Decimal(20), cloud="aws", copies=True)  # fmt: skip
    assert found is not None
    assert found["monthly_cost_change"] is None
    assert "replicate" in found["message"]


def test_a_warm_standby_costs_its_hourly_price_for_730_hours() -> None:
    found = advice.rto_advice(measured=5400, target=3600, slowest={"name": "booking-db", "seconds": 4800.0},
                              hourly_cost=Decimal("0.192"), currency="USD")  # fmt: skip
    assert found is not None
    assert found["monthly_cost_change"] == "140.16"  # 0.192 x 730


def test_a_stored_schedule_that_never_comes_gives_no_advice_rather_than_stopping_the_drill() -> None:
    # refused when a plan is written now, but a plan stored before that check may hold one
    assert advice.rpo_advice(measured=7 * 86_400, target=3600, schedule="0 0 30 2 *", retention=DAILY_FOR_TWO_WEEKS,
                             data_gb=Decimal(20), cloud="aws", copies=True) is None  # fmt: skip
