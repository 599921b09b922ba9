"""GET /monitoring/health (the rollup and ?detail=resources) and GET /monitoring/prometheus, on
SQLite and PostgreSQL, over a world written through the store's own functions: providers, the
collector's status rows, resources with desired states, samples and firing alerts."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from clouds.sandbox.world import build_world, save_world
from control_plane.monitoring.samples import write_samples
from control_plane.security import Role
from control_plane.store.models import Resource
from control_plane.store.monitoring_models import AlertRule, MonitorAlert, MonitorStatus
from tests.control_api.conftest import Api
from wedcloud.sqltypes import utcnow

URL = "/api/cloud/monitoring/health"
PROM = "/api/cloud/monitoring/prometheus"


def _provider(api: Api, flavour: str) -> str:
    body = {"kind": "sandbox", "name": f"sandbox-{flavour}", "flavour": flavour}
    response = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _world(api: Api) -> dict[str, Any]:
    """Two providers (aws failing at the collector, gcp fine), five resources: web-1 hot with a
    firing critical alert, web-2 fresh, web-3 with a stale sample, db-1 stopped but asked to run
    (drifted), old-1 terminated; the collector ran a cycle just now."""
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    aws, gcp = uuid.UUID(_provider(api, "aws")), uuid.UUID(_provider(api, "gcp"))
    now = utcnow()
    ids = {name: uuid.uuid4() for name in ("web-1", "web-2", "web-3", "db-1", "old-1")}
    shape = {"web-1": ("running", "running"), "web-2": ("running", "running"), "web-3": ("running", None),
             "db-1": ("stopped", "running"), "old-1": ("terminated", "terminated")}  # fmt: skip
    with Session(api.engine) as session, session.begin():
        for name, (state, desired) in shape.items():
            session.add(Resource(
                id=ids[name], provider_id=gcp if name == "web-2" else aws, cloud_id=f"i-{name}", name=name,
                resource_type="compute", subtype="instance", region="eu-west-2", size="m5.large", state=state,
                desired_state=desired,
            ))  # fmt: skip
        session.flush()
        write_samples(session, [
            {"resource_id": ids["web-1"], "provider_id": aws, "at": now - timedelta(seconds=20), "cpu": 97.5,
             "memory": 40.0},
            {"resource_id": ids["web-2"], "provider_id": gcp, "at": now - timedelta(seconds=10), "cpu": 12.25},
            {"resource_id": ids["web-3"], "provider_id": aws, "at": now - timedelta(minutes=30), "cpu": 50.0},
        ])  # fmt: skip
        rule = AlertRule(name="cpu-hot", kind="threshold", spec={}, severity="critical")
        session.add(rule)
        session.flush()
        session.add(MonitorAlert(
            rule_id=rule.id, fingerprint="f1", open_key="f1", state="firing", severity="critical",
            resource_id=ids["web-1"], provider_id=aws, fired_at=now,
        ))  # fmt: skip
        recent = [
            {"at": now.isoformat(), "ok": ok, "seconds": 0.1, "error": None if ok else "503"}
            for ok in (True, False, False)
        ]
        session.add(MonitorStatus(
            name=f"provider:{aws}", provider_id=aws, ok=False, last_attempt_at=now,
            last_success_at=now - timedelta(hours=1), last_error="ThrottlingException", recent=recent,
        ))  # fmt: skip
        session.add(MonitorStatus(
            name=f"provider:{gcp}", provider_id=gcp, ok=True, last_attempt_at=now, last_success_at=now,
            recent=[{"at": now.isoformat(), "ok": True, "seconds": 0.1, "error": None}],
        ))  # fmt: skip
        session.add(MonitorStatus(name="collector", ok=True, last_attempt_at=now, last_success_at=now,
                                  detail={"seconds": 1.5, "resources": 4}))  # fmt: skip
    return {"aws": str(aws), "gcp": str(gcp), "ids": {k: str(v) for k, v in ids.items()}, "now": now}


def _get(api: Api, url: str, **params: Any) -> Any:
    return api.client.get(url, params=params, headers=api.headers(Role.VIEWER))


def test_health_rolls_up_providers_resources_and_pipelines_from_the_store(api: Api) -> None:
    _world(api)
    body = _get(api, URL).json()
    assert body["status"] == "degraded"
    providers = {p["name"]: p for p in body["providers"]}
    assert providers["sandbox-aws"]["status"] == "down"  # failing now, no success for an hour
    assert providers["sandbox-aws"]["error_rate"] == 0.667
    assert providers["sandbox-aws"]["last_error"] == "ThrottlingException"
    assert providers["sandbox-gcp"]["status"] == "ok"
    assert providers["sandbox-gcp"]["source"] == "collector"
    resources = body["resources"]
    assert resources["total"] == 4  # the terminated one is left out
    assert resources["by_state"] == {"running": 3, "stopped": 1}
    assert (resources["drifted"], resources["metrics_stale"]) == (1, 1)  # db-1; web-3's sample is 30 min old
    assert resources["firing_alerts"] == {"critical": 1}
    assert resources["resources_with_firing_alerts"] == 1
    assert body["pipelines"]["collector"]["status"] == "ok"
    assert body["pipelines"]["collector"]["cycle"]["seconds"] == 1.5
    assert body["pipelines"]["metrics"]["status"] == "ok"
    assert body["pipelines"]["metrics"]["age_seconds"] < 60
    stream = body["components"]["stream"]  # the API's own hub, as app.state.stream reports it
    assert (stream["status"], stream["clients"]) == ("ok", 0)
    assert "items" not in body


def test_every_provider_down_is_down_and_a_quiet_fleet_is_ok(api: Api) -> None:
    world = _world(api)
    with Session(api.engine) as session, session.begin():
        gcp = session.get(MonitorStatus, f"provider:{world['gcp']}")
        assert gcp is not None
        gcp.ok, gcp.last_success_at = False, None
    assert _get(api, URL).json()["status"] == "down"
    with Session(api.engine) as session, session.begin():
        for row in session.query(MonitorStatus).filter(MonitorStatus.name.like("provider:%")):
            row.ok, row.last_success_at, row.recent = True, world["now"], []
        session.query(MonitorAlert).delete()
        session.query(Resource).filter(Resource.name.in_(["web-3", "db-1"])).delete()
    _publish_recent(api)
    body = _get(api, URL).json()
    assert body["resources"]["status"] == "ok", body["resources"]
    assert body["status"] == "ok", body


def _publish_recent(api: Api) -> None:
    from tests.control_api.test_costs_and_health import _publish

    _publish(api.home, [((utcnow().date() - timedelta(days=1)).isoformat(), "USD", "1")])


def test_detail_resources_pages_through_each_resources_health(api: Api) -> None:
    world = _world(api)
    first = _get(api, URL, detail="resources", limit=2).json()
    assert [i["name"] for i in first["items"]] == ["db-1", "web-1"]
    second = _get(api, URL, detail="resources", limit=2, cursor=first["next_cursor"]).json()
    assert [i["name"] for i in second["items"]] == ["web-2", "web-3"]
    assert "next_cursor" not in second
    items = {i["name"]: i for i in first["items"] + second["items"]}
    assert items["db-1"]["problems"] == ["stopped, asked to be running"]
    assert items["web-1"]["firing_alerts"] == {"critical": 1}
    assert items["web-1"]["id"] == world["ids"]["web-1"]
    assert 0 < items["web-1"]["last_sample_age_seconds"] < 60
    assert items["web-2"]["status"] == "ok"
    assert items["web-3"]["problems"] == ["its last sample is stale"]


def test_bad_detail_limit_or_cursor_is_a_422_naming_the_field(api: Api) -> None:
    for params, field in (({"detail": "everything"}, "detail"), ({"detail": "resources", "limit": 0}, "limit"),
                          ({"detail": "resources", "cursor": "not-a-cursor"}, "cursor")):  # fmt: skip
        response = _get(api, URL, **params)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in response.json()["errors"]] == [field]


def test_the_prometheus_exposition_parses_and_matches_the_store(api: Api) -> None:
    world = _world(api)
    response = _get(api, PROM)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    samples = {(s.labels["resource"], s.labels["metric"]): s for s in families["wedcloud_resource_metric"].samples}
    assert samples[("web-1", "cpu")].value == 97.5
    assert samples[("web-1", "memory")].value == 40.0
    assert samples[("web-2", "cpu")].value == 12.25
    assert samples[("web-1", "cpu")].labels == {
        "resource": "web-1", "resource_id": world["ids"]["web-1"], "provider": "sandbox-aws",
        "region": "eu-west-2", "metric": "cpu",
    }  # fmt: skip
    assert ("web-3", "cpu") not in samples  # its newest sample is older than the freshness window
    firing = {s.labels["severity"]: s.value for s in families["wedcloud_alerts_firing"].samples}
    assert firing == {"critical": 1.0}
    up = {s.labels["provider"]: s.value for s in families["wedcloud_provider_up"].samples}
    assert up == {"sandbox-aws": 0.0, "sandbox-gcp": 1.0}
    counts = {(s.labels["provider"], s.labels["state"]): s.value for s in families["wedcloud_resources"].samples}
    assert counts == {("sandbox-aws", "running"): 2.0, ("sandbox-aws", "stopped"): 1.0, ("sandbox-gcp", "running"): 1.0}
    cycle = families["wedcloud_collector_last_cycle_timestamp_seconds"].samples[0].value
    assert abs(cycle - world["now"].timestamp()) < 1
    assert families["wedcloud_collector_last_cycle_duration_seconds"].samples[0].value == 1.5


def test_a_viewer_reads_both_and_no_key_reads_neither(api: Api) -> None:
    assert _get(api, URL).status_code == 200
    assert _get(api, PROM).status_code == 200
    assert api.client.get(URL).status_code == 401
    bearer = {"Authorization": f"Bearer {api.keys[Role.VIEWER]}"}
    assert api.client.get(PROM, headers=bearer).status_code == 200  # as Prometheus sends it
    assert api.client.get(PROM).status_code == 401
