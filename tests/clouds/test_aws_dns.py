"""Route 53 failover records and health checks through the AWS adapter, against the moto server."""

from __future__ import annotations

from typing import Any

import pytest

from clouds.aws import credentials as aws_credentials
from clouds.aws.provider import AwsCloud
from clouds.base import DnsRecordSet, DnsRouting
from clouds.errors import ResourceNotFound, UnsupportedRequest
from tests.clouds.moto_inventory import moto_inventory

pytestmark = pytest.mark.integration
PRIMARY, DR = "eu-west-2", "eu-west-1"
HEALTH = "https://book.wedding.example/healthz?deep=1"


def _cloud(moto_endpoint: str, keys: dict[str, str]) -> AwsCloud:
    return AwsCloud(keys, regions=(PRIMARY, DR), endpoint_url=moto_endpoint)


def _route53(moto_endpoint: str, keys: dict[str, str]) -> Any:
    return aws_credentials.client(aws_credentials.session_for(keys, "us-east-1"), "route53", moto_endpoint)


def _zone(route53: Any) -> str:
    zone = route53.create_hosted_zone(Name="wedding.example.", CallerReference="wedding-zone")
    return str(zone["HostedZone"]["Id"]).removeprefix("/hostedzone/")


def _records(zone: str, **changes: Any) -> DnsRecordSet:
    fields: dict[str, Any] = {"zone": zone, "name": "book.wedding.example", "targets": {PRIMARY: "192.0.2.10",
                              DR: "198.51.100.20"}, **changes}  # fmt: skip
    return DnsRecordSet(**fields)


def _failover_records(route53: Any, zone: str) -> dict[str, tuple[str, list[str], str | None]]:
    """The name's A record sets as Route 53 lists them: {failover role: (set id, values, health check)}."""
    listed = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {
        r.get("Failover", "simple"): (r.get("SetIdentifier"), [v["Value"] for v in r["ResourceRecords"]],
                                      r.get("HealthCheckId"))
        for r in listed
        if r["Name"] == "book.wedding.example." and r["Type"] == "A"
    }  # fmt: skip


def test_route_dns_switches_the_primary_failover_record_to_the_other_region(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud, route53 = _cloud(moto_endpoint, aws_keys), _route53(moto_endpoint, aws_keys)
    zone = _zone(route53)
    records = _records(zone)
    routed = cloud.route_dns(records, active=PRIMARY, health_check_url=HEALTH)
    assert routed == DnsRouting(
        record="book.wedding.example", weights={PRIMARY: 100, DR: 0}, active=PRIMARY, values=("192.0.2.10",)
    )
    first = _failover_records(route53, zone)
    check = first["PRIMARY"][2]
    assert first == {
        "PRIMARY": ("wedcloud-primary", ["192.0.2.10"], check),
        "SECONDARY": ("wedcloud-secondary", ["198.51.100.20"], None),
    }
    assert check is not None
    assert cloud.dns_routing(records) == routed

    switched = cloud.route_dns(records, active=DR, health_check_url=HEALTH)
    assert (switched.active, dict(switched.weights), switched.values) == (DR, {PRIMARY: 0, DR: 100}, ("198.51.100.20",))
    assert _failover_records(route53, zone) == {
        "PRIMARY": ("wedcloud-primary", ["198.51.100.20"], check),
        "SECONDARY": ("wedcloud-secondary", ["192.0.2.10"], None),
    }
    assert cloud.dns_routing(records) == switched
    listed = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    assert all(r["TTL"] == 60 for r in listed if r["Type"] == "A")


def test_routing_twice_changes_nothing_and_makes_one_health_check(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud, route53 = _cloud(moto_endpoint, aws_keys), _route53(moto_endpoint, aws_keys)
    records = _records(_zone(route53), ttl=30)
    first = cloud.route_dns(records, active=PRIMARY, health_check_url=HEALTH)
    before = moto_inventory(moto_endpoint, (), keys=aws_keys)
    assert cloud.route_dns(records, active=PRIMARY, health_check_url=HEALTH) == first
    assert moto_inventory(moto_endpoint, (), keys=aws_keys) == before
    checks = route53.list_health_checks()["HealthChecks"]
    assert len(checks) == 1
    config = checks[0]["HealthCheckConfig"]
    assert (config["Type"], config["FullyQualifiedDomainName"], config["Port"], config["ResourcePath"]) == (
        "HTTPS", "book.wedding.example", 443, "/healthz?deep=1"
    )  # fmt: skip


def test_a_plain_record_of_the_name_gives_way_to_the_failover_pair(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud, route53 = _cloud(moto_endpoint, aws_keys), _route53(moto_endpoint, aws_keys)
    zone = _zone(route53)
    plain = {"Name": "book.wedding.example.", "Type": "A", "TTL": 300, "ResourceRecords": [{"Value": "192.0.2.10"}]}
    route53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": plain}]}
    )
    records = _records(zone)
    assert cloud.dns_routing(records) == DnsRouting(
        record="book.wedding.example", weights={PRIMARY: 100, DR: 0}, active=PRIMARY, values=("192.0.2.10",)
    )
    cloud.route_dns(records, active=DR)
    assert _failover_records(route53, zone) == {
        "PRIMARY": ("wedcloud-primary", ["198.51.100.20"], None),
        "SECONDARY": ("wedcloud-secondary", ["192.0.2.10"], None),
    }


def test_with_three_targets_the_first_other_target_is_the_standby(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud, route53 = _cloud(moto_endpoint, aws_keys), _route53(moto_endpoint, aws_keys)
    zone = _zone(route53)
    records = _records(zone, targets={PRIMARY: "192.0.2.10", DR: "198.51.100.20", "us-east-1": "203.0.113.30"})
    routed = cloud.route_dns(records, active="us-east-1")
    assert dict(routed.weights) == {PRIMARY: 0, DR: 0, "us-east-1": 100}
    assert _failover_records(route53, zone) == {
        "PRIMARY": ("wedcloud-primary", ["203.0.113.30"], None),
        "SECONDARY": ("wedcloud-secondary", ["192.0.2.10"], None),
    }


def test_a_name_without_records_has_no_routing_and_bad_requests_are_refused(
    moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    cloud = _cloud(moto_endpoint, aws_keys)
    zone = _zone(_route53(moto_endpoint, aws_keys))
    assert cloud.dns_routing(_records(zone)) is None
    with pytest.raises(UnsupportedRequest, match="none of the record's targets"):
        cloud.route_dns(_records(zone), active="ap-south-1")
    with pytest.raises(UnsupportedRequest, match="http:// or https://"):
        cloud.route_dns(_records(zone), active=PRIMARY, health_check_url="ftp://book.wedding.example/")
    with pytest.raises(ResourceNotFound):
        cloud.route_dns(_records("Z000000000MISSING"), active=PRIMARY)
