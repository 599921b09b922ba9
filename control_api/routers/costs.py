"""Cost endpoints: /api/cloud/costs (read from the current serving snapshot)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from analytics.breakdown import Breakdown, BreakdownQuery, InvalidBreakdown, breakdown, known_dimensions, to_csv
from analytics.money import format_amount
from analytics.overview import Change, Money, Period, Queryable, Spend, cost_overview, latest_charge_date
from control_api.deps import RequireViewer, SnapshotDep
from control_api.services.errors import InvalidRequest, Unavailable
from control_api.serving import SnapshotReader
from wedcloud.snapshots import SnapshotInfo

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


class ChangeOut(BaseModel):
    currency: str
    amount: str = Field(description="This period's spend.")
    previous: str = Field(description="The same days of last month.")
    change: str = Field(description="amount - previous.")
    percent: str | None = Field(description="change / previous x 100, one decimal; null when previous is 0.")


class MoverOut(ChangeOut):
    provider: str
    service: str


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
                    "same_period_last_month": {
                        "start": "2026-10-01",
                        "end": "2026-10-26",
                        "totals": [{"currency": "USD", "amount": "4980.00"}],
                    },
                    "change": [
                        {"currency": "USD", "amount": "5123.45", "previous": "4980.00", "change": "143.45",
                         "percent": "2.9"}
                    ],
                    "top_movers": [
                        {"provider": "AWS", "service": "Amazon Elastic Compute Cloud", "currency": "USD",
                         "amount": "3900.12", "previous": "3650.00", "change": "250.12", "percent": "6.9"}
                    ],
                    "snapshot": {"version": "20261127T030000000000Z", "published_at": "2026-11-27T03:00:00Z"},
                }
            ]
        }
    )  # fmt: skip

    metric: str = "BilledCost"
    data_through: date | None
    month_to_date: PeriodOut
    last_month: PeriodOut
    by_provider: list[SpendOut]
    by_service: list[SpendOut]
    same_period_last_month: PeriodOut = Field(description="The days of last month matching the month to date.")
    change: list[ChangeOut] = Field(description="Month to date against the same days of last month, per currency.")
    top_movers: list[MoverOut] = Field(description="Up to five services per currency whose spend moved most.")
    snapshot: SnapshotOut


def _money(items: list[Money]) -> list[dict[str, str]]:
    return [{"currency": m.currency, "amount": format_amount(m.amount)} for m in items]


def _period(period: Period) -> dict[str, Any]:
    return {"start": period.start, "end": period.end, "totals": _money(period.totals)}


def _change(change: Change) -> dict[str, Any]:
    return {
        "currency": change.currency, "amount": format_amount(change.now), "previous": format_amount(change.before),
        "change": format_amount(change.amount), "percent": None if change.percent is None else str(change.percent),
    }  # fmt: skip


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
    snapshot = _require(snapshot)
    reader: SnapshotReader = request.app.state.snapshots
    query = _query_of(reader, snapshot)
    overview = reader.memoized(snapshot, ("overview", as_of), lambda: cost_overview(query, as_of=as_of))
    return {
        "metric": "BilledCost",
        "data_through": overview.data_through,
        "month_to_date": _period(overview.month_to_date),
        "last_month": _period(overview.last_month),
        "by_provider": _spend(overview.by_provider),
        "by_service": _spend(overview.by_service),
        "same_period_last_month": _period(overview.same_period_last_month),
        "change": [_change(c) for c in overview.change],
        "top_movers": [
            {"provider": m.provider, "service": m.service, **_change(m.change)} for m in overview.top_movers
        ],
        "snapshot": {"version": snapshot.version, "published_at": snapshot.published_at},
    }


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


class BreakdownOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "metric": "billed",
                    "group_by": ["service"],
                    "start": "2026-11-01",
                    "end": "2026-11-26",
                    "granularity": None,
                    "groups": [
                        {"key": {"service": "Amazon Elastic Compute Cloud"}, "kind": "group", "currency": "USD",
                         "amount": "3900.12", "share": "0.7612", "series": None},
                        {"key": {"service": "other"}, "kind": "other", "currency": "USD", "amount": "1223.33",
                         "share": "0.2388", "series": None},
                    ],
                    "totals": [{"currency": "USD", "amount": "5123.45"}],
                    "snapshot": {"version": "20261127T030000000000Z", "published_at": "2026-11-27T03:00:00Z"},
                }
            ]
        }
    )  # fmt: skip

    metric: str
    group_by: list[str]
    start: date
    end: date
    granularity: str | None
    groups: list[GroupOut]
    totals: list[AmountOut]
    snapshot: SnapshotOut


_BREAKDOWN = TypeAdapter(BreakdownOut)
CSV_EXAMPLE = "service,kind,currency,amount,share\nAmazon Elastic Compute Cloud,group,USD,3900.12,0.7612\n"
ValuesQuery = Annotated[list[str] | None, Query(description="Only these values (repeat the parameter for more).")]


@router.get(
    "/breakdown",
    response_model=BreakdownOut,
    summary="Spend grouped by one or two dimensions, over a range, optionally per day, week or month",
    operation_id="get_cost_breakdown",
    responses={
        200: {"content": {"text/csv": {"example": CSV_EXAMPLE}}},
        503: {"description": "No serving snapshot has been published yet."},
    },
)  # fmt: skip
async def get_breakdown(
    request: Request,
    snapshot: SnapshotDep,
    group_by: Annotated[
        str, Query(description=f"One or two of {known_dimensions()}, comma-separated.", max_length=200)
    ] = "service",
    start: Annotated[date | None, Query(description="First day; default: the first of the month of end.")] = None,
    end: Annotated[date | None, Query(description="Last day; default: the latest day with data.")] = None,
    metric: Annotated[str, Query(description="billed, effective or list cost.")] = "billed",
    granularity: Annotated[str | None, Query(description="day, week or month: a series per group.")] = None,
    top: Annotated[int, Query(description="Groups kept per currency; the rest are summed as other.")] = 10,
    currency: Annotated[str | None, Query(description="Only this billing currency (ISO 4217).")] = None,
    provider: ValuesQuery = None,
    service: ValuesQuery = None,
    service_category: ValuesQuery = None,
    region: ValuesQuery = None,
    billing_account: ValuesQuery = None,
    sub_account: ValuesQuery = None,
    charge_category: ValuesQuery = None,
    resource: ValuesQuery = None,
    resource_type: ValuesQuery = None,
    pricing_category: ValuesQuery = None,
    tag: Annotated[
        list[str] | None, Query(description="`key=value`: only costs carrying that tag (repeat for more).")
    ] = None,
) -> Any:
    snapshot = _require(snapshot)
    reader: SnapshotReader = request.app.state.snapshots
    values = {"provider": provider, "service": service, "service_category": service_category, "region": region,
              "billing_account": billing_account, "sub_account": sub_account, "charge_category": charge_category,
              "resource": resource, "resource_type": resource_type, "pricing_category": pricing_category}  # fmt: skip
    filters: dict[str, list[str]] = {name: sorted(set(v)) for name, v in values.items() if v}
    for item in tag or []:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise InvalidRequest(
                f"tag filters are key=value, not {item!r}",
                errors=[{"location": "query", "field": "tag", "message": "key=value"}],
            )
        filters.setdefault(f"tag:{key}", []).append(value)
    as_csv = "text/csv" in request.headers.get("accept", "")
    memo_key = ("breakdown", group_by, start, end, metric, granularity, top, currency,
           tuple(sorted((k, tuple(v)) for k, v in filters.items())), as_csv)  # fmt: skip
    body = reader.peek(snapshot, memo_key)
    if body is None:

        def compute() -> bytes:
            query = _query_of(reader, snapshot)
            last = end or latest_charge_date(query) or datetime.now(UTC).date()
            q = BreakdownQuery(
                group_by=tuple(name.strip() for name in group_by.split(",") if name.strip()),
                start=start or last.replace(day=1), end=last, metric=metric, granularity=granularity,
                filters=tuple((name, tuple(v)) for name, v in filters.items()), currency=currency, top=top,
            )  # fmt: skip
            try:
                result = breakdown(query, q)
            except InvalidBreakdown as exc:
                raise InvalidRequest(
                    f"the breakdown cannot be made: {exc}",
                    errors=[{"location": "query", "field": name, "message": message} for name, message in exc.problems],
                ) from None
            return to_csv(result).encode() if as_csv else _breakdown_json(result, snapshot)

        body = await run_in_threadpool(reader.memoized, snapshot, memo_key, compute)
    if as_csv:
        return Response(
            body, media_type="text/csv", headers={"Content-Disposition": 'attachment; filename="breakdown.csv"'}
        )
    return Response(body, media_type="application/json")


def _breakdown_json(result: Breakdown, snapshot: SnapshotInfo) -> bytes:
    q = result.query
    body = {
        "metric": q.metric,
        "group_by": list(q.group_by),
        "start": q.start,
        "end": q.end,
        "granularity": q.granularity,
        "groups": [
            {
                "key": group.key, "kind": group.kind, "currency": group.currency,
                "amount": format_amount(group.total), "share": str(result.share(group)),
                "series": None if q.granularity is None else [
                    {"period": period.isoformat(), "amount": format_amount(amount)}
                    for period, amount in sorted(group.series.items())
                ],
            }
            for group in result.groups
        ],
        "totals": [{"currency": c, "amount": format_amount(a)} for c, a in result.totals.items()],
        "snapshot": {"version": snapshot.version, "published_at": snapshot.published_at},
    }  # fmt: skip
    return _BREAKDOWN.dump_json(_BREAKDOWN.validate_python(body))


def _query_of(reader: SnapshotReader, snapshot: SnapshotInfo) -> Queryable:
    def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return reader.query(snapshot, sql, params)

    return query


def _require(snapshot: SnapshotInfo | None) -> SnapshotInfo:
    if snapshot is None:
        raise Unavailable(
            "No cost data has been published yet: materialize the Dagster assets (`wedcloud materialize`) "
            "so that the `serving` asset publishes a snapshot."
        )
    return snapshot
