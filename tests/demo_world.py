"""The demo's world as a user running ``./dev demo`` on DEMO_DAY saw it, built once per test
session and copied into each module that asks for it (the ``demo`` fixture in tests/conftest.py).

Everything that reads a clock is pinned to DEMO_DAY, so the world and the figures tests check
do not move with the calendar:
- the sandbox is built with ``as_of=DEMO_DAY``: its bills run through the day before, its
  GPU experiment (four ``gpu-experiment-N`` p3.2xlarge in the AWS dev account) ran from 12 to 9
  days before (2026-11-24 to 27), and the planted budget overran in November;
- the optimisation inputs' clock is DEMO_DAY at midnight (``PipelineSettings.now``);
- ``pinned_clock`` pins the sandbox's and the apply path's clocks for tests that change things.

Building costs about 70 s (25 months through Dagster). Under pytest-xdist every worker shares
one build: the first to take the lock builds, the others wait and copy."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from clouds.sandbox.blueprint import PLANTED_BUDGETS
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.services.sandbox import build_sandbox, register_planted_budgets, register_sandbox_providers
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, materialize_months, months_between, register_sources
from pipelines.settings import PipelineSettings
from wedcloud.home import HomeLayout

DEMO_DAY = date(2026, 12, 6)  # the day the finance review of issue 14 ran the demo
SEED = 20260214  # the demo's
NOW = datetime(DEMO_DAY.year, DEMO_DAY.month, DEMO_DAY.day, tzinfo=UTC)
BUILT = "demo.json"


@dataclass(frozen=True)
class Demo:
    layout: HomeLayout
    key: str  # viewer
    operator_key: str
    admin_key: str
    dev_account: str  # the AWS dev sub-account of the planted budget and the GPU experiment
    ids: dict[tuple[str, str], str]  # (flavour, resource name) -> id
    names: dict[str, str]  # resource id -> name
    history_start: date
    as_of: date

    @property
    def settings(self) -> PipelineSettings:
        return PipelineSettings(home=self.layout.root, billing_start=self.history_start, now=NOW)


def _build(root: Path) -> None:
    layout = HomeLayout(root / "home").ensure()
    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    world = build_sandbox(engine, layout, seed=SEED, as_of=DEMO_DAY, months=24)
    with Session(engine) as session, session.begin():
        names = [str(provider.id) for provider in register_sandbox_providers(session)]  # partition keys
        register_planted_budgets(session, world)
        keys = {role: create_key(session, name=f"demo-{role.value}", role=role)[1] for role in Role}
    settings = PipelineSettings(home=layout.root, billing_start=world.history_start, now=NOW)
    previous = os.environ.get("DAGSTER_HOME")
    try:
        with dagster_instance(layout.dagster_home) as instance:
            register_sources(instance, names)
            materialize_months(build_definitions(settings), instance, months_between(world.history_start, DEMO_DAY))
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
    spec = PLANTED_BUDGETS[0]
    dev = next(a for a in world.accounts_of(spec.flavour) if a.role == spec.account_role)
    engine.dispose()
    facts = {
        "keys": {role.value: key for role, key in keys.items()},
        "dev_account": dev.id,
        "resources": [[r.flavour.value, r.name, r.id] for r in world.resources],
        "history_start": world.history_start.isoformat(),
        "as_of": world.as_of.isoformat(),
    }
    (root / BUILT).write_text(json.dumps(facts))


def _shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # pytest-xdist gives each worker its own basetemp under one shared parent
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def demo_copy(tmp_path_factory: pytest.TempPathFactory, name: str) -> Demo:
    """A private copy of the session's demo world (built on first use) under a new folder."""
    shared = _shared_root(tmp_path_factory) / f"demo-world-{SEED}-{DEMO_DAY.isoformat()}"
    shared.mkdir(parents=True, exist_ok=True)
    with open(shared.parent / f"{shared.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / BUILT).exists():
                shutil.rmtree(shared / "home", ignore_errors=True)  # a build that died half-way
                _build(shared)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    target = tmp_path_factory.mktemp(name) / "home"
    shutil.copytree(shared / "home", target)
    facts = json.loads((shared / BUILT).read_text())
    resources = facts["resources"]
    return Demo(
        layout=HomeLayout(target),
        key=facts["keys"][Role.VIEWER.value],
        operator_key=facts["keys"][Role.OPERATOR.value],
        admin_key=facts["keys"][Role.ADMIN.value],
        dev_account=facts["dev_account"],
        ids={(flavour, rname): rid for flavour, rname, rid in resources},
        names={rid: rname for _, rname, rid in resources},
        history_start=date.fromisoformat(facts["history_start"]),
        as_of=date.fromisoformat(facts["as_of"]),
    )


def pinned_clock(monkeypatch: pytest.MonkeyPatch, at: datetime) -> list[datetime]:
    """Pin the sandbox's clock and the apply path's to ``at`` until the test ends; the returned
    one-item list moves them (``clock[0] += timedelta(...)``)."""
    import clouds.sandbox.provider as sandbox_provider
    import control_plane.services.applying as applying

    clock = [at]
    monkeypatch.setattr(sandbox_provider, "_utcnow", lambda: clock[0])
    monkeypatch.setattr(applying, "utcnow", lambda: clock[0])
    return clock


def wait_for_operation(client: TestClient, location: str, seconds: float = 20) -> dict[str, Any]:
    """Poll an operation's ``Location`` until it has ended; fail the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        operation = client.get(location).json()
        if operation["status"] in ("succeeded", "failed"):
            return dict(operation)
        time.sleep(0.05)
    raise AssertionError(f"{location} did not finish in {seconds} s")
