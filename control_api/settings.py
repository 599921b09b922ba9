"""Control-plane settings (environment variables prefixed ``WEDCLOUD_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from wedcloud.home import HomeLayout


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEDCLOUD_", extra="ignore")

    home: Path = Field(default=Path(".wedcloud"), description="Root folder for all local state.")
    database_url: str | None = Field(default=None, description="State store URL; SQLite in WEDCLOUD_HOME when unset.")
    environment: Literal["development", "production", "test"] = "development"
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=1, le=65535)
    snapshot_stale_after_hours: float = Field(
        default=36, gt=0, description="Health turns 'degraded' when the serving snapshot is older."
    )
    reconcile_every_seconds: float = Field(
        default=60,
        ge=0,
        description="How often the API finishes interrupted provisions and refreshes resources still "
        "provisioning (0: never; `wedcloud reconcile` runs it once).",
    )
    response_cache_entries: int = Field(
        default=256,
        ge=0,
        description="Resource list pages kept in memory, each served until the resources table changes (0: none).",
    )
    log_format: Literal["json", "text"] | None = Field(
        default=None, description="json in production, text otherwise, unless set."
    )
    access_log: bool = Field(
        default=True,
        description="One JSON line per request (request id, method, path, status, duration, client, key name) "
        "on stderr; `wedcloud api` turns uvicorn's plain access log off while this is on.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1, description="Larger request bodies are refused with 413 before they are read."
    )
    rate_limit_per_address: int = Field(
        default=1200,
        ge=0,
        description="Requests a minute from one client address (an IPv6 /64), in bursts of up to as many; "
        "more get 429 with Retry-After (0: no limit).",
    )
    rate_limit_per_key: int = Field(
        default=600, ge=0, description="Requests a minute with one API key, in bursts of up to as many (0: no limit)."
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins (https://app.example.com) whose browser pages may call the API, comma-separated; "
        "none by default (no CORS headers at all).",
    )
    api_docs: bool | None = Field(
        default=None, description="Serve /api/docs and /api/openapi.json (default: everywhere but production)."
    )
    store_timeout_seconds: float = Field(
        default=10,
        gt=0,
        description="How long authenticating a request may wait for the state store before answering 503.",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins_are_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if origin == "*" or not origin.startswith(("https://", "http://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin like https://app.example.com (no wildcard, no path)")
        return origins

    @property
    def docs_enabled(self) -> bool:
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    @model_validator(mode="after")
    def _production_needs_a_real_store(self) -> ApiSettings:
        if self.environment == "production" and not self.database_url:
            raise ValueError("WEDCLOUD_DATABASE_URL must be set when WEDCLOUD_ENVIRONMENT=production")
        return self

    @property
    def layout(self) -> HomeLayout:
        return HomeLayout(self.home.expanduser().resolve())

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or self.layout.default_database_url()

    @property
    def resolved_log_format(self) -> str:
        return self.log_format or ("json" if self.environment == "production" else "text")
