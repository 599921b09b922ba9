"""/api/cloud/costs/reports on both stores: list, read as HTML, CSV or JSON, generate on demand."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from analytics.optimisation.model import Recommendation
from control_plane.security import Role
from control_plane.services.optimisation import store_recommendations
from tests.analytics.test_report_data import build_snapshot
from tests.control_api.conftest import Api
from wedcloud import snapshots

URL = "/api/cloud/costs/reports"
WEEK = {"period": "weekly", "start": "2026-11-16"}


def _publish(home: Path) -> None:
    def build(path: Path) -> dict[str, Any]:
        build_snapshot(path)
        return {}

    snapshots.publish(home / "serving", build)


def _create(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = api.client.post(URL, json=body, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 201, response.text
    meta: dict[str, Any] = response.json()
    assert response.headers["location"] == f"{URL}/{meta['id']}"
    return meta


def test_a_report_generated_on_demand_is_listed_and_read_as_html_csv_and_json(api: Api) -> None:
    _publish(api.home)
    meta = _create(api, WEEK)
    assert (meta["kind"], meta["start"], meta["end"]) == ("on_demand", "2026-11-16", "2026-11-22")
    viewer = api.headers(Role.VIEWER)
    listed = api.client.get(URL, headers=viewer).json()
    assert [item["id"] for item in listed["items"]] == [meta["id"]]
    page = api.client.get(f"{URL}/{meta['id']}", headers=viewer)
    assert page.headers["content-type"].startswith("text/html")
    assert "<!DOCTYPE html>" in page.text
    assert "2026-11-16" in page.text
    csv = api.client.get(
        f"{URL}/{meta['id']}", params={"format": "csv", "table": "usd_spend_by_service"}, headers=viewer
    )
    assert csv.headers["content-type"].startswith("text/csv")
    assert "AWS,EC2,USD,10.11,5.00,5.11,+102.2%" in csv.text
    as_json = api.client.get(f"{URL}/{meta['id']}", params={"format": "json"}, headers=viewer).json()
    assert as_json == meta
    assert any(e.target == f"report:{meta['id']}" and e.status_code == 201 for e in api.audit())


def test_the_list_is_newest_first_paged_and_filtered_by_kind(api: Api) -> None:
    _publish(api.home)
    made = [_create(api, body)["id"] for body in (WEEK, {"start": "2026-11-01", "end": "2026-11-10"}, WEEK)]
    viewer = api.headers(Role.VIEWER)
    first = api.client.get(URL, params={"limit": 2}, headers=viewer).json()
    second = api.client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=viewer).json()
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(made, reverse=True)
    assert len(set(ids)) == 3
    assert second["next_cursor"] is None
    assert api.client.get(URL, params={"kind": "weekly"}, headers=viewer).json()["items"] == []
    assert len(api.client.get(URL, params={"kind": "on_demand"}, headers=viewer).json()["items"]) == 3


def test_post_defaults_to_the_last_complete_period(api: Api) -> None:
    _publish(api.home)
    meta = _create(api, {"period": "monthly"})
    assert meta["start"].endswith("-01")


def test_without_a_snapshot_post_is_a_503_problem(api: Api) -> None:
    response = api.client.post(URL, json=WEEK, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "body",
    [
        {"start": "2026-11-10", "end": "2026-11-01"},  # inverted
        {"start": "2026-01-01", "end": "2026-06-30"},  # over 93 days
        {"start": "2026-11-01"},  # no end, no period
        {"period": "daily"},
        {"period": "weekly", "end": "2026-11-30"},
    ],
)
def test_bad_bodies_are_422_problems(api: Api, body: dict[str, Any]) -> None:
    _publish(api.home)
    response = api.client.post(URL, json=body, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_roles_a_viewer_reads_but_cannot_generate(api: Api) -> None:
    _publish(api.home)
    assert api.client.post(URL, json=WEEK, headers=api.headers(Role.VIEWER)).status_code == 403
    assert api.client.get(URL).status_code == 401


def test_unknown_ids_tables_and_path_tricks_are_refused(api: Api, tmp_path: Path) -> None:
    _publish(api.home)
    meta = _create(api, WEEK)
    (api.home / "secret.txt").write_text("do not serve")
    viewer = api.headers(Role.VIEWER)
    assert api.client.get(f"{URL}/20990101T000000Z-weekly-2099-01-01", headers=viewer).status_code == 404
    for trick in ("..%2Fsecret.txt", "%2E%2E", "..", "meta.json", f"{meta['id']}%2F..%2F..%2Fsecret.txt"):
        response = api.client.get(f"{URL}/{trick}", headers=viewer)
        assert response.status_code in (404, 422), trick
        assert "do not serve" not in response.text
    for table in ("../../secret.txt", "..%2Fmeta", "meta.json"):
        response = api.client.get(f"{URL}/{meta['id']}", params={"format": "csv", "table": table}, headers=viewer)
        assert response.status_code in (404, 422), table
    missing = api.client.get(f"{URL}/{meta['id']}", params={"format": "csv", "table": "nope"}, headers=viewer)
    assert missing.status_code == 404
    assert api.client.get(f"{URL}/{meta['id']}", params={"format": "csv"}, headers=viewer).status_code == 422
    assert api.client.get(f"{URL}/{meta['id']}", params={"format": "xml"}, headers=viewer).status_code == 422


def test_every_endpoint_is_documented_with_examples(api: Api) -> None:
    spec = api.client.get("/api/openapi.json").json()
    paths = spec["paths"]
    assert set(paths[URL]) == {"get", "post"}
    assert "503" in paths[URL]["post"]["responses"]
    assert "422" in paths[URL]["post"]["responses"]
    assert {"text/html", "text/csv", "application/json"} <= set(
        paths[URL + "/{report_id}"]["get"]["responses"]["200"]["content"]
    )
    assert spec["components"]["schemas"]["ReportOut"]["examples"]


def test_a_report_lists_the_biggest_open_recommendations(api: Api) -> None:
    def rec(resource_id: str, saving: str) -> Recommendation:
        return Recommendation.build(
            kind="idle", provider="sandbox-aws", account_id="1", resource_id=resource_id, region="eu-west-2",
            action="stop", target=None, monthly_saving=Decimal(saving), currency="USD", evidence={}, risk="medium",
            risk_reason="", confidence=1, confidence_reason="",
        )  # fmt: skip

    with Session(api.engine) as session:
        store_recommendations(session, [rec("i-small", "9.50"), rec("i-big", "81.29")], providers=["sandbox-aws"],
                              seen_at=datetime(2026, 11, 27, tzinfo=UTC))  # fmt: skip
        session.commit()
    _publish(api.home)
    meta = _create(api, WEEK)
    csv = api.client.get(
        f"{URL}/{meta['id']}", params={"format": "csv", "table": "recommendations"}, headers=api.headers(Role.VIEWER)
    ).text
    lines = csv.strip().splitlines()
    # the provider key "sandbox-aws" names no registered provider: no key is shown instead of a name
    assert lines[1] == '"Stop i-big, which is idle",USD,81.29,idle; risk medium'
    assert lines[2].startswith('"Stop i-small, which is idle",USD,9.50')
