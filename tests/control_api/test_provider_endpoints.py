"""Where a provider's credentials may be sent (issue 13, item 6): an endpoint must be the cloud's
own (or a local emulator while they are allowed), and moving it needs the credentials again."""

from __future__ import annotations

import http.server
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.security import Role
from control_plane.store.models import Provider
from tests.control_api.conftest import Api
from tests.emulators.azure_compute import AzureComputeEmulator
from tests.local_http import serving

PROBLEM = "application/problem+json"
URL = "/api/cloud/providers"
SUBSCRIPTION = "00000000-0000-0000-0000-00000000e1d0"
TOKEN = "bearer-token-that-must-stay-home"


class _Listener(http.server.BaseHTTPRequestHandler):
    """A host someone would like the credentials sent to: it records what reaches it."""

    heard: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).heard.append(dict(self.headers))
        body = b'{"value": [], "displayName": "echo me", "state": "Enabled"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def listener() -> Iterator[str]:
    with serving(_Listener) as port:
        yield f"http://127.0.0.1:{port}"


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    return dict(response.json())


def _azure(api: Api, endpoint: str) -> dict[str, Any]:
    body = {"kind": "azure", "name": "wedsync-azure", "subscription_id": SUBSCRIPTION, "default_region": "uksouth",
            "credentials": {"access_token": TOKEN}, "endpoint_url": endpoint, "poll_seconds": 0}  # fmt: skip
    response = api.client.post(URL, json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.integration
def test_moving_the_endpoint_without_the_credentials_is_refused_and_nothing_reaches_the_new_host(
    api: Api, azure_compute: AzureComputeEmulator, listener: str
) -> None:
    created = _azure(api, azure_compute.url)
    _Listener.heard.clear()
    put = api.client.put(f"{URL}/{created['id']}", json={"name": "moved", "endpoint_url": listener},
                         headers=api.headers(Role.ADMIN))  # fmt: skip
    problem = _problem(put, 422)
    assert [e["field"] for e in problem["errors"]] == ["credentials"]
    assert api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json() == created
    api.client.post(f"{URL}/{created['id']}/test-connection", headers=api.headers(Role.OPERATOR))
    assert _Listener.heard == []


@pytest.mark.integration
def test_moving_the_endpoint_with_the_credentials_in_the_same_request_is_accepted(
    api: Api, azure_compute: AzureComputeEmulator
) -> None:
    created = _azure(api, "https://management.azure.com")
    body = {"endpoint_url": azure_compute.url, "credentials": {"access_token": "a-new-token-for-the-new-place"}}
    response = api.client.put(f"{URL}/{created['id']}", json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["endpoint_url"] == azure_compute.url
    assert response.json()["last_check"] is None


REFUSED = [
    ("http://169.254.169.254/latest/meta-data", "metadata"), ("https://[fd00:ec2::254]", "metadata"),
    ("https://10.0.0.7", "private"), ("https://100.64.3.4", "carrier-grade"), ("https://192.168.1.1:8443", "private"),
    ("https://attacker.example.net", "not an endpoint"), ("https://ec2.amazonaws.com.attacker.net", "not an"),
    ("https://AKIA:secret@ec2.eu-west-2.amazonaws.com", "credentials"),
    ("http://ec2.eu-west-2.amazonaws.com", "https"), ("http://127.0.0.1:5000", "emulators"),
    ("http://localhost:5000", "emulators"),
]  # fmt: skip


def test_an_endpoint_outside_the_clouds_own_is_refused_naming_the_field(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_EMULATORS", "false")
    for endpoint, why in REFUSED:  # one API for all of them: each case is a request, not a setup
        body = {"kind": "aws", "name": "wedsync-aws", "default_region": "eu-west-2", "endpoint_url": endpoint}
        problem = _problem(api.client.post(URL, json=body, headers=api.headers(Role.ADMIN)), 422)
        assert why in problem["detail"], endpoint
        assert [e["field"] for e in problem["errors"]] == ["endpoint_url"], endpoint
    with Session(api.engine) as session:
        assert session.scalar(select(Provider.id)) is None
    body = {"kind": "aws", "name": "wedsync-aws", "default_region": "eu-west-2",
            "endpoint_url": "https://ec2.eu-west-2.amazonaws.com"}  # fmt: skip
    response = api.client.post(URL, json=body, headers=api.headers(Role.ADMIN))
    assert response.status_code == 201, response.text


def test_a_stored_endpoint_no_longer_allowed_gets_no_credentials_and_echoes_nothing(
    api: Api, listener: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = _azure(api, listener)  # emulators allowed when it was saved
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_EMULATORS", "false")
    _Listener.heard.clear()
    for method, path in [("post", "test-connection"), ("get", "regions"), ("get", "services")]:
        response = getattr(api.client, method)(f"{URL}/{created['id']}/{path}", headers=api.headers(Role.OPERATOR))
        problem = _problem(response, 409)
        assert "echo me" not in response.text
        assert "no longer sends credentials" in problem["detail"]
    assert _Listener.heard == []
