"""An S3 client for OCI Object Storage's S3-compatible API, from a customer secret key.

OCI's S3 compatibility signs with AWS Signature Version 4, using a *customer secret key*
(an access key and its secret, created on an OCI user) and the region as the signing region.
Its endpoint is ``https://<namespace>.compat.objectstorage.<region>.oraclecloud.com`` and
buckets are addressed by path. The namespace and region are checked against OCI's own
spelling before they become a host name, so a setting cannot point the client elsewhere.
"""

from __future__ import annotations

import re
from typing import Any

import boto3
from botocore.config import Config

NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
REGION = re.compile(r"^[a-z]{2,4}-[a-z]+-[0-9]{1,2}$")
CLIENT_CONFIG = Config(
    retries={"mode": "adaptive", "max_attempts": 8},
    connect_timeout=10,
    read_timeout=120,
    s3={"addressing_style": "path"},
    signature_version="s3v4",
)


def compat_endpoint(namespace: str, region: str) -> str:
    """The S3-compatible endpoint of a namespace in a region (ValueError if either is not OCI's spelling)."""
    if not NAMESPACE.fullmatch(namespace):
        raise ValueError(f"namespace {namespace!r} is not an Object Storage namespace (lower-case letters, digits)")
    if not REGION.fullmatch(region):
        raise ValueError(f"region {region!r} is not an OCI region identifier such as uk-london-1")
    return f"https://{namespace}.compat.objectstorage.{region}.oraclecloud.com"


def s3_client(
    credentials: dict[str, Any] | None, *, namespace: str, region: str, endpoint_url: str | None = None
) -> Any:
    """A boto3 S3 client on the namespace's S3-compatible endpoint (or ``endpoint_url``, which
    the caller has already checked). OCI has no ambient credential chain for this API, so a
    customer secret key (``access_key_id``, ``secret_access_key``) is required."""
    credentials = credentials or {}
    key, secret = credentials.get("access_key_id"), credentials.get("secret_access_key")
    if not key or not secret:
        raise ValueError("OCI Object Storage needs a customer secret key: access_key_id and secret_access_key")
    endpoint = endpoint_url or compat_endpoint(namespace, region)
    if endpoint_url is not None:
        compat_endpoint(namespace, region)  # the settings are checked even when the host is overridden
    session = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name=region)
    return session.client("s3", endpoint_url=endpoint, config=CLIENT_CONFIG)
