"""Budget webhooks (issue 13, item 8): stored sealed, sent only to public addresses through the
outbound guard, and signed in the Standard Webhooks format (verified here with hmac alone)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, ClassVar

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from control_plane.crypto import load_cipher
from control_plane.security import Role
from control_plane.services import webhooks
from control_plane.services.alerts import AlertSettings, deliver_alert
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Alert, Budget, Delivery
from tests.control_api.conftest import Api
from tests.local_http import serving

URL = "/api/cloud/costs/budgets"
QUICK = AlertSettings(attempts=1, timeout_seconds=5)


class _Receiver(http.server.BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[str]:
    with serving(_Receiver) as port:
        yield f"http://127.0.0.1:{port}"


def _verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """A receiver's check, from the Standard Webhooks description and nothing of ours."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1)[1] for s in headers["webhook-signature"].split() if s.startswith("v1,")]
    return any(hmac.compare_digest(expected, o) for o in offered)


def _budget(api: Api, hook: str) -> dict[str, Any]:
    body = {"name": "hooked", "amount": "100", "currency": "USD", "targets": [{"type": "webhook", "url": hook}]}
    response = api.client.post(URL, json=body, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _alert(api: Api, budget_id: str) -> uuid.UUID:
    with Session(api.engine) as session, session.begin():
        alert = Alert(kind="budget", key=f"budget:{budget_id}:test", budget_id=uuid.UUID(budget_id),
                      title="hooked: spend reached 80%", severity="warning", status="pending", detail={})  # fmt: skip
        session.add(alert)
        session.flush()
        return alert.id


def test_a_webhook_is_stored_sealed_and_its_delivery_is_signed_with_the_secret_shown_once(
    api: Api, receiver: str
) -> None:
    hook = f"{receiver}/T000/B000/secret-path-token"
    created = _budget(api, hook)
    secret = created["webhook_secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert created["targets"] == [{"type": "webhook", "url": f"{receiver}/..."}]
    with api.engine.connect() as connection:  # neither the row nor the audit holds the URL's secret path
        stored = connection.execute(text("SELECT targets, webhook_secret_ciphertext FROM budgets")).one()
        audit = " ".join(str(r) for r in connection.execute(text("SELECT detail FROM audit_log")))
    assert "secret-path-token" not in str(stored[0])
    assert secret.encode() not in stored[1]
    assert "secret-path-token" not in audit
    assert secret not in audit
    again = api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json()
    assert again["webhook_secret"] is None  # shown once

    _Receiver.got.clear()
    sessions = make_sessionmaker(api.engine)
    before = int(time.time())
    status = deliver_alert(sessions, _alert(api, created["id"]), QUICK, cipher=load_cipher(api.home))
    assert status == "delivered"
    [(path, headers, body)] = _Receiver.got
    assert path == "/T000/B000/secret-path-token"  # the real URL, opened in memory
    assert _verified(secret, headers, body)
    assert not _verified(secret, headers, body.replace(b"80%", b"10%"))  # a changed body fails
    assert before <= int(headers["webhook-timestamp"]) <= int(time.time())
    assert json.loads(body)["id"] == headers["webhook-id"]


def test_rotating_the_secret_signs_later_deliveries_with_the_new_one_only(api: Api, receiver: str) -> None:
    created = _budget(api, f"{receiver}/hook")
    rotated = api.client.post(f"{URL}/{created['id']}/webhook-secret", headers=api.headers(Role.OPERATOR))
    assert rotated.status_code == 200, rotated.text
    secret = rotated.json()["secret"]
    assert secret != created["webhook_secret"]
    assert api.audit()[-1].detail["rotated"] == "webhook_secret"
    assert secret not in str(api.audit()[-1].detail)
    _Receiver.got.clear()
    deliver_alert(make_sessionmaker(api.engine), _alert(api, created["id"]), QUICK, cipher=load_cipher(api.home))
    [(_, headers, body)] = _Receiver.got
    assert _verified(secret, headers, body)
    assert not _verified(created["webhook_secret"], headers, body)
    missing = api.client.post(f"{URL}/{uuid.uuid4()}/webhook-secret", headers=api.headers(Role.OPERATOR))
    assert missing.status_code == 404
    viewer = api.client.post(f"{URL}/{created['id']}/webhook-secret", headers=api.headers(Role.VIEWER))
    assert viewer.status_code == 403


def test_a_budget_sent_back_as_read_keeps_its_webhook_and_a_new_url_replaces_it(api: Api, receiver: str) -> None:
    created = _budget(api, f"{receiver}/kept-token")
    read = api.client.get(f"{URL}/{created['id']}", headers=api.headers(Role.VIEWER)).json()
    body = {"targets": read["targets"], "notes": "round trip"}
    response = api.client.put(f"{URL}/{created['id']}", json=body, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 200, response.text
    assert response.json()["webhook_secret"] is None  # the budget had one already
    cipher = load_cipher(api.home)
    with Session(api.engine) as session:
        stored = session.get(Budget, uuid.UUID(created["id"]))
        assert stored is not None
        assert webhooks.url_of(stored.id, stored.targets[0], cipher) == f"{receiver}/kept-token"
    body = {"targets": [{"type": "webhook", "url": f"{receiver}/new-token"}]}
    assert api.client.put(f"{URL}/{created['id']}", json=body, headers=api.headers(Role.OPERATOR)).status_code == 200
    with Session(api.engine) as session:
        stored = session.get(Budget, uuid.UUID(created["id"]))
        assert stored is not None
        assert webhooks.url_of(stored.id, stored.targets[0], cipher) == f"{receiver}/new-token"


def test_a_url_stored_plain_before_sealing_is_delivered_then_sealed_at_start(api: Api, receiver: str) -> None:
    with Session(api.engine) as session, session.begin():
        budget = Budget(
            name="old", amount=Decimal(100), currency="USD", targets=[{"type": "webhook", "url": f"{receiver}/old"}]
        )
        session.add(budget)
        session.flush()
        budget_id = budget.id
    cipher = load_cipher(api.home)
    _Receiver.got.clear()
    assert (
        deliver_alert(make_sessionmaker(api.engine), _alert(api, str(budget_id)), QUICK, cipher=cipher) == "delivered"
    )
    assert "webhook-signature" not in _Receiver.got[0][1]  # no secret yet: unsigned, still delivered
    with Session(api.engine) as session, session.begin():
        assert webhooks.seal_plain_targets(session, cipher) == 1
        assert webhooks.seal_plain_targets(session, cipher) == 0
    with Session(api.engine) as session:
        stored = session.get(Budget, budget_id)
        assert stored is not None
        assert stored.targets[0]["url"] == f"{receiver}/..."
        assert webhooks.url_of(budget_id, stored.targets[0], cipher) == f"{receiver}/old"
        assert webhooks.secret_of(stored, cipher) is not None


@pytest.mark.parametrize(
    "hook",
    ["http://100.64.0.1/hook", "http://[2002:a9fe:a9fe::1]/hook", "http://169.254.169.254/latest/meta-data",
     "http://[fd00:ec2::254]/", "http://[::ffff:127.0.0.1]:9/", "http://198.18.0.1/", "http://127.0.0.1:9/x"],
)  # fmt: skip
def test_a_webhook_to_a_special_purpose_address_is_refused_at_send_time(
    hook: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_PRIVATE", "false")
    with pytest.raises(webhooks.WebhookFailed, match=r"refused: .* non-public address"):
        webhooks.post(hook, {"title": "t"}, message_id="msg_1", secret=webhooks.new_secret(), timeout=1)


@pytest.mark.parametrize("hook", ["http://user:pw@hooks.example.com/x", "file:///etc/passwd"])
def test_a_webhook_url_with_credentials_or_another_scheme_is_refused_naming_the_field(api: Api, hook: str) -> None:
    body = {"name": "bad", "amount": "100", "currency": "USD",
            "targets": [{"type": "email", "address": "a@example.com"}, {"type": "webhook", "url": hook}]}  # fmt: skip
    response = api.client.post(URL, json=body, headers=api.headers(Role.OPERATOR))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert any(e["field"].startswith("targets.1") for e in response.json()["errors"])
    with Session(api.engine) as session:
        assert session.query(Budget).count() == 0
        assert session.query(Delivery).count() == 0
