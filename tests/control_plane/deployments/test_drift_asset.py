"""The daily ``deployment_drift`` asset through Dagster, on SQLite and PostgreSQL: it checks the
live deployments of the state store through the registered providers' adapters, stores what it
found, reports the counts as metadata, and never opens the DuckDB warehouse."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from clouds.base import ScaleRequest
from control_plane.store.deployment_models import Deployment
from pipelines.definitions import build_definitions
from pipelines.materialize import QUIET, dagster_instance
from pipelines.settings import PipelineSettings
from tests.control_plane.deployments.test_drift import build_stack


def test_the_daily_asset_checks_every_live_deployment_and_leaves_the_warehouse_alone(
    engine: Engine, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = build_stack(engine, tmp_path)
    booking, ids = stack.make("booking")
    stack.make("clean", {"box": ("instance", "t3.micro", "us-east-1", {})})
    stack.make("gone", {"box": ("instance", "t3.micro", "us-east-1", {})}, status="destroyed")
    stack.cloud().scale(ids["db"], ScaleRequest(size="db.r5.large"))
    monkeypatch.setenv("DAGSTER_HOME", str(stack.layout.dagster_home))
    defs = build_definitions(PipelineSettings(home=stack.layout.root, database_url=store_url, environment="test"))

    with dagster_instance(stack.layout.dagster_home) as instance:
        result = defs.resolve_job_def("deployment_drift_check").execute_in_process(instance=instance,
                                                                                   run_config=QUIET)  # fmt: skip
    assert result.success
    (materialization,) = result.asset_materializations_for_node("deployment_drift")
    metadata = {key: entry.value for key, entry in materialization.metadata.items()}
    assert metadata == {"checked": 2, "drifted": 1, "with_errors": 0, "failed": []}
    with stack.sessions() as session:
        stored = session.get(Deployment, booking)
        assert stored is not None
        assert stored.drift is not None
        assert [(c["resource"], c["field"]) for c in stored.drift["changed"]] == [("db", "size")]
    assert not stack.layout.warehouse.exists()
