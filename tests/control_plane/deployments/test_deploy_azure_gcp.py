"""Deployments on Azure and Google Cloud through their emulators (ARM and Compute Engine with
Cloud Storage), and the cross-cloud pair of docs/templates/ with AWS on the moto server: applied,
tagged for attribution (read back through each adapter), updated, destroyed, and rolled back on
both clouds when the Google side refuses a step. Driven through the service layer as the API
does, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from clouds.aws import credentials as aws_credentials
from clouds.base import CloudProvider, ResourceState
from clouds.gcp.api import label_problems
from control_plane.crypto import Cipher
from control_plane.deployments import service, validation
from control_plane.deployments.spec import DEPLOYMENT_TAG, VERSION_TAG
from control_plane.services.errors import InvalidRequest
from control_plane.services.providers import adapter_for, create_cloud_provider
from control_plane.services.reconciler import reconcile
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Provider
from tests.control_plane.deployments.support import Cloud, Refusing
from tests.emulators.azure_compute import AzureComputeEmulator
from tests.emulators.google_compute import GoogleComputeEmulator, Instance
from wedcloud.home import HomeLayout

pytestmark = pytest.mark.integration

SUBSCRIPTION = "00000000-0000-0000-0000-00000000d3a1"
PROJECT = "wedsync-deploy"
NIC = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/net/providers/Microsoft.Network/networkInterfaces/web-nic"
AMI = "ami-12c6146b"  # one of the images moto ships
CROSS_CLOUD = Path(__file__).parents[3] / "docs" / "templates" / "cross-cloud.yaml"
Listing = dict[str, tuple[str, str | None, str, tuple[tuple[str, str], ...]]]

AZURE = f"""
parameters:
  env: {{type: string, default: prod, allowed: [prod, staging]}}
resources:
  data:
    provider: azure-test
    type: volume
    region: uksouth
    size: 64GB
    options: {{sku: Premium_LRS}}
    tags: {{env: "${{parameters.env}}", tier: data}}
  store:
    provider: azure-test
    type: bucket
    region: uksouth
    size: Standard_LRS
    options: {{account_name: azstackstore}}
    tags: {{env: "${{parameters.env}}"}}
  web:
    provider: azure-test
    type: instance
    region: uksouth
    size: Standard_D2s_v5
    image: Canonical:ubuntu-24_04-lts:server:latest
    network: {NIC}
    depends_on: [store]
    options: {{ssh_public_key: "ssh-ed25519 AAAA wedcloud"}}
    tags: {{env: "${{parameters.env}}", data_disk: "${{resources.data.id}}"}}
outputs:
  web_id: ${{resources.web.id}}
"""

GOOGLE = """
parameters:
  env: {type: string, default: prod, allowed: [prod, staging]}
resources:
  data:
    provider: gcp-test
    type: volume
    region: europe-west2
    size: 50GB
    tags: {env: "${parameters.env}", tier: data}
  archive:
    provider: gcp-test
    type: bucket
    region: europe-west2
    size: NEARLINE
    tags: {env: "${parameters.env}"}
  web:
    provider: gcp-test
    type: instance
    region: europe-west2
    size: e2-medium
    image: projects/debian-cloud/global/images/family/debian-12
    depends_on: [archive]
    tags: {env: "${parameters.env}", data_disk: "${resources.data.name}"}
outputs:
  web_zone: ${resources.web.zone}
"""


class World:
    """A migrated store with Azure, Google Cloud and (when asked) AWS providers registered
    against the emulators, and the real adapters for them (credentials encrypted at rest)."""

    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        self.layout = HomeLayout(tmp_path / "home")
        self.layout.ensure()
        self.cipher = Cipher(secrets.token_bytes(32))
        self.cloud = Cloud(make_sessionmaker(engine), self.layout, self.adapters)

    def adapters(self, provider: Provider, session: Session) -> CloudProvider:
        return adapter_for(provider, session=session, layout=self.layout, cipher=self.cipher)

    def register(self, kind: str, name: str, region: str, credentials: dict[str, Any], **settings: Any) -> None:
        with self.cloud.sessions() as session, session.begin():
            create_cloud_provider(
                session, self.cipher, kind=kind, name=name, default_region=region, regions=[region],
                credentials=credentials, settings=settings,
            )  # fmt: skip

    def listing(self, *names: str) -> Listing:
        """Everything the named providers' clouds hold that is alive, as their adapters list it:
        id -> (name, size, state, tags)."""
        held: Listing = {}
        for name in names:
            for resource in self.cloud.adapter(name).list_resources():
                if resource.state != ResourceState.TERMINATED:
                    tags = tuple(sorted(resource.tags.items()))
                    held[resource.id] = (resource.name, resource.size, resource.state.value, tags)
        return held


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> World:
    return World(engine, tmp_path)


@pytest.fixture
def azure(world: World, azure_compute: AzureComputeEmulator) -> World:
    azure_compute.add_subscription(SUBSCRIPTION)
    world.register(
        "azure", "azure-test", "uksouth", {"access_token": "emulator-token"},
        subscription_id=SUBSCRIPTION, endpoint_url=azure_compute.url, poll_seconds=0,
    )  # fmt: skip
    return world


@pytest.fixture
def google(world: World, google_compute: GoogleComputeEmulator) -> World:
    google_compute.add_project(PROJECT)
    world.register(
        "gcp", "gcp-test", "europe-west2", google_compute.service_account(),
        project_id=PROJECT, endpoint_url=google_compute.url,
    )  # fmt: skip
    return world


def _attributed(world: World, provider: str, deployment_id: uuid.UUID) -> dict[str, dict[str, str]]:
    """The tags of the deployment's resources by name, as the adapter lists them and describes each."""
    adapter = world.cloud.adapter(provider)
    found = {}
    for resource in adapter.list_resources():
        if resource.tags.get(DEPLOYMENT_TAG) == str(deployment_id):
            described = adapter.describe(resource.id)
            assert described.tags == resource.tags
            found[resource.name] = dict(described.tags)
    return found


def _lifecycle(
    world: World, provider: str, name: str, template: str, names: set[str]
) -> tuple[uuid.UUID, dict[str, Any]]:
    """Create, then retag one resource (one update); the deployment and its tags after each."""
    deployment_id, operation = world.cloud.create(name=name, template=template)
    assert operation.status == "succeeded", operation.error
    created = _attributed(world, provider, deployment_id)
    assert set(created) == names
    assert {tags[VERSION_TAG] for tags in created.values()} == {"1"}
    retagged = template.replace("tier: data", "tier: archive")
    started = world.cloud.begin(service.begin_update, deployment_id, template=retagged, parameters=None)
    assert started.plan["summary"] == {"create": 0, "update": 1, "replace": 0, "delete": 0, "unchanged": 2}
    assert [(s["action"], s["name"]) for s in started.plan["steps"]] == [("update", "data")]
    assert world.cloud.run(started).status == "succeeded"
    updated = _attributed(world, provider, deployment_id)
    versions = {name: tags[VERSION_TAG] for name, tags in updated.items()}
    assert versions == {name: "2" if name.endswith("-data") else "1" for name in names}  # the version that set it
    return deployment_id, {"created": created, "updated": updated}


def _destroyed(world: World, deployment_id: uuid.UUID, provider: str) -> None:
    started = world.cloud.begin(service.begin_destroy, deployment_id)
    order = [s["name"] for s in started.plan["steps"]]
    assert order.index("web") < order.index("archive" if "archive" in order else "store")
    assert world.cloud.run(started).status == "succeeded"
    assert world.listing(provider) == {}
    assert world.cloud.deployment(deployment_id).status == "destroyed"


def test_an_azure_stack_applies_is_attributed_retagged_and_destroyed(
    azure: World, azure_compute: AzureComputeEmulator
) -> None:
    names = {"azstack-data", "azstackstore", "azstack-web"}
    deployment_id, tags = _lifecycle(azure, "azure-test", "azstack", AZURE, names)
    web, data = tags["created"]["azstack-web"], tags["created"]["azstack-data"]
    assert web["data_disk"].endswith("/providers/Microsoft.Compute/disks/azstack-data")  # resolved once made
    assert (data["env"], data["tier"]) == ("prod", "data")
    assert tags["updated"]["azstack-data"]["tier"] == "archive"
    assert [account.name for account in azure_compute.accounts.values()] == ["azstackstore"]  # options.account_name
    _destroyed(azure, deployment_id, "azure-test")
    assert (azure_compute.vms, azure_compute.disks, azure_compute.accounts) == ({}, {}, {})


def test_an_azure_disk_kept_by_snapshot_passes_validation_and_is_snapshotted_before_it_is_deleted(
    azure: World, azure_compute: AzureComputeEmulator
) -> None:
    """The Azure adapter takes snapshots, so ``retain: snapshot`` on a managed disk is no problem
    for validation (it was refused while the adapter could not keep the data), and destroying
    the stack snapshots the disk first: the snapshot outlives the disk."""
    kept = "    options: {sku: Premium_LRS}\n"
    template = AZURE.replace(kept, f"{kept}    retain: snapshot\n")
    assert "retain: snapshot" in template
    with azure.cloud.sessions() as session:
        checked = validation.validate(
            session, template=template, parameters={}, deployment_id=None, adapter_for=azure.adapters
        )
    assert (checked["valid"], checked["problems"]) == (True, [])
    assert not [w for w in checked["warnings"] if w["pointer"].endswith("/retain")]
    deployment_id, operation = azure.cloud.create(name="azkeep", template=template)
    assert operation.status == "succeeded", operation.error
    (disk,) = azure_compute.disks.values()
    _destroyed(azure, deployment_id, "azure-test")
    (snapshot,) = azure_compute.recovery.snapshots.values()
    assert (snapshot.source_id, snapshot.create_option, snapshot.size_gb) == (disk.id, "Copy", 64)
    assert snapshot.name == "azkeep-data-v2"  # named for the version that destroyed it
    assert azure_compute.disks == {}


def test_a_google_cloud_stack_applies_is_attributed_retagged_and_destroyed(
    google: World, google_compute: GoogleComputeEmulator
) -> None:
    names = {"gstack-data", "gstack-archive", "gstack-web"}
    deployment_id, tags = _lifecycle(google, "gcp-test", "gstack", GOOGLE, names)
    assert tags["created"]["gstack-web"]["data_disk"] == "gstack-data"
    assert tags["updated"]["gstack-data"]["tier"] == "archive"
    # Google's labels hold no ':': the attribution tags are stored as wedcloud- labels
    (instance,) = google_compute.instances.values()
    assert instance.labels["wedcloud-deployment"] == str(deployment_id)
    assert google_compute.disks[(PROJECT, "europe-west2-b", "gstack-data")].labels["wedcloud-deployment-version"] == "2"
    assert not [key for key in instance.labels if ":" in key]
    _destroyed(google, deployment_id, "gcp-test")
    assert (google_compute.instances, google_compute.disks) == ({}, {})


def _repeated_after_a_crash(world: World, provider: str, template: str) -> None:
    """Each step of an applied stack marked started, as a process that died before recording
    its results leaves it: the reconciler repeats them with their client tokens, and the cloud
    holds each resource once."""
    deployment_id, operation = world.cloud.create(name="crashed", template=template, on_failure="pause")
    assert operation.status == "succeeded", operation.error
    made = world.listing(provider)
    assert len(made) == 3
    world.cloud.die_during(operation.id)
    assert str(operation.id) in reconcile(world.cloud.sessions, world.adapters).resumed
    assert world.listing(provider) == made
    assert world.cloud.deployment(deployment_id).status == "deployed"


def test_azure_steps_repeated_after_a_crash_find_what_they_made(azure: World) -> None:
    _repeated_after_a_crash(azure, "azure-test", AZURE)


def test_google_cloud_steps_repeated_after_a_crash_find_what_they_made(google: World) -> None:
    _repeated_after_a_crash(google, "gcp-test", GOOGLE)


def test_a_tag_google_cannot_hold_is_a_problem_pointing_at_the_tags(google: World) -> None:
    bad = GOOGLE.replace("tier: data", "Tier: data.warehouse")
    with pytest.raises(InvalidRequest) as refused:
        google.cloud.begin(service.begin_create, name="gbad", template=bad, parameters={}, on_failure=None)
    pointers = [e["pointer"] for e in refused.value.extra["errors"]]
    assert pointers == ["/template/resources/data/tags"]
    assert google.listing("gcp-test") == {}
    assert label_problems({DEPLOYMENT_TAG: str(uuid.uuid4()), VERSION_TAG: "12"}) == []


# -- the cross-cloud pair ------------------------------------------------------------------------
def _cross_cloud(moto_endpoint: str, aws_keys: dict[str, str]) -> dict[str, Any]:
    """docs/templates/cross-cloud.yaml against this test's providers: AWS on moto, Google Cloud
    on its emulator. The sandbox's flavours need no launch template; an Auto Scaling group on
    AWS does, so one is made and named; a label value holds no '.', so the standby knows the
    primary's database by its name rather than its endpoint (a host name, once the AWS adapter
    reports one: today an RDS instance's endpoint attribute falls back to its name); and the
    database and the standby's disk are deleted without a snapshot (the pair's tests keep no
    data; a Google disk kept by a snapshot has its own test)."""
    document = yaml.safe_load(CROSS_CLOUD.read_text())
    ec2 = aws_credentials.client(aws_credentials.session_for(aws_keys, "us-east-1"), "ec2", moto_endpoint)
    ec2.create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.medium"}
    )
    for body in document["resources"].values():
        body["provider"] = {"sandbox-aws": "aws-test", "sandbox-gcp": "gcp-test"}[body["provider"]]
        body["region"] = "europe-west2" if body["provider"] == "gcp-test" else "us-east-1"
    resources = document["resources"]
    resources["primary_web"]["options"]["launch_template"] = "web"
    resources["standby"]["image"] = "projects/debian-cloud/global/images/family/debian-12"
    resources["standby"]["tags"]["primary_db"] = "${resources.primary_db.name}"
    for name in ("primary_db", "standby_disk"):
        resources[name]["retain"] = "delete"  # retain: snapshot on Google Cloud is tested on its own
    return dict(document)


@pytest.fixture
def pair(google: World, moto_endpoint: str, aws_keys: dict[str, str]) -> tuple[World, dict[str, Any]]:
    google.register("aws", "aws-test", "us-east-1", aws_keys, endpoint_url=moto_endpoint)
    return google, _cross_cloud(moto_endpoint, aws_keys)


def test_the_cross_cloud_pair_applies_on_aws_and_google_cloud(pair: tuple[World, dict[str, Any]]) -> None:
    world, template = pair
    deployment_id, operation = world.cloud.create(name="xcloud", template=template)
    assert operation.status == "succeeded", operation.error
    on_aws = _attributed(world, "aws-test", deployment_id)
    on_google = _attributed(world, "gcp-test", deployment_id)
    assert set(on_aws) == {"xcloud-primary-db", "xcloud-primary-web"}
    assert set(on_google) == {"xcloud-standby", "xcloud-standby-disk"}
    assert on_google["xcloud-standby"]["primary_db"] == "xcloud-primary-db"  # an AWS name on Google Cloud
    assert on_google["xcloud-standby"]["primary_region"] == "us-east-1"
    outputs = world.cloud.deployment(deployment_id).outputs
    assert outputs["standby_zone"] == "europe-west2-b"
    assert outputs["primary_web_group"].startswith("arn:aws:autoscaling:us-east-1:")
    # the same template again changes nothing (an Auto Scaling group's size is its capacity on AWS)
    again = world.cloud.begin(service.begin_update, deployment_id, template=template, parameters=None, plan_only=True)
    assert again.plan["summary"] == {"create": 0, "update": 0, "replace": 0, "delete": 0, "unchanged": 4}
    destroyed = world.cloud.run(world.cloud.begin(service.begin_destroy, deployment_id))
    assert destroyed.status == "succeeded", destroyed.error
    assert world.listing("aws-test", "gcp-test") == {}  # the group's instances too
    assert world.cloud.deployment(deployment_id).status == "destroyed"


def test_a_google_disk_retained_by_snapshot_leaves_its_snapshot_when_destroyed(
    google: World, google_compute: GoogleComputeEmulator
) -> None:
    """``retain: snapshot`` on Google Cloud: validation accepts it, and destroying the stack takes
    a snapshot of the disk (kept in its region's multi-region) before deleting the disk."""
    template = yaml.safe_load(GOOGLE)
    template["resources"]["data"]["retain"] = "snapshot"
    deployment_id, operation = google.cloud.create(name="gkeep", template=template)
    assert operation.status == "succeeded", operation.error
    destroyed = google.cloud.run(google.cloud.begin(service.begin_destroy, deployment_id))
    assert destroyed.status == "succeeded", destroyed.error
    assert google.listing("gcp-test") == {}
    (kept,) = google_compute.snapshots.snapshots.values()
    assert kept.source_disk.endswith(f"/projects/{PROJECT}/zones/europe-west2-b/disks/gkeep-data")
    assert (kept.storage_locations, kept.status) == (["eu"], "READY")


def test_a_step_google_refuses_rolls_the_aws_side_back_too(
    pair: tuple[World, dict[str, Any]], google_compute: GoogleComputeEmulator, moto_endpoint: str,
    aws_keys: dict[str, str],
) -> None:  # fmt: skip
    world, template = pair
    google_compute.add_instance(Instance(PROJECT, "europe-west2-a", "legacy-1", "e2-small"))  # not the deployment's
    s3 = aws_credentials.client(aws_credentials.session_for(aws_keys, "us-east-1"), "s3", moto_endpoint)
    s3.create_bucket(Bucket="wedsync-legacy-exports")
    before = world.listing("aws-test", "gcp-test")
    assert {name for name, *_ in before.values()} == {"legacy-1", "wedsync-legacy-exports"}

    def refusing(provider: Provider, session: Session) -> Any:
        adapter = world.adapters(provider, session)
        return Refusing(adapter, ("-standby-disk",)) if provider.kind == "gcp" else adapter

    started = world.cloud.begin(service.begin_create, name="xcloud", template=template, parameters={},
                                on_failure=None, adapter_for=refusing)  # fmt: skip
    operation = world.cloud.run(started)
    assert operation.status == "failed"
    statuses = {s.logical_name: s.status for s in world.cloud.steps(operation.id)}
    assert statuses == {"primary_db": "undone", "primary_web": "undone", "standby": "undone",
                        "standby_disk": "failed"}  # fmt: skip
    assert world.listing("aws-test", "gcp-test") == before
    assert started.deployment is not None
    assert world.cloud.deployment(started.deployment.id).status == "failed"  # no good version to return to


def test_an_update_google_refuses_puts_the_aws_side_back(pair: tuple[World, dict[str, Any]]) -> None:
    world, template = pair
    deployment_id, operation = world.cloud.create(name="xcloud", template=template)
    assert operation.status == "succeeded", operation.error
    before = world.listing("aws-test", "gcp-test")
    grown = yaml.safe_load(yaml.safe_dump(template))
    grown["resources"]["standby_logs"] = {
        "provider": "gcp-test", "type": "bucket", "region": "europe-west2", "size": "NEARLINE",
        "depends_on": ["primary_web", "standby"],
    }  # fmt: skip

    def refusing(provider: Provider, session: Session) -> Any:
        adapter = world.adapters(provider, session)
        return Refusing(adapter, ("-standby-logs",)) if provider.kind == "gcp" else adapter

    started = world.cloud.begin(service.begin_update, deployment_id, template=grown, parameters={"env": "staging"},
                                adapter_for=refusing)  # fmt: skip
    assert started.plan["summary"]["update"] == 4
    operation = world.cloud.run(started)
    assert operation.status == "failed"
    statuses = {s.logical_name: s.status for s in world.cloud.steps(operation.id)}
    assert statuses["standby_logs"] == "failed"
    assert {statuses[n] for n in ("primary_db", "primary_web", "standby", "standby_disk")} == {"undone"}
    assert world.listing("aws-test", "gcp-test") == before  # tags put back on both clouds
    deployment = world.cloud.deployment(deployment_id)
    assert (deployment.status, deployment.current_version) == ("rolled_back", 1)


def test_a_reference_google_cannot_hold_as_a_label_fails_at_apply_and_rolls_aws_back(
    pair: tuple[World, dict[str, Any]],
) -> None:
    """The standby tagged with the primary's web group's id, an ARN (':' and '/'), known only once
    AWS made the group: Google's labels cannot hold it, so the standby fails and AWS is undone."""
    world, template = pair
    template["resources"]["standby"]["tags"]["primary_web"] = "${resources.primary_web.id}"
    before = world.listing("aws-test", "gcp-test")
    deployment_id, operation = world.cloud.create(name="xcloud", template=template)
    assert operation.status == "failed"
    standby = next(s for s in world.cloud.steps(operation.id) if s.logical_name == "standby")
    assert standby.status == "failed"
    assert standby.error is not None
    assert "tag 'primary_web' = 'arn:aws:autoscaling:" in standby.error["detail"]
    assert "label value" in standby.error["detail"]
    assert world.listing("aws-test", "gcp-test") == before
    assert world.cloud.deployment(deployment_id).status == "failed"
