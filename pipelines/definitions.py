"""The Dagster code location: ``dagster dev -w workspace.yaml`` and ``dg`` both load ``defs``."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from assets.billing import build_focus_costs_asset, build_focus_costs_checks
from assets.costs import build_cost_daily_assets, build_cost_daily_checks
from assets.deployments import deployment_drift
from assets.forecasts import cost_anomalies, cost_forecast
from assets.optimisation import inventory, optimisation, price_catalogue, utilisation
from assets.partitions import billing_partitions
from assets.resources import (
    BillingSourcesResource,
    LakeResource,
    ProvidersResource,
    ServingResource,
    WarehouseResource,
)
from assets.serving import serving, snapshot_matches_warehouse
from pipelines.budgets import build_alert_delivery_job, build_budget_sensor
from pipelines.deployments import deployment_drift_job, deployment_drift_schedule
from pipelines.off_hours import off_hours_job, off_hours_schedule
from pipelines.recovery import dr_backup_job, dr_drill_job, dr_failover_job, dr_health, dr_schedules
from pipelines.rekey import rekey_providers
from pipelines.reports import build_report_job, build_report_schedules
from pipelines.sensors import (
    build_billing_exports_sensor,
    build_daily_refresh_schedule,
    build_optimisation_inputs_schedule,
    build_publish_schedule,
)
from pipelines.settings import PipelineSettings

BILLING_ASSETS = ("focus_costs", "cost_daily", "cost_detail_daily")
OPTIMISATION_INPUTS = ("inventory", "utilisation", "price_catalogue")


def from_environment(name: str, value: str | None) -> str | dg.EnvVar | None:
    """``dg.EnvVar(name)`` when ``value`` is what the variable holds, so the resource's config
    (shown in the UI, stored with every run) names the variable instead of holding the secret."""
    return dg.EnvVar(name) if value and os.environ.get(name) == value else value


def state_store_config(settings: PipelineSettings) -> dict[str, Any]:
    """The state store resources' config: URL and credentials key through ``dg.EnvVar``."""
    url = from_environment("WEDCLOUD_DATABASE_URL", settings.database_url) or settings.resolved_database_url
    config: dict[str, Any] = {"database_url": url, "home": str(settings.layout.root)}
    config["environment"] = settings.environment
    for name, field in (("WEDCLOUD_SECRET_KEY", "secret_key"), ("WEDCLOUD_SECRET_KEY_PREVIOUS", "secret_key_previous")):
        if os.environ.get(name):
            config[field] = dg.EnvVar(name)
    return config


def billing_executor(settings: PipelineSettings) -> dg.ExecutorDefinition | None:
    """The Celery executor when the settings ask for it; None: the code location's default."""
    if settings.executor != "celery":
        return None
    from pipelines.celery import executor  # imports Celery: only where it is used

    return executor()


def build_definitions(settings: PipelineSettings | None = None) -> dg.Definitions:
    settings = settings or PipelineSettings()
    layout = settings.layout
    store = state_store_config(settings)
    lake = LakeResource.of(settings.lake_location)
    partitions = billing_partitions(settings.partitions_start)
    billing_refresh = dg.define_asset_job(
        "billing_refresh",
        selection=dg.AssetSelection.assets(*BILLING_ASSETS),
        description="Load billing sources' months into focus_costs and rebuild their daily aggregates.",
        executor_def=billing_executor(settings),
    )
    optimisation_inputs = dg.define_asset_job(
        "optimisation_inputs",
        selection=dg.AssetSelection.assets(*OPTIMISATION_INPUTS),
        description="Read one provider's inventory, utilisation metrics and price catalogue.",
    )
    publish = dg.define_asset_job(
        "publish_serving_snapshot",
        selection=dg.AssetSelection.assets("cost_forecast", "cost_anomalies", "optimisation", "serving"),
        description=(
            "Forecast the cost series, find anomalies, refresh the optimisation recommendations, then publish "
            "a new serving snapshot for the API."
        ),
    )
    cost_report = build_report_job(settings)
    deliver_alerts = build_alert_delivery_job(settings)
    return dg.Definitions(
        assets=[
            build_focus_costs_asset(partitions),
            *build_cost_daily_assets(partitions),
            cost_forecast,
            cost_anomalies,
            inventory,
            utilisation,
            price_catalogue,
            optimisation,
            serving,
            deployment_drift,
        ],
        asset_checks=[
            *build_focus_costs_checks(partitions),
            *build_cost_daily_checks(partitions),
            snapshot_matches_warehouse,
        ],
        jobs=[
            billing_refresh,
            optimisation_inputs,
            publish,
            cost_report,
            off_hours_job,
            deliver_alerts,
            rekey_providers,
            deployment_drift_job,
            dr_backup_job,
            dr_drill_job,
            dr_failover_job,
        ],
        sensors=[
            build_billing_exports_sensor(billing_refresh, settings.partitions_start),
            build_budget_sensor(settings, job=deliver_alerts),
            dr_schedules,
            dr_health,
        ],
        schedules=[
            build_daily_refresh_schedule(billing_refresh),
            *build_report_schedules(cost_report),
            build_optimisation_inputs_schedule(optimisation_inputs),
            build_publish_schedule(publish),
            off_hours_schedule,
            deployment_drift_schedule,
        ],
        resources={
            "lake": lake,
            "warehouse": WarehouseResource(path=str(layout.warehouse), lake_files=lake),
            "billing_sources": BillingSourcesResource(**store),
            "serving_target": ServingResource(serving_dir=str(layout.serving)),
            "providers": ProvidersResource(**store, now=settings.now.isoformat() if settings.now else None),
        },
    )


defs = build_definitions()
