"""Raw ASGI calls to an app, without a server or a client library in between: fast enough for
floods, and the only way to see what the app read of a body (``Body.read``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import anyio
from fastapi import FastAPI


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    chunks_read: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Body:
    """A request body handed out in chunks of ``chunk`` bytes, ``total`` in all; counts reads."""

    total: int
    chunk: int = 64 * 1024
    read: int = 0
    sent: int = field(default=0)

    async def receive(self) -> dict[str, Any]:
        if self.sent >= self.total:
            await anyio.sleep_forever()  # as a server does: wait for the client's disconnect
        self.read += 1
        size = min(self.chunk, self.total - self.sent)
        self.sent += size
        return {"type": "http.request", "body": b"{" * size, "more_body": self.sent < self.total}


async def call(
    app: FastAPI,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: Body | None = None,
    client: str = "203.0.113.7",
) -> Answer:
    body = body or Body(0)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": (client, 50000),
        "server": ("testserver", 80),
        "app": app,
    }
    answer = Answer(0, {}, b"", 0)

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode().lower(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, body.receive, send)
    answer.chunks_read = body.read
    return answer
