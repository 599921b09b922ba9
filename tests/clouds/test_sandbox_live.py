"""The sandbox's live 30-second samples: deterministic, aligned, and the planted hot spot."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from clouds.base import LIVE_METRICS
from clouds.sandbox import live
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world

LIVE_SINCE = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)
NOW = LIVE_SINCE + timedelta(minutes=30)


def _cloud(engine: Engine, tmp_path: Path, now: datetime = NOW) -> SandboxCloud:
    return SandboxCloud(engine, flavour="aws", exports_dir=tmp_path, clock=lambda: now)


@pytest.fixture
def cloud(sqlite_engine: Engine, tmp_path: Path) -> SandboxCloud:
    save_world(sqlite_engine, build_world(4, date(2026, 12, 6), date(2025, 6, 1)), created_at=LIVE_SINCE)
    return _cloud(sqlite_engine, tmp_path)


def _ids(cloud: SandboxCloud) -> dict[str, str]:
    return {r.name: r.id for r in cloud.list_resources()}


def test_every_running_machine_reports_each_metric_every_30_seconds(cloud: SandboxCloud) -> None:
    ids = _ids(cloud)
    frame = cloud.recent_metrics(list(ids.values()), start=LIVE_SINCE, end=LIVE_SINCE + timedelta(minutes=10))
    api = frame.filter(pl.col("resource_id") == ids["wedsync-api-1"])
    assert set(api["metric"]) == set(LIVE_METRICS)
    stamps = api.filter(pl.col("metric") == "cpu")["timestamp"].to_list()
    assert len(stamps) == 20
    assert all(b - a == timedelta(seconds=30) for a, b in itertools.pairwise(stamps))
    assert stamps[0] == LIVE_SINCE
    assert all(s.second % 30 == 0 for s in stamps)
    reporting = set(frame["resource_id"])
    assert ids["analytics-old"] not in reporting  # stopped
    assert ids["wedsync-media"] not in reporting  # a bucket has no live samples
    assert frame["value"].is_nan().sum() == 0
    assert (frame["value"] >= 0).all()


def test_the_same_instant_gives_the_same_value_whatever_window_or_process(
    cloud: SandboxCloud, sqlite_engine: Engine, tmp_path: Path
) -> None:
    ids = list(_ids(cloud).values())
    wide = cloud.recent_metrics(ids, start=LIVE_SINCE, end=LIVE_SINCE + timedelta(minutes=20))
    live._CURVES.clear()  # as a new process would start
    narrow = _cloud(sqlite_engine, tmp_path).recent_metrics(
        ids, start=LIVE_SINCE + timedelta(minutes=10), end=LIVE_SINCE + timedelta(minutes=20)
    )
    keys = ["resource_id", "metric", "timestamp"]
    joined = narrow.join(wide, on=keys, suffix="_wide")
    assert joined.height == narrow.height > 0
    assert (joined["value"] == joined["value_wide"]).all()
    # and the noise moves samples apart within an hour (not a flat interpolation)
    cpu = wide.filter(pl.col("metric") == "cpu", pl.col("resource_id") == ids[0])["value"]
    assert cpu.n_unique() == cpu.len()


def test_the_planted_machine_runs_above_90_percent_for_exactly_its_10_minutes(cloud: SandboxCloud) -> None:
    hot = _ids(cloud)["wedsync-api-2"]
    frame = cloud.recent_metrics([hot], start=LIVE_SINCE, end=NOW).filter(pl.col("metric") == "cpu")
    start, end = LIVE_SINCE + timedelta(minutes=2), LIVE_SINCE + timedelta(minutes=12)
    inside = frame.filter(pl.col("timestamp") >= start, pl.col("timestamp") < end)
    outside = frame.filter((pl.col("timestamp") < start) | (pl.col("timestamp") >= end))
    assert inside.height == 20
    assert (inside["value"] > 90).all()
    assert outside.height == 40  # the 30 minutes' 60 periods, the last ending at NOW, less the 20 hot ones
    assert (outside["value"] < 90).all()


def test_other_machines_do_not_run_hot_in_the_planted_window(cloud: SandboxCloud) -> None:
    ids = _ids(cloud)
    others = [i for name, i in ids.items() if name != "wedsync-api-2"]
    frame = cloud.recent_metrics(
        others, start=LIVE_SINCE + timedelta(minutes=2), end=LIVE_SINCE + timedelta(minutes=12)
    )
    api = frame.filter(pl.col("metric") == "cpu", pl.col("resource_id") == ids["wedsync-api-1"])
    assert api.height == 20
    assert (api["value"] < 90).all()


def test_starting_the_live_clock_moves_the_hot_spot(cloud: SandboxCloud, sqlite_engine: Engine) -> None:
    hot = _ids(cloud)["wedsync-api-2"]
    later = LIVE_SINCE + timedelta(hours=1)
    live.start_live_clock(sqlite_engine, "default", later)
    assert live.live_since(sqlite_engine, "default") == later
    cloud.clock = lambda: later + timedelta(minutes=30)
    frame = cloud.recent_metrics([hot], start=LIVE_SINCE, end=later + timedelta(minutes=30))
    cpu = frame.filter(pl.col("metric") == "cpu")
    hot_stamps = cpu.filter(pl.col("value") > 90)["timestamp"]
    assert hot_stamps.min() == later + timedelta(minutes=2)
    assert hot_stamps.max() == later + timedelta(minutes=11, seconds=30)
    assert hot_stamps.len() == 20


def test_a_period_not_over_yet_has_no_sample(cloud: SandboxCloud, sqlite_engine: Engine, tmp_path: Path) -> None:
    hot = _ids(cloud)["wedsync-api-2"]
    early = _cloud(sqlite_engine, tmp_path, now=LIVE_SINCE + timedelta(seconds=89))
    stamps = early.recent_metrics([hot], start=LIVE_SINCE, end=NOW).filter(pl.col("metric") == "cpu")["timestamp"]
    assert stamps.to_list() == [LIVE_SINCE, LIVE_SINCE + timedelta(seconds=30)]  # 09:01:00-09:01:30 is not over
