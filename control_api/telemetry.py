"""OpenTelemetry traces of the API's requests, optional twice over: the SDK comes with the
``otel`` extra (``pip install 'wedcloud[otel]'``), and the standard variables turn it on.

Traces are on when the SDK is importable and ``OTEL_TRACES_EXPORTER`` or an OTLP endpoint
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, and
``OTEL_SDK_DISABLED`` is not ``true``. Otherwise nothing is imported and nothing is
instrumented. The exporters are ``otlp`` (``OTEL_EXPORTER_OTLP_PROTOCOL``: ``http/protobuf``,
the default, or ``grpc``), ``console`` and ``none``; the SDK itself reads the rest
(``OTEL_SERVICE_NAME``, default ``wedcloud-api``; ``OTEL_RESOURCE_ATTRIBUTES``;
``OTEL_TRACES_SAMPLER``; ``OTEL_BSP_*``; the exporter's headers and timeouts).

Each server span carries ``wedcloud.request_id`` (the ``X-Request-ID`` answered) and, once
the gate has authenticated the caller, ``wedcloud.principal`` (the key's name). URLs are
recorded without their query string. The tracer provider is the app's own, not the global
one, and is flushed and shut down with the app.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# probes every few seconds from each load balancer would drown the traces worth reading
PROBES = "api/healthz,api/readyz"


def tracing_requested(environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(environ)
    if exporters:
        return exporters != ["none"]
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    return [name.strip().lower() for name in environ.get("OTEL_TRACES_EXPORTER", "").split(",") if name.strip()]


def install_tracing(app: FastAPI, environ: Mapping[str, str] | None = None) -> Any | None:
    """Instrument ``app`` when the variables ask for traces and the SDK is there; returns the
    tracer provider (call its ``shutdown()`` when the app stops), or None."""
    environ = os.environ if environ is None else environ
    if not tracing_requested(environ):
        return None
    try:
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        log.warning("OTEL_* variables ask for traces but the otel extra is not installed (%s); no traces", exc)
        return None
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: "wedcloud-api"}))
    provider = TracerProvider(resource=resource)
    for exporter in _exporters(environ):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=provider,
        server_request_hook=_without_query,
        excluded_urls=environ.get("OTEL_PYTHON_FASTAPI_EXCLUDED_URLS", PROBES),
        exclude_spans=["receive", "send"],  # a span per ASGI message is noise, not insight
    )
    log.info("OpenTelemetry traces on: %s", ", ".join(_exporter_names(environ) or ["otlp"]))
    return provider


def _exporters(environ: Mapping[str, str]) -> list[Any]:
    exporters: list[Any] = []
    for name in _exporter_names(environ) or ["otlp"]:
        if name == "otlp":
            exporters.append(_otlp(environ))
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            log.warning("OTEL_TRACES_EXPORTER names %r, which WedCloud does not know; it is ignored", name)
    return exporters


def _otlp(environ: Mapping[str, str]) -> Any:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if (protocol or "").strip().lower() == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter()
    if protocol and protocol.strip().lower() != "http/protobuf":
        log.warning("OTLP protocol %r is not supported; exporting over http/protobuf", protocol)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _without_query(span: Any, scope: dict[str, Any]) -> None:
    """A query string may hold anything a client put there (a key, by mistake): keep it out."""
    if not span.is_recording():
        return
    for attribute in ("http.target", "url.path"):
        span.set_attribute(attribute, scope.get("path", ""))
    host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
    span.set_attribute("http.url", f"{scope.get('scheme', 'http')}://{host}{scope.get('path', '')}")
    if "url.query" in (getattr(span, "attributes", None) or {}):  # the stable conventions' name
        span.set_attribute("url.query", "")


class RequestIdOnSpan:
    """Inside ``RequestContextMiddleware``: puts the request id, and afterwards the caller's key
    name, on the current server span."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from opentelemetry import trace

        span = trace.get_current_span()
        state = scope.get("state", {})
        if span.is_recording() and "request_id" in state:
            span.set_attribute("wedcloud.request_id", state["request_id"])

        async def send_naming_the_caller(message: Message) -> None:
            # by the answer's start the gate has run; the span may end as soon as the body has gone
            principal = state.get("principal")
            if message["type"] == "http.response.start" and principal is not None and span.is_recording():
                span.set_attribute("wedcloud.principal", principal.name)
            await send(message)

        await self.app(scope, receive, send_naming_the_caller)
