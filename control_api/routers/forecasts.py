"""Forecast and anomaly endpoints: /api/cloud/costs/forecast and /anomalies (read from the
current serving snapshot; the series are BilledCost, as ``metric`` says)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import TypeAdapter

from analytics.focus.currencies import is_iso_4217
from analytics.forecast_view import forecasts, has_forecasts
from analytics.money import format_amount
from analytics.overview import latest_charge_date
from control_api.deps import RequireViewer, SessionDep, SnapshotDep
from control_api.routers.costs import _period_end, _query_of, _require
from control_api.schemas.costs import CURRENCY_SCHEMA, AnomalyPage, ForecastOut
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_plane.services.anomalies import Anomaly, alerts_by_key, list_anomalies, resource_names
from control_plane.services.errors import InvalidRequest
from control_plane.serving import SnapshotReader

router = APIRouter(prefix="/costs", tags=["costs"], dependencies=[RequireViewer])
METRIC = "BilledCost"  # what the forecasts and anomalies are of (assets/forecasts.py)


# -- forecast ------------------------------------------------------------------------------------
_FORECAST = TypeAdapter(ForecastOut)


@router.get(
    "/forecast",
    response_model=ForecastOut,
    summary="Daily forecasts with 80/95% intervals, each series' model, backtest error and coverage, period ends",
    operation_id="get_cost_forecast",
    responses={503: {"description": "No serving snapshot has been published yet."}},
)
async def get_forecast(
    request: Request,
    snapshot: SnapshotDep,
    horizon: Annotated[int, Query(ge=1, le=365, description="Days after the last day with data.")] = 90,
    group_by: Annotated[Literal["total", "provider", "service"], Query(description="Which series.")] = "total",
    currency: Annotated[
        str | None,
        Query(description="Only this billing currency (ISO 4217).", json_schema_extra=CURRENCY_SCHEMA),
    ] = None,
) -> Any:
    snapshot = _require(snapshot)
    if currency is not None and not is_iso_4217(currency):
        raise InvalidRequest(
            f"currency must be an ISO 4217 code such as USD, not {currency!r}",
            errors=[{"location": "query", "field": "currency", "message": "an ISO 4217 code"}],
        )
    reader: SnapshotReader = request.app.state.snapshots

    def compute() -> bytes:
        query = _query_of(reader, snapshot)
        through = latest_charge_date(query)
        series = [] if through is None or not has_forecasts(query) else forecasts(
            query, group_by=group_by, horizon=horizon, data_through=through, currency=currency
        )  # fmt: skip
        out = {
            "metric": METRIC, "group_by": group_by, "horizon": horizon, "data_through": through,
            "series": [{
                "key": s.key, "currency": s.currency, "model": s.model, **{k: s.scores[k] for k in SCORES},
                "points": [{k: str(v) if isinstance(v, Decimal) else v for k, v in p.items()} for p in s.points],
                "period_ends": [_period_end(e) for e in s.period_ends],
            } for s in series],
            "snapshot": {"version": snapshot.version, "published_at": snapshot.published_at},
        }  # fmt: skip
        return _FORECAST.dump_json(_FORECAST.validate_python(out))

    body = await reader.answer(snapshot, ("forecast", horizon, group_by, currency), compute)
    return Response(body, media_type="application/json")


SCORES = ("mase", "mape", "seasonal_naive_mape", "mase_insample", "history_days", "reason", "coverage_80",
          "coverage_95", "cv_coverage_80", "cv_coverage_95", "outlier_days")  # fmt: skip


# -- anomalies -----------------------------------------------------------------------------------
@router.get(
    "/anomalies",
    response_model=AnomalyPage,
    summary="Cost anomalies found against the forecasts, newest first, each with its explanation",
    operation_id="list_cost_anomalies",
    responses={503: {"description": "No serving snapshot has been published yet."}},
)
def list_cost_anomalies(
    request: Request,
    snapshot: SnapshotDep,
    session: SessionDep,
    include_covered: Annotated[bool, Query(description="Also anomalies a broader one explains.")] = False,
    currency: Annotated[str | None, Query(description="Only this billing currency.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[
        str | None, Query(pattern=r"^[0-9]{1,9}$", description="`next_cursor` of the previous page.")
    ] = None,
) -> Any:
    snapshot = _require(snapshot)
    reader: SnapshotReader = request.app.state.snapshots
    found = reader.memoized(
        snapshot, ("anomalies", include_covered),
        lambda: list_anomalies(_query_of(reader, snapshot), include_covered=include_covered),
    )  # fmt: skip
    chosen = [a for a in found if currency is None or a.currency == currency]
    start = int(cursor) if cursor and cursor.isdigit() else 0
    page = chosen[start : start + limit]
    alerts = alerts_by_key(session, [a.alert_key for a in page])
    names = resource_names(session, [rid for a in page for rid in a.resource_ids])
    return {
        "metric": METRIC,
        "items": [_anomaly_view(a, alerts.get(a.alert_key), names) for a in page],
        "next_cursor": str(start + limit) if start + limit < len(chosen) else None,
    }


def _anomaly_view(anomaly: Anomaly, alert: Any, names: dict[str, str]) -> dict[str, Any]:
    explanation = anomaly.explanation

    def named(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [step | {"name": step.get("name") or names.get(str(step["value"]))}
                if step["dimension"] == "ResourceId" else step for step in steps]  # fmt: skip

    return {
        "id": anomaly.anomaly_id, "scope": {} if anomaly.value is None else {anomaly.series: anomaly.value},
        "currency": anomaly.currency, "direction": anomaly.direction, "start": anomaly.start, "end": anomaly.end,
        "days": anomaly.days, "actual": format_amount(anomaly.actual), "expected": format_amount(anomaly.expected),
        "impact": format_amount(anomaly.impact), "peak_day": anomaly.peak_day,
        "explanation": named(explanation.get("path", [])), "other_contributors": named(explanation.get("others", [])),
        "resources": anomaly.resources(names),
        "covered_by": anomaly.covered_by,
        "alert": None if alert is None else {"id": str(alert.id), "status": alert.status,
                                             "created_at": alert.created_at},
    }  # fmt: skip
