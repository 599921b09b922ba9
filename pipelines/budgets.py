"""The ``budget_alerts`` sensor: after each serving snapshot, evaluate every budget and alert,
and raise an alert for each cost anomaly no broader anomaly explains
(``control_plane.services.anomalies``).

It watches the ``serving`` asset rather than a job: whichever run publishes a snapshot (the
publish job, ``wedcloud materialize``, a backfill), budgets are evaluated against it once. The
rules live in ``control_plane.services.budgets`` (a budget's status) and
``control_plane.services.alerts`` (raising and delivering) so that the API shows what the sensor
acts on: each threshold is raised once per period (a unique alert key), and each pending alert is
sent to its budget's targets with retries, every attempt recorded in ``deliveries``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import dagster as dg

from control_plane.crypto import load_cipher
from control_plane.services.alerts import AlertSettings, Round, run_round
from control_plane.store.db import make_engine, make_sessionmaker
from pipelines.settings import PipelineSettings

SENSOR_NAME = "budget_alerts"


def summary(result: Round) -> str:
    if result.snapshot_version is None:
        return "no serving snapshot published yet"
    text = (
        f"snapshot {result.snapshot_version}: {result.budgets} budget(s), {len(result.raised)} alert(s) raised, "
        f"{len(result.delivered)} sent ({', '.join(f'{k}={v}' for k, v in sorted(result.delivered.items())) or '-'})"
    )
    if result.skipped:
        text += f"; not evaluated: {result.skipped}"
    return text


def build_budget_sensor(
    settings: PipelineSettings | None = None,
    alerts: AlertSettings | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dg.SensorDefinition:
    """The sensor, for the store and serving folder of ``settings`` (default: the environment's)."""

    @dg.asset_sensor(
        asset_key=dg.AssetKey("serving"),
        name=SENSOR_NAME,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After each serving snapshot: evaluate every budget, raise each newly crossed threshold "
        "once per period, raise one alert per new cost anomaly, and deliver budget alerts (webhooks with "
        "retries; e-mail through an SMTP relay).",
    )
    def budget_alerts(context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry) -> dg.SkipReason:
        resolved = settings or PipelineSettings()
        engine = make_engine(resolved.resolved_database_url)
        try:
            cipher = load_cipher(resolved.layout.root)  # webhook URLs and secrets are sealed with it
            result = run_round(
                make_sessionmaker(engine), resolved.layout.serving, alerts or AlertSettings(), sleep, cipher
            )
        finally:
            engine.dispose()
        text = summary(result)
        context.log.info(text)
        return dg.SkipReason(text)  # the sensor launches no run: its work is the alerts

    return budget_alerts
