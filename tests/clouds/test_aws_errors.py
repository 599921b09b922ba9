"""How botocore's errors become WedCloud's: the codes AWS documents for throttling, refused
identities, missing resources and wrong states, and the client-side failures (bad parameters,
no credentials, no connection), raised by botocore itself where it can."""

from __future__ import annotations

import socket

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from clouds.aws.api import translate
from clouds.aws.provider import AwsCloud
from clouds.errors import (
    AuthenticationFailed,
    CloudError,
    InvalidStateTransition,
    ResourceNotFound,
    Throttled,
    UnsupportedRequest,
)


def _client_error(code: str, message: str = "it said no") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "DescribeInstances")


@pytest.mark.parametrize(
    ("code", "resource_id", "expected"),
    [
        ("RequestLimitExceeded", None, Throttled),
        ("ThrottlingException", "i-1", Throttled),
        ("UnauthorizedOperation", None, AuthenticationFailed),
        ("ExpiredToken", None, AuthenticationFailed),
        ("InvalidInstanceID.NotFound", "i-1", ResourceNotFound),
        ("DBSnapshotNotFound", "snap", ResourceNotFound),
        ("InvalidInstanceID.NotFound", None, UnsupportedRequest),  # nothing named: nothing to say is gone
        ("IncorrectInstanceState", "i-1", InvalidStateTransition),
        ("InvalidParameterValue", "i-1", UnsupportedRequest),
    ],
)
def test_aws_error_codes_become_the_matching_cloud_error(
    code: str, resource_id: str | None, expected: type[CloudError]
) -> None:
    assert type(translate(_client_error(code), resource_id)) is expected


def test_the_message_of_a_refused_request_keeps_awss_code_and_words() -> None:
    assert str(translate(_client_error("InvalidParameterValue", "size 3 is odd"))) == (
        "InvalidParameterValue: size 3 is odd"
    )


def test_missing_credentials_are_an_authentication_failure() -> None:
    assert isinstance(translate(NoCredentialsError()), AuthenticationFailed)


@pytest.mark.integration
def test_parameters_botocore_refuses_are_an_unsupported_request(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = AwsCloud(aws_keys, regions=("eu-west-2",), endpoint_url=moto_endpoint)
    ec2 = cloud.api.client("ec2", "eu-west-2")
    with pytest.raises(UnsupportedRequest, match="AWS would refuse the request"):
        cloud.api.call(lambda: ec2.describe_instances(MaxResults="many"))


def test_an_endpoint_nobody_listens_on_is_throttled_not_fatal() -> None:
    keys = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "testing-secret-not-real"}
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cloud = AwsCloud(keys, regions=("eu-west-2",), endpoint_url=f"http://127.0.0.1:{port}")
    ec2 = cloud.api.client("ec2", "eu-west-2")
    with pytest.raises(Throttled, match="could not be reached"):
        cloud.api.call(lambda: ec2.describe_regions())


@pytest.mark.integration
def test_ids_that_name_no_aws_resource_kind_are_not_found(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    cloud = AwsCloud(aws_keys, regions=("eu-west-2",), endpoint_url=moto_endpoint)
    with pytest.raises(ResourceNotFound):
        cloud.describe("arn:aws:lambda:eu-west-2:123456789012:function:nothing")
    with pytest.raises(ResourceNotFound):
        cloud.describe("no-such-group")  # a bare name is a group's
