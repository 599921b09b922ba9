"""Fan-out across API workers on PostgreSQL: `uvicorn --workers 2` in its own process, clients on
both workers, and an event published by another process (this one, standing in for the
collector) reaching every client through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
import pytest

from control_plane.security import Role
from control_plane.store.db import make_engine
from tests.control_api.streaming import PATH, StreamServer, collect, free_port, hello, make_keys, open_stream

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_workers(tmp_path: Path, migrated_postgres_url: str) -> Iterator[StreamServer]:
    engine = make_engine(migrated_postgres_url)
    keys = make_keys(engine)
    port = free_port()
    env = {
        **os.environ,
        "WEDCLOUD_HOME": str(tmp_path / "home"),
        "WEDCLOUD_DATABASE_URL": migrated_postgres_url,
        "WEDCLOUD_ENVIRONMENT": "test",
    }
    command = [sys.executable, "-m", "uvicorn", "control_api.asgi:app", "--workers", "2", "--port", str(port)]
    server = subprocess.Popen([*command, "--log-level", "warning"], env=env, cwd=ROOT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, "uvicorn exited while starting"
            assert time.monotonic() < deadline, "uvicorn did not answer within 60 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield StreamServer(f"ws://127.0.0.1:{port}{PATH}", engine, keys, app=None)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(5)
        engine.dispose()


def test_an_event_from_another_process_reaches_clients_on_both_workers(two_workers: StreamServer) -> None:
    key = two_workers.keys[Role.VIEWER]

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            clients = []
            workers: set[int] = set()
            for _ in range(60):  # until both workers hold clients (each worker answers a handshake)
                ws = await stack.enter_async_context(open_stream(two_workers.url, key=key, query="topics=alerts"))
                workers.add((await hello(ws))["worker_pid"])
                clients.append(ws)
                if len(workers) == 2 and len(clients) >= 4:
                    break
                await asyncio.sleep(0.05)  # the other worker may be the next to accept
            assert len(workers) == 2, "every handshake went to one worker"
            # each worker's lifespan starts its LISTEN before the worker serves: no wait needed
            first = await asyncio.to_thread(two_workers.publish, "alerts", {"from": "collector"}, severity="critical")
            second = await asyncio.to_thread(two_workers.publish, "alerts", {"from": "collector", "n": 2})
            for ws in clients:
                received = await collect(ws, 2)
                assert [item["id"] for item in received] == [first, second]
                assert received[0]["data"] == {"from": "collector"}

    asyncio.run(scenario())
