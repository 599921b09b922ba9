"""Receivers and fixtures for the notification tests: a webhook receiver that verifies the
Standard Webhooks signature itself (not with the code under test), a Slack-compatible one, and
rules and alerts written straight into the store."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from control_plane.crypto import Cipher
from control_plane.monitoring import routes
from control_plane.services.alerts import AlertSettings
from control_plane.store.monitoring_models import AlertRule, MonitorAlert
from tests.emulators.http import Emulator, Reply, Request

FAST = AlertSettings(attempts=3, backoff_seconds=0.01, timeout_seconds=5, allow_private_targets=True)


def verify(secret: str, headers: dict[str, str], body: bytes, *, tolerance: float = 300) -> bool:
    """Standard Webhooks verification, written from the specification: the key is the base64
    after ``whsec_``; the signed content ``id.timestamp.body``; any ``v1,`` signature may match."""
    lowered = {k.lower(): v for k, v in headers.items()}
    message_id, timestamp = lowered.get("webhook-id"), lowered.get("webhook-timestamp")
    if not message_id or not timestamp or abs(int(timestamp) - time.time()) > tolerance:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    expected = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    for candidate in lowered.get("webhook-signature", "").split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
            return True
    return False


class Receiver(Emulator):
    """POST /hook/<name>: a webhook receiver that answers 401 to a bad signature (when it knows
    the secret), 500 while the path's ``failures`` remain, else 204; /slack/<name> takes Slack's shape."""

    def __init__(self) -> None:
        super().__init__()
        self.secret: str | None = None
        self.failures: dict[str, int] = {}  # path -> how many 500s to answer first
        self.accepted: list[tuple[str, dict[str, str], bytes]] = []  # (path, headers, body)
        self.rejected: list[tuple[str, str]] = []  # (path, why)
        self.seen_ids: set[str] = set()
        self._guard = threading.Lock()
        self.route("POST", r"/hook/\w+", self._hook)
        self.route("POST", r"/slack/[\w/]+", self._slack)

    def _hook(self, request: Request) -> Reply:
        with self._guard:
            if self.secret is not None and not verify(self.secret, request.headers, request.body):
                self.rejected.append((request.path, "bad signature"))
                return Reply(401, {"error": "bad signature"})
            if self.failures.get(request.path, 0) > 0:
                self.failures[request.path] -= 1
                return Reply(500, {"error": "try again"})
            self.accepted.append((request.path, request.headers, request.body))
        return Reply(204)

    def _slack(self, request: Request) -> Reply:
        body = request.json()
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return Reply(400, b"invalid_payload")
        with self._guard:
            self.accepted.append((request.path, request.headers, request.body))
        return Reply(200, b"ok")

    def notices(self, path: str | None = None) -> list[dict[str, Any]]:
        return [json.loads(body) for p, _, body in self.accepted if path is None or p == path]


def cipher() -> Cipher:
    return Cipher(os.urandom(32))


def add_rule(
    sessions: sessionmaker[Session],
    key: Cipher,
    route_list: list[dict[str, Any]],
    *,
    name: str = "High CPU",
    grouping: dict[str, Any] | None = None,
    signed: bool = True,
) -> tuple[uuid.UUID, str | None]:
    """A rule with ``route_list`` sealed as the API stores them; (its id, its signing secret)."""
    rule_id = uuid.uuid4()
    secret, sealed = routes.make_secret(rule_id, key) if signed else (None, None)
    with sessions.begin() as session:
        session.add(
            AlertRule(
                id=rule_id,
                name=name,
                kind="metric_threshold",
                spec={"metric": "cpu"},
                severity="critical",
                labels={"team": "platform"},
                annotations={"summary": "CPU above 90%", "runbook_url": "https://runbooks.example/cpu"},
                routes=routes.seal(rule_id, route_list, key),
                grouping=grouping or {},
                signing_secret_ciphertext=sealed,
            )
        )
    return rule_id, secret


def add_alert(
    sessions: sessionmaker[Session],
    rule_id: uuid.UUID,
    *,
    state: str,
    at: datetime,
    resource: str = "web-1",
    **labels: str,
) -> uuid.UUID:
    alert_id = uuid.uuid4()
    all_labels = {"alertname": "High CPU", "severity": "critical", "resource": resource, **labels}
    fingerprint = hashlib.sha256(f"{rule_id}{sorted(all_labels.items())}".encode()).hexdigest()
    with sessions.begin() as session:
        session.add(
            MonitorAlert(
                id=alert_id,
                rule_id=rule_id,
                fingerprint=fingerprint,
                open_key=None if state == "resolved" else fingerprint,
                state=state,
                severity="critical",
                labels=all_labels,
                annotations={"summary": f"CPU high on {resource}", "runbook_url": "https://runbooks.example/cpu"},
                value=95.0,
                active_since=at - timedelta(minutes=1),
                fired_at=at if state != "pending" else None,
                resolved_at=at if state == "resolved" else None,
                last_evaluated_at=at,
            )
        )
    return alert_id


def set_alert(sessions: sessionmaker[Session], alert_id: uuid.UUID, **values: Any) -> None:
    with sessions.begin() as session:
        alert = session.get(MonitorAlert, alert_id)
        assert alert is not None
        for name, value in values.items():
            setattr(alert, name, value)
        if values.get("state") == "resolved":
            alert.open_key = None
