"""Data-plane settings (environment variables prefixed ``WEDCLOUD_``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from clouds.sandbox.world import default_history_start
from wedcloud.home import HomeLayout


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEDCLOUD_", extra="ignore")

    home: Path = Field(default=Path(".wedcloud"), description="Root folder for all local state.")
    database_url: str | None = Field(default=None, description="State store URL; SQLite in WEDCLOUD_HOME when unset.")
    environment: Literal["development", "production", "test"] = Field(
        default="development",
        description="In production the credentials key must come from WEDCLOUD_SECRET_KEY(_FILE), never a local file.",
    )
    billing_start: date | None = Field(
        default=None,
        description="First day of the billing partitions; default: the sandbox's history start "
        "(the first of the month 24 months ago).",
    )

    now: datetime | None = Field(
        default=None,
        description="Pin the optimisation inputs' clock (UTC), as the sandbox's tests do; default: the time.",
    )

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home.expanduser().resolve())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or self.layout.default_database_url()

    @property
    def partitions_start(self) -> date:
        return self.billing_start or default_history_start(datetime.now(UTC).date())
