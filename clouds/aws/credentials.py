"""AWS sessions from a registered provider's credentials, and clients that retry.

Every client retries throttling and transient errors with backoff (botocore's adaptive mode).
A role's temporary credentials are botocore's refreshable credentials: AssumeRole is called when
they are first needed and again before they expire (botocore refreshes within 15 minutes of the
expiry, and must within 10), so an operation that outlasts one role session keeps working. When
it cannot be called (no base credentials) or is refused, the call that needed the credentials
raises ``AuthenticationFailed`` naming the role and the reason.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

from clouds.errors import AuthenticationFailed

RETRIES = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10, read_timeout=120)
# what STS answers when these credentials may not assume the role (anything else may pass)
REFUSALS = {"AccessDenied", "InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "RegionDisabledException"}
ROLE_SESSION_SECONDS = 3600  # how long each AssumeRole session lasts (AWS allows 900 up to the role's maximum)


def session_for(
    credentials: dict[str, Any] | None, region: str | None = None, *, role_seconds: int = ROLE_SESSION_SECONDS
) -> boto3.Session:
    """A boto3 session: access keys, a role to assume (with its external id), or, with no
    credentials, the SDK's own chain (environment, profile, instance role). A role's session
    lasts ``role_seconds`` and is renewed before it ends."""
    credentials = credentials or {}
    base = boto3.Session(
        botocore_session=_core(),
        aws_access_key_id=credentials.get("access_key_id"),
        aws_secret_access_key=credentials.get("secret_access_key"),
        aws_session_token=credentials.get("session_token"),
        region_name=region or "us-east-1",
    )
    role_arn = credentials.get("role_arn")
    if not role_arn:
        return base
    assume: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": "wedcloud", "DurationSeconds": role_seconds}
    if credentials.get("external_id"):
        assume["ExternalId"] = credentials["external_id"]
    sts = base.client("sts", config=RETRIES, endpoint_url=credentials.get("sts_endpoint_url"))

    def assume_role() -> dict[str, str]:
        try:
            temporary = sts.assume_role(**assume)["Credentials"]
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise AuthenticationFailed(
                f"AWS has no base credentials to assume {role_arn} with: none are stored with the role and the "
                f"SDK's chain on this machine finds none ({exc}); store access keys that may assume it"
            ) from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") not in REFUSALS:
                raise  # throttled or a server error: the caller's translation retries it
            raise AuthenticationFailed(
                f"cannot assume {role_arn}: {error.get('Code', '')}: {error.get('Message', exc)} (the role's trust "
                "policy must allow the stored credentials, with the external id if it asks for one)"
            ) from exc
        return {
            "access_key": temporary["AccessKeyId"],
            "secret_key": temporary["SecretAccessKey"],
            "token": temporary["SessionToken"],
            "expiry_time": temporary["Expiration"].isoformat(),
        }

    core = _core()
    # botocore's own way of giving a session credentials that refresh (what its assume-role provider does)
    core._credentials = DeferredRefreshableCredentials(refresh_using=assume_role, method="assume-role")
    return boto3.Session(botocore_session=core, region_name=base.region_name)


# botocore reads and parses each service's JSON model once per loader; a session of its own per
# adapter would re-read them every time (about 0.3 s for EC2 and CloudWatch). Loaded models are
# read-only data, so every session shares one loader.
_LOADER = botocore.loaders.create_loader()


def _core() -> botocore.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _LOADER)
    return core


def client(
    session: boto3.Session, service: str, endpoint_url: str | None = None, *, config: Config | None = None
) -> Any:
    return session.client(service, config=config or RETRIES, endpoint_url=endpoint_url)
