"""Request and response models of the resource endpoints (/api/cloud/resources)."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from clouds.base import ResourceType
from control_api.schemas.operations import OperationOut
from control_plane.audit import MAX_DEPTH, depth_of
from control_plane.services import resources as service


def _shallow(value: dict[str, Any]) -> dict[str, Any]:
    if depth_of(value) > MAX_DEPTH - 4:  # the audit trail keeps the body a few levels down
        raise ValueError(f"nested at most {MAX_DEPTH - 4} levels deep")
    return value


Tags = dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]]
NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
# the types WedCloud can provision (a network resource, such as an address, is only ever listed)
Provisionable = Literal["compute", "storage", "database"]


class ResourceSpec(BaseModel):
    """One resource to provision."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "provider_id": "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11",
                    "name": "bookings-api-3",
                    "type": "compute",
                    "size": "m5.large",
                    "region": "eu-west-2",
                    "image": "ami-0abcdef1234567890",
                    "tags": {"team": "bookings", "env": "production"},
                }
            ]
        },
    )

    provider_id: uuid.UUID
    name: str = Field(pattern=NAME, description="Letters, digits, dot, dash, underscore; up to 63.")
    type: Provisionable = Field(description="compute, storage or database.")
    subtype: Literal["instance", "instance_group", "volume", "bucket", "database"] | None = Field(
        default=None, description="Defaults to instance, volume or database by type."
    )
    size: str = Field(
        min_length=1,
        max_length=64,
        description=(
            "An instance or database class (m5.large, db.t4g.micro), a volume size such as 100GB, or a "
            "bucket's storage class or SKU (STANDARD, Standard_LRS)."
        ),
    )
    region: str | None = Field(default=None, max_length=64, description="Defaults to the provider's default region.")
    image: str | None = Field(default=None, max_length=256, description="Machine image (AWS: an AMI id).")
    network: str | None = Field(default=None, max_length=256, description="Subnet or network to attach to.")
    tags: Tags = Field(default_factory=dict, max_length=50)
    options: Annotated[dict[str, Any], AfterValidator(_shallow)] = Field(
        default_factory=dict,
        description=f"Kind-specific: min and max of an instance group, volume_type, zone (at most "
        f"{MAX_DEPTH - 4} levels deep).",
    )

    def spec(self) -> service.ProvisionSpec:
        return service.ProvisionSpec(
            provider_id=self.provider_id, name=self.name, resource_type=ResourceType(self.type), size=self.size,
            region=self.region, subtype=self.subtype, image=self.image, network=self.network,
            tags=dict(self.tags), options=dict(self.options),
        )  # fmt: skip


class BulkProvision(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"atomic": True, "specs": ResourceSpec.model_config["json_schema_extra"]["examples"]}]  # type: ignore[index]
        },
    )

    specs: list[ResourceSpec] = Field(min_length=1, max_length=service.BULK_LIMIT)
    atomic: bool = Field(default=False, description="All or nothing: any failure terminates what was made.")


class ScaleBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"size": "m5.xlarge"}, {"capacity": 6}]})

    size: str | None = Field(default=None, min_length=1, max_length=64, description="Vertical: the new type.")
    capacity: int | None = Field(default=None, ge=0, le=1000, description="Horizontal: a group's instance count.")

    @model_validator(mode="after")
    def _one(self) -> ScaleBody:
        if (self.size is None) == (self.capacity is None):
            raise ValueError("give exactly one of size (vertical) and capacity (horizontal)")
        return self


class ResourceUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"tags": {"team": "bookings"}, "protected": True}, {"size": "m5.xlarge"}]},
    )

    tags: Tags | None = Field(default=None, max_length=50, description="Replaces the tags, here and at the provider.")
    protected: bool | None = Field(default=None, description="A protected resource refuses termination.")
    size: str | None = Field(default=None, min_length=1, max_length=64, description="Resizes through the scale path.")


class CostRate(BaseModel):
    hourly: Decimal
    monthly: Decimal = Field(description="Hourly x 730.")
    currency: str | None


class ResourceOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "9a3e3d55-6a43-4c64-9f0e-8a3f2b8c1d20",
                    "provider_id": "0b6f6f0e-8d0f-4a53-9d55-2a7b7d1f1c11",
                    "cloud_id": "i-0abcdef1234567890",
                    "name": "bookings-api-3",
                    "type": "compute",
                    "subtype": "instance",
                    "region": "eu-west-2",
                    "zone": "eu-west-2a",
                    "size": "m5.large",
                    "state": "running",
                    "account_id": "111122223333",
                    "tags": {"team": "bookings"},
                    "details": {"image": "ami-0abcdef1234567890"},
                    "protected": False,
                    "cost_rate": {"hourly": "0.111000", "monthly": "81.030000", "currency": "USD"},
                    "launched_at": "2026-11-27T09:00:00+00:00",
                    "created_at": "2026-11-27T09:00:00+00:00",
                    "updated_at": "2026-11-27T09:00:05+00:00",
                    "terminated_at": None,
                }
            ]
        }
    )

    id: uuid.UUID
    provider_id: uuid.UUID
    cloud_id: str | None = Field(description="The provider's id; null until provisioning has an answer.")
    name: str
    type: str
    subtype: str
    region: str
    zone: str | None
    size: str | None
    state: str = Field(description="provisioning, running, stopped, available, terminated or failed.")
    account_id: str | None
    tags: dict[str, str]
    details: dict[str, Any]
    protected: bool
    cost_rate: CostRate | None
    launched_at: datetime | None
    created_at: datetime
    updated_at: datetime
    terminated_at: datetime | None


class MetricSample(BaseModel):
    timestamp: datetime
    value: float


class ResourceDetail(ResourceOut):
    last_metrics: dict[str, MetricSample] | None = Field(
        default=None, description="The newest sample of each metric from the provider (null where it has none)."
    )


class ResourceUpdated(BaseModel):
    resource: ResourceOut
    operation: OperationOut | None = Field(description="The resize, when the size changed (poll it).")


class MetricSeries(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "resource_id": "9a3e3d55-6a43-4c64-9f0e-8a3f2b8c1d20",
                    "start": "2026-11-26T09:00:00+00:00",
                    "end": "2026-11-27T09:00:00+00:00",
                    "step": "1h",
                    "series": {"cpu_percent": [{"timestamp": "2026-11-26T09:00:00+00:00", "value": 41.5}]},
                }
            ]
        }
    )

    resource_id: uuid.UUID
    start: datetime
    end: datetime
    step: str
    series: dict[str, list[MetricSample]]
