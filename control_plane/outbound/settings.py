"""Outbound settings (environment variables prefixed ``WEDCLOUD_OUTBOUND_``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OutboundSettings(BaseSettings):
    """Read afresh where used, so a test (or an operator) can change them without a restart."""

    model_config = SettingsConfigDict(env_prefix="WEDCLOUD_OUTBOUND_", extra="ignore")

    allow_emulators: bool = Field(
        default=False,
        description="Let a provider's endpoint be on this machine (127.0.0.0/8, ::1, localhost), over http "
        "or https: local emulators. The tests and the demo turn it on; a production server should not.",
    )
    allow_private: bool = Field(
        default=False,
        description="Let health URLs and webhooks reach loopback and private networks (10/8, 172.16/12, "
        "192.168/16, fc00::/7). Link-local, metadata and the other special ranges stay refused.",
    )
    s3_compatible_hosts: list[str] = Field(
        default_factory=list,
        description="Host names an AWS provider's endpoint may also name (JSON list: '[\"minio.example.com\"]'), "
        "for S3-compatible storage; https only.",
    )
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="Per connection and per read.")
    max_response_bytes: int = Field(default=64 * 1024, ge=1024, description="Larger answers are refused.")
