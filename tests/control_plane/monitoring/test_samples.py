"""Metric samples: written once, rolled up into 5-minute buckets, pruned by age, and read back
as series at each step and aggregation, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select

from control_plane.monitoring import events, samples
from control_plane.store.db import make_sessionmaker
from control_plane.store.monitoring_models import MetricRollup, MetricSample, StreamEvent

T0 = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
RESOURCE, PROVIDER = uuid.uuid4(), uuid.uuid4()


def _rows(minutes: int, cpu: callable = lambda n: float(n)) -> list[dict[str, object]]:  # type: ignore[valid-type]
    return [
        {
            "resource_id": RESOURCE,
            "provider_id": PROVIDER,
            "at": T0 + timedelta(seconds=30 * n),
            "cpu": cpu(n),
            "memory": 50.0,
        }
        for n in range(minutes * 2)
    ]


def test_a_sample_written_twice_is_stored_once(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        samples.write_samples(session, _rows(5))
    with sessions.begin() as session:
        samples.write_samples(session, _rows(5))
        assert session.scalar(select(func.count()).select_from(MetricSample)) == 10


def test_series_at_30s_and_5m_aggregate_the_raw_samples(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        samples.write_samples(session, _rows(10))  # cpu 0..19 over ten minutes
    with sessions() as session:
        raw = samples.query_series(
            session,
            resource_ids=[RESOURCE],
            metrics=["cpu"],
            start=T0,
            end=T0 + timedelta(minutes=10),
            step="30s",
            aggregation="avg",
            now=T0 + timedelta(minutes=10),
        )
        five = samples.query_series(
            session,
            resource_ids=[RESOURCE],
            metrics=["cpu", "memory"],
            start=T0,
            end=T0 + timedelta(minutes=10),
            step="5m",
            aggregation="max",
            now=T0 + timedelta(minutes=10),
        )
    assert len(raw[(RESOURCE, "cpu")]) == 20
    assert raw[(RESOURCE, "cpu")][3] == (T0 + timedelta(seconds=90), 3.0)
    assert five[(RESOURCE, "cpu")] == [(T0, 9.0), (T0 + timedelta(minutes=5), 19.0)]
    assert five[(RESOURCE, "memory")] == [(T0, 50.0), (T0 + timedelta(minutes=5), 50.0)]


def test_old_ranges_are_answered_from_rollups_with_weighted_averages(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        samples.write_samples(session, _rows(60))  # cpu 0..119 over an hour
        assert samples.roll_up(session, start=T0, end=T0 + timedelta(hours=1)) == 12
        stats = session.get(MetricRollup, (RESOURCE, T0)).stats
        assert stats["cpu"] == {"avg": 4.5, "min": 0.0, "max": 9.0, "p95": pytest.approx(8.55)}
    later = T0 + timedelta(days=2)  # the raw samples no longer cover the start: rollups answer
    with sessions() as session:
        hourly = samples.query_series(
            session,
            resource_ids=[RESOURCE],
            metrics=["cpu"],
            start=T0,
            end=T0 + timedelta(hours=1),
            step="1h",
            aggregation="avg",
            now=later,
        )
        peak = samples.query_series(
            session,
            resource_ids=[RESOURCE],
            metrics=["cpu"],
            start=T0,
            end=T0 + timedelta(hours=1),
            step="1h",
            aggregation="max",
            now=later,
        )
    assert hourly[(RESOURCE, "cpu")] == [(T0, 59.5)]
    assert peak[(RESOURCE, "cpu")] == [(T0, 119.0)]


def test_prune_drops_samples_past_their_retention(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        samples.write_samples(session, _rows(60))
        samples.roll_up(session, start=T0, end=T0 + timedelta(hours=1))
        removed = samples.prune(
            session, retention=samples.Retention(raw=timedelta(minutes=30)), now=T0 + timedelta(hours=1)
        )
        assert removed == (60, 0)
        assert session.scalar(select(func.min(MetricSample.at))) == T0 + timedelta(minutes=30)


def test_latest_gives_each_resources_newest_sample(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        samples.write_samples(session, _rows(3))
        newest = samples.latest(session)
    assert newest[RESOURCE].at == T0 + timedelta(seconds=150)
    assert newest[RESOURCE].cpu == 5.0


def test_an_unknown_metric_step_or_aggregation_is_refused(engine: Engine) -> None:
    with make_sessionmaker(engine)() as session:
        for bad in ({"metrics": ["temperature"]}, {"step": "2m"}, {"aggregation": "median"}):
            arguments = {
                "resource_ids": [RESOURCE],
                "metrics": ["cpu"],
                "start": T0,
                "end": T0 + timedelta(hours=1),
                "step": "5m",
                "aggregation": "avg",
            } | bad
            with pytest.raises(ValueError, match=r"must be one of|unknown metric"):
                samples.query_series(session, **arguments)  # type: ignore[arg-type]


def test_events_are_read_back_after_an_id_in_order_and_pruned_by_age(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)
    with sessions.begin() as session:
        first = events.publish(session, "alerts", {"state": "firing"}, severity="critical", at=T0)
        events.publish_many(
            session,
            "metrics",
            [{"resource_id": RESOURCE, "data": {"cpu": n}} for n in range(3)],
            at=T0 + timedelta(minutes=20),
        )
    with sessions() as session:
        after = events.events_after(session, first)
        assert [(e.topic, e.payload) for e in after] == [("metrics", {"cpu": n}) for n in range(3)]
        assert events.newest_id(session) == after[-1].id
        assert events.events_after(session, 0, not_before=T0 + timedelta(minutes=10))[0].topic == "metrics"
    with sessions.begin() as session:
        assert events.prune(session, keep=timedelta(minutes=10), now=T0 + timedelta(minutes=15)) == 1
        assert session.scalar(select(func.count()).select_from(StreamEvent)) == 3
    with pytest.raises(ValueError, match="unknown stream topic"), sessions.begin() as session:
        events.publish(session, "gossip", {})
