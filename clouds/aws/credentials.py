"""AWS sessions from a registered provider's credentials, and clients that retry.

Every client retries throttling and transient errors with backoff (botocore's adaptive mode).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10, read_timeout=120)


def session_for(credentials: dict[str, Any] | None, region: str | None = None) -> boto3.Session:
    """A boto3 session: access keys, a role to assume (with its external id), or, with no
    credentials, the SDK's own chain (environment, profile, instance role)."""
    credentials = credentials or {}
    base = boto3.Session(
        aws_access_key_id=credentials.get("access_key_id"),
        aws_secret_access_key=credentials.get("secret_access_key"),
        aws_session_token=credentials.get("session_token"),
        region_name=region or "us-east-1",
    )
    role_arn = credentials.get("role_arn")
    if not role_arn:
        return base
    assume: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "wedcloud"}
    if credentials.get("external_id"):
        assume["ExternalId"] = credentials["external_id"]
    sts = base.client("sts", config=RETRIES, endpoint_url=credentials.get("sts_endpoint_url"))
    temporary = sts.assume_role(**assume)["Credentials"]
    return boto3.Session(
        aws_access_key_id=temporary["AccessKeyId"],
        aws_secret_access_key=temporary["SecretAccessKey"],
        aws_session_token=temporary["SessionToken"],
        region_name=base.region_name,
    )


def client(session: boto3.Session, service: str, endpoint_url: str | None = None) -> Any:
    return session.client(service, config=RETRIES, endpoint_url=endpoint_url)
