"""The per-worker hub of the WebSocket stream: its clients, their subscriptions and queues.

One :class:`StreamHub` per API worker (``app.state.stream``). Its
:class:`~control_plane.monitoring.fanout.EventSource` follows the event log in a thread and
hands each batch to the event loop, where the hub serialises every event once and puts it on the
queue of each client whose subscription matches. Each client's own task (``routers/stream.py``)
sends from its queue, so a slow client holds up nobody else.

A queue holds ``stream_queue`` events. When a new event finds it full, the oldest metrics event
is dropped, then the oldest other event that is not an alert; alerts are never dropped (a queue
of nothing but alerts grows past its bound). The client is told, before its next event,
``{"type": "lost", "count": n, "since_id": id}``: how many it lost and the lowest id among them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.abc
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from control_api.limits import TokenBuckets
from control_plane.monitoring.events import TOPICS, Event
from control_plane.monitoring.fanout import EventSource, Gaps
from control_plane.monitoring.settings import MonitorSettings
from control_plane.store.models import ApiKey
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)
_SEVERITY = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
DEGRADED_AFTER_SECONDS = 10.0


class SubscriptionError(ValueError):
    def __init__(self, field_name: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field_name
        self.detail = detail


def _items(value: object, field_name: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise SubscriptionError(field_name, f"{field_name} must be a string (comma-separated) or a list of strings")


@dataclass(frozen=True)
class Subscription:
    """What a client wants: topics (all when none given) and optional sets of provider ids,
    resource ids and severities; an event passes when it matches each set given (an event
    without a provider, resource or severity fails a filter on it)."""

    topics: frozenset[str] = frozenset(TOPICS)
    providers: frozenset[str] = frozenset()
    resources: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()

    @classmethod
    def parse(
        cls, topics: object = None, provider: object = None, resource: object = None, severity: object = None
    ) -> Subscription:
        chosen = _items(topics, "topics")
        unknown = [topic for topic in chosen if topic not in TOPICS]
        if unknown:
            raise SubscriptionError("topics", f"unknown topic(s) {', '.join(unknown)}; known: {', '.join(TOPICS)}")
        ids: dict[str, frozenset[str]] = {}
        for name, value in (("provider", provider), ("resource", resource)):
            items = _items(value, name)
            try:
                ids[name] = frozenset(str(uuid.UUID(item)) for item in items)
            except ValueError:
                raise SubscriptionError(name, f"{name} must be one or more {name} ids (UUIDs)") from None
        severities = _items(severity, "severity")
        if any(not _SEVERITY.match(item) for item in severities):
            raise SubscriptionError("severity", "severity must be one or more names like critical or warning")
        return cls(
            topics=frozenset(chosen) if chosen else frozenset(TOPICS),
            providers=ids["provider"],
            resources=ids["resource"],
            severities=frozenset(severities),
        )

    def matches(self, event: Event) -> bool:
        return (
            event.topic in self.topics
            and (not self.providers or event.provider_id in self.providers)
            and (not self.resources or event.resource_id in self.resources)
            and (not self.severities or event.severity in self.severities)
        )

    def shown(self) -> dict[str, Any]:
        return {
            "topics": sorted(self.topics, key=TOPICS.index),
            "provider": sorted(self.providers),
            "resource": sorted(self.resources),
            "severity": sorted(self.severities),
        }


@dataclass(eq=False, slots=True)
class _Item:
    id: int | None  # None: a control message (ping), never dropped
    topic: str
    text: str
    alive: bool = True


@dataclass(eq=False)
class Client:
    """One connection's subscription and bounded queue (touched only on the event loop)."""

    subscription: Subscription
    bound: int
    key_id: uuid.UUID | None = None
    queue: deque[_Item] = field(default_factory=deque)
    metrics: deque[_Item] = field(default_factory=deque)
    others: deque[_Item] = field(default_factory=deque)  # neither metrics nor alerts
    events: int = 0  # live events queued (not dropped, not sent)
    lost: int = 0
    lost_since: int | None = None
    lost_total: int = 0
    skip: set[int] = field(default_factory=set)  # ids already sent by a replay
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closing: str | None = None  # a reason to close (the key was revoked)
    batch: bool = False  # several ready messages go as one {"type": "batch", "messages": [...]}

    def push(self, event_id: int | None, topic: str, text: str) -> None:
        if event_id is not None and self.events >= self.bound and not self._drop_one() and topic != "alerts":
            self._count_lost(event_id)  # only alerts are queued: the newcomer goes (an alert stays)
            return
        item = _Item(event_id, topic, text)
        self.queue.append(item)
        if event_id is not None:
            self.events += 1
            if topic == "metrics":
                self.metrics.append(item)
            elif topic != "alerts":
                self.others.append(item)
        elif len(self.queue) > 4 * self.bound + 100:
            self._compact()
        self.wake.set()

    def _drop_one(self) -> bool:
        for line in (self.metrics, self.others):
            while line:
                item = line.popleft()
                if item.alive:
                    item.alive = False
                    self.events -= 1
                    assert item.id is not None
                    self._count_lost(item.id)
                    if len(self.queue) > 2 * self.bound + 100:
                        self._compact()
                    return True
        return False

    def _count_lost(self, event_id: int) -> None:
        self.lost += 1
        self.lost_total += 1
        self.lost_since = event_id if self.lost_since is None else min(self.lost_since, event_id)

    def _compact(self) -> None:
        self.queue = deque(item for item in self.queue if item.alive)
        self.metrics = deque(item for item in self.metrics if item.alive)
        self.others = deque(item for item in self.others if item.alive)

    def take(self) -> str | None:
        """The next text to send: a pending ``lost`` notice first, then the queue's head."""
        if self.lost:
            text = json.dumps({"type": "lost", "count": self.lost, "since_id": self.lost_since})
            self.lost, self.lost_since = 0, None
            return text
        while self.queue:
            item = self.queue.popleft()
            if not item.alive:
                continue
            if item.id is not None:
                self.events -= 1
                item.alive = False  # so that the metrics/others lines skip it
                if item.id in self.skip:
                    continue
            return item.text
        self.wake.clear()
        return None

    def next_frame(self, most: int = 500) -> str | None:
        """The next text frame: one message, or with ``batch`` all that are ready (up to
        ``most``) in a ``batch`` message when there are several."""
        first = self.take()
        if first is None or not self.batch:
            return first
        texts = [first]
        while len(texts) < most and (text := self.take()) is not None:
            texts.append(text)
        if len(texts) == 1:
            return first
        return '{"type":"batch","messages":[' + ",".join(texts) + "]}"


def event_text(event: Event) -> str:
    return json.dumps({"type": "event", **event.message()}, separators=(",", ":"), default=str)


class StreamHub:
    """The worker's clients and its event source; ``status()`` feeds the health endpoint."""

    def __init__(
        self,
        engine: Engine,
        sessions: sessionmaker[Session],
        settings: MonitorSettings | None = None,
        *,
        handshakes_per_minute: int = 0,
    ) -> None:
        self.engine = engine
        self.sessions = sessions
        self.settings = settings or MonitorSettings()
        self.clients: set[Client] = set()
        # the gate does not see WebSocket handshakes: each costs a key lookup, so they are counted here
        self.handshakes = TokenBuckets(handshakes_per_minute)
        self.source = EventSource(engine, self._from_thread, self.settings, sessions=sessions)
        # the ids published on the loop, and the gaps it may still see filled: a replay skips
        # none below its watermark (kept a second longer than the source's own)
        self.gaps = Gaps(0, keep_seconds=self.source.gaps.keep_seconds + 1)
        self.last_event_id = 0
        self.lag_seconds: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._started = False

    async def start(self, task_group: anyio.abc.TaskGroup) -> None:
        self._loop = asyncio.get_running_loop()
        await anyio.to_thread.run_sync(self.source.start)
        self.last_event_id = self.gaps.last_id = self.source.last_id
        self._started = True
        task_group.start_soon(self._ping_forever)

    async def stop(self) -> None:
        self._started = False
        await anyio.to_thread.run_sync(self.source.stop)

    # -- events ---------------------------------------------------------------------------------

    def _from_thread(self, batch: Sequence[Event]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.publish, list(batch))

    def publish(self, batch: Iterable[Event]) -> None:
        """Queue each event for the clients it matches (on the event loop)."""
        now = utcnow()
        batch = list(batch)
        self.gaps.accept(batch, time.monotonic())
        for event in batch:
            text = None
            for client in self.clients:
                if client.subscription.matches(event):
                    text = text or event_text(event)
                    client.push(event.id, event.topic, text)
            self.last_event_id = max(self.last_event_id, event.id)
            self.lag_seconds = max((now - event.at).total_seconds(), 0.0)

    def register(self, client: Client) -> None:
        self.clients.add(client)

    def unregister(self, client: Client) -> None:
        self.clients.discard(client)

    # -- pings and revoked keys -----------------------------------------------------------------

    async def _ping_forever(self) -> None:
        while True:
            await anyio.sleep(self.settings.stream_ping_seconds)
            text = json.dumps({"type": "ping", "at": utcnow().isoformat()})
            for client in list(self.clients):
                client.push(None, "ping", text)
            try:
                revoked = await anyio.to_thread.run_sync(self._revoked, {c.key_id for c in self.clients if c.key_id})
            except Exception:
                log.warning("could not check the stream clients' keys; trying again at the next ping")
                continue
            for client in list(self.clients):
                if client.key_id in revoked:
                    client.closing = "the API key was revoked"
                    client.wake.set()

    def _revoked(self, key_ids: set[uuid.UUID]) -> set[uuid.UUID]:
        if not key_ids:
            return set()
        with self.sessions() as session:
            query = select(ApiKey.id).where(ApiKey.id.in_(key_ids), ApiKey.revoked_at.is_not(None))
            return set(session.scalars(query))

    def status(self) -> dict[str, Any]:
        source = self.source.status()
        since_read = source["seconds_since_read"]
        healthy = (
            self._started and source["connected"] and since_read is not None and since_read < DEGRADED_AFTER_SECONDS
        )
        return {
            "status": "ok" if healthy else "degraded",
            "clients": len(self.clients),
            "last_event_id": self.last_event_id,
            "lag_seconds": None if self.lag_seconds is None else round(self.lag_seconds, 3),
            "mode": source["mode"],
        }
