"""Live metrics for the monitoring collector from Cloud Monitoring: the Google Cloud adapter against
the Compute Engine emulator, which also serves ``projects.timeSeries.list``
(tests/emulators/google_monitoring.py), over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from clouds.base import LIVE_METRICS, METRICS_SCHEMA
from clouds.errors import Throttled
from clouds.gcp.provider import GcpCloud
from tests.emulators.google_compute import Disk, GoogleComputeEmulator, Instance

pytestmark = pytest.mark.integration

PROJECT = "wedsync-prod"
ZONE = "europe-west2-a"
COMPUTE = "compute.googleapis.com/instance/"
MEMORY = "agent.googleapis.com/memory/percent_used"
T0 = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
SERIES_PATH = f"/v3/projects/{PROJECT}/timeSeries"


def _cloud(emulator: GoogleComputeEmulator, backoff: float = 0.01) -> GcpCloud:
    return GcpCloud(emulator.service_account(), project_id=PROJECT, regions=("europe-west2",),
                    endpoint_url=emulator.url, backoff=backoff)  # fmt: skip


def _vm(emulator: GoogleComputeEmulator, name: str = "web-1") -> tuple[Instance, str]:
    vm = emulator.add_instance(Instance(PROJECT, ZONE, name, "e2-small"))
    return vm, f"projects/{PROJECT}/zones/{ZONE}/instances/{name}"


def _at(minutes: int, seconds: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def _series(frame: pl.DataFrame, resource_id: str, metric: str) -> dict[datetime, float]:
    rows = frame.filter((pl.col("resource_id") == resource_id) & (pl.col("metric") == metric)).sort("timestamp")
    return dict(zip(rows["timestamp"].to_list(), rows["value"].to_list(), strict=True))


def _calls(emulator: GoogleComputeEmulator, path: str) -> int:
    return sum(1 for _, asked in emulator.requests if asked.startswith(path))


def test_instance_samples_come_back_per_minute_in_the_monitoring_vocabulary(
    google_compute: GoogleComputeEmulator,
) -> None:
    vm, vm_id = _vm(google_compute)
    google_compute.add_points(COMPUTE + "cpu/utilization", vm, [(_at(0), 0.2), (_at(0, 30), 0.4), (_at(1), 0.95)])
    google_compute.add_points(COMPUTE + "cpu/utilization", vm, [(_at(3), 0.99)])  # outside the window asked
    for device in ("sda", "sdb"):  # two disks: their operations add up
        google_compute.add_points(COMPUTE + "disk/read_ops_count", vm, [(_at(0), 10), (_at(0, 30), 5)], "INT64",
                                  device_name=device)  # fmt: skip
    google_compute.add_points(COMPUTE + "disk/write_ops_count", vm, [(_at(1), 7)], "INT64", device_name="sda")
    google_compute.add_points(COMPUTE + "network/received_bytes_count", vm, [(_at(0), 1000), (_at(1), 400)], "INT64")
    google_compute.add_points(COMPUTE + "network/sent_bytes_count", vm, [(_at(1), 250)], "INT64")
    google_compute.add_points(MEMORY, vm, [(_at(0), 40.0), (_at(0, 30), 50.0)], state="used")
    google_compute.add_points(MEMORY, vm, [(_at(0), 60.0)], state="free")  # not the share in use
    frame = _cloud(google_compute).recent_metrics([vm_id], start=_at(0), end=_at(2))
    assert frame.schema == METRICS_SCHEMA
    assert set(frame["metric"]) == set(LIVE_METRICS)
    assert _series(frame, vm_id, "cpu") == pytest.approx({_at(0): 30.0, _at(1): 95.0})  # a percentage, averaged
    assert _series(frame, vm_id, "disk_read") == {_at(0): 30.0}  # summed over the minute and both disks
    assert _series(frame, vm_id, "disk_write") == {_at(1): 7.0}
    assert _series(frame, vm_id, "network_in") == {_at(0): 1000.0, _at(1): 400.0}
    assert _series(frame, vm_id, "network_out") == {_at(1): 250.0}
    assert _series(frame, vm_id, "memory") == {_at(0): 45.0}  # the Ops Agent's, averaged
    queries = [path for _, path in google_compute.requests if path == SERIES_PATH]
    assert len(queries) == len(LIVE_METRICS)  # one list per metric type


def test_an_instances_numeric_id_is_looked_up_once_across_polls(google_compute: GoogleComputeEmulator) -> None:
    vm, vm_id = _vm(google_compute)
    google_compute.add_points(COMPUTE + "cpu/utilization", vm, [(_at(0), 0.1), (_at(1), 0.2)])
    cloud = _cloud(google_compute)
    first = cloud.recent_metrics([vm_id], start=_at(0), end=_at(1))
    second = cloud.recent_metrics([vm_id], start=_at(1), end=_at(2))
    assert (_series(first, vm_id, "cpu"), _series(second, vm_id, "cpu")) == ({_at(0): 10.0}, {_at(1): 20.0})
    assert _calls(google_compute, f"/compute/v1/projects/{PROJECT}/zones/{ZONE}/instances/web-1") == 1


def test_many_instances_are_found_in_one_list_and_asked_a_hundred_to_a_filter(
    google_compute: GoogleComputeEmulator,
) -> None:
    ids = {}
    for n in range(130):
        vm, vm_id = _vm(google_compute, f"web-{n}")
        google_compute.add_points(COMPUTE + "cpu/utilization", vm, [(_at(0), n / 200)])
        ids[vm_id] = n / 2
    disk = google_compute.add_disk(Disk(PROJECT, ZONE, "data-1", 20))
    disk_id = f"projects/{PROJECT}/zones/{ZONE}/disks/{disk.name}"
    frame = _cloud(google_compute).recent_metrics([*ids, disk_id], start=_at(0), end=_at(1))
    cpu = frame.filter(pl.col("metric") == "cpu")
    assert dict(zip(cpu["resource_id"], cpu["value"], strict=True)) == pytest.approx(ids)
    assert _calls(google_compute, f"/compute/v1/projects/{PROJECT}/zones/") == 0  # no GET per instance
    assert _calls(google_compute, f"/compute/v1/projects/{PROJECT}/aggregated/instances") >= 1
    assert _calls(google_compute, SERIES_PATH) == 2 * len(LIVE_METRICS)  # 100 instances, then 30


def test_a_429_is_retried_and_one_that_outlasts_the_retries_raises_throttled(
    google_compute: GoogleComputeEmulator,
) -> None:
    vm, vm_id = _vm(google_compute)
    google_compute.add_points(COMPUTE + "cpu/utilization", vm, [(_at(0), 0.5)])
    cloud = _cloud(google_compute)
    google_compute.throttle(1, 429, SERIES_PATH)
    assert _series(cloud.recent_metrics([vm_id], start=_at(0), end=_at(1)), vm_id, "cpu") == {_at(0): 50.0}
    google_compute.throttle(10_000, 429, SERIES_PATH)
    with pytest.raises(Throttled, match="Quota exceeded"):
        cloud.recent_metrics([vm_id], start=_at(0), end=_at(1))
    assert _calls(google_compute, SERIES_PATH) > len(LIVE_METRICS) + 2  # retried before giving up
