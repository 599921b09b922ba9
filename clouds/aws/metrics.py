"""Utilisation metrics of instances, databases and Auto Scaling groups, from CloudWatch
GetMetricData (EC2 is asked which region holds each instance)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
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


class Metrics:
    """CloudWatch metrics of the account's resources; ``compute`` finds each instance's region."""

    def __init__(self, api: AwsApi, compute: Compute) -> None:
        self.api = api
        self.compute = compute

    def get_metrics(
        self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta = HOUR
    ) -> pl.DataFrame:
        """CloudWatch GetMetricData, up to 500 queries a call and every page, for instances,
        databases and Auto Scaling groups (volumes and buckets have none of these metrics).
        Memory comes from the CloudWatch agent (``CWAgent``) where it reports it."""
        seconds = max(60, int(period.total_seconds()) // 60 * 60)  # CloudWatch periods are whole minutes
        first = datetime.fromtimestamp(start.timestamp() // seconds * seconds, UTC)
        last = datetime.fromtimestamp(-(-end.timestamp() // seconds) * seconds, UTC)
        queries: dict[str, list[tuple[dict[str, Any], str, str, float]]] = {}  # region -> queries
        ids = (f"q{n}" for n in itertools.count())
        for resource_id, region, (dimension, value), wanted in self._metric_targets(resource_ids):
            for namespace, name, statistic, metric, per_second in wanted:
                query = {
                    "Id": next(ids),
                    "MetricStat": {
                        "Metric": {"Namespace": namespace, "MetricName": name,
                                   "Dimensions": [{"Name": dimension, "Value": value}]},
                        "Period": seconds, "Stat": statistic,
                    },
                }  # fmt: skip
                queries.setdefault(region, []).append((query, resource_id, metric, seconds if per_second else 1))
        rows: list[tuple[str, str, datetime, float]] = []
        for region, asked in queries.items():
            by_id = {query["Id"]: (resource_id, metric, scale) for query, resource_id, metric, scale in asked}
            for chunk in range(0, len(asked), 500):
                batch = [query for query, *_ in asked[chunk : chunk + 500]]
                for result in self._metric_results(region, batch, first, last):
                    resource_id, metric, scale = by_id[result["Id"]]
                    rows += [
                        (resource_id, metric, moment.astimezone(UTC), float(value) * scale)
                        for moment, value in zip(result["Timestamps"], result["Values"], strict=True)
                    ]
        if not rows:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        frame = pl.DataFrame(rows, schema=["resource_id", "metric", "timestamp", "value"], orient="row")
        # disk operations are reads plus writes: the two queries add up per period
        return frame.group_by("resource_id", "metric", "timestamp").agg(pl.col("value").sum()).cast(METRICS_SCHEMA)

    def _metric_targets(
        self, resource_ids: Sequence[str]
    ) -> Iterator[tuple[str, str, tuple[str, str], tuple[MetricQuery, ...]]]:
        """(id, region, CloudWatch dimension, metrics to ask) for each resource that has metrics."""
        instances = [r for r in resource_ids if identify(r)[0] == "instance"]
        regions = self.compute.instance_regions(instances) if instances else {}
        for resource_id in resource_ids:
            kind, region, name = identify(resource_id)
            if kind == "instance" and resource_id in regions:
                yield resource_id, regions[resource_id], ("InstanceId", resource_id), INSTANCE_METRICS
            elif kind == "database":
                yield resource_id, region, ("DBInstanceIdentifier", name), DATABASE_METRICS
            elif kind == "instance_group":
                yield resource_id, region or self.api.default_region, ("AutoScalingGroupName", name), GROUP_METRICS

    def _metric_results(
        self, region: str, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> Iterator[dict[str, Any]]:
        cloudwatch = self.api.client("cloudwatch", region)
        arguments = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
        try:
            for page in cloudwatch.get_paginator("get_metric_data").paginate(**arguments):
                yield from page["MetricDataResults"]
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
