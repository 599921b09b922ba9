"""The health-URL probe (``wedcloud:health-url``, issue 13 item 7): what it refuses it reports as
an unhealthy check with the reason, without fetching it and without raising."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from control_plane.services.health import http_health
from tests.local_http import serving


class _Admin(http.server.BaseHTTPRequestHandler):
    """An admin port on this machine, and a service whose health page redirects to it."""

    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).paths.append(self.path)
        status = {"/moved": 302, "/broken": 500}.get(self.path, 200)
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/internal-admin")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def local() -> Iterator[str]:
    with serving(_Admin) as port:
        yield f"127.0.0.1:{port}"


@pytest.mark.parametrize(
    ("url", "why"),
    [("file:///etc/passwd", "scheme"), ("data:text/plain;base64,b2s=", "scheme"), ("gopher://{local}/", "scheme"),
     ("http://{local}/internal-admin", "loopback"), ("http://[::1]:9/", "loopback"),
     ("http://169.254.169.254/latest/meta-data/iam", "metadata"), ("http://[fd00:ec2::254]/", "metadata"),
     ("http://100.64.0.1/", "carrier-grade"), ("http://[2002:7f00:1::]/", "6to4"),
     ("http://admin:pw@{local}/", "credentials"), ("http://localhost:1/", "loopback")],
)  # fmt: skip
def test_a_health_url_the_guard_refuses_is_unhealthy_with_the_reason_and_never_fetched(
    local: str, monkeypatch: pytest.MonkeyPatch, url: str, why: str
) -> None:
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", "false")
    _Admin.paths.clear()
    waits: list[float] = []
    healthy, detail = http_health(url.format(local=local), sleep=waits.append)
    assert healthy is False
    assert "refused" in detail
    assert why in detail
    assert _Admin.paths == []
    assert waits == []  # a refusal is final: no retry


def test_a_redirect_is_unhealthy_and_not_followed(local: str) -> None:
    _Admin.paths.clear()
    healthy, detail = http_health(f"http://{local}/moved", sleep=lambda s: None)
    assert healthy is False
    assert "redirect" in detail
    assert _Admin.paths == ["/moved"]


def test_a_private_health_url_is_probed_when_allowed_and_retried_until_it_gives_up(local: str) -> None:
    waits: list[float] = []
    assert http_health(f"http://{local}/healthz", sleep=waits.append) == (True, f"http://{local}/healthz answered 200")
    _Admin.paths.clear()
    healthy, detail = http_health(f"http://{local}/broken", attempts=3, pause_seconds=0.5, sleep=waits.append)
    assert (healthy, detail) == (False, f"http://{local}/broken answered 500")
    assert (_Admin.paths, waits) == (["/broken"] * 3, [0.5, 0.5])
