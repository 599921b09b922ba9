"""A service's health page on a loopback port, down for its first requests: the primary region
is down while the watch probes it; after the failover's DNS switch the check reaches the DR
region, which answers."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.local_http import serving


class HealthPage:
    def __init__(self, down_for: int) -> None:
        self.failing = down_for  # how many of the next requests are answered 503
        self.requests = 0
        self._lock = threading.Lock()

    def down_for(self, requests: int) -> None:
        with self._lock:
            self.failing = requests

    def answer(self) -> int:
        with self._lock:
            self.requests += 1
            if self.failing > 0:
                self.failing -= 1
                return 503
            return 200

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        page = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status = page.answer()
                body = b"ok" if status == 200 else b"down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def health_page(monkeypatch: pytest.MonkeyPatch, *, down_for: int) -> Iterator[tuple[HealthPage, str]]:
    """The page and its URL, which the outbound guard lets the tests reach (a loopback address)."""
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", "true")
    monkeypatch.setattr("control_plane.disaster_recovery.health.PAUSE_SECONDS", 0.0)
    page = HealthPage(down_for)
    with serving(page.handler()) as port:
        yield page, f"http://127.0.0.1:{port}/healthz"
