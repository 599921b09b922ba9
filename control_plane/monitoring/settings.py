"""Monitoring settings (environment variables prefixed ``WEDCLOUD_MONITOR_``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.monitoring.samples import Retention


class MonitorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEDCLOUD_MONITOR_", extra="ignore")

    interval_seconds: float = Field(default=30, gt=0, description="How often the collector polls every provider.")
    lookback_seconds: float = Field(
        default=300, gt=0, description="How far back a cycle reads at most (late samples within it are kept)."
    )
    max_parallel: int = Field(default=8, ge=1, le=64, description="Providers read at once, each in its own thread.")
    budget_fraction: float = Field(
        default=0.8, gt=0, le=1, description="Share of the interval a cycle waits for providers before giving up."
    )
    backoff_seconds: float = Field(default=0.5, gt=0, description="First back-off after a throttled call.")
    backoff_max_seconds: float = Field(default=8, gt=0, description="Longest back-off between throttled calls.")
    raw_hours: float = Field(default=6, gt=0, description="How long raw 30-second samples are kept.")
    rollup_days: float = Field(default=35, gt=0, description="How long 5-minute rollups are kept.")
    stream_replay_minutes: float = Field(
        default=15, gt=0, description="How far back a reconnecting stream client can resume (`since`)."
    )
    stream_poll_ms: float = Field(
        default=50, gt=0, le=50, description="On SQLite: how often each API worker polls the event log."
    )
    stream_queue: int = Field(
        default=1000, ge=10, description="Events queued per stream client before the oldest metrics are dropped."
    )
    stream_ping_seconds: float = Field(default=20, gt=0, description="A ping to every stream client this often.")
    billing_stale_days: float = Field(
        default=3, ge=0, description="Health calls billing stale when its last loaded day is older than this."
    )
    stream_tick_ms: float = Field(
        default=20,
        ge=0,
        le=1000,
        description="Each API worker queues new stream events for its clients at most this often (0: at once).",
    )
    resolved_keep_minutes: float = Field(default=15, ge=0, description="Resolved alerts stay listed this long.")
    notify_lease_seconds: float = Field(
        default=300,
        gt=0,
        description="How long a claimed notice is left to its sender before another collector sends it again.",
    )
    external_url: str | None = Field(
        default=None, description="The API's public base URL, put in notices as a link back (`externalURL`)."
    )

    @property
    def retention(self) -> Retention:
        return Retention(raw=timedelta(hours=self.raw_hours), rollups=timedelta(days=self.rollup_days))
