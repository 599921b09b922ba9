"""The billing sensor and schedule: new providers, new months and restated months get loaded."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from assets.resources import BillingSourcesResource
from clouds.sandbox.create import create_sandbox
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import Provider
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, materialize_months
from pipelines.sensors import PROVIDER_TAG
from pipelines.settings import PipelineSettings
from wedcloud.home import HomeLayout

FIRST, AS_OF = date(2026, 1, 1), date(2026, 2, 10)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HomeLayout:
    layout = HomeLayout(tmp_path / "home").ensure()
    monkeypatch.setenv("DAGSTER_HOME", str(layout.dagster_home))
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    create_sandbox(engine, layout.exports, seed=3, as_of=AS_OF, history_start=FIRST)
    with Session(engine) as session, session.begin():
        register_sandbox_providers(session)
    engine.dispose()
    return layout


def _evaluate(defs: dg.Definitions, instance: dg.DagsterInstance, layout: HomeLayout) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def("billing_exports")
    resources = {
        "billing_sources": BillingSourcesResource(database_url=layout.default_database_url(), home=str(layout.root))
    }
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _keys(layout: HomeLayout) -> dict[str, str]:
    """Provider name -> the key its partitions use (its id)."""
    engine = make_engine(layout.default_database_url())
    with Session(engine) as session:
        keys = {p.name: str(p.id) for p in session.scalars(select(Provider))}
    engine.dispose()
    return keys


def test_the_sensor_adds_new_providers_and_loads_only_what_changed(home: HomeLayout) -> None:
    defs = build_definitions(PipelineSettings(home=home.root, billing_start=FIRST))
    key = _keys(home)
    with dagster_instance(home.dagster_home) as instance:
        first = _evaluate(defs, instance, home)
        (added,) = first.dynamic_partitions_requests or []
        assert sorted(added.partition_keys) == sorted(key[f"sandbox-{f}"] for f in ("aws", "azure", "gcp"))
        requested = sorted(r.partition_key or "" for r in first.run_requests or [])
        assert requested == sorted(f"2026-0{m}|{key[f'sandbox-{f}']}" for m in (1, 2) for f in ("aws", "azure", "gcp"))
        assert {r.tags[PROVIDER_TAG] for r in first.run_requests or []} == set(key)  # the name, as a label

        instance.add_dynamic_partitions("billing_source", list(added.partition_keys))
        materialize_months(defs, instance, [FIRST, date(2026, 2, 1)])
        assert _evaluate(defs, instance, home).run_requests == []  # everything loaded is up to date

        # AWS restates January: its export file is rewritten
        january = next((home.exports / "aws").rglob("BILLING_PERIOD=2026-01/*.parquet"))
        january.write_bytes(january.read_bytes())
        os.utime(january, (1_900_000_000, 1_900_000_000))
        restated = _evaluate(defs, instance, home)
        assert [r.partition_key for r in restated.run_requests or []] == [f"2026-01|{key['sandbox-aws']}"]

        # renaming a provider changes no partition: no new one, nothing to load but the restatement
        _rename(home, "sandbox-aws", "Bandwidth")
        renamed = _evaluate(defs, instance, home)
        assert renamed.dynamic_partitions_requests == []
        assert [r.partition_key for r in renamed.run_requests or []] == [f"2026-01|{key['sandbox-aws']}"]
        assert [r.tags[PROVIDER_TAG] for r in renamed.run_requests or []] == ["Bandwidth"]
        history = instance.get_materialized_partitions(dg.AssetKey("focus_costs"))
        assert {f"2026-0{m}|{key['sandbox-aws']}" for m in (1, 2)} <= history  # its history is kept
    with duckdb.connect(str(home.warehouse), read_only=True) as con:
        sources = {row[0] for row in con.execute("SELECT DISTINCT x_SourceId FROM focus_costs").fetchall()}
    assert sources == set(key.values())  # the warehouse holds ids, never names


def test_the_sensor_removes_the_partition_of_a_removed_provider(home: HomeLayout) -> None:
    defs = build_definitions(PipelineSettings(home=home.root, billing_start=FIRST))
    key = _keys(home)
    removed = "6b1d1b7e-0000-4000-8000-000000000000"  # a provider deleted through the API since
    with dagster_instance(home.dagster_home) as instance:
        instance.add_dynamic_partitions("billing_source", [*key.values(), removed])
        result = _evaluate(defs, instance, home)
    (deleted,) = result.dynamic_partitions_requests or []
    assert isinstance(deleted, dg.DeleteDynamicPartitionsRequest)
    assert list(deleted.partition_keys) == [removed]
    assert all(removed not in (r.partition_key or "") for r in result.run_requests or [])


def _rename(layout: HomeLayout, old: str, new: str) -> None:
    engine = make_engine(layout.default_database_url())
    with Session(engine) as session, session.begin():
        provider = session.scalars(select(Provider).where(Provider.name == old)).one()
        provider.name = new
    engine.dispose()


def test_the_daily_schedule_reloads_the_open_month_and_last_month_early_on(home: HomeLayout) -> None:
    defs = build_definitions(PipelineSettings(home=home.root, billing_start=FIRST))
    schedule = defs.resolve_schedule_def("billing_daily_refresh")
    with dagster_instance(home.dagster_home) as instance:
        instance.add_dynamic_partitions("billing_source", ["sandbox-aws", "sandbox-gcp"])
        for day, expected in (
            (3, ["2026-02|sandbox-aws", "2026-02|sandbox-gcp", "2026-03|sandbox-aws", "2026-03|sandbox-gcp"]),
            (20, ["2026-03|sandbox-aws", "2026-03|sandbox-gcp"]),
        ):
            when = datetime(2026, 3, day, 6, tzinfo=UTC)
            with dg.build_schedule_context(
                instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
            ) as context:
                requests = schedule.evaluate_tick(context).run_requests or []
            assert sorted(r.partition_key or "" for r in requests) == expected


def test_the_morning_reads_each_providers_optimisation_inputs_once_a_day(home: HomeLayout) -> None:
    defs = build_definitions(PipelineSettings(home=home.root, billing_start=FIRST))
    schedule = defs.resolve_schedule_def("optimisation_inputs_daily")
    with dagster_instance(home.dagster_home) as instance:
        instance.add_dynamic_partitions("billing_source", ["sandbox-aws", "sandbox-gcp"])
        with dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 3, 20, 5, tzinfo=UTC),
            repository_def=defs.get_repository_def(),
        ) as context:
            requests = schedule.evaluate_tick(context).run_requests or []
    assert sorted((r.partition_key, r.run_key) for r in requests) == [
        ("sandbox-aws", "sandbox-aws|2026-03-20"),
        ("sandbox-gcp", "sandbox-gcp|2026-03-20"),
    ]


def test_the_sensor_skips_months_before_the_partitions_start(home: HomeLayout) -> None:
    defs = build_definitions(PipelineSettings(home=home.root, billing_start=date(2026, 2, 1)))
    key = _keys(home)
    with dagster_instance(home.dagster_home) as instance:
        result = _evaluate(defs, instance, home)
    requested = sorted(r.partition_key or "" for r in result.run_requests or [])
    # January's files exist, but no partition does: only February is asked for
    assert requested == sorted(f"2026-02|{key[f'sandbox-{f}']}" for f in ("aws", "azure", "gcp"))
