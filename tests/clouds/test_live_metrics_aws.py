"""Live metrics for the monitoring collector from CloudWatch: boto3 against a moto server over
HTTP, through a fault-injecting proxy (tests/emulators/fault_proxy.py) that counts the calls and
answers throttling as CloudWatch does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from clouds.aws import credentials as aws_credentials
from clouds.aws.provider import AwsCloud
from clouds.base import LIVE_METRICS, METRICS_SCHEMA, ProvisionRequest, ResourceType
from clouds.errors import Throttled
from tests.emulators.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration

AMI = "ami-12c6146b"  # one of the images moto ships
REGION = "eu-west-2"
MINUTE = timedelta(minutes=1)


@pytest.fixture
def proxy(moto_endpoint: str, aws_keys: dict[str, str]) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(moto_endpoint)
    yield fault_proxy
    fault_proxy.stop()


@pytest.fixture
def hour() -> datetime:
    """A whole hour shortly before now (CloudWatch keeps one-minute data 15 days)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def _client(moto_endpoint: str, keys: dict[str, str], service: str) -> Any:
    return aws_credentials.client(aws_credentials.session_for(keys, REGION), service, moto_endpoint)


def _instances(moto_endpoint: str, keys: dict[str, str], count: int) -> list[str]:
    ec2 = _client(moto_endpoint, keys, "ec2")
    made = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=count, MaxCount=count)["Instances"]
    return [instance["InstanceId"] for instance in made]


def _put(cloudwatch: Any, namespace: str, dimension: tuple[str, str], name: str, points: list[Any]) -> None:
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
         "Timestamp": moment, "Value": value}
        for moment, value in points
    ])  # fmt: skip


def _values(frame: pl.DataFrame, metric: str) -> dict[datetime, float]:
    rows = frame.filter(pl.col("metric") == metric).sort("timestamp")
    return dict(zip(rows["timestamp"], rows["value"], strict=True))


def test_instance_samples_come_back_per_minute_in_the_monitoring_vocabulary(
    proxy: FaultProxy, moto_endpoint: str, aws_keys: dict[str, str], hour: datetime
) -> None:
    (instance_id,) = _instances(moto_endpoint, aws_keys, 1)
    cloudwatch = _client(moto_endpoint, aws_keys, "cloudwatch")
    at = {n: hour + n * MINUTE for n in range(4)}
    seconds = timedelta(seconds=20)
    dimension = ("InstanceId", instance_id)
    _put(cloudwatch, "AWS/EC2", dimension, "CPUUtilization", [(at[0], 10.0), (at[0] + seconds, 30.0), (at[1], 95.0)])
    _put(cloudwatch, "AWS/EC2", dimension, "NetworkIn", [(at[0], 1000.0), (at[0] + seconds, 500.0)])
    _put(cloudwatch, "AWS/EC2", dimension, "NetworkOut", [(at[1], 250.0)])
    _put(cloudwatch, "AWS/EC2", dimension, "EBSReadOps", [(at[0], 40.0), (at[0] + seconds, 2.0)])
    _put(cloudwatch, "AWS/EC2", dimension, "EBSWriteOps", [(at[1], 60.0)])
    _put(cloudwatch, "CWAgent", dimension, "mem_used_percent", [(at[1], 42.5)])
    _put(cloudwatch, "AWS/EC2", dimension, "CPUUtilization", [(at[3], 99.0)])  # outside the window asked

    frame = AwsCloud(aws_keys, regions=(REGION,), endpoint_url=proxy.url).recent_metrics(
        [instance_id], start=at[0], end=at[2]
    )
    assert frame.schema == METRICS_SCHEMA
    assert set(frame["resource_id"]) == {instance_id}
    assert set(frame["metric"]) == set(LIVE_METRICS)
    assert _values(frame, "cpu") == {at[0]: 20.0, at[1]: 95.0}  # averaged per minute
    assert _values(frame, "network_in") == {at[0]: 1500.0}  # summed per minute
    assert _values(frame, "network_out") == {at[1]: 250.0}
    assert _values(frame, "disk_read") == {at[0]: 42.0}  # reads and writes stay apart
    assert _values(frame, "disk_write") == {at[1]: 60.0}
    assert _values(frame, "memory") == {at[1]: 42.5}  # from the CloudWatch agent
    assert proxy.seen.count("GetMetricData") == 1


def test_database_rates_per_second_become_operations_and_bytes_per_minute(
    proxy: FaultProxy, moto_endpoint: str, aws_keys: dict[str, str], hour: datetime
) -> None:
    cloud = AwsCloud(aws_keys, regions=(REGION,), endpoint_url=proxy.url)
    database = cloud.provision(
        ProvisionRequest(
            name="stats-db", resource_type=ResourceType.DATABASE, region=REGION, size="db.t4g.micro",
            options={"subtype": "database", "engine": "postgres"},
        )
    )  # fmt: skip
    cloudwatch = _client(moto_endpoint, aws_keys, "cloudwatch")
    dimension = ("DBInstanceIdentifier", "stats-db")
    _put(cloudwatch, "AWS/RDS", dimension, "ReadIOPS", [(hour, 2.0)])
    _put(cloudwatch, "AWS/RDS", dimension, "WriteIOPS", [(hour, 0.5)])
    _put(cloudwatch, "AWS/RDS", dimension, "NetworkReceiveThroughput", [(hour, 100.0)])
    _put(cloudwatch, "AWS/RDS", dimension, "CPUUtilization", [(hour, 35.0)])
    frame = cloud.recent_metrics([database.id], start=hour, end=hour + 5 * MINUTE)
    found = {row["metric"]: row["value"] for row in frame.iter_rows(named=True)}
    assert found == {"cpu": 35.0, "disk_read": 120.0, "disk_write": 30.0, "network_in": 6000.0}
    assert set(frame["resource_id"]) == {database.id}
    assert set(frame["timestamp"]) == {hour}


def test_more_than_500_queries_are_asked_in_several_calls(
    proxy: FaultProxy, moto_endpoint: str, aws_keys: dict[str, str], hour: datetime
) -> None:
    ids = _instances(moto_endpoint, aws_keys, 90)  # six queries each: 540, more than one call holds
    cloudwatch = _client(moto_endpoint, aws_keys, "cloudwatch")
    for index, instance_id in enumerate(ids):
        _put(cloudwatch, "AWS/EC2", ("InstanceId", instance_id), "CPUUtilization", [(hour, float(index))])
    frame = AwsCloud(aws_keys, regions=(REGION,), endpoint_url=proxy.url).recent_metrics(
        ids, start=hour, end=hour + MINUTE
    )
    assert proxy.seen.count("GetMetricData") == 2  # 500 queries, then 40
    cpu = frame.filter(pl.col("metric") == "cpu")
    assert dict(zip(cpu["resource_id"], cpu["value"], strict=True)) == {i: float(n) for n, i in enumerate(ids)}


def test_one_throttled_call_is_retried_and_sustained_throttling_raises_throttled(
    proxy: FaultProxy, moto_endpoint: str, aws_keys: dict[str, str], hour: datetime
) -> None:
    (instance_id,) = _instances(moto_endpoint, aws_keys, 1)
    _put(_client(moto_endpoint, aws_keys, "cloudwatch"), "AWS/EC2", ("InstanceId", instance_id), "CPUUtilization",
         [(hour, 12.0)])  # fmt: skip
    cloud = AwsCloud(aws_keys, regions=(REGION,), endpoint_url=proxy.url)
    proxy.inject("GetMetricData", "throttle")
    frame = cloud.recent_metrics([instance_id], start=hour, end=hour + MINUTE)
    assert _values(frame, "cpu") == {hour: 12.0}
    assert proxy.seen.count("GetMetricData") == 2  # the throttled call and its retry

    for _ in range(3):  # as many as the live client's attempts
        proxy.inject("GetMetricData", "throttle")
    with pytest.raises(Throttled, match="Rate exceeded"):
        cloud.recent_metrics([instance_id], start=hour, end=hour + MINUTE)
    assert [fault for action, fault in proxy.injected if action == "GetMetricData"] == ["throttle"] * 4


def test_volumes_and_buckets_have_no_live_metrics(
    proxy: FaultProxy, moto_endpoint: str, aws_keys: dict[str, str], hour: datetime
) -> None:
    volume = _client(moto_endpoint, aws_keys, "ec2").create_volume(AvailabilityZone=f"{REGION}a", Size=20)
    frame = AwsCloud(aws_keys, regions=(REGION,), endpoint_url=proxy.url).recent_metrics(
        [volume["VolumeId"], "arn:aws:s3:::wedsync-photos"], start=hour, end=hour + MINUTE
    )
    assert frame.is_empty()
    assert frame.schema == METRICS_SCHEMA
    assert "GetMetricData" not in proxy.seen
