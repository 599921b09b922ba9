"""The deployments' daily drift check: its job and schedule."""

import dagster as dg

deployment_drift_job = dg.define_asset_job(
    "deployment_drift_check",
    selection=dg.AssetSelection.assets("deployment_drift"),
    description="Compare every live deployment with its clouds and store what drifted.",
)

deployment_drift_schedule = dg.ScheduleDefinition(
    name="deployment_drift_daily",
    job=deployment_drift_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each morning, before the day's inventory reads (05:00): every deployment's drift.",
)
