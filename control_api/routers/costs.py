"""Cost endpoints: /api/cloud/costs (read from the current serving snapshot)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from analytics.money import format_amount
from analytics.overview import Money, Period, Spend, cost_overview
from control_api.deps import RequireViewer, SnapshotDep
from control_api.services.errors import Unavailable
from control_api.serving import SnapshotReader

router = APIRouter(prefix="/costs", tags=["costs"], dependencies=[RequireViewer])


class AmountOut(BaseModel):
    currency: str = Field(description="ISO 4217 billing currency.")
    amount: str = Field(description="Exact sum rounded to cents, as a decimal string.")


class PeriodOut(BaseModel):
    start: date
    end: date = Field(description="Last day included.")
    totals: list[AmountOut] = Field(description="One entry per billing currency; currencies are never added.")


class SpendOut(BaseModel):
    provider: str
    service: str | None = None
    currency: str
    amount: str


class SnapshotOut(BaseModel):
    version: str
    published_at: datetime


class OverviewOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "metric": "BilledCost",
                    "data_through": "2026-11-26",
                    "month_to_date": {
                        "start": "2026-11-01",
                        "end": "2026-11-26",
                        "totals": [{"currency": "USD", "amount": "5123.45"}],
                    },
                    "last_month": {
                        "start": "2026-10-01",
                        "end": "2026-10-31",
                        "totals": [{"currency": "USD", "amount": "6031.10"}],
                    },
                    "by_provider": [{"provider": "AWS", "currency": "USD", "amount": "5123.45"}],
                    "by_service": [
                        {
                            "provider": "AWS",
                            "service": "Amazon Elastic Compute Cloud",
                            "currency": "USD",
                            "amount": "3900.12",
                        }
                    ],
                    "snapshot": {"version": "20261127T030000000000Z", "published_at": "2026-11-27T03:00:00Z"},
                }
            ]
        }
    )

    metric: str = "BilledCost"
    data_through: date | None
    month_to_date: PeriodOut
    last_month: PeriodOut
    by_provider: list[SpendOut]
    by_service: list[SpendOut]
    snapshot: SnapshotOut


def _money(items: list[Money]) -> list[dict[str, str]]:
    return [{"currency": m.currency, "amount": format_amount(m.amount)} for m in items]


def _period(period: Period) -> dict[str, Any]:
    return {"start": period.start, "end": period.end, "totals": _money(period.totals)}


def _spend(items: list[Spend]) -> list[dict[str, Any]]:
    return [
        {"provider": s.provider, "service": s.service, "currency": s.currency, "amount": format_amount(s.amount)}
        for s in items
    ]


@router.get(
    "/overview",
    response_model=OverviewOut,
    summary="Cost overview across providers",
    operation_id="get_cost_overview",
    responses={503: {"description": "No serving snapshot has been published yet."}},
)
def get_overview(
    request: Request,
    snapshot: SnapshotDep,
    as_of: Annotated[
        date | None, Query(description="Day the month-to-date runs to; defaults to the latest day with data.")
    ] = None,
) -> Any:
    if snapshot is None:
        raise Unavailable(
            "No cost data has been published yet: materialize the Dagster assets (`wedcloud materialize`) "
            "so that the `serving` asset publishes a snapshot."
        )
    reader: SnapshotReader = request.app.state.snapshots

    def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return reader.query(snapshot, sql, params)

    overview = reader.memoized(snapshot, ("overview", as_of), lambda: cost_overview(query, as_of=as_of))
    return {
        "metric": "BilledCost",
        "data_through": overview.data_through,
        "month_to_date": _period(overview.month_to_date),
        "last_month": _period(overview.last_month),
        "by_provider": _spend(overview.by_provider),
        "by_service": _spend(overview.by_service),
        "snapshot": {"version": snapshot.version, "published_at": snapshot.published_at},
    }
