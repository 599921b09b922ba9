"""The collector over a real cloud's SDK: an AWS provider pointed at the moto server, its
instances synced into the store, CloudWatch data put for them, and one cycle storing it."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from control_plane.crypto import Cipher
from control_plane.monitoring.collector import run_cycle
from control_plane.monitoring.settings import MonitorSettings
from control_plane.services import inventory
from control_plane.services.providers import adapter_for, create_cloud_provider
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import MetricSample, MonitorStatus
from wedcloud.home import HomeLayout

AMI = "ami-12c6146b"


def test_a_cycle_reads_cloudwatch_through_boto3_and_stores_each_instances_samples(
    sqlite_engine: Engine, moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path
) -> None:
    sessions, cipher, layout = make_sessionmaker(sqlite_engine), Cipher(secrets.token_bytes(32)), HomeLayout(tmp_path)
    keys = {"aws_access_key_id": aws_keys["access_key_id"], "aws_secret_access_key": aws_keys["secret_access_key"]}
    ec2 = boto3.client("ec2", region_name="eu-west-2", endpoint_url=moto_endpoint, **keys)
    launched = ec2.run_instances(ImageId=AMI, MinCount=2, MaxCount=2, InstanceType="t3.micro")["Instances"]
    ids = sorted(i["InstanceId"] for i in launched)
    now = datetime.now(UTC).replace(second=10, microsecond=0)
    cloudwatch = boto3.client("cloudwatch", region_name="eu-west-2", endpoint_url=moto_endpoint, **keys)
    for index, instance in enumerate(ids):  # CloudWatch's one-minute points, the last 3 minutes
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=[
            {"MetricName": "CPUUtilization", "Dimensions": [{"Name": "InstanceId", "Value": instance}],
             "Timestamp": now.replace(second=0) - timedelta(minutes=minutes), "Value": 40.0 + 10 * index + minutes,
             "Unit": "Percent"}
            for minutes in (1, 2, 3)
        ])  # fmt: skip
    with sessions() as session, session.begin():
        provider = create_cloud_provider(
            session, cipher, kind="aws", name="aws-prod", default_region="eu-west-2", credentials=aws_keys,
            settings={"endpoint_url": moto_endpoint},
        )  # fmt: skip
        session.flush()
        inventory.sync(
            session, provider, adapter_for(provider, session=session, layout=layout, cipher=cipher).list_resources()
        )

    def adapters(provider: Provider, session: Session):  # type: ignore[no-untyped-def]
        return adapter_for(provider, session=session, layout=layout, cipher=cipher)

    report = run_cycle(sessions, now=now, settings=MonitorSettings(), layout=layout, environment="test",
                       adapters=adapters)  # fmt: skip
    assert [(p.name, p.ok) for p in report.providers] == [("aws-prod", True)]
    with sessions() as session:
        by_cloud_id = {r.id: r.cloud_id for r in session.scalars(select(Resource))}
        stored = sorted(
            (by_cloud_id[s.resource_id], s.at, s.cpu) for s in session.scalars(select(MetricSample))
            if s.cpu is not None
        )  # fmt: skip
        status = session.scalars(select(MonitorStatus).where(MonitorStatus.name.like("provider:%"))).one()
    minute = now.replace(second=0)
    assert stored == sorted(
        (instance, minute - timedelta(minutes=m), 40.0 + 10 * index + m) for index, instance in enumerate(ids)
        for m in (1, 2, 3)
    )  # fmt: skip
    assert status.ok
    assert status.last_success_at == now
