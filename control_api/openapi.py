"""The OpenAPI document, made to tell the truth about errors in one place.

FastAPI documents a 422 as ``HTTPValidationError`` in ``application/json``; every error this
API answers is an RFC 9457 problem in ``application/problem+json`` (``control_api.errors``).
This rewrites each operation's error responses to the ``Problem`` schema and adds the statuses
every operation can answer before or around its handler: 400 (a body that is not UTF-8 JSON),
401 and 403 (the key and its role), 404 (an id in the path or body that does not exist), 405
(handled by the router: see ``errors``), 409 (a change the state does not allow), 413 and 429
(the gate before routing: body size and rate limits), 422 (validation), and 502/503 where the
answer depends on a provider or on the store and snapshot.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string", "description": "urn:wedcloud:problem:<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong and what to do about it."},
        "instance": {"type": "string", "description": "The request's path."},
        "request_id": {"type": ["string", "null"], "description": "Quote it when reporting a problem."},
        "errors": {
            "type": "array",
            "description": "One entry per bad field (validation failures).",
            "items": {
                "type": "object",
                "properties": {
                    "location": {"type": "string"},
                    "field": {"type": ["string", "null"]},
                    "message": {"type": "string"},
                    "type": {"type": ["string", "null"]},
                    "pointer": {"type": "string", "description": "RFC 6901 JSON pointer into the body."},
                },
            },
        },
    },
    "additionalProperties": True,
}
EVERY_OPERATION = {
    401: "No API key, or one that is unknown or revoked.",
    403: "The key's role is not enough for this operation.",
    413: "The body is larger than the server accepts (WEDCLOUD_MAX_BODY_BYTES).",
    429: "Too many requests from this key or address; see Retry-After.",
    503: "The state store, the credential key or the serving snapshot is unavailable.",
}
WITH_BODY = {
    400: "The body is not UTF-8 JSON.",
    422: "A field is invalid; `errors` names each one.",
}
CHANGES = {409: "The resource's state, or an Idempotency-Key used for another request, does not allow it."}
FOUND_BY_ID = {404: "Something the request names by id does not exist."}
UPSTREAM = {502: "The provider failed or refused WedCloud's credentials."}
_CLOUD_PREFIXES = ("/api/cloud/providers/{", "/api/cloud/resources", "/api/cloud/costs/optimization/{")


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with every error response a Problem."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes, tags=app.openapi_tags
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            _complete(path, method.upper(), operation)
    app.openapi_schema = spec
    return spec


def _complete(path: str, method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    wanted: dict[int, str] = {}
    if path.startswith("/api/cloud/"):
        wanted.update(EVERY_OPERATION)
        if operation.get("parameters") or operation.get("requestBody"):
            wanted[422] = WITH_BODY[422]
        if operation.get("requestBody"):
            wanted.update(WITH_BODY)
        if "{" in path or (method == "POST" and operation.get("requestBody")):
            wanted.update(FOUND_BY_ID)
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            wanted.update(CHANGES)
        if path.startswith(_CLOUD_PREFIXES) and not (method == "GET" and path.endswith("/{provider_id}")):
            wanted.update(UPSTREAM)
    for code, description in wanted.items():
        responses.setdefault(str(code), {"description": description})
    for status, response in responses.items():
        if status.isdigit() and int(status) >= 400:
            response["content"] = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
            if status == "422" and response.get("description") == "Validation Error":
                response["description"] = WITH_BODY[422]
