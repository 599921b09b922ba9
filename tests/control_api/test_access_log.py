"""The access log: one JSON line per request on stderr, with the request id, the method, the
path without its query, the status, the duration, the client and the key's name; never a key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from control_api.app import create_app
from tests.control_api.conftest import home_with_viewer


def _app(tmp_path: Path, **settings: Any) -> tuple[TestClient, str]:
    config, key = home_with_viewer(tmp_path, "reader", **settings)
    return TestClient(create_app(config)), key


def _access_lines(err: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "control_api.access"]


def test_each_request_is_one_json_line_with_its_id_status_duration_and_key_name_but_no_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client, key = _app(tmp_path, log_format="text")  # access lines are JSON whatever the app's own logs are
    with client:
        headers = {"X-API-Key": key, "X-Request-ID": "req-1"}
        ok = client.get("/api/cloud/resources?limit=3&api_key=leaked", headers=headers)
        refused = client.get("/api/cloud/resources", headers={"Authorization": "Bearer not-a-key"})
    assert ok.status_code == 200
    assert refused.status_code == 401
    err = capsys.readouterr().err
    lines = _access_lines(err)
    assert [line["status"] for line in lines] == [200, 401]
    first, second = lines
    assert first["request_id"] == "req-1" == ok.headers["x-request-id"]
    assert first["method"] == "GET"
    assert first["path"] == "/api/cloud/resources"
    assert first["principal"] == "reader"
    assert first["client"] == "testclient"
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] > 0
    assert first["message"] == "GET /api/cloud/resources 200"
    assert second["request_id"] == refused.headers["x-request-id"]
    assert second["principal"] is None
    for secret in (key, "leaked", "not-a-key"):
        assert secret not in err


def test_the_access_log_can_be_turned_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client, key = _app(tmp_path, access_log=False)
    with client:
        assert client.get("/api/cloud/resources", headers={"X-API-Key": key}).status_code == 200
    assert _access_lines(capsys.readouterr().err) == []
