"""Request and response models of the provider endpoints (/api/cloud/providers): each cloud's
credentials, the bodies that register or change a provider, and the answers."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from clouds.sandbox.catalog import FlavourKey

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,119}$"
REGION_PATTERNS = {
    "aws": r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$",
    "azure": r"^[a-z][a-z0-9]{2,39}$",
    "gcp": r"^[a-z]+-[a-z]+[0-9]$",
}
T = TypeVar("T")
Tags = dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]]


# -- credentials ---------------------------------------------------------------------------
class AwsCredentials(BaseModel):
    """Access keys, a role to assume (with its external id), or keys that assume a role."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"role_arn": "arn:aws:iam::111122223333:role/WedCloudReadWrite", "external_id": "wedsync-7f3a"},
                {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLE"},
            ]
        },
    )

    access_key_id: str | None = Field(default=None, pattern=r"^[A-Z0-9]{16,128}$")
    secret_access_key: SecretStr | None = Field(default=None, min_length=8, max_length=256)
    session_token: SecretStr | None = Field(default=None, max_length=4096)
    role_arn: str | None = Field(
        default=None, pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9_+=,.@/-]{1,512}$"
    )
    external_id: str | None = Field(default=None, min_length=2, max_length=1224)

    @model_validator(mode="after")
    def _one_way_in(self) -> AwsCredentials:
        has_id, has_secret = self.access_key_id is not None, self.secret_access_key is not None
        if has_id != has_secret:
            raise ValueError("access_key_id and secret_access_key go together")
        if not has_id and not self.role_arn:
            raise ValueError("give access keys, a role_arn, or both (keys that assume the role)")
        if self.external_id and not self.role_arn:
            raise ValueError("external_id is only used with role_arn")
        return self


class AzureCredentials(BaseModel):
    """A service principal (tenant, client id, and a client secret or a PEM certificate), or an
    access token obtained elsewhere (``az account get-access-token``; it expires)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "client_id": "04b07795-8ddb-461a-bbee-02f9e1bf7b46",
                    "client_secret": "example-secret-value",
                }
            ]
        },
    )

    tenant_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    client_secret: SecretStr | None = Field(default=None, min_length=8, max_length=512)
    certificate: SecretStr | None = Field(default=None, description="PEM: the certificate and its private key.")
    access_token: SecretStr | None = Field(default=None, min_length=8, max_length=16384)

    @model_validator(mode="after")
    def _secret_or_certificate(self) -> AzureCredentials:
        given = [f for f in ("client_secret", "certificate", "access_token") if getattr(self, f) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of client_secret, certificate and access_token")
        if given[0] != "access_token" and (self.tenant_id is None or self.client_id is None):
            raise ValueError("a service principal needs tenant_id and client_id")
        if self.certificate is not None and "-----BEGIN" not in self.certificate.get_secret_value():
            raise ValueError("certificate must be PEM text (-----BEGIN ...)")
        return self


class GcpCredentials(BaseModel):
    """A service-account key, exactly as Google Cloud issues it (the JSON file's content)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "service_account",
                    "project_id": "wedsync-prod",
                    "private_key_id": "1f2e3d4c5b6a",
                    "private_key": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
                    "client_email": "wedcloud@wedsync-prod.iam.gserviceaccount.com",
                    "client_id": "110000000000000000000",
                    "token_uri": "https://oauth2.googleapis.com/token",
                }
            ]
        },
    )

    type: Literal["service_account"]
    project_id: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    private_key_id: str = Field(min_length=1)
    private_key: SecretStr
    client_email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.iam\.gserviceaccount\.com$")
    token_uri: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a public URL

    @model_validator(mode="after")
    def _pem(self) -> GcpCredentials:
        if "PRIVATE KEY-----" not in self.private_key.get_secret_value():
            raise ValueError("private_key must be the PEM key from the service-account JSON")
        return self


CREDENTIALS: dict[str, type[BaseModel]] = {"aws": AwsCredentials, "azure": AzureCredentials, "gcp": GcpCredentials}


# -- bodies --------------------------------------------------------------------------------
class SandboxProviderCreate(BaseModel):
    """Register one flavour of the embedded sandbox cloud."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"kind": "sandbox", "name": "sandbox-aws", "flavour": "aws", "tags": {"owner": "platform"}}]
        },
    )

    kind: Literal["sandbox"] = Field(description="The embedded sandbox cloud.")
    name: str = Field(pattern=NAME_PATTERN, description="Unique display name.")
    flavour: FlavourKey = Field(description="Which cloud the sandbox imitates: aws, azure or gcp.")
    default_region: str | None = Field(default=None, description="Defaults to the flavour's first region.")
    tags: Tags = Field(default_factory=dict, max_length=50)


class _CloudProviderCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique display name.")
    default_region: str = Field(description="Where resources go when a request names no region.")
    regions: list[str] = Field(
        default_factory=list, max_length=50, description="Regions WedCloud works in (default: the default region)."
    )
    tags: Tags = Field(default_factory=dict, max_length=50)
    endpoint_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(/\S*)?$",
        description="Another endpoint for the cloud's APIs (a sovereign cloud, a local emulator).",
    )
    poll_seconds: float | None = Field(
        default=None,
        ge=0,
        le=60,
        description="Seconds between polls of a long-running operation when the cloud does not say "
        "(default: the SDK's).",
    )

    @model_validator(mode="after")
    def _regions_of_the_cloud(self) -> _CloudProviderCreate:
        kind = getattr(self, "kind", "")
        pattern = REGION_PATTERNS[kind]
        bad = [r for r in [self.default_region, *self.regions] if not re.fullmatch(pattern, r)]
        if bad:
            raise ValueError(f"not {kind} region names: {', '.join(bad)}")
        return self


class AwsProviderCreate(_CloudProviderCreate):
    """An AWS account."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "aws",
                    "name": "wedsync-prod",
                    "default_region": "eu-west-2",
                    "regions": ["eu-west-2", "eu-west-1"],
                    "credentials": {"role_arn": "arn:aws:iam::111122223333:role/WedCloud", "external_id": "ws-7f3a"},
                    "tags": {"owner": "platform"},
                }
            ]
        },
    )

    kind: Literal["aws"]
    credentials: AwsCredentials | None = Field(default=None, description="None: the SDK's own credential chain.")


SUBNET_ID = (
    r"^/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[A-Za-z0-9_().-]{1,90}/providers/Microsoft\.Network/"
    r"virtualNetworks/[A-Za-z0-9_.-]{1,80}/subnets/[A-Za-z0-9_.-]{1,80}$"
)


class AzureProviderCreate(_CloudProviderCreate):
    """An Azure subscription."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "azure",
                    "name": "wedsync-azure",
                    "subscription_id": "00000000-0000-0000-0000-000000000001",
                    "default_region": "uksouth",
                    "credentials": AzureCredentials.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
                }
            ]
        },
    )

    kind: Literal["azure"]
    subscription_id: uuid.UUID
    credentials: AzureCredentials | None = Field(default=None, description="None: DefaultAzureCredential.")
    recovery_subnets: dict[
        Annotated[str, Field(pattern=r"^[a-z0-9]{2,40}$")],
        Annotated[str, Field(pattern=SUBNET_ID, max_length=600)],
    ] = Field(
        default_factory=dict,
        max_length=50,
        description="Region -> the ARM id of the subnet a VM restored there joins (disaster recovery). A VM "
        "restore in a region without one is refused; disks restore without it.",
    )


class GcpProviderCreate(_CloudProviderCreate):
    """A Google Cloud project."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "gcp", "name": "wedsync-gcp", "project_id": "wedsync-prod", "default_region": "europe-west2"}
            ]
        },
    )

    kind: Literal["gcp"]
    project_id: str = Field(pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
    credentials: GcpCredentials | None = Field(default=None, description="None: Application Default Credentials.")


ProviderCreate = Annotated[
    SandboxProviderCreate | AwsProviderCreate | AzureProviderCreate | GcpProviderCreate, Field(discriminator="kind")
]


class ProviderUpdate(BaseModel):
    """Fields to change; the others stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "wedsync-production", "regions": ["eu-west-2", "eu-west-1"]},
                {"credentials": {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "new-secret-value"}},
            ]
        },
    )

    name: str | None = Field(default=None, pattern=NAME_PATTERN)
    default_region: str | None = None
    regions: list[str] | None = Field(default=None, min_length=1, max_length=50)
    tags: Tags | None = Field(default=None, max_length=50)
    credentials: dict[str, Any] | None = Field(
        default=None, description="New credentials, in the shape of the provider's kind (rotates them)."
    )
    endpoint_url: str | None = Field(default=None, pattern=r"^(https?://[^\s/]+(/\S*)?)?$")


# -- answers -------------------------------------------------------------------------------
class ConnectionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "ok": False,
                    "identity": "arn:aws:sts::111122223333:assumed-role/WedCloud/wedcloud",
                    "detail": "account 111122223333; missing permissions: rds:DescribeDBInstances",
                    "missing_permissions": ["rds:DescribeDBInstances"],
                    "checked_at": "2026-11-27T09:00:00+00:00",
                }
            ]
        }
    )

    ok: bool
    identity: str
    detail: str
    missing_permissions: list[str]
    checked_at: datetime


class ProviderOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11",
                    "kind": "aws",
                    "name": "wedsync-prod",
                    "default_region": "eu-west-2",
                    "regions": ["eu-west-2", "eu-west-1"],
                    "tags": {"owner": "platform"},
                    "settings": {},
                    "status": "active",
                    "has_credentials": True,
                    "last_check": ConnectionOut.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
                    "created_at": "2026-11-27T09:00:00Z",
                    "updated_at": "2026-11-27T09:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    kind: str
    name: str
    default_region: str | None
    regions: list[str]
    tags: dict[str, str]
    settings: dict[str, Any]
    status: str
    has_credentials: bool
    last_check: ConnectionOut | None = None
    created_at: datetime
    updated_at: datetime


class RegionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "eu-west-2", "name": "eu-west-2", "geography": "Europe"}]}
    )

    id: str
    name: str
    geography: str


class ServiceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "AmazonEC2",
                    "name": "Amazon Elastic Compute Cloud",
                    "category": "Compute",
                    "resource_types": ["compute"],
                }
            ]
        }
    )

    id: str
    name: str
    category: str
    resource_types: list[str]


class Listing(BaseModel, Generic[T]):
    items: list[T]
