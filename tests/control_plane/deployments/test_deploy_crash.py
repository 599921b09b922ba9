"""SIGKILL of the API between two steps of a deployment on AWS (the moto server behind the fault
proxy). The apply runs one step at a time; the second step's call reaches moto (the Auto Scaling
group is made) but its answer is held, and the process is killed then, with the first step done
and the second one's result never written. The API is started again; once the dead process's
lease expires its reconciler takes the operation over and settles the interrupted step with the
same client token. With ``on_failure: rollback`` moto afterwards holds exactly what it held
before the deployment; with ``pause`` it holds everything the template asks for, once each. In
both, what moto holds is what the store records."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from clouds.aws.api import TOKEN_TAG
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.deployment_models import DeploymentResource
from control_plane.store.migrate import upgrade
from control_plane.store.models import Resource
from tests.conftest import free_port
from tests.control_api.test_crash_recovery import KEYS, _call, _start
from tests.control_plane.deployments.moto_listing import Moto
from tests.emulators.fault_proxy import FaultProxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REGION = "eu-west-2"
AMI = "ami-12c6146b"
CHAIN = """
resources:
  db:
    provider: crashy
    type: database
    region: eu-west-2
    size: db.t3.micro
    options: {engine: postgres, storage_gb: 20}
  web:
    provider: crashy
    type: instance_group
    region: eu-west-2
    size: t3.micro
    depends_on: [db]
    options: {min: 1, max: 2, desired: 1, launch_template: crash-web}
    tags: {db: "${resources.db.endpoint}"}
  scratch:
    provider: crashy
    type: volume
    region: eu-west-2
    size: 20GB
    depends_on: [web]
"""


@pytest.fixture
def proxy(moto_endpoint: str) -> Iterator[FaultProxy]:
    # ``timeout`` forwards the call to moto and holds the answer this long: past the kill
    fault_proxy = FaultProxy(moto_endpoint, timeout_hold_seconds=120)
    yield fault_proxy
    fault_proxy.stop()
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).close()  # noqa: S310


def _until(seconds: float, what: str, check: Any) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _recorded(store_url: str, deployment_id: str, provider_id: str) -> tuple[list[str], list[str]]:
    """(cloud ids the deployment holds, cloud ids of the provider's resource rows alive)."""
    engine = make_engine(store_url)
    try:
        with Session(engine) as session:
            held = session.scalars(
                select(DeploymentResource.cloud_id).where(DeploymentResource.deployment_id == uuid.UUID(deployment_id))
            )
            rows = session.scalars(
                select(Resource.cloud_id).where(
                    Resource.provider_id == uuid.UUID(provider_id), Resource.state.not_in(("terminated", "failed"))
                )
            )
            return sorted(c for c in held if c), sorted(rows)
    finally:
        engine.dispose()


# each on_failure once, each store once: a kill costs about 12 s, and the journal's logic is
# covered on both stores for both values without a process (test_engine.py)
@pytest.fixture(
    params=[
        pytest.param(("sqlite", "rollback"), id="sqlite-rollback"),
        pytest.param(("postgresql", "pause"), id="postgresql-pause", marks=pytest.mark.integration),
    ]
)
def case(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(the state store's URL, the deployment's on_failure)."""
    store, on_failure = request.param
    if store == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}", on_failure
    return str(request.getfixturevalue("migrated_postgres_url")), on_failure


def test_an_api_killed_between_two_steps_is_finished_or_rolled_back_with_nothing_lost_or_doubled(
    tmp_path: Path, case: tuple[str, str], proxy: FaultProxy, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url, on_failure = case
    home = tmp_path / "home"
    home.mkdir()
    engine = make_engine(store_url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        _, key = create_key(session, name="admin", role=Role.ADMIN)
    engine.dispose()
    monkeypatch.setenv("WEDCLOUD_DATABASE_URL", store_url)
    monkeypatch.setenv("WEDCLOUD_DEPLOY_PARALLELISM", "1")
    moto = Moto(moto_endpoint, KEYS, REGION)
    moto.client("ec2").create_launch_template(
        LaunchTemplateName="crash-web", LaunchTemplateData={"ImageId": AMI, "InstanceType": "t3.micro"}
    )
    before = moto.listing()
    port = free_port()
    api = _start(home, port)
    try:
        status, provider = _call(port, "POST", "/providers", key, {
            "kind": "aws", "name": "crashy", "default_region": REGION, "endpoint_url": proxy.url, "credentials": KEYS,
        })  # fmt: skip
        assert status == 201, provider
        proxy.inject("CreateAutoScalingGroup", "timeout")
        body = {"name": "crash", "template": CHAIN, "parameters": {}, "on_failure": on_failure}
        status, accepted = _call(port, "POST", "/deployments", key, body)
        assert status == 202, accepted
        deployment_id = str(accepted["deployment_id"])
        # the group is made at moto, its answer held: the first step is done, the second mid-call
        _until(30, "the group's creation at moto", lambda: moto.listing()["groups"])
        assert moto.listing()["databases"] == ["crash-db"]
        _kill(api)
        proxy.released.set()
        assert [v for v in moto.listing()["volumes"] if not v[2]] == []  # the third step never began
        api = _start(home, port)
        operation = _until(
            60, "the operation's end",
            lambda: (seen := _call(port, "GET", f"/operations/{accepted['id']}", key)[1])["status"]
            not in ("pending", "running") and seen,
        )  # fmt: skip
        _, detail = _call(port, "GET", f"/deployments/{deployment_id}", key)
        held, rows = _recorded(store_url, deployment_id, provider["id"])
        in_moto = moto.tagged_ids(deployment_id)
        if on_failure == "rollback":
            assert operation["status"] == "failed", operation
            assert detail["status"] in ("failed", "rolled_back"), detail
            assert moto.listing() == before  # the group and its instances, the database: gone
            assert (held, rows, in_moto) == ([], [], [])
        else:
            assert operation["status"] == "succeeded", operation
            assert detail["status"] == "deployed", detail
            listing = moto.listing()
            assert listing["databases"] == ["crash-db"]
            assert [g[0] for g in listing["groups"]] == ["crash-web"]
            assert [size for _, size, attached in listing["volumes"] if not attached] == [20]
            assert len(in_moto) == 3
            assert held == rows == in_moto  # moto holds what the store records, each once
        tokens = Counter(tags.get(TOKEN_TAG) for tags in moto.all_tagged().values() if tags.get(TOKEN_TAG))
        assert all(count == 1 for count in tokens.values()), tokens
        _, logs = _call(port, "GET", f"/deployments/{deployment_id}/logs", key)
        assert any("reconciler took over" in line["message"] for line in logs["items"])
    finally:
        _kill(api)
