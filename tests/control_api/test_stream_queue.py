"""A stream client's bounded queue and its subscription filters, without a server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from control_api.stream_hub import Client, Subscription, SubscriptionError
from control_plane.monitoring.events import Event


def drain(client: Client) -> list[dict[str, object]]:
    sent = []
    while (text := client.take()) is not None:
        sent.append(json.loads(text))
    return sent


def push(client: Client, event_id: int, topic: str) -> None:
    client.push(event_id, topic, json.dumps({"type": "event", "id": event_id, "topic": topic}))


def test_a_full_queue_drops_the_oldest_metrics_first_then_others_never_alerts() -> None:
    client = Client(Subscription(), bound=10)
    for n in range(1, 11):  # 1-4 metrics, 5-7 operations, 8-10 alerts
        push(client, n, "metrics" if n <= 4 else "operations" if n <= 7 else "alerts")
    for n in range(11, 19):  # eight more alerts: four metrics go, then three operations, then none
        push(client, n, "alerts")
    sent = drain(client)
    assert sent[0] == {"type": "lost", "count": 7, "since_id": 1}
    assert [item["id"] for item in sent[1:]] == list(range(8, 19))  # 11 alerts: past the bound
    push(client, 19, "metrics")
    assert [item["id"] for item in drain(client)] == [19]  # told once, not again


def test_a_non_alert_meeting_a_queue_of_alerts_is_the_one_dropped() -> None:
    client = Client(Subscription(), bound=10)
    for n in range(1, 11):
        push(client, n, "alerts")
    push(client, 11, "metrics")
    push(client, 12, "alerts")
    sent = drain(client)
    assert sent[0] == {"type": "lost", "count": 1, "since_id": 11}
    assert [item["id"] for item in sent[1:]] == [*range(1, 11), 12]


def test_pings_are_never_dropped_and_keep_their_place() -> None:
    client = Client(Subscription(), bound=10)
    client.push(None, "ping", '{"type": "ping"}')
    for n in range(1, 13):
        push(client, n, "metrics")
    sent = drain(client)
    assert sent[0] == {"type": "lost", "count": 2, "since_id": 1}
    assert sent[1] == {"type": "ping"}
    assert [item["id"] for item in sent[2:]] == list(range(3, 13))


def _event(**fields: object) -> Event:
    return Event(id=1, topic=str(fields.pop("topic", "alerts")), at=datetime.now(UTC), payload={}, **fields)  # type: ignore[arg-type]


def test_filters_need_every_given_field_to_match() -> None:
    provider = "6f0d1c1e-2b9a-4a1e-9a51-3c8b1f2d9e10"
    subscription = Subscription.parse("alerts", provider.upper(), None, "critical,warning")
    assert subscription.matches(_event(provider_id=provider, severity="critical"))
    assert not subscription.matches(_event(provider_id=provider, severity="info"))
    assert not subscription.matches(_event(provider_id=None, severity="critical"))
    assert not subscription.matches(_event(topic="metrics", provider_id=provider, severity="critical"))
    assert Subscription.parse().matches(_event(topic="dr"))


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"topics": "alerts,weather"}, "topics"),
        ({"provider": "aws"}, "provider"),
        ({"resource": ["not-a-uuid"]}, "resource"),
        ({"severity": "CRIT!"}, "severity"),
        ({"topics": 5}, "topics"),
    ],
)
def test_a_bad_subscription_names_its_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(SubscriptionError) as refused:
        Subscription.parse(**arguments)
    assert refused.value.field == field
