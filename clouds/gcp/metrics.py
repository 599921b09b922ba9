"""Instances' utilisation from Cloud Monitoring's ``projects.timeSeries.list``, for the Google
Cloud adapter.

google-cloud-monitoring ships gRPC transports only, so this calls the documented REST form of
the same method (``GET /v3/projects/<p>/timeSeries``) with the library's own request and response
types, authorised by the adapter's credentials and sent to the same endpoint as the other
clients. Series are matched by the instance's numeric ``resource.labels.instance_id`` (the Ops
Agent's memory series carry no ``instance_name``), aligned per period and mapped back to the ids
asked with. Only instances report metrics; disks, groups and buckets answer no rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import polars as pl
from google.api_core import exceptions as google_errors

from clouds.base import HOUR, METRICS_SCHEMA, Metric
from clouds.gcp.api import GcpApi, collection_of, translate
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
_SCALES = {Metric.CPU_PERCENT: 100.0}  # Google reports CPU utilisation as a fraction
_AVERAGED = (Metric.CPU_PERCENT.value, Metric.MEMORY_PERCENT.value)  # across series; counts add up


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
        rows = [
            (asked[instance_id], metric.value, moment, value * _SCALES.get(metric, 1.0))
            for metric_type, metric, aligner, extra in _METRICS
            for instance_id, moment, value in self._samples(
                _series_filter(metric_type, extra, list(asked)), aligner, start, end, period
            )
        ]
        return _metrics_frame(rows)

    def _samples(
        self, series_filter: str, aligner: str, start: datetime, end: datetime, period: timedelta
    ) -> Iterator[tuple[str, datetime, float]]:
        """(instance id, start of period, value) of every aligned point, across every page."""
        for series in self._time_series(series_filter, aligner, start, end, period):
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
        self, series_filter: str, aligner: str, start: datetime, end: datetime, period: timedelta
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
                response = self._api.retry(self._get)(url, params)  # retried while Google is busy
            except google_errors.GoogleAPICallError as exc:
                raise translate(exc) from exc
            page = monitoring_v3.ListTimeSeriesResponse.from_json(response.content, ignore_unknown_fields=True)
            yield from page.time_series
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token
