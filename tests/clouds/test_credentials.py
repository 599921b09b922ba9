"""A provider's stored credentials become the SDK's own credential objects (nothing is sent
anywhere: these are built offline)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.oauth2 import credentials as oauth2
from google.oauth2 import service_account

from clouds.aws.provider import AwsCloud
from clouds.azure import credentials as azure_credentials
from clouds.errors import AuthenticationFailed
from clouds.gcp import credentials as gcp_credentials


def _service_account_key() -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "wedsync-billing",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "wedcloud-reader@wedsync-billing.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token",
    }


def test_a_google_service_account_key_becomes_scoped_service_account_credentials() -> None:
    credentials = gcp_credentials.credentials_for(_service_account_key())
    assert isinstance(credentials, service_account.Credentials)
    assert credentials.service_account_email == "wedcloud-reader@wedsync-billing.iam.gserviceaccount.com"
    assert list(credentials.scopes) == list(gcp_credentials.SCOPES)


def test_google_access_tokens_ambient_credentials_and_emulators() -> None:
    token = gcp_credentials.credentials_for({"access_token": "ya29.token"})
    assert isinstance(token, oauth2.Credentials)
    assert token.token == "ya29.token"
    emulator = "http://127.0.0.1:9050"
    assert isinstance(gcp_credentials.credentials_for(None, emulator), AnonymousCredentials)  # an emulator's
    assert isinstance(gcp_credentials.credentials_for(_service_account_key(), emulator), service_account.Credentials)
    with pytest.raises(ValueError, match="service account key or an access_token"):
        gcp_credentials.credentials_for({"password": "hunter2"})


def test_no_google_credentials_use_the_machines_defaults_or_fail_naming_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "no-gcloud"))  # no gcloud login here
    monkeypatch.setattr("google.auth.compute_engine._metadata._NO_GCE_CHECK", True)  # nor a metadata server
    with pytest.raises(AuthenticationFailed, match="no Google Application Default Credentials"):
        gcp_credentials.credentials_for(None)
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(_service_account_key()))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    found = gcp_credentials.credentials_for(None)
    assert isinstance(found, service_account.Credentials)
    assert found.service_account_email == "wedcloud-reader@wedsync-billing.iam.gserviceaccount.com"


def test_azure_service_principals_tokens_and_the_ambient_chain() -> None:
    secret = azure_credentials.credential_for({"tenant_id": "t", "client_id": "c", "client_secret": "s"})
    assert isinstance(secret, ClientSecretCredential)
    assert isinstance(azure_credentials.credential_for({"access_token": "eyJ0"}), azure_credentials.StaticToken)
    assert isinstance(azure_credentials.credential_for(None), DefaultAzureCredential)


def test_aws_without_credentials_fails_naming_them_instead_of_raising_botocores_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    cloud = AwsCloud({"role_arn": "arn:aws:iam::123456789012:role/wedcloud"}, regions=["eu-west-2"])
    end = datetime(2026, 11, 27, tzinfo=UTC)
    with pytest.raises(AuthenticationFailed, match="no base credentials to assume arn:aws:iam::123456789012:role"):
        cloud.get_metrics(["i-0123456789abcdef0"], start=end - timedelta(hours=1), end=end)
