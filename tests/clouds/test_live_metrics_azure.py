"""Live metrics for the monitoring collector from Azure Monitor: azure-mgmt-monitor against the ARM
emulator (tests/emulators/azure_compute.py and azure_monitor.py) over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from clouds.azure.provider import AzureCloud
from clouds.base import LIVE_METRICS, METRICS_SCHEMA
from clouds.errors import Throttled
from tests.emulators.azure_compute import AzureComputeEmulator, ManagedDisk, ScaleSet, VirtualMachine

pytestmark = pytest.mark.integration

SUBSCRIPTION = "00000000-0000-0000-0000-00000000a2c1"
TOKEN = {"access_token": "emulator-token"}
T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
GIB = 2**30
METRICS_PATH = "/providers/Microsoft.Insights/metrics"


def _cloud(emulator: AzureComputeEmulator) -> AzureCloud:
    return AzureCloud(
        TOKEN, subscription_id=SUBSCRIPTION, regions=("uksouth",), endpoint_url=emulator.url, polling_interval=0
    )


def _at(minutes: int, seconds: int = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def _series(frame: pl.DataFrame, resource_id: str, metric: str) -> dict[datetime, float]:
    rows = frame.filter((pl.col("resource_id") == resource_id) & (pl.col("metric") == metric))
    return dict(zip(rows["timestamp"].to_list(), rows["value"].to_list(), strict=True))


def _metric_calls(emulator: AzureComputeEmulator) -> int:
    return sum(1 for _, path in emulator.requests if path.endswith(METRICS_PATH))


def test_vm_samples_come_back_per_minute_in_the_monitoring_vocabulary(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_D2s_v5"))  # 8 GiB
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(0), 20.0), (_at(0, 30), 40.0), (_at(1), 93.0)])
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(3), 99.0)])  # outside the window asked
    azure_compute.add_metric(vm.id, "Network In Total", [(_at(0), 1000.0), (_at(0, 30), 500.0)])
    azure_compute.add_metric(vm.id, "Network Out Total", [(_at(1), 250.0)])
    azure_compute.add_metric(vm.id, "Disk Read Operations/Sec", [(_at(0), 1.0), (_at(0, 30), 3.0)])
    azure_compute.add_metric(vm.id, "Disk Write Operations/Sec", [(_at(1), 0.5)])
    azure_compute.add_metric(vm.id, "Available Memory Bytes", [(_at(1), 2.0 * GIB)])
    frame = _cloud(azure_compute).recent_metrics([vm.id], start=_at(0), end=_at(2))
    assert frame.schema == METRICS_SCHEMA
    assert set(frame["metric"]) == set(LIVE_METRICS)
    assert _series(frame, vm.id, "cpu") == {_at(0): 30.0, _at(1): 93.0}  # the minute's average
    assert _series(frame, vm.id, "network_in") == {_at(0): 1500.0}  # the minute's total
    assert _series(frame, vm.id, "network_out") == {_at(1): 250.0}
    assert _series(frame, vm.id, "disk_read") == {_at(0): 2.0 * 60}  # an average rate over a minute
    assert _series(frame, vm.id, "disk_write") == {_at(1): 0.5 * 60}
    assert _series(frame, vm.id, "memory") == {_at(1): 75.0}  # 2 of 8 GiB available
    assert _metric_calls(azure_compute) == 1


def test_scale_sets_report_and_disks_do_not(azure_compute: AzureComputeEmulator) -> None:
    scale_set = azure_compute.add_scale_set(ScaleSet(SUBSCRIPTION, "web", "web-vmss", "uksouth", "Standard_D4s_v5", 3))
    disk = azure_compute.add_disk(ManagedDisk(SUBSCRIPTION, "web", "data-1", "uksouth", 64))
    azure_compute.add_metric(scale_set.id, "Percentage CPU", [(_at(4), 61.0)])
    frame = _cloud(azure_compute).recent_metrics([scale_set.id, disk.id], start=_at(0), end=_at(5))
    assert _series(frame, scale_set.id, "cpu") == {_at(4): 61.0}
    assert set(frame["resource_id"]) == {scale_set.id}
    empty = _cloud(azure_compute).recent_metrics([disk.id], start=_at(0), end=_at(5))
    assert (empty.height, empty.schema) == (0, METRICS_SCHEMA)


def test_a_vms_size_is_read_once_across_polls(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))  # 4 GiB
    azure_compute.add_metric(vm.id, "Available Memory Bytes", [(_at(0), 1.0 * GIB), (_at(1), 3.0 * GIB)])
    cloud = _cloud(azure_compute)
    first = cloud.recent_metrics([vm.id], start=_at(0), end=_at(1))
    second = cloud.recent_metrics([vm.id], start=_at(1), end=_at(2))
    assert (_series(first, vm.id, "memory"), _series(second, vm.id, "memory")) == ({_at(0): 75.0}, {_at(1): 25.0})
    vm_reads = [path for method, path in azure_compute.requests if method == "GET" and path.endswith("/web-1")]
    assert len(vm_reads) == 1


def test_one_429_is_retried_and_sustained_throttling_raises_throttled(azure_compute: AzureComputeEmulator) -> None:
    vm = azure_compute.add_vm(VirtualMachine(SUBSCRIPTION, "web", "web-1", "uksouth", "Standard_B2s"))
    azure_compute.add_metric(vm.id, "Percentage CPU", [(_at(0), 12.0)])
    cloud = _cloud(azure_compute)
    azure_compute.throttle(1)
    assert _series(cloud.recent_metrics([vm.id], start=_at(0), end=_at(1)), vm.id, "cpu") == {_at(0): 12.0}
    assert _metric_calls(azure_compute) == 2  # the 429 and its retry
    azure_compute.throttle(3)  # the first try and both retries
    with pytest.raises(Throttled, match="throttled"):
        cloud.recent_metrics([vm.id], start=_at(0), end=_at(1))
    assert _metric_calls(azure_compute) == 5
