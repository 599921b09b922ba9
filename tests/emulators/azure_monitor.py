"""Azure Monitor's Metrics - List (``GET {resourceUri}/providers/Microsoft.Insights/metrics``) for
virtual machines and scale sets, served by the compute emulator's server so that one endpoint
answers azure-mgmt-compute and azure-mgmt-monitor. Also the VM sizes of a location
(``GET /subscriptions/{id}/providers/Microsoft.Compute/locations/{location}/vmSizes``).

What it enforces, as the REST reference and the supported-metrics list document them: a bearer
token and an ``api-version``; the caller may read metrics (403 ``AuthorizationFailed`` naming
``Microsoft.Insights/metrics/read`` when denied); the resource exists (404); every name in
``metricnames`` is a platform metric of virtual machines (400 ``BadRequest`` listing the valid
ones otherwise); the ``interval`` is a time grain Azure offers; the ``timespan`` is
``start/end``. Samples a test puts with ``add_metric`` are averaged (``average``) or summed
(``total``) per interval, intervals aligned to multiples of the grain and stamped with their
start; an interval without a sample is a data point with only its ``timeStamp``, and one whose
samples are all ``None`` answers ``null`` for each aggregation asked.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tests.emulators.http import HttpError, Reply, Request

if TYPE_CHECKING:
    from tests.emulators.azure_compute import AzureComputeEmulator

SUB = r"/subscriptions/(?P<sub>[^/]+)"
RESOURCE = (
    SUB + r"/(?i:resourceGroups)/(?P<rg>[^/]+)/providers/(?i:Microsoft\.Compute)"
    r"/(?P<kind>(?i:virtualMachines|virtualMachineScaleSets))/(?P<name>[^/]+)"
)
METRICS = RESOURCE + r"/providers/(?i:Microsoft\.Insights)/(?i:metrics)"
VM_SIZES = SUB + r"/providers/(?i:Microsoft\.Compute)/locations/(?P<loc>[^/]+)/(?i:vmSizes)"
# platform metrics of Microsoft.Compute/virtualMachines (and scale sets) with their units
UNITS = {
    "Percentage CPU": "Percent",
    "Available Memory Bytes": "Bytes",
    "Network In Total": "Bytes",
    "Network Out Total": "Bytes",
    "Network In": "Bytes",
    "Network Out": "Bytes",
    "Disk Read Bytes": "Bytes",
    "Disk Write Bytes": "Bytes",
    "Disk Read Operations/Sec": "CountPerSecond",
    "Disk Write Operations/Sec": "CountPerSecond",
    "CPU Credits Remaining": "Count",
    "CPU Credits Consumed": "Count",
    "VmAvailabilityMetric": "Count",
}
GRAINS = {
    "PT1M": timedelta(minutes=1), "PT5M": timedelta(minutes=5), "PT15M": timedelta(minutes=15),
    "PT30M": timedelta(minutes=30), "PT1H": timedelta(hours=1), "PT6H": timedelta(hours=6),
    "PT12H": timedelta(hours=12), "P1D": timedelta(days=1),
}  # fmt: skip
MEMORY_MB = {"Standard_B2s": 4096, "Standard_D2s_v5": 8192, "Standard_D4s_v5": 16384, "Standard_E2s_v5": 16384}
Sample = tuple[datetime, float | None]


def _bad_request(message: str) -> HttpError:
    return HttpError(400, {"code": "BadRequest", "message": message})


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _timespan(text: str | None) -> tuple[datetime, datetime]:
    try:
        start, end = (datetime.fromisoformat(part.replace("Z", "+00:00")) for part in (text or "").split("/"))
    except ValueError:
        raise _bad_request(f"Invalid timespan {text!r}: expected start/end in ISO 8601.") from None
    if start.tzinfo is None or end.tzinfo is None or start >= end:
        raise _bad_request(f"Invalid timespan {text!r}: start must be before end, both with a time zone.")
    return start, end


def _aggregate(values: list[float | None], aggregation: str) -> float | None:
    known = [v for v in values if v is not None]
    if not known:
        return None
    return sum(known) / len(known) if aggregation == "average" else sum(known)


class AzureMonitor:
    """The metrics and VM-size routes, registered on ``host``, whose resources and denials they read."""

    def __init__(self, host: AzureComputeEmulator) -> None:
        self.host = host
        self.samples: dict[tuple[str, str], list[Sample]] = defaultdict(list)  # (id lower, name lower)
        host.route("GET", METRICS, self._metrics)
        host.route("GET", VM_SIZES, self._vm_sizes)

    def add_metric(self, resource_id: str, name: str, samples: Sequence[Sample]) -> None:
        """Samples of one metric of a VM or scale set; a ``None`` value is a sample without data."""
        with self.host.lock:
            self.samples[(resource_id.lower(), name.lower())].extend(samples)

    def reset(self) -> None:
        with self.host.lock:
            self.samples.clear()

    def _metrics(self, request: Request) -> Reply:
        self.host._check(request, "Microsoft.Insights/metrics/read")
        resource = self._resource(request)
        names = [n.strip() for n in request.query.get("metricnames", "Percentage CPU").split(",")]
        known = {name.lower(): name for name in UNITS}
        unknown = [name for name in names if name.lower() not in known]
        if unknown:
            raise _bad_request(
                f"Failed to find metric configuration for provider: Microsoft.Compute, resource Type: "
                f"{request.params['kind']}, metric: {', '.join(unknown)}, Valid metrics: {', '.join(UNITS)}"
            )
        interval = request.query.get("interval", "PT1H")
        if interval not in GRAINS:
            raise _bad_request(f"Invalid interval {interval!r}: one of {', '.join(GRAINS)}.")
        start, end = _timespan(request.query.get("timespan"))
        aggregations = [a.strip().lower() for a in request.query.get("aggregation", "Average").split(",")]
        value = [
            self._metric(resource, known[name.lower()], (start, end), GRAINS[interval], aggregations) for name in names
        ]
        return Reply(
            200,
            {
                "cost": 0, "timespan": request.query["timespan"], "interval": interval, "value": value,
                "namespace": resource["type"], "resourceregion": resource["location"],
            },
        )  # fmt: skip

    def _resource(self, request: Request) -> dict[str, Any]:
        vm = request.params["kind"].lower() == "virtualmachines"
        found = self.host._find(self.host.vms if vm else self.host.scale_sets, request)
        view: dict[str, Any] = found.view()
        return view

    def _metric(
        self,
        resource: dict[str, Any],
        name: str,
        span: tuple[datetime, datetime],
        grain: timedelta,
        aggregations: list[str],
    ) -> dict[str, Any]:
        with self.host.lock:
            samples = list(self.samples.get((resource["id"].lower(), name.lower()), []))
        return {
            "id": f"{resource['id']}/providers/Microsoft.Insights/metrics/{name}",
            "type": "Microsoft.Insights/metrics",
            "name": {"value": name, "localizedValue": name},
            "displayDescription": "",
            "unit": UNITS[name],
            "errorCode": "Success",
            "timeseries": [{"metadatavalues": [], "data": self._points(samples, span, grain, aggregations)}],
        }

    @staticmethod
    def _points(
        samples: list[Sample], span: tuple[datetime, datetime], grain: timedelta, aggregations: list[str]
    ) -> list[dict[str, Any]]:
        """One data point per interval of the timespan, aligned to multiples of the grain."""
        seconds = grain.total_seconds()
        first = datetime.fromtimestamp(span[0].timestamp() // seconds * seconds, UTC)
        buckets: dict[datetime, list[float | None]] = defaultdict(list)
        for moment, value in samples:
            if span[0] <= moment < span[1]:
                buckets[first + grain * ((moment - first) // grain)].append(value)
        points, moment = [], first
        while moment < span[1]:
            point: dict[str, Any] = {"timeStamp": _stamp(moment)}
            if moment in buckets:
                point |= {a: _aggregate(buckets[moment], a) for a in aggregations}
            points.append(point)
            moment += grain
        return points

    def _vm_sizes(self, request: Request) -> Reply:
        self.host._check(request, "Microsoft.Compute/locations/vmSizes/read")
        sizes = [
            {"name": name, "numberOfCores": 2, "memoryInMB": memory, "maxDataDiskCount": 4,
             "osDiskSizeInMB": 1047552, "resourceDiskSizeInMB": 8192}
            for name, memory in MEMORY_MB.items()
        ]  # fmt: skip
        return Reply(200, {"value": sizes})
