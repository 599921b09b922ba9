"""RDS database instances: listed, described, provisioned, tagged, resized, started, stopped
and deleted (with a final snapshot), through RDS."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from clouds.aws.api import TOKEN_TAG, AwsApi, error_code, tag_dict, tag_list, translate
from clouds.base import CloudResource, ProvisionRequest, ResourceState, ResourceType
from clouds.errors import UnsupportedRequest

_DB_STATES = {
    "creating": ResourceState.PROVISIONING,
    "available": ResourceState.RUNNING,
    "stopped": ResourceState.STOPPED,
    "stopping": ResourceState.STOPPED,
    "starting": ResourceState.PROVISIONING,
    "deleting": ResourceState.TERMINATED,
    "failed": ResourceState.FAILED,
}


def _database(item: Mapping[str, Any], region: str) -> CloudResource:
    return CloudResource(
        id=item["DBInstanceArn"],
        name=item["DBInstanceIdentifier"],
        resource_type=ResourceType.DATABASE,
        subtype="database",
        region=region,
        zone=item.get("AvailabilityZone"),
        state=_DB_STATES.get(item["DBInstanceStatus"], ResourceState.RUNNING),
        account_id=item["DBInstanceArn"].split(":")[4],
        size=item.get("DBInstanceClass"),
        tags=tag_dict(item.get("TagList")),
        created_at=item.get("InstanceCreateTime"),
        details={"engine": item.get("Engine"), "storage_gb": item.get("AllocatedStorage"),
                 "multi_az": item.get("MultiAZ"), "endpoint": (item.get("Endpoint") or {}).get("Address")},
    )  # fmt: skip


class Databases:
    """The account's RDS database instances."""

    def __init__(self, api: AwsApi) -> None:
        self.api = api

    # -- read side -----------------------------------------------------------------------
    def databases(self, region: str) -> Iterator[CloudResource]:
        for item in self.api.pages("rds", region, "describe_db_instances", "DBInstances"):
            yield _database(item, region)

    def database(self, region: str, identifier: str) -> CloudResource:
        found = list(
            self.api.pages("rds", region, "describe_db_instances", "DBInstances", DBInstanceIdentifier=identifier)
        )
        return _database(found[0], region)

    # -- write side ----------------------------------------------------------------------
    def create(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        """An RDS instance whose master password RDS keeps in Secrets Manager: no password
        passes through WedCloud. The identifier is unique per region, so a retry finds its own."""
        rds = self.api.client("rds", request.region)
        options = request.options
        try:
            rds.create_db_instance(
                DBInstanceIdentifier=request.name,
                DBInstanceClass=request.size,
                Engine=str(options["engine"]),
                AllocatedStorage=int(options.get("storage_gb", 20)),
                MasterUsername=str(options.get("master_username", "wedcloud")),
                ManageMasterUserPassword=True,
                MultiAZ=bool(options.get("multi_az", False)),
                Tags=tag_list(tags),
            )
        except ClientError as exc:
            if error_code(exc) != "DBInstanceAlreadyExists":
                raise translate(exc) from exc
            existing = self.database(request.region, request.name)
            if TOKEN_TAG not in tags or existing.tags.get(TOKEN_TAG) != tags[TOKEN_TAG]:
                raise UnsupportedRequest(f"a database named {request.name!r} exists in {request.region}") from None
            return existing
        return self.database(request.region, request.name)

    def tag(self, resource_id: str, region: str, gone: list[str], tags: Mapping[str, str]) -> None:
        """Remove the ``gone`` tag keys, then set ``tags``."""
        rds = self.api.client("rds", region)
        if gone:
            self.api.call(lambda: rds.remove_tags_from_resource(ResourceName=resource_id, TagKeys=gone), resource_id)
        if tags:
            new = tag_list(tags)
            self.api.call(lambda: rds.add_tags_to_resource(ResourceName=resource_id, Tags=new), resource_id)

    def resize(self, resource_id: str, region: str, name: str, size: str) -> CloudResource:
        """RDS changes the class of a running instance itself."""
        rds = self.api.client("rds", region)
        self.api.call(
            lambda: rds.modify_db_instance(DBInstanceIdentifier=name, DBInstanceClass=size, ApplyImmediately=True),
            resource_id,
        )
        return self.database(region, name)

    def power(self, resource_id: str, region: str, name: str, action: str) -> CloudResource:
        """Start or stop a database instance."""
        rds = self.api.client("rds", region)
        power = rds.start_db_instance if action == "start" else rds.stop_db_instance
        self.api.call(lambda: power(DBInstanceIdentifier=name), resource_id)
        return self.database(region, name)

    def delete(self, resource_id: str, region: str, name: str) -> None:
        # a final snapshot, so that terminating a database is never the end of its data
        final = f"{name}-final-{datetime.now(UTC):%Y%m%d%H%M}"
        rds = self.api.client("rds", region)
        self.api.call(
            lambda: rds.delete_db_instance(DBInstanceIdentifier=name, FinalDBSnapshotIdentifier=final), resource_id
        )
