"""EBS volumes (through EC2) and S3 buckets: listed, described, provisioned, tagged and deleted.

An attached volume reports when it was attached (``details["state_since"]``: its ``AttachTime``);
a bucket's intended storage class is a tag, since S3 sets the class per object.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Any

from botocore.exceptions import ClientError

from clouds.aws.api import BUCKET_ARN, TOKEN_TAG, AwsApi, error_code, state_since, tag_dict, tag_list, translate
from clouds.base import CloudResource, ProvisionRequest, ResourceState, ResourceType
from clouds.errors import ResourceNotFound, UnsupportedRequest

STORAGE_CLASS_TAG = "wedcloud:storage-class"  # a bucket's intended S3 storage class (S3 sets it per object)
ADOPTION_WINDOW = timedelta(minutes=15)  # how recent an untagged bucket must be for a retry to adopt it

_VOLUME_STATES = {
    "creating": ResourceState.PROVISIONING,
    "available": ResourceState.AVAILABLE,
    "in-use": ResourceState.AVAILABLE,
    "deleting": ResourceState.TERMINATED,
    "deleted": ResourceState.TERMINATED,
    "error": ResourceState.FAILED,
}


class Storage:
    """The account's EBS volumes and S3 buckets."""

    def __init__(self, api: AwsApi) -> None:
        self.api = api

    # -- read side -----------------------------------------------------------------------
    def volumes(self, region: str, **filters: Any) -> Iterator[CloudResource]:
        for item in self.api.pages("ec2", region, "describe_volumes", "Volumes", **filters):
            tags = tag_dict(item.get("Tags"))
            attachments = item.get("Attachments") or []
            yield CloudResource(
                id=item["VolumeId"],
                name=tags.get("Name", item["VolumeId"]),
                resource_type=ResourceType.STORAGE,
                subtype="volume",
                region=region,
                zone=item.get("AvailabilityZone"),
                state=_VOLUME_STATES.get(item["State"], ResourceState.FAILED),
                account_id="",
                size=f"{item['Size']}GB",
                tags=tags,
                created_at=item.get("CreateTime"),
                attached_to=attachments[0]["InstanceId"] if attachments else None,
                details={
                    "volume_type": item.get("VolumeType"),
                    "iops": item.get("Iops"),
                    # EC2 says when a volume was attached, not when one was detached
                    **state_since(attachments[0].get("AttachTime") if attachments else None),
                },
            )

    def buckets(self, regions: Sequence[str]) -> Iterator[CloudResource]:
        """S3 buckets are global; each is listed once, under its own region, if that region is
        one of ``regions``."""
        answer = self.api.call(self.api.client("s3").list_buckets)
        for bucket in answer.get("Buckets", []):
            found = self.bucket(bucket["Name"])
            if found.region in regions:
                yield replace(found, created_at=bucket.get("CreationDate"))

    def bucket(self, name: str) -> CloudResource:
        s3 = self.api.client("s3")
        location = self.api.call(partial(s3.get_bucket_location, Bucket=name), f"{BUCKET_ARN}{name}")
        region = location.get("LocationConstraint") or "us-east-1"
        try:
            tags = tag_dict(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
        except ClientError:
            tags = {}  # NoSuchTagSet: a bucket without tags
        return CloudResource(
            id=f"{BUCKET_ARN}{name}", name=name, resource_type=ResourceType.STORAGE, subtype="bucket",
            region=region, state=ResourceState.AVAILABLE, account_id="", tags=tags,
            details={"storage_class": tags.get(STORAGE_CLASS_TAG, "STANDARD")},
        )  # fmt: skip

    def describe_volume(self, resource_id: str, region: str) -> CloudResource:
        for candidate in [region] if region else self.api.regions:
            try:
                return next(self.volumes(candidate, VolumeIds=[resource_id]))
            except ResourceNotFound:
                continue
        raise ResourceNotFound(resource_id)

    # -- write side ----------------------------------------------------------------------
    def create_volume(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        ec2 = self.api.client("ec2", request.region)
        arguments: dict[str, Any] = {
            "AvailabilityZone": str(request.options.get("zone") or f"{request.region}a"),
            "Size": int(str(request.size).removesuffix("GB")),
            "VolumeType": str(request.options.get("volume_type", "gp3")),
            "TagSpecifications": [{"ResourceType": "volume", "Tags": tag_list(tags)}],
        }
        if token := tags.get(TOKEN_TAG):
            existing = list(self.volumes(request.region, Filters=[{"Name": f"tag:{TOKEN_TAG}", "Values": [token]}]))
            if existing:
                return existing[0]
            arguments["ClientToken"] = token
        created = self.api.call(lambda: ec2.create_volume(**arguments))
        return next(self.volumes(request.region, VolumeIds=[created["VolumeId"]]))

    def create_bucket(self, request: ProvisionRequest, tags: dict[str, str]) -> CloudResource:
        """S3 has no client token: the bucket's name is its identity. A bucket of that name this
        account already owns is this operation's if it carries the operation's tag, or if it has
        no tags at all and was made in the last few minutes (a retry after a crash between
        creating and tagging it); an older untagged bucket is someone else's, never taken over."""
        s3 = self.api.client("s3", request.region)
        arguments: dict[str, Any] = {"Bucket": request.name}
        if request.region != "us-east-1":  # us-east-1 is S3's default and refuses the constraint
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": request.region}
        try:
            s3.create_bucket(**arguments)
        except ClientError as exc:
            if error_code(exc) == "BucketAlreadyExists":
                raise UnsupportedRequest(f"the bucket name {request.name!r} is taken by another account") from None
            if error_code(exc) != "BucketAlreadyOwnedByYou":
                raise translate(exc) from exc
            owned = self.bucket(request.name)
            ours = (
                owned.tags.get(TOKEN_TAG) == tags.get(TOKEN_TAG, "-") if owned.tags else self._just_made(request.name)
            )
            if not ours:
                raise UnsupportedRequest(f"this account already has a bucket named {request.name!r}") from None
        tag_set = {"TagSet": tag_list({**tags, STORAGE_CLASS_TAG: request.size})}
        self.api.call(lambda: s3.put_bucket_tagging(Bucket=request.name, Tagging=tag_set), request.name)
        return self.bucket(request.name)

    def _just_made(self, name: str) -> bool:
        buckets = self.api.call(self.api.client("s3").list_buckets).get("Buckets", [])
        made = next((b.get("CreationDate") for b in buckets if b["Name"] == name), None)
        return made is not None and self.api.clock() - made < ADOPTION_WINDOW

    def tag_bucket(self, resource_id: str, name: str, tags: Mapping[str, str]) -> None:
        """Replace the bucket's whole tag set with ``tags``."""
        tag_set = {"TagSet": tag_list(tags)}
        self.api.call(lambda: self.api.client("s3").put_bucket_tagging(Bucket=name, Tagging=tag_set), resource_id)

    def delete_volume(self, resource_id: str, region: str) -> None:
        ec2 = self.api.client("ec2", region)
        self.api.call(lambda: ec2.delete_volume(VolumeId=resource_id), resource_id)

    def delete_bucket(self, resource_id: str, name: str) -> None:
        try:
            self.api.client("s3").delete_bucket(Bucket=name)
        except ClientError as exc:
            if error_code(exc) == "BucketNotEmpty":
                raise UnsupportedRequest(f"the bucket {name!r} is not empty; empty it first") from None
            raise translate(exc, resource_id) from exc
