"""``wedcloud serve``: the Dagster webserver and the Dagster daemon, two supervised processes.

Production's way of running the code location, instead of ``dagster dev``: the webserver serves
the UI and the GraphQL API, the daemon runs schedules and sensors and launches queued runs. Each
child runs in a session of its own; SIGINT or SIGTERM sent to ``serve`` is forwarded to both;
when either exits on its own the other is stopped and ``serve`` exits 1, so a service manager
(systemd, Kubernetes) restarts the pair.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pipelines.instance import (
    POSTGRES_URL_ENV,
    demo_config,
    postgres_url_problem,
    production_config,
    write_instance_config,
)
from pipelines.materialize import PROJECT_ROOT
from wedcloud.cli.context import console
from wedcloud.cli.processes import Child


@dataclass(frozen=True)
class ServeOptions:
    home: Path
    dagster_home: Path
    host: str
    port: int
    max_concurrent_runs: int


def code_location_args() -> tuple[list[str], Path | None]:
    """How the webserver and the daemon find the code location: workspace.yaml in a checkout,
    the module where the package is installed without it."""
    workspace = PROJECT_ROOT / "workspace.yaml"
    if workspace.exists():
        return ["-w", str(workspace)], PROJECT_ROOT
    return ["-m", "pipelines.definitions"], None


def children(options: ServeOptions) -> list[Child]:
    env = {
        **os.environ,
        "WEDCLOUD_HOME": str(options.home),
        "DAGSTER_HOME": str(options.dagster_home),
        "PYTHONUNBUFFERED": "1",
    }
    bin_dir = Path(sys.executable).parent
    target, cwd = code_location_args()
    webserver = [str(bin_dir / "dagster-webserver"), *target, "-h", options.host, "-p", str(options.port)]
    daemon = [str(bin_dir / "dagster-daemon"), "run", *target]
    return [Child("dagster-webserver", webserver, env, None, cwd), Child("dagster-daemon", daemon, env, None, cwd)]


def instance_template(max_concurrent_runs: int) -> dict[str, object]:
    """PostgreSQL storage and the run queue when its URL is configured; otherwise the demo's SQLite."""
    if os.environ.get(POSTGRES_URL_ENV):
        return production_config(max_concurrent_runs)
    return demo_config()


def run_serve(options: ServeOptions, poll_seconds: float = 0.2) -> int:
    if problem := postgres_url_problem():
        console.print(f"[red]cannot serve:[/] {problem}")
        return 2
    path = write_instance_config(options.dagster_home, instance_template(options.max_concurrent_runs))
    storage = "PostgreSQL" if os.environ.get(POSTGRES_URL_ENV) else "SQLite"
    console.print(f"Dagster instance {path} ({storage} storage)")
    received: list[int] = []

    def forward(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
    pair = children(options)
    try:
        for child in pair:
            child.start()
            assert child.process is not None
            console.print(f"started {child.name} (pid {child.process.pid})")
        while not received:
            for child in pair:
                if not child.running():
                    assert child.process is not None
                    console.print(f"[red]{child.name} exited with {child.process.returncode}; stopping the other[/]")
                    return 1
            time.sleep(poll_seconds)
        console.print(f"received {signal.Signals(received[0]).name}; stopping the webserver and the daemon")
        return 0
    finally:
        first = received[0] if received else signal.SIGTERM
        for child in pair:
            child.send(first)  # both at once: neither waits for the other to stop
        for child in pair:
            child.stop(first=first)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
