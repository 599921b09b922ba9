"""The sandbox's estate: which resources each flavour runs, and the planted problems.

Everything here is declarative. ``world.py`` turns it into rows with seed-derived ids and
lifecycle events; ``demand.py`` gives each workload its utilisation; ``usage.py`` bills it.

Planted for the optimisation and cost features to find:
- idle: ``staging-old`` (AWS), ``vm-test-old`` (Azure): CPU under 2% all day, every day;
- oversized: ``reporting`` (AWS m5.4xlarge) and ``warehouse-vm`` (GCP n2-standard-16): P95
  CPU well under 10%;
- unattached disk: ``dev-old-data`` (AWS) detached 45 days before the sandbox's date;
- stopped but paying for storage: ``analytics-old`` (AWS);
- cost anomaly: four ``gpu-experiment`` p3.2xlarge instances in the AWS dev account for
  three days, 12 to 9 days before the sandbox's date;
- budget overrun: the AWS dev account's monthly budget (``planted_budgets``) is exceeded in
  the month of that experiment, and only then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from clouds.sandbox.catalog import FlavourKey


class Kind(StrEnum):
    INSTANCE = "instance"
    GROUP = "group"  # an autoscaling group / scale set / managed instance group
    DATABASE = "database"
    VOLUME = "volume"
    BUCKET = "bucket"
    EGRESS = "egress"  # account-level internet data transfer, not a resource


class Workload(StrEnum):
    WEB = "web"  # autoscaled to demand
    API = "api"  # fixed size, follows demand
    NIGHTLY_BATCH = "nightly_batch"
    DATABASE = "database"
    OFFICE_HOURS = "office_hours"  # development machines, busy 08-18 on weekdays
    IDLE = "idle"
    OVERSIZED = "oversized"
    GPU_BURST = "gpu_burst"
    STORAGE = "storage"


@dataclass(frozen=True)
class When:
    """A moment relative to the history's start (``from_start``) or to its end (``before_end``),
    in days, plus an hour of day."""

    from_start: int | None = None
    before_end: int | None = None
    hour: int = 0


START = When(from_start=0)


@dataclass(frozen=True)
class Blueprint:
    key: str
    name: str
    kind: Kind
    account: str  # account role: prod or dev
    region: str
    size: str | None = None
    workload: Workload = Workload.STORAGE
    storage_gb: int = 0
    growth_gb_per_day: float = 0.0
    min_capacity: int = 1
    max_capacity: int = 1
    demand_vcpus: float = 0.0  # for groups: vCPUs needed at average demand
    egress_gb_per_day: float = 0.0
    env: str = "production"
    team: str = "platform"
    created: When = START
    terminated: When | None = None
    stopped: When | None = None
    resized: tuple[When, str] | None = None
    attached_to: str | None = None  # blueprint key of the instance a volume hangs off
    extra_tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AccountSpec:
    role: str
    name: str


ACCOUNTS: dict[FlavourKey, tuple[AccountSpec, ...]] = {
    FlavourKey.AWS: (
        AccountSpec("billing", "wedsync-payer"),
        AccountSpec("prod", "wedsync-prod"),
        AccountSpec("dev", "wedsync-dev"),
    ),
    FlavourKey.AZURE: (
        AccountSpec("billing", "WedSync Enrollment"),
        AccountSpec("prod", "wedsync-eu-prod"),
        AccountSpec("dev", "wedsync-eu-dev"),
    ),
    FlavourKey.GCP: (
        AccountSpec("billing", "WedSync Billing"),
        AccountSpec("prod", "wedsync-analytics"),
        AccountSpec("dev", "wedsync-dev-sandbox"),
    ),
}

_DEV = {"env": "development"}

# fmt: off
BLUEPRINTS: dict[FlavourKey, tuple[Blueprint, ...]] = {
    FlavourKey.AWS: (
        Blueprint("web", "wedsync-web", Kind.GROUP, "prod", "eu-west-2", "m5.xlarge", Workload.WEB, storage_gb=50, min_capacity=2, max_capacity=12, demand_vcpus=14),
        Blueprint("api-1", "wedsync-api-1", Kind.INSTANCE, "prod", "eu-west-2", "m5.large", Workload.API, storage_gb=100, resized=(When(from_start=300, hour=2), "m5.xlarge")),
        Blueprint("api-2", "wedsync-api-2", Kind.INSTANCE, "prod", "eu-west-2", "m5.large", Workload.API, storage_gb=100),
        Blueprint("worker", "wedsync-worker", Kind.INSTANCE, "prod", "eu-west-2", "c5.2xlarge", Workload.NIGHTLY_BATCH, storage_gb=200, team="data"),
        Blueprint("db", "wedsync-db", Kind.DATABASE, "prod", "eu-west-2", "db.r5.xlarge", Workload.DATABASE, storage_gb=500),
        Blueprint("media", "wedsync-media", Kind.BUCKET, "prod", "eu-west-2", storage_gb=3000, growth_gb_per_day=4),
        Blueprint("backups", "wedsync-backups", Kind.BUCKET, "prod", "eu-west-1", storage_gb=1500, growth_gb_per_day=2),
        Blueprint("reporting", "wedsync-reporting", Kind.INSTANCE, "prod", "eu-west-2", "m5.4xlarge", Workload.OVERSIZED, storage_gb=100, team="data"),
        Blueprint("analytics-old", "analytics-old", Kind.INSTANCE, "prod", "eu-west-2", "r5.large", Workload.IDLE, storage_gb=300, team="data", stopped=When(from_start=200, hour=17)),
        Blueprint("egress", "internet-egress", Kind.EGRESS, "prod", "eu-west-2", egress_gb_per_day=380),
        Blueprint("staging-old", "staging-old", Kind.INSTANCE, "dev", "eu-west-2", "m5.large", Workload.IDLE, storage_gb=80, extra_tags=_DEV),
        Blueprint("dev-1", "dev-box-1", Kind.INSTANCE, "dev", "eu-west-2", "t3.large", Workload.OFFICE_HOURS, storage_gb=60, extra_tags=_DEV),
        Blueprint("dev-2", "dev-box-2", Kind.INSTANCE, "dev", "eu-west-2", "t3.large", Workload.OFFICE_HOURS, storage_gb=60, extra_tags=_DEV),
        Blueprint("dev-old", "dev-box-old", Kind.INSTANCE, "dev", "eu-west-2", "t3.medium", Workload.OFFICE_HOURS, storage_gb=40, created=When(from_start=100), terminated=When(before_end=45, hour=16), extra_tags=_DEV),
        Blueprint("dev-old-data", "dev-box-old-data", Kind.VOLUME, "dev", "eu-west-2", storage_gb=200, created=When(from_start=100), attached_to="dev-old", extra_tags=_DEV),
        *(
            Blueprint(f"gpu-{n}", f"gpu-experiment-{n}", Kind.INSTANCE, "dev", "eu-west-2", "p3.2xlarge", Workload.GPU_BURST, storage_gb=100, team="data", created=When(before_end=12, hour=9), terminated=When(before_end=9, hour=9), extra_tags=_DEV)
            for n in range(1, 5)
        ),
    ),
    FlavourKey.AZURE: (
        Blueprint("web", "wedsync-eu-web", Kind.GROUP, "prod", "uksouth", "Standard_D2s_v5", Workload.WEB, storage_gb=64, min_capacity=2, max_capacity=8, demand_vcpus=5),
        Blueprint("app-1", "wedsync-eu-app-1", Kind.INSTANCE, "prod", "uksouth", "Standard_D4s_v5", Workload.API, storage_gb=128),
        Blueprint("sql", "wedsync-eu-sql", Kind.DATABASE, "prod", "uksouth", "GP_Gen5_2", Workload.DATABASE, storage_gb=250),
        Blueprint("files", "wedsynceufiles", Kind.BUCKET, "prod", "uksouth", storage_gb=800, growth_gb_per_day=1.5),
        Blueprint("dr-files", "wedsynceudr", Kind.BUCKET, "prod", "westeurope", storage_gb=800, growth_gb_per_day=1.5),
        Blueprint("egress", "internet-egress", Kind.EGRESS, "prod", "uksouth", egress_gb_per_day=120),
        Blueprint("vm-test-old", "vm-test-old", Kind.INSTANCE, "dev", "uksouth", "Standard_D4s_v5", Workload.IDLE, storage_gb=128, extra_tags=_DEV),
        Blueprint("dev-1", "vm-dev-1", Kind.INSTANCE, "dev", "uksouth", "Standard_B2ms", Workload.OFFICE_HOURS, storage_gb=64, extra_tags=_DEV),
    ),
    FlavourKey.GCP: (
        Blueprint("etl", "wedsync-etl", Kind.INSTANCE, "prod", "europe-west2", "n2-standard-4", Workload.NIGHTLY_BATCH, storage_gb=200, team="data"),
        Blueprint("insights-api", "wedsync-insights-api", Kind.INSTANCE, "prod", "europe-west2", "n2-standard-2", Workload.API, storage_gb=50, team="data"),
        Blueprint("warehouse-vm", "wedsync-warehouse-vm", Kind.INSTANCE, "prod", "europe-west2", "n2-standard-16", Workload.OVERSIZED, storage_gb=500, team="data"),
        Blueprint("cloudsql", "wedsync-insights-sql", Kind.DATABASE, "prod", "europe-west2", "db-custom-2-7680", Workload.DATABASE, storage_gb=100, team="data"),
        Blueprint("lake", "wedsync-data-lake", Kind.BUCKET, "prod", "europe-west2", storage_gb=5000, growth_gb_per_day=8, team="data"),
        Blueprint("egress", "internet-egress", Kind.EGRESS, "prod", "europe-west2", egress_gb_per_day=40, team="data"),
        Blueprint("notebook", "dev-notebook", Kind.INSTANCE, "dev", "europe-west2", "e2-standard-4", Workload.OFFICE_HOURS, storage_gb=100, team="data", extra_tags=_DEV),
    ),
}
# fmt: on


@dataclass(frozen=True)
class BudgetSpec:
    name: str
    flavour: FlavourKey
    account_role: str
    period: str = "month"


PLANTED_BUDGETS = (BudgetSpec("AWS development monthly", FlavourKey.AWS, "dev"),)
"""The amount is chosen from the generated bills (see ``world.planted_budgets``): between the
account's highest ordinary month and the month of the GPU experiment."""
