"""Deployments on AWS (the moto server) through the API: the booking stack applies with every
resource tagged; a PUT with a larger database and the bucket removed is one update and one
delete; rollback brings the previous version back; a step AWS refuses rolls the apply back to
exactly what moto held before (full listings compared); a destroy snapshots the database that
asks to be retained."""

from __future__ import annotations

from typing import Any

import pytest

from control_plane.deployments.spec import DEPLOYMENT_TAG, VERSION_TAG
from control_plane.security import Role
from tests.control_api.conftest import Api
from tests.control_plane.deployments.moto_listing import Moto

pytestmark = pytest.mark.integration
URL = "/api/cloud/deployments"
REGION = "eu-west-2"
AMI = "ami-12c6146b"  # one of the images moto ships

BOOKING = """
description: The wedding booking stack on AWS
parameters:
  env: {type: string, default: prod, allowed: [prod, staging]}
  db_size: {type: string, default: db.t3.micro}
  launch_template: {type: string}
resources:
  db:
    provider: moto-aws
    type: database
    region: eu-west-2
    size: ${parameters.db_size}
    options: {engine: postgres, storage_gb: 20}
    retain: snapshot
    tags: {env: "${parameters.env}", app: booking}
  web:
    provider: moto-aws
    type: instance_group
    region: eu-west-2
    size: t3.micro
    depends_on: [db]
    options: {min: 1, max: 4, desired: 2, launch_template: "${parameters.launch_template}"}
    tags: {env: "${parameters.env}", db_endpoint: "${resources.db.endpoint}"}
  uploads:
    provider: moto-aws
    type: bucket
    region: eu-west-2
    size: STANDARD
    tags: {env: "${parameters.env}", app: booking}
outputs:
  db_endpoint: ${resources.db.endpoint}
"""
BIGGER_WITHOUT_BUCKET = BOOKING.replace("default: db.t3.micro", "default: db.t3.small").replace(
    BOOKING[BOOKING.index("  uploads:") : BOOKING.index("outputs:")], ""
)


@pytest.fixture
def moto(moto_endpoint: str, aws_keys: dict[str, str]) -> Moto:
    cloud = Moto(moto_endpoint, aws_keys, REGION)
    cloud.client("ec2").create_launch_template(
        LaunchTemplateName="booking-web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
    )
    return cloud


def _provider(api: Api, moto: Moto) -> str:
    body = {"kind": "aws", "name": "moto-aws", "default_region": REGION, "endpoint_url": moto.endpoint,
            "credentials": moto.keys}  # fmt: skip
    answer = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _operation(api: Api, answer: Any) -> dict[str, Any]:
    """The operation a 202 answered with, polled (the test client runs its work before returning)."""
    assert answer.status_code == 202, answer.text
    polled = api.client.get(answer.headers["location"], headers=api.headers(Role.VIEWER))
    return dict(polled.json())


def _deploy(api: Api, name: str, template: str, **parameters: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    body = {"name": name, "template": template, "parameters": parameters}
    answer = api.client.post(URL, json=body, headers=api.headers(Role.OPERATOR))
    accepted = answer.json()
    return str(accepted["deployment_id"]), accepted, _operation(api, answer)


def _detail(api: Api, deployment_id: str) -> dict[str, Any]:
    answer = api.client.get(f"{URL}/{deployment_id}", headers=api.headers(Role.VIEWER))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_the_booking_stack_applies_changes_and_rolls_back_on_aws(api: Api, moto: Moto) -> None:
    _provider(api, moto)
    deployment_id, accepted, operation = _deploy(api, "booking", BOOKING, launch_template="booking-web")
    assert accepted["plan"]["summary"] == {"create": 3, "update": 0, "replace": 0, "delete": 0, "unchanged": 0}
    assert operation["status"] == "succeeded", operation
    made = moto.deployment(deployment_id)
    assert sorted(made) == ["asg:booking-web", "bucket:booking-uploads", "db:booking-db"]
    assert {tags[VERSION_TAG] for tags in made.values()} == {"1"}
    assert moto.databases() == {"booking-db": "db.t3.micro"}
    instances = moto.listing()["instances"]
    assert len(instances) == 2  # the group's desired capacity, launched from the launch template
    detail = _detail(api, deployment_id)
    assert detail["outputs"]["db_endpoint"]
    assert made["asg:booking-web"]["db_endpoint"] == detail["outputs"]["db_endpoint"]

    update = {"template": BIGGER_WITHOUT_BUCKET, "parameters": {"launch_template": "booking-web"}}
    planned = api.client.put(f"{URL}/{deployment_id}", params={"plan_only": "true"}, json=update,
                             headers=api.headers(Role.OPERATOR))  # fmt: skip
    assert planned.status_code == 200, planned.text
    summary = planned.json()["plan"]["summary"]
    assert summary == {"create": 0, "update": 1, "replace": 0, "delete": 1, "unchanged": 1}
    assert {(s["action"], s["name"]) for s in planned.json()["plan"]["steps"]} == {("update", "db"),
                                                                                    ("delete", "uploads")}  # fmt: skip
    changed = _operation(api, api.client.put(f"{URL}/{deployment_id}", json=update, headers=api.headers(Role.OPERATOR)))
    assert changed["status"] == "succeeded", changed
    assert moto.databases() == {"booking-db": "db.t3.small"}
    assert moto.listing()["buckets"] == []
    assert sorted(moto.deployment(deployment_id)) == ["asg:booking-web", "db:booking-db"]

    back = api.client.post(f"{URL}/{deployment_id}/rollback", headers=api.headers(Role.OPERATOR))
    assert back.json()["plan"]["summary"] == {"create": 1, "update": 1, "replace": 0, "delete": 0, "unchanged": 1}
    assert _operation(api, back)["status"] == "succeeded"
    assert moto.databases() == {"booking-db": "db.t3.micro"}
    assert moto.listing()["buckets"] == ["booking-uploads"]
    restored = moto.deployment(deployment_id)
    assert sorted(restored) == ["asg:booking-web", "bucket:booking-uploads", "db:booking-db"]
    assert restored["bucket:booking-uploads"][VERSION_TAG] == "3"  # made again by the rollback, version 3
    detail = _detail(api, deployment_id)
    assert detail["current_version"] == 3


FAILING = """
resources:
  db:
    provider: moto-aws
    type: database
    region: eu-west-2
    size: db.t3.micro
    options: {engine: postgres, storage_gb: 20}
  uploads:
    provider: moto-aws
    type: bucket
    region: eu-west-2
    size: STANDARD
  web:
    provider: moto-aws
    type: instance_group
    region: eu-west-2
    size: t3.micro
    depends_on: [db, uploads]
    options: {min: 1, max: 2, launch_template: no-such-template}
"""


def test_a_step_aws_refuses_rolls_the_apply_back_to_exactly_what_moto_held(api: Api, moto: Moto) -> None:
    _provider(api, moto)
    ec2 = moto.client("ec2")
    ec2.run_instances(ImageId=AMI, InstanceType="t3.micro", MinCount=1, MaxCount=1)  # someone else's
    moto.client("s3").create_bucket(Bucket="someone-elses", CreateBucketConfiguration={"LocationConstraint": REGION})
    _deploy(api, "kept", BOOKING, launch_template="booking-web")  # a deployment that stays as it is
    before = moto.listing()
    assert before["databases"] == ["kept-db"]

    deployment_id, accepted, operation = _deploy(api, "doomed", FAILING)
    assert accepted["plan"]["summary"]["create"] == 3
    assert operation["status"] == "failed", operation
    assert moto.listing() == before
    status = api.client.get(f"{URL}/{deployment_id}/status", headers=api.headers(Role.VIEWER)).json()
    steps = {step["name"]: step["status"] for step in status["steps"]}
    assert steps == {"db": "undone", "uploads": "undone", "web": "failed"}
    lines = api.client.get(f"{URL}/{deployment_id}/logs", headers=api.headers(Role.VIEWER)).json()["items"]
    messages = [line["message"] for line in lines]
    assert any("no-such-template" in m for m in messages)
    assert any(m.startswith("undo create of db") for m in messages)
    assert any(m.startswith("undo create of uploads") for m in messages)


def test_destroying_the_stack_snapshots_the_retained_database_first(api: Api, moto: Moto) -> None:
    _provider(api, moto)
    deployment_id, _, operation = _deploy(api, "booking", BOOKING, launch_template="booking-web")
    assert operation["status"] == "succeeded", operation
    gone = _operation(api, api.client.delete(f"{URL}/{deployment_id}", headers=api.headers(Role.ADMIN)))
    assert gone["status"] == "succeeded", gone
    listing = moto.listing()
    assert (listing["databases"], listing["groups"], listing["buckets"]) == ([], [], [])
    lines = api.client.get(f"{URL}/{deployment_id}/logs", headers=api.headers(Role.VIEWER)).json()["items"]
    (taken,) = [line["message"].split()[1] for line in lines if line["message"].startswith("snapshot ")]
    snapshots = moto.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    ours = {s["DBSnapshotArn"]: s["DBInstanceIdentifier"] for s in snapshots}
    assert ours[taken] == "booking-db"  # (the adapter's delete keeps a final snapshot of its own beside it)


def test_every_resource_the_stack_makes_carries_the_deployment_tags(api: Api, moto: Moto) -> None:
    _provider(api, moto)
    deployment_id, _, operation = _deploy(api, "tagged", BOOKING, launch_template="booking-web")
    assert operation["status"] == "succeeded", operation
    made = moto.deployment(deployment_id)
    assert len(made) == 3
    for tags in made.values():
        assert tags[DEPLOYMENT_TAG] == deployment_id
        assert tags[VERSION_TAG] == "1"
        assert tags["env"] == "prod"


TWO_DATABASES = """
resources:
  primary:
    provider: moto-aws
    type: database
    size: db.t3.micro
    options: {engine: postgres, storage_gb: 20}
    retain: snapshot
  replica:
    provider: moto-aws
    type: database
    size: db.t3.micro
    options: {engine: postgres, storage_gb: 20}
    retain: snapshot
"""


def test_each_retained_database_gets_a_snapshot_named_for_its_deployment_and_version(api: Api, moto: Moto) -> None:
    _provider(api, moto)
    deployment_id, _, operation = _deploy(api, "twin", TWO_DATABASES)
    assert operation["status"] == "succeeded", operation
    gone = _operation(api, api.client.delete(f"{URL}/{deployment_id}", headers=api.headers(Role.ADMIN)))
    assert gone["status"] == "succeeded", gone
    snapshots = moto.client("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    taken = {
        s["DBSnapshotIdentifier"]: s["DBInstanceIdentifier"]
        for s in snapshots
        if "-final-" not in s["DBSnapshotIdentifier"]
    }
    assert taken == {"twin-primary-v2": "twin-primary", "twin-replica-v2": "twin-replica"}
