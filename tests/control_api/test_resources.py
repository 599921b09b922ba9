"""The resource endpoints on SQLite and PostgreSQL: the sandbox directly, AWS through boto3
against a moto server. Each endpoint: success, bad input (problem+json) and the wrong role;
plus idempotency, the state machine, bulk provisioning and recovery after a crash."""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from clouds.aws import credentials as aws_credentials
from clouds.sandbox.world import build_world, save_world
from control_plane.crypto import Cipher
from control_plane.security import Role
from control_plane.services import operations, resources
from control_plane.services.providers import adapter_for
from control_plane.services.reconciler import reconcile, reconcile_once
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import AuditEntry, Operation, Provider, Resource
from tests.control_api.conftest import Api

PROBLEM = "application/problem+json"
URL = "/api/cloud/resources"
AMI = "ami-12c6146b"


def _provider(api: Api, flavour: str = "aws") -> str:
    save_world(api.engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    body = {"kind": "sandbox", "name": f"sandbox-{flavour}", "flavour": flavour}
    response = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _spec(provider_id: str, name: str = "web-1", **extra: Any) -> dict[str, Any]:
    return {
        "provider_id": provider_id,
        "name": name,
        "type": "compute",
        "size": "m5.large",
        "region": "eu-west-2",
        "tags": {"team": "bookings"},
        **extra,
    }


def _done(api: Api, response: Any) -> dict[str, Any]:
    """The operation a 202 answered with, polled (the test client runs its work before returning)."""
    assert response.status_code == 202, response.text
    polled = api.client.get(response.headers["location"], headers=api.headers(Role.VIEWER))
    return dict(polled.json())


def _provision(api: Api, provider_id: str, **extra: Any) -> dict[str, Any]:
    operation = _done(api, api.client.post(URL, json=_spec(provider_id, **extra), headers=api.headers(Role.OPERATOR)))
    assert operation["status"] == "succeeded", operation
    found = api.client.get(f"{URL}/{operation['result']['resource_id']}", headers=api.headers(Role.VIEWER))
    return dict(found.json())


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return dict(response.json())


def _act(api: Api, resource_id: str, action: str, role: Role = Role.OPERATOR, **body: Any) -> Any:
    if action == "delete":
        return api.client.delete(f"{URL}/{resource_id}", headers=api.headers(role))
    return api.client.post(f"{URL}/{resource_id}/{action}", json=body or None, headers=api.headers(role))


# -- POST /resources ---------------------------------------------------------------------------
def test_a_provisioned_instance_runs_with_its_list_price_as_cost_rate(api: Api) -> None:
    made = _provision(api, _provider(api))
    assert (made["state"], made["size"], made["region"], made["tags"]) == (
        "running", "m5.large", "eu-west-2", {"team": "bookings"},
    )  # fmt: skip
    assert made["cloud_id"].startswith("sbx-aws-")
    assert Decimal(made["cost_rate"]["hourly"]) == Decimal("0.0960") * Decimal("1.16")  # London's price factor
    assert made["cost_rate"]["currency"] == "USD"
    assert "last_metrics" in made


def test_a_retry_with_the_same_idempotency_key_is_the_same_operation_and_another_body_is_refused(api: Api) -> None:
    provider_id = _provider(api)
    headers = {**api.headers(Role.OPERATOR), "Idempotency-Key": "make-web-1"}
    first = api.client.post(URL, json=_spec(provider_id), headers=headers)
    again = api.client.post(URL, json=_spec(provider_id), headers=headers)
    assert first.json()["id"] == again.json()["id"]
    other = _problem(api.client.post(URL, json=_spec(provider_id, name="web-2"), headers=headers), 422)
    assert "different request" in other["detail"]
    with Session(api.engine) as session:
        assert len(session.scalars(select(Resource)).all()) == 1


def test_a_spec_that_cannot_work_is_refused_by_field_and_nothing_is_written(api: Api) -> None:
    provider_id = _provider(api)
    problem = _problem(
        api.client.post(
            URL, json=_spec(provider_id, region="us-west-2", subtype="volume"), headers=api.headers(Role.OPERATOR)
        ),
        422,
    )
    assert {e["field"] for e in problem["errors"]} == {"region", "subtype"}
    problem = _problem(
        api.client.post(
            URL, json={**_spec(provider_id), "type": "quantum", "name": "-x"}, headers=api.headers(Role.OPERATOR)
        ),
        422,
    )
    assert {e["field"] for e in problem["errors"]} == {"type", "name"}
    _problem(api.client.post(URL, json=_spec(str(uuid.uuid4())), headers=api.headers(Role.OPERATOR)), 404)
    with Session(api.engine) as session:
        assert session.scalars(select(Resource)).all() == []
        assert session.scalars(select(Operation)).all() == []


def test_a_size_the_provider_lacks_ends_the_operation_with_its_reason(api: Api) -> None:
    provider_id = _provider(api)
    operation = _done(
        api, api.client.post(URL, json=_spec(provider_id, size="m99.huge"), headers=api.headers(Role.OPERATOR))
    )
    assert operation["status"] == "failed"
    assert "m99.huge" in operation["error"]["detail"]
    row = api.client.get(f"{URL}/{operation['resource_id']}", headers=api.headers(Role.VIEWER)).json()
    assert row["state"] == "failed"


def test_a_viewer_cannot_provision(api: Api) -> None:
    _problem(api.client.post(URL, json=_spec(_provider(api)), headers=api.headers(Role.VIEWER)), 403)


# -- GET /resources ------------------------------------------------------------------------------
def test_lists_filter_sort_and_page_without_repeats(api: Api) -> None:
    provider_id = _provider(api)
    for index, size in enumerate(["t3.micro", "m5.large", "m5.xlarge", "r5.large", "c5.large"]):
        _provision(api, provider_id, name=f"web-{index}", size=size, tags={"team": "a" if index % 2 else "b"})
    _provision(api, provider_id, name="disk-1", type="storage", subtype="volume", size="100GB", tags={})
    viewer = api.headers(Role.VIEWER)

    def names(**query: Any) -> list[str]:
        return [r["name"] for r in api.client.get(URL, params=query, headers=viewer).json()["items"]]

    assert names(type="storage") == ["disk-1"]
    assert sorted(names(tag="team=a")) == ["web-1", "web-3"]
    assert len(names(tag="team")) == 5
    assert names(name_contains="DISK") == ["disk-1"]
    assert names(cost_above="0.15", sort="-hourly_cost") == ["web-2"]  # m5.xlarge
    assert names(sort="-hourly_cost", type="compute")[0] == "web-2"
    seen, cursor = [], None
    while True:
        page = api.client.get(
            URL, params={"limit": 2, "sort": "name", **({"cursor": cursor} if cursor else {})}, headers=viewer
        ).json()
        seen += [r["name"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen)) == 6


def test_a_bad_sort_or_cursor_is_refused(api: Api) -> None:
    viewer = api.headers(Role.VIEWER)
    assert "sort by one of" in _problem(api.client.get(URL, params={"sort": "colour"}, headers=viewer), 422)["detail"]
    _problem(api.client.get(URL, params={"cursor": "not-ours"}, headers=viewer), 422)
    _problem(api.client.get(URL, params={"limit": 0}, headers=viewer), 422)
    _problem(api.client.get(URL), 401)


# -- GET /resources/{id} ------------------------------------------------------------------------
def test_an_unknown_resource_is_404_a_bad_id_422_and_no_key_401(api: Api) -> None:
    _problem(api.client.get(f"{URL}/{uuid.uuid4()}", headers=api.headers(Role.VIEWER)), 404)
    _problem(api.client.get(f"{URL}/nope", headers=api.headers(Role.VIEWER)), 422)
    _problem(api.client.get(f"{URL}/{uuid.uuid4()}"), 401)


# -- start, stop, terminate: the state machine ---------------------------------------------------
def test_stop_start_and_terminate_follow_the_state_machine(api: Api) -> None:
    made = _provision(api, _provider(api))
    stopped = _done(api, _act(api, made["id"], "stop"))
    assert stopped["status"] == "succeeded"
    assert stopped["result"]["before"]["state"] == "running"
    assert stopped["result"]["after"]["state"] == "stopped"
    assert _done(api, _act(api, made["id"], "stop"))["status"] == "succeeded"  # already stopped: harmless
    assert _done(api, _act(api, made["id"], "start"))["result"]["after"]["state"] == "running"
    assert _done(api, _act(api, made["id"], "delete", Role.ADMIN))["result"]["after"]["state"] == "terminated"
    refused = _problem(_act(api, made["id"], "start"), 409)
    assert "terminated" in refused["detail"]


def test_storage_has_no_power_state(api: Api) -> None:
    disk = _provision(api, _provider(api), name="disk", type="storage", subtype="volume", size="50GB")
    assert disk["state"] == "available"
    assert "no power state" in _problem(_act(api, disk["id"], "stop"), 409)["detail"]


def test_only_operators_start_and_stop_and_only_admins_terminate(api: Api) -> None:
    made = _provision(api, _provider(api))
    _problem(_act(api, made["id"], "stop", Role.VIEWER), 403)
    _problem(_act(api, made["id"], "start", Role.VIEWER), 403)
    _problem(_act(api, made["id"], "delete", Role.OPERATOR), 403)
    for action in ("stop", "start", "scale"):
        _problem(
            api.client.post(
                f"{URL}/{uuid.uuid4()}/{action}",
                json={"size": "m5.xlarge"} if action == "scale" else None,
                headers=api.headers(Role.OPERATOR),
            ),
            404,
        )


# -- scale ---------------------------------------------------------------------------------------
def test_a_running_instance_is_stopped_resized_and_started_again(api: Api) -> None:
    made = _provision(api, _provider(api))
    operation = _done(api, _act(api, made["id"], "scale", size="m5.xlarge"))
    assert operation["status"] == "succeeded", operation
    assert operation["result"]["after"] == {"state": "running", "size": "m5.xlarge"}
    after = api.client.get(f"{URL}/{made['id']}", headers=api.headers(Role.VIEWER)).json()
    assert Decimal(after["cost_rate"]["hourly"]) == Decimal("0.1920") * Decimal("1.16")


def test_a_group_scales_within_its_bounds(api: Api) -> None:
    group = _provision(api, _provider(api), name="pool", subtype="instance_group", options={"min": 1, "max": 4})
    assert _done(api, _act(api, group["id"], "scale", capacity=3))["status"] == "succeeded"
    beyond = _done(api, _act(api, group["id"], "scale", capacity=9))
    assert beyond["status"] == "failed"
    assert "outside the group's bounds 1..4" in beyond["error"]["detail"]


def test_scale_bodies_and_kinds_that_cannot_scale_are_refused(api: Api) -> None:
    provider_id = _provider(api)
    made = _provision(api, provider_id)
    _problem(_act(api, made["id"], "scale", size="m5.xlarge", capacity=2), 422)
    _problem(_act(api, made["id"], "scale"), 422)
    assert "horizontally" in _problem(_act(api, made["id"], "scale", capacity=2), 422)["detail"]
    _problem(_act(api, made["id"], "scale", Role.VIEWER, size="m5.xlarge"), 403)


# -- PUT -----------------------------------------------------------------------------------------
def test_tags_and_protection_change_and_a_protected_resource_refuses_termination(api: Api) -> None:
    made = _provision(api, _provider(api))
    body = {"tags": {"team": "payments", "env": "production"}, "protected": True}
    updated = api.client.put(f"{URL}/{made['id']}", json=body, headers=api.headers(Role.OPERATOR))
    assert updated.status_code == 200, updated.text
    assert updated.json()["resource"]["tags"] == body["tags"]
    assert updated.json()["operation"] is None
    entry = api.audit()[-1]
    assert entry.detail["before"]["tags"] == {"team": "bookings"}
    assert entry.detail["after"]["protected"] is True
    assert "protected" in _problem(_act(api, made["id"], "delete", Role.ADMIN), 409)["detail"]
    api.client.put(f"{URL}/{made['id']}", json={"protected": False}, headers=api.headers(Role.OPERATOR))
    assert _done(api, _act(api, made["id"], "delete", Role.ADMIN))["status"] == "succeeded"


def test_a_new_size_in_a_put_goes_through_the_scale_path(api: Api) -> None:
    made = _provision(api, _provider(api))
    updated = api.client.put(f"{URL}/{made['id']}", json={"size": "m5.2xlarge"}, headers=api.headers(Role.OPERATOR))
    assert updated.json()["operation"]["kind"] == "scale"
    assert api.client.get(f"{URL}/{made['id']}", headers=api.headers(Role.VIEWER)).json()["size"] == "m5.2xlarge"


def test_a_put_with_bad_fields_or_role_changes_nothing(api: Api) -> None:
    made = _provision(api, _provider(api))
    _problem(api.client.put(f"{URL}/{made['id']}", json={"colour": "red"}, headers=api.headers(Role.OPERATOR)), 422)
    _problem(api.client.put(f"{URL}/{made['id']}", json={"protected": True}, headers=api.headers(Role.VIEWER)), 403)
    _problem(api.client.put(f"{URL}/{uuid.uuid4()}", json={"protected": True}, headers=api.headers(Role.OPERATOR)), 404)
    assert api.client.get(f"{URL}/{made['id']}", headers=api.headers(Role.VIEWER)).json()["protected"] is False


# -- bulk ----------------------------------------------------------------------------------------
def test_bulk_provision_reports_each_spec(api: Api) -> None:
    provider_id = _provider(api)
    specs = [_spec(provider_id, name=f"batch-{i}") for i in range(3)] + [
        _spec(provider_id, name="odd", size="m99.huge")
    ]
    response = api.client.post(f"{URL}/bulk-provision", json={"specs": specs}, headers=api.headers(Role.OPERATOR))
    operation = _done(api, response)
    assert operation["result"]["counts"] == {"succeeded": 3, "failed": 1}
    assert [r["status"] for r in operation["result"]["results"]] == ["succeeded"] * 3 + ["failed"]
    assert len(api.client.get(URL, params={"status": "running"}, headers=api.headers(Role.VIEWER)).json()["items"]) == 3


def test_atomic_bulk_provision_keeps_nothing_when_one_spec_fails(api: Api) -> None:
    provider_id = _provider(api)
    specs = [_spec(provider_id, name=f"batch-{i}") for i in range(3)] + [
        _spec(provider_id, name="odd", size="m99.huge")
    ]
    operation = _done(
        api,
        api.client.post(
            f"{URL}/bulk-provision", json={"specs": specs, "atomic": True}, headers=api.headers(Role.OPERATOR)
        ),
    )
    assert operation["status"] == "failed"
    assert "3 resource(s) already made were terminated" in operation["error"]["detail"]
    assert api.client.get(URL, headers=api.headers(Role.VIEWER)).json()["items"] == []
    with api.engine.connect() as connection:
        from clouds.sandbox import state

        made = (
            connection.execute(select(state.resources.c.state).where(state.resources.c.name.like("batch-%")))
            .scalars()
            .all()
        )
    assert sorted(made) == ["terminated"] * 3


def test_atomic_bulk_provision_refuses_specs_that_cannot_work_up_front(api: Api) -> None:
    provider_id = _provider(api)
    specs = [_spec(provider_id), _spec(provider_id, name="x", region="mars-1")]
    problem = _problem(
        api.client.post(
            f"{URL}/bulk-provision", json={"specs": specs, "atomic": True}, headers=api.headers(Role.OPERATOR)
        ),
        422,
    )
    assert [e["field"] for e in problem["errors"]] == ["specs.1"]
    too_many = {"specs": [_spec(provider_id, name=f"n{i}") for i in range(1001)]}
    _problem(api.client.post(f"{URL}/bulk-provision", json=too_many, headers=api.headers(Role.OPERATOR)), 422)
    _problem(api.client.post(f"{URL}/bulk-provision", json={"specs": specs[:1]}, headers=api.headers(Role.VIEWER)), 403)


# -- metrics -------------------------------------------------------------------------------------
def test_metrics_are_averaged_per_step_over_the_range(api: Api) -> None:
    made = _provision(api, _provider(api))
    end = datetime.now(UTC)
    with api.engine.begin() as connection:  # as if it had been running for two days
        from clouds.sandbox import state

        connection.execute(
            update(state.resources)
            .where(state.resources.c.id == made["cloud_id"])
            .values(created_at=end - timedelta(days=2))
        )
        connection.execute(
            update(state.events)
            .where(state.events.c.resource_id == made["cloud_id"])
            .values(at=end - timedelta(days=2))
        )
    query = {"start": (end - timedelta(hours=6)).isoformat(), "end": end.isoformat(), "step": "1h"}
    response = api.client.get(f"{URL}/{made['id']}/metrics", params=query, headers=api.headers(Role.VIEWER))
    assert response.status_code == 200, response.text
    series = response.json()["series"]
    assert "cpu_percent" in series
    assert 5 <= len(series["cpu_percent"]) <= 7
    assert all(0 <= s["value"] <= 100 for s in series["cpu_percent"])


def test_a_bad_metrics_range_is_refused(api: Api) -> None:
    made = _provision(api, _provider(api))
    end = datetime.now(UTC)
    backwards = {"start": end.isoformat(), "end": (end - timedelta(hours=1)).isoformat()}
    _problem(api.client.get(f"{URL}/{made['id']}/metrics", params=backwards, headers=api.headers(Role.VIEWER)), 422)
    _problem(
        api.client.get(f"{URL}/{made['id']}/metrics", params={"step": "7m"}, headers=api.headers(Role.VIEWER)), 422
    )
    _problem(api.client.get(f"{URL}/{made['id']}/metrics"), 401)
    _problem(api.client.get(f"{URL}/{uuid.uuid4()}/metrics", headers=api.headers(Role.VIEWER)), 404)


def test_a_listed_page_is_served_again_until_another_connection_changes_a_resource(api: Api) -> None:
    provider_id = _provider(api)
    made = _provision(api, provider_id, name="cached-1")
    viewer = api.headers(Role.VIEWER)
    first = api.client.get(URL, params={"region": "eu-west-2"}, headers=viewer)
    again = api.client.get(URL, params={"region": "eu-west-2"}, headers=viewer)
    assert first.content == again.content
    assert len(api.client.app.state.pages) == 1  # type: ignore[attr-defined]  # computed once, then served
    with api.engine.begin() as connection:  # a writer outside the API: the CLI, the reconciler
        connection.execute(update(Resource).where(Resource.id == uuid.UUID(made["id"])).values(state="stopped"))
    after = api.client.get(URL, params={"region": "eu-west-2"}, headers=viewer).json()
    assert [(r["name"], r["state"]) for r in after["items"]] == [("cached-1", "stopped")]
    later = _provision(api, provider_id, name="cached-2")
    names = [r["name"] for r in api.client.get(URL, params={"region": "eu-west-2"}, headers=viewer).json()["items"]]
    assert names == ["cached-1", later["name"]]


# -- AWS through moto ----------------------------------------------------------------------------
def _aws_provider(api: Api, moto_endpoint: str, aws_keys: dict[str, str]) -> str:
    body = {
        "kind": "aws", "name": "wedsync-aws", "default_region": "eu-west-2", "endpoint_url": moto_endpoint,
        "credentials": {"access_key_id": aws_keys["access_key_id"], "secret_access_key": aws_keys["secret_access_key"]},
    }  # fmt: skip
    return str(api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN)).json()["id"])


@pytest.mark.integration
def test_an_ec2_instance_is_provisioned_resized_and_terminated_through_the_api(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    provider_id = _aws_provider(api, moto_endpoint, aws_keys)
    no_image = _problem(
        api.client.post(URL, json=_spec(provider_id, size="t3.micro"), headers=api.headers(Role.OPERATOR)), 422
    )
    assert [e["field"] for e in no_image["errors"]] == ["image"]
    made = _provision(api, provider_id, size="t3.micro", image=AMI)
    assert made["cloud_id"].startswith("i-")
    assert made["state"] == "provisioning"  # EC2 answers "pending"
    _problem(_act(api, made["id"], "scale", size="t3.large"), 409)
    state = api.client.app.state  # type: ignore[attr-defined]
    refreshed = reconcile_once(state.settings.layout, state.settings.environment, state.sessions).refreshed
    assert refreshed == [made["id"]]
    assert api.client.get(f"{URL}/{made['id']}", headers=api.headers(Role.VIEWER)).json()["state"] == "running"
    assert _done(api, _act(api, made["id"], "scale", size="t3.large"))["result"]["after"] == {
        "state": "running",
        "size": "t3.large",
    }
    ec2 = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "ec2", moto_endpoint)
    (instance,) = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instance["InstanceType"] == "t3.large"
    assert _done(api, _act(api, made["id"], "delete", Role.ADMIN))["status"] == "succeeded"
    state = ec2.describe_instances(InstanceIds=[made["cloud_id"]])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"


@pytest.mark.integration
def test_a_database_and_a_bucket_are_provisioned_and_an_imported_group_scaled_through_the_api(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    provider_id = _aws_provider(api, moto_endpoint, aws_keys)
    database = _provision(api, provider_id, name="bookings-db", type="database", size="db.t4g.micro",
                          options={"engine": "postgres", "storage_gb": 30})  # fmt: skip
    assert (database["subtype"], database["size"], database["details"]["engine"]) == (
        "database", "db.t4g.micro", "postgres",
    )  # fmt: skip
    bucket = _provision(api, provider_id, name="wedsync-albums", type="storage", subtype="bucket", size="STANDARD")
    assert (bucket["cloud_id"], bucket["state"]) == ("arn:aws:s3:::wedsync-albums", "available")
    bad_bucket = _spec(provider_id, name="Bad_Bucket", type="storage", subtype="bucket", size="COLD")
    refused = _problem(api.client.post(URL, json=bad_bucket, headers=api.headers(Role.OPERATOR)), 422)
    assert [e["field"] for e in refused["errors"]] == ["name", "size"]

    session = aws_credentials.session_for(aws_keys, "eu-west-2")
    aws_credentials.client(session, "ec2", moto_endpoint).create_launch_template(
        LaunchTemplateName="web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.small"}
    )
    aws_credentials.client(session, "autoscaling", moto_endpoint).create_auto_scaling_group(
        AutoScalingGroupName="web-fleet", LaunchTemplate={"LaunchTemplateName": "web"}, MinSize=1, MaxSize=4,
        DesiredCapacity=1, AvailabilityZones=["eu-west-2a"],
    )  # fmt: skip
    synced = _done(api, api.client.post(f"/api/cloud/providers/{provider_id}/sync", headers=api.headers(Role.OPERATOR)))
    assert synced["status"] == "succeeded", synced
    groups = api.client.get(URL, params={"name_contains": "web-fleet"}, headers=api.headers(Role.VIEWER)).json()
    (group,) = [g for g in groups["items"] if g["subtype"] == "instance_group"]
    assert _done(api, _act(api, group["id"], "scale", capacity=3))["status"] == "succeeded"
    described = aws_credentials.client(session, "autoscaling", moto_endpoint).describe_auto_scaling_groups(
        AutoScalingGroupNames=["web-fleet"]
    )["AutoScalingGroups"][0]
    assert described["DesiredCapacity"] == 3
    beyond = _done(api, _act(api, group["id"], "scale", capacity=9))
    assert (beyond["status"], "bounds 1..4" in beyond["error"]["detail"]) == ("failed", True)
    assert _done(api, _act(api, database["id"], "delete", Role.ADMIN))["status"] == "succeeded"


@pytest.mark.integration
def test_an_ec2_instance_shows_its_cloudwatch_metrics_through_the_api(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    provider_id = _aws_provider(api, moto_endpoint, aws_keys)
    made = _provision(api, provider_id, size="t3.micro", image=AMI)
    cloudwatch = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "cloudwatch", moto_endpoint)
    now = datetime.now(UTC)
    recently = now.replace(minute=now.minute // 5 * 5, second=0, microsecond=0) - timedelta(minutes=20)
    cloudwatch.put_metric_data(Namespace="AWS/EC2", MetricData=[
        {"MetricName": "CPUUtilization", "Dimensions": [{"Name": "InstanceId", "Value": made["cloud_id"]}],
         "Timestamp": recently + timedelta(minutes=minute), "Value": value}
        for minute, value in ((0, 12.0), (1, 18.0), (10, 64.0))
    ])  # fmt: skip
    state = api.client.app.state  # type: ignore[attr-defined]
    reconcile_once(state.settings.layout, state.settings.environment, state.sessions)  # pending at EC2 -> running
    detail = api.client.get(f"{URL}/{made['id']}", headers=api.headers(Role.VIEWER)).json()
    assert detail["last_metrics"]["cpu_percent"]["value"] == 64.0
    series = api.client.get(
        f"{URL}/{made['id']}/metrics", params={"step": "5m", "start": (recently - timedelta(minutes=5)).isoformat()},
        headers=api.headers(Role.VIEWER),
    ).json()["series"]  # fmt: skip
    assert [point["value"] for point in series["cpu_percent"]] == [15.0, 64.0]


# -- recovery ------------------------------------------------------------------------------------
def test_a_crash_after_the_provider_call_is_recovered_without_a_second_resource(api: Api) -> None:
    """The worker made the resource at the provider and died before writing it down: the
    reconciler repeats the call with the same client token and adopts what exists."""
    provider_id = _provider(api)
    sessions = make_sessionmaker(api.engine)
    settings = api.client.app.state.settings  # type: ignore[attr-defined]
    cipher = None
    sealer = Cipher(secrets.token_bytes(32))  # keeps the operation's real request

    def adapters(provider: Provider, session: Session) -> Any:
        return adapter_for(provider, session=session, layout=settings.layout, cipher=cipher)

    with sessions() as session:
        provider = session.get(Provider, uuid.UUID(provider_id))
        assert provider is not None
        spec = resources.ProvisionSpec(
            provider_id=provider.id, name="survivor", resource_type=resources.ResourceType.COMPUTE, size="m5.large"
        )
        operation, _, request = resources.begin_provision(
            session, provider, spec, actor="test", idempotency_key=None, cipher=sealer
        )
        session.commit()
        operation_id = operation.id
        # the provider call succeeds ... and then the process dies
        made = adapters(provider, session).provision(resources.with_token(request, str(operation_id)))
        session.execute(update(Operation).where(Operation.id == operation_id).values(
            status=operations.RUNNING, lease_owner="a process that died",
            lease_expires_at=datetime.now(UTC) - timedelta(seconds=1)))  # fmt: skip
        session.commit()
    report = reconcile(sessions, adapters, cipher=sealer)
    assert report.resumed == [str(operation_id)]
    with sessions() as session:
        finished = session.get(Operation, operation_id)
        assert finished is not None
        assert finished.status == "succeeded"
        (row,) = session.scalars(select(Resource).where(Resource.name == "survivor")).all()
        assert row.cloud_id == made.id
        assert row.state == "running"
        provider = session.get(Provider, uuid.UUID(provider_id))
        assert provider is not None
        at_provider = [r for r in adapters(provider, session).list_resources() if r.name == "survivor"]
        assert [r.id for r in at_provider] == [made.id]
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "operation.provision")) is not None


def test_operations_are_listed_newest_first_page_by_page(api: Api) -> None:
    provider_id = _provider(api)
    made = [_provision(api, provider_id, name=f"op-{i}")["id"] for i in range(3)]
    _done(api, _act(api, made[0], "stop"))
    viewer = api.headers(Role.VIEWER)
    seen, cursor = [], None
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get("/api/cloud/operations", params=query, headers=viewer).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert [o["kind"] for o in seen] == ["stop", "provision", "provision", "provision"]
    assert [o["created_at"] for o in seen] == sorted((o["created_at"] for o in seen), reverse=True)
    only = api.client.get("/api/cloud/operations", params={"kind": "stop"}, headers=viewer).json()["items"]
    assert [o["resource_id"] for o in only] == [made[0]]
    _problem(api.client.get("/api/cloud/operations", params={"cursor": "not-ours"}, headers=viewer), 422)
