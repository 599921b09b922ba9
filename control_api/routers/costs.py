"""Cost endpoints: /api/cloud/costs (read from the current serving snapshot)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from analytics.breakdown import (
    MAX_TOP,
    METRIC_ALIASES,
    METRICS,
    Breakdown,
    BreakdownQuery,
    InvalidBreakdown,
    breakdown,
    known_dimensions,
    metric_column,
    rounding_gaps,
    to_csv,
)
from analytics.forecast_view import forecasts, has_forecasts
from analytics.money import format_amount
from analytics.overview import Change, Money, Overview, Period, Queryable, Spend, cost_overview, latest_charge_date
from control_api.deps import RequireViewer, SnapshotDep
from control_api.provider_filter import PROVIDER_FILTER, resolve_async
from control_api.schemas.costs import (
    CURRENCY_SCHEMA,
    DAYS,
    FIRST_DAY,
    LAST_DAY,
    ChangeOut,
    GroupOut,
    MonthEndOut,
    MoverOut,
    RoundingOut,
    SnapshotOut,
    SpendOut,
    rounding_view,
)
from control_plane.services.errors import InvalidRequest, Unavailable
from control_plane.serving import SnapshotReader
from wedcloud.snapshots import SnapshotInfo

router = APIRouter(prefix="/costs", tags=["costs"], dependencies=[RequireViewer])


# AmountOut and the models that embed it stay here: optimisation has an AmountOut too, so OpenAPI
# names both by their module (control_api__routers__costs__AmountOut), and moving it would rename it.
class AmountOut(BaseModel):
    currency: str = Field(description="ISO 4217 billing currency.")
    amount: str = Field(description="Exact sum rounded to cents, as a decimal string.")


class PeriodOut(BaseModel):
    start: date
    end: date = Field(description="Last day included.")
    totals: list[AmountOut] = Field(description="One entry per billing currency; currencies are never added.")


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
    forecast_month_end: list[MonthEndOut] = Field(
        default_factory=list,
        description="Per currency: actual to date plus the total's forecast of the days left, with its intervals "
        "(empty until forecasts are published, or for an as_of before the latest day).",
    )
    rounding: list[RoundingOut] = Field(
        default_factory=list,
        description="Where by_provider or by_service, each rounded to cents on its own, do not add up to "
        "month_to_date's total: by how much, per currency and list (empty when they agree).",
    )
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
async def get_overview(
    request: Request,
    snapshot: SnapshotDep,
    as_of: Annotated[
        date | None,
        Query(
            ge=FIRST_DAY,
            le=LAST_DAY,
            description=f"Day the month-to-date runs to ({DAYS}); defaults to the latest day with data.",
        ),
    ] = None,
) -> Any:
    snapshot = _require(snapshot)
    reader: SnapshotReader = request.app.state.snapshots
    body = await reader.answer(snapshot, ("overview", as_of), lambda: _overview_json(reader, snapshot, as_of))
    return Response(body, media_type="application/json")


def _overview_json(reader: SnapshotReader, snapshot: SnapshotInfo, as_of: date | None) -> bytes:
    query = _query_of(reader, snapshot)
    overview = cost_overview(query, as_of=as_of)
    month_end = []
    through = overview.data_through
    if through is not None and (as_of is None or as_of == through) and has_forecasts(query):
        for series in forecasts(query, group_by="total", horizon=1, data_through=through):
            month_end += [{"currency": series.currency, **_period_end(e)} for e in series.period_ends
                          if e.period == "month"]  # fmt: skip
    body = {
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
        "forecast_month_end": month_end,
        "rounding": _overview_rounding(overview),
        "snapshot": {"version": snapshot.version, "published_at": snapshot.published_at},
    }
    return _OVERVIEW.dump_json(_OVERVIEW.validate_python(body))


def _overview_rounding(overview: Overview) -> list[dict[str, Any]]:
    totals = {m.currency: m.amount for m in overview.month_to_date.totals}
    return [
        rounding_view(gap, rows)
        for rows, spend in (("by_provider", overview.by_provider), ("by_service", overview.by_service))
        for gap in rounding_gaps(((s.currency, s.amount) for s in spend), totals)
    ]


def _period_end(end: Any) -> dict[str, Any]:
    return {"period": end.period, "end": end.end, "actual_to_date": str(end.actual_to_date), "mean": str(end.mean),
            **{band: str(value) for band, value in end.bands.items()}}  # fmt: skip


# -- breakdown -----------------------------------------------------------------------------------
class BreakdownOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "metric": "BilledCost",
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
                    "rounding": [],
                    "snapshot": {"version": "20261127T030000000000Z", "published_at": "2026-11-27T03:00:00Z"},
                }
            ]
        }
    )  # fmt: skip

    metric: str = Field(description=f"The FOCUS cost column summed: one of {', '.join(METRICS)}.")
    group_by: list[str]
    start: date
    end: date
    granularity: str | None
    groups: list[GroupOut]
    totals: list[AmountOut]
    rounding: list[RoundingOut] = Field(
        default_factory=list,
        description="Per currency where the groups, each rounded to cents on its own, do not add up to the total "
        "(the exact sum rounded once): by how much. Empty when they agree.",
    )
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
    start: Annotated[
        date | None,
        Query(ge=FIRST_DAY, le=LAST_DAY, description=f"First day ({DAYS}); default: the first of the month of end."),
    ] = None,
    end: Annotated[
        date | None,
        Query(ge=FIRST_DAY, le=LAST_DAY, description=f"Last day ({DAYS}); default: the latest day with data."),
    ] = None,
    metric: Annotated[
        Literal["BilledCost", "EffectiveCost", "ListCost", "billed", "effective", "list"],
        Query(
            description=f"The FOCUS cost column: {', '.join(METRICS)}; the old spellings "
            f"{', '.join(METRIC_ALIASES)} are still accepted and answered as the FOCUS name."
        ),
    ] = "BilledCost",
    granularity: Annotated[
        Literal["day", "week", "month"] | None, Query(description="day, week or month: a series per group.")
    ] = None,
    top: Annotated[
        int, Query(ge=1, le=MAX_TOP, description="Groups kept per currency; the rest are summed as other.")
    ] = 10,
    currency: Annotated[
        str | None,
        Query(description="Only this billing currency (ISO 4217).", json_schema_extra=CURRENCY_SCHEMA),
    ] = None,
    provider: Annotated[
        list[str] | None, Query(description=f"Only these providers (repeatable). {PROVIDER_FILTER}")
    ] = None,
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
        list[Annotated[str, Field(pattern=r"^[^=]+=")]] | None,
        Query(description="`key=value`: only costs carrying that tag (repeat for more)."),
    ] = None,
) -> Any:
    snapshot = _require(snapshot)
    reader: SnapshotReader = request.app.state.snapshots
    column = metric_column(metric) or metric  # one vocabulary: the FOCUS column, whichever spelling came in
    if provider:  # an id, a WedCloud name, a FOCUS name or a cloud: each a ProviderName or a source id
        chosen = await resolve_async(request.app.state.sessions, provider, reader=reader, snapshot=snapshot)
        provider = list(chosen.cost_values)
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
    memo_key = ("breakdown", group_by, start, end, column, granularity, top, currency,
           tuple(sorted((k, tuple(v)) for k, v in filters.items())), as_csv)  # fmt: skip

    def compute() -> bytes:
        query = _query_of(reader, snapshot)
        last = end or latest_charge_date(query) or datetime.now(UTC).date()
        q = BreakdownQuery(
            group_by=tuple(name.strip() for name in group_by.split(",") if name.strip()),
            start=start or last.replace(day=1), end=last, metric=column, granularity=granularity,
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

    body = await reader.answer(snapshot, memo_key, compute)
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
        "rounding": [rounding_view(gap, "groups")
                     for gap in rounding_gaps(((g.currency, g.total) for g in result.groups), result.totals)],
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


_OVERVIEW = TypeAdapter(OverviewOut)
