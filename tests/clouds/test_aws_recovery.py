"""Disaster recovery through the AWS adapter against the moto server: snapshots of a volume, an RDS
database and an instance, copied to another region and restored there; listing and deleting."""

from __future__ import annotations

from typing import Any

import pytest

from clouds.aws import credentials as aws_credentials
from clouds.aws.provider import AwsCloud
from clouds.base import ProvisionRequest, ResourceState, ResourceType
from clouds.errors import CloudError, ResourceNotFound, UnsupportedRequest
from tests.clouds.moto_inventory import moto_inventory
from tests.emulators.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration
PRIMARY, DR = "eu-west-2", "eu-west-1"
AMI = "ami-12c6146b"  # one of the images moto ships
PLAN = {"wedcloud:plan": "plan-7"}
DRILL = {"wedcloud:drill": "drill-3"}


def _cloud(moto_endpoint: str, keys: dict[str, str], regions: tuple[str, ...] = (PRIMARY, DR)) -> AwsCloud:
    return AwsCloud(keys, regions=regions, endpoint_url=moto_endpoint)


def _client(moto_endpoint: str, keys: dict[str, str], service: str, region: str) -> Any:
    return aws_credentials.client(aws_credentials.session_for(keys, region), service, moto_endpoint)


def _provision(cloud: AwsCloud, subtype: str, name: str, size: str, **fields: Any) -> str:
    kind = {"volume": ResourceType.STORAGE, "database": ResourceType.DATABASE}.get(subtype, ResourceType.COMPUTE)
    request = ProvisionRequest(name=name, resource_type=kind, region=PRIMARY, size=size, **fields)
    return cloud.provision(request).id


def _volume(cloud: AwsCloud) -> str:
    return _provision(cloud, "volume", "albums-disk", "30GB", options={"subtype": "volume"})


def _database(cloud: AwsCloud) -> str:
    return _provision(cloud, "database", "bookings-db", "db.t3.micro",
                      options={"subtype": "database", "engine": "postgres", "storage_gb": 20})  # fmt: skip


def _instance(cloud: AwsCloud) -> str:
    return _provision(cloud, "instance", "web-1", "t3.small", image=AMI, options={"subtype": "instance"})


def _backup_and_restore(cloud: AwsCloud, resource_id: str, size: str | None = None) -> tuple[Any, Any, Any]:
    taken = cloud.snapshot(resource_id, name="nightly-0612", tags=PLAN)
    copied = cloud.copy_snapshot(taken.id, region=DR, name="nightly-0612-dr", tags={**PLAN, "wedcloud:backup": "b-1"})
    restored = cloud.restore(copied.id, region=DR, name="drill-copy", tags=DRILL, size=size)
    return taken, copied, restored


def _repeat_changes_nothing(moto_endpoint: str, keys: dict[str, str], cloud: AwsCloud, resource_id: str,
                            first: tuple[Any, Any, Any], size: str | None = None) -> None:  # fmt: skip
    before = moto_inventory(moto_endpoint, (PRIMARY, DR), keys=keys)
    again = _backup_and_restore(cloud, resource_id, size)
    assert [again[0].id, again[1].id, again[2].id] == [first[0].id, first[1].id, first[2].id]
    assert moto_inventory(moto_endpoint, (PRIMARY, DR), keys=keys) == before


def test_a_volume_is_snapshotted_copied_to_the_dr_region_and_restored_there_once(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    volume = _volume(cloud)
    taken, copied, restored = _backup_and_restore(cloud, volume)
    assert (taken.kind, taken.region, taken.resource_id, taken.size_gb) == ("volume", PRIMARY, volume, 30)
    assert (taken.name, dict(taken.tags), taken.state) == ("nightly-0612", PLAN, "completed")
    assert taken.completed_at is not None
    assert taken.completed_at.tzinfo is not None
    assert (copied.kind, copied.region, copied.resource_id) == ("volume", DR, volume)
    assert (copied.source_snapshot_id, copied.name) == (taken.id, "nightly-0612-dr")
    assert dict(copied.tags) == {**PLAN, "wedcloud:backup": "b-1"}
    assert (restored.subtype, restored.region, restored.size, restored.name) == ("volume", DR, "30GB", "drill-copy")
    assert restored.zone.startswith(DR)
    assert restored.tags == {"Name": "drill-copy", **DRILL}
    assert cloud.describe(restored.id) == restored
    _repeat_changes_nothing(moto_endpoint, aws_keys, cloud, volume, (taken, copied, restored))


def test_a_database_is_snapshotted_copied_and_restored_in_the_dr_region_at_the_size_asked(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    database = _database(cloud)
    taken, copied, restored = _backup_and_restore(cloud, database, size="db.t3.small")
    assert (taken.kind, taken.region, taken.resource_id) == ("database", PRIMARY, database)
    assert taken.id.startswith(f"arn:aws:rds:{PRIMARY}:")
    assert taken.id.endswith(":snapshot:nightly-0612")
    assert (taken.state, dict(taken.tags), taken.size_gb) == ("completed", PLAN, 20)
    assert copied.id.startswith(f"arn:aws:rds:{DR}:")
    assert copied.id.endswith(":snapshot:nightly-0612-dr")
    assert (copied.region, copied.source_snapshot_id, copied.resource_id) == (DR, taken.id, database)
    assert restored.id.startswith(f"arn:aws:rds:{DR}:")
    assert (restored.subtype, restored.region, restored.name, restored.size) == ("database", DR, "drill-copy",
                                                                                 "db.t3.small")  # fmt: skip
    assert DRILL.items() <= restored.tags.items()
    assert cloud.describe(restored.id).tags == restored.tags
    _repeat_changes_nothing(moto_endpoint, aws_keys, cloud, database, (taken, copied, restored), size="db.t3.small")


def test_a_restored_database_keeps_its_source_class_when_no_size_is_given(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    taken = cloud.snapshot(_database(cloud), name="nightly")
    assert cloud.restore(taken.id, region=PRIMARY, name="bookings-restored").size == "db.t3.micro"


def test_an_instance_becomes_an_image_copied_and_launched_in_the_dr_region_with_its_type(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    instance = _instance(cloud)
    taken, copied, restored = _backup_and_restore(cloud, instance)
    assert taken.id.startswith("ami-")
    assert copied.id.startswith("ami-")
    assert copied.id != taken.id
    assert (taken.kind, taken.region, taken.resource_id, dict(taken.tags)) == ("instance", PRIMARY, instance, PLAN)
    assert (copied.kind, copied.region, copied.resource_id, copied.source_snapshot_id) == (
        "instance", DR, instance, taken.id
    )  # fmt: skip
    assert (restored.subtype, restored.region, restored.size) == ("instance", DR, "t3.small")
    assert restored.details["image"] == copied.id
    assert restored.tags == {"Name": "drill-copy", **DRILL}
    disks = _client(moto_endpoint, aws_keys, "ec2", DR).describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [restored.id]}]
    )["Volumes"]
    assert disks
    assert all(DRILL.items() <= {t["Key"]: t["Value"] for t in d["Tags"]}.items() for d in disks)
    _repeat_changes_nothing(moto_endpoint, aws_keys, cloud, instance, (taken, copied, restored))


def test_an_instance_restore_asks_for_the_size_given(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    image = cloud.snapshot(_instance(cloud), name="web-image")
    restored = cloud.restore(image.id, region=PRIMARY, name="web-bigger", size="t3.large")
    assert (restored.size, restored.region, restored.state) == ("t3.large", PRIMARY, ResourceState.RUNNING)


def test_a_snapshot_is_restored_only_in_the_region_that_stores_it(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    taken = cloud.snapshot(_volume(cloud), name="nightly")
    with pytest.raises(UnsupportedRequest, match="copy it to eu-west-1 first"):
        cloud.restore(taken.id, region=DR, name="too-far")


def test_a_name_that_holds_another_resources_snapshot_is_refused(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    first, second = cloud.snapshot(_volume(cloud), name="a"), cloud.snapshot(_volume(cloud), name="b")
    cloud.copy_snapshot(first.id, region=DR, name="copy")
    with pytest.raises(UnsupportedRequest, match="copy of another snapshot"):
        cloud.copy_snapshot(second.id, region=DR, name="copy")
    web, other = _instance(cloud), _instance(cloud)
    cloud.snapshot(web, name="web-image")
    with pytest.raises(UnsupportedRequest, match="another instance"):
        cloud.snapshot(other, name="web-image")


def test_snapshots_are_listed_by_region_and_by_tags(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    volume, database, instance = _volume(cloud), _database(cloud), _instance(cloud)
    ebs = cloud.snapshot(volume, name="disk", tags=PLAN)
    rds = cloud.snapshot(database, name="db", tags=PLAN)
    ami = cloud.snapshot(instance, name="web", tags=PLAN)
    untagged = cloud.snapshot(volume, name="by-hand")
    ebs_copy = cloud.copy_snapshot(ebs.id, region=DR, name="disk-dr", tags={**PLAN, "wedcloud:backup": "b-1"})
    rds_copy = cloud.copy_snapshot(rds.id, region=DR, name="db-dr", tags=PLAN)
    ami_copy = cloud.copy_snapshot(ami.id, region=DR, name="web-dr", tags=PLAN)

    def ids(**filters: Any) -> set[str]:
        return {snapshot.id for snapshot in cloud.list_snapshots(**filters)}

    # an AMI's disk snapshots go with it: they are not listed on their own
    assert ids() == {ebs.id, rds.id, ami.id, untagged.id, ebs_copy.id, rds_copy.id, ami_copy.id}
    assert ids(region=PRIMARY) == {ebs.id, rds.id, ami.id, untagged.id}
    assert ids(region=DR, tags=PLAN) == {ebs_copy.id, rds_copy.id, ami_copy.id}
    assert ids(tags={**PLAN, "wedcloud:backup": "b-1"}) == {ebs_copy.id}
    assert ids(tags={"wedcloud:plan": "another"}) == set()
    kinds = {s.id: s.kind for s in cloud.list_snapshots(region=DR)}
    assert kinds == {ebs_copy.id: "volume", rds_copy.id: "database", ami_copy.id: "instance"}
    assert cloud.describe_snapshot(ami_copy.id) == ami_copy


def test_deleting_snapshots_removes_them_an_images_disks_too_and_a_second_delete_is_fine(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    before = moto_inventory(moto_endpoint, (PRIMARY, DR), keys=aws_keys)
    made = [
        cloud.snapshot(_volume(cloud), name="disk"),
        cloud.snapshot(_database(cloud), name="db"),
        cloud.snapshot(_instance(cloud), name="web"),
    ]
    made.append(cloud.copy_snapshot(made[2].id, region=DR, name="web-dr"))
    ec2 = _client(moto_endpoint, aws_keys, "ec2", DR)
    copy_disks = [m["Ebs"]["SnapshotId"] for m in ec2.describe_images(ImageIds=[made[3].id])["Images"][0]
                  ["BlockDeviceMappings"]]  # fmt: skip
    assert copy_disks
    for snapshot in made:
        cloud.delete_snapshot(snapshot.id)
        cloud.delete_snapshot(snapshot.id)
        with pytest.raises(ResourceNotFound):
            cloud.describe_snapshot(snapshot.id)
    assert list(cloud.list_snapshots()) == []
    assert ec2.describe_snapshots(Filters=[{"Name": "snapshot-id", "Values": copy_disks}])["Snapshots"] == []
    assert ec2.describe_images(Owners=["self"])["Images"] == []
    after = moto_inventory(moto_endpoint, (PRIMARY, DR), keys=aws_keys)
    assert (after["snapshots"], after["images"], after["db_snapshots"]) == (
        before["snapshots"], before["images"], before["db_snapshots"]
    )  # fmt: skip


def test_a_snapshot_outside_the_adapters_regions_is_reached_by_its_arn(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    copied = cloud.copy_snapshot(cloud.snapshot(_volume(cloud), name="disk").id, region=DR, name="disk-dr")
    primary_only = _cloud(moto_endpoint, aws_keys, regions=(PRIMARY,))
    with pytest.raises(ResourceNotFound):
        primary_only.describe_snapshot(copied.id)
    assert primary_only.describe_snapshot(f"arn:aws:ec2:{DR}::snapshot/{copied.id}") == copied
    with pytest.raises(UnsupportedRequest, match="not an AWS snapshot id"):
        primary_only.describe_snapshot("backup-17")


def test_an_isolated_network_is_made_once_swept_by_its_tags_and_deleted_whole(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    before = moto_inventory(moto_endpoint, (PRIMARY, DR), keys=aws_keys)
    made = cloud.isolated_network(region=DR, name="wedcloud-drill-3", tags=DRILL)
    again = cloud.isolated_network(region=DR, name="wedcloud-drill-3", tags=DRILL)
    assert again == made
    assert (len(made.details["subnets"]), made.details["internet_gateways"]) == (2, [])
    assert [n.id for n in cloud.isolated_networks(region=DR, tags=DRILL)] == [made.id]
    assert cloud.isolated_networks(region=DR, tags={"wedcloud:drill": "another"}) == []
    assert cloud.delete_network(made.id, region=DR) is True
    assert cloud.delete_network(made.id, region=DR) is True  # gone already
    assert moto_inventory(moto_endpoint, (PRIMARY, DR), keys=aws_keys) == before


def test_deleting_a_network_wedcloud_did_not_isolate_is_refused(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    production = _client(moto_endpoint, aws_keys, "ec2", DR).describe_vpcs()["Vpcs"][0]["VpcId"]  # the default VPC
    with pytest.raises(UnsupportedRequest, match="no isolated network"):
        cloud.delete_network(production, region=DR)
    assert _client(moto_endpoint, aws_keys, "ec2", DR).describe_vpcs(VpcIds=[production])["Vpcs"]


def test_a_network_still_in_use_is_kept_for_a_later_call_and_then_deleted_whole(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    proxy = FaultProxy(moto_endpoint)
    try:
        cloud = _cloud(proxy.url, aws_keys)
        before = moto_inventory(moto_endpoint, (PRIMARY, DR), keys=aws_keys)
        made = cloud.isolated_network(region=DR, name="wedcloud-drill-4", tags=DRILL)
        proxy.inject("DeleteSubnet", "in_use")  # a copy's network interface outlives the copy a while
        assert cloud.delete_network(made.id, region=DR) is False
        assert [n.id for n in cloud.isolated_networks(region=DR, tags=DRILL)] == [made.id]  # the VPC waits
        proxy.inject("DeleteSubnet", "refuse")  # any other refusal is the caller's to see
        with pytest.raises(CloudError, match="capacity"):
            cloud.delete_network(made.id, region=DR)
        assert cloud.delete_network(made.id, region=DR) is True
        assert moto_inventory(moto_endpoint, (PRIMARY, DR), keys=aws_keys) == before
    finally:
        proxy.stop()


def test_a_provision_into_an_isolated_network_that_is_gone_is_refused_as_not_found(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    request = ProvisionRequest(name="drill-web", resource_type=ResourceType.COMPUTE, region=DR, size="t3.micro",
                               image=AMI, network="vpc-0123456789abcdef0", options={"subtype": "instance"})  # fmt: skip
    with pytest.raises(ResourceNotFound, match="vpc-0123456789abcdef0"):
        cloud.provision(request)
