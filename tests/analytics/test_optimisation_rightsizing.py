"""Rightsizing across services, busy resources and risk: a database is sized among its own
service's classes at their prices, a busy resource is left alone whatever percentile sizes the
target, and the risk follows the utilisation the proposed size would run at (issue 14, finding 4)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import polars as pl
import pytest

from analytics.optimisation.model import Catalogue, Rates, Resource
from analytics.optimisation.rightsizing import BUSY_PERCENT, rightsize
from clouds.base import DATABASE_SERVICE, METRICS_SCHEMA, InstanceType, ResourceState
from clouds.prices import PriceList, from_frame, to_frame

NOW = datetime(2026, 12, 6, tzinfo=UTC)
HOURS = 14 * 24
D = Decimal


def _ec2(name: str, vcpus: int, memory: int, price: str) -> InstanceType:
    return InstanceType(name, name.split(".")[0], vcpus, D(memory), D(price))


def _rds(name: str, vcpus: int, memory: int, price: str) -> InstanceType:
    return InstanceType(name, name.rsplit(".", 1)[0], vcpus, D(memory), D(price), service=DATABASE_SERVICE)


# the sandbox's AWS prices: an RDS class costs about twice the EC2 type of the same hardware
EC2 = [_ec2("r5.xlarge", 4, 32, "0.252"), _ec2("r5.large", 2, 16, "0.126"), _ec2("m5.xlarge", 4, 16, "0.192")]
RDS = [
    _rds("db.r5.xlarge", 4, 32, "0.500"),
    _rds("db.r5.large", 2, 16, "0.250"),
    _rds("db.m5.xlarge", 4, 16, "0.342"),
    _rds("db.m5.large", 2, 8, "0.171"),
]
CATALOGUE = Catalogue({("aws", "eu-west-2"): [*EC2, *RDS]})


def _db(size: str = "db.r5.xlarge") -> Resource:
    return Resource("db-1", "aws", "123", "eu-west-2", "database", ResourceState.RUNNING, size=size)


def _vm(size: str = "r5.xlarge") -> Resource:
    return Resource("db-1", "aws", "123", "eu-west-2", "instance", ResourceState.RUNNING, size=size)


def _load(cpu: float | Sequence[float], memory: float | None) -> pl.DataFrame:
    """Hourly samples over the 14 days before NOW; CPU flat or as given, hour by hour."""
    cpu_values = [float(cpu)] * HOURS if isinstance(cpu, int | float) else [float(v) for v in cpu]
    start = NOW - timedelta(hours=HOURS)
    rows = [("db-1", "cpu_percent", start + timedelta(hours=h), v) for h, v in enumerate(cpu_values)]
    if memory is not None:
        rows += [("db-1", "memory_percent", start + timedelta(hours=h), memory) for h in range(HOURS)]
    return pl.DataFrame(rows, schema=list(METRICS_SCHEMA), orient="row").cast(METRICS_SCHEMA)


def _busy_at_p95_not_p90(p90: float, p95: float) -> list[float]:
    """A day-shaped CPU series whose P90 is ``p90`` and P95 ``p95`` (linear interpolation):
    a tenth of the hours above P90, half of those at the peak."""
    high = int(HOURS * 0.08)  # hours at the peak: P95 lands inside them
    middle = int(HOURS * 0.05)
    return [p95] * high + [p90] * middle + [p90 * 0.6] * (HOURS - high - middle)


RATES = Rates("USD", {}, running_hourly={"db-1": D("0.5")})


def test_a_database_is_never_rightsized_to_an_instance_type_of_another_service() -> None:
    # the database: db.r5.xlarge at P90 CPU 77 % and P99 memory 82 % (here just under
    # the busy line): r5.xlarge (EC2) has the same vCPUs and memory at half the price, and was
    # proposed, "saving" the RDS price minus the EC2 price. No cheaper RDS class fits.
    found = rightsize([_db()], _load(60, 70), CATALOGUE, RATES, now=NOW, cpu_percentile=90)
    assert found == []


def test_a_database_is_rightsized_among_its_own_classes_at_their_prices() -> None:
    # need 4 x 30 % x 1.2 = 1.44 vCPU and 32 x 30 % x 1.2 = 11.5 GiB -> db.r5.large (2, 16);
    # EC2's r5.large (2, 16) and m5.xlarge are cheaper but another service
    (rec,) = rightsize([_db()], _load(30, 30), CATALOGUE, RATES, now=NOW)
    assert rec.target == "db.r5.large"
    assert rec.evidence["service"] == DATABASE_SERVICE
    assert rec.evidence["proposed"]["list_hourly"] == "0.250"  # the RDS price, not EC2's 0.126
    assert rec.monthly_saving == D("0.5") * (1 - D("0.250") / D("0.500")) * 730
    assert rec.risk != "low"
    assert "database" in rec.risk_reason


def test_an_instance_is_never_rightsized_to_a_database_class() -> None:
    # 4 x 10 % x 1.2 = 0.48 vCPU, 32 x 10 % x 1.2 = 3.84 GiB: the cheapest fit overall would be an
    # RDS class only if the catalogues mixed; among EC2 types r5.large wins
    (rec,) = rightsize([_vm()], _load(10, 10), CATALOGUE, RATES, now=NOW)
    assert rec.target == "r5.large"
    assert not rec.target.startswith("db.")


def test_a_catalogue_without_services_rightsizes_nothing() -> None:
    # a catalogue stored before the service column: its types' service is unknown, never guessed
    unknown = Catalogue({("aws", "eu-west-2"): [InstanceType(**{**t.__dict__, "service": None}) for t in [*EC2, *RDS]]})
    assert rightsize([_db(), _vm()], _load(10, 10), unknown, RATES, now=NOW) == []


# the same size in cheaper families: without headroom a busy load still "fits" them
BIG = Catalogue({("aws", "eu-west-2"): [
    _ec2("r5.4xlarge", 16, 128, "1.008"), _ec2("r6a.4xlarge", 16, 128, "0.9072"), _ec2("m5.4xlarge", 16, 64, "0.768"),
]})  # fmt: skip


@pytest.mark.parametrize(
    ("cpu", "memory", "target"),
    [(BUSY_PERCENT - 0.1, 10.0, "m5.4xlarge"), (BUSY_PERCENT, 10.0, None),
     (10.0, BUSY_PERCENT - 0.1, "r6a.4xlarge"), (10.0, BUSY_PERCENT, None)],
)  # fmt: skip
def test_a_busy_resource_gets_no_rightsizing(cpu: float, memory: float, target: str | None) -> None:
    found = rightsize([_vm("r5.4xlarge")], _load(cpu, memory), BIG, RATES, now=NOW, headroom=0.0)
    assert [r.target for r in found] == ([target] if target else [])


def test_a_lower_sizing_percentile_does_not_let_a_busy_resource_through() -> None:
    load = _load(_busy_at_p95_not_p90(60.0, 85.0), 10)
    catalogue = BIG
    assert rightsize([_vm("r5.4xlarge")], load, catalogue, RATES, now=NOW, cpu_percentile=90, headroom=0.0) == []
    quiet = _load(_busy_at_p95_not_p90(40.0, 60.0), 10)
    (rec,) = rightsize([_vm("r5.4xlarge")], quiet, catalogue, RATES, now=NOW, cpu_percentile=90, headroom=0.0)
    assert rec.evidence["busy_check"]["cpu_percentile"] == 95.0
    assert rec.evidence["busy_check"]["cpu_percent"] == pytest.approx(60.0, abs=1e-6)


@pytest.mark.parametrize(
    ("cpu", "memory", "risk"),
    # r5.xlarge (4, 32) -> r5.large (2, 16) doubles both: projected = 2 x measured
    [(25.0, 20.0, "low"), (30.0, 20.0, "low"), (30.5, 20.0, "medium"), (37.5, 20.0, "medium"),
     (38.0, 20.0, "high"), (20.0, 38.0, "high")],
)  # fmt: skip
def test_the_risk_follows_the_utilisation_the_proposed_size_would_run_at(cpu: float, memory: float, risk: str) -> None:
    (rec,) = rightsize([_vm()], _load(cpu, memory), CATALOGUE, RATES, now=NOW)
    assert rec.target == "r5.large"
    projected = rec.evidence["projected_on_proposed"]
    assert projected["cpu_p95_percent"] == pytest.approx(cpu * 2)
    assert projected["memory_p99_percent"] == pytest.approx(memory * 2)
    assert rec.risk == risk
    assert f"P95 CPU {cpu * 2:.0f}%" in rec.risk_reason


def test_no_rightsizing_runs_the_proposed_size_above_the_headroom_ceiling() -> None:
    made = 0
    for cpu in range(5, 100, 5):
        for memory in (10.0, 40.0, 70.0):
            for rec in rightsize([_vm("r5.xlarge")], _load(cpu, memory), CATALOGUE, RATES, now=NOW):
                made += 1
                projected = rec.evidence["projected_on_proposed"]
                assert projected["cpu_p95_percent"] <= projected["ceiling_percent"]
                assert projected["memory_p99_percent"] <= projected["ceiling_percent"]
                assert rec.evidence["cpu_p95_percent"] < BUSY_PERCENT
    assert made >= 10  # r5.large or m5.xlarge for every light enough load


def test_the_stored_catalogue_keeps_each_types_service() -> None:
    prices = PriceList("aws", "eu-west-2", "USD", (*EC2, *RDS), D("0.08"), None, "sandbox", NOW)
    (back,) = from_frame(to_frame([prices]))
    assert back == prices
    assert {t.name: t.service for t in back.instance_types}["db.r5.xlarge"] == DATABASE_SERVICE
    legacy = to_frame([prices]).drop("service")  # a warehouse's rows from before the column
    assert {t.service for t in from_frame(legacy)[0].instance_types} == {None}
