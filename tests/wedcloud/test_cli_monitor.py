"""``wedcloud monitor``: one cycle with --once, hooks after it, a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from clouds.sandbox.world import build_world, save_world
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import Resource
from control_plane.store.monitoring_models import MetricSample, MonitorStatus
from wedcloud.cli.context import CliContext
from wedcloud.cli.main import app
from wedcloud.cli.monitor import prepare_sandbox_monitoring, run_monitor
from wedcloud.sqltypes import utcnow

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home with the sandbox's world (today's), its providers and their synced inventory."""
    monkeypatch.setenv("WEDCLOUD_HOME", str(tmp_path))
    monkeypatch.setenv("WEDCLOUD_ENVIRONMENT", "test")
    engine = make_engine(f"sqlite:///{tmp_path / 'state.db'}")
    upgrade(engine)
    today = datetime.now(UTC).date()
    save_world(engine, build_world(4, today, today - timedelta(days=60)))
    engine.dispose()
    from control_plane.services.sandbox import register_sandbox_providers
    from control_plane.store.db import transaction

    context = CliContext()
    with transaction(context.sessions) as session:
        register_sandbox_providers(session)
    assert prepare_sandbox_monitoring(context, utcnow() - timedelta(minutes=1)) > 0
    context.engine.dispose()
    return tmp_path


def _count(home: Path, what: Any) -> int:
    engine = make_engine(f"sqlite:///{home / 'state.db'}")
    with Session(engine) as session:
        found = int(session.scalar(select(func.count()).select_from(what)) or 0)
    engine.dispose()
    return found


def test_monitor_once_collects_one_cycle_and_logs_one_line(home: Path) -> None:
    result = CliRunner().invoke(app, ["monitor", "--once"])
    assert result.exit_code == 0, result.output
    cycles = [line for line in result.stdout.splitlines() if line.startswith("cycle ")]
    assert len(cycles) == 1
    assert "3/3 providers" in cycles[0]
    assert _count(home, MetricSample) > 0
    assert _count(home, Resource) > 0
    assert _count(home, MonitorStatus) == 4  # three providers and the collector


def test_a_failing_hook_is_logged_and_the_next_hook_still_runs(home: Path) -> None:
    ran: list[int] = []

    def broken(*_: Any) -> None:
        raise RuntimeError("rules are broken")

    def counting(_sessions: Any, _now: Any, _settings: Any, report: Any) -> None:
        ran.append(report.samples)

    lines: list[str] = []
    assert run_monitor(once=True, hooks=[broken, counting], echo=lines.append) == 0
    assert ran
    assert ran[0] > 0
    assert any("hook broken failed" in line for line in lines)


def test_sigterm_stops_the_monitor_after_its_cycle(home: Path) -> None:
    env = {**os.environ, "WEDCLOUD_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "wedcloud.cli.main", "monitor", "--interval", "1"],
        env=env,
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        seen = []
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            seen.append(line)
            if line.startswith("cycle "):
                break
        assert any(line.startswith("cycle ") for line in seen), "".join(seen)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0
    assert "SIGTERM, stopping after this cycle" in out
    assert out.rstrip().endswith("monitor: stopped")
