"""Budgets over the API, on SQLite and PostgreSQL: create, read with status, change, delete,
alerts; validation of each field; roles; pagination and the status filter."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from analytics.warehouse import COST_DAILY_SQL, COST_DETAIL_DAILY_SQL
from control_api.app import API_PREFIX
from control_plane.security import Role
from control_plane.store.models import Alert, Budget, Delivery
from tests.control_api.conftest import Api
from wedcloud import snapshots

URL = f"{API_PREFIX}/costs/budgets"
Cost = tuple[str, str, str, str, str]  # day, provider, service, currency, amount
Forecast = tuple[str, str | None, str, str, float]  # series, value, currency, ds, mean

FORECAST_SQL = """CREATE TABLE IF NOT EXISTS cost_forecast (series VARCHAR, value VARCHAR, currency VARCHAR,
    ds DATE, model VARCHAR, mean DOUBLE, lo_80 DOUBLE, hi_80 DOUBLE, lo_95 DOUBLE, hi_95 DOUBLE,
    lo_99 DOUBLE, hi_99 DOUBLE)"""


def november(first_days: int, provider: str = "AWS", service: str = "EC2", currency: str = "USD",
             amount: str = "50") -> list[Cost]:  # fmt: skip
    """``amount`` a day on the first ``first_days`` days of November 2026."""
    return [(f"2026-11-{d:02d}", provider, service, currency, amount) for d in range(1, first_days + 1)]


def daily_forecast(
    series: str, value: str | None, mean: float, first: int = 11, currency: str = "USD"
) -> list[Forecast]:
    return [(series, value, currency, f"2026-11-{d:02d}", mean) for d in range(first, 31)]


ANOMALIES_SQL = """CREATE TABLE cost_anomalies (anomaly_id VARCHAR, series VARCHAR, value VARCHAR, currency VARCHAR,
    direction VARCHAR, start DATE, "end" DATE, days BIGINT, actual DOUBLE, expected DOUBLE, impact DOUBLE,
    peak_day DATE, peak_impact DOUBLE, explanation JSON, covered_by VARCHAR)"""


def publish_costs(home: Path, costs: Iterable[Cost], forecast: Iterable[Forecast] | None = None,
                  anomalies: Iterable[tuple[str, str]] = ()) -> None:  # fmt: skip
    """A serving snapshot with both cost tables, unless None a ``cost_forecast`` table, and a
    USD spike of the total from each (first day, last day) of ``anomalies``."""

    def build(path: Path) -> dict[str, Any]:
        with duckdb.connect(str(path)) as con:
            con.execute(COST_DAILY_SQL)  # not ensure_schema: older snapshots have no cost_forecast
            con.execute(COST_DETAIL_DAILY_SQL)
            for day, provider, service, currency, amount in costs:
                con.execute(
                    "INSERT INTO cost_detail_daily VALUES (?, ?, 'acct', 'sub', 'Compute', ?, 'eu-west-2', 'i-1', "
                    "'VM', 'Usage', 'Standard', ?, '{\"team\":\"bookings\"}', ?, ?, ?, 1, 'src', NULL)",
                    [date.fromisoformat(day), provider, service, currency, *[Decimal(amount)] * 3],
                )
            con.execute(
                "INSERT INTO cost_daily SELECT ChargeDate, ProviderName, BillingAccountId, SubAccountId, "
                "ServiceCategory, ServiceName, RegionId, ChargeCategory, BillingCurrency, sum(BilledCost), "
                "sum(EffectiveCost), sum(ListCost), sum(LineItems), x_SourceId, x_BillingMonth "
                "FROM cost_detail_daily GROUP BY ALL"
            )
            if forecast is not None:
                con.execute(FORECAST_SQL)
                for series, value, currency, ds, mean in forecast:
                    con.execute(
                        "INSERT INTO cost_forecast VALUES (?, ?, ?, ?, 'AutoETS', ?, 0, 0, 0, 0, 0, 0)",
                        [series, value, currency, date.fromisoformat(ds), mean],
                    )
            con.execute(ANOMALIES_SQL)
            for n, (first, last) in enumerate(anomalies):
                con.execute(
                    "INSERT INTO cost_anomalies VALUES (?, 'total', NULL, 'USD', 'spike', ?, ?, 1, 0, 0, 0, ?, 0, "
                    '\'{"path": [], "others": []}\', NULL)',
                    [f"a{n}", date.fromisoformat(first), date.fromisoformat(last), date.fromisoformat(first)],
                )
        return {}

    snapshots.publish(home / "serving", build)


@pytest.fixture
def api_with_budgets(api: Api) -> Api:
    """The test API (app.py includes the budgets router)."""
    return api


def body(**changes: Any) -> dict[str, Any]:
    webhook = {"type": "webhook", "url": "https://hooks.example.com/finops"}
    return {"name": "AWS monthly", "scope": {"provider": ["AWS"]}, "amount": "1000", "currency": "USD",
            "period": "month", "targets": [webhook]} | changes  # fmt: skip


def create(api: Api, **changes: Any) -> dict[str, Any]:
    response = api.client.post(URL, json=body(**changes), headers=api.headers(Role.OPERATOR))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_an_operator_creates_a_budget_and_reads_its_status_at_run_rate(api_with_budgets: Api) -> None:
    api = api_with_budgets
    publish_costs(api.home, november(10) + november(10, provider="Azure", currency="EUR", amount="999"))
    created = create(api)
    assert created["amount"] == "1000.00"
    assert created["thresholds"] == {"actual": [50, 80, 100], "forecast": [100]}
    status = created["status"]
    period = (status["period_start"], status["period_end"], status["data_through"])
    assert period == ("2026-11-01", "2026-11-30", "2026-11-10")
    assert (status["spent"], status["percent_used"]) == ("500.00", "50.00")  # EUR spend never adds
    assert (status["forecast"], status["forecast_method"], status["state"]) == ("1500.00", "run_rate", "at_risk")
    crosses = {(t["kind"], t["percent"]): (t["crossed"], t["crosses_on"]) for t in status["thresholds"]}
    assert crosses == {
        ("actual", 50): (True, "2026-11-10"), ("actual", 80): (False, "2026-11-16"),
        ("actual", 100): (False, "2026-11-20"), ("forecast", 100): (True, "2026-11-20"),
    }  # fmt: skip
    fetched = api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json()
    assert created["webhook_secret"].startswith("whsec_")  # its webhook's signing secret, shown once
    assert fetched == {**created, "webhook_secret": None}
    assert api.audit()[-1].action is not None
    assert api.audit()[-1].target == f"budget:{created['id']}"


def test_a_scope_with_its_own_forecast_uses_it(api_with_budgets: Api) -> None:
    api = api_with_budgets
    forecast = daily_forecast("provider", "AWS", 10.0) + daily_forecast("total", None, 99.0)
    publish_costs(api.home, november(10), forecast)
    status = create(api)["status"]
    assert (status["forecast"], status["forecast_method"], status["state"]) == ("700.00", "cost_forecast", "ok")


def test_a_narrower_scope_takes_its_share_of_the_total_forecast(api_with_budgets: Api) -> None:
    api = api_with_budgets
    costs = november(10) + november(10, service="S3", amount="150")  # EC2 is a quarter of the total
    publish_costs(api.home, costs, daily_forecast("total", None, 40.0))
    status = create(api, scope={"provider": ["AWS"], "service": ["EC2"]})["status"]
    assert (status["spent"], status["forecast"], status["forecast_method"]) == (
        "500.00",
        "700.00",
        "cost_forecast_share",
    )


def test_a_narrower_scope_leaves_the_days_of_an_ended_spike_out_of_its_share(api_with_budgets: Api) -> None:
    api = api_with_budgets
    spike = [(f"2026-11-{d:02d}", "AWS", "EC2", "USD", "400") for d in range(10, 14)]  # four days of GPUs, over
    costs = november(26) + november(26, service="S3", amount="150") + spike  # EC2 is usually a quarter
    publish_costs(
        api.home, costs, daily_forecast("total", None, 200.0, first=27), anomalies=[("2026-11-10", "2026-11-13")]
    )
    status = create(api, scope={"provider": ["AWS"], "service": ["EC2"]})["status"]
    assert status["forecast_method"] == "cost_forecast_share"
    assert status["forecast_left_out"] == [f"2026-11-{d}" for d in range(10, 14)]
    assert (status["spent"], status["forecast"]) == ("2900.00", "3100.00")  # + 4 days x 200 x 1/4, not x 0.43


def test_a_spike_still_going_on_the_last_day_stays_in_the_share(api_with_budgets: Api) -> None:
    api = api_with_budgets
    step = [(f"2026-11-{d:02d}", "AWS", "EC2", "USD", "200") for d in range(23, 27)]  # up since the 23rd, and on
    costs = november(26) + november(26, service="S3", amount="150") + step
    publish_costs(
        api.home, costs, daily_forecast("total", None, 400.0, first=27), anomalies=[("2026-11-23", "2026-11-26")]
    )
    status = create(api, scope={"provider": ["AWS"], "service": ["EC2"]})["status"]
    assert status["forecast_left_out"] == []
    spent = Decimal(status["spent"])
    assert spent == 26 * 50 + 4 * 200
    assert Decimal(status["forecast"]) - spent > 4 * 400 * Decimal("0.25")  # more than its share before the step


def test_a_tag_scope_counts_what_the_tag_breakdown_counts(api_with_budgets: Api) -> None:
    api = api_with_budgets
    publish_costs(api.home, november(4))
    status = create(api, scope={"tag:team": ["bookings"]})["status"]
    other = create(api, name="Other team", scope={"tag:team": ["search"]})["status"]
    assert (status["spent"], other["spent"]) == ("200.00", "0.00")


def test_without_a_snapshot_a_budget_has_no_status(api_with_budgets: Api) -> None:
    assert create(api_with_budgets)["status"] is None


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 200}, "name"),
        ({"scope": {"colour": ["red"]}}, "scope"),
        ({"scope": {"provider": []}}, "scope.provider"),
        ({"scope": {"provider": "AWS"}}, "scope.provider"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": 12.5}, "amount"),
        ({"amount": "1.1234567"}, "amount"),
        ({"currency": "usd"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"period": "week"}, "period"),
        ({"thresholds": {"actual": [0]}}, "thresholds.actual.0"),
        ({"thresholds": {"forecast": ["most"]}}, "thresholds.forecast.0"),
        ({"thresholds": {"spent": [50]}}, "thresholds.spent"),
        ({"targets": [{"type": "webhook", "url": "ftp://hooks.example.com/x"}]}, "targets.0.webhook.url"),
        ({"targets": [{"type": "webhook", "url": "not a url"}]}, "targets.0.webhook.url"),
        ({"targets": [{"type": "email", "address": "nobody"}]}, "targets.0.email.address"),
        ({"targets": [{"type": "pager", "number": "1"}]}, "targets.0.type"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_each_bad_field_is_named_in_a_problem_and_nothing_is_written(
    api_with_budgets: Api, changes: dict[str, Any], field: str
) -> None:
    api = api_with_budgets
    response = api.client.post(URL, json=body(**changes), headers=api.headers(Role.OPERATOR))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in [error["field"] for error in problem["errors"]], problem["errors"]
    assert field.split(".")[0] in problem["detail"]
    with Session(api.engine) as session:
        assert session.scalar(select(func.count()).select_from(Budget)) == 0


def test_missing_fields_are_each_named(api_with_budgets: Api) -> None:
    api = api_with_budgets
    response = api.client.post(URL, json={"scope": {}}, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"name", "amount", "currency"}


def test_a_taken_name_is_a_409_on_create_and_on_update(api_with_budgets: Api) -> None:
    api = api_with_budgets
    create(api)
    second = create(api, name="Second")
    taken = api.client.post(URL, json=body(), headers=api.headers(Role.OPERATOR))
    assert taken.status_code == 409
    assert "already exists" in taken.json()["detail"]
    renamed = api.client.put(f"{URL}/{second['id']}", json={"name": "AWS monthly"}, headers=api.headers(Role.OPERATOR))
    assert renamed.status_code == 409


def test_viewers_read_and_only_operators_change(api_with_budgets: Api) -> None:
    api = api_with_budgets
    assert api.client.post(URL, json=body(), headers=api.headers(Role.VIEWER)).status_code == 403
    assert api.client.post(URL, json=body()).status_code == 401
    created = create(api)
    item = f"{URL}/{created['id']}"
    assert api.client.get(URL, headers=api.headers(Role.VIEWER)).status_code == 200
    assert api.client.get(f"{item}/alerts", headers=api.headers(Role.VIEWER)).status_code == 200
    assert api.client.put(item, json={"amount": "5"}, headers=api.headers(Role.VIEWER)).status_code == 403
    assert api.client.delete(item, headers=api.headers(Role.VIEWER)).status_code == 403
    assert api.client.get(URL).status_code == 401
    assert api.client.delete(item, headers=api.headers(Role.ADMIN)).status_code == 204


def test_an_update_changes_only_what_it_names(api_with_budgets: Api) -> None:
    api = api_with_budgets
    publish_costs(api.home, november(10))
    created = create(api, notes="first")
    changes = {"amount": "400.125", "thresholds": {"actual": [100, 90, 90]}, "notes": None}
    response = api.client.put(f"{URL}/{created['id']}", json=changes, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 200, response.text
    updated = response.json()
    assert (updated["amount"], updated["notes"], updated["scope"]) == ("400.125", None, {"provider": ["AWS"]})
    assert updated["thresholds"] == {"actual": [90, 100], "forecast": [100]}
    assert updated["targets"] == created["targets"]
    assert updated["status"]["state"] == "exceeded"
    forecast_only = {"thresholds": {"forecast": [90]}}
    response = api.client.put(f"{URL}/{created['id']}", json=forecast_only, headers=api.headers(Role.OPERATOR))
    assert response.json()["thresholds"] == {"actual": [90, 100], "forecast": [90]}
    bad = api.client.put(f"{URL}/{created['id']}", json={"currency": "usd"}, headers=api.headers(Role.OPERATOR))
    assert bad.status_code == 422
    assert api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json()["currency"] == "USD"


def test_a_deleted_budget_is_gone_and_its_alerts_stay(api_with_budgets: Api) -> None:
    api = api_with_budgets
    created = create(api)
    budget_id = uuid.UUID(created["id"])
    with Session(api.engine) as session, session.begin():
        session.add(Alert(kind="budget", key=f"budget:{budget_id}:x", budget_id=budget_id, title="t", severity="info"))
    assert api.client.delete(f"{URL}/{budget_id}", headers=api.headers(Role.OPERATOR)).status_code == 204
    assert api.client.get(f"{URL}/{budget_id}", headers=api.headers(Role.VIEWER)).status_code == 404
    assert api.client.delete(f"{URL}/{budget_id}", headers=api.headers(Role.OPERATOR)).status_code == 404
    with Session(api.engine) as session:
        assert session.scalars(select(Alert.budget_id)).all() == [None]


def test_budgets_are_listed_a_page_at_a_time_and_filtered_by_state(api_with_budgets: Api) -> None:
    api = api_with_budgets
    publish_costs(api.home, november(10))  # 500 spent, 1500 at run rate
    amounts = {"A": "400", "B": "1000", "C": "2000", "D": "450", "E": "3000"}
    for name, amount in amounts.items():
        create(api, name=name, amount=amount)
    names, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(URL, params=params, headers=api.headers(Role.VIEWER)).json()
        names.append([item["name"] for item in page["items"]])
        if not (cursor := page["next_cursor"]):
            break
    assert names == [["A", "B"], ["C", "D"], ["E"]]

    def states(state: str, limit: int = 1) -> list[str]:
        found, cursor = [], None
        while True:
            params: dict[str, Any] = {"status": state, "limit": limit, **({"cursor": cursor} if cursor else {})}
            page = api.client.get(URL, params=params, headers=api.headers(Role.VIEWER)).json()
            found += [item["name"] for item in page["items"]]
            if not (cursor := page["next_cursor"]):
                return found

    assert states("exceeded") == ["A", "D"]
    assert states("at_risk") == ["B"]
    assert states("ok", limit=5) == ["C", "E"]
    assert states("unknown") == []
    bad = api.client.get(URL, params={"status": "fine"}, headers=api.headers(Role.VIEWER))
    assert bad.status_code == 422
    bad_cursor = api.client.get(URL, params={"cursor": "nope"}, headers=api.headers(Role.VIEWER))
    assert bad_cursor.status_code == 422


def test_a_budget_stored_before_the_api_is_shown_in_its_shape(api_with_budgets: Api) -> None:
    """The sandbox's planted budget has single values and sub_account_id (see services.sandbox)."""
    api = api_with_budgets
    publish_costs(api.home, november(3))
    with Session(api.engine) as session, session.begin():
        session.add(Budget(name="AWS development monthly", scope={"provider": "AWS", "sub_account_id": "sub"},
                           amount=Decimal(100), currency="USD", period="month",
                           thresholds={"actual": [50, 80, 100], "forecast": [100]}))  # fmt: skip
    (item,) = api.client.get(URL, headers=api.headers(Role.VIEWER)).json()["items"]
    assert item["scope"] == {"provider": ["AWS"], "sub_account": ["sub"]}
    assert item["targets"] == []
    assert (item["status"]["spent"], item["status"]["state"]) == ("150.00", "exceeded")


def test_a_budgets_alerts_list_their_delivery_attempts(api_with_budgets: Api) -> None:
    api = api_with_budgets
    budget_id = uuid.UUID(create(api)["id"])
    start = datetime(2026, 11, 27, 3, tzinfo=UTC)
    with Session(api.engine) as session, session.begin():
        for i, percent in enumerate((50, 80, 100)):
            alert = Alert(kind="budget", key=f"budget:{budget_id}:2026-11-01:actual:{percent}", budget_id=budget_id,
                          title=f"{percent}%", severity="info", status="delivered",
                          created_at=start + timedelta(minutes=i))  # fmt: skip
            session.add(alert)
            session.flush()
            session.add(Delivery(alert_id=alert.id, channel="webhook", target="https://h", attempt=1,
                                 status_code=503, error="HTTP 503", delivered=False, attempted_at=start,
                                 next_attempt_at=start + timedelta(seconds=1)))  # fmt: skip
            session.add(Delivery(alert_id=alert.id, channel="webhook", target="https://h", attempt=2,
                                 status_code=200, delivered=True,
                                 attempted_at=start + timedelta(seconds=1)))  # fmt: skip
    first = api.client.get(f"{URL}/{budget_id}/alerts", params={"limit": 2}, headers=api.headers(Role.VIEWER)).json()
    assert [a["title"] for a in first["items"]] == ["100%", "80%"]  # newest first
    assert [(d["attempt"], d["delivered"], d["status_code"]) for d in first["items"][0]["deliveries"]] == [
        (1, False, 503), (2, True, 200),
    ]  # fmt: skip
    params = {"limit": 2, "cursor": first["next_cursor"]}
    rest = api.client.get(f"{URL}/{budget_id}/alerts", params=params, headers=api.headers(Role.VIEWER)).json()
    assert ([a["title"] for a in rest["items"]], rest["next_cursor"]) == (["50%"], None)
    missing = api.client.get(f"{URL}/{uuid.uuid4()}/alerts", headers=api.headers(Role.VIEWER))
    assert missing.status_code == 404


def test_each_budget_endpoint_is_documented_with_examples(api_with_budgets: Api) -> None:
    document = api_with_budgets.client.get("/api/openapi.json").json()
    operations = {op["operationId"]: op for path in document["paths"].values() for op in path.values()
                  if isinstance(op, dict) and "operationId" in op}  # fmt: skip
    expected = ("create_budget", "list_budgets", "get_budget", "update_budget", "delete_budget", "list_budget_alerts")
    schemas = document["components"]["schemas"]
    for operation_id in expected:
        operation = operations[operation_id]
        assert operation["tags"] == ["budgets"]
        assert "422" in operation["responses"]
        assert operation.get("security")
        if "requestBody" in operation:
            name = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            assert schemas[name].get("examples"), operation_id
    for name in ("BudgetOut", "StatusOut", "AlertOut", "BudgetCreate", "BudgetUpdate"):
        assert schemas[name].get("examples"), name
