"""Stored metrics as labelled series (what GET /monitoring/metrics serves), a page at a time.

The resources are chosen by id, provider and tags; each (resource, metric) pair with data in
the range is one series, ordered by resource id then metric, and paged with an opaque cursor.
Points come from ``samples.query_series`` (raw samples while they cover the range, otherwise
the 5-minute rollups).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from control_plane.monitoring import samples
from control_plane.pagination import decode_cursor, encode_cursor
from control_plane.services.errors import InvalidRequest
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import METRICS, MetricRollup, MetricSample

MAX_POINTS = 11_000  # per series, as Prometheus refuses a range query of more
UNITS = {
    "cpu": "percent",
    "memory": "percent",
    "network_in": "bytes",
    "network_out": "bytes",
    "disk_read": "operations",
    "disk_write": "operations",
    "cost_rate": "per_hour",
}


@dataclass(frozen=True)
class Series:
    resource: Any  # a Resource row
    provider: Any  # its Provider row
    metric: str
    points: list[samples.Point]

    def labels(self, step: str, aggregation: str) -> dict[str, str]:
        labels = {
            "__name__": self.metric,
            "resource": self.resource.name,
            "resource_id": str(self.resource.id),
            "provider": self.provider.name,
            "provider_id": str(self.provider.id),
            "region": self.resource.region,
            "type": self.resource.resource_type,
            "unit": UNITS[self.metric],
            "step": step,
            "aggregation": aggregation,
        }
        if self.metric == "cost_rate" and self.resource.cost_currency:
            labels["currency"] = self.resource.cost_currency
        return labels


@dataclass(frozen=True)
class SeriesPage:
    series: list[Series]
    next_cursor: str | None


def refuse(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(message, errors=[{"location": "query", "field": field, "message": message}])


def parse_tags(values: Sequence[str]) -> list[tuple[str, str]]:
    """``key=value`` selectors; anything else is a 422 naming ``tag``."""
    pairs = []
    for item in values:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise refuse("tag", f"a tag selector is key=value, not {item!r}")
        pairs.append((key, value))
    return pairs


def check_range(start: datetime, end: datetime, step: str) -> None:
    """422 naming ``end`` when the range is empty, ``step`` when a series would pass MAX_POINTS."""
    if end <= start:
        raise refuse("end", "end must be after start")
    points = math.ceil((end - start) / samples.STEPS[step])
    if points > MAX_POINTS:
        raise refuse(
            "step",
            f"{points} points per series at step {step}; at most {MAX_POINTS}: choose a longer step or a shorter range",
        )


def finest_step(start: datetime, end: datetime) -> str:
    """The shortest step that keeps every series within MAX_POINTS."""
    for step, every in samples.STEPS.items():
        if math.ceil((end - start) / every) <= MAX_POINTS:
            return step
    return "1d"


def select_series(
    session: Session,
    *,
    resource_ids: Collection[uuid.UUID] | None,
    provider_ids: Collection[uuid.UUID] | None,
    tags: Sequence[tuple[str, str]],
    metrics: Sequence[str],
    start: datetime,
    end: datetime,
    step: str,
    aggregation: str,
    limit: int,
    cursor: str | None,
    retention: samples.Retention,
    now: datetime,
) -> SeriesPage:
    metrics = [m for m in METRICS if m in set(metrics)] or list(METRICS)
    after: tuple[str, int] | None = None
    if cursor is not None:
        raw = decode_cursor(cursor, 2)
        if not isinstance(raw[0], str) or not isinstance(raw[1], int):
            raise InvalidRequest("the cursor is not one this API issued; start again without `cursor`")
        after = (raw[0], raw[1])
    with_data = union(
        select(MetricSample.resource_id)
        .where(MetricSample.at >= samples.floor_time(start, samples.ROLLUP))
        .where(MetricSample.at < end),
        select(MetricRollup.resource_id).where(
            MetricRollup.at >= samples.floor_time(start, samples.ROLLUP), MetricRollup.at < end
        ),
    ).subquery()
    query = select(Resource).where(Resource.id.in_(select(with_data.c.resource_id)))
    if resource_ids is not None:
        query = query.where(Resource.id.in_(list(resource_ids)))
    if provider_ids is not None:
        query = query.where(Resource.provider_id.in_(list(provider_ids)))
    for key, value in tags:
        query = query.where(Resource.tags[key].as_string() == value)
    resources = sorted(session.scalars(query), key=lambda r: str(r.id))
    keys = [(str(r.id), i) for r in resources for i in range(len(metrics))]
    if after is not None:
        keys = [k for k in keys if k > after]
    chosen, more = keys[:limit], len(keys) > limit
    by_id = {str(r.id): r for r in resources}
    wanted_ids = list(dict.fromkeys(uuid.UUID(k[0]) for k in chosen))
    wanted_metrics = sorted({metrics[k[1]] for k in chosen}, key=METRICS.index)
    points = samples.query_series(
        session,
        resource_ids=wanted_ids,
        metrics=wanted_metrics,
        start=start,
        end=end,
        step=step,
        aggregation=aggregation,
        retention=retention,
        now=now,
    )
    providers = {
        p.id: p for p in session.scalars(select(Provider).where(Provider.id.in_({r.provider_id for r in resources})))
    }
    series = []
    for resource_id, index in chosen:
        resource = by_id[resource_id]
        found = points.get((resource.id, metrics[index]))
        if found:
            series.append(Series(resource, providers[resource.provider_id], metrics[index], found))
    return SeriesPage(series, encode_cursor(*chosen[-1]) if more and chosen else None)
