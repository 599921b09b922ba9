"""Cost overview and health endpoints around the serving snapshot."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.warehouse import COST_DAILY_SQL, ensure_schema
from clouds.sandbox.world import build_world, save_world
from control_plane.security import Role
from control_plane.services.alerts import raise_from_snapshot
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Alert, Provider, Resource
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
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()  # billing loaded through yesterday
    _publish(api.home, [(yesterday, "USD", "1")])
    healthy = api.client.get("/api/cloud/monitoring/health", headers=api.headers(Role.VIEWER)).json()
    assert healthy["status"] == "ok"
    assert healthy["components"]["serving_snapshot"]["data_through"] == yesterday
    assert healthy["pipelines"]["billing"] == {"status": "ok", "data_through": yesterday, "days_behind": 1}


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


def _publish_forecast(home: Path, explanation: dict[str, Any] | None = None) -> None:
    """Actuals for 1-26 November 2026 (10 a day), a flat forecast of 12 a day (80%: 11-13,
    95%: 10-14) to the end of the year whose running total over n days has the narrower 80%
    interval 12n +- n/2 (95%: 12n +- n), as calibrated running totals do, and one anomaly with its
    explanation (by default as the anomaly asset wrote them before it listed resources), plus a
    covered one."""

    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            ensure_schema(con)
            for day in range(1, 27):
                con.execute(
                    "INSERT INTO cost_daily VALUES (?, 'AWS', 'acct', NULL, 'Compute', 'Amazon EC2', 'eu-west-2', "
                    "'Usage', 'USD', 10, 10, 10, 1, 'src', NULL)",
                    [date(2026, 11, day)],
                )
            con.execute(
                "INSERT INTO cost_forecast SELECT s.series, s.value, 'USD', d::DATE, 'MSTL', 12, 11, 13, 10, 14, 9, 15 "
                "FROM range(DATE '2026-11-27', DATE '2027-01-01', INTERVAL 1 DAY) t(d), "
                "(VALUES ('total', NULL), ('service', 'Amazon EC2')) s(series, value)"
            )
            con.execute(
                "INSERT INTO cost_forecast_cumulative SELECT s.series, s.value, 'USD', d::DATE, 12 * n, 11.5 * n, "
                "12.5 * n, 11 * n, 13 * n, 10 * n, 14 * n FROM (SELECT d, row_number() OVER (ORDER BY d) AS n "
                "FROM range(DATE '2026-11-27', DATE '2027-01-01', INTERVAL 1 DAY) t(d)), "
                "(VALUES ('total', NULL), ('service', 'Amazon EC2')) s(series, value)"
            )
            con.execute(
                "INSERT INTO cost_forecast_models (series, value, currency, model, mase, mape, seasonal_naive_mape, "
                "mase_insample, seasonal_naive_mase_insample, history_days, yearly, reason, last_actual, "
                "outlier_days, coverage_80, coverage_95, cv_coverage_80, cv_coverage_95) VALUES ('total', NULL, "
                "'USD', 'MSTL', 0.71, 6.4, 9.1, 0.93, 1.3, 730, true, 'lowest backtest MASE', DATE '2026-11-26', "
                "4, 0.81, 0.95, 0.79, 0.94)"
            )
            step = {"dimension": "ServiceName", "value": "Amazon EC2", "excess": 870.0, "share": 1.0}
            path_json = json.dumps(explanation or {"path": [step], "others": []})
            for anomaly_id, series, value, covered in (
                ("a1", "total", None, None),
                ("a2", "service", "Amazon EC2", "a1"),
            ):
                con.execute(
                    "INSERT INTO cost_anomalies VALUES (?, ?, ?, 'USD', 'spike', DATE '2026-11-15', DATE '2026-11-17',"
                    " 3, 1880.004, 1010, 870.004, DATE '2026-11-16', 400, ?, ?)",
                    [anomaly_id, series, value, path_json, covered],
                )
        return {"data_through": "2026-11-26"}

    snapshots.publish(home / "serving", build)


def test_the_forecast_gives_each_series_its_model_points_and_month_end(api: Api) -> None:
    _publish_forecast(api.home)
    body = api.client.get("/api/cloud/costs/forecast", params={"horizon": 3}, headers=api.headers(Role.VIEWER)).json()
    (total,) = body["series"]
    assert (total["key"], total["model"], total["mase"], total["mase_insample"]) == ({}, "MSTL", 0.71, 0.93)
    coverage = [total[k] for k in ("coverage_80", "coverage_95", "cv_coverage_80", "cv_coverage_95", "outlier_days")]
    assert coverage == [0.81, 0.95, 0.79, 0.94, 4]
    assert [p["date"] for p in total["points"]] == ["2026-11-27", "2026-11-28", "2026-11-29"]
    assert total["points"][0] == {"date": "2026-11-27", "mean": "12.00", "lo_80": "11.00", "hi_80": "13.00",
                                  "lo_95": "10.00", "hi_95": "14.00"}  # fmt: skip
    month = next(e for e in total["period_ends"] if e["period"] == "month")
    # 26 days of 10 actual, then 4 days of forecast: the running total's bounds, not 4 daily ones added
    assert (month["end"], month["actual_to_date"], month["mean"], month["lo_80"], month["lo_95"]) == (
        "2026-11-30", "260.00", "308.00", "306.00", "304.00",
    )  # fmt: skip
    quarter = next(e for e in total["period_ends"] if e["period"] == "quarter")
    assert (quarter["end"], quarter["mean"]) == ("2026-12-31", str(Decimal(260 + 35 * 12)) + ".00")


def test_a_snapshot_from_before_calibrated_intervals_still_answers_without_coverage_or_period_ends(
    api: Api,
) -> None:
    """A snapshot published by the previous release: cost_forecast_models without the coverage
    columns and no cost_forecast_cumulative. Its period ends would have to add up daily bounds,
    which is what made them unusable, so it shows none until the next publish."""

    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            con.execute(COST_DAILY_SQL)
            con.execute(
                "INSERT INTO cost_daily VALUES (DATE '2026-11-26', 'AWS', 'acct', NULL, 'Compute', 'Amazon EC2', "
                "'eu-west-2', 'Usage', 'USD', 10, 10, 10, 1, 'src', NULL)"
            )
            con.execute(
                "CREATE TABLE cost_forecast (series VARCHAR, value VARCHAR, currency VARCHAR, ds DATE, model VARCHAR, "
                "mean DOUBLE, lo_80 DOUBLE, hi_80 DOUBLE, lo_95 DOUBLE, hi_95 DOUBLE, lo_99 DOUBLE, hi_99 DOUBLE)"
            )
            con.execute(
                "INSERT INTO cost_forecast SELECT 'total', NULL, 'USD', d::DATE, 'MSTL', 12, 11, 13, 10, 14, 9, 15 "
                "FROM range(DATE '2026-11-27', DATE '2027-01-01', INTERVAL 1 DAY) t(d)"
            )
            con.execute(
                "CREATE TABLE cost_forecast_models (series VARCHAR, value VARCHAR, currency VARCHAR, model VARCHAR, "
                "mase DOUBLE, mape DOUBLE, seasonal_naive_mape DOUBLE, mase_insample DOUBLE, "
                "seasonal_naive_mase_insample DOUBLE, history_days BIGINT, yearly BOOLEAN, reason VARCHAR, "
                "last_actual DATE)"
            )
            con.execute(
                "INSERT INTO cost_forecast_models VALUES ('total', NULL, 'USD', 'MSTL', 0.71, 6.4, 9.1, 0.93, 1.3, "
                "730, true, 'lowest backtest MASE', DATE '2026-11-26')"
            )
        return {"data_through": "2026-11-26"}

    snapshots.publish(api.home / "serving", build)
    body = api.client.get("/api/cloud/costs/forecast", params={"horizon": 3}, headers=api.headers(Role.VIEWER))
    assert body.status_code == 200, body.text
    (total,) = body.json()["series"]
    answer = (total["mase"], total["coverage_80"], total["cv_coverage_95"], total["period_ends"])
    assert answer == (0.71, None, None, [])
    assert len(total["points"]) == 3


def test_a_forecast_for_an_unknown_currency_or_grouping_is_refused(api: Api) -> None:
    _publish_forecast(api.home)
    for params in ({"currency": "XYZ"}, {"group_by": "region"}, {"horizon": 400}):
        response = api.client.get("/api/cloud/costs/forecast", params=params, headers=api.headers(Role.VIEWER))
        assert response.status_code == 422, params
        assert response.headers["content-type"] == "application/problem+json"


def test_anomalies_are_listed_with_their_explanation_and_covered_ones_only_on_request(api: Api) -> None:
    _publish_forecast(api.home)
    body = api.client.get("/api/cloud/costs/anomalies", headers=api.headers(Role.VIEWER)).json()
    (anomaly,) = body["items"]
    assert (anomaly["id"], anomaly["scope"], anomaly["impact"], anomaly["days"]) == ("a1", {}, "870.00", 3)
    assert anomaly["explanation"] == [{"dimension": "ServiceName", "value": "Amazon EC2", "excess": 870.0,
                                       "share": 1.0, "name": None}]  # fmt: skip
    assert anomaly["resources"] == []  # a snapshot from before resources were listed
    assert anomaly["alert"] is None  # the alert sensor has not run
    everything = api.client.get(
        "/api/cloud/costs/anomalies", params={"include_covered": "true"}, headers=api.headers(Role.VIEWER)
    ).json()
    assert [(a["id"], a["covered_by"]) for a in everything["items"]] == [("a1", None), ("a2", "a1")]
    assert api.client.get("/api/cloud/costs/anomalies").status_code == 401


def test_a_resource_the_snapshot_cannot_name_is_named_by_the_state_store(api: Api) -> None:
    def resource(rid: str, name: str | None, excess: float) -> dict[str, Any]:
        return {"resource_id": rid, "name": name, "actual": excess, "expected": 0.0, "excess": excess,
                "share": round(excess / 870, 4)}  # fmt: skip

    gpu = {"dimension": "ResourceId", "value": "i-gpu-1", "excess": 600.0, "share": 0.6897}
    _publish_forecast(api.home, {
        "path": [{"dimension": "ServiceName", "value": "Amazon EC2", "excess": 870.0, "share": 1.0}],
        "others": [gpu], "resources": [resource("i-gpu-1", None, 600.0), resource("i-billed", "from-the-bill", 270.0)],
    })  # fmt: skip
    with Session(api.engine) as session, session.begin():
        provider = Provider(kind="sandbox", name="named", regions=[], tags={}, settings={})
        session.add(provider)
        session.flush()
        session.add(Resource(provider_id=provider.id, cloud_id="i-gpu-1", name="gpu-experiment-1",
                             resource_type="instance", subtype="p3.2xlarge", region="eu-west-2",
                             state="terminated"))  # fmt: skip
    (anomaly,) = api.client.get("/api/cloud/costs/anomalies", headers=api.headers(Role.VIEWER)).json()["items"]
    assert [(r["resource_id"], r["name"]) for r in anomaly["resources"]] == [
        ("i-gpu-1", "gpu-experiment-1"), ("i-billed", "from-the-bill"),
    ]  # fmt: skip
    assert anomaly["other_contributors"] == [{**gpu, "name": "gpu-experiment-1"}]
    assert sum(r["share"] for r in anomaly["resources"]) <= 1
    raise_from_snapshot(make_sessionmaker(api.engine), api.home / "serving")
    with Session(api.engine) as session:
        (alert,) = session.scalars(select(Alert)).all()
    assert alert.title.endswith("mostly Amazon EC2 (gpu-experiment-1, from-the-bill)")


def test_each_anomaly_no_broader_one_covers_raises_one_alert_once(api: Api) -> None:
    _publish_forecast(api.home)
    sessions = make_sessionmaker(api.engine)
    first = raise_from_snapshot(sessions, api.home / "serving")
    again = raise_from_snapshot(sessions, api.home / "serving")
    assert (first.raised, again.raised) == (["anomaly:a1"], [])
    (anomaly,) = api.client.get("/api/cloud/costs/anomalies", headers=api.headers(Role.VIEWER)).json()["items"]
    assert anomaly["alert"]["status"] == "no_targets"
    with Session(api.engine) as session:
        (alert,) = session.scalars(select(Alert)).all()
    assert alert.title == "Cost spike in total: 870.00 USD over 3 days from 2026-11-15, mostly Amazon EC2"


def test_the_overview_forecasts_the_month_end_once_forecasts_are_published(api: Api) -> None:
    _publish_forecast(api.home)
    body = api.client.get("/api/cloud/costs/overview", headers=api.headers(Role.VIEWER)).json()
    assert body["forecast_month_end"] == [{
        "currency": "USD", "period": "month", "end": "2026-11-30", "actual_to_date": "260.00", "mean": "308.00",
        "lo_80": "306.00", "hi_80": "310.00", "lo_95": "304.00", "hi_95": "312.00",
    }]  # fmt: skip
    earlier = api.client.get(
        "/api/cloud/costs/overview", params={"as_of": "2026-11-20"}, headers=api.headers(Role.VIEWER)
    ).json()
    assert earlier["forecast_month_end"] == []  # the forecast starts after the latest day, not on the 20th
