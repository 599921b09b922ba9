"""The command line a newcomer meets first."""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wedcloud.cli.demo import DemoOptions, run_demo
from wedcloud.cli.main import app
from wedcloud.cli.processes import Child


def test_help_explains_where_to_start() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "wedcloud demo" in result.stdout
    for command in ("demo", "materialize", "api", "keys", "sandbox", "db"):
        assert command in result.stdout


def test_keys_create_prints_a_key_once_and_stores_only_its_digest(tmp_path: Path) -> None:
    env = {"WEDCLOUD_HOME": str(tmp_path)}
    created = CliRunner().invoke(app, ["keys", "create", "--role", "operator", "--name", "ci"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    assert token.startswith("wck_")
    assert token.encode() not in (tmp_path / "state.db").read_bytes()
    listed = CliRunner().invoke(app, ["keys", "list"], env=env)
    assert "operator" in listed.stdout
    assert token not in listed.stdout


def test_the_demo_refuses_a_taken_port_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WEDCLOUD_HOME", str(tmp_path))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = run_demo(DemoOptions(api_port=port, ui_port=port + 1, seed=1, api_key=None, rebuild=False))
    assert code == 2
    assert f"port {port} on 127.0.0.1 is already in use" in capsys.readouterr().err
    assert not (tmp_path / "state.db").exists()  # refused before touching anything


def test_stopping_a_child_also_stops_the_processes_it_started(tmp_path: Path) -> None:
    # a parent that ignores SIGTERM and leaves a grandchild running, like a dev server can
    script = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "time.sleep(600)\n"
    )
    child = Child("stubborn", [sys.executable, "-c", script], dict(os.environ), tmp_path / "log")
    child.start()
    time.sleep(0.5)
    assert child.process is not None
    group = child.process.pid
    child.stop(timeout=1)
    assert not child.running()
    assert _live_members(group) == []


def _live_members(group: int) -> list[int]:
    """Processes of a process group that are still alive (zombies awaiting a reaper are not)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            alive.append(int(stat.parent.name))
    return alive
