"""The Prometheus exposition: WedCloud's own state and each resource's latest metrics, in the
text format, through prometheus-client, for Prometheus (and Grafana) to scrape.

``registry(...)`` builds a ``CollectorRegistry`` whose one custom collector reads the state store
when it is collected (a scrape), in a few aggregate queries. Families (all gauges):

- ``wedcloud_resource_metric{resource, resource_id, provider, region, metric}``: each resource's
  newest sample within the last ``STALE_CYCLES`` collector intervals (a resource whose samples
  stopped drops out, as Prometheus expects of a target that stopped reporting);
- ``wedcloud_resources{provider, state}``: resources by state (terminated ones left out);
- ``wedcloud_alerts_firing{severity}``: firing alerts;
- ``wedcloud_provider_up{provider, provider_id, kind}`` (1 or 0) and
  ``wedcloud_provider_last_success_timestamp_seconds``, as /monitoring/health sees them;
- ``wedcloud_collector_last_cycle_timestamp_seconds`` and ``..._duration_seconds``;
- ``wedcloud_stream_clients`` and ``wedcloud_stream_last_event_id`` when the process serves the stream.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from control_plane.monitoring import samples
from control_plane.monitoring.health import DOWN, STALE_CYCLES, provider_statuses
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.models import Provider, Resource
from control_plane.store.monitoring_models import METRICS, MonitorAlert, MonitorStatus
from wedcloud.home import HomeLayout
from wedcloud.sqltypes import utcnow

RESOURCE_LABELS = ["resource", "resource_id", "provider", "region", "metric"]


class StoreCollector(Collector):
    """Reads the store on every collect. ``session`` opens a session; ``stream`` answers the
    stream's status (or None)."""

    def __init__(
        self,
        session: Callable[[], Session],
        *,
        layout: HomeLayout,
        settings: MonitorSettings,
        stream: Callable[[], dict[str, Any] | None] = lambda: None,
        now: Callable[[], datetime] = utcnow,
    ) -> None:
        self.session, self.layout, self.settings, self.stream, self.now = session, layout, settings, stream, now

    def collect(self) -> Iterator[Metric]:
        now = self.now()
        stale = timedelta(seconds=self.settings.interval_seconds * STALE_CYCLES)
        with self.session() as session:
            names = {p.id: p.name for p in session.scalars(select(Provider))}
            yield _resource_metrics(session, names, now - stale)
            yield _resource_counts(session, names)
            yield _firing(session)
            yield from _providers(session, self.layout, now, stale)
            yield from _collector(session)
        stream = self.stream()
        if stream is not None:
            clients = GaugeMetricFamily("wedcloud_stream_clients", "WebSocket stream clients of this API worker.")
            clients.add_metric([], float(stream.get("clients", 0)))
            yield clients
            newest = GaugeMetricFamily("wedcloud_stream_last_event_id", "The newest event this API worker has seen.")
            newest.add_metric([], float(stream.get("last_event_id", 0)))
            yield newest


def registry(collector: StoreCollector) -> CollectorRegistry:
    """A registry holding only ``collector`` (not the process's default metrics: several API
    workers would each answer their own, and a scrape reaches one of them)."""
    found = CollectorRegistry(auto_describe=False)
    found.register(collector)
    return found


def _resource_metrics(session: Session, names: dict[uuid.UUID, str], since: datetime) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "wedcloud_resource_metric",
        "The newest sample of each resource's metrics: cpu and memory in percent, network and disk in "
        "bytes per sample period, cost_rate in the resource's currency per hour.",
        labels=RESOURCE_LABELS,
    )
    newest = samples.latest(session, since=since)
    if not newest:
        return family
    resources = {
        r.id: (r.name, r.region)
        for r in session.execute(
            select(Resource.id, Resource.name, Resource.region).where(Resource.id.in_(list(newest)))
        )
    }
    for resource_id in sorted(newest, key=str):
        sample = newest[resource_id]
        name, region = resources.get(resource_id, ("", ""))
        provider = names.get(sample.provider_id, str(sample.provider_id))
        for metric in METRICS:
            value = getattr(sample, metric)
            if value is not None:
                family.add_metric([name, str(resource_id), provider, region, metric], float(value))
    return family


def _resource_counts(session: Session, names: dict[uuid.UUID, str]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "wedcloud_resources", "Resources WedCloud knows, by provider and state.", labels=["provider", "state"]
    )
    for provider_id, state, count in session.execute(
        select(Resource.provider_id, Resource.state, func.count())
        .where(Resource.state != "terminated")
        .group_by(Resource.provider_id, Resource.state)
        .order_by(Resource.provider_id, Resource.state)
    ):
        family.add_metric([names.get(provider_id, str(provider_id)), state], float(count))
    return family


def _firing(session: Session) -> GaugeMetricFamily:
    family = GaugeMetricFamily("wedcloud_alerts_firing", "Firing monitoring alerts by severity.", labels=["severity"])
    for severity, count in session.execute(
        select(MonitorAlert.severity, func.count())
        .where(MonitorAlert.state == "firing")
        .group_by(MonitorAlert.severity)
        .order_by(MonitorAlert.severity)
    ):
        family.add_metric([severity], float(count))
    return family


def _providers(session: Session, layout: HomeLayout, now: datetime, stale: timedelta) -> Iterator[Metric]:
    labels = ["provider", "provider_id", "kind"]
    up = GaugeMetricFamily(
        "wedcloud_provider_up", "1 when the provider answers (health's view), else 0.", labels=labels
    )
    success = GaugeMetricFamily(
        "wedcloud_provider_last_success_timestamp_seconds",
        "When the collector's last call to the provider succeeded (Unix time).",
        labels=labels,
    )
    for provider in provider_statuses(session, layout=layout, now=now, stale=stale):
        values = [provider["name"], provider["id"], provider["kind"]]
        up.add_metric(values, 0.0 if provider["status"] == DOWN else 1.0)
        if provider.get("last_success_at"):
            success.add_metric(values, datetime.fromisoformat(provider["last_success_at"]).timestamp())
    yield up
    yield success


def _collector(session: Session) -> Iterator[Metric]:
    row = session.get(MonitorStatus, "collector")
    last = GaugeMetricFamily(
        "wedcloud_collector_last_cycle_timestamp_seconds", "When the collector's last cycle started (Unix time)."
    )
    took = GaugeMetricFamily(
        "wedcloud_collector_last_cycle_duration_seconds", "How long the collector's last cycle took."
    )
    if row is not None and row.last_attempt_at is not None:
        last.add_metric([], row.last_attempt_at.timestamp())
        seconds = (row.detail or {}).get("seconds")
        if isinstance(seconds, int | float):
            took.add_metric([], float(seconds))
    yield last
    yield took
