"""Monitoring settings (environment variables prefixed ``WEDCLOUD_MONITOR_``)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from control_plane.monitoring.samples import Retention


class MonitorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEDCLOUD_MONITOR_", extra="ignore")

    interval_seconds: float = Field(default=30, gt=0, description="How often the collector polls every provider.")
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
    stream_tick_ms: float = Field(
        default=20,
        ge=0,
        le=1000,
        description="Each API worker queues new stream events for its clients at most this often (0: at once).",
    )
    resolved_keep_minutes: float = Field(default=15, ge=0, description="Resolved alerts stay listed this long.")

    @property
    def retention(self) -> Retention:
        return Retention(raw=timedelta(hours=self.raw_hours), rollups=timedelta(days=self.rollup_days))
