"""Utilisation metrics of instances, databases and Auto Scaling groups, from CloudWatch
GetMetricData (EC2 is asked which region holds each instance): per period for the optimisation
pipeline (:meth:`Metrics.get_metrics`) and at one minute for the monitoring collector
(:meth:`Metrics.recent_metrics`).

Both ask at most 500 queries a call (GetMetricData's limit) and follow every page. The live read
uses clients that retry a throttled call only twice (botocore's standard mode, three attempts),
so that sustained throttling reaches the collector as ``Throttled`` within seconds and the
collector's own back-off takes over, instead of holding its cycle in the SDK's adaptive retry.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from clouds.aws.api import AwsApi, identify, translate
from clouds.aws.compute import Compute
from clouds.base import HOUR, METRICS_SCHEMA, Metric

MetricQuery = tuple[str, str, str, str, bool]
"""(namespace, metric name, statistic, WedCloud metric, per second: multiply by the period)"""
# From the EC2, RDS and CloudWatch agent metric references. EBS operations count volumes on the
# Nitro system; DiskReadOps/DiskWriteOps count instance-store disks only, so they are not used.
INSTANCE_METRICS: tuple[MetricQuery, ...] = (
    ("AWS/EC2", "CPUUtilization", "Average", Metric.CPU_PERCENT, False),
    ("AWS/EC2", "NetworkIn", "Sum", Metric.NETWORK_IN_BYTES, False),
    ("AWS/EC2", "NetworkOut", "Sum", Metric.NETWORK_OUT_BYTES, False),
    ("AWS/EC2", "EBSReadOps", "Sum", Metric.DISK_IO_OPS, False),
    ("AWS/EC2", "EBSWriteOps", "Sum", Metric.DISK_IO_OPS, False),
    ("CWAgent", "mem_used_percent", "Average", Metric.MEMORY_PERCENT, False),
)
DATABASE_METRICS: tuple[MetricQuery, ...] = (
    ("AWS/RDS", "CPUUtilization", "Average", Metric.CPU_PERCENT, False),
    ("AWS/RDS", "NetworkReceiveThroughput", "Average", Metric.NETWORK_IN_BYTES, True),
    ("AWS/RDS", "NetworkTransmitThroughput", "Average", Metric.NETWORK_OUT_BYTES, True),
    ("AWS/RDS", "ReadIOPS", "Average", Metric.DISK_IO_OPS, True),
    ("AWS/RDS", "WriteIOPS", "Average", Metric.DISK_IO_OPS, True),
)
GROUP_METRICS: tuple[MetricQuery, ...] = (
    ("AWS/EC2", "CPUUtilization", "Average", Metric.CPU_PERCENT, False),
    ("AWS/EC2", "NetworkIn", "Sum", Metric.NETWORK_IN_BYTES, False),
    ("AWS/EC2", "NetworkOut", "Sum", Metric.NETWORK_OUT_BYTES, False),
)
# the same metrics in the monitoring vocabulary (clouds.base.LIVE_METRICS): reads and writes apart
LIVE_QUERIES: dict[str, tuple[MetricQuery, ...]] = {
    "instance": (
        ("AWS/EC2", "CPUUtilization", "Average", "cpu", False),
        ("CWAgent", "mem_used_percent", "Average", "memory", False),
        ("AWS/EC2", "NetworkIn", "Sum", "network_in", False),
        ("AWS/EC2", "NetworkOut", "Sum", "network_out", False),
        ("AWS/EC2", "EBSReadOps", "Sum", "disk_read", False),
        ("AWS/EC2", "EBSWriteOps", "Sum", "disk_write", False),
    ),
    "database": (
        ("AWS/RDS", "CPUUtilization", "Average", "cpu", False),
        ("AWS/RDS", "NetworkReceiveThroughput", "Average", "network_in", True),
        ("AWS/RDS", "NetworkTransmitThroughput", "Average", "network_out", True),
        ("AWS/RDS", "ReadIOPS", "Average", "disk_read", True),
        ("AWS/RDS", "WriteIOPS", "Average", "disk_write", True),
    ),
    "instance_group": (
        ("AWS/EC2", "CPUUtilization", "Average", "cpu", False),
        ("AWS/EC2", "NetworkIn", "Sum", "network_in", False),
        ("AWS/EC2", "NetworkOut", "Sum", "network_out", False),
    ),
}
PERIOD_METRICS = {"instance": INSTANCE_METRICS, "database": DATABASE_METRICS, "instance_group": GROUP_METRICS}
MAX_QUERIES = 500  # GetMetricData's limit of queries per call
LIVE_SECONDS = 60  # CloudWatch's finest standard resolution
LIVE_RETRIES = Config(retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=30)
Row = tuple[str, str, datetime, float]
Target = tuple[str, str, tuple[str, str], str]  # id, region, CloudWatch dimension, kind


class Metrics:
    """CloudWatch metrics of the account's resources; ``compute`` finds each instance's region."""

    def __init__(self, api: AwsApi, compute: Compute) -> None:
        self.api = api
        self.compute = compute
        self._regions: dict[str, str] = {}  # instance id -> its region (an instance never moves)

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """CloudWatch GetMetricData, up to 500 queries a call and every page, for instances,
        databases and Auto Scaling groups (volumes and buckets have none of these metrics).
        Memory comes from the CloudWatch agent (``CWAgent``) where it reports it."""
        seconds = max(60, int(period.total_seconds()) // 60 * 60)  # CloudWatch periods are whole minutes
        rows = self._rows(resource_ids, PERIOD_METRICS, seconds, start, end, None)
        if not rows:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        frame = pl.DataFrame(rows, schema=["resource_id", "metric", "timestamp", "value"], orient="row")
        # disk operations are reads plus writes: the two queries add up per period
        return frame.group_by("resource_id", "metric", "timestamp").agg(pl.col("value").sum()).cast(METRICS_SCHEMA)

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """The monitoring vocabulary at a 60 s period (:meth:`clouds.base.CloudProvider.recent_metrics`):
        EC2 CPU, network and EBS read/write operations (``Sum``), the CloudWatch agent's
        ``mem_used_percent`` where it reports it, RDS CPU, throughput and IOPS (rates per second
        times 60), and Auto Scaling groups' CPU and network. Basic monitoring of EC2 publishes
        every 5 minutes, so its samples are 5 minutes apart; detailed monitoring gives one a
        minute. A throttled call (``Throttling``, ``ThrottlingException``) is tried three times
        in all and then raises ``Throttled``."""
        rows = self._rows(resource_ids, LIVE_QUERIES, LIVE_SECONDS, start, end, LIVE_RETRIES)
        if not rows:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        frame = pl.DataFrame(rows, schema=list(METRICS_SCHEMA), orient="row", strict=False)
        return frame.cast(METRICS_SCHEMA).sort("resource_id", "metric", "timestamp")

    def _rows(
        self,
        resource_ids: Sequence[str],
        tables: dict[str, tuple[MetricQuery, ...]],
        seconds: int,
        start: datetime,
        end: datetime,
        config: Config | None,
    ) -> list[Row]:
        """Every sample of the metrics ``tables`` names for each resource's kind, per ``seconds``,
        asked per region in calls of at most 500 queries."""
        first = datetime.fromtimestamp(start.timestamp() // seconds * seconds, UTC)
        last = datetime.fromtimestamp(-(-end.timestamp() // seconds) * seconds, UTC)
        queries: dict[str, list[tuple[dict[str, Any], str, str, float]]] = {}  # region -> queries
        ids = (f"q{n}" for n in itertools.count())
        for resource_id, region, (dimension, value), kind in self._metric_targets(resource_ids):
            for namespace, name, statistic, metric, per_second in tables.get(kind, ()):
                query = {
                    "Id": next(ids),
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": name,
                                   "Dimensions": [{"Name": dimension, "Value": value}]},
                        "Period": seconds, "Stat": statistic,
                    },
                }  # fmt: skip
                queries.setdefault(region, []).append((query, resource_id, metric, seconds if per_second else 1))
        rows: list[Row] = []
        for region, asked in queries.items():
            by_id = {query["Id"]: (resource_id, metric, scale) for query, resource_id, metric, scale in asked}
            for chunk in range(0, len(asked), MAX_QUERIES):
                batch = [query for query, *_ in asked[chunk : chunk + MAX_QUERIES]]
                for result in self._metric_results(region, batch, first, last, config):
                    resource_id, metric, scale = by_id[result["Id"]]
                    rows += [
                        (resource_id, str(metric), moment.astimezone(UTC), float(value) * scale)
                        for moment, value in zip(result["Timestamps"], result["Values"], strict=True)
                    ]
        return rows

    def _metric_targets(self, resource_ids: Sequence[str]) -> Iterator[Target]:
        """(id, region, CloudWatch dimension, kind) for each resource that has metrics."""
        unknown = [r for r in resource_ids if identify(r)[0] == "instance" and r not in self._regions]
        for chunk in range(0, len(unknown), 200):  # a filter of at most 200 ids keeps each request small
            self._regions |= self.compute.instance_regions(unknown[chunk : chunk + 200])
        regions = self._regions
        for resource_id in resource_ids:
            kind, region, name = identify(resource_id)
            if kind == "instance" and resource_id in regions:
                yield resource_id, regions[resource_id], ("InstanceId", resource_id), kind
            elif kind == "database":
                yield resource_id, region, ("DBInstanceIdentifier", name), kind
            elif kind == "instance_group":
                yield resource_id, region or self.api.default_region, ("AutoScalingGroupName", name), kind

    def _metric_results(
        self, region: str, queries: list[dict[str, Any]], start: datetime, end: datetime, config: Config | None
    ) -> Iterator[dict[str, Any]]:
        cloudwatch = self.api.client("cloudwatch", region, config=config)
        arguments = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        try:
            for page in cloudwatch.get_paginator("get_metric_data").paginate(**arguments):
                yield from page["MetricDataResults"]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
