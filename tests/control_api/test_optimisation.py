"""The optimisation endpoints on SQLite and PostgreSQL: listing with filters, pages and the
potential saving; storing by stable id; applying through the sandbox and, over HTTP, through
boto3 against a moto server, with dry runs, idempotence, roles and automatic revert."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from analytics.optimisation.model import Kind, Recommendation
from assets.resources import ProvidersResource
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from clouds.sandbox.provider import SandboxCloud
from clouds.sandbox.world import build_world, save_world
from control_plane.security import Role
from control_plane.services.optimisation import store_recommendations
from control_plane.store.models import AuditEntry, Provider, RecommendationRow, Resource
from pipelines.off_hours import off_hours_job
from tests.control_api.conftest import Api
from tests.control_api.test_operation_recovery import Faulty, _apply_with

PROBLEM = "application/problem+json"
URL = "/api/cloud/costs/optimization"
SEEN = datetime(2026, 11, 27, tzinfo=UTC)


def _rec(
    resource_id: str, *, kind: Kind = "rightsize", saving: str = "100", provider: str = "sandbox-aws",
    action: str = "resize", target: str | None = "m5.large", account: str = "111", currency: str = "USD",
) -> Recommendation:  # fmt: skip
    return Recommendation.build(
        kind=kind, provider=provider, account_id=account, resource_id=resource_id, region="eu-west-2",
        action=action, target=target, monthly_saving=Decimal(saving), currency=currency,  # type: ignore[arg-type]
        evidence={"hourly_rate": Decimal("0.5"), "rate_basis": "effective"}, risk="low", risk_reason="test",
        confidence=0.9, confidence_reason="test",
    )  # fmt: skip


def _store(api: Api, recs: list[Recommendation], providers: tuple[str, ...] = ("sandbox-aws",)) -> None:
    with Session(api.engine) as session:
        store_recommendations(session, recs, providers=list(providers), seen_at=SEEN)
        session.commit()


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return dict(response.json())


def _sandbox(api: Api) -> dict[str, str]:
    """A sandbox AWS provider; resource name -> id of its world's instances."""
    world = build_world(1, date(2026, 11, 27), date(2026, 1, 1))  # long enough for the old dev disk
    save_world(api.engine, world)
    body = {"kind": "sandbox", "name": "sandbox-aws", "flavour": "aws"}
    response = api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    return {r.name: r.id for r in world.resources if r.flavour.value == "aws"}


def _sandbox_price(size: str, region: str = "eu-west-2") -> Decimal:
    flavour = FLAVOURS[FlavourKey.AWS]
    listed = next(t.hourly_price for t in flavour.instance_types if t.name == size)
    return (listed * flavour.region(region).price_factor).quantize(Decimal("0.000001"))


def _done(api: Api, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    return dict(api.client.get(response.headers["location"], headers=api.headers(Role.VIEWER)).json())


# -- listing and storing ------------------------------------------------------------------------


def test_recommendations_list_biggest_saving_first_in_pages_with_total_and_potential_per_resource(api: Api) -> None:
    _store(api, [
        _rec("i-1", saving="9.50"), _rec("i-2", saving="120.00"), _rec("i-3", saving="10.00", account="222"),
        _rec("i-2", kind="schedule", action="schedule", target="off nights", saving="40.00"),
        _rec("vm-1", provider="sandbox-azure", saving="30.00", currency="GBP"),
    ], providers=("sandbox-aws", "sandbox-azure"))  # fmt: skip
    viewer = api.headers(Role.VIEWER)
    first = api.client.get(URL, params={"limit": 2}, headers=viewer).json()
    assert [(i["resource_id"], i["monthly_saving"]) for i in first["items"]] == [("i-2", "120.00"), ("i-2", "40.00")]
    assert first["total"] == 5
    # a rightsizing and a schedule of i-2 do not add up: each resource counts once, at its best
    assert first["potential_monthly_saving"] == [
        {"currency": "GBP", "amount": "30.00"},
        {"currency": "USD", "amount": "139.50"},
    ]
    rest = api.client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=viewer).json()
    assert [i["resource_id"] for i in rest["items"]] == ["vm-1", "i-3"]  # 30 GBP ranks by its figure
    filtered = api.client.get(URL, params={"type": "rightsize", "min_saving": "10", "provider": "sandbox-aws"},
                              headers=viewer).json()  # fmt: skip
    assert [i["resource_id"] for i in filtered["items"]] == ["i-2", "i-3"]
    assert api.client.get(URL, params={"account": "222"}, headers=viewer).json()["total"] == 1


def test_bad_filters_and_cursors_are_problems(api: Api) -> None:
    viewer = api.headers(Role.VIEWER)
    assert "status" in _problem(api.client.get(URL, params={"status": "sleeping"}, headers=viewer), 422)["detail"]
    _problem(api.client.get(URL, params={"type": "cheaper"}, headers=viewer), 422)
    _problem(api.client.get(URL, params={"cursor": "not-ours"}, headers=viewer), 422)
    _problem(api.client.get(URL, params={"min_saving": "-1"}, headers=viewer), 422)
    _problem(api.client.get(f"{URL}/nope", headers=viewer), 404)


def test_a_rerun_updates_a_recommendation_instead_of_duplicating_it_and_retires_what_it_no_longer_finds(
    api: Api,
) -> None:
    _store(api, [_rec("i-1", saving="50"), _rec("i-2", saving="20"), _rec("i-3", saving="5")])
    with Session(api.engine) as session:
        dismissed = session.get(RecommendationRow, _rec("i-3").id)
        assert dismissed is not None
        dismissed.status = "dismissed"
        session.commit()
    _store(api, [_rec("i-1", saving="55"), _rec("i-3", saving="6")])
    with Session(api.engine) as session:
        rows = {row.resource_id: row for row in session.scalars(select(RecommendationRow))}
    assert len(rows) == 3
    assert (rows["i-1"].monthly_saving, rows["i-1"].status) == (Decimal("55"), "open")
    assert rows["i-2"].status == "obsolete"  # not found again
    assert (rows["i-3"].monthly_saving, rows["i-3"].status) == (Decimal("6"), "dismissed")  # stays dismissed
    _store(api, [_rec("i-2", saving="20")], providers=("sandbox-gcp",))  # another provider's run
    with Session(api.engine) as session:
        assert session.get(RecommendationRow, _rec("i-1").id).status == "open"  # type: ignore[union-attr]
        assert session.get(RecommendationRow, _rec("i-2").id).status == "open"  # type: ignore[union-attr]


# -- applying through the sandbox ----------------------------------------------------------------


def test_a_dry_run_shows_the_exact_change_and_its_rollback_and_changes_nothing(api: Api) -> None:
    staging = _sandbox(api)["staging-old"]
    _store(api, [_rec(staging, target="t3.large")])
    response = api.client.post(f"{URL}/{_rec(staging, target='t3.large').id}/apply", json={"dry_run": True},
                               headers=api.headers(Role.OPERATOR))  # fmt: skip
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["steps"] == [
        f"stop {staging}",
        f"change type of {staging} from m5.large to t3.large",
        f"start {staging}",
    ]
    assert plan["rollback"][1] == f"change type of {staging} from t3.large back to m5.large"
    assert plan["verify"] == ["state is running", "type is t3.large"]
    detail = api.client.get(f"{URL}/{plan['recommendation']}", headers=api.headers(Role.VIEWER)).json()
    assert detail["status"] == "open"
    resources = api.client.get("/api/cloud/resources", headers=api.headers(Role.VIEWER)).json()["items"]
    assert all(r["size"] != "t3.large" for r in resources)


def test_applying_resizes_through_the_adapter_records_outcome_and_audit_and_applying_again_is_harmless(
    api: Api,
) -> None:
    staging = _sandbox(api)["staging-old"]
    provider = api.client.get("/api/cloud/providers", headers=api.headers(Role.VIEWER)).json()["items"][0]["id"]
    synced = api.client.post(f"/api/cloud/providers/{provider}/sync", headers=api.headers(Role.ADMIN))
    assert _done(api, synced)["status"] == "succeeded"  # WedCloud has a row for the machine
    rec = _rec(staging, target="t3.large")
    _store(api, [rec])
    operator = api.headers(Role.OPERATOR)
    first = api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=operator)
    operation = _done(api, first)
    assert operation["status"] == "succeeded", operation
    assert operation["result"]["after"]["size"] == "t3.large"
    again = api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=operator)
    assert again.json()["id"] == first.json()["id"]
    listed = api.client.get("/api/cloud/resources", params={"limit": 500}, headers=api.headers(Role.VIEWER)).json()
    (machine,) = [r for r in listed["items"] if r["cloud_id"] == staging]
    assert (machine["size"], machine["state"]) == ("t3.large", "running")
    assert machine["cost_rate"]["hourly"] == str(_sandbox_price("t3.large"))  # the new type's list price
    detail = api.client.get(f"{URL}/{rec.id}", headers=api.headers(Role.VIEWER)).json()
    assert detail["status"] == "applied"
    assert detail["outcome"]["before"]["size"] == "m5.large"
    assert detail["outcome"]["health"] == [
        {"check": "state", "ok": True, "detail": "state is running"},
        {"check": "type", "ok": True, "detail": "type is t3.large"},
    ]
    assert detail["applied_by"].startswith("key:test-operator")
    actions = [e.action for e in api.audit()]
    assert "apply_recommendation" in " ".join(actions)
    assert "operation.apply_recommendation" in actions


def test_deleting_an_unattached_disk_snapshots_it_first(api: Api) -> None:
    disk = _sandbox(api)["dev-box-old-data"]
    rec = _rec(disk, kind="unattached_disk", action="delete", target=None)
    _store(api, [rec])
    operation = _done(api, api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)))
    assert operation["status"] == "succeeded", operation
    outcome = operation["result"]
    assert outcome["steps"] == [f"snapshot {disk}", f"delete {disk}"]
    assert outcome["snapshot"]["id"]
    assert outcome["rollback"] == [f"restore snapshot {outcome['snapshot']['id']} in eu-west-2"]
    assert outcome["after"]["state"] == "terminated"


def test_applying_a_delete_again_after_a_failed_one_takes_a_new_snapshot_before_deleting(api: Api) -> None:
    """The first apply snapshots the disk, then its delete fails: the disk stays, with a whole
    snapshot of it as it was then. Applying again must not take that old snapshot for a copy of
    the disk as it is now: it takes a new one, and only then deletes."""
    disk = _sandbox(api)["dev-box-old-data"]
    rec = _rec(disk, kind="unattached_disk", action="delete", target=None)
    _store(api, [rec])
    refused = RuntimeError("injected: the delete was refused")
    _apply_with(api, rec.id, lambda real: Faulty(real, "terminate", refused), lambda url: (True, url))
    with Session(api.engine) as session:
        row = session.get(RecommendationRow, rec.id)
        assert row is not None
        assert row.status == "reverted", row.outcome
        first = row.outcome["snapshot"]
    sandbox = SandboxCloud(api.engine, flavour="aws", exports_dir=api.home / "exports")
    assert sandbox.describe(disk).state.value != "terminated"
    operation = _done(api, api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)))
    assert operation["status"] == "succeeded", operation
    second = operation["result"]["snapshot"]
    assert second["id"] != first["id"]
    assert second["state"] == "completed"
    assert datetime.fromisoformat(second["created_at"]) >= datetime.fromisoformat(first["created_at"])
    # the disk's history in the sandbox: snapshotted, snapshotted anew, and only then deleted
    events = [(e.event, e.detail.get("snapshot_id")) for e in sandbox._events(disk)]
    taken = [e for e in events if e[0] in ("snapshotted", "terminated")]
    assert taken == [("snapshotted", first["id"]), ("snapshotted", second["id"]), ("terminated", None)]
    assert {first["id"], second["id"]} <= {s.id for s in sandbox.list_snapshots()}  # the old one is kept


def test_roles_dismissal_and_purchases_are_enforced(api: Api) -> None:
    staging = _sandbox(api)["staging-old"]
    rec, purchase = _rec(staging), _rec("savings-plan:111", kind="commitment", action="purchase", target="sp-1y-0.50")
    _store(api, [rec, purchase])
    _problem(api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.VIEWER)), 403)
    _problem(api.client.post(f"{URL}/{purchase.id}/apply", json={"confirm": "sp-1y-0.50"},
                             headers=api.headers(Role.OPERATOR)), 403)  # fmt: skip
    unconfirmed = api.client.post(f"{URL}/{purchase.id}/apply", json={}, headers=api.headers(Role.ADMIN))
    assert "confirm" in _problem(unconfirmed, 422)["detail"]
    plan = api.client.post(f"{URL}/{purchase.id}/apply", json={"dry_run": True}, headers=api.headers(Role.ADMIN))
    assert plan.status_code == 200, plan.text  # a dry run buys nothing: no confirmation needed
    assert plan.json()["steps"] == ["purchase sp-1y-0.50 for savings-plan:111 in the provider's console"]
    _problem(api.client.post(f"{URL}/{rec.id}/apply", json={"dry_run": "maybe"}, headers=api.headers(Role.ADMIN)), 422)
    dismissed = api.client.post(f"{URL}/{rec.id}/dismiss", headers=api.headers(Role.OPERATOR))
    assert dismissed.json()["status"] == "dismissed"
    _problem(api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)), 409)
    with Session(api.engine) as session:
        assert session.scalars(select(AuditEntry).where(AuditEntry.status_code == 409)).first() is not None


def test_running_the_analysis_needs_a_published_snapshot(api: Api) -> None:
    response = api.client.post("/api/cloud/costs/optimize", json={}, headers=api.headers(Role.OPERATOR))
    _problem(response, 503)
    _problem(api.client.post("/api/cloud/costs/optimize", json={}, headers=api.headers(Role.VIEWER)), 403)
    bad = api.client.post("/api/cloud/costs/optimize", json={"cpu_percentile": 97}, headers=api.headers(Role.OPERATOR))
    _problem(bad, 422)


# -- applying through boto3 against moto -----------------------------------------------------------


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def health_url() -> Iterator[tuple[str, type[_Health]]]:
    handler = type("Health", (_Health,), {"status": 200})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/healthz", handler
    server.shutdown()


def test_a_rightsizing_applied_to_ec2_changes_its_type_and_one_failing_its_health_check_is_put_back(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str], health_url: tuple[str, type[_Health]]
) -> None:
    ec2 = _aws_account(api, moto_endpoint, aws_keys)
    url, handler = health_url
    tags = [{"ResourceType": "instance", "Tags": [{"Key": "wedcloud:health-url", "Value": url}]}]
    ids = [
        i["InstanceId"]
        for i in ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=2, MaxCount=2, InstanceType="m5.4xlarge", TagSpecifications=tags
        )["Instances"]
    ]
    good, bad = (_rec(i, provider="wedsync-aws", target="m5.xlarge") for i in ids)
    _store(api, [good, bad], providers=("wedsync-aws",))
    operator = api.headers(Role.OPERATOR)

    assert _done(api, api.client.post(f"{URL}/{good.id}/apply", json={}, headers=operator))["status"] == "succeeded"
    handler.status = 503
    assert _done(api, api.client.post(f"{URL}/{bad.id}/apply", json={}, headers=operator))["status"] == "succeeded"

    types = {
        i["InstanceId"]: (i["InstanceType"], i["State"]["Name"])
        for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
        for i in r["Instances"]
    }
    assert types == {ids[0]: ("m5.xlarge", "running"), ids[1]: ("m5.4xlarge", "running")}
    viewer = api.headers(Role.VIEWER)
    assert api.client.get(f"{URL}/{good.id}", headers=viewer).json()["status"] == "applied"
    reverted = api.client.get(f"{URL}/{bad.id}", headers=viewer).json()
    assert reverted["status"] == "reverted"
    assert reverted["outcome"]["reason"] == f"{url} answered 503"
    assert [c["check"] for c in reverted["outcome"]["health"]] == ["state", "type", "health"]


def _aws_account(api: Api, moto_endpoint: str, keys: dict[str, str]) -> Any:
    """Register the moto account as provider ``wedsync-aws``; an EC2 client of it in eu-west-2."""
    body = {"kind": "aws", "name": "wedsync-aws", "default_region": "eu-west-2", "endpoint_url": moto_endpoint,
            "credentials": keys}  # fmt: skip
    assert api.client.post("/api/cloud/providers", json=body, headers=api.headers(Role.ADMIN)).status_code == 201
    return boto3.client(
        "ec2", region_name="eu-west-2", endpoint_url=moto_endpoint,
        aws_access_key_id=keys["access_key_id"], aws_secret_access_key=keys["secret_access_key"],
    )  # fmt: skip


def test_deleting_an_unattached_ebs_volume_on_aws_snapshots_it_first_through_the_adapter(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _aws_account(api, moto_endpoint, aws_keys)
    volume = ec2.create_volume(AvailabilityZone="eu-west-2a", Size=40)["VolumeId"]
    rec = _rec(volume, kind="unattached_disk", action="delete", target=None, provider="wedsync-aws")
    _store(api, [rec], providers=("wedsync-aws",))
    operation = _done(api, api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)))
    assert operation["status"] == "succeeded", operation
    snapshot = operation["result"]["snapshot"]["id"]
    assert operation["result"]["steps"] == [f"snapshot {volume}", f"delete {volume}"]
    assert operation["result"]["snapshot"]["state"] == "completed"  # whole before the volume was deleted
    (kept,) = ec2.describe_snapshots(SnapshotIds=[snapshot])["Snapshots"]
    assert (kept["VolumeId"], kept["VolumeSize"], kept["State"]) == (volume, 40, "completed")
    assert ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume]}])["Volumes"] == []


# -- applied schedules in force ---------------------------------------------------------------------


def _enforce(api: Api, store_url: str, now: datetime) -> None:
    providers = ProvidersResource(database_url=store_url, home=str(api.home), environment="test", now=now.isoformat())
    result = off_hours_job.execute_in_process(resources={"providers": providers}, raise_on_error=True)
    assert result.success


def test_an_applied_schedule_stops_its_machine_at_night_and_starts_it_in_the_morning_in_local_time(
    api: Api, store_url: str
) -> None:
    ids = _sandbox(api)
    box, other = ids["dev-box-1"], ids["dev-box-2"]
    spec = "off Mon-Thu 20:00-07:00, Fri 20:00-Mon 07:00; Europe/London"
    rec = _rec(box, kind="schedule", action="schedule", target=spec)
    _store(api, [rec])
    operation = _done(api, api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)))
    assert operation["result"]["after"]["tags"]["wedcloud:schedule"] == spec
    adapter = SandboxCloud(api.engine, flavour="aws", exports_dir=api.home / "exports")
    adapter.stop(other)  # stopped by a person, not by a schedule: it must stay stopped
    row_id = _known(api, box)

    _enforce(api, store_url, datetime(2026, 6, 16, 19, 30, tzinfo=UTC))  # Tuesday 20:30 BST
    assert adapter.describe(box).state.value == "stopped"
    assert adapter.describe(box).tags["wedcloud:stopped-by"] == "schedule"
    assert _states(api, row_id) == ("stopped", "stopped")  # what the schedule asked, and got
    _enforce(api, store_url, datetime(2026, 6, 17, 6, 5, tzinfo=UTC))  # Wednesday 07:05 BST
    started = adapter.describe(box)
    assert started.state.value == "running"
    assert "wedcloud:stopped-by" not in started.tags
    assert adapter.describe(other).state.value == "stopped"
    assert _states(api, row_id) == ("running", "running")


def test_an_applied_stop_asks_the_resource_to_stay_stopped(api: Api) -> None:
    box = _sandbox(api)["dev-box-1"]
    row_id = _known(api, box)
    rec = _rec(box, kind="idle", action="stop", target=None)
    _store(api, [rec])
    operation = _done(api, api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)))
    assert operation["status"] == "succeeded", operation
    assert _states(api, row_id) == ("stopped", "stopped")


def _known(api: Api, cloud_id: str) -> uuid.UUID:
    """A row for the sandbox instance ``cloud_id``, as a sync would have made."""
    row_id = uuid.uuid4()
    with Session(api.engine) as session, session.begin():
        provider = session.scalar(select(Provider).where(Provider.name == "sandbox-aws"))
        assert provider is not None
        session.add(Resource(
            id=row_id, provider_id=provider.id, cloud_id=cloud_id, name="dev-box-1", resource_type="compute",
            subtype="instance", region="eu-west-2", state="running",
        ))  # fmt: skip
    return row_id


def _states(api: Api, row_id: uuid.UUID) -> tuple[str, str | None]:
    with Session(api.engine) as session:
        row = session.get(Resource, row_id)
        assert row is not None
        return row.state, row.desired_state


def test_a_change_the_provider_refuses_is_reported_and_leaves_the_resource_as_it_was(api: Api) -> None:
    staging = _sandbox(api)["staging-old"]
    rec = _rec(staging, target="m9.imaginary")
    _store(api, [rec])
    operation = _done(api, api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)))
    assert operation["status"] == "succeeded", operation  # the apply ran; its outcome says what happened
    detail = api.client.get(f"{URL}/{rec.id}", headers=api.headers(Role.VIEWER)).json()
    assert detail["status"] == "reverted"
    assert detail["outcome"]["reason"].startswith("the change failed:")
    assert "m9.imaginary" in detail["outcome"]["reason"]
    assert (detail["outcome"]["after"]["size"], detail["outcome"]["after"]["state"]) == ("m5.large", "running")


def test_a_rightsizing_made_for_another_type_than_the_resource_has_now_is_refused(api: Api) -> None:
    staging = _sandbox(api)["staging-old"]  # an m5.large
    rec = Recommendation.build(
        kind="rightsize", provider="sandbox-aws", account_id="111", resource_id=staging, region="eu-west-2",
        action="resize", target="t3.large", monthly_saving=Decimal(10), currency="USD",
        evidence={"current": {"type": "m5.xlarge"}, "hourly_rate": "0.2"}, risk="low", risk_reason="",
        confidence=1, confidence_reason="",
    )  # fmt: skip
    _store(api, [rec])
    refused = api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR))
    assert "run the analysis again" in _problem(refused, 409)["detail"]
    with Session(api.engine) as session:
        assert session.get(RecommendationRow, rec.id).status == "open"  # type: ignore[union-attr]


def test_releasing_an_unattached_elastic_ip_needs_no_snapshot_and_releases_it(
    api: Api, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    ec2 = _aws_account(api, moto_endpoint, aws_keys)
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    rec = _rec(allocation, kind="unattached_ip", action="delete", target=None, provider="wedsync-aws")
    _store(api, [rec], providers=("wedsync-aws",))
    plan = api.client.post(f"{URL}/{rec.id}/apply", json={"dry_run": True}, headers=api.headers(Role.OPERATOR)).json()
    assert plan["steps"] == [f"release {allocation}"]
    operation = _done(api, api.client.post(f"{URL}/{rec.id}/apply", json={}, headers=api.headers(Role.OPERATOR)))
    assert operation["status"] == "succeeded", operation
    assert "snapshot" not in operation["result"]
    assert ec2.describe_addresses()["Addresses"] == []
