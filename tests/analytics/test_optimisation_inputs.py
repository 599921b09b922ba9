"""The optimisation inputs in DuckDB: inventory snapshots carry when a resource entered its state,
metric windows replace what they cover, and commitments are sized net of the other advice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from analytics.optimisation.analysis import compute_commitments
from analytics.optimisation.inputs import (
    inventory_frame,
    load_inputs,
    store_inventory,
    store_utilisation,
    utilisation_since,
)
from analytics.optimisation.model import Recommendation
from analytics.optimisation.rules import HourlyMetrics, hourly_metrics
from clouds.base import METRICS_SCHEMA, CloudResource, ResourceState, ResourceType

DAY = datetime(2026, 11, 20, 6, tzinfo=UTC)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


def _volume(attached_to: str | None, **details: object) -> CloudResource:
    return CloudResource(
        id="vol-1", name="data", resource_type=ResourceType.STORAGE, subtype="volume", region="eu-west-2",
        state=ResourceState.AVAILABLE, account_id="111", size="200GB", attached_to=attached_to, details=details,
    )  # fmt: skip


def _since(con: duckdb.DuckDBPyConnection, day: datetime) -> datetime | None:
    found = con.execute("SELECT state_since FROM inventory WHERE snapshot_date = $1", [day.date()]).fetchall()
    return found[0][0]


def test_state_since_is_carried_while_state_and_attachment_stay_and_restarts_when_they_change(
    con: duckdb.DuckDBPyConnection,
) -> None:
    snapshots = [(DAY, None), (DAY + timedelta(days=1), None), (DAY + timedelta(days=2), "i-9")]
    for taken, attached in snapshots:
        store_inventory(con, inventory_frame("p", "aws", [_volume(attached)], taken_at=taken), provider="p")
    assert _since(con, DAY) is None  # the first sight of a detached disk says nothing about when
    assert _since(con, DAY + timedelta(days=1)) == DAY  # unchanged since the first snapshot
    assert _since(con, DAY + timedelta(days=2)) is None  # attached now: a new state, not yet a day old
    later = DAY + timedelta(days=3)
    store_inventory(con, inventory_frame("p", "aws", [_volume("i-9")], taken_at=later), provider="p")
    assert _since(con, later) == DAY + timedelta(days=2)


def test_a_state_since_the_provider_states_wins_and_a_rerun_replaces_the_days_snapshot(
    con: duckdb.DuckDBPyConnection,
) -> None:
    told = DAY - timedelta(days=40)
    for _ in range(2):
        frame = inventory_frame("p", "aws", [_volume(None, state_since=told)], taken_at=DAY)
        store_inventory(con, frame, provider="p")
    assert con.execute("SELECT count(*), min(state_since) FROM inventory").fetchall() == [(1, told)]


def test_a_metric_fetch_replaces_its_window_and_drops_samples_older_than_93_days(
    con: duckdb.DuckDBPyConnection,
) -> None:
    def samples(*hours: datetime) -> pl.DataFrame:
        return pl.DataFrame(
            {"resource_id": ["i-1"] * len(hours), "metric": ["cpu_percent"] * len(hours),
             "timestamp": list(hours), "value": [1.0] * len(hours)},
        ).cast(METRICS_SCHEMA)  # fmt: skip

    old = DAY - timedelta(days=100)
    store_utilisation(con, samples(old), provider="p", start=old, end=old + timedelta(hours=1))
    store_utilisation(con, samples(DAY, DAY + timedelta(hours=1)), provider="p", start=DAY,
                      end=DAY + timedelta(hours=2))  # fmt: skip
    store_utilisation(con, samples(DAY + timedelta(hours=1)), provider="p", start=DAY + timedelta(hours=1),
                      end=DAY + timedelta(hours=2))  # fmt: skip
    stamps = [row[0] for row in con.execute('SELECT "timestamp" FROM utilisation ORDER BY 1').fetchall()]
    assert stamps == [DAY, DAY + timedelta(hours=1)]  # the 100-day-old sample is gone, none doubled
    assert utilisation_since(con, "p") == DAY + timedelta(hours=1)


def _usage(costs: dict[str, float], hours: int = 24 * 30) -> pl.DataFrame:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    rows = [
        {"provider": "p", "cloud": "AWS", "account_id": "111", "currency": "USD", "bill_id": bill_id,
         "hour": start + timedelta(hours=h), "on_demand_cost": cost, "already_covered": 0.0}
        for bill_id, cost in costs.items() for h in range(hours)
    ]  # fmt: skip
    return pl.DataFrame(rows)


def _stop(resource_id: str) -> Recommendation:
    return Recommendation.build(
        kind="idle", provider="p", account_id="111", resource_id=resource_id, region="eu-west-2", action="stop",
        target=None, monthly_saving=Decimal(73), currency="USD", evidence={}, risk="medium", risk_reason="",
        confidence=1, confidence_reason="",
    )  # fmt: skip


def test_a_commitment_is_sized_on_the_usage_left_after_the_other_recommendations() -> None:
    usage = _usage({"i-keep": 1.0, "i-idle": 3.0})
    (alone,) = compute_commitments(usage, "p", 30, [])
    (net,) = compute_commitments(usage, "p", 30, [_stop("i-IDLE")])  # billing ids match case-insensitively
    discount = Decimal("0.27")  # the AWS default offer
    assert Decimal(alone.evidence["chosen_hourly_commitment"]) == Decimal(4) * (1 - discount)
    assert Decimal(net.evidence["chosen_hourly_commitment"]) == Decimal(1) * (1 - discount)
    assert net.evidence["net_of_recommendations"] == 1
    assert net.id == alone.id  # the same advice, re-sized: the id does not move with the amount


def test_the_warehouse_summarises_hours_exactly_as_the_rules_do(con: duckdb.DuckDBPyConnection) -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    machines = [
        CloudResource(
            id=f"i-{n}",
            name=f"vm-{n}",
            resource_type=ResourceType.COMPUTE,
            subtype="instance",
            region="eu-west-2",
            state=ResourceState.RUNNING,
            account_id="111",
            size="m5.large",
        )
        for n in range(2)
    ]
    store_inventory(con, inventory_frame("p", "aws", machines, taken_at=now), provider="p")
    stamps = [now - timedelta(minutes=5 * k) for k in range(1, 2 * 288 + 1)]
    rows = [
        {"resource_id": f"i-{n}", "metric": metric, "timestamp": stamp, "value": float((k * 7 + n) % 97)}
        for n in range(2)
        for metric in ("cpu_percent", "network_in_bytes", "network_out_bytes") + (("memory_percent",) if n else ())
        for k, stamp in enumerate(stamps)
        if not (metric.startswith("network") and k % 50 == 0)  # some hours miss a network sample
    ]
    raw = pl.DataFrame(rows).cast(METRICS_SCHEMA)
    store_utilisation(con, raw, provider="p", start=stamps[-1], end=now)
    inputs = load_inputs(con, window_days=14)
    assert inputs is not None
    assert inputs.now == now
    assert isinstance(inputs.metrics, HourlyMetrics)
    expected = hourly_metrics(raw, start=now - timedelta(days=14), end=now).frame
    order = ["resource_id", "timestamp"]
    assert_frame_equal(inputs.metrics.frame.sort(order), expected.sort(order), check_column_order=False)
    assert inputs.metrics.frame.height == 2 * 48
