"""The production Dagster instance: PostgreSQL storage from an environment variable, the run queue
and the warehouse pool; and the demo's, which stays on SQLite."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage
from dagster_shared.serdes import serialize_value
from sqlalchemy.engine import make_url

from assets.pools import WAREHOUSE_POOL
from pipelines.instance import (
    POSTGRES_URL_ENV,
    demo_config,
    postgres_url_problem,
    production_config,
    write_instance_config,
)

REPO = Path(__file__).resolve().parents[2]


def dagster_url(sqlalchemy_url: str, password: str | None = None) -> str:
    """The form dagster-postgres needs (``postgresql+psycopg2://``) of a test database's URL."""
    url = make_url(sqlalchemy_url).set(drivername="postgresql+psycopg2")
    return url.set(password=password).render_as_string(hide_password=False) if password else str(url)


@pytest.mark.integration
def test_the_production_instance_stores_runs_events_and_schedules_in_postgres_and_queues_runs(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    password = "dagster-Pa55-91ab"  # the server trusts local connections; the password must still stay hidden
    monkeypatch.setenv(POSTGRES_URL_ENV, dagster_url(postgres_url, password))
    path = write_instance_config(tmp_path, production_config(max_concurrent_runs=4))
    assert password not in path.read_text()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 4  # type: ignore[union-attr]
        assert instance.global_op_concurrency_default_limit == 1
        # the reference handed to every run and Celery task names the variable, not the URL
        assert password not in serialize_value(instance.get_ref())
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).limit == 1


def test_the_shipped_production_dagster_yaml_is_the_one_the_code_writes() -> None:
    shipped = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    assert shipped == production_config()


def test_the_demo_instance_stays_on_sqlite_with_one_slot_per_pool(tmp_path: Path) -> None:
    write_instance_config(tmp_path)
    assert "storage" not in demo_config()
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert instance.global_op_concurrency_default_limit == 1


def test_settings_someone_added_are_kept_and_the_pool_limit_is_restored(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text(
        yaml.safe_dump({"run_monitoring": {"enabled": True}, "concurrency": {"pools": {"default_limit": 3}}})
    )
    config = yaml.safe_load(write_instance_config(tmp_path, production_config()).read_text())
    assert config["run_monitoring"] == {"enabled": True}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["storage"] == {"postgres": {"postgres_url": {"env": POSTGRES_URL_ENV}}}


def test_a_postgres_url_that_would_pick_psycopg_3_is_refused_with_the_form_to_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql://dagster:pw@db:5432/dagster")
    assert (
        postgres_url_problem()
        == f"{POSTGRES_URL_ENV} must start with postgresql+psycopg2:// (it starts with postgresql://)"
    )
    monkeypatch.setenv(POSTGRES_URL_ENV, "postgresql+psycopg2://dagster:pw@db:5432/dagster")
    assert postgres_url_problem() is None
