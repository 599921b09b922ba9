"""WebSocket /api/cloud/monitoring/stream: live monitoring events (docs/monitoring/stream.md).

The gate passes WebSocket handshakes through untouched, so this endpoint checks its callers
itself, in order:

1. a handshake from a browser page (it has an ``Origin`` header) whose origin is neither this
   server's own nor one of ``WEDCLOUD_CORS_ORIGINS`` is refused with 403 before it is accepted:
   CORS does not apply to WebSockets, so without this any page a user visits could open a stream
   with a key the page got hold of, or with cookies were the API ever to take them;
2. an API key in the URL's query is refused (close 1008) even beside a good one: it reached the
   access logs the moment the URL was sent;
3. the key comes from ``X-API-Key`` (or ``Authorization: Bearer``), from the offered
   subprotocols ``wedcloud.v1`` + ``key.<key>`` (the server selects ``wedcloud.v1`` and never
   echoes the key), or from a first message ``{"type": "auth", "key": ...}`` within 5 s; it is
   checked with the gate's service (``api_keys.authenticate``) in a worker thread. Missing,
   unknown or revoked: close 1008. Any role may read the stream. A key revoked while its
   connection is open is noticed at the next ping and the connection closed with 1008.

Handshakes from one address are limited like the gate's requests (``rate_limit_per_address`` a
minute): past it, the connection is closed with 1013 (try again later).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import anyio
from fastapi import APIRouter, WebSocket
from sqlalchemy.orm import Session, sessionmaker
from starlette.websockets import WebSocketDisconnect, WebSocketState

from control_api.gate import presented_key
from control_api.limits import client_subject, retry_after
from control_api.settings import ApiSettings
from control_api.stream_hub import Client, StreamHub, Subscription, SubscriptionError, event_text
from control_plane.monitoring import events
from control_plane.services.api_keys import Principal, authenticate
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/monitoring", tags=["monitoring"])

PROTOCOL = "wedcloud.v1"
KEY_PROTOCOL_PREFIX = "key."
AUTH_WAIT_SECONDS = 5.0
POLICY = 1008  # RFC 6455: policy violation (no key, bad key, key in the URL)
TRY_AGAIN_LATER = 1013
BAD_SUBSCRIPTION = 4422  # application code (4000-4999): a query parameter is invalid
KEYS_IN_URL = frozenset({"key", "api_key", "apikey", "api-key", "x-api-key", "token", "access_token", "auth"})


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def origin_allowed(websocket: WebSocket, allowed: list[str]) -> bool:
    """No Origin (not a browser), this server's own origin, or one configured for CORS."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    origin = origin.rstrip("/")
    if origin in allowed:
        return True
    host = (websocket.headers.get("host") or "").lower()
    return bool(host) and urlsplit(origin).netloc.lower() == host


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    settings: ApiSettings = websocket.app.state.settings
    hub: StreamHub = websocket.app.state.stream
    if not origin_allowed(websocket, settings.cors_origins):
        await websocket.close(code=POLICY, reason="cross-origin handshake refused")  # before accept: 403
        return
    offered = list(websocket.scope.get("subprotocols") or [])
    await websocket.accept(subprotocol=PROTOCOL if PROTOCOL in offered else None)
    wait = hub.handshakes.take(client_subject(websocket.scope))
    if wait is not None:
        await _close(
            websocket, TRY_AGAIN_LATER, f"too many connections from this address; try again in {retry_after(wait)} s"
        )
        return
    try:
        principal = await _authenticated(websocket, offered, settings)
        subscription, since, batch = _query(websocket)
    except Refused as refusal:
        await _close(websocket, refusal.code, refusal.reason)
        return
    except WebSocketDisconnect:
        return
    client = Client(
        subscription, hub.settings.stream_queue, key_id=principal.key_id, batch=batch, replaying=since is not None
    )
    hub.register(client)
    try:
        floor = hub.gaps.watermark()  # a replayed id below this is never published live again
        await websocket.send_text(
            json.dumps(
                {
                    "type": "hello",
                    "subscription": {**subscription.shown(), "since": since, "batch": batch},
                    "last_event_id": hub.last_event_id,
                    "worker_pid": os.getpid(),
                    "key_name": principal.name,
                }
            )
        )
        if since is not None:
            await _replay(websocket, hub, client, since, floor)
            client.replaying = False
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_send_forever, websocket, hub, client, tasks.cancel_scope)
            await _receive_forever(websocket, client)
            tasks.cancel_scope.cancel()
    except (WebSocketDisconnect, OSError, RuntimeError):
        pass  # the client went away while we were sending
    finally:
        hub.unregister(client)


async def _authenticated(websocket: WebSocket, offered: list[str], settings: ApiSettings) -> Principal:
    if any(name.lower() in KEYS_IN_URL for name in websocket.query_params):
        raise Refused(
            POLICY, "an API key is never accepted in the URL: send X-API-Key, subprotocols or an auth message"
        )
    key = presented_key(websocket.scope)
    if not key:
        key = next((p[len(KEY_PROTOCOL_PREFIX) :] for p in offered if p.startswith(KEY_PROTOCOL_PREFIX)), None)
    if not key:
        key = await _auth_message(websocket)
    sessions: sessionmaker[Session] = websocket.app.state.sessions
    try:
        with anyio.fail_after(settings.store_timeout_seconds):
            principal = await anyio.to_thread.run_sync(_principal, sessions, key, abandon_on_cancel=True)
    except TimeoutError:
        raise Refused(TRY_AGAIN_LATER, "the state store did not answer; try again shortly") from None
    except Exception as exc:
        log.warning("state store failed while authenticating a stream client: %s", type(exc).__name__)
        raise Refused(TRY_AGAIN_LATER, "the state store is unavailable; try again shortly") from None
    if principal is None:
        raise Refused(POLICY, "the API key is unknown or revoked")
    return principal


async def _auth_message(websocket: WebSocket) -> str:
    text = None
    with anyio.move_on_after(AUTH_WAIT_SECONDS):
        text = await websocket.receive_text()
    if text is None:
        raise Refused(
            POLICY, f"no API key: send X-API-Key, subprotocols or an auth message within {AUTH_WAIT_SECONDS:g} s"
        )
    try:
        message = json.loads(text)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("type") != "auth" or not isinstance(message.get("key"), str):
        raise Refused(POLICY, 'the first message must be {"type": "auth", "key": "..."}')
    return str(message["key"])


def _principal(sessions: sessionmaker[Session], key: str) -> Principal | None:
    with sessions() as session:
        principal = authenticate(session, token=key)
        session.commit()  # its last-used time
    return principal


def _query(websocket: WebSocket) -> tuple[Subscription, int | None, bool]:
    params = websocket.query_params
    try:
        subscription = Subscription.parse(
            params.get("topics"), params.get("provider"), params.get("resource"), params.get("severity")
        )
    except SubscriptionError as exc:
        raise Refused(BAD_SUBSCRIPTION, f"{exc.field}: {exc.detail}"[:120]) from None
    batch = params.get("batch", "false").lower()
    if batch not in ("true", "false", "1", "0"):
        raise Refused(BAD_SUBSCRIPTION, "batch: must be true or false")
    raw = params.get("since")
    if raw is None or raw == "":
        return subscription, None, batch in ("true", "1")
    if not raw.isdigit() or len(raw) > 18:
        raise Refused(BAD_SUBSCRIPTION, "since: must be an event id (a non-negative integer)")
    return subscription, int(raw), batch in ("true", "1")


async def _replay(websocket: WebSocket, hub: StreamHub, client: Client, since: int, floor: int) -> None:
    """Send the events after ``since`` from the last ``stream_replay_minutes``, then let the live
    queue (filled meanwhile) follow; ids the replay sent are skipped there."""
    not_before = utcnow() - timedelta(minutes=hub.settings.stream_replay_minutes)
    after = since
    while True:
        batch = await anyio.to_thread.run_sync(_read, hub, after, not_before)
        for event in batch:
            if client.subscription.matches(event):
                await websocket.send_text(event_text(event))
                if event.id >= floor:
                    client.skip.add(event.id)
        if len(batch) < 1000:
            return
        after = batch[-1].id


def _read(hub: StreamHub, after: int, not_before: Any) -> list[events.Event]:
    with hub.sessions() as session:
        return events.events_after(session, after, limit=1000, not_before=not_before)


async def _send_forever(websocket: WebSocket, hub: StreamHub, client: Client, scope: anyio.CancelScope) -> None:
    try:
        while True:
            await client.wake.wait()
            if client.closing:
                await _close(websocket, POLICY, client.closing)
                break
            while (text := client.next_frame()) is not None:
                await websocket.send_text(text)
            if client.skip and hub.gaps.watermark() > max(client.skip):
                client.skip.clear()
    except (WebSocketDisconnect, OSError, RuntimeError):
        pass
    scope.cancel()


async def _receive_forever(websocket: WebSocket, client: Client) -> None:
    """Subscription changes from the client; anything else is answered with an error message."""
    async for text in websocket.iter_text():
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or message.get("type") != "subscribe":
            _tell(client, {"type": "error", "field": "type", "detail": 'expected {"type": "subscribe", ...}'})
            continue
        try:
            client.subscription = Subscription.parse(
                message.get("topics"), message.get("provider"), message.get("resource"), message.get("severity")
            )
        except SubscriptionError as exc:
            _tell(client, {"type": "error", "field": exc.field, "detail": exc.detail})
            continue
        _tell(client, {"type": "subscribed", "subscription": client.subscription.shown()})


def _tell(client: Client, message: dict[str, Any]) -> None:
    client.push(None, "control", json.dumps(message))


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state != WebSocketState.DISCONNECTED:
        with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
            await websocket.close(code=code, reason=reason[:120])
