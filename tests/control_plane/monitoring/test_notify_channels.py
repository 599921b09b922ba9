"""The three channels against real receivers: a webhook receiver that verifies the HMAC
signature (and refuses a tampered body), a Slack-compatible one, and a local SMTP server
(aiosmtpd) that requires STARTTLS, with a certificate made here and trusted through a CA file."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword
from aiosmtpd.smtp import Session as SMTPSession
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import SecretStr
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from control_plane.monitoring import channels
from control_plane.monitoring.notify import NotifyReport, notify_round
from control_plane.monitoring.settings import MonitorSettings
from control_plane.services.alerts import AlertSettings
from control_plane.store.db import make_sessionmaker
from control_plane.store.monitoring_models import Notification
from tests.conftest import free_port
from tests.control_plane.monitoring.notify_support import FAST, Receiver, add_alert, add_rule, cipher

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
AT = T0 + dt.timedelta(minutes=1)
PASSWORD = "s3cret-relay-password"  # the test relay's


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def sessions(sqlite_engine: Engine) -> sessionmaker[Session]:
    return make_sessionmaker(sqlite_engine)


def attempts(sessions: sessionmaker[Session]) -> list[Notification]:
    with sessions() as session:
        return list(session.scalars(select(Notification).order_by(Notification.id)))


def one_round(sessions: sessionmaker[Session], key: Any, delivery: AlertSettings = FAST) -> NotifyReport:
    return notify_round(sessions, now=AT, settings=MonitorSettings(), cipher=key, delivery=delivery)


# -- webhook and Slack ---------------------------------------------------------------------------
def test_the_receiver_verifies_the_signature_and_refuses_a_tampered_body(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    key = cipher()
    rule_id, receiver.secret = add_rule(sessions, key, [{"type": "webhook", "url": f"{receiver.url}/hook/ops"}])
    add_alert(sessions, rule_id, state="firing", at=T0)
    assert one_round(sessions, key).delivered == 1
    [(_, headers, body)] = receiver.accepted
    assert headers["webhook-signature"].startswith("v1,")
    assert receiver.notices()[0]["id"] == headers["webhook-id"]
    tampered = body.replace(b'"firing"', b'"resolved"', 1)
    assert tampered != body
    url = f"{receiver.url}/hook/ops"
    request = urllib.request.Request(url, data=tampered, method="POST", headers=headers)  # noqa: S310 - local
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)  # noqa: S310 - the local receiver
    assert refused.value.code == 401
    assert receiver.rejected == [("/hook/ops", "bad signature")]
    assert len(receiver.accepted) == 1


def test_a_notice_signed_with_another_secret_is_refused_and_recorded(
    sessions: sessionmaker[Session], receiver: Receiver
) -> None:
    key = cipher()
    rule_id, _ = add_rule(sessions, key, [{"type": "webhook", "url": f"{receiver.url}/hook/ops"}])
    receiver.secret = "whsec_" + "QUJD" * 11  # not the rule's
    add_alert(sessions, rule_id, state="firing", at=T0)
    report = one_round(sessions, key)
    assert (report.delivered, report.failed, receiver.accepted) == (0, 1, [])
    assert [(t.status_code, t.delivered) for t in attempts(sessions)] == [(401, False)]  # a 4xx is not retried


def test_a_slack_route_gets_text_and_blocks_unsigned(sessions: sessionmaker[Session], receiver: Receiver) -> None:
    key = cipher()
    rule_id, _ = add_rule(sessions, key, [{"type": "slack", "url": f"{receiver.url}/slack/T000/B000"}])
    add_alert(sessions, rule_id, state="firing", at=T0, resource="web-7")
    assert one_round(sessions, key).delivered == 1
    [(path, headers, _)] = receiver.accepted
    assert path == "/slack/T000/B000"
    [body] = receiver.notices()
    assert "webhook-signature" not in {k.lower() for k in headers}
    assert body["text"].startswith("[FIRING:1] High CPU")
    assert "CPU high on web-7" in body["text"]
    assert body["blocks"][0]["type"] == "header"
    assert {b["type"] for b in body["blocks"][1:]} == {"section", "context"}
    assert attempts(sessions)[0].target == f"{receiver.url}/..."  # the hook's path is its secret


# -- e-mail over STARTTLS ------------------------------------------------------------------------
def certificate(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: (its PEM, which the client trusts as a CA file;
    the server's TLS context)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smtp.wedcloud.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (directory / "smtp.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    (directory / "smtp.key").write_bytes(private)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(directory / "smtp.pem", directory / "smtp.key")
    return directory / "smtp.pem", context


@dataclass
class Mailbox:
    """What the SMTP server received: each message with whether its session was encrypted."""

    messages: list[tuple[list[str], bytes, bool]] = field(default_factory=list)
    logins: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: SMTPSession, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        self.messages.append((list(envelope.rcpt_tos), content, session.ssl is not None))
        return "250 OK"

    def authenticate(self, server: Any, session: SMTPSession, envelope: Envelope, mechanism: str,
                     data: Any) -> AuthResult:  # fmt: skip
        ok = isinstance(data, LoginPassword) and data.password == PASSWORD.encode()
        if ok:
            self.logins.append(data.login)
        return AuthResult(success=ok)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[Mailbox, int, Path]]:
    ca_file, context = certificate(tmp_path)
    mailbox = Mailbox()
    port = free_port()
    server = Controller(mailbox, hostname="127.0.0.1", port=port, tls_context=context, require_starttls=True,
                        authenticator=mailbox.authenticate, auth_require_tls=True)  # fmt: skip
    server.start()
    yield mailbox, port, ca_file
    server.stop()


def email_rule(sessions: sessionmaker[Session]) -> Any:
    key = cipher()
    rule_id, _ = add_rule(sessions, key, [{"type": "email", "to": ["ops@example.com", "oncall@example.com"]}])
    add_alert(sessions, rule_id, state="firing", at=T0, resource="db-1")
    return key


def smtp(port: int, **values: Any) -> AlertSettings:
    return AlertSettings(attempts=2, backoff_seconds=0.01, smtp_host="127.0.0.1", smtp_port=port,
                         smtp_sender="alerts@wedcloud.example", **values)  # fmt: skip


def test_email_arrives_over_starttls_with_auth_and_the_password_is_never_logged(
    sessions: sessionmaker[Session], relay: tuple[Mailbox, int, Path], caplog: pytest.LogCaptureFixture
) -> None:
    mailbox, port, ca_file = relay
    key = email_rule(sessions)
    caplog.set_level(logging.DEBUG)
    delivery = smtp(port, smtp_ca_file=str(ca_file), smtp_username="wedcloud", smtp_password=SecretStr(PASSWORD))
    assert one_round(sessions, key, delivery).delivered == 1
    [(recipients, content, encrypted)] = mailbox.messages
    assert (recipients, encrypted, mailbox.logins) == (["ops@example.com", "oncall@example.com"], True, [b"wedcloud"])
    assert b"Subject: [FIRING:1] High CPU" in content
    assert b"CPU high on db-1" in content
    [sent] = attempts(sessions)
    assert (sent.channel, sent.target, sent.delivered) == ("email", "ops@example.com, oncall@example.com", True)
    assert f"<{sent.notice_id}@wedcloud.notice>".encode() in content  # the same Message-ID on a resend
    assert PASSWORD not in caplog.text
    assert PASSWORD not in repr(delivery)


def test_a_relay_without_starttls_is_refused_and_nothing_is_sent(sessions: sessionmaker[Session]) -> None:
    mailbox, port = Mailbox(), free_port()
    plain = Controller(mailbox, hostname="127.0.0.1", port=port)
    plain.start()
    try:
        report = one_round(sessions, email_rule(sessions), smtp(port))
    finally:
        plain.stop()
    assert (report.delivered, report.failed, mailbox.messages) == (0, 1, [])
    [refused] = attempts(sessions)  # tried once: another try cannot make the relay offer STARTTLS
    assert refused.error == channels.NO_STARTTLS


def test_a_relay_whose_certificate_is_not_trusted_is_refused(
    sessions: sessionmaker[Session], relay: tuple[Mailbox, int, Path]
) -> None:
    mailbox, port, _ = relay
    report = one_round(sessions, email_rule(sessions), smtp(port))  # no CA file: the system store
    assert (report.delivered, mailbox.messages) == (0, [])
    [refused] = attempts(sessions)
    assert refused.error is not None
    assert "CERTIFICATE_VERIFY_FAILED" in refused.error


def test_email_without_a_relay_is_recorded_as_not_sent(sessions: sessionmaker[Session]) -> None:
    report = one_round(sessions, email_rule(sessions), AlertSettings(attempts=3))
    assert report.failed == 1
    assert [t.error for t in attempts(sessions)] == ["not sent: no SMTP relay configured"]


def test_payloads_share_the_notice_and_title(sessions: sessionmaker[Session]) -> None:
    notice = {
        "id": "msg_1", "group_key": "k", "reason": "first", "status": "firing",
        "rule": {"id": str(uuid.uuid4()), "name": "High CPU"}, "group_labels": {"resource": "web-1"},
        "common_labels": {}, "common_annotations": {}, "external_url": "https://wedcloud.example",
        "alerts": [{"id": "a", "status": "firing", "labels": {"resource": "web-1"}, "annotations": {},
                    "startsAt": T0.isoformat(), "value": 93.5, "acknowledged": None}],
    }  # fmt: skip
    assert channels.title(notice) == "[FIRING:1] High CPU (resource=web-1)"
    assert channels.webhook_body(notice)["externalURL"] == "https://wedcloud.example"
    message = channels.email_message(notice, ["ops@example.com"], "alerts@wedcloud.example")
    assert "value 93.5" in message.get_content()
    assert "https://wedcloud.example/api/cloud/monitoring/alerts" in message.get_content()
