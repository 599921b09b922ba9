"""Data-plane settings (environment variables prefixed ``WEDCLOUD_``)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.lake import Lake
from wedcloud.home import HomeLayout

# The billing partitions' default first month: fixed, never "N months before today", so that the
# partition set (and the runs, checks and backfills keyed by it) stays put from one day to the next.
DEFAULT_BILLING_START = date(2024, 1, 1)


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEDCLOUD_", extra="ignore")

    home: Path = Field(default=Path(".wedcloud"), description="Root folder for all local state.")
    database_url: str | None = Field(default=None, description="State store URL; SQLite in WEDCLOUD_HOME when unset.")
    environment: Literal["development", "production", "test"] = Field(
        default="development",
        description="In production the credentials key must come from WEDCLOUD_SECRET_KEY(_FILE), never a local file.",
    )
    billing_start: date = Field(
        default=DEFAULT_BILLING_START,
        description="First month of the billing partitions (its first day). A fixed date, so the partition "
        "set is the same whichever day the code location loads; set it to your oldest bill's month. "
        "Months of a source older than this are not loaded.",
    )

    executor: Literal["multiprocess", "celery"] = Field(
        default="multiprocess",
        description="Where the billing job's steps run: subprocesses of the run (multiprocess), or Celery workers "
        "(`wedcloud worker`) through WEDCLOUD_CELERY_BROKER_URL (pipelines/celery.py).",
    )

    lake: str | None = Field(
        default=None,
        description="Where the FOCUS line items live as Parquet files: a folder, or s3://bucket/prefix "
        "(S3 or an S3-compatible store); default WEDCLOUD_HOME/lake.",
    )
    lake_s3_endpoint: str | None = Field(
        default=None,
        description="The S3 endpoint URL of an s3:// lake that is not AWS S3 (MinIO...); "
        "credentials come from the standard AWS variables.",
    )
    lake_s3_region: str | None = Field(default=None, description="The region of an s3:// lake's bucket.")

    now: datetime | None = Field(
        default=None,
        description="Pin the optimisation inputs' clock (UTC), as the sandbox's tests do; default: the time.",
    )

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home.expanduser().resolve())

    @property
    def lake_root(self) -> str:
        return self.lake or str(self.layout.lake)

    @property
    def lake_location(self) -> Lake:
        """The lake these settings name: its root, and the S3 endpoint and region of an s3:// one."""
        return Lake(self.lake_root, s3_endpoint=self.lake_s3_endpoint, s3_region=self.lake_s3_region)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or self.layout.default_database_url()

    @property
    def partitions_start(self) -> date:
        """The first day of the first month partition: ``billing_start``'s month."""
        return self.billing_start.replace(day=1)
