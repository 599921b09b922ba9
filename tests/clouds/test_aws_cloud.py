"""The AWS adapter through boto3 against a moto server over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

from clouds.aws import credentials as aws_credentials
from clouds.aws.provider import AwsCloud
from clouds.base import ProvisionRequest, ResourceState, ResourceType, ScaleRequest
from clouds.errors import InvalidStateTransition, ResourceNotFound, UnsupportedRequest

pytestmark = pytest.mark.integration

AMI = "ami-12c6146b"  # one of the images moto ships


def _cloud(moto_endpoint: str, keys: dict[str, str], regions: tuple[str, ...] = ("eu-west-2",)) -> AwsCloud:
    return AwsCloud(keys, regions=regions, endpoint_url=moto_endpoint)


def _ec2(moto_endpoint: str, keys: dict[str, str], region: str = "eu-west-2") -> Any:
    return aws_credentials.client(aws_credentials.session_for(keys, region), "ec2", moto_endpoint)


def test_inventory_follows_every_page_of_instances_and_lists_volumes_and_buckets(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=130, MaxCount=130)
    ec2.create_volume(AvailabilityZone="eu-west-2a", Size=20, VolumeType="gp3")
    s3 = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "s3", moto_endpoint)
    s3.create_bucket(Bucket="wedsync-photos", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    aws_credentials.client(aws_credentials.session_for(aws_keys, "us-east-1"), "s3", moto_endpoint).create_bucket(
        Bucket="elsewhere"
    )
    found = list(_cloud(moto_endpoint, aws_keys).list_resources())
    instances = [r for r in found if r.subtype == "instance"]
    assert len(instances) == 130
    assert {r.state for r in instances} == {ResourceState.RUNNING}
    assert {r.size for r in instances} == {"t3.micro"}
    volumes = [r for r in found if r.subtype == "volume"]
    assert [v.size for v in volumes if v.attached_to is None] == ["20GB"]
    assert {v.attached_to for v in volumes if v.attached_to} == {i.id for i in instances}  # their root volumes
    assert [r.name for r in found if r.subtype == "bucket"] == ["wedsync-photos"]


def test_connection_names_the_identity_and_finds_every_permission(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    check = _cloud(moto_endpoint, aws_keys).test_connection()
    assert check.ok, check.detail
    assert check.identity.startswith("arn:aws:")
    assert list(check.missing_permissions) == []


def test_regions_come_from_ec2(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    regions = {r.id: r.geography for r in _cloud(moto_endpoint, aws_keys).list_regions()}
    assert regions["eu-west-2"] == "Europe"
    assert regions["us-east-1"] == "North America"


def test_an_instance_is_provisioned_stopped_resized_started_and_terminated(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    made = cloud.provision(
        ProvisionRequest(
            name="web-1", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.small", image=AMI,
            tags={"team": "weddings"},
        )
    )  # fmt: skip
    assert (made.name, made.size, made.tags["team"]) == ("web-1", "t3.small", "weddings")
    assert cloud.stop(made.id).state == ResourceState.STOPPED
    resized = cloud.scale(made.id, ScaleRequest(size="t3.large"))
    assert (resized.size, resized.state) == ("t3.large", ResourceState.STOPPED)
    assert cloud.start(made.id).state == ResourceState.RUNNING
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED


def test_a_retried_provision_with_the_same_client_token_makes_one_instance(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    request = ProvisionRequest(
        name="once", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.micro", image=AMI,
        options={"client_token": "op-123"},
    )  # fmt: skip
    first, second = cloud.provision(request), cloud.provision(request)
    assert first.id == second.id
    assert len([r for r in cloud.list_resources() if r.subtype == "instance"]) == 1


def test_unknown_instances_and_unsupported_kinds_are_refused(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    with pytest.raises(ResourceNotFound):
        cloud.stop("i-0123456789abcdef0")
    with pytest.raises(UnsupportedRequest, match="AMI"):
        cloud.provision(
            ProvisionRequest(name="x", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.micro")
        )


def _storage(name: str, size: str, subtype: str, **options: Any) -> ProvisionRequest:
    return ProvisionRequest(
        name=name, resource_type=ResourceType.STORAGE, region="eu-west-2", size=size,
        tags={"team": "photos"}, options={"subtype": subtype, **options},
    )  # fmt: skip


def test_a_bucket_is_made_once_per_token_retagged_and_removed(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    request = _storage("wedsync-albums", "STANDARD_IA", "bucket", client_token="op-b1")
    made = cloud.provision(request)
    assert (made.id, made.region, made.details["storage_class"]) == (
        "arn:aws:s3:::wedsync-albums", "eu-west-2", "STANDARD_IA",
    )  # fmt: skip
    assert cloud.provision(request).id == made.id  # a retry of the same operation
    with pytest.raises(UnsupportedRequest, match="already has a bucket"):
        cloud.provision(_storage("wedsync-albums", "STANDARD", "bucket", client_token="op-b2"))
    retagged = cloud.tag(made.id, {"team": "albums", "env": "prod"})
    assert (retagged.tags["team"], retagged.tags["env"]) == ("albums", "prod")
    assert retagged.tags["wedcloud:operation"] == "op-b1"  # WedCloud's own tags survive a retag
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    assert [r for r in cloud.list_resources() if r.subtype == "bucket"] == []


def test_a_volume_is_made_once_per_token_and_deleted(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    request = _storage("scratch", "50GB", "volume", client_token="op-v1", volume_type="gp2")
    made = cloud.provision(request)
    assert (made.size, made.details["volume_type"], made.attached_to) == ("50GB", "gp2", None)
    assert cloud.provision(request).id == made.id
    assert cloud.describe(made.id).tags["team"] == "photos"
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


def test_a_database_is_made_resized_stopped_started_and_deleted_with_a_final_snapshot(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    request = ProvisionRequest(
        name="bookings-db", resource_type=ResourceType.DATABASE, region="eu-west-2", size="db.t4g.micro",
        options={"subtype": "database", "engine": "postgres", "storage_gb": 50, "client_token": "op-d1"},
    )  # fmt: skip
    made = cloud.provision(request)
    assert (made.subtype, made.size, made.details["engine"], made.details["storage_gb"]) == (
        "database", "db.t4g.micro", "postgres", 50,
    )  # fmt: skip
    assert cloud.provision(request).id == made.id
    assert [r.id for r in cloud.list_resources() if r.subtype == "database"] == [made.id]
    assert cloud.scale(made.id, ScaleRequest(size="db.t4g.small")).size == "db.t4g.small"
    assert cloud.stop(made.id).state == ResourceState.STOPPED
    assert cloud.start(made.id).state in (ResourceState.RUNNING, ResourceState.PROVISIONING)
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    rds = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "rds", moto_endpoint)
    snapshots = rds.describe_db_snapshots(DBInstanceIdentifier="bookings-db")["DBSnapshots"]
    assert [s["DBSnapshotIdentifier"].startswith("bookings-db-final-") for s in snapshots] == [True]


def test_an_auto_scaling_group_is_made_scaled_within_its_bounds_and_deleted(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.small"}
    )
    cloud = _cloud(moto_endpoint, aws_keys)
    made = cloud.provision(
        ProvisionRequest(
            name="web-fleet", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.small",
            options={"subtype": "instance_group", "launch_template": "web", "min": 1, "max": 5, "desired": 2},
        )
    )  # fmt: skip
    assert made.id.startswith("arn:aws:autoscaling:eu-west-2:")
    assert (made.details["min"], made.details["max"], made.details["desired"]) == (1, 5, 2)
    listed = {r.id: r for r in cloud.list_resources()}
    assert listed[made.id].subtype == "instance_group"
    scaled = cloud.scale(made.id, ScaleRequest(capacity=4))
    assert (scaled.details["desired"], scaled.size) == (4, "4")
    with pytest.raises(UnsupportedRequest, match=r"bounds 1\.\.5"):
        cloud.scale(made.id, ScaleRequest(capacity=6))
    with pytest.raises(UnsupportedRequest, match="scale the group to 0"):
        cloud.stop(made.id)
    assert cloud.terminate(made.id).state == ResourceState.TERMINATED
    with pytest.raises(ResourceNotFound):
        cloud.describe(made.id)


@pytest.mark.parametrize(
    ("request_", "field", "words"),
    [
        (_storage("Bad_Name", "STANDARD", "bucket"), "name", "S3 bucket name"),
        (_storage("192.168.1.10", "STANDARD", "bucket"), "name", "not an IP address"),
        (_storage("photos-2026", "COLD", "bucket"), "size", "storage class"),
        (_storage("scratch", "10GB", "volume", volume_type="fast"), "options", "volume_type"),
        (
            ProvisionRequest(name="1db", resource_type=ResourceType.DATABASE, region="eu-west-2", size="t3.micro",
                             options={"subtype": "database", "engine": "oracle", "storage_gb": 5}),
            "name", "RDS identifier",
        ),
        (
            ProvisionRequest(name="fleet", resource_type=ResourceType.COMPUTE, region="eu-west-2", size="t3.micro",
                             options={"subtype": "instance_group"}),
            "options", "launch_template",
        ),
    ],
)  # fmt: skip
def test_requests_aws_would_refuse_are_named_before_any_call(
    request_: ProvisionRequest, field: str, words: str
) -> None:
    problems = AwsCloud.provision_problems(request_)
    assert any(name == field and words in message for name, message in problems), problems


def test_a_database_request_names_every_problem_at_once() -> None:
    request = ProvisionRequest(
        name="db--x", resource_type=ResourceType.DATABASE, region="eu-west-2", size="t3.micro",
        options={"subtype": "database", "engine": "oracle", "storage_gb": 5},
    )  # fmt: skip
    assert [name for name, _ in AwsCloud.provision_problems(request)] == ["name", "size", "options", "options"]


def test_cloudwatch_samples_come_back_per_period_as_wedcloud_metrics(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    (instance,) = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"]
    instance_id = instance["InstanceId"]
    cloudwatch = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "cloudwatch", moto_endpoint)
    hour = datetime(2026, 11, 26, 9, tzinfo=UTC)
    points = {
        "CPUUtilization": [(0, 10.0), (2, 30.0), (7, 80.0)],  # minutes past the hour, value
        "NetworkIn": [(1, 1000.0), (3, 500.0)],
        "EBSReadOps": [(1, 40.0)],
        "EBSWriteOps": [(2, 60.0), (6, 5.0)],
    }
    for name, samples in points.items():
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=[
            {"MetricName": name, "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
             "Timestamp": hour + timedelta(minutes=minute), "Value": value}
            for minute, value in samples
        ])  # fmt: skip
    frame = _cloud(moto_endpoint, aws_keys).get_metrics(
        [instance_id], start=hour, end=hour + timedelta(minutes=10), period=timedelta(minutes=5)
    )
    found = {(row["metric"], row["timestamp"].minute): row["value"] for row in frame.iter_rows(named=True)}
    assert found == {
        ("cpu_percent", 0): 20.0, ("cpu_percent", 5): 80.0,  # averaged per five minutes
        ("network_in_bytes", 0): 1500.0,  # summed
        ("disk_io_ops", 0): 100.0, ("disk_io_ops", 5): 5.0,  # EBS reads plus writes
    }  # fmt: skip
    assert "memory_percent" not in frame["metric"].to_list()  # no CloudWatch agent: absent, not zero
    assert frame["timestamp"].dtype == pl.Datetime("us", "UTC")


def test_metrics_of_many_resources_are_asked_500_queries_at_a_time(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    instances = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=90, MaxCount=90)["Instances"]
    cloudwatch = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "cloudwatch", moto_endpoint)
    moment = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    for index, instance in enumerate(instances):
        cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=[
            {"MetricName": "CPUUtilization", "Dimensions": [{"Name": "InstanceId", "Value": instance["InstanceId"]}],
             "Timestamp": moment, "Value": float(index)}
        ])  # fmt: skip
    ids = [i["InstanceId"] for i in instances]  # six queries each: 540, more than one call holds
    cloud = _cloud(moto_endpoint, aws_keys)
    calls: list[int] = []
    cloud.client("cloudwatch").meta.events.register(  # the adapter keeps this client for every call
        "provide-client-params.cloudwatch.GetMetricData",
        lambda params, **_: calls.append(len(params["MetricDataQueries"])),
    )
    frame = cloud.get_metrics(ids, start=moment - timedelta(hours=1), end=moment)
    assert calls == [500, 40]
    cpu = frame.filter(pl.col("metric") == "cpu_percent")
    assert dict(zip(cpu["resource_id"], cpu["value"], strict=True)) == {i: float(n) for n, i in enumerate(ids)}


def test_database_rates_per_second_become_totals_per_period(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    database = cloud.provision(
        ProvisionRequest(
            name="stats-db", resource_type=ResourceType.DATABASE, region="eu-west-2", size="db.t4g.micro",
            options={"subtype": "database", "engine": "postgres"},
        )
    )  # fmt: skip
    cloudwatch = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "cloudwatch", moto_endpoint)
    hour = datetime(2026, 11, 26, 9, tzinfo=UTC)
    dimensions = [{"Name": "DBInstanceIdentifier", "Value": "stats-db"}]
    cloudwatch.put_metric_data(Namespace="AWS/RDS", MetricData=[
        {"MetricName": "ReadIOPS", "Dimensions": dimensions, "Timestamp": hour, "Value": 2.0},
        {"MetricName": "CPUUtilization", "Dimensions": dimensions, "Timestamp": hour, "Value": 35.0},
    ])  # fmt: skip
    frame = cloud.get_metrics([database.id], start=hour, end=hour + timedelta(hours=1))
    found = {row["metric"]: row["value"] for row in frame.iter_rows(named=True)}
    assert found == {"cpu_percent": 35.0, "disk_io_ops": 7200.0}  # 2 a second for an hour
    assert set(frame["resource_id"]) == {database.id}


def test_an_untagged_bucket_is_adopted_by_a_retry_only_while_it_is_new(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    """A crash between creating a bucket and tagging it leaves it untagged: the retry adopts it.
    An untagged bucket made long ago is someone else's and is never taken over."""
    s3 = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "s3", moto_endpoint)
    location = {"LocationConstraint": "eu-west-2"}
    s3.create_bucket(Bucket="half-made", CreateBucketConfiguration=location)
    s3.create_bucket(Bucket="handmade", CreateBucketConfiguration=location)
    cloud = _cloud(moto_endpoint, aws_keys)
    adopted = cloud.provision(_storage("half-made", "STANDARD", "bucket", client_token="op-crash"))
    assert adopted.tags["wedcloud:operation"] == "op-crash"
    cloud.clock = lambda: datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(UnsupportedRequest, match="already has a bucket"):
        cloud.provision(_storage("handmade", "STANDARD", "bucket", client_token="op-late"))
    assert "wedcloud:operation" not in cloud.describe("arn:aws:s3:::handmade").tags


# -- Elastic IP addresses, state_since and architecture --------------------------------------------
ARM_AMI = "ami-0e9271c829888680e"  # moto's arm64 image (Amazon Linux 2022)


def test_elastic_ips_are_listed_attached_to_their_instance_their_interface_or_nothing(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    (instance,) = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"]
    on_instance = ec2.allocate_address(
        Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "web"}]}]
    )
    ec2.associate_address(AllocationId=on_instance["AllocationId"], InstanceId=instance["InstanceId"])
    interface = ec2.create_network_interface(SubnetId=instance["SubnetId"])["NetworkInterface"]["NetworkInterfaceId"]
    on_interface = ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=on_interface["AllocationId"], NetworkInterfaceId=interface)
    idle = ec2.allocate_address(Domain="vpc")
    classic = ec2.allocate_address(Domain="standard")  # EC2-Classic: no allocation id to act on it by
    assert "AllocationId" not in classic
    found = {r.id: r for r in _cloud(moto_endpoint, aws_keys).list_resources() if r.subtype == "address"}
    assert set(found) == {on_instance["AllocationId"], on_interface["AllocationId"], idle["AllocationId"]}
    web = found[on_instance["AllocationId"]]
    assert (web.resource_type, web.state, web.size, web.name) == (
        ResourceType.NETWORK,
        ResourceState.AVAILABLE,
        None,
        "web",
    )
    assert web.attached_to == instance["InstanceId"]
    assert web.details["ip"] == on_instance["PublicIp"]
    assert web.details["allocation"] == "static"
    assert found[on_interface["AllocationId"]].attached_to == interface  # an interface without an instance
    unattached = found[idle["AllocationId"]]
    assert (unattached.attached_to, unattached.details["ip"]) == (None, idle["PublicIp"])
    assert "state_since" not in unattached.details  # EC2 does not say since when: never guessed
    assert _cloud(moto_endpoint, aws_keys).describe(idle["AllocationId"]) == unattached


def test_terminating_an_unattached_elastic_ip_releases_it_and_an_associated_one_is_refused(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    (instance,) = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"]
    idle, busy = ec2.allocate_address(Domain="vpc"), ec2.allocate_address(Domain="vpc")
    ec2.associate_address(AllocationId=busy["AllocationId"], InstanceId=instance["InstanceId"])
    cloud = _cloud(moto_endpoint, aws_keys)
    released = cloud.terminate(idle["AllocationId"])
    assert (released.subtype, released.state) == ("address", ResourceState.TERMINATED)
    assert [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]] == [busy["AllocationId"]]
    with pytest.raises(ResourceNotFound):
        cloud.describe(idle["AllocationId"])
    with pytest.raises(InvalidStateTransition, match=instance["InstanceId"]):
        cloud.terminate(busy["AllocationId"])
    assert cloud.describe(busy["AllocationId"]).attached_to == instance["InstanceId"]
    with pytest.raises(UnsupportedRequest, match="an address cannot stop"):
        cloud.stop(busy["AllocationId"])


def test_an_elastic_ip_is_retagged_keeping_its_name(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    address = ec2.allocate_address(
        Domain="vpc", TagSpecifications=[{"ResourceType": "elastic-ip", "Tags": [{"Key": "Name", "Value": "ip-1"}]}]
    )
    tagged = _cloud(moto_endpoint, aws_keys).tag(address["AllocationId"], {"team": "web"})
    assert tagged.tags == {"Name": "ip-1", "team": "web"}


def test_a_stopped_instance_reports_when_ec2_stopped_it_and_a_running_one_when_it_was_launched(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    (instance,) = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"]
    cloud = _cloud(moto_endpoint, aws_keys)
    running = cloud.describe(instance["InstanceId"])
    assert running.details["state_since"] == instance["LaunchTime"]
    before = datetime.now(UTC).replace(microsecond=0)
    stopped = cloud.stop(instance["InstanceId"])
    after = datetime.now(UTC)
    # moto writes "User initiated (<now> UTC)" as EC2 writes "... GMT)": the stop time, to the second
    reason = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0]
    assert reason["StateTransitionReason"].startswith("User initiated (")
    since = stopped.details["state_since"]
    assert since.tzinfo is not None
    assert before - timedelta(seconds=1) <= since <= after
    listed = {r.id: r for r in cloud.list_resources()}
    assert listed[instance["InstanceId"]].details["state_since"] == since


def test_ec2_state_transition_reasons_are_read_as_utc_and_others_give_no_time() -> None:
    from clouds.aws.compute import _transition_time

    assert _transition_time("User initiated (2026-11-01 10:00:00 GMT)") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert _transition_time("User initiated (2026-11-01 10:00:00 UTC)") == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert _transition_time("Server.SpotInstanceTermination") is None
    assert _transition_time("") is None
    assert _transition_time(None) is None


def test_instances_report_their_architecture_as_x86_64_or_arm64(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    (intel,) = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"]
    (graviton,) = ec2.run_instances(ImageId=ARM_AMI, InstanceType="t4g.micro", MinCount=1, MaxCount=1)["Instances"]
    found = {r.id: r for r in _cloud(moto_endpoint, aws_keys).list_resources() if r.subtype == "instance"}
    assert found[intel["InstanceId"]].details["architecture"] == "x86_64"
    assert found[graviton["InstanceId"]].details["architecture"] == "arm64"


def test_an_attached_volume_reports_when_it_was_attached_and_a_detached_one_says_nothing(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _ec2(moto_endpoint, aws_keys)
    (instance,) = ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)["Instances"]
    spare = ec2.create_volume(AvailabilityZone=instance["Placement"]["AvailabilityZone"], Size=30)["VolumeId"]
    found = {r.id: r for r in _cloud(moto_endpoint, aws_keys).list_resources() if r.subtype == "volume"}
    (root,) = [v for v in found.values() if v.attached_to == instance["InstanceId"]]
    attached = ec2.describe_volumes(VolumeIds=[root.id])["Volumes"][0]["Attachments"][0]["AttachTime"]
    assert root.details["state_since"] == attached
    assert "state_since" not in found[spare].details  # EC2 does not say when a volume was detached


def test_the_adapter_makes_one_client_per_service_and_region_however_many_calls_it_makes(
    moto_endpoint: str, aws_keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[tuple[str, str]] = []
    real = aws_credentials.client

    def counting(session: Any, service: str, *args: Any, **kwargs: Any) -> Any:
        made.append((service, session.region_name))
        return real(session, service, *args, **kwargs)

    monkeypatch.setattr(aws_credentials, "client", counting)
    cloud = _cloud(moto_endpoint, aws_keys, regions=("eu-west-2", "eu-west-1"))
    list(cloud.list_resources())
    first = list(made)
    list(cloud.list_resources())
    cloud.list_regions()
    assert len(first) == len(set(first)), f"a client was made twice in one listing: {first}"
    assert {region for _, region in first} == {"eu-west-2", "eu-west-1"}
    assert made == first  # the second listing and a call in the default region made none
