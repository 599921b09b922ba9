"""Cloud Monitoring's ``projects.timeSeries.list`` (``GET /v3/projects/<p>/timeSeries``), served by the
Compute Engine emulator's server so that one endpoint answers everything the Google Cloud adapter asks.

What it answers, as the API reference documents it: ``filter`` is required and names one
``metric.type``; it may restrict ``resource.type``, ``resource.labels.<key>`` and
``metric.labels.<key>`` to a value (``= "v"``) or a set (``= one_of("a", "b")``). The interval is
``interval.startTime``..``interval.endTime`` (RFC 3339); ``aggregation.alignmentPeriod`` (``"300s"``)
with ``aggregation.perSeriesAligner`` ALIGN_MEAN, ALIGN_SUM or ALIGN_MAX aligns each series to
periods counted from the start of the interval, each point stamped with its period's end (and, for
ALIGN_SUM, its start). Points come newest first, INT64 values as strings (``int64Value``); lists
page over series with ``pageSize``/``nextPageToken``; a missing permission answers 403 naming
``monitoring.timeSeries.list``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import fmean
from typing import Any

from tests.emulators.google_auth import GoogleEmulator
from tests.emulators.http import HttpError, Reply, Request

TIME_SERIES = r"/v3/projects/(?P<project>[^/]+)/timeSeries"
PERMISSION = "monitoring.timeSeries.list"
_CLAUSE = re.compile(r'(?P<key>[\w.]+)\s*=\s*(?:"(?P<value>[^"]*)"|one_of\((?P<values>[^)]*)\))')
_ALIGNERS = {"ALIGN_MEAN": fmean, "ALIGN_SUM": sum, "ALIGN_MAX": max}
STATUS = {400: "INVALID_ARGUMENT", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def _error(code: int, message: str) -> HttpError:
    return HttpError(code, {"error": {"code": code, "message": message, "status": STATUS.get(code, "UNKNOWN")}})


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(request: Request, name: str) -> datetime:
    text = request.query.get(name)
    if not text:
        raise _error(400, f"Field {name} had an invalid value: it is required")
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Series:
    """One time series of a ``gce_instance``: its metric, labels and raw (timestamp, value) points."""

    project: str
    metric_type: str
    instance_id: str
    zone: str
    labels: dict[str, str]
    points: list[tuple[datetime, float]] = field(default_factory=list)
    value_type: str = "DOUBLE"  # INT64 for counts

    def label(self, key: str) -> str | None:
        resource = {"resource.type": "gce_instance", "resource.labels.instance_id": self.instance_id,
                    "resource.labels.zone": self.zone, "resource.labels.project_id": self.project,
                    "metric.type": self.metric_type}  # fmt: skip
        if key.startswith("metric.labels."):
            return self.labels.get(key.removeprefix("metric.labels."))
        return resource.get(key)


class GoogleMonitoring:
    """The time series route, registered on ``host``; projects and denied permissions are the host's."""

    def __init__(self, host: GoogleEmulator, projects: set[str], denied: set[str]) -> None:
        self.host, self.projects, self.denied = host, projects, denied
        self.series: list[Series] = []
        self.page_size = 100_000
        host.route("GET", TIME_SERIES, self._list)

    def add(self, series: Series) -> Series:
        with self.host.lock:
            self.projects.add(series.project)
            self.series.append(series)
        return series

    def reset(self) -> None:
        with self.host.lock:
            self.series.clear()
            self.page_size = 100_000

    def _list(self, request: Request) -> Reply:
        project = request.params["project"]
        with self.host.lock:
            if PERMISSION in self.denied or not self.host.permits(request, project, PERMISSION):
                raise _error(403, f"Permission {PERMISSION} denied (or the resource may not exist).")
            if project not in self.projects:
                raise _error(404, f"Project projects/{project} not found")
        clauses = self._clauses(request.query.get("filter") or "")
        start, end = _time(request, "interval.startTime"), _time(request, "interval.endTime")
        with self.host.lock:
            found = [s for s in self.series if s.project == project and all(s.label(k) in v for k, v in clauses)]
        rendered = [self._render(s, request, start, end) for s in found]
        rendered = [r for r in rendered if r["points"]]
        size = min(int(request.query.get("pageSize") or 100_000), self.page_size)
        offset = int(request.query.get("pageToken") or 0)
        body: dict[str, Any] = {"timeSeries": rendered[offset : offset + size], "unit": ""}
        if offset + size < len(rendered):
            body["nextPageToken"] = str(offset + size)
        return Reply(200, body)

    @staticmethod
    def _clauses(text: str) -> list[tuple[str, set[str]]]:
        clauses = []
        for part in re.split(r"\s+AND\s+", text.strip()):
            found = _CLAUSE.fullmatch(part.strip())
            if found is None:
                raise _error(400, f"Could not parse filter: {text!r}")
            values = found["values"]
            chosen = {found["value"]} if values is None else set(re.findall(r'"([^"]*)"', values))
            clauses.append((found["key"], chosen))
        if not any(key == "metric.type" for key, _ in clauses):
            raise _error(400, "The filter must name a metric.type")
        return clauses

    def _render(self, series: Series, request: Request, start: datetime, end: datetime) -> dict[str, Any]:
        inside = [(t, v) for t, v in series.points if start <= t < end]
        aligner = request.query.get("aggregation.perSeriesAligner")
        if aligner:
            points = self._aligned(inside, aligner, request, start, series.value_type)
        else:
            points = [_point(t, t, v, series.value_type) for t, v in inside]
        return {
            "metric": {"type": series.metric_type, "labels": dict(series.labels)},
            "resource": {"type": "gce_instance",
                         "labels": {"project_id": series.project, "instance_id": series.instance_id,
                                    "zone": series.zone}},
            "metricKind": "DELTA" if aligner == "ALIGN_SUM" else "GAUGE",
            "valueType": series.value_type if aligner != "ALIGN_MEAN" else "DOUBLE",
            "points": sorted(points, key=lambda p: p["interval"]["endTime"], reverse=True),
        }  # fmt: skip

    @staticmethod
    def _aligned(
        inside: Sequence[tuple[datetime, float]], aligner: str, request: Request, start: datetime, value_type: str
    ) -> list[dict[str, Any]]:
        if aligner not in _ALIGNERS:
            raise _error(400, f"The aligner {aligner} is not supported for this metric")
        period = timedelta(seconds=float(str(request.query.get("aggregation.alignmentPeriod", "60s")).rstrip("s")))
        buckets: dict[datetime, list[float]] = {}
        for moment, value in inside:
            buckets.setdefault(start + period * ((moment - start) // period), []).append(value)
        kind = value_type if aligner != "ALIGN_MEAN" else "DOUBLE"
        stamp_start = aligner == "ALIGN_SUM"  # a DELTA point has a start time; a GAUGE point its end only
        return [
            _point(begin if stamp_start else begin + period, begin + period, _ALIGNERS[aligner](values), kind)
            for begin, values in buckets.items()
        ]


def _point(begin: datetime, end: datetime, value: float, value_type: str) -> dict[str, Any]:
    typed = {"int64Value": str(int(value))} if value_type == "INT64" else {"doubleValue": float(value)}
    return {"interval": {"startTime": _rfc3339(begin), "endTime": _rfc3339(end)}, "value": typed}
