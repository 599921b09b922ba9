"""The gate: a pure ASGI middleware that decides, from the request's head alone, whether the
app gets to read its body.

In order, before anything reads the body:

1. a ``Content-Length`` over ``max_body_bytes`` is refused (413);
2. the client address (an IPv6 /64) takes a token from its bucket, or gets 429 with
   ``Retry-After`` (``/api/healthz`` and ``/api/readyz`` are exempt, for probes);
3. under ``/api/cloud``, the API key (``X-API-Key`` or ``Authorization: Bearer``) is
   checked: none, unknown or revoked is 401; a store that fails or stalls past
   ``store_timeout_seconds`` is 503. The store is read in worker threads, never on the event
   loop, so a stalled database holds up the requests that need it and nothing else;
4. the key takes a token from its own bucket, or gets 429.

Only then is the app called, with a ``receive`` that counts: a body sent without a length (or
longer than it said) is cut off at ``max_body_bytes`` and answered 413, whatever the app had
begun to answer. Refusals (401, 413, 429) are audited through a :class:`RefusalLog`, by
subject and minute. Roles are checked later, by each route (``control_api.deps``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import anyio
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_api.errors import problem_response
from control_api.limits import RefusalLog, TokenBuckets, client_subject, retry_after
from control_api.request_context import build_entry
from control_api.settings import ApiSettings
from control_plane.security import parse_prefix
from control_plane.services.api_keys import Principal, authenticate
from control_plane.store.changes import CounterReader, VersionedCache, counter_in
from control_plane.store.models import AuditEntry

log = logging.getLogger(__name__)
PROTECTED = "/api/cloud"
EXEMPT_FROM_LIMITS = frozenset({"/api/healthz", "/api/readyz"})
_UNAUTHENTICATED = "unauthenticated"


class BodyTooLarge(Exception):
    """Raised from ``receive`` when a body passes the limit while it streams in."""


class StoreUnavailable(Exception):
    pass


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def presented_key(scope: Scope) -> str | None:
    key = _header(scope, b"x-api-key")
    if key:
        return key
    authorization = _header(scope, b"authorization") or ""
    scheme, _, credentials = authorization.partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


class Gate:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: ApiSettings,
        sessions: sessionmaker[Session],
        counters: CounterReader,
        principals: VersionedCache[Principal],
        refusals: RefusalLog,
    ) -> None:
        self.app = app
        self.settings = settings
        self.sessions = sessions
        self.counters = counters
        self.principals = principals
        self.refusals = refusals
        self.by_address = TokenBuckets(settings.rate_limit_per_address)
        self.by_key = TokenBuckets(settings.rate_limit_per_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        limit = self.settings.max_body_bytes
        address = client_subject(scope)
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            detail = f"The request body may be at most {limit} bytes; this one says it has {int(length)}."
            await self._refuse(scope, send, 413, detail, subject=address, slug="body-too-large")
            return
        limited = scope["path"] not in EXEMPT_FROM_LIMITS
        wait = self.by_address.take(address) if limited else None
        if wait is not None:
            await self._too_many(scope, send, wait, subject=address, who="this address")
            return
        if scope["path"] == PROTECTED or scope["path"].startswith(PROTECTED + "/"):
            token = presented_key(scope)
            if not token:
                detail = (
                    "No credentials: send an API key in the X-API-Key header (create one with `wedcloud keys create`)."
                )
                await self._refuse(scope, send, 401, detail, subject=address, challenge='Bearer realm="wedcloud"')
                return
            try:
                principal = await self._principal(state, token)
            except StoreUnavailable as exc:
                response = problem_response(
                    Request(scope), 503, detail=str(exc), slug="store-unavailable", headers={"Retry-After": "5"}
                )
                await response(scope, _no_body, send)
                return
            if principal is None:
                challenge = 'Bearer realm="wedcloud", error="invalid_token"'
                await self._refuse(
                    scope, send, 401, "The API key is unknown or revoked.", subject=address, challenge=challenge
                )
                return
            state["principal"] = principal
            wait = self.by_key.take(f"key:{parse_prefix(token)}")
            if wait is not None:
                await self._too_many(scope, send, wait, subject=f"key:{parse_prefix(token)}", who="this API key")
                return
        await self._call_app(scope, receive, send, limit)

    async def _call_app(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        too_large = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise BodyTooLarge(f"the request body passed {limit} bytes")
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:  # whatever the app answers to a body cut short, the answer is 413
                if message["type"] == "http.response.start" and not started:
                    started = True
                    await self._too_large_streamed(scope, send, limit)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not started:
                await self._too_large_streamed(scope, send, limit)

    async def _too_large_streamed(self, scope: Scope, send: Send, limit: int) -> None:
        detail = f"The request body may be at most {limit} bytes; it was cut off there."
        await self._refuse(scope, send, 413, detail, subject=client_subject(scope), slug="body-too-large")

    async def _principal(self, state: dict[str, Any], token: str) -> Principal | None:
        """The caller, from a cache that the api_keys table's change counter keeps honest (a
        revoked key is refused on its next request); a key not cached is checked in a worker
        thread, which also refreshes its last-used time."""
        counters = state["counters"] = await self._in_thread(self.counters.read)
        fingerprint = hashlib.sha256(token.encode()).digest()  # the cache holds no key in clear
        principal = self.principals.get(fingerprint, counters["api_keys"])
        if principal is None:
            principal, version = await self._in_thread(lambda: _authenticate(self.sessions, token))
            if principal is not None:
                self.principals.put(fingerprint, version, principal)
        return principal

    async def _in_thread(self, work: Callable[[], Any]) -> Any:
        timeout = self.settings.store_timeout_seconds
        try:
            with anyio.fail_after(timeout):
                return await anyio.to_thread.run_sync(work, abandon_on_cancel=True)
        except TimeoutError:
            raise StoreUnavailable(f"The state store did not answer within {timeout:g} s; try again shortly.") from None
        except SQLAlchemyError as exc:
            log.warning("state store failed while authenticating: %s", type(exc).__name__)
            raise StoreUnavailable("The state store is unavailable; try again shortly.") from None

    async def _too_many(self, scope: Scope, send: Send, wait: float, *, subject: str, who: str) -> None:
        detail = f"Too many requests from {who}; try again in {retry_after(wait)} s."
        headers = {"Retry-After": retry_after(wait)}
        await self._refuse(scope, send, 429, detail, subject=subject, slug="rate-limited", headers=headers)

    async def _refuse(
        self,
        scope: Scope,
        send: Send,
        status: int,
        detail: str,
        *,
        subject: str,
        slug: str = _UNAUTHENTICATED,
        challenge: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        headers = dict(headers or {})
        if challenge:
            headers["WWW-Authenticate"] = challenge
        response = problem_response(Request(scope), status, detail=detail, slug=slug, headers=headers)
        await response(scope, _no_body, send)
        state = scope["state"]
        if "audit" in state:
            state["audit"].written = True  # the refusal log has it, not the request's own row
        await write_refusals(self.sessions, self.refusals.record(subject, build_entry(scope, status)))


async def write_refusals(sessions: sessionmaker[Session], rows: list[AuditEntry]) -> None:
    """Write refusal rows in a worker thread; a failure is logged (the answers have gone)."""
    if not rows:
        return
    try:
        await anyio.to_thread.run_sync(_write_rows, sessions, rows)
    except Exception:
        log.exception("could not write %d audit row(s) of refusals", len(rows))


def _write_rows(sessions: sessionmaker[Session], rows: list[AuditEntry]) -> None:
    with sessions() as session, session.begin():
        session.add_all(rows)


async def _no_body() -> Message:
    raise RuntimeError("the gate's own answers never read the request body")


def _authenticate(sessions: sessionmaker[Session], token: str) -> tuple[Principal | None, int]:
    """The key's principal, and the api_keys counter read *before* the key was: a revocation
    committed in between moves the counter past the cached entry, so it is never served. (A
    last-used write moves it too, which costs one more lookup on the next request.)"""
    with sessions() as session:
        version = counter_in(session, "api_keys")
        session.commit()  # end the read so that the key is read in a transaction of its own
        principal = authenticate(session, token=token)
        session.commit()
    return principal, version
