"""What each sandbox flavour sells: regions, sizes, services and list prices.

Prices are the providers' published on-demand list prices for Linux in their cheapest
US region, rounded to four decimal places (late 2025); other regions apply a factor. They
are realistic enough for savings arithmetic and are never presented as live prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from clouds.base import DATABASE_SERVICE, InstanceType, Region, ResourceType, Service

D = Decimal
DB = DATABASE_SERVICE


class FlavourKey(StrEnum):
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"


@dataclass(frozen=True)
class PricedRegion:
    region: Region
    price_factor: Decimal
    zones: tuple[str, ...]


@dataclass(frozen=True)
class StoragePrices:
    """Per GB-month and per GB, in USD."""

    object_gb_month: Decimal
    block_gb_month: Decimal
    snapshot_gb_month: Decimal
    egress_gb: Decimal
    public_ip_hour: Decimal


@dataclass(frozen=True)
class Flavour:
    key: FlavourKey
    provider_name: str  # FOCUS ProviderName / InvoiceIssuerName
    regions: tuple[PricedRegion, ...]
    instance_types: tuple[InstanceType, ...]
    database_types: tuple[InstanceType, ...]
    storage: StoragePrices
    services: tuple[Service, ...]
    billing_currency: str
    usd_to_billing: Decimal  # fixed exchange rate the sandbox bills at

    def region(self, region_id: str) -> PricedRegion:
        for priced in self.regions:
            if priced.region.id == region_id:
                return priced
        raise KeyError(f"{self.key} has no region {region_id!r}")

    def instance_type(self, name: str) -> InstanceType:
        for candidate in (*self.instance_types, *self.database_types):
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.key} has no instance type {name!r}")

    def hourly_price(self, type_name: str, region_id: str) -> Decimal:
        """On-demand list price per hour, in USD, in a region."""
        return self.instance_type(type_name).hourly_price * self.region(region_id).price_factor


def _types(family: str, rows: list[tuple[str, int, str, str]], **extra: object) -> list[InstanceType]:
    return [
        InstanceType(name=n, family=family, vcpus=c, memory_gib=D(m), hourly_price=D(p), **extra)  # type: ignore[arg-type]
        for n, c, m, p in rows
    ]


def _region(rid: str, name: str, geo: str, factor: str, zones: tuple[str, ...]) -> PricedRegion:
    return PricedRegion(Region(rid, name, geo), D(factor), zones)


AWS = Flavour(
    key=FlavourKey.AWS,
    provider_name="AWS",
    regions=(
        _region("us-east-1", "US East (N. Virginia)", "North America", "1.00", ("us-east-1a", "us-east-1b")),
        _region("eu-west-2", "Europe (London)", "Europe", "1.16", ("eu-west-2a", "eu-west-2b")),
        _region("eu-west-1", "Europe (Ireland)", "Europe", "1.10", ("eu-west-1a", "eu-west-1b")),
    ),
    instance_types=(
        *_types(
            "t3", [("t3.micro", 2, "1", "0.0104"), ("t3.medium", 2, "4", "0.0416"), ("t3.large", 2, "8", "0.0832")]
        ),
        *_types(
            "m5",
            [
                ("m5.large", 2, "8", "0.0960"),
                ("m5.xlarge", 4, "16", "0.1920"),
                ("m5.2xlarge", 8, "32", "0.3840"),
                ("m5.4xlarge", 16, "64", "0.7680"),
            ],
        ),
        *_types("m6i", [("m6i.large", 2, "8", "0.0960"), ("m6i.xlarge", 4, "16", "0.1920")]),
        *_types(
            "c5", [("c5.large", 2, "4", "0.0850"), ("c5.xlarge", 4, "8", "0.1700"), ("c5.2xlarge", 8, "16", "0.3400")]
        ),
        *_types(
            "r5", [("r5.large", 2, "16", "0.1260"), ("r5.xlarge", 4, "32", "0.2520"), ("r5.2xlarge", 8, "64", "0.5040")]
        ),
        *_types("m7g", [("m7g.large", 2, "8", "0.0816"), ("m7g.xlarge", 4, "16", "0.1632")], architecture="arm64"),
        *_types("p3", [("p3.2xlarge", 8, "61", "3.0600")], gpus=1),
    ),
    database_types=(  # RDS classes at RDS prices (not EC2's)
        *_types("db.m5", [("db.m5.large", 2, "8", "0.1710"), ("db.m5.xlarge", 4, "16", "0.3420")], service=DB),
        *_types("db.r5", [("db.r5.large", 2, "16", "0.2500"), ("db.r5.xlarge", 4, "32", "0.5000")], service=DB),
    ),
    storage=StoragePrices(D("0.023"), D("0.08"), D("0.05"), D("0.09"), D("0.005")),
    services=(
        Service("AmazonEC2", "Amazon Elastic Compute Cloud", "Compute", (ResourceType.COMPUTE, ResourceType.STORAGE)),
        Service("AmazonS3", "Amazon Simple Storage Service", "Storage", (ResourceType.STORAGE,)),
        Service("AmazonRDS", "Amazon Relational Database Service", "Databases", (ResourceType.DATABASE,)),
        Service("AWSDataTransfer", "AWS Data Transfer", "Networking", (ResourceType.NETWORK,)),
    ),
    billing_currency="USD",
    usd_to_billing=D("1"),
)

AZURE = Flavour(
    key=FlavourKey.AZURE,
    provider_name="Microsoft",
    regions=(
        _region("uksouth", "UK South", "Europe", "1.10", ("1", "2", "3")),
        _region("westeurope", "West Europe", "Europe", "1.08", ("1", "2", "3")),
        _region("eastus", "East US", "North America", "1.00", ("1", "2", "3")),
    ),
    instance_types=(
        *_types("Bs", [("Standard_B2s", 2, "4", "0.0416"), ("Standard_B2ms", 2, "8", "0.0832")]),
        *_types(
            "Dsv5",
            [
                ("Standard_D2s_v5", 2, "8", "0.0960"),
                ("Standard_D4s_v5", 4, "16", "0.1920"),
                ("Standard_D8s_v5", 8, "32", "0.3840"),
                ("Standard_D16s_v5", 16, "64", "0.7680"),
            ],
        ),
        *_types("Fsv2", [("Standard_F2s_v2", 2, "4", "0.0846"), ("Standard_F4s_v2", 4, "8", "0.1690")]),
        *_types("Esv5", [("Standard_E2s_v5", 2, "16", "0.1260"), ("Standard_E4s_v5", 4, "32", "0.2520")]),
        *_types("NCv3", [("Standard_NC6s_v3", 6, "112", "3.0600")], gpus=1),
    ),
    database_types=(
        *_types("SQL GP Gen5", [("GP_Gen5_2", 2, "10.2", "0.5044"), ("GP_Gen5_4", 4, "20.4", "1.0088")], service=DB),
    ),
    storage=StoragePrices(D("0.0184"), D("0.0768"), D("0.05"), D("0.087"), D("0.005")),
    services=(
        Service("Virtual Machines", "Virtual Machines", "Compute", (ResourceType.COMPUTE,)),
        Service("Storage", "Storage", "Storage", (ResourceType.STORAGE,)),
        Service("SQL Database", "SQL Database", "Databases", (ResourceType.DATABASE,)),
        Service("Bandwidth", "Bandwidth", "Networking", (ResourceType.NETWORK,)),
    ),
    billing_currency="GBP",
    usd_to_billing=D("0.79"),
)

GCP = Flavour(
    key=FlavourKey.GCP,
    provider_name="Google Cloud",
    regions=(
        _region("europe-west2", "London", "Europe", "1.16", ("europe-west2-a", "europe-west2-b")),
        _region("us-central1", "Iowa", "North America", "1.00", ("us-central1-a", "us-central1-b")),
        _region("europe-west1", "Belgium", "Europe", "1.10", ("europe-west1-b", "europe-west1-c")),
    ),
    instance_types=(
        *_types(
            "e2",
            [
                ("e2-small", 2, "2", "0.0168"),
                ("e2-medium", 2, "4", "0.0335"),
                ("e2-standard-2", 2, "8", "0.0670"),
                ("e2-standard-4", 4, "16", "0.1340"),
            ],
        ),
        *_types(
            "n2",
            [
                ("n2-standard-2", 2, "8", "0.0971"),
                ("n2-standard-4", 4, "16", "0.1942"),
                ("n2-standard-8", 8, "32", "0.3885"),
                ("n2-standard-16", 16, "64", "0.7769"),
            ],
        ),
        *_types("n2-highmem", [("n2-highmem-2", 2, "16", "0.1310"), ("n2-highmem-4", 4, "32", "0.2620")]),
        *_types("c2", [("c2-standard-4", 4, "16", "0.2088")]),
        *_types("a2", [("a2-highgpu-1g", 12, "85", "3.6730")], gpus=1),
    ),
    database_types=(
        *_types(
            "db-custom",
            [("db-custom-2-7680", 2, "7.5", "0.1300"), ("db-custom-4-15360", 4, "15", "0.2600")],
            service=DB,
        ),
    ),
    storage=StoragePrices(D("0.020"), D("0.10"), D("0.05"), D("0.12"), D("0.005")),
    services=(
        Service("6F81-5844-456A", "Compute Engine", "Compute", (ResourceType.COMPUTE, ResourceType.STORAGE)),
        Service("95FF-2EF5-5EA1", "Cloud Storage", "Storage", (ResourceType.STORAGE,)),
        Service("9662-B51E-5089", "Cloud SQL", "Databases", (ResourceType.DATABASE,)),
        Service("E505-1604-58F8", "Networking", "Networking", (ResourceType.NETWORK,)),
    ),
    billing_currency="USD",
    usd_to_billing=D("1"),
)

FLAVOURS: dict[FlavourKey, Flavour] = {f.key: f for f in (AWS, AZURE, GCP)}
