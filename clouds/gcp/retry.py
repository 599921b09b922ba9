"""Google API calls that wait and try again when Google is busy.

Google answers 429 (``RESOURCE_EXHAUSTED``: a quota per minute is spent) and 503 (``UNAVAILABLE``)
to a request it did not act on, so the request can be sent again. The generated clients retry
only some reads, and only on 503; :func:`retrying` wraps a client so that every call retries
both, with exponential backoff (``backoff`` seconds first, doubling, at most 32 times that) for
up to 120 times ``backoff`` seconds. Pagers get the same retry for the pages after the first.
When Google is still busy at the end, the last 429 or 503 is raised as it came (not
``RetryError``), so the adapters' error translation reports it as :class:`clouds.errors.Throttled`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as google_errors
from google.api_core import retry as google_retry

BUSY = (google_errors.TooManyRequests, google_errors.ServiceUnavailable)


class BusyRetry(google_retry.Retry):
    """``google.api_core``'s retry on 429 and 503 that gives up with the last error Google sent."""

    def __call__(self, func: Callable[..., Any], on_error: Callable[[Exception], Any] | None = None) -> Any:
        retried = super().__call__(func, on_error)

        @functools.wraps(func)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return retried(*args, **kwargs)
            except google_errors.RetryError as exc:
                if isinstance(exc.cause, google_errors.GoogleAPICallError):
                    raise exc.cause from exc
                raise

        return call


def busy_retry(backoff: float = 1.0) -> BusyRetry:
    return BusyRetry(
        predicate=google_retry.if_exception_type(*BUSY),
        initial=backoff,
        maximum=backoff * 32,
        multiplier=2.0,
        timeout=backoff * 120,
    )


@functools.cache
def _takes_retry(kind: type, name: str) -> bool:
    try:
        return "retry" in inspect.signature(getattr(kind, name)).parameters
    except (TypeError, ValueError):
        return False


class Retrying:
    """A Google client whose public methods that take ``retry`` get ``BusyRetry`` unless the
    caller passes one; everything else is the client's own."""

    def __init__(self, client: Any, retry: BusyRetry) -> None:
        self._client, self._retry = client, retry

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        kind: type = type(self._client)
        if name.startswith("_") or not callable(found) or not _takes_retry(kind, name):
            return found
        return functools.partial(found, retry=self._retry)


def retrying(client: Any, backoff: float = 1.0) -> Any:
    return Retrying(client, busy_retry(backoff))
