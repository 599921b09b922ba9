"""Response models of the cost endpoints (/api/cloud/costs), except ``AmountOut`` and the models
that embed it, which stay in ``control_api.routers.costs`` (see there)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.breakdown import RoundingGap
from analytics.focus.currencies import ISO_4217
from analytics.money import format_amount

# The days a cost question may name: dates far outside it overflow the calendar arithmetic (a
# month before 0001-01-01, a month after 9999-12-01) and can hold no bills anyway.
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)
DAYS = "between 2000-01-01 and 2999-12-31"
# ISO 4217 in the document as the server checks it (analytics.focus.currencies)
CURRENCY_SCHEMA: dict[str, Any] = {"enum": sorted(ISO_4217)}


# -- overview ------------------------------------------------------------------------------------
class SpendOut(BaseModel):
    provider: str
    service: str | None = None
    currency: str
    amount: str


class SnapshotOut(BaseModel):
    version: str
    published_at: datetime


class ChangeOut(BaseModel):
    currency: str
    amount: str = Field(description="This period's spend.")
    previous: str = Field(description="The same days of last month.")
    change: str = Field(description="amount - previous.")
    percent: str | None = Field(description="change / previous x 100, one decimal; null when previous is 0.")


class MoverOut(ChangeOut):
    provider: str
    service: str


# -- breakdown -----------------------------------------------------------------------------------
class GroupOut(BaseModel):
    key: dict[str, str | None] = Field(description="The group's value of each dimension (null: none).")
    kind: Literal["group", "other", "untagged"] = Field(
        description="A top group, the rest summed as other, or the cost without the tag grouped by."
    )
    currency: str
    amount: str = Field(description="Total over the range, rounded to cents.")
    share: str = Field(description="Of its currency's total, to four places.")
    series: list[dict[str, str]] | None = Field(
        default=None, description="With a granularity: one {period, amount} per day, week or month."
    )


class RoundingOut(BaseModel):
    rows: str = Field(description="Which rows: groups (breakdown), by_provider or by_service (overview).")
    currency: str
    rows_sum: str = Field(description="The rows' amounts as shown, added up.")
    total: str = Field(description="The exact total, rounded to cents once.")
    difference: str = Field(description="rows_sum - total.")
    method: str = Field(description="How the rows were rounded.")


ROUNDING_METHOD = (
    "each row is its exact amount rounded to cents on its own (half up), not adjusted to add up; "
    "the total is the exact sum, rounded once"
)


def rounding_view(gap: RoundingGap, rows: str) -> dict[str, str]:
    return {"rows": rows, "currency": gap.currency, "rows_sum": format_amount(gap.rows_sum),
            "total": format_amount(gap.total), "difference": format_amount(gap.difference),
            "method": ROUNDING_METHOD}  # fmt: skip


# -- forecast ------------------------------------------------------------------------------------
class ForecastPointOut(BaseModel):
    date: date
    mean: str
    lo_80: str
    hi_80: str
    lo_95: str
    hi_95: str


class PeriodEndOut(BaseModel):
    period: Literal["month", "quarter"]
    end: date
    actual_to_date: str = Field(description="Exact actual cost from the period's first day to data_through.")
    mean: str = Field(
        description="actual_to_date + the forecast of the days left. The bounds are actual_to_date + the interval "
        "of the days left's total, calibrated on the backtest's running totals (not the daily bounds added up)."
    )
    lo_80: str
    hi_80: str
    lo_95: str
    hi_95: str


class SeriesForecastOut(BaseModel):
    key: dict[str, str] = Field(description="{} for the total, else {provider: ...} or {service: ...}.")
    currency: str
    model: str | None = Field(description="Chosen by rolling-origin backtest; null when the history is too short.")
    mase: float | None = Field(
        description="Backtest MAE of the chosen model / seasonal naive's over the same windows (below 1 beats it)."
    )
    mape: float | None = Field(description="Backtest MAPE of the chosen model, percent.")
    seasonal_naive_mape: float | None = Field(description="Seasonal naive's backtest MAPE, percent.")
    mase_insample: float | None = Field(
        description="Textbook MASE: the backtest MAE over the in-sample one-step seasonal naive MAE."
    )
    coverage_80: float | None = Field(
        description="Share of the backtest's days inside the 80% interval as calibrated on that backtest "
        "(outlier days count as misses); null when the history is too short to backtest."
    )
    coverage_95: float | None = Field(description="The same for the 95% interval.")
    cv_coverage_80: float | None = Field(
        description="Out of sample: the share of each backtest window's days inside an 80% interval calibrated on "
        "the other windows."
    )
    cv_coverage_95: float | None = Field(description="The same for the 95% interval.")
    outlier_days: int | None = Field(
        description="Backtest days inside a spike that came and went (at most 7 days): they do not set the "
        "intervals' width but count as misses."
    )
    history_days: int | None
    reason: str | None = Field(description="Why this model was chosen.")
    points: list[ForecastPointOut]
    period_ends: list[PeriodEndOut]


class ForecastOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "metric": "BilledCost", "group_by": "total", "horizon": 2, "data_through": "2026-11-26",
                    "series": [{
                        "key": {}, "currency": "USD", "model": "MSTL", "mase": 0.71, "mape": 6.4,
                        "seasonal_naive_mape": 9.1, "mase_insample": 0.93, "coverage_80": 0.81,
                        "coverage_95": 0.95, "cv_coverage_80": 0.8, "cv_coverage_95": 0.94, "outlier_days": 4,
                        "history_days": 730,
                        "reason": "lowest backtest MASE (3 x 28 days)",
                        "points": [
                            {"date": "2026-11-27", "mean": "201.10", "lo_80": "188.00", "hi_80": "214.20",
                             "lo_95": "181.00", "hi_95": "221.20"},
                            {"date": "2026-11-28", "mean": "240.32", "lo_80": "225.10", "hi_80": "255.54",
                             "lo_95": "217.05", "hi_95": "263.59"},
                        ],
                        "period_ends": [
                            {"period": "month", "end": "2026-11-30", "actual_to_date": "5123.45", "mean": "5990.12",
                             "lo_80": "5930.00", "hi_80": "6050.24", "lo_95": "5898.00", "hi_95": "6082.24"}
                        ],
                    }],
                    "snapshot": {"version": "20261127T030000000000Z", "published_at": "2026-11-27T03:00:00Z"},
                }
            ]
        }
    )  # fmt: skip

    metric: str = Field(default="BilledCost", description="The FOCUS cost column forecast.")
    group_by: str
    horizon: int
    data_through: date | None
    series: list[SeriesForecastOut]
    snapshot: SnapshotOut


class MonthEndOut(PeriodEndOut):
    currency: str


# -- anomalies -----------------------------------------------------------------------------------
class StepOut(BaseModel):
    dimension: str
    value: str | None
    excess: float = Field(description="Cost above the value's usual daily cost over the anomaly, billing currency.")
    share: float = Field(
        description="Of the anomaly's gross excess (every finest cell's excess in its direction): never above 1, "
        "and values that do not overlap (one level's, or the contributing resources) share at most 1 between them."
    )
    name: str | None = Field(default=None, description="A resource step's name, where one is known.")


class ResourceContributionOut(BaseModel):
    resource_id: str
    name: str | None = Field(description="From the inventory, the bills or the state store; null when none has one.")
    actual: float = Field(description="What it cost over the anomaly's days, billing currency.")
    expected: float = Field(description="Its usual cost on those days (0 for a resource new with the anomaly).")
    excess: float
    share: float = Field(description="Of the anomaly's gross excess, as a step's.")


class AlertRefOut(BaseModel):
    id: str
    status: str
    created_at: datetime


class AnomalyOut(BaseModel):
    id: str
    scope: dict[str, str] = Field(description="{} for the total, else the provider or service it was found in.")
    currency: str
    direction: Literal["spike", "drop"]
    start: date
    end: date
    days: int
    actual: str
    expected: str = Field(description="Each day at the same weekday's average over the four weeks before the anomaly.")
    impact: str = Field(description="actual - expected over the whole episode: what the anomaly cost beyond the usual.")
    peak_day: date
    explanation: list[StepOut] = Field(description="The drill-down: provider, service, account, region, resource.")
    other_contributors: list[StepOut] = Field(description="The three largest other values met on the way.")
    resources: list[ResourceContributionOut] = Field(
        default_factory=list, description="Every resource with at least 1% of the excess, largest first, by name."
    )
    covered_by: str | None = Field(description="A broader anomaly that already explains this one.")
    alert: AlertRefOut | None = Field(description="The alert it raised (one per anomaly not covered).")


class AnomalyPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "metric": "BilledCost",
                    "items": [{
                        "id": "3f9a0c1d2b4e5f60", "scope": {}, "currency": "USD", "direction": "spike",
                        "start": "2026-11-24", "end": "2026-11-27", "days": 4, "actual": "1993.36",
                        "expected": "960.40", "impact": "1032.96", "peak_day": "2026-11-26",
                        "explanation": [
                            {"dimension": "ProviderName", "value": "AWS", "excess": 1031.2, "share": 0.9912},
                            {"dimension": "ServiceName", "value": "Amazon Elastic Compute Cloud", "excess": 1026.8,
                             "share": 0.9870},
                            {"dimension": "SubAccountId", "value": "224787186802", "excess": 1026.0, "share": 0.9862},
                        ],
                        "other_contributors": [
                            {"dimension": "ResourceId", "value": "i-07ba7b81a0478fd1e", "excess": 256.5,
                             "share": 0.2466, "name": "gpu-experiment-1"},
                        ],
                        "resources": [
                            {"resource_id": "i-07ba7b81a0478fd1e", "name": "gpu-experiment-1", "actual": 256.5,
                             "expected": 0.0, "excess": 256.5, "share": 0.2466},
                            {"resource_id": "i-01f92e021845100b1", "name": "gpu-experiment-2", "actual": 256.5,
                             "expected": 0.0, "excess": 256.5, "share": 0.2466},
                        ],
                        "covered_by": None,
                        "alert": {"id": "8d5e6f70-1a2b-4c3d-9e8f-0a1b2c3d4e5f", "status": "no_targets",
                                  "created_at": "2026-11-28T03:05:00Z"},
                    }],
                    "next_cursor": None,
                }
            ]
        }
    )  # fmt: skip

    metric: str = Field(default="BilledCost", description="The FOCUS cost column the amounts are of.")
    items: list[AnomalyOut]
    next_cursor: str | None
