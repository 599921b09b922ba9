"""The ``budget_alerts`` sensor, which raises alerts after each serving snapshot, and the
``deliver_alerts`` job, which sends them.

The sensor watches the ``serving`` asset rather than a job: whichever run publishes a snapshot
(the publish job, ``wedcloud materialize``, a backfill), budgets are evaluated against it once,
and an alert is raised for each cost anomaly no broader anomaly explains. Raising only records
the alert as pending in the state store (``control_plane.services.alerts``: each threshold is
raised once per period, a unique alert key), so a tick stays well inside the sensor's time
limit. When alerts are pending, the tick asks for a ``deliver_alerts`` run, which sends each to
its budget's targets with retries and backoff, every attempt recorded in ``deliveries``. The
delivery op is in its own pool of one slot: two runs never send the same alert together.
"""

# No `from __future__ import annotations`: Dagster reads the op's context annotation as a class.

import hashlib
import time
from collections.abc import Callable

import dagster as dg

from assets.pools import ALERTS_POOL
from control_plane.crypto import load_cipher
from control_plane.services.alerts import AlertSettings, Round, deliver_pending, pending_alerts, raise_from_snapshot
from control_plane.store.db import make_engine, make_sessionmaker
from pipelines.settings import PipelineSettings

SENSOR_NAME = "budget_alerts"
JOB_NAME = "deliver_alerts"
OP_NAME = "deliver_pending_alerts"
# the op's own retries are for what the per-target retries do not cover (the store unreachable)
RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL)


def summary(result: Round, pending: int) -> str:
    if result.snapshot_version is None:
        return "no serving snapshot published yet"
    text = (
        f"snapshot {result.snapshot_version}: {result.budgets} budget(s), {len(result.raised)} alert(s) raised, "
        f"{pending} pending delivery"
    )
    if result.skipped:
        text += f"; not evaluated: {result.skipped}"
    return text


def build_alert_delivery_job(
    settings: PipelineSettings | None = None,
    alerts: AlertSettings | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dg.JobDefinition:
    """The job that delivers every pending alert (default settings: the environment's)."""

    @dg.op(
        name=OP_NAME,
        pool=ALERTS_POOL,
        retry_policy=RETRY,
        description="Send every pending alert to its budget's targets (webhooks with retries and backoff; "
        "e-mail through an SMTP relay), recording each attempt; an alert ends delivered, failed or no_targets.",
    )
    def deliver_alerts_op(context: dg.OpExecutionContext) -> None:
        resolved = settings or PipelineSettings()
        engine = make_engine(resolved.resolved_database_url)
        try:
            cipher = load_cipher(resolved.layout.root)  # webhook URLs and secrets are sealed with it
            delivered = deliver_pending(make_sessionmaker(engine), alerts or AlertSettings(), sleep, cipher)
        finally:
            engine.dispose()
        statuses = ", ".join(f"{key}={status}" for key, status in sorted(delivered.items())) or "nothing pending"
        context.log.info(f"{len(delivered)} alert(s): {statuses}")

    @dg.job(name=JOB_NAME, description="Deliver pending alerts (the budget_alerts sensor asks for it).")
    def deliver_alerts() -> None:
        deliver_alerts_op()

    return deliver_alerts


def build_budget_sensor(
    settings: PipelineSettings | None = None,
    alerts: AlertSettings | None = None,
    *,
    job: dg.JobDefinition | None = None,
) -> dg.SensorDefinition:
    """The sensor, for the store and serving folder of ``settings`` (default: the environment's);
    it asks for ``job`` (default: a delivery job with ``alerts``) when alerts are pending."""
    target = job or build_alert_delivery_job(settings, alerts)

    @dg.asset_sensor(
        asset_key=dg.AssetKey("serving"),
        name=SENSOR_NAME,
        job=target,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="After each serving snapshot: evaluate every budget, raise each newly crossed threshold "
        "once per period and one alert per new cost anomaly, and ask deliver_alerts to send the pending ones.",
    )
    def budget_alerts(
        context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
    ) -> dg.RunRequest | dg.SkipReason:
        resolved = settings or PipelineSettings()
        engine = make_engine(resolved.resolved_database_url)
        try:
            sessions = make_sessionmaker(engine)
            result = raise_from_snapshot(sessions, resolved.layout.serving)
            pending = pending_alerts(sessions)
        finally:
            engine.dispose()
        text = summary(result, len(pending))
        context.log.info(text)
        if not pending:
            return dg.SkipReason(text)
        queued = hashlib.sha256("\n".join(str(alert_id) for alert_id, _ in pending).encode()).hexdigest()[:16]
        return dg.RunRequest(
            run_key=f"{result.snapshot_version}:{queued}", tags={"wedcloud/pending_alerts": str(len(pending))}
        )

    return budget_alerts
