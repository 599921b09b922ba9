"""The optimisation inputs of a real cloud through Dagster: an AWS account on a moto server, its
instances read with boto3, their CloudWatch metrics (put first, as moto returns only what was put)
read with GetMetricData, and prices from the shipped snapshot when the Price List API cannot be
reached; then the analysis finds the idle instance and only it, priced at the list price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.aws import credentials as aws_credentials
from clouds.price_snapshot import shipped
from control_plane.crypto import load_cipher
from control_plane.services.providers import create_cloud_provider
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import RecommendationRow
from pipelines.definitions import build_definitions
from pipelines.materialize import QUIET, dagster_instance, register_sources
from pipelines.settings import PipelineSettings
from wedcloud.home import HomeLayout

pytestmark = [pytest.mark.integration]
REGION = "eu-west-2"


def _put_hourly(cloudwatch: Any, instance_id: str, cpu: float, network_bytes: float, end: datetime) -> None:
    """Fourteen days of hourly CPU and network samples for one instance."""
    data: list[dict[str, Any]] = []
    for hour in range(14 * 24):
        at = end - timedelta(hours=hour + 1)
        dimensions = [{"Name": "InstanceId", "Value": instance_id}]
        for name, value, unit in (
            ("CPUUtilization", cpu, "Percent"),
            ("NetworkIn", network_bytes, "Bytes"),
            ("NetworkOut", network_bytes, "Bytes"),
        ):
            data.append({"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value, "Unit": unit})
    for first in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=data[first : first + 500])


def test_an_aws_accounts_inventory_metrics_and_prices_flow_into_an_idle_recommendation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    layout = HomeLayout(tmp_path / "home").ensure()
    monkeypatch.setenv("DAGSTER_HOME", str(layout.dagster_home))
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    session = aws_credentials.session_for(aws_keys, REGION)
    ec2 = aws_credentials.client(session, "ec2", moto_endpoint)
    idle, busy = (
        i["InstanceId"]
        for i in ec2.run_instances(ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="m5.large")["Instances"]
    )
    cloudwatch = aws_credentials.client(session, "cloudwatch", moto_endpoint)
    _put_hourly(cloudwatch, idle, cpu=0.8, network_bytes=2_000_000, end=now)
    _put_hourly(cloudwatch, busy, cpu=55.0, network_bytes=9_000_000_000, end=now)

    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    with Session(engine) as db, db.begin():
        create_cloud_provider(
            db, load_cipher(layout.root), kind="aws", name="wedsync-aws", default_region=REGION,
            credentials=aws_keys, settings={"endpoint_url": moto_endpoint},
        )  # fmt: skip
    defs = build_definitions(PipelineSettings(home=layout.root, now=now))
    with dagster_instance(layout.dagster_home) as instance:
        register_sources(instance, ["wedsync-aws"])
        inputs = defs.resolve_job_def("optimisation_inputs").execute_in_process(
            instance=instance, run_config=QUIET, partition_key="wedsync-aws"
        )
        assert inputs.success
        prices = inputs.asset_materializations_for_node("price_catalogue")[0].metadata["regions"].value
        assert (
            defs.resolve_job_def("publish_serving_snapshot")
            .execute_in_process(instance=instance, run_config=QUIET)
            .success
        )

    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        inventory = dict(con.execute("SELECT resource_id, size FROM inventory WHERE subtype = 'instance'").fetchall())
        samples = dict(con.execute("SELECT metric, count(*) FROM utilisation GROUP BY 1").fetchall())
    assert inventory == {idle: "m5.large", busy: "m5.large"}
    # 14 days of hourly samples per instance, read back in 5-minute periods: one period an hour has data
    assert samples == {"cpu_percent": 2 * 14 * 24, "network_in_bytes": 2 * 14 * 24, "network_out_bytes": 2 * 14 * 24}
    assert prices[REGION].startswith("snapshot")  # moto has no Price List API

    with Session(engine) as db:
        recs = list(db.scalars(select(RecommendationRow)))
    engine.dispose()
    removals = [r for r in recs if r.action in ("stop", "terminate", "delete")]
    assert [(r.resource_id, r.kind) for r in removals] == [(idle, "idle")]
    listed = shipped("aws", REGION)
    assert listed is not None
    m5 = listed.instance_type("m5.large")
    assert m5 is not None
    assert removals[0].monthly_saving == m5.hourly_price * 730
    assert removals[0].evidence["rate_basis"] == "list"
    assert Decimal(removals[0].evidence["cpu_p95_of_hourly_max_percent"]) < 3
