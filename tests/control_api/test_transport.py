"""Transport: security headers on every answer, HSTS over TLS (`wedcloud api --tls-cert
--tls-key`, a real uvicorn with a self-signed certificate), CORS only for listed origins, and
the API's docs off in production."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi.testclient import TestClient
from pydantic import ValidationError

from control_api.app import create_app
from control_api.settings import ApiSettings
from tests.conftest import free_port, stop_group, wait_for_port

SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "content-security-policy": "frame-ancestors 'none'",
}


def _client(tmp_path: Path, **overrides: Any) -> TestClient:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    settings = ApiSettings(home=tmp_path / "home", database_url=url, environment="test", **overrides)
    app = create_app(settings)

    @app.get("/api/boom", include_in_schema=False)
    def boom() -> None:
        raise RuntimeError("an unexpected failure")

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with _client(tmp_path_factory.mktemp("transport")) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "status"),
    [("/api/healthz", 200), ("/api/cloud/providers", 401), ("/api/nothing", 404), ("/api/boom", 500)],
)
def test_every_answer_carries_the_security_headers_and_no_hsts_over_http(
    client: TestClient, path: str, status: int
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert {name: response.headers.get(name) for name in SECURITY} == SECURITY
    assert "strict-transport-security" not in response.headers


def test_the_docs_may_load_from_this_origin_only_and_not_be_framed(client: TestClient) -> None:
    policy = client.get("/api/docs").headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no CDN, no inline script
    assert directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert client.get("/api/healthz").headers["content-security-policy"] == "frame-ancestors 'none'"


def test_cors_is_off_by_default(client: TestClient) -> None:
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"}
    response = client.options("/api/cloud/providers", headers=preflight)
    assert "access-control-allow-origin" not in response.headers


def test_cors_answers_only_the_listed_origins(tmp_path: Path) -> None:
    with _client(tmp_path, cors_origins="https://app.example.com, https://ops.example.com/") as client:
        asked = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key"}
        allowed = client.options("/api/cloud/providers", headers={"Origin": "https://ops.example.com", **asked})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://ops.example.com"
        other = client.options("/api/cloud/providers", headers={"Origin": "https://evil.example", **asked})
        assert "access-control-allow-origin" not in other.headers
        refused = client.get("/api/cloud/providers", headers={"Origin": "https://app.example.com"})
        assert (refused.status_code, refused.headers["access-control-allow-origin"]) == (401, "https://app.example.com")


@pytest.mark.parametrize("origins", ["*", "https://app.example.com/path", "app.example.com"])
def test_a_cors_wildcard_or_a_url_that_is_not_an_origin_is_refused(origins: str) -> None:
    with pytest.raises(ValidationError, match="cors_origins"):
        ApiSettings(cors_origins=origins)


@pytest.mark.parametrize(
    ("environment", "api_docs", "served"), [("production", None, False), ("production", True, True)]
)
def test_the_docs_are_off_in_production_unless_asked_for(
    tmp_path: Path, environment: str, api_docs: bool | None, served: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    settings = ApiSettings(home=tmp_path / "home", database_url=url, environment=environment, api_docs=api_docs)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        paths = ("/api/docs", "/api/openapi.json", "/api/docs/assets/swagger-ui/swagger-ui-bundle.js")
        statuses = {path: client.get(path).status_code for path in paths}
    assert statuses == dict.fromkeys(statuses, 200 if served else 404)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@pytest.mark.slow  # a real uvicorn in a subprocess: the CLI's start-up and migrations, several seconds
def test_the_api_serves_https_with_hsts_given_a_certificate_and_key(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    port = free_port()
    env = {**os.environ, "WEDCLOUD_HOME": str(tmp_path / "home"), "WEDCLOUD_ENVIRONMENT": "test",
           "WEDCLOUD_RECONCILE_EVERY_SECONDS": "0"}  # fmt: skip
    env.pop("WEDCLOUD_DATABASE_URL", None)
    command = [sys.executable, "-m", "wedcloud.cli.main", "api", "--port", str(port)]
    command += ["--tls-cert", str(cert), "--tls-key", str(key)]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port(port, process, 30)
        trusted = ssl.create_default_context(cafile=str(cert))
        response = httpx.get(f"https://127.0.0.1:{port}/api/healthz", verify=trusted, timeout=10)
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=31536000")
        assert response.headers["x-content-type-options"] == "nosniff"
        with pytest.raises(httpx.HTTPError):  # no plain HTTP on the TLS port
            httpx.get(f"http://127.0.0.1:{port}/api/healthz", timeout=5)
    finally:
        stop_group(process)
