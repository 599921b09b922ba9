"""``wedcloud serve``: the Dagster webserver and daemon as two supervised processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port


def start_serve(home: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log = home / "serve.log"
    env = {**os.environ, "WEDCLOUD_HOME": str(home), "WEDCLOUD_ENVIRONMENT": "test"}
    for name in ("DAGSTER_HOME", "WEDCLOUD_DAGSTER_POSTGRES_URL", "WEDCLOUD_DATABASE_URL"):
        env.pop(name, None)
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "wedcloud.cli.main", "serve", "--port", str(free_port())],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, log


def children_of(pid: int) -> dict[str, int]:
    """The direct children of ``pid``, by the program they run (webserver or daemon)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        programs = [Path(arg.decode()).name for arg in argv[:2]]  # a script runs as `python script`
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            for program in programs:
                if program.startswith("dagster-"):
                    found[program] = int(entry.name)
    return found


def wait_for_children(process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = children_of(process.pid)
        if {"dagster-webserver", "dagster-daemon"} <= set(found):
            return found
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"serve did not start both processes: {log.read_text()}")


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie nobody reaped yet: it has exited


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, dict[str, int]]]:
    process, log = start_serve(tmp_path)
    try:
        yield process, log, wait_for_children(process, log)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_serve_runs_the_webserver_and_the_daemon_and_stops_both_on_sigterm(
    served: tuple[subprocess.Popen[bytes], Path, dict[str, int]], tmp_path: Path
) -> None:
    process, log, pids = served
    assert "dev" not in Path(f"/proc/{pids['dagster-daemon']}/cmdline").read_bytes().split(b"\0")
    config = yaml.safe_load((tmp_path / "dagster" / "dagster.yaml").read_text())
    assert config["concurrency"]["pools"]["default_limit"] == 1
    process.send_signal(signal.SIGTERM)
    assert process.wait(60) == 0, log.read_text()
    assert all(gone(pid) for pid in pids.values())
    assert "received SIGTERM" in log.read_text()


def test_when_the_daemon_dies_serve_stops_the_webserver_and_exits_non_zero(
    served: tuple[subprocess.Popen[bytes], Path, dict[str, int]],
) -> None:
    process, log, pids = served
    os.kill(pids["dagster-daemon"], signal.SIGKILL)
    assert process.wait(60) == 1, log.read_text()
    assert gone(pids["dagster-webserver"])
    assert "dagster-daemon exited with -9; stopping the other" in log.read_text()
