"""SIGKILL of the API process mid-operation: uvicorn in a subprocess provisions an EC2 instance
through the fault proxy, which holds the RunInstances call; the process is killed, started
again, and its reconciler takes the operation over once the dead process's lease expires. The
operation ends, moto has the instance once, and the store says what moto says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy.orm import Session

from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from tests.conftest import free_port, wait_for_port
from tests.emulators.fault_proxy import FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEYS = {"access_key_id": "AKIAIOSFODNN7EXAMPLE", "secret_access_key": "testing-secret-not-real"}


def _start(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ, "WEDCLOUD_HOME": str(home), "WEDCLOUD_ENVIRONMENT": "test",
        "WEDCLOUD_RECONCILE_EVERY_SECONDS": "0.5", "WEDCLOUD_OPERATION_LEASE_SECONDS": "1.5",
    }  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "control_api.asgi:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    wait_for_port(port, process, 30)
    return process


def _call(port: int, method: str, path: str, key: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/cloud{path}", data=data, method=method,
        headers={"X-API-Key": key, "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    fault_proxy = FaultProxy(moto_endpoint)
    yield fault_proxy
    fault_proxy.stop()
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310


def test_an_api_killed_mid_provision_finishes_it_after_restart_with_one_instance(
    tmp_path: Path, proxy: FaultProxy, moto_endpoint: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    engine = make_engine(f"sqlite:///{home / 'state.db'}")
    upgrade(engine)
    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="admin", role=Role.ADMIN)
    engine.dispose()
    port = free_port()
    api = _start(home, port)
    try:
        status, provider = _call(port, "POST", "/providers", key, {
            "kind": "aws", "name": "crashy", "default_region": "eu-west-2", "endpoint_url": proxy.url,
            "credentials": KEYS,
        })  # fmt: skip
        assert status == 201, provider
        proxy.inject("RunInstances", "hold")
        spec = {"provider_id": provider["id"], "name": "survivor", "type": "compute", "size": "t3.micro",
                "region": "eu-west-2", "image": "ami-12c6146b", "tags": {"api_token": "tok-1"}}  # fmt: skip
        status, operation = _call(port, "POST", "/resources", key, spec)
        assert status == 202, operation
        assert proxy.holding.wait(20)  # the provision is inside the cloud call now
        os.killpg(api.pid, signal.SIGKILL)
        api.wait(10)
        proxy.released.set()
        api = _start(home, port)
        deadline, seen = time.monotonic() + 30, operation
        while time.monotonic() < deadline and seen["status"] in ("pending", "running"):
            time.sleep(0.3)
            seen = _call(port, "GET", f"/operations/{operation['id']}", key)[1]
        assert seen["status"] == "succeeded", seen
        assert seen["attempts"] == 2
        keys = {"aws_access_key_id": KEYS["access_key_id"], "aws_secret_access_key": KEYS["secret_access_key"]}
        ec2 = boto3.client("ec2", region_name="eu-west-2", endpoint_url=moto_endpoint, **keys)
        instances = [
            i for r in ec2.describe_instances(Filters=[{"Name": "tag:Name", "Values": ["survivor"]}])["Reservations"]
            for i in r["Instances"]
        ]  # fmt: skip
        assert len(instances) == 1
        assert {t["Key"]: t["Value"] for t in instances[0]["Tags"]}["api_token"] == "tok-1"
        _, row = _call(port, "GET", f"/resources/{seen['result']['resource_id']}", key)
        assert row["cloud_id"] == instances[0]["InstanceId"]
    finally:
        os.killpg(api.pid, signal.SIGKILL)
        api.wait(10)
