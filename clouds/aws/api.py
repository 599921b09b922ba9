"""What every part of the AWS adapter shares: one account's boto3 clients per service and region,
calls and paginators whose SDK errors leave as the errors of :mod:`clouds.errors`, resource-id
parsing, EC2 tags and the tag helpers.

Every list follows its paginator to the end (EC2 pages at 100 items by default) and every call
retries throttling with botocore's adaptive mode (:mod:`clouds.aws.credentials`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)

from clouds.aws import credentials as aws_credentials
from clouds.errors import (
    AuthenticationFailed,
    CloudError,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)

TOKEN_TAG = "wedcloud:operation"  # noqa: S105 - a tag key: the operation that made a resource
BUCKET_ARN = "arn:aws:s3:::"

DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedAccess"}
_BAD_IDENTITY = {"InvalidClientTokenId", "SignatureDoesNotMatch", "AuthFailure", "ExpiredToken"}
_THROTTLED = {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: ClientError | BotoCoreError, resource_id: str | None = None) -> CloudError:
    """The :mod:`clouds.errors` error for an SDK error."""
    if isinstance(exc, ParamValidationError):
        return UnsupportedRequest(f"AWS would refuse the request: {exc}")
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return AuthenticationFailed(f"AWS has no usable credentials for this provider: {exc}")
    if isinstance(exc, BotoCoreError):
        error: CloudError = Throttled(f"AWS could not be reached: {exc}")
        return error
    code, message = error_code(exc), exc.response.get("Error", {}).get("Message", str(exc))
    if code in _THROTTLED:
        return Throttled(f"AWS throttled the call: {message}")
    if code in DENIED or code in _BAD_IDENTITY:
        return AuthenticationFailed(f"{code}: {message}")
    if resource_id and (
        code.endswith(".NotFound") or code in {"DBInstanceNotFound", "DBSnapshotNotFound", "NoSuchBucket"}
    ):
        return ResourceNotFound(resource_id)
    if code == "IncorrectInstanceState" and resource_id:
        return InvalidStateTransition(resource_id, "in another state", message)
    return UnsupportedRequest(f"{code}: {message}")


def client_token(*parts: str) -> str:
    """An EC2 client token (at most 64 ASCII characters) derived from what identifies a call."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:64]


def tag_dict(items: Sequence[Mapping[str, str]] | None, key: str = "Key", value: str = "Value") -> dict[str, str]:
    return {item[key]: item.get(value, "") for item in items or ()}


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def state_since(moment: datetime | None) -> dict[str, datetime]:
    """``details["state_since"]`` when known; absent, never guessed, when not."""
    return {} if moment is None else {"state_since": moment.astimezone(UTC)}


def identify(resource_id: str) -> tuple[str, str, str]:
    """(subtype, region, name) from an id: EC2 ids by prefix, the rest by ARN. The region of an
    EC2 id is not in it ("")."""
    if resource_id.startswith(BUCKET_ARN):
        return "bucket", "", resource_id.removeprefix(BUCKET_ARN)
    if resource_id.startswith("arn:aws:rds:"):
        parts = resource_id.split(":")
        return "database", parts[3], parts[-1]
    if resource_id.startswith("arn:aws:autoscaling:"):
        return "instance_group", resource_id.split(":")[3], resource_id.rsplit("autoScalingGroupName/", 1)[-1]
    if resource_id.startswith("vol-"):
        return "volume", "", resource_id
    if resource_id.startswith("eipalloc-"):
        return "address", "", resource_id
    if resource_id.startswith("i-"):
        return "instance", "", resource_id
    if resource_id.startswith("arn:"):
        raise ResourceNotFound(resource_id)
    return "instance_group", "", resource_id  # a group's bare name


class AwsApi:
    """One AWS account (its registered credentials or the SDK's chain), over ``regions``: its
    sessions and clients per region, and the clock the parts read."""

    def __init__(
        self,
        credentials: dict[str, Any] | None,
        *,
        regions: Sequence[str],
        default_region: str | None = None,
        endpoint_url: str | None = None,
    ) -> None:
        self.credentials = credentials
        self.default_region = default_region or (regions[0] if regions else "us-east-1")
        self.regions = list(regions) or [self.default_region]
        self.endpoint_url = endpoint_url
        self.sessions: dict[str, boto3.Session] = {}
        # botocore clients are thread-safe and take their credentials from the session (a role's
        # refresh included), so one per service and region serves every call: making one
        # costs more than most calls (an inventory listing made a dozen per region)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._account_id: str | None = None

    def account_id(self) -> str:
        """The account's id (STS GetCallerIdentity, which needs no permission; asked once)."""
        if self._account_id is None:
            self._account_id = str(self.call(lambda: self.client("sts").get_caller_identity())["Account"])
        return self._account_id

    def client(self, service: str, region: str | None = None, *, config: Config | None = None) -> Any:
        """A client of ``service`` in ``region``; ``config`` replaces the default retries and timeouts."""
        region = region or self.default_region
        if config is None and (made := self._clients.get((service, region))) is not None:
            return made
        try:  # assuming a role calls STS here, before any call of the caller's
            with self._lock:
                if region not in self.sessions:
                    self.sessions[region] = aws_credentials.session_for(self.credentials, region)
                made = aws_credentials.client(self.sessions[region], service, self.endpoint_url, config=config)
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc) from exc
        if config is None:  # a config of the caller's may be a one-off: only the default's clients are kept
            self._clients[service, region] = made
        return made

    def call(self, call: Callable[[], Any], resource_id: str | None = None) -> Any:
        try:
            return call()
        except (ClientError, BotoCoreError) as exc:
            raise translate(exc, resource_id) from exc

    def pages(self, service: str, region: str, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client(service, region).get_paginator(operation)
        try:
            for page in paginator.paginate(**kwargs):
                yield from page.get(key, [])
        except (ClientError, BotoCoreError) as exc:
            named = kwargs.get("InstanceIds") or kwargs.get("VolumeIds") or [kwargs.get("DBInstanceIdentifier", "")]
            raise translate(exc, ",".join(named) or None) from exc

    def tag_ec2(self, resource_id: str, region: str, gone: list[str], tags: Mapping[str, str]) -> None:
        """Remove the ``gone`` tag keys of an EC2 resource (instance, volume, address), then set ``tags``."""
        ec2 = self.client("ec2", region)
        if gone:
            self.call(lambda: ec2.delete_tags(Resources=[resource_id], Tags=[{"Key": k} for k in gone]))
        if tags:
            self.call(lambda: ec2.create_tags(Resources=[resource_id], Tags=tag_list(tags)), resource_id)
