"""moto's IAM authorisation mode says no: an IAM user whose policy lacks a permission WedCloud
reads with is told which, through the AWS adapter's connection test.

This moto runs in a server process of its own, started with ``INITIAL_NO_AUTH_ACTION_COUNT``:
it lets the set-up's IAM calls through unchecked, then authenticates every request (the access
key and its SigV4 signature) and authorises it against the caller's IAM policies, so the other
AWS tests, on the shared moto, are unaffected."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import boto3
import pytest

from clouds.aws.provider import PERMISSION_PROBES, AwsCloud
from clouds.errors import AuthenticationFailed
from tests.conftest import free_port, stop_group, wait_for_port

pytestmark = pytest.mark.integration

# one user per permission withheld: RDS and EC2 go through moto's query-API check, S3 its own
WITHHELD = ("rds:DescribeDBInstances", "ec2:DescribeVolumes", "s3:ListAllMyBuckets")
SETUP_ACTIONS = 3 * len(WITHHELD)  # CreateUser, PutUserPolicy, CreateAccessKey each: not checked


@pytest.fixture(scope="module")
def moto_iam() -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    """A moto server that enforces IAM, and per permission of ``WITHHELD`` the access keys of a
    user allowed every other permission WedCloud reads with."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    env = {"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_ACTIONS), "PATH": "/usr/bin:/bin"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    try:
        wait_for_port(port, process, 30)
        endpoint = f"http://127.0.0.1:{port}"
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=endpoint,
                           aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key="set-up")  # fmt: skip
        keys = {}
        for index, withheld in enumerate(WITHHELD):
            allowed = [p for p, _ in PERMISSION_PROBES if p != withheld] + ["sts:GetCallerIdentity"]
            statement = {"Effect": "Allow", "Action": allowed, "Resource": "*"}
            policy = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
            user = f"wedcloud-reader-{index}"
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName="reads", PolicyDocument=policy)
            key = iam.create_access_key(UserName=user)["AccessKey"]
            keys[withheld] = {"access_key_id": key["AccessKeyId"], "secret_access_key": key["SecretAccessKey"]}
        yield endpoint, keys
    finally:
        stop_group(process)


@pytest.mark.parametrize("withheld", WITHHELD)
def test_a_permission_the_policy_lacks_is_named_by_the_connection_test(
    moto_iam: tuple[str, dict[str, dict[str, str]]], withheld: str
) -> None:
    endpoint, keys = moto_iam
    check = AwsCloud(keys[withheld], regions=("eu-west-2",), endpoint_url=endpoint).test_connection()
    assert not check.ok
    assert check.identity.endswith(f":user/wedcloud-reader-{WITHHELD.index(withheld)}")
    assert list(check.missing_permissions) == [withheld]
    assert check.detail.endswith(f"missing permissions: {withheld}")


def test_a_key_moto_does_not_know_fails_the_connection_test(
    moto_iam: tuple[str, dict[str, dict[str, str]]],
) -> None:
    endpoint, keys = moto_iam
    stranger = keys[WITHHELD[0]] | {"access_key_id": "AKIAI44QH8DHBEXAMPLE"}
    check = AwsCloud(stranger, regions=("eu-west-2",), endpoint_url=endpoint).test_connection()
    assert not check.ok
    assert "InvalidClientTokenId" in check.detail


def test_a_role_the_credentials_may_not_assume_fails_naming_the_role_and_the_refusal(
    moto_iam: tuple[str, dict[str, dict[str, str]]],
) -> None:
    endpoint, keys = moto_iam  # none of these users is allowed sts:AssumeRole
    role = "arn:aws:iam::123456789012:role/WedCloudReader"
    credentials = keys[WITHHELD[0]] | {"role_arn": role, "sts_endpoint_url": endpoint}
    cloud = AwsCloud(credentials, regions=("eu-west-2",), endpoint_url=endpoint)
    with pytest.raises(AuthenticationFailed, match=f"cannot assume {role}: AccessDenied"):
        list(cloud.list_resources())
    check = cloud.test_connection()
    assert not check.ok
    assert f"cannot assume {role}: AccessDenied" in check.detail
