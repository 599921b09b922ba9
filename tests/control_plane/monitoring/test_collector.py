"""The collector's cycle over the sandbox's real adapter, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from clouds.errors import Throttled
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world
from control_plane.monitoring import collector
from control_plane.monitoring.collector import run_cycle
from control_plane.monitoring.settings import MonitorSettings
from control_plane.services import inventory
from control_plane.services.providers import adapter_for, create_sandbox_provider
from control_plane.services.sandbox import register_sandbox_providers
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import MetricRollup, MetricSample, MonitorStatus, StreamEvent
from wedcloud.home import HomeLayout

LIVE_SINCE = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
NOW = LIVE_SINCE + timedelta(minutes=5, seconds=10)
SETTINGS = MonitorSettings(interval_seconds=30, backoff_seconds=0.001, backoff_max_seconds=0.01)


@pytest.fixture
def world(engine: Engine, tmp_path: Path) -> tuple[sessionmaker[Session], HomeLayout]:
    layout = HomeLayout(tmp_path / "home")
    layout.ensure()
    save_world(engine, build_world(4, date(2026, 12, 6), date(2025, 6, 1)), created_at=LIVE_SINCE)
    sessions = make_sessionmaker(engine)
    with sessions() as session, session.begin():
        for provider in register_sandbox_providers(session):
            session.flush()
            inventory.sync(session, provider, adapter_for(provider, session=session, layout=layout).list_resources())
        api = session.scalar(select(Resource).where(Resource.name == "wedsync-api-1"))
        assert api is not None
        api.hourly_cost = Decimal("0.096")
    return sessions, layout


def _pinned(layout: HomeLayout, now: datetime, wrap=None):  # type: ignore[no-untyped-def]
    """The real adapters, with the sandbox's clock at ``now`` (the cycle's controlled clock)."""

    def factory(provider: Provider, session: Session):  # type: ignore[no-untyped-def]
        adapter = adapter_for(provider, session=session, layout=layout)
        if isinstance(adapter, SandboxCloud):
            adapter.clock = lambda: now
        return wrap(provider, adapter) if wrap else adapter

    return factory


def _cycle(world: tuple[sessionmaker[Session], HomeLayout], now: datetime = NOW, **kwargs):  # type: ignore[no-untyped-def]
    sessions, layout = world
    adapters = kwargs.pop("adapters", None) or _pinned(layout, now)
    return run_cycle(
        sessions, now=now, settings=SETTINGS, layout=layout, environment="test", adapters=adapters, **kwargs
    )


def test_a_cycle_stores_samples_status_and_one_metrics_event_per_resource(world) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = world
    report = _cycle(world)
    assert all(p.ok for p in report.providers)
    assert len(report.providers) == 3
    with sessions() as session:
        resources = {r.id: r for r in session.scalars(select(Resource).where(Resource.state != "terminated"))}
        stored = list(session.scalars(select(MetricSample)))
        assert report.samples == len(stored) > 0
        assert all(s.at.second % 30 == 0 and s.at < NOW - timedelta(seconds=30) for s in stored)
        api = next(r for r in resources.values() if r.name == "wedsync-api-1")
        api_samples = sorted((s for s in stored if s.resource_id == api.id), key=lambda s: s.at)
        # first cycle: two intervals back (from 09:04:00), the periods already over by 09:05:10
        assert [s.at for s in api_samples] == [
            datetime(2026, 12, 6, 9, 4, 30, tzinfo=UTC) - timedelta(seconds=30 * i) for i in (1, 0)
        ]
        assert all(
            s.cpu is not None and s.memory is not None and s.cost_rate == pytest.approx(0.096) for s in api_samples
        )
        stopped = next(r for r in resources.values() if r.name == "analytics-old")
        (cost_only,) = [s for s in stored if s.resource_id == stopped.id]
        assert cost_only.cost_rate == 0.0
        assert cost_only.cpu is None
        events = list(session.scalars(select(StreamEvent).where(StreamEvent.topic == "metrics")))
        assert len(events) == len(resources) == report.events
        event = next(e for e in events if e.resource_id == str(api.id))
        assert event.payload["resource"] == "wedsync-api-1"
        assert event.payload["provider"] == "sandbox-aws"
        assert event.payload["at"] == api_samples[-1].at.isoformat()
        assert event.payload["values"]["cpu"] == pytest.approx(api_samples[-1].cpu)
        statuses = {s.name: s for s in session.scalars(select(MonitorStatus))}
        aws = next(p for p in report.providers if p.name == "sandbox-aws")
        status = statuses[f"provider:{aws.provider_id}"]
        assert status.ok
        assert status.last_success_at == NOW
        assert status.detail == {"resources": aws.resources, "samples": aws.samples, "throttled": 0}
        assert status.recent[-1]["ok"] is True
        assert statuses["collector"].detail["resources"] == len(resources)


def test_the_next_cycle_reads_on_from_the_last_and_rolls_each_bucket_up_once(world) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = world
    first = _cycle(world)
    second = _cycle(world, NOW + timedelta(seconds=30))
    assert first.rolled_up > 0  # 09:00-09:05 completed before the first cycle
    assert second.rolled_up == 0  # the same bucket is not rolled up twice
    with sessions() as session:
        times = session.execute(select(MetricSample.at, func.count()).group_by(MetricSample.at)).all()
        buckets = session.scalar(select(func.count()).select_from(MetricRollup))
    assert sorted(t for t, _ in times)[-1] == datetime(2026, 12, 6, 9, 5, tzinfo=UTC)
    assert buckets == first.rolled_up
    third = _cycle(world, LIVE_SINCE + timedelta(minutes=10, seconds=5))
    assert third.rolled_up > 0


def test_a_failing_provider_records_its_error_and_stops_no_other(world) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = world
    with sessions() as session, session.begin():
        create_sandbox_provider(session, name="sandbox-gone", flavour=FlavourKey.GCP, default_region=None, tags={})
        gone = session.scalar(select(Provider).where(Provider.name == "sandbox-gone"))
        assert gone is not None
        gone.settings = {**gone.settings, "world": "demolished"}
        other = session.scalar(select(Provider).where(Provider.name == "sandbox-gcp"))
        assert other is not None
        for row in session.scalars(select(Resource).where(Resource.provider_id == other.id)):
            copy = {k: getattr(row, k) for k in ("cloud_id", "name", "resource_type", "subtype", "region", "state")}
            session.add(Resource(provider_id=gone.id, **copy))
    report = _cycle(world)
    outcomes = {p.name: p for p in report.providers}
    assert not outcomes["sandbox-gone"].ok
    assert "demolished" in (outcomes["sandbox-gone"].error or "")
    assert all(outcomes[n].ok and outcomes[n].samples > 0 for n in ("sandbox-aws", "sandbox-azure", "sandbox-gcp"))
    with sessions() as session:
        status = session.get(MonitorStatus, f"provider:{outcomes['sandbox-gone'].provider_id}")
        assert status is not None
        assert status.ok is False
        assert status.last_success_at is None
        assert "demolished" in (status.last_error or "")
        assert status.recent[-1]["ok"] is False
        assert session.scalar(select(func.count()).where(MetricSample.provider_id == status.provider_id)) == 0


class ThrottledFirst:
    """The real sandbox adapter behind a quota that refuses its first ``refusals`` calls."""

    def __init__(self, adapter: SandboxCloud, refusals: int) -> None:
        self.adapter, self.refusals, self.calls = adapter, refusals, 0

    def recent_metrics(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        self.calls += 1
        if self.calls <= self.refusals:
            raise Throttled("429 Too Many Requests")
        return self.adapter.recent_metrics(resource_ids, start=start, end=end)


def test_throttling_backs_off_and_the_cycle_still_collects(world) -> None:  # type: ignore[no-untyped-def]
    sessions, layout = world
    slept: list[float] = []
    wrapped = {}

    def wrap(provider: Provider, adapter):  # type: ignore[no-untyped-def]
        if provider.name != "sandbox-azure":
            return adapter
        wrapped[provider.name] = ThrottledFirst(adapter, refusals=3)
        return wrapped[provider.name]

    report = _cycle(world, adapters=_pinned(layout, NOW, wrap), sleep=slept.append)
    azure = next(p for p in report.providers if p.name == "sandbox-azure")
    assert azure.ok
    assert azure.throttled == 3
    assert azure.samples > 0
    assert wrapped["sandbox-azure"].calls == 4
    assert len(slept) == 3
    assert all(0 < s <= SETTINGS.backoff_max_seconds for s in slept)
    with sessions() as session:
        status = session.get(MonitorStatus, f"provider:{azure.provider_id}")
        assert status is not None
        assert status.detail["throttled"] == 3


def test_throttling_past_the_cycle_budget_gives_up_on_that_provider_only(world) -> None:  # type: ignore[no-untyped-def]
    _, layout = world

    def wrap(provider: Provider, adapter):  # type: ignore[no-untyped-def]
        return ThrottledFirst(adapter, refusals=10**6) if provider.name == "sandbox-azure" else adapter

    settings = MonitorSettings(interval_seconds=0.5, backoff_seconds=0.05, backoff_max_seconds=0.1)
    sessions, _ = world
    report = run_cycle(sessions, now=NOW, settings=settings, layout=layout, adapters=_pinned(layout, NOW, wrap))
    outcomes = {p.name: p for p in report.providers}
    assert not outcomes["sandbox-azure"].ok
    assert "Throttled" in (outcomes["sandbox-azure"].error or "")
    assert outcomes["sandbox-aws"].ok


def test_backoff_grows_exponentially_within_its_cap() -> None:
    import random

    rng = random.Random(7)
    ceilings = [max(collector.backoff(n, 0.5, cap=8, rng=rng) for _ in range(200)) for n in range(1, 7)]
    assert ceilings[0] <= 1.0
    assert 1.0 < ceilings[1] <= 2.0
    assert all(c <= 8 for c in ceilings)
    assert ceilings[-1] > 4


def test_a_running_resource_without_data_gets_no_sample_to_shadow_its_late_data(world) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = world
    with sessions() as session, session.begin():
        aws = session.scalar(select(Provider).where(Provider.name == "sandbox-aws"))
        assert aws is not None
        ghost = Resource(
            provider_id=aws.id, cloud_id="i-not-reported-yet", name="ghost", resource_type="compute",
            subtype="instance", region="eu-west-2", state="running", hourly_cost=Decimal("0.1"),
        )  # fmt: skip
        session.add(ghost)
        session.flush()
        ghost_id = ghost.id
    report = _cycle(world)
    assert all(p.ok for p in report.providers)
    with sessions() as session:
        assert session.scalar(select(func.count()).where(MetricSample.resource_id == ghost_id)) == 0
        metrics_events = select(func.count()).where(
            StreamEvent.topic == "metrics", StreamEvent.resource_id == str(ghost_id)
        )
        assert session.scalar(metrics_events) == 0


def test_a_provider_registered_for_its_bills_only_is_not_polled(world) -> None:  # type: ignore[no-untyped-def]
    sessions, _ = world
    with sessions() as session, session.begin():
        session.add(Provider(kind="azure", name="azure-bills", regions=[], tags={}, settings={}))
    report = _cycle(world)
    assert "azure-bills" not in {p.name for p in report.providers}
    assert all(p.ok for p in report.providers)
