"""RFC 9457 problem details for every error the API returns.

Every error response has ``type``, ``title``, ``status``, ``detail`` and ``instance``, plus
``errors`` (one entry per bad field) for validation failures and ``request_id`` so that a
caller can quote it. Internal details of unexpected errors are logged, never returned.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from clouds import errors as cloud_errors
from control_plane.services import errors as service_errors

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)

_STATUS_OF: dict[type[service_errors.ServiceError], int] = {
    service_errors.NotFound: 404,
    service_errors.Conflict: 409,
    service_errors.InvalidRequest: 422,
    service_errors.Unavailable: 503,
}
# A cloud's answer, passed on: what the caller asked of it, or the cloud itself, was at fault.
_CLOUD_STATUS: dict[type[cloud_errors.CloudError], tuple[int, str]] = {
    cloud_errors.ResourceNotFound: (404, "The resource does not exist at the provider"),
    cloud_errors.InvalidStateTransition: (409, "Not allowed in the resource's state"),
    cloud_errors.UnsupportedRequest: (422, "The provider cannot do this"),
    cloud_errors.Throttled: (503, "The provider is busy or unreachable"),
    cloud_errors.AuthenticationFailed: (502, "The provider refused WedCloud's credentials"),
}


_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "request_id", "slug", "headers"})


def problem_type(slug: str) -> str:
    return f"urn:wedcloud:problem:{slug}"


def _slug(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "-")
    except ValueError:
        return "error"


def problem_response(
    request: Request,
    status: int,
    *,
    detail: str,
    title: str | None = None,
    slug: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": problem_type(slug or _slug(status)),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


class ProblemException(Exception):
    """Raised by dependencies (auth) that must answer with a specific problem."""

    def __init__(
        self, status: int, detail: str, *, slug: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.headers = headers


def _pointer(parts: list[str]) -> str:
    """RFC 6901: the JSON pointer of a body field from its path."""
    return "".join("/" + part.replace("~", "~0").replace("/", "~1") for part in parts)


def _from_pointer(error: Any) -> Any:
    """A problem a service names by JSON pointer (a template's: ``/template/resources/db``) gets
    the ``location`` and ``field`` every other validation error has, beside its pointer."""
    if not isinstance(error, dict) or not isinstance(error.get("pointer"), str) or "field" in error:
        return error
    parts = [p.replace("~1", "/").replace("~0", "~") for p in error["pointer"].split("/")[1:]]
    return {"location": "body", "field": ".".join(parts) or None, **error}


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    # A body that is one of several kinds (a discriminated union) reports its errors under the
    # kind's tag (body.aws.name); the caller wrote body.name.
    kind = exc.body.get("kind") if isinstance(exc.body, dict) else None
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        if kind is not None and len(location) > 2 and location[0] == "body" and location[1] == str(kind):
            del location[1]
        if len(location) > 2 and location[0] == "query" and location[-1].isdigit():
            del location[-1]  # a repeated parameter's item: the caller wrote the parameter
        if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):  # the tag itself is wrong
            location.append(str(error.get("ctx", {}).get("discriminator", "kind")).strip("'"))
        entry = {
            "location": location[0] if location else "body",
            "field": ".".join(location[1:]) or None,
            "message": error.get("msg", "invalid value"),
            "type": error.get("type"),
        }
        if entry["location"] == "body":
            entry["pointer"] = _pointer(location[1:])
        out.append(entry)
    return out


def _allowed_methods(request: Request) -> list[str]:
    """The methods some route answers at the request's path (each tried as the router would)."""
    allowed = []
    for method in ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT"):
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemException)
    async def _problem(request: Request, exc: ProblemException) -> JSONResponse:
        return problem_response(request, exc.status, detail=exc.detail, slug=exc.slug, headers=exc.headers)

    @app.exception_handler(service_errors.ServiceError)
    async def _service(request: Request, exc: service_errors.ServiceError) -> JSONResponse:
        status = next((s for cls, s in _STATUS_OF.items() if isinstance(exc, cls)), 400)
        # an extra never replaces a member every problem has (a service's ``status=`` is its own)
        extra = {key: value for key, value in exc.extra.items() if key not in _MEMBERS}
        if isinstance(extra.get("errors"), list):
            extra = {**extra, "errors": [_from_pointer(error) for error in extra["errors"]]}
        return problem_response(request, status, detail=exc.detail, title=exc.title, **extra)

    @app.exception_handler(cloud_errors.CloudError)
    async def _cloud(request: Request, exc: cloud_errors.CloudError) -> JSONResponse:
        status, title = next(
            (found for cls, found in _CLOUD_STATUS.items() if isinstance(exc, cls)), (502, "The provider failed")
        )
        headers = {"Retry-After": "30"} if exc.retryable else None
        return problem_response(request, status, detail=str(exc), title=title, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        fields = ", ".join(e["field"] or e["location"] for e in errors)
        return problem_response(
            request,
            422,
            title="Validation failed",
            slug="validation-error",
            detail=f"{len(errors)} invalid field(s): {fields}. See 'errors' for what each needs.",
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"No endpoint at {request.url.path}; see /api/docs for the API."
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path served by several
            # routes (GET and POST on one path) allows them all
            allowed = _allowed_methods(request)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
        return problem_response(request, exc.status_code, detail=detail, headers=headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"request_id": getattr(request.state, "request_id", None)})
        return problem_response(
            request,
            500,
            detail="An unexpected error occurred; it has been logged. Quote the request_id when reporting it.",
        )
