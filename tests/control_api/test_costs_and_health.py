"""Cost overview and health endpoints around the serving snapshot."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analytics.warehouse import COST_DAILY_SQL, ensure_schema
from clouds.sandbox.world import build_world, save_world
from control_api.security import Role
from tests.control_api.conftest import Api
from wedcloud import snapshots


def _publish(home: Path, rows: list[tuple[str, str, str]]) -> None:
    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            con.execute(COST_DAILY_SQL)
            for day, currency, cost in rows:
                con.execute(
                    "INSERT INTO cost_daily VALUES "
                    "(?, 'AWS', 'a', 's', 'Compute', 'EC2', 'eu-west-2', 'Usage', ?, ?, ?, ?, 1, 'src', NULL)",
                    [date.fromisoformat(day), currency, Decimal(cost), Decimal(cost), Decimal(cost)],
                )
        return {"data_through": max(r[0] for r in rows)}

    snapshots.publish(home / "serving", build)


def test_the_overview_without_a_snapshot_is_a_503_that_says_how_to_get_one(api: Api) -> None:
    response = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER))
    assert response.status_code == 503
    assert "wedcloud materialize" in response.json()["detail"]


def test_the_overview_returns_decimal_strings_rounded_to_cents(api: Api) -> None:
    _publish(api.home, [("2026-11-01", "USD", "10.004"), ("2026-11-02", "USD", "0.002"), ("2026-10-05", "USD", "7")])
    body = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER)).json()
    assert body["month_to_date"]["totals"] == [{"currency": "USD", "amount": "10.01"}]
    assert body["last_month"]["totals"] == [{"currency": "USD", "amount": "7.00"}]
    assert body["by_service"] == [{"provider": "AWS", "service": "EC2", "currency": "USD", "amount": "10.01"}]


def test_the_overview_follows_a_newly_published_snapshot(api: Api) -> None:
    _publish(api.home, [("2026-11-01", "USD", "1")])
    first = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER)).json()
    _publish(api.home, [("2026-11-01", "USD", "2")])
    second = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER)).json()
    assert first["month_to_date"]["totals"][0]["amount"] == "1.00"
    assert second["month_to_date"]["totals"][0]["amount"] == "2.00"
    assert first["snapshot"]["version"] != second["snapshot"]["version"]


def test_a_bad_as_of_date_is_a_422(api: Api) -> None:
    response = api.client.get("/api/cloud/costs/overview?as_of=yesterday", headers=api.headers(Role.VIEWER))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "as_of"


def test_health_reports_the_store_the_snapshot_and_each_provider(api: Api) -> None:
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    body = {"kind": "sandbox", "name": "sandbox-gcp", "flavour": "gcp"}
    api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    degraded = api.client.get("/api/cloud/monitoring/health", headers=api.headers(Role.VIEWER)).json()
    assert degraded["status"] == "degraded"  # nothing published yet
    assert degraded["components"]["state_store"]["status"] == "ok"
    assert [p["status"] for p in degraded["providers"]] == ["ok"]
    _publish(api.home, [("2026-02-27", "USD", "1")])
    healthy = api.client.get("/api/cloud/monitoring/health", headers=api.headers(Role.VIEWER)).json()
    assert healthy["status"] == "ok"
    assert healthy["components"]["serving_snapshot"]["data_through"] == "2026-02-27"


def test_health_needs_a_key_too(api: Api) -> None:
    assert api.client.get("/api/cloud/monitoring/health").status_code == 401
    assert api.client.get("/api/healthz").json() == {"status": "alive"}


def _publish_detail(home: Path) -> None:
    """A snapshot with both cost tables: two services, one tagged, in November 2026."""

    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            ensure_schema(con)
            for day, service, tags, cost in (("2026-11-02", "Amazon EC2", '{"team":"bookings"}', "120.50"),
                                              ("2026-11-03", "Amazon S3", "{}", "30.25")):  # fmt: skip
                amount = Decimal(cost)
                con.execute(
                    "INSERT INTO cost_detail_daily VALUES (?, 'AWS', 'acct', NULL, 'Compute', ?, 'eu-west-2', 'i-1', "
                    "'VM', 'Usage', 'Standard', 'USD', ?, ?, ?, ?, 1, 'src', NULL)",
                    [date.fromisoformat(day), service, tags, amount, amount, amount],
                )
            con.execute(
                "INSERT INTO cost_daily SELECT ChargeDate, ProviderName, BillingAccountId, SubAccountId, "
                "ServiceCategory, ServiceName, RegionId, ChargeCategory, BillingCurrency, sum(BilledCost), "
                "sum(EffectiveCost), sum(ListCost), sum(LineItems), x_SourceId, x_BillingMonth "
                "FROM cost_detail_daily GROUP BY ALL"
            )
        return {"data_through": "2026-11-03"}

    snapshots.publish(home / "serving", build)


BREAKDOWN = "/api/cloud/costs/breakdown"


def test_the_breakdown_groups_the_month_to_date_by_service_by_default(api: Api) -> None:
    _publish_detail(api.home)
    body = api.client.get(BREAKDOWN, headers=api.headers(Role.VIEWER)).json()
    assert (body["start"], body["end"], body["group_by"]) == ("2026-11-01", "2026-11-03", ["service"])
    assert [(g["key"]["service"], g["amount"], g["share"]) for g in body["groups"]] == [
        ("Amazon EC2", "120.50", "0.7993"), ("Amazon S3", "30.25", "0.2007"),
    ]  # fmt: skip
    assert body["totals"] == [{"currency": "USD", "amount": "150.75"}]


def test_the_breakdown_by_tag_reports_untagged_and_comes_as_csv_when_asked(api: Api) -> None:
    _publish_detail(api.home)
    params = {"group_by": "tag:team", "granularity": "day"}
    body = api.client.get(BREAKDOWN, params=params, headers=api.headers(Role.VIEWER)).json()
    assert [(g["kind"], g["key"]["tag:team"], g["series"]) for g in body["groups"]] == [
        ("group", "bookings", [{"period": "2026-11-02", "amount": "120.50"}]),
        ("untagged", None, [{"period": "2026-11-03", "amount": "30.25"}]),
    ]
    csv = api.client.get(BREAKDOWN, params=params, headers={**api.headers(Role.VIEWER), "Accept": "text/csv"})
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines() == [
        "tag:team,kind,currency,period,amount,share",
        "bookings,group,USD,2026-11-02,120.50,0.7993",
        ",untagged,USD,2026-11-03,30.25,0.2007",
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"group_by": "colour"}, "group_by"),
        ({"start": "2026-11-20", "end": "2026-11-01"}, "start"),
        ({"currency": "XXY"}, "currency"),
        ({"tag": "no-equals-sign"}, "tag"),
        ({"granularity": "fortnight"}, "granularity"),
    ],
)
def test_a_breakdown_that_cannot_be_made_is_a_problem_naming_the_parameter(
    api: Api, params: dict[str, str], field: str
) -> None:
    _publish_detail(api.home)
    response = api.client.get(BREAKDOWN, params=params, headers=api.headers(Role.VIEWER))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_the_breakdown_needs_a_key_and_a_snapshot(api: Api) -> None:
    assert api.client.get(BREAKDOWN).status_code == 401
    assert api.client.get(BREAKDOWN, headers=api.headers(Role.VIEWER)).status_code == 503
