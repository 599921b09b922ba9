"""Issue 14, finding 3 ("forecast ranges too wide to use"), on the demo's world as a user saw it
on 2026-12-06 (tests/demo_world.py), through the API.

What the finance review saw: a USD month-end 80% range of 1,229.93 (the month to date, as if
nothing more would be spent) to 45,128.95 around 8,085.14; a daily AWS range of 0 to 8,810 around
206; EC2 alone with a higher hi_80 than the whole USD total. The GPU experiment (2026-11-24 to 27)
sat in the last backtest window and stretched every interval it touched.

The bounds below come from the demo's own history, so they say "usable" without a number
picked to pass:
- the month end's 80% low may not be below the month to date plus the cheapest 26 consecutive
  days of the past year (26 days are left in December): a 10% chance that the rest of the month
  costs less than any stretch of the year did is not something the history supports;
- an 80% range, monthly or daily, may not be wider than the spread of the past year's totals of
  the same length (26 days, one day): a range wider than that says less than the history alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pytest
from fastapi.testclient import TestClient

from control_api.app import create_app
from control_api.settings import ApiSettings
from tests.demo_world import DEMO_DAY, Demo
from wedcloud.snapshots import current

pytestmark = pytest.mark.slow
DATA_THROUGH = DEMO_DAY - timedelta(days=1)
CENT = Decimal("0.01")


@pytest.fixture(scope="module")
def client(demo: Demo) -> Iterator[TestClient]:
    with TestClient(create_app(ApiSettings(home=demo.layout.root))) as test_client:
        test_client.headers["X-API-Key"] = demo.key
        yield test_client


@pytest.fixture(scope="module")
def forecasts(client: TestClient) -> dict[str, list[dict[str, Any]]]:
    """Every series of each grouping, a year of daily points."""
    found = {}
    for group in ("total", "provider", "service"):
        body = client.get("/api/cloud/costs/forecast", params={"horizon": 365, "group_by": group}).json()
        assert body["data_through"] == DATA_THROUGH.isoformat()
        found[group] = body["series"]
    return found


@pytest.fixture(scope="module")
def history(demo: Demo) -> list[tuple[str, str, str, date, Decimal]]:
    """The published daily cost: (currency, provider, service, day, cost)."""
    info = current(demo.layout.serving)
    assert info is not None
    with duckdb.connect(str(info.path), read_only=True) as con:
        return con.execute(
            "SELECT BillingCurrency, ProviderName, ServiceName, ChargeDate, sum(BilledCost) FROM cost_daily "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()


def _daily(history: list[tuple[str, str, str, date, Decimal]], key: dict[str, str], currency: str) -> list[Decimal]:
    """A series' daily cost over the 365 days to DATA_THROUGH."""
    first = DATA_THROUGH - timedelta(days=364)
    days: dict[date, Decimal] = {}
    for cur, provider, service, day, cost in history:
        mine = key.get("provider", provider) == provider and key.get("service", service) == service
        if cur == currency and day >= first and mine:
            days[day] = days.get(day, Decimal(0)) + cost
    return [days[day] for day in sorted(days)]


def _spread_of_totals(daily: list[Decimal], length: int) -> tuple[Decimal, Decimal]:
    """The smallest and largest total of ``length`` consecutive days."""
    totals = [sum(daily[i : i + length], Decimal(0)) for i in range(len(daily) - length + 1)]
    return min(totals), max(totals)


def _every_series(forecasts: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [series for group in forecasts.values() for series in group]


def test_each_series_coverage_is_reported_beside_its_mase_and_lies_in_the_bands(
    forecasts: dict[str, list[dict[str, Any]]],
) -> None:
    """On its own backtest (3 windows of 28 days) each series' intervals cover 75-85% (80%) and
    92-98% (95%) of the days, the GPU experiment's days counted as misses. Out of sample (each
    window judged by intervals calibrated on the other two) the figures move more: 84 days in
    three correlated windows give a per-series standard error of about 5 points at 80%, so each
    series is held to about two of them and the mean over the 17 series to the bands."""
    every = _every_series(forecasts)
    assert len(every) == 17
    for series in every:
        label = (series["currency"], series["key"])
        assert series["mase"] < 1, label  # beside it, as the issue asked
        assert 0.75 <= series["coverage_80"] <= 0.85, label
        assert 0.92 <= series["coverage_95"] <= 0.98, label
        assert 0.70 <= series["cv_coverage_80"] <= 0.90, label
        assert 0.88 <= series["cv_coverage_95"] <= 0.99, label
    assert 0.75 <= sum(s["cv_coverage_80"] for s in every) / len(every) <= 0.85
    assert 0.92 <= sum(s["cv_coverage_95"] for s in every) / len(every) <= 0.98


def test_only_the_series_the_gpu_experiment_ran_in_set_its_four_days_aside(
    forecasts: dict[str, list[dict[str, Any]]],
) -> None:
    spiky = {(s["currency"], tuple(s["key"].values())): s["outlier_days"] for s in _every_series(forecasts)
             if s["outlier_days"]}  # fmt: skip
    assert spiky == {("USD", ()): 4, ("USD", ("AWS",)): 4, ("USD", ("Amazon Elastic Compute Cloud",)): 4}


def test_the_usd_month_end_range_is_usable(
    client: TestClient,
    forecasts: dict[str, list[dict[str, Any]]],
    history: list[tuple[str, str, str, date, Decimal]],
) -> None:
    (usd,) = [s for s in forecasts["total"] if s["currency"] == "USD"]
    month = next(e for e in usd["period_ends"] if e["period"] == "month")
    assert month["end"] == "2026-12-31"
    actual, mean = Decimal(month["actual_to_date"]), Decimal(month["mean"])
    low, high = Decimal(month["lo_80"]), Decimal(month["hi_80"])
    cheapest, dearest = _spread_of_totals(_daily(history, {}, "USD"), 26)
    assert low >= actual + cheapest, (low, actual, cheapest)
    assert high - low <= dearest - cheapest, (high - low, dearest - cheapest)
    assert low < mean < high
    assert Decimal(month["lo_95"]) <= low
    assert high <= Decimal(month["hi_95"])
    overview = client.get("/api/cloud/costs/overview").json()["forecast_month_end"]
    assert [e for e in overview if e["currency"] == "USD"] == [{"currency": "USD", **month}]


def test_no_daily_80_range_is_wider_than_the_past_years_spread_of_daily_costs(
    forecasts: dict[str, list[dict[str, Any]]],
    history: list[tuple[str, str, str, date, Decimal]],
) -> None:
    """For every series over the next 90 days (the API's default horizon, a quarter): the old AWS
    range was already 0 to 2,270 around 207 on 26 December, and 0 to 8,810 a year out, against a
    spread of 370 in AWS's daily cost over the year before. Further out a growing series may
    fairly leave its past year's range (GBP storage's widest range a year out is 0.88 against a
    spread of 0.85), so there only the lower bounds are checked."""
    for series in _every_series(forecasts):
        daily = _daily(history, series["key"], series["currency"])
        spread = max(daily) - min(daily)
        assert len(series["points"]) == 365
        widest = max(Decimal(p["hi_80"]) - Decimal(p["lo_80"]) for p in series["points"][:90])
        assert widest <= spread + CENT, (series["currency"], series["key"], widest, spread)
        if not series["key"] or "provider" in series["key"]:
            assert all(Decimal(p["lo_80"]) > 0 for p in series["points"]), series["key"]


def test_no_component_range_exceeds_its_parents(
    forecasts: dict[str, list[dict[str, Any]]],
    history: list[tuple[str, str, str, date, Decimal]],
) -> None:
    """A service's range within its provider's, a provider's within its currency total's: on every
    day of the horizon and at the month and quarter ends, no wider and no higher (a cent of
    rounding allowed)."""
    provider_of = {(cur, service): provider for cur, provider, service, _, _ in history}
    by_key = {(s["currency"], tuple(s["key"].items())): s for s in _every_series(forecasts)}
    pairs = []
    for (currency, key), series in by_key.items():
        if key and key[0][0] == "provider":
            pairs.append((series, by_key[(currency, ())]))
        elif key:
            pairs.append((series, by_key[(currency, (("provider", provider_of[(currency, key[0][1])]),))]))
    assert len(pairs) == 15
    for child, parent in pairs:
        for field in ("points", "period_ends"):
            assert len(child[field]) == len(parent[field]) > 0
            for mine, theirs in zip(child[field], parent[field], strict=True):
                for level in (80, 95):
                    lo, hi = Decimal(mine[f"lo_{level}"]), Decimal(mine[f"hi_{level}"])
                    top_lo, top_hi = Decimal(theirs[f"lo_{level}"]), Decimal(theirs[f"hi_{level}"])
                    assert hi - lo <= top_hi - top_lo + CENT, (child["key"], field, mine, theirs)
                    assert hi <= top_hi + CENT, (child["key"], field, mine, theirs)
