"""Instances' utilisation from Cloud Monitoring's ``projects.timeSeries.list``, for the Google
Cloud adapter.

google-cloud-monitoring ships gRPC transports only, so this calls the documented REST form of
the same method (``GET /v3/projects/<p>/timeSeries``) with the library's own request and response
types, authorised by the adapter's credentials and sent to the same endpoint as the other
clients. Series are matched by the instance's numeric ``resource.labels.instance_id`` (the Ops
Agent's memory series carry no ``instance_name``), aligned per period and mapped back to the ids
asked with. Only instances report metrics; disks, groups and buckets answer no rows.

:meth:`Metrics.recent_metrics` answers the monitoring collector at a 60 s alignment (Compute
Engine samples these metrics every 60 s), with the numeric ids remembered between polls and the
instances asked 100 to a filter. Google's 429 and 503 are retried with :mod:`clouds.gcp.retry`'s
backoff for at most ``LIVE_RETRY_FACTOR`` times its first wait, then raised as ``Throttled`` so
that the collector backs off itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import polars as pl
from google.api_core import exceptions as google_errors

from clouds.base import HOUR, METRICS_SCHEMA, Metric
from clouds.errors import ResourceNotFound
from clouds.gcp.api import GcpApi, collection_of, last, translate
from clouds.gcp.credentials import SCOPES

MONITORING = "https://monitoring.googleapis.com"
# (metric type, WedCloud metric, aligner, extra filter): utilisation is averaged over the period,
# counts (DELTA metrics) are summed over it, so a sample is the bytes or operations in its period
_METRICS = (
    ("compute.googleapis.com/instance/cpu/utilization", Metric.CPU_PERCENT, "ALIGN_MEAN", ""),
    ("agent.googleapis.com/memory/percent_used", Metric.MEMORY_PERCENT, "ALIGN_MEAN", 'metric.labels.state = "used"'),
    ("compute.googleapis.com/instance/network/received_bytes_count", Metric.NETWORK_IN_BYTES, "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/network/sent_bytes_count", Metric.NETWORK_OUT_BYTES, "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/disk/read_ops_count", Metric.DISK_IO_OPS, "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/disk/write_ops_count", Metric.DISK_IO_OPS, "ALIGN_SUM", ""),
)
# the same series in the monitoring vocabulary (clouds.base.LIVE_METRICS): reads and writes apart
_LIVE = (
    ("compute.googleapis.com/instance/cpu/utilization", "cpu", "ALIGN_MEAN", ""),
    ("agent.googleapis.com/memory/percent_used", "memory", "ALIGN_MEAN", 'metric.labels.state = "used"'),
    ("compute.googleapis.com/instance/network/received_bytes_count", "network_in", "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/network/sent_bytes_count", "network_out", "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/disk/read_ops_count", "disk_read", "ALIGN_SUM", ""),
    ("compute.googleapis.com/instance/disk/write_ops_count", "disk_write", "ALIGN_SUM", ""),
)
_SCALES = {Metric.CPU_PERCENT.value: 100.0, "cpu": 100.0}  # Google reports CPU utilisation as a fraction
# percentages are averaged across series; counts (several disks, interfaces) add up
_AVERAGED = (Metric.CPU_PERCENT.value, Metric.MEMORY_PERCENT.value, "cpu", "memory")
LIVE_PERIOD = timedelta(seconds=60)
LIVE_RETRY_FACTOR = 8  # a live call retries for at most 8 times the first backoff (1, 2, 4 s by default)
IDS_PER_FILTER = 100  # instances per time series filter, so that a filter stays short
NUMERIC_ID_SECONDS = 3600.0  # how long an instance's numeric id is trusted (a recreated one gets another)


def _series_filter(metric_type: str, extra: str, instance_ids: Sequence[str]) -> str:
    """A time series filter: one metric type of the given instances (by numeric id)."""
    wanted = ", ".join(f'"{i}"' for i in instance_ids)
    clauses = [f'metric.type = "{metric_type}"', 'resource.type = "gce_instance"',
               f"resource.labels.instance_id = one_of({wanted})", extra]  # fmt: skip
    return " AND ".join(c for c in clauses if c)


def _point_value(point: Any) -> float:
    return float(point.value.double_value if "double_value" in point.value else point.value.int64_value)


def _metrics_frame(rows: list[tuple[str, str, datetime, float]]) -> pl.DataFrame:
    """Samples per (resource, metric, period): counts of several series (disks, reads and writes,
    network interfaces) added up, percentages averaged."""
    frame = pl.DataFrame(rows, schema=METRICS_SCHEMA, orient="row")
    summed = frame.group_by("resource_id", "metric", "timestamp").agg(pl.col("value").sum(), pl.len().alias("n"))
    averaged = pl.when(pl.col("metric").is_in(_AVERAGED)).then(pl.col("value") / pl.col("n"))
    return (
        summed.with_columns(averaged.otherwise(pl.col("value")).alias("value"))
        .select(METRICS_SCHEMA.names())
        .sort("resource_id", "metric", "timestamp")
    )


class Metrics:
    """The project's Cloud Monitoring time series."""

    def __init__(self, api: GcpApi) -> None:
        self._api = api
        self._ids: dict[str, tuple[str, float]] = {}  # instance id asked with -> (numeric id, when found)

    @cached_property
    def _monitoring(self) -> Any:
        """An authorised HTTP session for Cloud Monitoring's REST API, made when first used."""
        import google.auth
        from google.auth.transport.requests import AuthorizedSession

        credentials = self._api.credentials or google.auth.default(scopes=SCOPES)[0]
        return AuthorizedSession(credentials)  # type: ignore[no-untyped-call]

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """Instances' utilisation in [start, end) per period; other resources report none."""
        asked = {str(self._api.get(i).id): i for i in resource_ids if collection_of(i) == "instances"}
        if not asked:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        table = [(kind, metric.value, aligner, extra) for kind, metric, aligner, extra in _METRICS]
        return _metrics_frame(self._rows(asked, table, start, end, period, self._api.retry))

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """:data:`clouds.base.LIVE_METRICS` of each instance aligned to 60 s: CPU utilisation as a
        percentage (``ALIGN_MEAN``), the Ops Agent's memory ``percent_used`` where it runs, and
        bytes received and sent and disk read and write operations summed per minute
        (``ALIGN_SUM``, across disks and interfaces)."""
        asked = self._numeric_ids([i for i in dict.fromkeys(resource_ids) if collection_of(i) == "instances"])
        if not asked:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        retry = self._api.retry.with_timeout(self._api.backoff * LIVE_RETRY_FACTOR)
        rows = []
        numeric = list(asked)
        for chunk in range(0, len(numeric), IDS_PER_FILTER):
            part = {n: asked[n] for n in numeric[chunk : chunk + IDS_PER_FILTER]}
            rows += self._rows(part, _LIVE, start, end, LIVE_PERIOD, retry)
        return _metrics_frame(rows)

    def _rows(
        self,
        asked: dict[str, str],
        table: Sequence[tuple[str, str, str, str]],
        start: datetime,
        end: datetime,
        period: timedelta,
        retry: Any,
    ) -> list[tuple[str, str, datetime, float]]:
        """(id asked with, metric, period start, value) of every aligned point of ``table``'s
        metric types for the instances ``asked`` (numeric id -> id asked with)."""
        return [
            (asked[instance_id], metric, moment, value * _SCALES.get(metric, 1.0))
            for metric_type, metric, aligner, extra in table
            for instance_id, moment, value in self._samples(
                _series_filter(metric_type, extra, list(asked)), aligner, start, end, period, retry
            )
        ]

    def _numeric_ids(self, resource_ids: Sequence[str]) -> dict[str, str]:
        """numeric id -> id asked with, for the instances that exist; remembered for an hour.
        Many unknown instances are found with one aggregated list, a few with a GET each."""
        now = time.monotonic()
        unknown = [
            i for i in resource_ids if now - self._ids.get(i, ("", -NUMERIC_ID_SECONDS))[1] >= NUMERIC_ID_SECONDS
        ]
        if len(unknown) > 20:
            wanted = set(unknown)
            for instance in self._api.aggregated(self._api.instances, "instances"):
                resource_id = self._api.zonal_id(last(instance.zone), instance.name)
                if resource_id in wanted:
                    self._ids[resource_id] = (str(instance.id), now)
        else:
            for resource_id in unknown:
                try:
                    self._ids[resource_id] = (str(self._api.get(resource_id).id), now)
                except ResourceNotFound:
                    self._ids.pop(resource_id, None)
        return {self._ids[i][0]: i for i in resource_ids if i in self._ids}

    def _samples(
        self, series_filter: str, aligner: str, start: datetime, end: datetime, period: timedelta, retry: Any
    ) -> Iterator[tuple[str, datetime, float]]:
        """(instance id, start of period, value) of every aligned point, across every page."""
        for series in self._time_series(series_filter, aligner, start, end, period, retry):
            instance_id = series.resource.labels["instance_id"]
            for point in series.points:
                moment = datetime.fromtimestamp(point.interval.end_time.timestamp(), UTC) - period
                yield instance_id, moment, _point_value(point)

    def _get(self, url: str, params: Any) -> Any:
        response = self._monitoring.get(url, params=params)
        if not response.ok:
            raise google_errors.from_http_response(response)  # type: ignore[no-untyped-call]
        return response

    def _time_series(
        self, series_filter: str, aligner: str, start: datetime, end: datetime, period: timedelta, retry: Any
    ) -> Iterator[Any]:
        """``projects.timeSeries.list`` over REST, following ``nextPageToken``."""
        from google.api_core import rest_helpers
        from google.cloud import monitoring_v3
        from google.protobuf import json_format

        request = monitoring_v3.ListTimeSeriesRequest(
            name=f"projects/{self._api.project}",
            filter=series_filter,
            interval={"start_time": start, "end_time": end},
            aggregation={"alignment_period": period, "per_series_aligner": aligner},
        )
        url = f"{self._api.endpoint_url or MONITORING}/v3/{request.name}/timeSeries"
        while True:
            query = json_format.MessageToDict(monitoring_v3.ListTimeSeriesRequest.pb(request))
            query.pop("name")  # in the path; the rest are query parameters (interval.startTime, ...)
            params = rest_helpers.flatten_query_params(query, strict=True)  # type: ignore[no-untyped-call]
            try:
                response = retry(self._get)(url, params)  # retried while Google is busy
            except google_errors.GoogleAPICallError as exc:
                raise translate(exc) from exc
            page = monitoring_v3.ListTimeSeriesResponse.from_json(response.content, ignore_unknown_fields=True)
            yield from page.time_series
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token
