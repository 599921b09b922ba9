"""Utilisation metrics of VMs and scale sets from Azure Monitor (azure-mgmt-monitor).

They are Azure Monitor's platform metrics (Metrics - List, one call per VM or scale set): CPU,
network and disk operations as the host measures them, memory as a share of the size's memory
(from the location's VM sizes) where Azure reports ``Available Memory Bytes``. Managed disks and
storage accounts report none of these. :meth:`Metrics.frame` answers per period for the
optimisation pipeline; :meth:`Metrics.recent` answers at ``PT1M``, the finest grain of these
metrics, for the monitoring collector, retrying a throttled call (429) only twice so that the
collector hears ``Throttled`` quickly and backs off itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import polars as pl

from clouds.azure.api import SCALE_SET, VM, Arm, ArmId, parse_id, translate
from clouds.base import HOUR, METRICS_SCHEMA, Metric
from clouds.errors import AuthenticationFailed, CloudError, UnsupportedRequest

METRICS_READ = "Microsoft.Insights/metrics/read"
AVAILABLE_MEMORY = "Available Memory Bytes"


class HostMetric(NamedTuple):
    aggregation: str  # the data point's field Azure fills: average or total
    metric: Metric
    per_second: bool = False  # a rate: times the period's seconds gives the period's count


# the platform metrics of Microsoft.Compute/virtualMachines, the same on virtualMachineScaleSets
# (learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/microsoft-compute-virtualmachines-metrics)
HOST_METRICS = {
    "Percentage CPU": HostMetric("average", Metric.CPU_PERCENT),
    AVAILABLE_MEMORY: HostMetric("average", Metric.MEMORY_PERCENT),  # bytes, made a share of the size's memory
    "Network In Total": HostMetric("total", Metric.NETWORK_IN_BYTES),
    "Network Out Total": HostMetric("total", Metric.NETWORK_OUT_BYTES),
    "Disk Read Operations/Sec": HostMetric("average", Metric.DISK_IO_OPS, per_second=True),
    "Disk Write Operations/Sec": HostMetric("average", Metric.DISK_IO_OPS, per_second=True),
}
# the same metrics in the monitoring vocabulary (clouds.base.LIVE_METRICS): reads and writes apart
LIVE_NAMES = {
    "Percentage CPU": "cpu", AVAILABLE_MEMORY: "memory", "Network In Total": "network_in",
    "Network Out Total": "network_out", "Disk Read Operations/Sec": "disk_read",
    "Disk Write Operations/Sec": "disk_write",
}  # fmt: skip
LIVE_GRAIN, LIVE_SECONDS = "PT1M", 60.0
SIZE_MEMORY_SECONDS = 600.0  # how long a VM's size (for its memory) is trusted before it is read again
LIVE_RETRIES = 2  # retries of a throttled live call (azure-core's ``retry_total``) before Throttled
# Azure Monitor's time grains, the ISO 8601 durations ``interval`` takes
GRAINS = {
    timedelta(minutes=1): "PT1M", timedelta(minutes=5): "PT5M", timedelta(minutes=15): "PT15M",
    timedelta(minutes=30): "PT30M", HOUR: "PT1H", timedelta(hours=6): "PT6H", timedelta(hours=12): "PT12H",
    timedelta(days=1): "P1D",
}  # fmt: skip


def _metrics_error(exc: Exception, resource_id: str) -> CloudError:
    """As :func:`translate`, a refusal naming the permission that reading metrics needs."""
    error = translate(exc, resource_id)
    if isinstance(error, AuthenticationFailed) and getattr(exc, "status_code", None) == 403:
        return AuthenticationFailed(f"reading metrics needs the permission {METRICS_READ}: {error}")
    return error


Row = tuple[str, str, datetime, float]


def _utc_text(moment: datetime) -> str:
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _grain(period: timedelta) -> str:
    try:
        return GRAINS[period]
    except KeyError:
        raise UnsupportedRequest(f"Azure Monitor's periods are {', '.join(GRAINS.values())}, not {period}") from None


def _samples(response: Any, seconds: float) -> Iterator[tuple[str, datetime, float]]:
    """(Azure metric name, period start, value) of each data point with data; a null is skipped."""
    names = {name.lower(): name for name in HOST_METRICS}
    for found in response.value or []:
        name = names.get(str(found.name.value).lower())
        if name is None:
            continue
        wanted = HOST_METRICS[name]
        for series in found.timeseries or []:
            for point in series.data or []:
                value = getattr(point, wanted.aggregation)
                if value is not None:
                    yield name, point.time_stamp.astimezone(UTC), value * (seconds if wanted.per_second else 1)


def _used_share(available: float, memory: float) -> float:
    """The percentage of a size's memory in use, from the bytes Azure reports available."""
    return min(max(100 * (1 - available / memory), 0.0), 100.0)


def _metrics_frame(rows: list[Row]) -> pl.DataFrame:
    """The long metrics frame; disk operations are reads plus writes, so a period counts only
    when Azure reported both."""
    if not rows:
        return pl.DataFrame(schema=METRICS_SCHEMA)
    frame = pl.DataFrame(rows, schema=list(METRICS_SCHEMA), orient="row")
    summed = frame.group_by("resource_id", "metric", "timestamp").agg(pl.col("value").sum(), pl.len().alias("parts"))
    complete = (pl.col("metric") != Metric.DISK_IO_OPS.value) | (pl.col("parts") == 2)
    return (
        summed.filter(complete)
        .select(list(METRICS_SCHEMA))
        .sort("resource_id", "metric", "timestamp")
        .cast(METRICS_SCHEMA)
    )


class Metrics:
    """Azure Monitor's host metrics of the subscription's VMs and scale sets."""

    def __init__(self, arm: Arm) -> None:
        self.arm = arm
        self._sizes: dict[str, dict[str, int]] = {}  # location -> VM size (lower case) -> memory in MiB
        self._memory: dict[str, tuple[float, float | None]] = {}  # resource id -> (when read, memory bytes)

    def frame(self, resource_ids: Sequence[str], *, start: datetime, end: datetime, period: timedelta) -> pl.DataFrame:
        """The long metrics frame of each VM and scale set among ``resource_ids`` per period."""
        grain, timespan = _grain(period), f"{_utc_text(start)}/{_utc_text(end)}"
        rows: list[Row] = []
        for resource_id in dict.fromkeys(resource_ids):
            arm = parse_id(resource_id)
            if arm.kind in (VM, SCALE_SET):
                samples = self._host_samples(resource_id, arm, timespan, grain, period.total_seconds(), {})
                rows += [
                    (resource_id, HOST_METRICS[name].metric.value, moment, value) for name, moment, value in samples
                ]
        return _metrics_frame(rows)

    def recent(self, resource_ids: Sequence[str], *, start: datetime, end: datetime) -> pl.DataFrame:
        """:data:`clouds.base.LIVE_METRICS` of each VM and scale set at ``PT1M``: CPU and memory
        (percent, the minute's average), network bytes (``Network In Total``/``Network Out
        Total``, the minute's total) and disk read and write operations (the minute's average
        rate times 60)."""
        timespan = f"{_utc_text(start)}/{_utc_text(end)}"
        rows: list[Row] = []
        for resource_id in dict.fromkeys(resource_ids):
            arm = parse_id(resource_id)
            if arm.kind in (VM, SCALE_SET):
                retries = {"retry_total": LIVE_RETRIES}
                samples = self._host_samples(resource_id, arm, timespan, LIVE_GRAIN, LIVE_SECONDS, retries)
                rows += [(resource_id, LIVE_NAMES[name], moment, value) for name, moment, value in samples]
        if not rows:
            return pl.DataFrame(schema=METRICS_SCHEMA)
        frame = pl.DataFrame(rows, schema=list(METRICS_SCHEMA), orient="row")
        return frame.cast(METRICS_SCHEMA).sort("resource_id", "metric", "timestamp")

    def _host_samples(
        self, resource_id: str, arm: ArmId, timespan: str, grain: str, seconds: float, options: dict[str, Any]
    ) -> list[tuple[str, datetime, float]]:
        """(Azure metric name, period start, value) of one VM or scale set, memory as the
        percentage of its size's memory in use (absent when the size is unknown)."""
        try:
            response = self.arm.monitor.metrics.list(
                resource_id, timespan=timespan, interval=grain, metricnames=",".join(HOST_METRICS),
                aggregation="Average,Total", **options,
            )  # fmt: skip
        except Exception as exc:
            raise _metrics_error(exc, resource_id) from exc
        samples = list(_samples(response, seconds))
        memory = self._memory_of(resource_id, arm) if any(name == AVAILABLE_MEMORY for name, *_ in samples) else None
        found: list[tuple[str, datetime, float]] = []
        for name, moment, value in samples:
            if name == AVAILABLE_MEMORY:
                if memory is None:
                    continue
                value = _used_share(value, memory)
            found.append((name, moment, value))
        return found

    def _memory_of(self, resource_id: str, arm: ArmId) -> float | None:
        """:meth:`_memory_bytes`, remembered for ``SIZE_MEMORY_SECONDS`` so that a collector
        polling every 30 s reads each VM's size once in a while, not on every poll (a resize
        shows within that time)."""
        now = time.monotonic()
        known = self._memory.get(resource_id)
        if known is None or now - known[0] > SIZE_MEMORY_SECONDS:
            known = self._memory[resource_id] = (now, self._memory_bytes(arm))
        return known[1]

    def _memory_bytes(self, arm: ArmId) -> float | None:
        """The memory of a VM's size (of each instance's, for a scale set), from its location's VM
        sizes; None when the size is not listed there."""
        raw = self.arm.raw(arm)
        hardware = (raw.get("properties") or {}).get("hardwareProfile") or {}
        size = (raw.get("sku") or {}).get("name") if arm.kind == SCALE_SET else hardware.get("vmSize")
        location = raw["location"]
        if location not in self._sizes:
            try:
                listed = self.arm.compute.virtual_machine_sizes.list(location)
                self._sizes[location] = {s.name.lower(): s.memory_in_mb for s in listed if s.name and s.memory_in_mb}
            except Exception as exc:
                raise translate(exc) from exc
        megabytes = self._sizes[location].get(str(size).lower())
        return float(megabytes * 2**20) if megabytes else None
