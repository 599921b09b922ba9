"""Errors every adapter raises, so callers never catch an SDK's own exception types."""

from __future__ import annotations


class CloudError(Exception):
    """Base class. ``retryable`` tells callers whether the same call may succeed later."""

    retryable = False


class ResourceNotFound(CloudError):
    def __init__(self, resource_id: str) -> None:
        super().__init__(f"resource {resource_id!r} does not exist")
        self.resource_id = resource_id


class InvalidStateTransition(CloudError):
    """The resource's lifecycle does not allow the requested change right now."""

    def __init__(self, resource_id: str, state: str, action: str) -> None:
        super().__init__(f"cannot {action} resource {resource_id!r} while it is {state}")
        self.resource_id = resource_id
        self.state = state
        self.action = action


class UnsupportedRequest(CloudError):
    """The request names something the provider does not offer (type, region, size)."""


class Throttled(CloudError):
    retryable = True


class AuthenticationFailed(CloudError):
    pass
