"""The hub's ticks and shared chunks: events ready together go to a ``batch`` client as one
frame, encoded once per subscription, and a slow client's queue still drops and counts exactly."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from sqlalchemy import create_engine

from control_api.stream_hub import Chunk, Client, StreamHub, Subscription
from control_plane.monitoring.events import Event
from control_plane.monitoring.settings import MonitorSettings

RESOURCE = "6f0d1c1e-2b9a-4a1e-9a51-3c8b1f2d9e10"


def event(event_id: int, topic: str = "metrics", resource: str | None = None) -> Event:
    return Event(id=event_id, topic=topic, at=datetime.now(UTC), payload={"n": event_id}, resource_id=resource)


def hub(tick_ms: float = 0) -> StreamHub:
    return StreamHub(create_engine("sqlite://"), None, MonitorSettings(stream_tick_ms=tick_ms))  # type: ignore[arg-type]


def frames(client: Client) -> list[dict[str, object]]:
    sent = []
    while (text := client.next_frame()) is not None:
        sent.append(json.loads(text))
    return sent


def ids(frame: dict[str, object]) -> list[object]:
    messages = frame["messages"] if frame["type"] == "batch" else [frame]
    return [message.get("id") for message in messages]  # type: ignore[union-attr]


def test_events_ready_together_reach_a_batch_client_as_one_frame_and_a_plain_one_singly() -> None:
    streams = hub()
    batched, plain = Client(Subscription(), bound=100, batch=True), Client(Subscription(), bound=100)
    streams.register(batched)
    streams.register(plain)
    streams.publish([event(1), event(2), event(3)])
    [frame] = frames(batched)
    assert frame["type"] == "batch"
    assert ids(frame) == [1, 2, 3]
    assert [ids(one) for one in frames(plain)] == [[1], [2], [3]]


def test_events_arriving_within_a_tick_are_queued_together_at_its_end() -> None:
    async def scenario() -> tuple[list[dict[str, object]], list[dict[str, object]], list[dict[str, object]]]:
        streams = hub(tick_ms=200)
        streams._loop = asyncio.get_running_loop()
        client = Client(Subscription(), bound=100, batch=True)
        streams.register(client)
        streams.publish([event(1)])  # the first of a quiet spell goes at once
        first = frames(client)
        streams.publish([event(2)])
        streams.publish([event(3), event(4)])
        early = frames(client)  # still inside the tick: nothing yet
        await asyncio.sleep(0.3)
        return first, early, frames(client)

    first, early, late = asyncio.run(scenario())
    assert [ids(frame) for frame in first] == [[1]]
    assert early == []
    assert [ids(frame) for frame in late] == [[2, 3, 4]]


def test_clients_with_the_same_subscription_share_one_encoded_frame() -> None:
    streams = hub()
    same = [Client(Subscription(), bound=100, batch=True) for _ in range(3)]
    other = Client(Subscription.parse("metrics", None, RESOURCE), bound=100, batch=True)
    for client in [*same, other]:
        streams.register(client)
    streams.publish([event(1, resource=RESOURCE), event(2), event(3, "alerts")])
    sent = [client.next_frame() for client in same]
    assert sent[0] is sent[1] is sent[2]  # one string, serialised once
    assert ids(json.loads(sent[0] or "")) == [1, 2, 3]
    assert ids(json.loads(other.next_frame() or "")) == [1]
    assert all(client.next_frame() is None for client in [*same, other])


def test_a_full_queue_of_chunks_still_drops_metrics_first_and_counts_each_lost_event() -> None:
    client = Client(Subscription(), bound=10, batch=True)
    texts = {n: json.dumps({"type": "event", "id": n}) for n in range(1, 30)}
    for first in (1, 5):  # two chunks of four metrics
        client.push_chunk(Chunk.of([(n, "metrics", texts[n]) for n in range(first, first + 4)]))
    client.push_chunk(Chunk.of([(n, "alerts", texts[n]) for n in range(9, 13)]))  # past the bound: 2 metrics go
    client.push_chunk(Chunk.of([(n, "metrics", texts[n]) for n in range(13, 16)]))  # 3 more metrics go
    [frame] = frames(client)
    messages = frame["messages"]
    assert messages[0] == {"type": "lost", "count": 5, "since_id": 1}  # type: ignore[index]
    assert ids(frame)[1:] == [6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert client.events == 0
    client.push_chunk(Chunk.of([(20, "metrics", texts[20]), (21, "metrics", texts[21])]))
    assert [ids(one) for one in frames(client)] == [[20, 21]]  # told once, not again


def test_a_replaying_client_gets_single_events_and_skips_what_the_replay_sent() -> None:
    client = Client(Subscription(), bound=100, batch=True, replaying=True)
    client.skip.add(2)
    client.push_chunk(Chunk.of([(n, "metrics", json.dumps({"type": "event", "id": n})) for n in (1, 2, 3)]))
    assert client.chunks == 0
    assert [ids(frame) for frame in frames(client)] == [[1, 3]]


def test_take_still_yields_one_message_at_a_time_from_a_chunk() -> None:
    client = Client(Subscription(), bound=100, batch=True)
    client.push_chunk(Chunk.of([(n, "metrics", json.dumps({"type": "event", "id": n})) for n in (1, 2)]))
    client.push(None, "ping", '{"type": "ping"}')
    assert [json.loads(text) for text in iter(client.take, None)] == [
        {"type": "event", "id": 1},
        {"type": "event", "id": 2},
        {"type": "ping"},
    ]
