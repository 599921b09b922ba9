"""A small threaded HTTP server for the cloud REST emulators.

Each emulator registers routes (method and a path regex) whose handlers take a ``Request`` and
return a ``Reply``. The server runs in a daemon thread on a free port of 127.0.0.1, speaks
HTTP/1.1 with keep-alive (the SDKs reuse connections), and disables Nagle's algorithm: without
that every small response waits for the peer's delayed ACK, about 45 ms a request here.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route's pattern
    principal: str | None = None  # who made it, where the emulator authenticates callers

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-serialisable, or bytes sent as they are
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Reply]


class HttpError(Exception):
    """Raised by a handler to answer with an error body in the emulated cloud's own shape."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status, self.body = status, body


class Emulator:
    """Routes plus a server; subclasses register their routes in ``__init__``."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.lock = threading.RLock()  # handlers run on several threads
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, for assertions

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Emulator:
        emulator = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _dispatch(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                request = Request(self.command, parts.path, query, dict(self.headers.items()), body)
                with emulator.lock:
                    emulator.requests.append((self.command, parts.path))
                reply = emulator.dispatch(request)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                if reply.body is None:
                    payload = b""
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json"} | reply.headers
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def dispatch(self, request: Request) -> Reply:
        allowed = False
        for method, pattern, handler in self._routes:
            found = pattern.fullmatch(request.path)
            if not found:
                continue
            if method != request.method:
                allowed = True
                continue
            request.params = found.groupdict()
            try:
                return handler(request)
            except HttpError as error:
                return Reply(error.status, error.body)
        if allowed:
            return Reply(405, self.error_body(405, f"{request.method} not allowed on {request.path}"))
        return Reply(404, self.error_body(404, f"no such resource: {request.path}"))

    def error_body(self, status: int, message: str) -> Any:
        """The emulated cloud's error shape; subclasses override."""
        return {"error": {"code": status, "message": message}}
