"""What the stream tests share: the API under a real uvicorn server (in a thread of the test
process, on a free port), keys, publishing events, and reading messages with `websockets`."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from websockets.asyncio.client import ClientConnection, connect

from control_api.app import create_app
from control_api.settings import ApiSettings
from control_plane.monitoring import events
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade

PATH = "/api/cloud/monitoring/stream"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class StreamServer:
    url: str  # ws://127.0.0.1:port/api/cloud/monitoring/stream
    engine: Engine
    keys: dict[Role, str]
    app: Any

    def publish(self, topic: str, data: dict[str, Any] | None = None, **fields: Any) -> int:
        with Session(self.engine) as session, session.begin():
            return events.publish(session, topic, data or {}, **fields)

    def publish_many(self, items: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> list[int]:
        """Each (topic, data, fields) in its own transaction, in order; their ids."""
        return [self.publish(topic, data, **fields) for topic, data, fields in items]

    def headers(self, role: Role = Role.VIEWER) -> dict[str, str]:
        return {"X-API-Key": self.keys[role]}


def make_keys(engine: Engine) -> dict[Role, str]:
    keys = {}
    with Session(engine) as session, session.begin():
        for role in Role:
            _, keys[role] = create_key(session, name=f"stream-{role.value}", role=role)
    return keys


@contextmanager
def stream_server(home: Path, store_url: str, **settings: Any) -> Iterator[StreamServer]:
    """The API (with its stream hub) served by uvicorn in a thread until the block ends."""
    engine = make_engine(store_url)
    upgrade(engine)
    keys = make_keys(engine)
    app = create_app(ApiSettings(home=home, database_url=store_url, environment="test", **settings))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
        time.sleep(0.02)
    try:
        yield StreamServer(f"ws://127.0.0.1:{port}{PATH}", engine, keys, app)
    finally:
        server.should_exit = True
        thread.join(15)
        engine.dispose()


def open_stream(url: str, *, key: str | None = None, query: str = "", **options: Any) -> Any:
    """A `websockets` connection (an async context manager), the key in X-API-Key if given."""
    headers = {"X-API-Key": key} if key else None
    return connect(url + (f"?{query}" if query else ""), additional_headers=headers, open_timeout=10, **options)


async def message(ws: ClientConnection, timeout: float = 5.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout)))


async def hello(ws: ClientConnection) -> dict[str, Any]:
    first = await message(ws)
    assert first["type"] == "hello", first
    return first


async def collect(
    ws: ClientConnection, count: int, timeout: float = 10.0, *, kinds: tuple[str, ...] = ("event",)
) -> list[dict[str, Any]]:
    """The next ``count`` messages of the given types (pings and others skipped)."""
    found: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(found) < count:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"only {len(found)} of {count} messages arrived: {found[-3:]}"
        item = await message(ws, left)
        if item["type"] in kinds:
            found.append(item)
    return found


async def quiet(ws: ClientConnection, seconds: float) -> list[dict[str, Any]]:
    """The event messages that arrive within ``seconds`` (for proving none does)."""
    found = []
    try:
        while True:
            item = await message(ws, seconds)
            if item["type"] == "event":
                found.append(item)
    except TimeoutError:
        return found


def ids(messages: list[dict[str, Any]]) -> list[int]:
    return [int(item["id"]) for item in messages]


def some_id() -> str:
    return str(uuid.uuid4())
