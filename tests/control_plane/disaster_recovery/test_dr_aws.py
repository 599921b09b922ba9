"""Disaster recovery on AWS (the moto server over HTTP, through boto3), on SQLite and PostgreSQL:
a drill of an EC2 instance, an EBS volume and an RDS database leaves moto holding exactly what it
held before (full listings compared, Route 53 included); a failover switches the Route 53
failover record to the DR region; a failover the DR region refuses part-way leaves no DR copy
behind; one whose switch is refused its read-back, or whose health check fails after the switch,
moves the record back and leaves moto exactly as it was; and one the DR region refuses once the
switch is verified is completed, not undone."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from clouds.aws import credentials as aws_credentials
from clouds.base import DnsRecordSet, ProvisionRequest, ResourceType
from control_plane.crypto import load_cipher
from control_plane.disaster_recovery import drill as drill_module
from control_plane.services import inventory
from control_plane.services.providers import adapter_for, create_cloud_provider
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Provider
from tests.clouds.moto_inventory import moto_inventory
from tests.control_plane.deployments.support import Cloud
from tests.control_plane.disaster_recovery.support import (
    Recovery,
    drill_killed_once_its_network_is_made,
    taken_over,
)
from tests.emulators.fault_proxy import FaultProxy
from tests.local_http import serving
from wedcloud.home import HomeLayout

pytestmark = pytest.mark.integration
PRIMARY, STANDBY = "eu-west-2", "eu-west-1"
AMI = "ami-12c6146b"  # one of the images moto ships
PRIMARY_IP, STANDBY_IP = "203.0.113.10", "198.51.100.20"


@dataclass
class Aws:
    dr: Recovery
    endpoint: str
    keys: dict[str, str]
    zone: str
    record: str

    def client(self, service: str, region: str = PRIMARY) -> Any:
        return aws_client(self.endpoint, self.keys, service, region)

    def inventory(self) -> dict[str, Any]:
        return moto_inventory(self.endpoint, (PRIMARY, STANDBY), keys=self.keys)

    def routing(self, **changes: Any) -> dict[str, Any]:
        return {"zone": self.zone, "name": self.record, "type": "A", "ttl": 60,
                "targets": {PRIMARY: PRIMARY_IP, STANDBY: STANDBY_IP}, **changes}  # fmt: skip

    def failover_records(self) -> dict[str, str]:
        """The record's failover role -> the address it holds, read with boto3 directly."""
        sets = self.client("route53", "us-east-1").list_resource_record_sets(HostedZoneId=self.zone)
        return {s["Failover"]: s["ResourceRecords"][0]["Value"] for s in sets["ResourceRecordSets"]
                if s["Name"] == self.record and "Failover" in s}  # fmt: skip


def aws_client(endpoint: str, keys: dict[str, str], service: str, region: str) -> Any:
    return aws_credentials.client(aws_credentials.session_for(keys, region), service, endpoint)


def _aws(engine: Engine, root: Path, endpoint: str, keys: dict[str, str]) -> Aws:
    layout = HomeLayout(root / "home").ensure()
    cipher = load_cipher(layout.root)
    sessions = make_sessionmaker(engine)

    def adapters(provider: Provider, session: Any) -> Any:
        return adapter_for(provider, session=session, layout=layout, cipher=cipher)

    with sessions.begin() as session:
        provider = create_cloud_provider(session, cipher, kind="aws", name="wedsync-aws", default_region=PRIMARY,
                                         regions=[PRIMARY, STANDBY], credentials=keys,
                                         settings={"endpoint_url": endpoint})  # fmt: skip
        cloud = adapters(provider, session)
        tags = {"app": "booking"}
        for region in (PRIMARY, STANDBY):  # a launch template is regional: the DR region has its own
            launch = {"ImageId": AMI, "InstanceType": "t3.micro"}
            aws_client(endpoint, keys, "ec2", region).create_launch_template(LaunchTemplateName="booking-web",
                                                                             LaunchTemplateData=launch)  # fmt: skip
        for request in (
            ProvisionRequest(name="booking-web", resource_type=ResourceType.COMPUTE, region=PRIMARY, size="t3.small",
                             image=AMI, tags=tags, options={"subtype": "instance"}),
            ProvisionRequest(name="booking-workers", resource_type=ResourceType.COMPUTE, region=PRIMARY,
                             size="t3.micro", tags=tags, options={"subtype": "instance_group",
                             "launch_template": "booking-web", "min": 1, "max": 2, "desired": 1}),
            ProvisionRequest(name="booking-files", resource_type=ResourceType.STORAGE, region=PRIMARY, size="30GB",
                             tags=tags, options={"subtype": "volume"}),
            ProvisionRequest(name="booking-db", resource_type=ResourceType.DATABASE, region=PRIMARY,
                             size="db.t3.micro", tags=tags,
                             options={"subtype": "database", "engine": "postgres", "storage_gb": 20}),
        ):  # fmt: skip
            cloud.provision(request)
        inventory.sync(session, provider, cloud.list_resources(region=PRIMARY))
    aws = Aws(Recovery(Cloud(sessions, layout, adapters), provider="wedsync-aws"), endpoint, keys, "", "")
    made = aws.client("route53", "us-east-1").create_hosted_zone(Name="wedsync.example.", CallerReference="dr-tests")
    aws.zone = str(made["HostedZone"]["Id"]).removeprefix("/hostedzone/")
    aws.record = "api.wedsync.example."
    return aws


@pytest.fixture
def aws(engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str]) -> Aws:
    return _aws(engine, tmp_path, moto_endpoint, aws_keys)


def _plan(aws: Aws, **changes: Any) -> Any:
    changes.setdefault("routing", aws.routing())
    return aws.dr.plan(protected={"tags": {"app": "booking"}}, **changes)


def test_a_drill_on_aws_leaves_moto_holding_exactly_what_it_held_before(aws: Aws) -> None:
    plan_id = _plan(aws)
    backup = aws.dr.backup(plan_id)
    assert backup.status == "succeeded", backup.error
    before = aws.inventory()
    drill = aws.dr.drill(plan_id)
    assert drill.status == "succeeded", drill.error
    restored = {r["subtype"] for r in drill.report["restored"]}
    assert restored == {"instance", "volume", "database", "instance_group"}
    assert drill.report["cleanup"]["remaining"] == []
    assert aws.inventory() == before
    assert drill.rto_seconds is not None
    assert drill.rpo_seconds is not None


def test_a_failover_on_aws_switches_the_route53_failover_record(aws: Aws) -> None:
    plan_id = _plan(aws)
    aws.dr.backup(plan_id)
    run = aws.dr.failover(plan_id)
    assert run.status == "succeeded", run.error
    assert aws.failover_records() == {"PRIMARY": STANDBY_IP, "SECONDARY": PRIMARY_IP}
    plan = aws.dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region, len(plan.serving)) == ("failed_over", STANDBY, 4)


def test_failback_on_aws_backs_up_the_dr_copies_and_fails_over_to_the_primary(aws: Aws) -> None:
    plan_id = _plan(aws)
    aws.dr.backup(plan_id)
    assert aws.dr.failover(plan_id).status == "succeeded"
    copied_back = aws.dr.backup(plan_id)  # the copies serving in eu-west-1, copied to eu-west-2
    assert copied_back.status == "succeeded", copied_back.error
    back = aws.dr.failover(plan_id, region=PRIMARY, reason="eu-west-2 is healthy again")
    assert back.status == "succeeded", back.error
    assert aws.failover_records() == {"PRIMARY": PRIMARY_IP, "SECONDARY": STANDBY_IP}
    plan = aws.dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region) == ("active", PRIMARY)


@pytest.fixture
def refusing(
    engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str]
) -> Iterator[tuple[Aws, FaultProxy]]:
    proxy = FaultProxy(moto_endpoint)
    try:
        yield _aws(engine, tmp_path, proxy.url, aws_keys), proxy
    finally:
        proxy.stop()


def test_a_failover_the_dr_region_refuses_part_way_leaves_no_dr_copy_behind(
    refusing: tuple[Aws, FaultProxy],
) -> None:
    aws, proxy = refusing
    plan_id = _plan(aws)
    aws.dr.backup(plan_id)
    aws.dr.cloud.adapter("wedsync-aws").route_dns(_records(aws), active=PRIMARY)
    before = aws.inventory()
    proxy.inject("RunInstances", "refuse")  # the database and the volume are restored by then
    run = aws.dr.failover(plan_id)
    assert run.status == "rolled_back", run.error
    assert "InsufficientInstanceCapacity" in (run.error or {}).get("detail", "")
    made = [s.detail["cloud_id"] for s in aws.dr.steps(run.id) if "cloud_id" in s.detail]
    assert len(made) == 2  # part-way: two of the three copies had been made
    assert aws.inventory() == before
    assert aws.failover_records() == {"PRIMARY": PRIMARY_IP, "SECONDARY": STANDBY_IP}
    assert aws.dr.stored_plan(plan_id).status == "active"


class _Down(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_a_failover_whose_health_check_fails_after_the_switch_puts_the_record_back(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", "true")
    monkeypatch.setattr("control_plane.disaster_recovery.health.PAUSE_SECONDS", 0.0)
    with serving(_Down) as port:
        url = f"http://127.0.0.1:{port}/healthz"
        plan_id = _plan(aws, routing=aws.routing(health_check_url=url))
        aws.dr.backup(plan_id)
        # the record as the plan keeps it: on the primary, with the Route 53 health check of its URL
        aws.dr.cloud.adapter("wedsync-aws").route_dns(_records(aws), active=PRIMARY, health_check_url=url)
        before = aws.inventory()
        run = aws.dr.failover(plan_id)
    assert run.status == "rolled_back", run.error
    assert aws.failover_records() == {"PRIMARY": PRIMARY_IP, "SECONDARY": STANDBY_IP}
    assert aws.inventory() == before  # snapshots, images, DB snapshots and health checks included


def test_a_failover_refused_after_the_dns_switch_puts_the_record_back_and_leaves_moto_as_it_was(
    refusing: tuple[Aws, FaultProxy],
) -> None:
    aws, proxy = refusing
    plan_id = _plan(aws)
    aws.dr.backup(plan_id)
    aws.dr.cloud.adapter("wedsync-aws").route_dns(_records(aws), active=PRIMARY)
    before = aws.inventory()
    proxy.clear()
    # Route 53 takes the switch, then refuses its read-back: the switch is never confirmed
    proxy.inject("ListResourceRecordSets", "refuse", after="ChangeResourceRecordSets")
    run = aws.dr.failover(plan_id)
    assert ("ListResourceRecordSets", "refuse") in proxy.injected
    assert run.status == "rolled_back", run.error
    assert "InvalidInput" in (run.error or {}).get("detail", "")
    names = [s.name for s in aws.dr.steps(run.id)]
    assert f"switch {aws.record} to {STANDBY}" in names
    assert f"switch {aws.record} back to {PRIMARY}" in names
    assert aws.failover_records() == {"PRIMARY": PRIMARY_IP, "SECONDARY": STANDBY_IP}
    assert aws.inventory() == before  # every instance, volume, snapshot, image, database and check
    assert aws.dr.stored_plan(plan_id).status == "active"


def test_a_failover_the_dr_region_refuses_once_the_switch_is_verified_is_completed_not_undone(
    refusing: tuple[Aws, FaultProxy],
) -> None:
    aws, proxy = refusing
    plan_id = _plan(aws)
    aws.dr.backup(plan_id)
    aws.dr.cloud.adapter("wedsync-aws").route_dns(_records(aws), active=PRIMARY)
    proxy.clear()
    # recording the copies after the switch: the DR region refuses to describe the database once
    proxy.inject("DescribeDBInstances", "refuse", after="ChangeResourceRecordSets")
    run = aws.dr.failover(plan_id)
    assert ("DescribeDBInstances", "refuse") in proxy.injected
    assert run.status == "succeeded", run.error
    recording = [s for s in aws.dr.steps(run.id) if s.name == f"record what serves from {STANDBY}"]
    assert [s.status for s in recording] == ["failed", "done"]  # tried again, never rolled back
    assert aws.failover_records() == {"PRIMARY": STANDBY_IP, "SECONDARY": PRIMARY_IP}
    plan = aws.dr.stored_plan(plan_id)
    assert (plan.status, plan.active_region, len(plan.serving)) == ("failed_over", STANDBY, 4)


def _records(aws: Aws) -> DnsRecordSet:
    return DnsRecordSet(zone=aws.zone, name=aws.record, targets={PRIMARY: PRIMARY_IP, STANDBY: STANDBY_IP})


def test_a_drill_on_aws_restores_into_a_vpc_with_no_internet_gateway_and_closed_security_groups(
    refusing: tuple[Aws, FaultProxy], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What moto says of the copies while they run (read at the drill's health step, before its
    teardown): the instance, the group's instances and the database are in the drill's VPC, with
    its security group, which has no rule either way; and the database's restore asked RDS for it
    not to be publicly accessible (read from the request as sent, through the proxy)."""
    aws, proxy = refusing
    seen: dict[str, Any] = {}
    real = drill_module.check_health

    def observe(run: Any, adapter: Any, made: list[dict[str, Any]], **kwargs: Any) -> Any:
        ec2, rds = aws.client("ec2", STANDBY), aws.client("rds", STANDBY)
        network = next(s.detail for s in aws.dr.steps(run.run_id) if s.name.startswith("make an isolated network"))
        seen["network"] = network
        seen["gateways"] = ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [network["network_id"]]}])["InternetGateways"]  # fmt: skip
        seen["groups"] = ec2.describe_security_groups(
            Filters=[{"Name": "vpc-id", "Values": [network["network_id"]]}])["SecurityGroups"]  # fmt: skip
        tagged = [{"Name": "tag:wedcloud:drill", "Values": [str(run.run_id)]},
                  {"Name": "instance-state-name", "Values": ["pending", "running"]}]  # fmt: skip
        seen["instances"] = [i for r in ec2.describe_instances(Filters=tagged)["Reservations"] for i in r["Instances"]]
        seen["databases"] = [d for d in rds.describe_db_instances()["DBInstances"]
                             if d["DBInstanceIdentifier"].startswith("drill-")]  # fmt: skip
        return real(run, adapter, made, **kwargs)

    monkeypatch.setattr(drill_module, "check_health", observe)
    plan_id = _plan(aws)
    assert aws.dr.backup(plan_id).status == "succeeded"
    drill = aws.dr.drill(plan_id)
    assert drill.status == "succeeded", drill.error
    network = seen["network"]
    vpc, group = network["network_id"], network["security_group"]
    assert drill.report["isolation"]["isolated"] is True
    assert seen["gateways"] == []
    assert {(g["GroupId"], len(g["IpPermissions"]), len(g["IpPermissionsEgress"])) for g in seen["groups"]} >= {
        (group, 0, 0)
    }
    assert all((g["IpPermissions"], g["IpPermissionsEgress"]) == ([], []) for g in seen["groups"])
    assert len(seen["instances"]) == 2  # the restored instance and the group's one
    assert {i["VpcId"] for i in seen["instances"]} == {vpc}
    restored = next(i for i in seen["instances"] if "aws:autoscaling:groupName" not in _tag_keys(i))
    assert [g["GroupId"] for g in restored["SecurityGroups"]] == [group]
    [database] = seen["databases"]
    assert database["DBSubnetGroup"]["VpcId"] == vpc
    assert [g["VpcSecurityGroupId"] for g in database["VpcSecurityGroups"]] == [group]
    # moto drops a restore's PubliclyAccessible=False (it leaves the field out), so what RDS was
    # asked is read from the request itself
    [restore] = proxy.sent("RestoreDBInstanceFromDBSnapshot")
    assert restore["DBInstanceIdentifier"] == database["DBInstanceIdentifier"]
    assert restore["PubliclyAccessible"] == "false"
    assert drill.report["cleanup"]["deleted_networks"] == [vpc]


def _tag_keys(item: dict[str, Any]) -> set[str]:
    return {t["Key"] for t in item.get("Tags", [])}


def test_a_drill_that_died_making_its_network_on_aws_is_undone_by_the_reconciler_network_and_all(aws: Aws) -> None:
    plan_id = _plan(aws)
    assert aws.dr.backup(plan_id).status == "succeeded"
    before = aws.inventory()

    started = drill_killed_once_its_network_is_made(aws.dr, plan_id)
    assert len(aws.inventory()["vpcs"]) == len(before["vpcs"]) + 1
    run = taken_over(aws.dr, started)
    assert aws.inventory() == before
    assert (run.status, run.report["cleanup"]["remaining"]) == ("failed", [])
    assert len(run.report["cleanup"]["deleted_networks"]) == 1
