"""Billing runs on dagster-postgres whose steps run on two Celery workers through RabbitMQ.

Each test run uses a queue of its own (``WEDCLOUD_CELERY_QUEUE``), so parallel test processes
never take each other's tasks; the Dagster instance is a fresh PostgreSQL database."""

from __future__ import annotations

import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from assets.pools import WAREHOUSE_POOL
from clouds.sandbox.create import create_sandbox
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from pipelines.celery import BROKER_ENV, DEFAULT_BROKER, QUEUE_ENV
from pipelines.definitions import build_definitions
from pipelines.instance import POSTGRES_URL_ENV, production_config, write_instance_config
from pipelines.materialize import PROJECT_ROOT, RANGE_END_TAG, RANGE_START_TAG, register_sources
from pipelines.settings import PipelineSettings
from tests.conftest import require
from wedcloud.home import HomeLayout

pytestmark = [pytest.mark.integration, pytest.mark.slow]
FIRST, AS_OF = date(2026, 2, 1), date(2026, 3, 10)
MONTHS = ("2026-02", "2026-03")
# the month's normalisation and one aggregate: both write the warehouse (the whole job, with its
# checks, takes 9 steps a run; benchmarks/celery_backfill.py runs it over a year)
STEPS = ("focus_costs", "cost_daily")


@pytest.fixture(scope="module")
def rabbitmq() -> str:
    url = make_url(DEFAULT_BROKER.replace("amqp://", "postgresql://", 1))  # parse host and port only
    try:
        socket.create_connection((url.host or "127.0.0.1", url.port or 5672), timeout=2).close()
        reachable = True
    except OSError:
        reachable = False
    require(reachable, f"RabbitMQ not reachable at {url.host}:{url.port}")
    return DEFAULT_BROKER


def start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            argv, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@pytest.fixture
def stack(
    tmp_path: Path, postgres_url: str, rabbitmq: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, str], list[str], Path]]:
    """A sandbox of three providers, a production instance on a fresh PostgreSQL database, and
    two `wedcloud worker` processes on a queue of this test's own."""
    layout = HomeLayout(tmp_path / "home").ensure()
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    create_sandbox(engine, layout.exports, seed=5, as_of=AS_OF, history_start=FIRST)
    with Session(engine) as session, session.begin():
        sources = [str(provider.id) for provider in register_sandbox_providers(session)]
    engine.dispose()
    env = {
        **os.environ,
        "WEDCLOUD_HOME": str(layout.root),
        "DAGSTER_HOME": str(layout.dagster_home),
        "WEDCLOUD_ENVIRONMENT": "test",
        "WEDCLOUD_BILLING_START": FIRST.isoformat(),
        "WEDCLOUD_EXECUTOR": "celery",
        QUEUE_ENV: f"wedcloud-test-{secrets.token_hex(4)}",
        BROKER_ENV: rabbitmq,
        POSTGRES_URL_ENV: str(
            make_url(postgres_url).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
        ),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("WEDCLOUD_DATABASE_URL", None)
    for name in ("DAGSTER_HOME", POSTGRES_URL_ENV):
        monkeypatch.setenv(name, env[name])
    write_instance_config(layout.dagster_home, production_config())
    with dg.DagsterInstance.get() as instance:
        register_sources(instance, sources)
    workers = [
        start([sys.executable, "-m", "wedcloud.cli.main", "worker", "--name", name], env, tmp_path / f"{name}.log")
        for name in ("w1", "w2")
    ]
    try:
        yield env, sources, tmp_path
    finally:
        for worker in workers:  # both at once: a warm shutdown takes a few seconds each
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            stop(worker)


def step_windows(instance: dg.DagsterInstance, run_id: str) -> dict[str, tuple[float, float]]:
    """Each step of a run: when it started and when it ended (succeeded or failed)."""
    started: dict[str, float] = {}
    windows = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.STEP_START:
            started[event.step_key] = record.timestamp
        elif event.event_type in (dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE):
            windows[event.step_key] = (started[event.step_key], record.timestamp)
    return windows


def test_two_concurrent_billing_runs_on_two_celery_workers_share_the_warehouse_without_a_lock_error(
    stack: tuple[dict[str, str], list[str], Path],
) -> None:
    env, sources, folder = stack
    first, last = sources[0], sources[-1]  # a range runs in the partitions' order: registration order
    runs = []
    for month in MONTHS:
        tags = {RANGE_START_TAG: f"{month}|{first}", RANGE_END_TAG: f"{month}|{last}", "wedcloud/test": month}
        argv = [sys.executable, "-m", "dagster", "job", "execute", "-m", "pipelines.definitions", "-a", "defs"]
        argv += ["-j", "billing_refresh", "-o", ",".join(STEPS), "--tags", json.dumps(tags)]
        runs.append(start(argv, env, folder / f"{month}.log"))
    deadline = time.monotonic() + 240
    for run in runs:
        run.wait(max(1, deadline - time.monotonic()))
    logs = "".join(p.read_text() for p in folder.glob("*.log"))
    assert "Could not set lock" not in logs
    assert [run.returncode for run in runs] == [0, 0], logs[-4000:]

    with dg.DagsterInstance.get() as instance:
        records = instance.get_run_records()
        assert sorted(r.dagster_run.tags["wedcloud/test"] for r in records) == list(MONTHS)
        assert {r.dagster_run.status for r in records} == {dg.DagsterRunStatus.SUCCESS}
        assert len(instance.get_materialized_partitions(dg.AssetKey("focus_costs"))) == len(sources) * len(MONTHS)
        # every step ran on a Celery worker, and both workers took steps
        workers = set()
        for record in records:
            for entry in instance.all_logs(record.dagster_run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                metadata = entry.dagster_event.engine_event_data.metadata if entry.dagster_event else {}
                if "Celery worker" in metadata:
                    workers.add(str(metadata["Celery worker"].value).split("@")[0])
        assert workers == {"w1", "w2"}
        # the warehouse's writers never overlapped, across runs and workers: the pool held
        job = build_definitions(PipelineSettings(home=folder, billing_start=FIRST)).resolve_job_def("billing_refresh")
        writers = {node.name for node in job.graph.nodes if node.definition.pool == WAREHOUSE_POOL}
        windows = sorted(
            window
            for record in records
            for step, window in step_windows(instance, record.dagster_run.run_id).items()
            if step in writers
        )
        # focus_costs writes the lake, outside the pool; cost_daily is each run's warehouse writer
        assert writers & set(STEPS) == {"cost_daily"}
        assert len(windows) == len(MONTHS)
        for (_, end), (next_start, _) in itertools.pairwise(windows):
            assert end <= next_start, f"two warehouse writers overlapped: {end} > {next_start}"
        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).limit == 1
