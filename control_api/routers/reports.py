"""Cost report endpoints: /api/cloud/costs/reports (list, read, generate on demand).

Reports are files the schedules (or a POST) wrote under ``WEDCLOUD_HOME/reports``; reading
one touches neither the store nor the snapshot. Generating one reads the current serving
snapshot and the budgets, exactly as the scheduled job does (``services.reports``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from analytics.overview import Queryable
from analytics.reports.data import last_complete_period, period_starting
from analytics.reports.model import ReportPeriod
from control_api.deps import AuditDep, RequireOperator, RequireViewer, SessionDep, SnapshotDep
from control_api.schemas.costs import DAYS, FIRST_DAY, LAST_DAY
from control_api.settings import ApiSettings
from control_plane.pagination import DEFAULT_LIMIT, MAX_LIMIT
from control_plane.services import reports as service
from control_plane.services.errors import InvalidRequest, Unavailable
from control_plane.serving import SnapshotReader
from wedcloud.snapshots import SnapshotInfo

router = APIRouter(prefix="/costs/reports", tags=["reports"], dependencies=[RequireViewer])

MAX_DAYS = 93
PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
META_EXAMPLE: dict[str, Any] = {
    "id": "20261123T060000Z-weekly-2026-11-16",
    "kind": "weekly",
    "start": "2026-11-16",
    "end": "2026-11-22",
    "generated_at": "2026-11-23T06:00:00Z",
    "snapshot_version": "20261123T030000000000Z",
    "files": ["anomalies.csv", "budgets.csv", "recommendations.csv", "report.html", "usd_daily_spend.csv",
              "usd_forecast.csv", "usd_spend_by_provider.csv", "usd_spend_by_service.csv"],
}  # fmt: skip
CSV_EXAMPLE = "Provider,Currency,This period,Previous period,Change,Change %\nAWS,USD,1234.50,1100.00,134.50,+12.2%\n"


class ReportOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [META_EXAMPLE]})

    id: str = Field(description="Sortable by time: <UTC generation time>-<kind>-<period start>.")
    kind: Literal["weekly", "monthly", "on_demand"]
    start: date
    end: date = Field(description="Last day included.")
    generated_at: datetime
    snapshot_version: str = Field(description="The serving snapshot the figures were read from.")
    files: list[str] = Field(description="report.html and one CSV per table (`table` is the name without .csv).")


class ReportPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [META_EXAMPLE], "next_cursor": None}]})

    items: list[ReportOut]
    next_cursor: str | None = Field(default=None, description="Pass as `cursor` for the next page.")


class ReportRequest(BaseModel):
    """A week or a month (``period``, ``start`` optional), or any range (``start`` and ``end``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"period": "weekly"}, {"period": "monthly", "start": "2026-10-01"},
                         {"start": "2026-11-01", "end": "2026-11-15"}]
        },
    )  # fmt: skip

    period: Literal["weekly", "monthly"] | None = Field(
        default=None, description="Without start: the last complete week (Monday-Sunday) or month."
    )
    start: date | None = Field(
        default=None, ge=FIRST_DAY, le=LAST_DAY, description=f"First day ({DAYS}; a month is taken from its 1st)."
    )
    end: date | None = Field(
        default=None, ge=FIRST_DAY, le=LAST_DAY, description=f"Last day included ({DAYS}); only without `period`."
    )

    @model_validator(mode="after")
    def _one_shape(self) -> ReportRequest:
        if self.period is None and (self.start is None or self.end is None):
            raise ValueError("give `period` (weekly or monthly), or both `start` and `end`")
        if self.period is not None and self.end is not None:
            raise ValueError("`end` follows from `period`: give one or the other")
        return self

    def resolve(self, today: date) -> ReportPeriod:
        if self.period is not None:
            if self.start is None:
                return last_complete_period(self.period, today)
            return period_starting(self.period, self.start)
        assert self.start is not None
        assert self.end is not None
        if self.end < self.start:
            raise InvalidRequest(f"end ({self.end}) is before start ({self.start})", field="end")
        if (self.end - self.start).days + 1 > MAX_DAYS:
            raise InvalidRequest(f"a report covers at most {MAX_DAYS} days", field="end")
        # the renderer compares a range with the same number of days before it, as for a week
        return ReportPeriod(self.start, self.end, "weekly")


def _folder(request: Request) -> Path:
    settings: ApiSettings = request.app.state.settings
    return service.reports_dir(settings.layout.root)


def _query_of(reader: SnapshotReader, snapshot: SnapshotInfo) -> Queryable:
    def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return reader.query(snapshot, sql, params)

    return query


ReportId = Annotated[str, Query(description="A report id from the list.")]


@router.get(
    "",
    response_model=ReportPage,
    summary="List generated cost reports, newest first",
    operation_id="list_cost_reports",
    responses={422: {"description": "A bad cursor or limit.", **PROBLEM}},
)
def list_reports(
    request: Request,
    kind: Annotated[Literal["weekly", "monthly", "on_demand"] | None, Query(description="Only this kind.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page.")] = None,
) -> Any:
    listing = service.list_reports(_folder(request), kind=kind, limit=limit, cursor=cursor)
    return {"items": listing.items, "next_cursor": listing.next_cursor}


@router.get(
    "/{report_id}",
    summary="One report: the HTML page, one CSV table, or its meta",
    operation_id="get_cost_report",
    response_class=Response,
    responses={
        200: {
            "description": "text/html by default; text/csv with format=csv; the meta with format=json.",
            "content": {
                "text/html": {"example": '<!DOCTYPE html>\n<html lang="en">...'},
                "text/csv": {"example": CSV_EXAMPLE},
                "application/json": {"schema": {"$ref": "#/components/schemas/ReportOut"}, "example": META_EXAMPLE},
            },
        },
        404: {"description": "No report with this id, or no such table in it.", **PROBLEM},
        422: {"description": "format=csv without a valid `table`.", **PROBLEM},
    },
)
def get_report(
    request: Request,
    report_id: str,
    format: Annotated[Literal["html", "csv", "json"], Query(description="html (default), csv or json.")] = "html",
    table: Annotated[
        str | None, Query(description="With format=csv: a table, e.g. usd_spend_by_service.", max_length=80)
    ] = None,
) -> Response:
    folder = _folder(request)
    if format == "json":
        meta = ReportOut.model_validate(service.read_meta(folder, report_id))
        return Response(meta.model_dump_json(), media_type="application/json")
    if format == "csv":
        name = service.csv_name(table)
        body = service.read_file(folder, report_id, name)
        disposition = f'attachment; filename="{report_id}-{name}"'
        return Response(body, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})
    return Response(service.read_file(folder, report_id, service.HTML_FILE), media_type="text/html; charset=utf-8")


@router.post(
    "",
    status_code=201,
    response_model=ReportOut,
    dependencies=[RequireOperator],
    summary="Generate a report now from the current snapshot",
    operation_id="create_cost_report",
    responses={
        201: {"headers": {"Location": {"description": "The new report.", "schema": {"type": "string"}}}},
        422: {"description": "An inverted range, a range over 93 days, or a malformed body.", **PROBLEM},
        503: {"description": "No serving snapshot has been published yet.", **PROBLEM},
    },
)
def create_report(
    body: ReportRequest, request: Request, response: Response, session: SessionDep, audit: AuditDep,
    snapshot: SnapshotDep,
) -> Any:  # fmt: skip
    now = datetime.now(UTC)
    period = body.resolve(now.date())
    if snapshot is None:
        raise Unavailable("No cost data has been published yet: materialize the Dagster assets "
                          "(`wedcloud materialize`) so that the `serving` asset publishes a snapshot.")  # fmt: skip
    reader: SnapshotReader = request.app.state.snapshots
    query = _query_of(reader, snapshot)
    meta = service.write_report(
        _folder(request), query, session, kind="on_demand", period=period, snapshot_version=snapshot.version,
        generated_at=now,
    )  # fmt: skip
    audit.record(target=f"report:{meta['id']}", after={k: meta[k] for k in ("kind", "start", "end")})
    response.headers["Location"] = f"{request.url.path.rstrip('/')}/{meta['id']}"
    return meta
