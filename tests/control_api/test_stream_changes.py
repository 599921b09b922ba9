"""Operations and resources on the stream: every status change of an operation and every change
of a resource's state or desired state is published in the transaction that makes it, on SQLite
and PostgreSQL; what WedCloud asks of a resource is kept as its desired state."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from control_plane.monitoring import events
from control_plane.store.models import Resource
from tests.control_api.conftest import Api
from tests.control_api.test_resources import _act, _done, _provider, _provision


def _events(api: Api, after: int, topic: str) -> list[dict[str, Any]]:
    with Session(api.engine) as session:
        return [e.message() for e in events.events_after(session, after) if e.topic == topic]


def _newest(api: Api) -> int:
    with Session(api.engine) as session:
        return events.newest_id(session)


def test_a_provision_publishes_its_operation_and_the_new_resource_with_running_desired(api: Api) -> None:
    provider_id = _provider(api)
    before = _newest(api)
    made = _provision(api, provider_id, name="web-events")
    operations = _events(api, before, "operations")
    assert [e["data"]["status"] for e in operations] == ["pending", "running", "succeeded"]
    assert {e["data"]["id"] for e in operations} == {operations[0]["data"]["id"]}
    assert all(e["data"]["kind"] == "provision" and e["data"]["resource_id"] == made["id"] for e in operations)
    assert all(e["resource_id"] == made["id"] and e["provider_id"] == provider_id for e in operations)
    changes = [e["data"] for e in _events(api, before, "resources")]
    assert [(c["state"], c["desired_state"]) for c in changes] == [("provisioning", "running"), ("running", "running")]
    assert changes[-1] == {
        "id": made["id"], "name": "web-events", "state": "running", "desired_state": "running",
        "provider_id": provider_id,
    }  # fmt: skip
    with Session(api.engine) as session:
        row = session.get(Resource, uuid.UUID(made["id"]))
        assert row is not None
        assert row.desired_state == "running"


def test_stop_and_terminate_ask_for_their_state_and_publish_each_change(api: Api) -> None:
    provider_id = _provider(api)
    made = _provision(api, provider_id, name="web-stop")
    before = _newest(api)
    assert _done(api, _act(api, made["id"], "stop"))["status"] == "succeeded"
    stopped = [(e["data"]["state"], e["data"]["desired_state"]) for e in _events(api, before, "resources")]
    assert stopped == [("running", "stopped"), ("stopped", "stopped")]  # asked first, then done
    middle = _newest(api)
    assert _done(api, _act(api, made["id"], "start"))["status"] == "succeeded"
    started = [(e["data"]["state"], e["data"]["desired_state"]) for e in _events(api, middle, "resources")]
    assert started == [("stopped", "running"), ("running", "running")]


def test_a_refused_action_publishes_nothing(api: Api) -> None:
    provider_id = _provider(api)
    made = _provision(api, provider_id, name="web-refused", type="storage", size="100GB", subtype="volume")
    before = _newest(api)
    refused = _act(api, made["id"], "stop")
    assert refused.status_code == 409
    assert _events(api, before, "operations") == []
    assert _events(api, before, "resources") == []
    with Session(api.engine) as session:
        row = session.get(Resource, uuid.UUID(made["id"]))
        assert row is not None
        assert (row.state, row.desired_state) == ("available", "available")
