"""Headers every answer carries, and the app class that puts them outside everything else.

``WedCloudApi`` wraps Starlette's whole middleware stack, its server-error handler included,
so that a 500 gets the same headers as a 200. HSTS is sent when the request came over TLS
(``scheme`` is https: uvicorn with ``--tls-cert``, or a trusted proxy's X-Forwarded-Proto).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = b"content-security-policy"
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (CSP, b"frame-ancestors 'none'"),
)
# /api/docs (control_api/docs.py) serves Swagger UI from this origin: its page and assets may load
# from here only. Swagger UI's CSS and React set inline styles, and its CSS draws icons as data: SVGs.
DOCS_PREFIX = "/api/docs"
DOCS_CSP = (
    b"default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    b"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def _headers_for(scope: Scope) -> list[tuple[bytes, bytes]]:
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    path = path.removeprefix(root) if root and path.startswith(root + "/") else path
    headers = list(SECURITY_HEADERS)
    if path == DOCS_PREFIX or path.startswith(DOCS_PREFIX + "/"):
        headers = [(name, DOCS_CSP if name == CSP else value) for name, value in headers]
    return [*headers, HSTS] if scope.get("scheme") == "https" else headers


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = _headers_for(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                # a page that sets its own policy (a dashboard: its script's nonce) keeps it
                own = any(k.lower() == CSP for k, _ in headers)
                added = [(k, v) for k, v in extra if not (own and k == CSP)]
                dropped = {k for k, _ in added}
                kept = [(k, v) for k, v in headers if k.lower() not in dropped]
                message["headers"] = kept + added
            await send(message)

        await self.app(scope, receive, send_with_headers)


class WedCloudApi(FastAPI):
    # Around the app's call rather than in build_middleware_stack, which instrumentation
    # (OpenTelemetry's, control_api.telemetry) rebuilds and expects to start with ServerErrorMiddleware.
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await SecurityHeaders(super().__call__)(scope, receive, send)
