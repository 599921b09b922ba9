"""OpenTelemetry traces: on with the standard OTEL_* variables, exported over OTLP/HTTP to a
receiver on this machine that decodes what it gets with OpenTelemetry's own protobuf types; off
(nothing instrumented) without them, or without the SDK."""

from __future__ import annotations

import http.server
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from control_api.app import create_app
from control_api.settings import ApiSettings
from control_api.telemetry import tracing_requested
from tests.control_api.conftest import home_with_viewer
from tests.local_http import serving

OTEL_VARIABLES = (
    "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
)  # fmt: skip
received: list[ExportTraceServiceRequest] = []


class Collector(http.server.BaseHTTPRequestHandler):
    """The OTLP/HTTP trace endpoint (POST /v1/traces, application/x-protobuf)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            received.append(request)
            self.send_response(200)
        else:
            self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    received.clear()
    with serving(Collector) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture
def no_otel(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def _settings(tmp_path: Path) -> tuple[ApiSettings, str]:
    return home_with_viewer(tmp_path, "tracer")


def _spans() -> list[Any]:
    return [span for request in received for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


def _attributes(span: Any) -> dict[str, Any]:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


@pytest.mark.usefixtures("no_otel")
def test_with_an_otlp_endpoint_a_request_is_a_server_span_with_its_request_id_and_key_name(
    tmp_path: Path, collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setenv("OTEL_SERVICE_NAME", "api-under-test")
    settings, key = _settings(tmp_path)
    app = create_app(settings)
    assert app.state.tracing is not None
    with TestClient(app) as client:
        answer = client.get(
            "/api/cloud/resources?limit=5&x_api_key=oops", headers={"X-API-Key": key, "X-Request-ID": "trace-me-1"}
        )
        assert answer.status_code == 200
        assert client.get("/api/healthz").status_code == 200
    # leaving the client stops the app, which flushes the batch to the collector
    servers = [span for span in _spans() if span.kind == span.SPAN_KIND_SERVER]
    assert len(servers) == 1  # the probe is not traced
    attributes = _attributes(servers[0])
    assert servers[0].name == "GET /api/cloud/resources"
    assert attributes["wedcloud.request_id"] == "trace-me-1"
    assert attributes["wedcloud.principal"] == "tracer"
    assert attributes["http.status_code"] == 200
    assert not any("oops" in str(value) for value in attributes.values())  # no query string anywhere
    service = {a.key: a.value.string_value for a in received[0].resource_spans[0].resource.attributes}
    assert service["service.name"] == "api-under-test"


@pytest.mark.usefixtures("no_otel")
def test_without_otel_variables_nothing_is_instrumented_or_exported(tmp_path: Path, collector: str) -> None:
    settings, key = _settings(tmp_path)
    app = create_app(settings)
    assert app.state.tracing is None
    with TestClient(app) as client:
        assert client.get("/api/cloud/resources", headers={"X-API-Key": key}).status_code == 200
    assert not getattr(app, "_is_instrumented_by_opentelemetry", False)
    assert received == []


@pytest.mark.usefixtures("no_otel")
def test_variables_set_without_the_sdk_installed_leave_the_app_working_untraced(
    tmp_path: Path, collector: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if the extra were not installed
    settings, key = _settings(tmp_path)
    app = create_app(settings)
    assert app.state.tracing is None
    with TestClient(app) as client:
        assert client.get("/api/cloud/resources", headers={"X-API-Key": key}).status_code == 200
    assert received == []


def test_which_variables_turn_traces_on() -> None:
    assert not tracing_requested({})
    assert not tracing_requested({"OTEL_SERVICE_NAME": "x"})  # a name says nothing about where to send
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_requested({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert not tracing_requested({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})
