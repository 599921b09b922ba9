"""Generated cost reports: made from a serving snapshot, stored as folders, listed and read.

The Dagster schedules (``pipelines.reports``) and the API (``routers.reports``) share these
functions, so a scheduled report and an on-demand one are the same files made the same way.

A report is a folder ``<reports>/<id>/`` holding ``report.html``, one CSV per table and
``meta.json``. It is written in a hidden temporary folder and renamed into place, so a reader
sees a whole report or none, and a failure leaves nothing behind. The id starts with the UTC
generation time, so sorting ids sorts reports by time; ids are checked against a strict
pattern before any path is built from them, so no id can name a file outside the folder.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import duckdb
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.overview import Queryable, latest_charge_date
from analytics.reports.data import id_names, report_data
from analytics.reports.model import Budget as ReportBudget
from analytics.reports.model import Recommendation as ReportRecommendation
from analytics.reports.model import ReportPeriod
from analytics.reports.page import render_html
from analytics.reports.tables import render_csv
from analytics.reports.wording import recommendation_text, short_id
from control_plane.pagination import decode_cursor, encode_cursor
from control_plane.services import provider_keys
from control_plane.services.budgets import evaluate_budget, read_series
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.store.models import Budget, RecommendationRow
from wedcloud.home import HomeLayout

log = logging.getLogger(__name__)

ReportKind = Literal["weekly", "monthly", "on_demand"]
KINDS: tuple[str, ...] = ("weekly", "monthly", "on_demand")
REPORT_ID = re.compile(r"^\d{8}T\d{6}Z-(weekly|monthly|on_demand)-(\d{4}-\d{2}-\d{2})(-\d{1,3})?$")
TABLE_NAME = re.compile(r"^[a-z0-9_]{1,64}$")
HTML_FILE, META_FILE = "report.html", "meta.json"


def reports_dir(home: Path) -> Path:
    """Where reports live under WEDCLOUD_HOME."""
    return HomeLayout(home).reports


@contextmanager
def snapshot_query(path: Path) -> Iterator[Queryable]:
    """A read-only query callable on one snapshot file, for callers without a SnapshotReader."""
    with duckdb.connect(str(path), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")

        def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
            return connection.execute(sql, params).fetchall()

        yield query


# -- budgets -------------------------------------------------------------------------------------
def budget_lines(session: Session, query: Queryable, period: ReportPeriod) -> list[ReportBudget]:
    """Each budget where it stood at the end of the reported period (or on the last billed day,
    if earlier): a monthly budget in November's report shows November, whatever the date the
    report is made. The rules are those of the budget API and alerts; a budget the snapshot
    cannot evaluate is left out and logged."""
    data_through = latest_charge_date(query)
    if data_through is None:
        return []
    as_of = min(period.end, data_through)
    lines = []
    for budget in session.scalars(select(Budget).order_by(Budget.name)):
        try:
            evaluation = evaluate_budget(budget, as_of, read_series(query, budget, as_of))
        except (ValueError, duckdb.Error) as exc:
            log.warning("budget %s left out of the report: %s", budget.name, exc)
            continue
        lines.append(
            ReportBudget(budget.name, budget.currency, budget.amount, evaluation.spent, evaluation.projected,
                         start=evaluation.start, end=evaluation.end, as_of=as_of)
        )  # fmt: skip
    return lines


# -- recommendations -------------------------------------------------------------------------------
REPORT_RECOMMENDATIONS = 10


def recommendation_lines(
    session: Session, query: Queryable | None = None, limit: int = REPORT_RECOMMENDATIONS
) -> list[ReportRecommendation]:
    """The open recommendations with the biggest monthly savings, in words: the resource's name
    (from the snapshot's inventory, else the end of its id), the registered provider's name, and
    for a commitment the account's name when the bills give one (never a billing account id)."""
    rows = session.scalars(
        select(RecommendationRow)
        .where(RecommendationRow.status == "open")
        .order_by(RecommendationRow.saving_rank.desc(), RecommendationRow.id)
        .limit(limit)
    )
    providers, names = provider_keys.labels(session), id_names(query) if query is not None else {}
    lines = []
    for row in rows:
        title, why = recommendation_text(
            kind=row.kind, action=row.action, target=row.target,
            name=names.get(row.resource_id) or short_id(row.resource_id), provider=providers.get(row.provider, ""),
            currency=row.currency, evidence=row.evidence or {}, account=names.get(row.account_id),
        )  # fmt: skip
        detail = "; ".join(part for part in (why, f"risk {row.risk}") if part)
        lines.append(ReportRecommendation(title, row.currency, row.monthly_saving, detail))
    return lines


# -- writing -------------------------------------------------------------------------------------
def new_id(kind: ReportKind, period: ReportPeriod, generated_at: datetime, attempt: int = 0) -> str:
    stamp = generated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    suffix = f"-{attempt + 1}" if attempt else ""
    return f"{stamp}-{kind}-{period.start.isoformat()}{suffix}"


def generate(
    folder: Path,
    query: Queryable,
    *,
    kind: ReportKind,
    period: ReportPeriod,
    snapshot_version: str,
    budgets: list[ReportBudget],
    recommendations: list[ReportRecommendation] | None = None,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """Read, render and store one report; returns its meta."""
    generated_at = (generated_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    data = report_data(query, period, generated_at=generated_at, budgets=budgets, recommendations=recommendations or [])
    files = {HTML_FILE: render_html(data), **render_csv(data)}
    meta = {
        "kind": kind,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "generated_at": generated_at.isoformat().replace("+00:00", "Z"),
        "snapshot_version": snapshot_version,
        "files": sorted(files),
    }
    return store(folder, files, meta, period)


def write_report(
    folder: Path,
    query: Queryable,
    session: Session,
    *,
    kind: ReportKind,
    period: ReportPeriod,
    snapshot_version: str,
    generated_at: datetime | None = None,
) -> dict[str, Any]:
    """A report with the budgets and recommendations of the state store: what the schedules,
    the API and the demo's first start all make."""
    return generate(folder, query, kind=kind, period=period, snapshot_version=snapshot_version,
                    budgets=budget_lines(session, query, period), recommendations=recommendation_lines(session, query),
                    generated_at=generated_at)  # fmt: skip


def store(folder: Path, files: dict[str, str], meta: dict[str, Any], period: ReportPeriod) -> dict[str, Any]:
    """Write the files into a temporary folder, then rename it to a free id. ``os.rename``
    refuses to replace a non-empty folder, so two reports made in the same second both keep
    their files: the second takes the next suffix."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".partial-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        generated_at = datetime.fromisoformat(meta["generated_at"])
        for attempt in range(100):
            report_id = new_id(meta["kind"], period, generated_at, attempt)
            full = {"id": report_id, **meta}
            _write_all(staging, files, full)
            try:
                os.rename(staging, folder / report_id)
            except OSError:
                if not (folder / report_id).exists():
                    raise
                continue
            return full
        raise RuntimeError("no free report id after 100 attempts")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_all(staging: Path, files: dict[str, str], meta: dict[str, Any]) -> None:
    for name, text in files.items():
        (staging / name).write_text(text, encoding="utf-8")
    (staging / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
    for name in (*files, META_FILE):
        with open(staging / name, "rb") as handle:
            os.fsync(handle.fileno())


# -- reading -------------------------------------------------------------------------------------
def _checked(report_id: str) -> str:
    if not REPORT_ID.match(report_id):
        raise NotFound(f"no report with id {report_id!r}; list them at GET /api/cloud/costs/reports")
    return report_id


def read_meta(folder: Path, report_id: str) -> dict[str, Any]:
    path = folder / _checked(report_id) / META_FILE
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"no report with id {report_id!r}; list them at GET /api/cloud/costs/reports") from None
    return meta


def read_file(folder: Path, report_id: str, name: str) -> str:
    """One of the report's files, by a name its meta lists (never a path the caller built)."""
    meta = read_meta(folder, report_id)
    if name not in meta["files"]:
        tables = [f.removesuffix(".csv") for f in meta["files"] if f.endswith(".csv")]
        raise NotFound(f"report {report_id} has no {name!r}; its tables are {tables}")
    return (folder / report_id / name).read_text(encoding="utf-8")


def csv_name(table: str | None) -> str:
    if table is None:
        raise InvalidRequest("format=csv needs `table`, one of the names the report's meta lists in files")
    name = table.removesuffix(".csv")
    if not TABLE_NAME.match(name):
        raise InvalidRequest(f"not a table name: {table!r} (letters, digits and _ only)")
    return f"{name}.csv"


def has_report(folder: Path, kind: str, start: date) -> bool:
    """Whether a whole report of this kind starting on ``start`` is stored."""
    found = folder.iterdir() if folder.is_dir() else iter(())
    for path in found:
        match = REPORT_ID.match(path.name)
        if match and match.group(1, 2) == (kind, start.isoformat()) and (path / META_FILE).is_file():
            return True
    return False


@dataclass(frozen=True)
class Listing:
    items: list[dict[str, Any]]
    next_cursor: str | None


def list_reports(folder: Path, *, kind: str | None, limit: int, cursor: str | None) -> Listing:
    """Newest first. The cursor holds the last id shown: ids sort by time and never change."""
    after = str(decode_cursor(cursor, 1)[0]) if cursor else None
    found = folder.iterdir() if folder.is_dir() else iter(())
    ids = sorted((p.name for p in found if REPORT_ID.match(p.name) and (p / META_FILE).is_file()), reverse=True)
    if kind is not None:
        ids = [i for i in ids if i.split("-")[1] == kind]
    if after is not None:
        ids = [i for i in ids if i < after]
    page = ids[:limit]
    next_cursor = encode_cursor(page[-1]) if len(ids) > limit else None
    return Listing([read_meta(folder, i) for i in page], next_cursor)
