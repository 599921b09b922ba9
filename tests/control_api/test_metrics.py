"""GET /api/cloud/monitoring/metrics over samples the collector stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world
from control_plane.monitoring import samples
from control_plane.monitoring.collector import run_cycle
from control_plane.monitoring.settings import MonitorSettings
from control_plane.security import Role
from control_plane.services import inventory
from control_plane.services.providers import adapter_for
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Resource
from control_plane.store.monitoring_models import MetricSample
from tests.control_api.conftest import Api
from wedcloud.home import HomeLayout

URL = "/api/cloud/monitoring/metrics"
# recent enough to be answered from the raw samples, whatever the day the test runs
NOW = samples.floor_time(datetime.now(UTC), timedelta(minutes=5)) - timedelta(minutes=10) + timedelta(seconds=5)
START, END = NOW - timedelta(minutes=5, seconds=5), NOW - timedelta(seconds=5)


@pytest.fixture
def collected(api: Api, tmp_path: Path) -> Api:
    """The sandbox's three providers with their inventory, and one cycle's five minutes of samples."""
    layout = HomeLayout(tmp_path / "collector")
    layout.ensure()
    save_world(api.engine, build_world(4, NOW.date(), NOW.date() - timedelta(days=60)), created_at=NOW)
    sessions = make_sessionmaker(api.engine)
    with sessions() as session, session.begin():
        for provider in register_sandbox_providers(session):
            session.flush()
            inventory.sync(session, provider, adapter_for(provider, session=session, layout=layout).list_resources())

    def pinned(provider: Any, session: Session) -> Any:
        adapter = adapter_for(provider, session=session, layout=layout)
        assert isinstance(adapter, SandboxCloud)
        adapter.clock = lambda: NOW
        return adapter

    settings = MonitorSettings(interval_seconds=150, lookback_seconds=300)
    report = run_cycle(sessions, now=NOW, settings=settings, layout=layout, adapters=pinned)
    assert all(p.ok for p in report.providers)
    return api


def _ids(api: Api, name: str) -> str:
    with Session(api.engine) as session:
        row = session.scalar(select(Resource).where(Resource.name == name))
        assert row is not None
        return str(row.id)


def _get(api: Api, role: Role = Role.VIEWER, accept: str = "application/json", **params: Any) -> Any:
    query = {"start": START.isoformat(), "end": END.isoformat(), **params}
    return api.client.get(URL, params=query, headers={**api.headers(role), "Accept": accept})


def test_a_viewer_reads_a_resources_cpu_as_a_prometheus_matrix(collected: Api) -> None:
    api_1 = _ids(collected, "wedsync-api-1")
    answer = _get(collected, resource=api_1, metric="cpu", step="30s")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "matrix"
    (series,) = body["data"]["result"]
    labels = series["metric"]
    assert labels["__name__"] == "cpu"
    assert labels["resource"] == "wedsync-api-1"
    assert labels["resource_id"] == api_1
    assert labels["provider"] == "sandbox-aws"
    assert labels["region"] == "eu-west-2"
    assert labels["unit"] == "percent"
    with Session(collected.engine) as session:
        stored = session.execute(
            select(MetricSample.at, MetricSample.cpu)
            .where(MetricSample.resource_id == uuid.UUID(api_1), MetricSample.at >= START)
            .order_by(MetricSample.at)
        ).all()
    assert len(stored) == 10
    assert series["values"] == [[int(at.timestamp()), repr(cpu)] for at, cpu in stored]


def test_a_coarser_step_aggregates_the_samples_in_it(collected: Api) -> None:
    api_1 = _ids(collected, "wedsync-api-1")
    raw = _get(collected, resource=api_1, metric="cpu", step="30s").json()["data"]["result"][0]["values"]
    answer = _get(collected, resource=api_1, metric="cpu", step="5m", aggregation="max").json()
    points = answer["data"]["result"][0]["values"]
    by_bucket: dict[int, float] = {}
    for at, value in raw:
        bucket = at - at % 300
        by_bucket[bucket] = max(by_bucket.get(bucket, 0.0), float(value))
    assert [[t, float(v)] for t, v in points] == [[t, v] for t, v in sorted(by_bucket.items())]


def test_csv_gives_one_row_per_point_with_iso_times(collected: Api) -> None:
    api_1 = _ids(collected, "wedsync-api-1")
    answer = _get(collected, accept="text/csv", resource=api_1, metric=["cpu", "memory"], step="30s")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 20
    assert {r["metric"] for r in rows} == {"cpu", "memory"}
    assert {r["resource"] for r in rows} == {"wedsync-api-1"}
    first = datetime.fromisoformat(rows[0]["time"])
    assert first.tzinfo is not None
    assert first >= START


def test_provider_and_tag_select_the_resources(collected: Api) -> None:
    aws = _get(collected, provider="sandbox-aws", metric="cpu", limit=500).json()["data"]["result"]
    assert aws
    assert {s["metric"]["provider"] for s in aws} == {"sandbox-aws"}
    dev = _get(collected, tag="env=development", metric="cpu", limit=500).json()["data"]["result"]
    names = {s["metric"]["resource"] for s in dev}
    assert "dev-box-1" in names
    assert "wedsync-api-1" not in names


def test_series_are_paged_with_a_cursor(collected: Api) -> None:
    everything = _get(collected, provider="sandbox-aws", limit=500).json()["data"]["result"]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"provider": "sandbox-aws", "limit": 4, **({"cursor": cursor} if cursor else {})}
        body = _get(collected, **params).json()
        seen += [(s["metric"]["resource_id"], s["metric"]["__name__"]) for s in body["data"]["result"]]
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            break
    assert pages > 1
    assert seen == [(s["metric"]["resource_id"], s["metric"]["__name__"]) for s in everything]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"metric": "temperature"}, "metric"),
        ({"step": "2m"}, "step"),
        ({"aggregation": "median"}, "aggregation"),
        ({"start": "2026-12-06T10:00:00Z", "end": "2026-12-06T09:00:00Z"}, "end"),
        ({"start": "2026-12-06T09:00:00Z", "end": "2026-12-06T09:00:00Z"}, "end"),
        ({"start": "2026-01-01T00:00:00Z", "end": "2026-12-06T00:00:00Z", "step": "30s"}, "step"),
        ({"tag": "env"}, "tag"),
        ({"start": "2026-12-06T09:00:00"}, "start"),
        ({"resource": "not-a-uuid"}, "resource"),
        ({"provider": "nimbus"}, "provider"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(api: Api, params: dict[str, str], field: str) -> None:
    answer = api.client.get(URL, params=params, headers=api.headers(Role.VIEWER))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert field in {e.get("field") for e in answer.json()["errors"]}


def test_without_a_key_nothing_is_served(api: Api) -> None:
    assert api.client.get(URL).status_code == 401


def test_a_range_older_than_the_raw_retention_is_answered_from_the_rollups(collected: Api) -> None:
    api_1 = _ids(collected, "wedsync-api-1")
    raw = _get(collected, resource=api_1, metric="cpu", step="5m").json()["data"]["result"][0]["values"]
    old_start = (NOW - timedelta(hours=7)).isoformat()
    rolled = _get(collected, resource=api_1, metric="cpu", step="5m", start=old_start).json()
    points = rolled["data"]["result"][0]["values"]
    assert [t for t, _ in points] == [t for t, _ in raw]
    assert [float(v) for _, v in points] == pytest.approx([float(v) for _, v in raw])
    hourly = _get(collected, resource=api_1, metric="cpu", step="1h", start=old_start).json()["data"]["result"]
    assert len(hourly[0]["values"]) == 1
