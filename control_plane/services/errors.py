"""Errors the services raise; ``control_api.errors`` turns them into problem+json."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base class. ``detail`` is written for the caller: it says what to fix."""

    title = "Request failed"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(ServiceError):
    title = "Not found"


class Conflict(ServiceError):
    title = "Conflict"


class InvalidRequest(ServiceError):
    title = "Invalid request"


class Unavailable(ServiceError):
    title = "Service unavailable"
