"""Metric samples in the state store: written by the collector, rolled up into 5-minute
buckets, pruned by age, and read back as series at a step with an aggregation.

A query is answered from the raw samples when they still cover its start (exact), otherwise
from the rollups: avg weighted by each bucket's sample count, min of the minima, max of the
maxima, and p95 as the count-weighted 95th percentile of the buckets' own p95s (an
approximation, documented in docs/monitoring.md). Steps are 30s, 5m, 1h and 1d; a point's
time is its step's start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy import Select, and_, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from control_plane.store.monitoring_models import METRICS, MetricRollup, MetricSample
from wedcloud.sqltypes import utcnow

STEPS = {"30s": timedelta(seconds=30), "5m": timedelta(minutes=5), "1h": timedelta(hours=1), "1d": timedelta(days=1)}
AGGREGATIONS = ("avg", "max", "min", "p95")
ROLLUP = timedelta(minutes=5)
Point = tuple[datetime, float]


@dataclass(frozen=True)
class Retention:
    raw: timedelta = timedelta(hours=6)
    rollups: timedelta = timedelta(days=35)


def floor_time(moment: datetime, step: timedelta) -> datetime:
    seconds = int(step.total_seconds())
    return datetime.fromtimestamp(int(moment.timestamp()) // seconds * seconds, UTC)


# -- writing ---------------------------------------------------------------------------------
def write_samples(session: Session, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert samples (``resource_id``, ``provider_id``, ``at`` and any of ``METRICS``); a
    sample already stored for the same resource and instant is kept (a retried cycle writes
    nothing twice). Returns how many rows were offered."""
    if not rows:
        return 0
    values = [
        {
            "resource_id": r["resource_id"],
            "provider_id": r["provider_id"],
            "at": r["at"],
            **{m: _number(r.get(m)) for m in METRICS},
        }
        for r in rows
    ]
    dialect = session.get_bind().dialect.name
    table = MetricSample
    statement = (postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)).on_conflict_do_nothing()
    for chunk in range(0, len(values), 5000):
        session.execute(statement, values[chunk : chunk + 5000])
    return len(values)


def _number(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if number != number else number  # NaN is "no data"


def roll_up(session: Session, *, start: datetime, end: datetime) -> int:
    """(Re)compute the 5-minute buckets that start in [start, end) from the raw samples and
    upsert them; returns how many buckets were written. The collector calls it each time a
    bucket completes, over the last few buckets, so late samples are counted."""
    start, end = floor_time(start, ROLLUP), floor_time(end, ROLLUP)
    frame = _raw_frame(session, None, start, end)
    if frame.is_empty():
        return 0
    grouped = (
        frame.with_columns(pl.col("at").dt.truncate("5m").alias("bucket"))
        .group_by("resource_id", "provider_id", "bucket")
        .agg(
            pl.len().alias("samples"),
            *(
                expr
                for m in METRICS
                for expr in (
                    pl.col(m).mean().alias(f"{m}|avg"),
                    pl.col(m).min().alias(f"{m}|min"),
                    pl.col(m).max().alias(f"{m}|max"),
                    pl.col(m).quantile(0.95, "linear").alias(f"{m}|p95"),
                )
            ),
        )
    )
    rows = []
    for record in grouped.iter_rows(named=True):
        stats = {
            m: {s: record[f"{m}|{s}"] for s in ("avg", "min", "max", "p95")}
            for m in METRICS
            if record[f"{m}|avg"] is not None
        }
        rows.append(
            {
                "resource_id": uuid.UUID(record["resource_id"]),
                "provider_id": uuid.UUID(record["provider_id"]),
                "at": record["bucket"].replace(tzinfo=UTC),
                "samples": record["samples"],
                "stats": stats,
            }
        )
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(MetricRollup)
    statement = statement.on_conflict_do_update(
        index_elements=["resource_id", "at"],
        set_={"samples": statement.excluded.samples, "stats": statement.excluded.stats},
    )
    for chunk in range(0, len(rows), 5000):
        session.execute(statement, rows[chunk : chunk + 5000])
    return len(rows)


def prune(session: Session, *, retention: Retention, now: datetime | None = None) -> tuple[int, int]:
    """Drop raw samples and rollups past their retention: (raw rows, rollup rows) removed."""
    now = now or utcnow()
    raw = session.execute(delete(MetricSample).where(MetricSample.at < now - retention.raw))
    rolled = session.execute(delete(MetricRollup).where(MetricRollup.at < now - retention.rollups))
    return int(getattr(raw, "rowcount", 0) or 0), int(getattr(rolled, "rowcount", 0) or 0)


# -- reading ---------------------------------------------------------------------------------
def latest(
    session: Session, resource_ids: Iterable[uuid.UUID] | None = None, *, since: datetime | None = None
) -> dict[uuid.UUID, MetricSample]:
    """Each resource's newest sample (since ``since``, when given)."""
    newest = select(MetricSample.resource_id, func.max(MetricSample.at).label("at"))
    if since is not None:
        newest = newest.where(MetricSample.at >= since)
    ids = list(resource_ids) if resource_ids is not None else None
    if ids is not None:
        newest = newest.where(MetricSample.resource_id.in_(ids))
    newest_q = newest.group_by(MetricSample.resource_id).subquery()
    query = select(MetricSample).join(
        newest_q, and_(MetricSample.resource_id == newest_q.c.resource_id, MetricSample.at == newest_q.c.at)
    )
    return {row.resource_id: row for row in session.scalars(query)}


def query_series(
    session: Session,
    *,
    resource_ids: Sequence[uuid.UUID],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    step: str,
    aggregation: str,
    retention: Retention | None = None,
    now: datetime | None = None,
) -> dict[tuple[uuid.UUID, str], list[Point]]:
    """(resource, metric) -> [(step start, value)], oldest first; a step with no data has no point."""
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}")
    if aggregation not in AGGREGATIONS:
        raise ValueError(f"aggregation must be one of {', '.join(AGGREGATIONS)}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; known: {', '.join(METRICS)}")
    if not resource_ids or not metrics or end <= start:
        return {}
    retention = retention or Retention()
    now = now or utcnow()
    every = STEPS[step]
    if step == "30s" or start >= now - retention.raw:
        return _from_raw(session, resource_ids, metrics, start, end, every, aggregation)
    return _from_rollups(session, resource_ids, metrics, start, end, every, aggregation)


def _raw_frame(
    session: Session,
    resource_ids: Sequence[uuid.UUID] | None,
    start: datetime,
    end: datetime,
    metrics: Sequence[str] = METRICS,
) -> pl.DataFrame:
    columns = [
        MetricSample.resource_id,
        MetricSample.provider_id,
        MetricSample.at,
        *(getattr(MetricSample, m) for m in metrics),
    ]
    query: Select[Any] = select(*columns).where(MetricSample.at >= start, MetricSample.at < end)
    if resource_ids is not None:
        query = query.where(MetricSample.resource_id.in_(list(resource_ids)))
    rows = [(str(r[0]), str(r[1]), r[2].astimezone(UTC).replace(tzinfo=None), *r[3:]) for r in session.execute(query)]
    schema: dict[str, Any] = {"resource_id": pl.String, "provider_id": pl.String, "at": pl.Datetime("us")}
    schema |= dict.fromkeys(metrics, pl.Float64)
    return pl.DataFrame(rows, schema=schema, orient="row")


def _aggregate(column: str, aggregation: str) -> pl.Expr:
    expressions = {
        "avg": pl.col(column).mean(),
        "max": pl.col(column).max(),
        "min": pl.col(column).min(),
        "p95": pl.col(column).quantile(0.95, "linear"),
    }
    return expressions[aggregation].alias(column)


def _truncate(every: timedelta) -> str:
    return f"{int(every.total_seconds())}s"


def _from_raw(
    session: Session,
    resource_ids: Sequence[uuid.UUID],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    every: timedelta,
    aggregation: str,
) -> dict[tuple[uuid.UUID, str], list[Point]]:
    frame = _raw_frame(session, resource_ids, floor_time(start, every), end, metrics)
    if frame.is_empty():
        return {}
    grouped = (
        frame.with_columns(pl.col("at").dt.truncate(_truncate(every)))
        .group_by("resource_id", "at")
        .agg(*(_aggregate(m, aggregation) for m in metrics))
        .sort("resource_id", "at")
    )
    return _series(grouped, metrics)


def _from_rollups(
    session: Session,
    resource_ids: Sequence[uuid.UUID],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    every: timedelta,
    aggregation: str,
) -> dict[tuple[uuid.UUID, str], list[Point]]:
    query = select(MetricRollup.resource_id, MetricRollup.at, MetricRollup.samples, MetricRollup.stats).where(
        MetricRollup.resource_id.in_(list(resource_ids)),
        MetricRollup.at >= floor_time(start, every),
        MetricRollup.at < end,
    )
    rows = []
    for resource_id, at, count, stats in session.execute(query):
        for metric in metrics:
            value = (stats.get(metric) or {}).get(aggregation)
            if value is not None:
                rows.append((str(resource_id), at.astimezone(UTC).replace(tzinfo=None), metric, count, float(value)))
    if not rows:
        return {}
    frame = pl.DataFrame(
        rows,
        schema={
            "resource_id": pl.String,
            "at": pl.Datetime("us"),
            "metric": pl.String,
            "n": pl.Int64,
            "v": pl.Float64,
        },
        orient="row",
    ).with_columns(pl.col("at").dt.truncate(_truncate(every)))
    if aggregation == "avg":
        value = (pl.col("v") * pl.col("n")).sum() / pl.col("n").sum()
    elif aggregation == "max":
        value = pl.col("v").max()
    elif aggregation == "min":
        value = pl.col("v").min()
    else:  # the count-weighted 95th percentile of the buckets' p95s
        value = pl.col("v").repeat_by(pl.col("n")).explode().quantile(0.95, "linear")
    grouped = frame.group_by("resource_id", "metric", "at").agg(value.alias("value")).sort("resource_id", "at")
    result: dict[tuple[uuid.UUID, str], list[Point]] = {}
    for resource_id, metric, at, number in grouped.select("resource_id", "metric", "at", "value").iter_rows():
        result.setdefault((uuid.UUID(resource_id), metric), []).append((at.replace(tzinfo=UTC), float(number)))
    return result


def _series(grouped: pl.DataFrame, metrics: Sequence[str]) -> dict[tuple[uuid.UUID, str], list[Point]]:
    result: dict[tuple[uuid.UUID, str], list[Point]] = {}
    for record in grouped.iter_rows(named=True):
        resource_id = uuid.UUID(record["resource_id"])
        moment = record["at"].replace(tzinfo=UTC)
        for metric in metrics:
            if record[metric] is not None:
                result.setdefault((resource_id, metric), []).append((moment, float(record[metric])))
    return result
