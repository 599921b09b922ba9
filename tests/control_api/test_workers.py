"""Several API processes on one PostgreSQL store: two `wedcloud api` processes on two ports
(and one `wedcloud api --workers 2`), each with its own caches, answer as one API. A key revoked
in the store is refused by both at once; the same Idempotency-Key sent to both, one after the
other or at the same moment, is one operation that runs once; a change made through one
process is seen in the other's cached resource list."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from clouds.sandbox.world import build_world, save_world
from control_plane.security import Role
from control_plane.services.api_keys import create_key, revoke_key
from control_plane.store.db import make_engine
from control_plane.store.models import Operation, Resource
from tests.conftest import free_port, stop_group, wait_for_port
from wedcloud.cli.main import app as cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Worker:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


def _start(home: Path, database_url: str, *args: str) -> Worker:
    port = free_port()
    env = {
        **os.environ, "WEDCLOUD_HOME": str(home), "WEDCLOUD_DATABASE_URL": database_url,
        "WEDCLOUD_ENVIRONMENT": "test", "WEDCLOUD_RECONCILE_EVERY_SECONDS": "0",
    }  # fmt: skip
    # uvicorn's workers are spawned with -B when this is set, and then compile every module they
    # import from source at each start: minutes on a busy machine without bytecode in the venv
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    log = home / f"api-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "wedcloud.cli.main", "api", "--port", str(port), *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_for_port(port, process, 120)
    except RuntimeError:
        stop_group(process)
        raise RuntimeError(f"the API did not listen on {port}: {log.read_text()[-2000:]}") from None
    return Worker(process, f"http://127.0.0.1:{port}/api", log)


@dataclass
class Pair:
    a: Worker
    b: Worker
    engine: Engine
    keys: dict[Role, tuple[uuid.UUID, str]]
    provider_id: str

    def call(self, worker: Worker, method: str, path: str, role: Role = Role.OPERATOR, **kwargs: Any) -> httpx.Response:
        headers = {"X-API-Key": self.keys[role][1], **kwargs.pop("headers", {})}
        return httpx.request(method, f"{worker.url}/cloud{path}", headers=headers, timeout=30, **kwargs)

    def finished(self, worker: Worker, operation_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            operation: dict[str, Any] = self.call(worker, "GET", f"/operations/{operation_id}").json()
            if operation["status"] not in ("pending", "running"):
                return operation
            time.sleep(0.1)
        raise AssertionError(f"operation {operation_id} did not finish: {operation}")

    def count(self, model: Any, *where: Any) -> int:
        with Session(self.engine) as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


@pytest.fixture
def pair(tmp_path: Path, migrated_postgres_url: str) -> Iterator[Pair]:
    engine = make_engine(migrated_postgres_url)
    save_world(engine, build_world(1, date(2026, 3, 1), date(2026, 2, 1)))
    keys = {}
    with Session(engine) as session, session.begin():
        for role in (Role.VIEWER, Role.OPERATOR, Role.ADMIN):
            row, token = create_key(session, name=f"workers-{role.value}", role=role)
            keys[role] = (row.id, token)
    workers: list[Worker] = []
    try:
        workers = [_start(tmp_path, migrated_postgres_url), _start(tmp_path, migrated_postgres_url)]
        pair = Pair(workers[0], workers[1], engine, keys, "")
        body = {"kind": "sandbox", "name": "sandbox-aws", "flavour": "aws"}
        made = pair.call(pair.a, "POST", "/providers", Role.ADMIN, json=body)
        assert made.status_code == 201, made.text
        pair.provider_id = made.json()["id"]
        yield pair
    finally:
        for worker in workers:
            stop_group(worker.process)
        engine.dispose()


def _spec(provider_id: str, name: str) -> dict[str, Any]:
    return {"provider_id": provider_id, "name": name, "type": "compute", "size": "m5.large", "region": "eu-west-2"}


def test_a_key_revoked_in_the_store_is_refused_at_once_by_both_processes_that_cached_it(pair: Pair) -> None:
    key_id, _ = pair.keys[Role.VIEWER]
    for worker in (pair.a, pair.b, pair.a, pair.b):  # each process authenticates it, then serves it from its cache
        assert pair.call(worker, "GET", "/resources", Role.VIEWER).status_code == 200
    with Session(pair.engine) as session, session.begin():
        revoke_key(session, key_id=key_id)
    for worker in (pair.b, pair.a):
        refused = pair.call(worker, "GET", "/resources", Role.VIEWER)
        assert refused.status_code == 401, refused.text
        assert refused.json()["detail"] == "The API key is unknown or revoked."


def test_one_idempotency_key_sent_to_each_process_in_turn_is_one_operation_run_once(pair: Pair) -> None:
    headers = {"Idempotency-Key": "make-web-1"}
    first = pair.call(pair.a, "POST", "/resources", json=_spec(pair.provider_id, "web-1"), headers=headers)
    assert first.status_code == 202, first.text
    assert pair.finished(pair.a, first.json()["id"])["status"] == "succeeded"
    again = pair.call(pair.b, "POST", "/resources", json=_spec(pair.provider_id, "web-1"), headers=headers)
    assert again.status_code == 202, again.text
    assert again.json()["id"] == first.json()["id"]
    assert pair.finished(pair.b, again.json()["id"])["attempts"] == 1
    assert pair.count(Operation, Operation.kind == "provision") == 1
    assert pair.count(Resource, Resource.name == "web-1") == 1
    other = pair.call(pair.b, "POST", "/resources", json=_spec(pair.provider_id, "web-2"), headers=headers)
    assert other.status_code == 422
    assert "different request" in other.json()["detail"]


def _race(pair: Pair, body: dict[str, Any], headers: dict[str, str]) -> list[httpx.Response]:
    """The same request sent to A and to B from two threads released together."""
    start = threading.Barrier(2)
    answers: list[httpx.Response] = []

    def send(worker: Worker) -> None:
        start.wait()
        answers.append(pair.call(worker, "POST", "/resources", json=body, headers=headers))

    threads = [threading.Thread(target=send, args=(worker,)) for worker in (pair.a, pair.b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def test_one_idempotency_key_sent_to_both_processes_at_the_same_moment_is_one_operation(pair: Pair) -> None:
    rounds = 4
    for round_ in range(rounds):
        name = f"race-{round_}"
        answers = _race(pair, _spec(pair.provider_id, name), {"Idempotency-Key": f"race-key-{round_}"})
        assert [answer.status_code for answer in answers] == [202, 202], [answer.text for answer in answers]
        assert answers[0].json()["id"] == answers[1].json()["id"]
        operation = pair.finished(pair.a, answers[0].json()["id"])
        assert operation["status"] == "succeeded", operation
        assert operation["attempts"] == 1
        assert pair.count(Resource, Resource.name == name) == 1
    assert pair.count(Operation, Operation.kind == "provision") == rounds


def test_a_change_through_one_process_shows_in_the_other_s_cached_resource_list(pair: Pair) -> None:
    def names(worker: Worker) -> dict[str, dict[str, str]]:
        page = pair.call(worker, "GET", "/resources?sort=name", Role.VIEWER)
        assert page.status_code == 200
        return {item["name"]: item["tags"] for item in page.json()["items"]}

    before = names(pair.b)
    assert names(pair.b) == before  # the second is B's cached page
    made = pair.call(pair.a, "POST", "/resources", json=_spec(pair.provider_id, "fresh-1"))
    operation = pair.finished(pair.a, made.json()["id"])
    assert operation["status"] == "succeeded", operation
    after = names(pair.b)
    assert set(after) == set(before) | {"fresh-1"}
    assert names(pair.b) == after  # cached again, at the new counter
    resource_id = operation["result"]["resource_id"]
    tagged = pair.call(pair.a, "PUT", f"/resources/{resource_id}", json={"tags": {"team": "search"}})
    assert tagged.status_code == 200, tagged.text
    assert names(pair.b)["fresh-1"] == {"team": "search"}


def test_wedcloud_api_with_two_workers_migrates_once_and_answers_from_both(tmp_path: Path, postgres_url: str) -> None:
    api = _start(tmp_path, postgres_url, "--workers", "2")  # an empty database: both workers start migrating it
    try:
        engine = make_engine(postgres_url)
        deadline = time.monotonic() + 60
        while httpx.get(f"{api.url}/healthz", timeout=5).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        with Session(engine) as session, session.begin():
            _, key = create_key(session, name="smoke", role=Role.VIEWER)
        engine.dispose()
        with httpx.Client(base_url=api.url, timeout=30) as client:  # a connection each: the kernel spreads them
            answers = [client.get("/cloud/resources", headers={"X-API-Key": key}) for _ in range(20)]
        assert {answer.status_code for answer in answers} == {200}
    finally:
        stop_group(api.process)
    output = api.log.read_text()
    assert output.count("Started server process") == 2, output
    assert "Traceback" not in output, output
    access = [json.loads(line) for line in output.splitlines() if line.startswith('{"')]
    assert any(line["logger"] == "control_api.access" and line["status"] == 200 for line in access), output
    assert '"GET /api/cloud/resources HTTP/1.1" 200' not in output  # uvicorn's own access line is off


def test_several_workers_on_sqlite_are_refused_with_the_reason(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["api", "--workers", "2"], env={"WEDCLOUD_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert "PostgreSQL" in result.output
    assert "WEDCLOUD_DATABASE_URL" in result.output
