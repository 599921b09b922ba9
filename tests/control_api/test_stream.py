"""WebSocket /api/cloud/monitoring/stream through a real `websockets` client against uvicorn
(on SQLite here; the PostgreSQL fan-out across two workers is in test_stream_postgres.py)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session
from websockets.exceptions import ConnectionClosed, InvalidStatus

from control_api.routers import stream as stream_router
from control_plane.monitoring import events
from control_plane.security import Role
from control_plane.services.api_keys import list_keys, revoke_key
from tests.control_api.streaming import (
    StreamServer,
    collect,
    hello,
    ids,
    message,
    open_stream,
    quiet,
    some_id,
    stream_server,
)


@pytest.fixture
def server(tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[StreamServer]:
    """On SQLite (its poll) and on PostgreSQL (LISTEN/NOTIFY)."""
    monkeypatch.setenv("WEDCLOUD_MONITOR_STREAM_PING_SECONDS", "0.4")
    with stream_server(tmp_path / "home", store_url) as running:
        yield running


async def closed_with(ws: object) -> tuple[int, str]:
    """Read until the server closes; its code and reason."""
    frame = None
    try:
        for _ in range(50):
            await message(ws, 10)  # type: ignore[arg-type]
    except ConnectionClosed as closed:
        frame = closed.rcvd
    assert frame is not None, "the server sent no close frame"
    return frame.code, frame.reason


def test_without_a_key_the_stream_closes_with_1008(server: StreamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_router, "AUTH_WAIT_SECONDS", 0.5)

    async def scenario() -> None:
        async with open_stream(server.url) as ws:  # no header, no subprotocol, no auth message
            code, reason = await closed_with(ws)
        assert code == 1008
        assert "no API key" in reason
        async with open_stream(server.url) as ws:  # a first message that is not an auth message
            await ws.send(json.dumps({"type": "subscribe", "topics": ["alerts"]}))
            assert (await closed_with(ws))[0] == 1008

    asyncio.run(scenario())


def test_an_unknown_key_closes_with_1008_in_each_place(server: StreamServer) -> None:
    async def scenario() -> None:
        bogus = "wc_live_" + "x" * 40
        async with open_stream(server.url, key=bogus) as ws:
            assert await closed_with(ws) == (1008, "the API key is unknown or revoked")
        async with open_stream(server.url, subprotocols=["wedcloud.v1", f"key.{bogus}"]) as ws:  # type: ignore[list-item]
            assert (await closed_with(ws))[0] == 1008
        async with open_stream(server.url) as ws:
            await ws.send(json.dumps({"type": "auth", "key": bogus}))
            assert (await closed_with(ws))[0] == 1008

    asyncio.run(scenario())


@pytest.mark.parametrize("name", ["key", "api_key", "token"])
def test_a_key_in_the_url_is_refused_even_beside_a_good_header(server: StreamServer, name: str) -> None:
    key = server.keys[Role.VIEWER]

    async def scenario() -> None:
        async with open_stream(server.url, key=key, query=f"{name}={key}") as ws:
            code, reason = await closed_with(ws)
        assert code == 1008
        assert "never accepted in the URL" in reason

    asyncio.run(scenario())


@pytest.mark.parametrize("way", ["header", "subprotocol", "auth-message"])
def test_each_way_of_presenting_a_key_opens_the_stream(server: StreamServer, way: str) -> None:
    key = server.keys[Role.VIEWER]

    async def scenario() -> None:
        options: dict[str, object] = {}
        if way == "header":
            options["key"] = key
        elif way == "subprotocol":
            options["subprotocols"] = ["wedcloud.v1", f"key.{key}"]
        async with open_stream(server.url, **options) as ws:  # type: ignore[arg-type]
            if way == "subprotocol":
                assert ws.subprotocol == "wedcloud.v1"
                assert key not in str(ws.response.headers)  # the key is never echoed
            if way == "auth-message":
                await ws.send(json.dumps({"type": "auth", "key": key}))
            greeting = await hello(ws)
            assert greeting["key_name"] == "stream-viewer"
            assert greeting["subscription"]["topics"] == [
                "metrics",
                "alerts",
                "operations",
                "resources",
                "deployments",
                "dr",
            ]
            published = await asyncio.to_thread(server.publish, "alerts", {"n": 1}, severity="critical")
            (event,) = await collect(ws, 1)
            assert event["id"] == published
            assert event["topic"] == "alerts"
            assert event["data"] == {"n": 1}
            assert event["severity"] == "critical"
            assert event["at"].endswith("+00:00")

    asyncio.run(scenario())


def test_topic_filters_and_a_subscribe_message(server: StreamServer) -> None:
    key = server.keys[Role.VIEWER]

    async def scenario() -> None:
        async with (
            open_stream(server.url, key=key, query="topics=alerts") as alerts,
            open_stream(server.url, key=key, query="topics=metrics,operations") as others,
        ):
            assert (await hello(alerts))["subscription"]["topics"] == ["alerts"]
            await hello(others)
            published = await asyncio.to_thread(
                server.publish_many,
                [
                    ("metrics", {"i": 0}, {}),
                    ("alerts", {"i": 1}, {}),
                    ("operations", {"i": 2}, {}),
                    ("resources", {}, {}),
                ],
            )
            assert ids(await collect(alerts, 1)) == [published[1]]
            assert ids(await collect(others, 2)) == [published[0], published[2]]
            assert await quiet(alerts, 0.3) == []
            assert await quiet(others, 0.1) == []
            await alerts.send(json.dumps({"type": "subscribe", "topics": ["resources"]}))
            (changed,) = await collect(alerts, 1, kinds=("subscribed",))
            assert changed["subscription"]["topics"] == ["resources"]
            later = await asyncio.to_thread(server.publish_many, [("alerts", {}, {}), ("resources", {}, {})])
            assert ids(await collect(alerts, 1)) == [later[1]]
            await alerts.send(json.dumps({"type": "subscribe", "topics": ["weather"]}))
            (error,) = await collect(alerts, 1, kinds=("error",))
            assert error["field"] == "topics"
            assert "weather" in error["detail"]

    asyncio.run(scenario())


def test_provider_resource_and_severity_filters(server: StreamServer) -> None:
    key = server.keys[Role.VIEWER]
    provider, other_provider, resource = some_id(), some_id(), some_id()

    async def scenario() -> None:
        async with (
            open_stream(server.url, key=key, query=f"provider={provider}") as by_provider,
            open_stream(server.url, key=key, query=f"resource={resource}") as by_resource,
            open_stream(server.url, key=key, query="topics=alerts&severity=critical,warning") as by_severity,
        ):
            for ws in (by_provider, by_resource, by_severity):
                await hello(ws)
            published = await asyncio.to_thread(
                server.publish_many,
                [
                    ("metrics", {}, {"provider_id": provider, "resource_id": resource}),
                    ("metrics", {}, {"provider_id": other_provider, "resource_id": some_id()}),
                    ("alerts", {}, {"provider_id": other_provider, "resource_id": resource, "severity": "warning"}),
                    ("alerts", {}, {"provider_id": provider, "severity": "info"}),
                    ("alerts", {}, {"severity": "critical"}),
                ],
            )
            assert ids(await collect(by_provider, 2)) == [published[0], published[3]]
            assert ids(await collect(by_resource, 2)) == [published[0], published[2]]
            assert ids(await collect(by_severity, 2)) == [published[2], published[4]]
            for ws in (by_provider, by_resource, by_severity):
                assert await quiet(ws, 0.2) == []

    asyncio.run(scenario())


def test_a_bad_query_parameter_closes_naming_it(server: StreamServer) -> None:
    key = server.keys[Role.VIEWER]

    async def scenario() -> None:
        for query, field in (
            ("provider=not-a-uuid", "provider"),
            ("since=-3", "since"),
            ("topics=metrics,x", "topics"),
            ("batch=maybe", "batch"),
        ):
            async with open_stream(server.url, key=key, query=query) as ws:
                code, reason = await closed_with(ws)
            assert (code, reason.split(":")[0]) == (4422, field), (query, reason)

    asyncio.run(scenario())


def test_batch_true_sends_the_events_ready_together_in_one_frame(server: StreamServer) -> None:
    key = server.keys[Role.VIEWER]

    def publish_twenty() -> int:
        with Session(server.engine) as session, session.begin():
            return events.publish_many(session, "metrics", [{"data": {"i": i}} for i in range(20)])

    async def scenario() -> None:
        async with (
            open_stream(server.url, key=key, query="topics=metrics&batch=true") as batched,
            open_stream(server.url, key=key, query="topics=metrics") as single,
        ):
            assert (await hello(batched))["subscription"]["batch"] is True
            await hello(single)
            newest = await asyncio.to_thread(publish_twenty)  # one commit: read and queued at once
            [frame] = await collect(batched, 1, kinds=("batch",))  # a ping may come first
            assert [item["id"] for item in frame["messages"]] == list(range(newest - 19, newest + 1))
            assert {item["type"] for item in frame["messages"]} == {"event"}
            assert ids(await collect(single, 20)) == list(range(newest - 19, newest + 1))  # one frame each

    asyncio.run(scenario())


def test_resume_with_since_sends_what_was_missed_then_live_without_gap_or_duplicate(server: StreamServer) -> None:
    key = server.keys[Role.VIEWER]

    async def scenario() -> None:
        async with open_stream(server.url, key=key, query="topics=metrics,alerts") as ws:
            await hello(ws)
            first = await asyncio.to_thread(server.publish_many, [("metrics", {"i": i}, {}) for i in range(5)])
            seen = ids(await collect(ws, 5))
        assert seen == first
        missed = await asyncio.to_thread(
            server.publish_many, [("alerts" if i % 3 else "metrics", {"i": i}, {}) for i in range(30)]
        )
        await asyncio.to_thread(server.publish, "operations", {})  # not subscribed: never sent
        # publish live while the replay runs, so the replay and the live queue overlap
        live = asyncio.create_task(
            asyncio.to_thread(server.publish_many, [("alerts", {"live": i}, {}) for i in range(40)])
        )
        async with open_stream(server.url, key=key, query=f"topics=metrics,alerts&since={seen[-1]}") as ws:
            greeting = await hello(ws)
            assert greeting["subscription"]["since"] == seen[-1]
            live_ids = await live
            received = ids(await collect(ws, len(missed) + len(live_ids), timeout=20))
            assert await quiet(ws, 0.3) == []
        assert sorted(received) == sorted(missed + live_ids)
        assert len(set(received)) == len(received)
        assert received[: len(missed)] == missed  # the replay comes first, in order

    asyncio.run(scenario())


def test_resume_only_reaches_back_the_replay_window(server: StreamServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from wedcloud.sqltypes import utcnow

    key = server.keys[Role.VIEWER]
    old = server.publish("alerts", {"old": True}, at=utcnow() - timedelta(minutes=16))  # replay keeps 15 min
    recent = server.publish("alerts", {"old": False})

    async def scenario() -> None:
        async with open_stream(server.url, key=key, query=f"since={old - 1}") as ws:
            await hello(ws)
            assert ids(await collect(ws, 1)) == [recent]
            assert await quiet(ws, 0.3) == []

    asyncio.run(scenario())


def test_a_slow_consumer_loses_old_metrics_is_told_how_many_and_keeps_every_alert(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDCLOUD_MONITOR_STREAM_QUEUE", "10")
    blob = "x" * 20_000
    plan = [("alerts" if i % 100 == 50 else "metrics", {"i": i, "blob": blob}, {}) for i in range(700)]
    with stream_server(tmp_path / "home", f"sqlite:///{tmp_path / 'state.db'}") as server:

        async def scenario() -> None:
            sock = socket.socket()  # a small receive buffer, so that the server's sends block soon
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", int(server.url.split(":")[2].split("/")[0])))
            key = server.keys[Role.VIEWER]
            async with open_stream(server.url, key=key, sock=sock, max_queue=1, max_size=None) as ws:
                await hello(ws)
                published = await asyncio.to_thread(server.publish_many, plan)
                await asyncio.sleep(1.0)  # the hub queues (and drops) while the client reads nothing
                alerts = {n for n, (topic, _, _) in zip(published, plan, strict=True) if topic == "alerts"}
                metrics = set(published) - alerts
                got: list[int] = []
                lost = []
                while True:
                    try:
                        item = await message(ws, 3)
                    except TimeoutError:
                        break
                    if item["type"] == "event":
                        got.append(item["id"])
                    elif item["type"] == "lost":
                        lost.append(item)
            assert lost, "the client was never told it lost events"
            assert alerts <= set(got), "an alert was dropped"
            assert len(got) == len(set(got))
            dropped = metrics - set(got)
            assert sum(item["count"] for item in lost) == len(dropped) > 0
            assert all(item["since_id"] in dropped for item in lost)

        asyncio.run(scenario())


def test_a_ping_arrives_every_interval(server: StreamServer) -> None:
    async def scenario() -> None:
        async with open_stream(server.url, key=server.keys[Role.VIEWER]) as ws:
            await hello(ws)
            loop = asyncio.get_running_loop()
            started = loop.time()
            pings = await collect(ws, 3, timeout=5, kinds=("ping",))
            assert 0.8 <= loop.time() - started <= 3.0  # three pings 0.4 s apart
            assert all(item["at"].endswith("+00:00") for item in pings)

    asyncio.run(scenario())


def test_a_key_revoked_while_connected_is_closed_at_the_next_ping(server: StreamServer) -> None:
    async def scenario() -> None:
        async with open_stream(server.url, key=server.keys[Role.OPERATOR]) as ws:
            await hello(ws)
            with Session(server.engine) as session, session.begin():
                (operator,) = [row for row in list_keys(session) if row.name == "stream-operator"]
                revoke_key(session, key_id=operator.id)
            code, reason = await closed_with(ws)
        assert (code, reason) == (1008, "the API key was revoked")

    asyncio.run(scenario())


def test_cross_origin_handshakes_are_refused_unless_configured(tmp_path: Path) -> None:
    allowed = "https://console.example.com"
    with stream_server(tmp_path / "home", f"sqlite:///{tmp_path / 'state.db'}", cors_origins=[allowed]) as server:
        key = server.keys[Role.VIEWER]
        port = server.url.split(":")[2].split("/")[0]

        async def scenario() -> None:
            with pytest.raises(InvalidStatus) as refused:
                async with open_stream(server.url, key=key, origin="https://evil.example"):
                    pass
            assert refused.value.response.status_code == 403
            for origin in (allowed, f"http://127.0.0.1:{port}"):  # configured; this server's own
                async with open_stream(server.url, key=key, origin=origin) as ws:
                    await hello(ws)

        asyncio.run(scenario())


def test_the_hub_status_counts_clients_and_the_last_event(server: StreamServer) -> None:
    hub = server.app.state.stream

    async def scenario() -> None:
        async with open_stream(server.url, key=server.keys[Role.VIEWER]) as ws:
            await hello(ws)
            published = await asyncio.to_thread(server.publish, "alerts", {})
            await collect(ws, 1)
            status = hub.status()
        assert status["status"] == "ok"
        assert status["mode"] == ("listen" if server.engine.dialect.name == "postgresql" else "poll")
        assert status["clients"] == 1
        assert status["last_event_id"] == published
        assert 0 <= status["lag_seconds"] < 5

    asyncio.run(scenario())
    assert hub.status()["clients"] == 0


def test_handshakes_from_one_address_are_rate_limited(tmp_path: Path) -> None:
    with stream_server(tmp_path / "home", f"sqlite:///{tmp_path / 'state.db'}", rate_limit_per_address=3) as server:
        key = server.keys[Role.VIEWER]

        async def scenario() -> None:
            for _ in range(3):
                async with open_stream(server.url, key=key) as ws:
                    await hello(ws)
            async with open_stream(server.url, key=key) as ws:
                code, reason = await closed_with(ws)
            assert code == 1013
            assert reason.startswith("too many connections from this address")

        asyncio.run(scenario())


def test_batch_clients_with_one_subscription_get_the_same_frames_a_tick_at_a_time(
    tmp_path: Path, store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDCLOUD_MONITOR_STREAM_TICK_MS", "400")

    def publish_five() -> list[int]:  # five transactions: five wakes or polls, at most two ticks
        published = []
        for n in range(5):
            with Session(running.engine) as session, session.begin():
                published.append(events.publish(session, "metrics", {"n": n}))
        return published

    async def frames(ws: object, count: int) -> list[str]:
        texts: list[str] = []
        while sum(text.count('"type":"event"') for text in texts) < count:
            texts.append(str(await asyncio.wait_for(ws.recv(), 10)))  # type: ignore[attr-defined]
        return texts

    async def scenario() -> None:
        key = running.keys[Role.VIEWER]
        async with (
            open_stream(running.url, key=key, query="topics=metrics&batch=true") as first,
            open_stream(running.url, key=key, query="batch=true&topics=metrics") as second,
        ):
            await hello(first)
            await hello(second)
            published = await asyncio.to_thread(publish_five)
            texts = await frames(first, 5)
            assert len(texts) <= 2  # not one frame per event
            assert await frames(second, 5) == texts  # the same encoded frames
            sent = [json.loads(text) for text in texts]
            assert [item["id"] for frame in sent for item in frame.get("messages", [frame])] == published

    with stream_server(tmp_path / "home", store_url) as running:
        asyncio.run(scenario())
