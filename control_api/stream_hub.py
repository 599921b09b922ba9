"""The per-worker hub of the WebSocket stream: its clients, their subscriptions and queues.

One :class:`StreamHub` per API worker (``app.state.stream``). Its
:class:`~control_plane.monitoring.fanout.EventSource` follows the event log in a thread and
hands each batch to the event loop, where the hub serialises every event once and puts it on the
queue of each client whose subscription matches, a tick at a time (see ``StreamHub.publish``).
Each client's own task (``routers/stream.py``) sends from its queue, so a slow client holds up
nobody else.

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


@dataclass(eq=False, slots=True)
class Chunk:
    """The events of one hub tick that match one subscription, encoded once and queued as they
    are for every ``batch`` client holding that subscription (a slow client's queue turns it back
    into single events when it must drop some)."""

    events: tuple[tuple[int, str, str], ...]  # (id, topic, text)
    joined: str  # the texts joined by commas
    frame: str  # the frame sending it alone: the one event, or a batch message of them all

    @classmethod
    def of(cls, events: Sequence[tuple[int, str, str]]) -> Chunk:
        joined = ",".join(text for _, _, text in events)
        frame = events[0][2] if len(events) == 1 else '{"type":"batch","messages":[' + joined + "]}"
        return cls(tuple(events), joined, frame)


@dataclass(eq=False)
class Client:
    """One connection's subscription and bounded queue (touched only on the event loop)."""

    subscription: Subscription
    bound: int
    key_id: uuid.UUID | None = None
    queue: deque[_Item | Chunk] = field(default_factory=deque)
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
    replaying: bool = False  # a replay is being sent: live events may repeat it (see ``skip``)
    chunks: int = 0  # shared chunks in the queue

    def push_chunk(self, chunk: Chunk) -> None:
        """Queue a tick's events as one shared chunk, or one by one when this client does not
        batch, is replaying, or would go past its bound."""
        if not self.batch or self.replaying or self.skip or self.events + len(chunk.events) > self.bound:
            for event_id, topic, text in chunk.events:
                self.push(event_id, topic, text)
            return
        self.queue.append(chunk)
        self.events += len(chunk.events)
        self.chunks += 1
        self.wake.set()

    def push(self, event_id: int | None, topic: str, text: str) -> None:
        if self.chunks and event_id is not None and self.events >= self.bound:
            self._unchunk()
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
        self.queue = deque(item for item in self.queue if isinstance(item, Chunk) or item.alive)
        self.metrics = deque(item for item in self.metrics if item.alive)
        self.others = deque(item for item in self.others if item.alive)

    def _unchunk(self) -> None:
        """Turn the queued chunks back into single events, so that any of them can be dropped."""
        queue: deque[_Item | Chunk] = deque()
        self.metrics, self.others = deque(), deque()
        for entry in self.queue:
            items = [_Item(*event) for event in entry.events] if isinstance(entry, Chunk) else [entry]
            for item in items:
                if not item.alive:
                    continue
                queue.append(item)
                if item.id is not None and item.topic == "metrics":
                    self.metrics.append(item)
                elif item.id is not None and item.topic != "alerts":
                    self.others.append(item)
        self.queue = queue
        self.chunks = 0

    def take(self) -> str | None:
        """The next text to send: a pending ``lost`` notice first, then the queue's head."""
        if self.lost:
            text = json.dumps({"type": "lost", "count": self.lost, "since_id": self.lost_since})
            self.lost, self.lost_since = 0, None
            return text
        while self.queue:
            if self.chunks:
                self._unchunk()
            item = self.queue.popleft()
            assert isinstance(item, _Item)
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
        """The next text frame: one message, or with ``batch`` all that are ready (``most`` or
        a few more: a chunk is not split) in a ``batch`` message when there are several. A
        chunk sent alone is its shared frame, the same string for each client."""
        if not self.batch:
            return self.take()
        parts: list[str] = []
        count = 0
        chunk: Chunk | None = None
        if self.lost:
            parts.append(json.dumps({"type": "lost", "count": self.lost, "since_id": self.lost_since}))
            count, self.lost, self.lost_since = 1, 0, None
        while self.queue and count < most:
            entry = self.queue.popleft()
            if isinstance(entry, Chunk):
                self.chunks -= 1
                self.events -= len(entry.events)
                parts.append(entry.joined)
                count += len(entry.events)
                chunk = entry
                continue
            if not entry.alive:
                continue
            if entry.id is not None:
                self.events -= 1
                entry.alive = False  # so that the metrics/others lines skip it
                if entry.id in self.skip:
                    continue
            parts.append(entry.text)
            count += 1
        if not parts:
            self.wake.clear()
            return None
        if len(parts) == 1:
            return chunk.frame if chunk is not None else parts[0]
        return '{"type":"batch","messages":[' + ",".join(parts) + "]}"


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
        self._pending: list[Event] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._last_flush = -1e9

    async def start(self, task_group: anyio.abc.TaskGroup) -> None:
        self._loop = asyncio.get_running_loop()
        await anyio.to_thread.run_sync(self.source.start)
        self.last_event_id = self.gaps.last_id = self.source.last_id
        self._started = True
        task_group.start_soon(self._ping_forever)

    async def stop(self) -> None:
        self._started = False
        if self._flush_at is not None:
            self._flush_at.cancel()
        await anyio.to_thread.run_sync(self.source.stop)

    # -- events ---------------------------------------------------------------------------------

    def _from_thread(self, batch: Sequence[Event]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.publish, list(batch))

    def publish(self, batch: Iterable[Event]) -> None:
        """Take new events (on the event loop): they are queued at once, unless the last tick
        was less than ``stream_tick_ms`` ago, then at the next tick with any that follow."""
        self._pending.extend(batch)
        if self._flush_at is not None:
            return
        wait = self._last_flush + self.settings.stream_tick_ms / 1000 - time.monotonic()
        if wait <= 0 or self._loop is None:
            self.flush()
        else:
            self._flush_at = self._loop.call_later(wait, self.flush)

    def flush(self) -> None:
        """One tick: queue the pending events for the clients they match. The clients are
        grouped by subscription, so each event is matched and serialised once per subscription,
        and each group's ``batch`` clients share one chunk (``Client.push_chunk``)."""
        self._flush_at = None
        self._last_flush = time.monotonic()
        batch, self._pending = self._pending, []
        if not batch:
            return
        now = utcnow()
        self.gaps.accept(batch, time.monotonic())
        groups: dict[Subscription, list[Client]] = {}
        for client in self.clients:
            groups.setdefault(client.subscription, []).append(client)
        texts: dict[int, str] = {}
        for subscription, members in groups.items():
            chosen = []
            for event in batch:
                if subscription.matches(event):
                    text = texts.get(event.id)
                    if text is None:
                        text = texts[event.id] = event_text(event)
                    chosen.append((event.id, event.topic, text))
            if chosen:
                chunk = Chunk.of(chosen)
                for client in members:
                    client.push_chunk(chunk)
        newest = batch[-1]
        self.last_event_id = max(self.last_event_id, max(event.id for event in batch))
        self.lag_seconds = max((now - newest.at).total_seconds(), 0.0)

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
