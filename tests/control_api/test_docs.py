"""``/api/docs`` on a machine without internet: Swagger UI's files come from the package, and
the page, in a real headless Chromium that cannot resolve any other host, draws every
operation of the OpenAPI document."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from control_api.app import create_app
from control_api.settings import ApiSettings
from control_api.transport import DOCS_CSP
from tests.browser import OFFLINE, Chromium, find_chromium
from tests.conftest import free_port, require


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API served by a real uvicorn on this machine, in a thread."""
    home = tmp_path_factory.mktemp("docs")
    settings = ApiSettings(
        home=home / "home", database_url=f"sqlite:///{home / 'state.db'}", environment="test", reconcile_every_seconds=0
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_the_docs_page_and_its_assets_come_from_this_origin_only(api_url: str) -> None:
    page = httpx.get(f"{api_url}/api/docs")
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == DOCS_CSP.decode()
    assert "https:" not in page.headers["content-security-policy"]  # no CDN is allowed, even if linked
    assert re.findall(r"https?://", page.text) == []  # the page names no other host
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(assets) == 4  # icon, stylesheet, Swagger UI, its start-up script
    for asset in assets:
        answer = httpx.get(f"{api_url}{asset}")
        assert answer.status_code == 200, asset
        assert answer.headers["content-security-policy"] == DOCS_CSP.decode()
        assert len(answer.content) > 100, asset


@pytest.mark.integration
def test_the_docs_render_every_operation_in_chromium_with_the_network_off(api_url: str) -> None:
    path = find_chromium()
    require(path is not None, "Chromium is missing: ./dev test installs Debian's chromium (apt-get install chromium)")
    assert path is not None
    operations = [
        op["operationId"]
        for item in httpx.get(f"{api_url}/api/openapi.json").json()["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    # Swagger UI fetches the document after the page loads: give that virtual time to finish
    dom = Chromium(path).dump_dom(f"{api_url}/api/docs", *OFFLINE, "--virtual-time-budget=20000")
    assert re.search(r'<h1 class="title">WedCloud API', dom), dom[:3000]
    drawn = [op for op in operations if re.search(rf'<div class="opblock [^"]*" id="operations-[\w-]+-{op}">', dom)]
    assert drawn == operations
    assert len(operations) > 40
