"""Sending one notice of an alert group to one of its rule's routes, every attempt recorded.

- **webhook**: the notice as JSON (:func:`webhook_body`, modelled on Alertmanager's webhook
  payload), POSTed through the outbound guard by ``services.webhooks.post`` and signed with the
  Standard Webhooks headers under the rule's secret. ``webhook-id`` is the notice's id, the same
  on every retry and on a resend after a crash, so a receiver drops a duplicate by that id.
- **slack**: a Slack-compatible incoming-webhook body (``text`` and ``blocks``), through the same
  guard, unsigned (Slack's incoming webhooks verify nothing; the URL's path is the secret).
- **email**: SMTP to the relay in ``WEDCLOUD_ALERTS_SMTP_*``, upgraded with STARTTLS (the
  certificate verified against ``WEDCLOUD_ALERTS_SMTP_CA_FILE`` or the system store) and refused
  when the relay does not offer it, unless ``WEDCLOUD_ALERTS_SMTP_STARTTLS=false``. The host
  comes from the deployment's settings, never from a request or a rule, so the outbound guard
  (which judges addresses that users supply) does not apply to it.

Each try is recorded as a :class:`Notification` in its own short transaction, after the target
answered: nothing is held open while a target answers. Failures are retried
``WEDCLOUD_ALERTS_ATTEMPTS`` times, waiting ``backoff * 2**(n-1)`` after the n-th, as budget
alerts are; a refusal that another try cannot change (a 4xx other than 408 and 429, no
STARTTLS, no relay, an untrusted certificate) is tried once.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from control_plane.crypto import Cipher
from control_plane.monitoring import routes
from control_plane.services import webhooks
from control_plane.services.alerts import NO_SMTP, AlertSettings
from control_plane.store.monitoring_models import Notification

log = logging.getLogger(__name__)

SLACK_ALERTS_SHOWN = 20  # a Slack message holds at most 50 blocks
NO_STARTTLS = "not sent: the SMTP relay does not offer STARTTLS, which WEDCLOUD_ALERTS_SMTP_STARTTLS requires"
AUTH_IN_CLEAR = "not sent: SMTP credentials are set but the session is not encrypted (no STARTTLS)"


class ChannelFailed(Exception):
    """A try that failed; ``final`` when trying again cannot help."""

    def __init__(self, message: str, status_code: int | None = None, *, final: bool = False) -> None:
        super().__init__(message)
        self.status_code, self.final = status_code, final


# -- what a notice says, per channel ---------------------------------------------------------
def title(notice: dict[str, Any]) -> str:
    """``[FIRING:2] High CPU (resource=web-1)``: the status, how many fire, the rule and the
    labels the group shares."""
    firing = sum(1 for a in notice["alerts"] if a["status"] == "firing")
    status = f"FIRING:{firing}" if firing else "RESOLVED"
    labels = ", ".join(f"{k}={v}" for k, v in sorted(notice["group_labels"].items()))
    return f"[{status}] {notice['rule']['name']}" + (f" ({labels})" if labels else "")


def webhook_body(notice: dict[str, Any]) -> dict[str, Any]:
    """The JSON a webhook route receives (docs/monitoring/notifications.md shows one)."""
    return {
        "version": "1",
        "id": notice["id"],
        "groupKey": notice["group_key"],
        "reason": notice["reason"],
        "status": notice["status"],
        "receiver": notice["rule"]["name"],
        "rule": notice["rule"],
        "title": title(notice),
        "groupLabels": notice["group_labels"],
        "commonLabels": notice["common_labels"],
        "commonAnnotations": notice["common_annotations"],
        "externalURL": notice.get("external_url"),
        "alerts": notice["alerts"],
    }


def _alert_line(alert: dict[str, Any]) -> str:
    summary = alert["annotations"].get("summary") or alert["labels"].get("alertname", "")
    where = alert["labels"].get("resource") or alert["labels"].get("provider") or ""
    state = alert["status"] + (" (acknowledged)" if alert.get("acknowledged") else "")
    value = f", value {alert['value']:g}" if isinstance(alert.get("value"), int | float) else ""
    return f"{state}: {summary}" + (f" on {where}" if where else "") + value + f" since {alert['startsAt']}"


def slack_body(notice: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (what notifications and older clients show)
    and ``blocks`` (a header, then a section per alert, the first 20)."""
    alerts = notice["alerts"]
    lines = [_alert_line(a) for a in alerts[:SLACK_ALERTS_SHOWN]]
    more = len(alerts) - len(lines)
    if more > 0:
        lines.append(f"... and {more} more")
    text = title(notice) + "\n" + "\n".join(f"- {line}" for line in lines)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": title(notice)[:150]}}]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines]
    if runbook := notice["common_annotations"].get("runbook_url"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Runbook: {runbook}"}]})
    return {"text": text, "blocks": blocks}


def email_message(notice: dict[str, Any], to: list[str], sender: str) -> EmailMessage:
    """A plain-text e-mail; its Message-ID is the notice's id, the same on a resend."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, ", ".join(to), title(notice)
    message["Message-ID"] = f"<{notice['id']}@wedcloud.notice>"
    message["X-WedCloud-Notice"] = notice["id"]
    lines = [title(notice), ""]
    for alert in notice["alerts"]:
        lines.append("- " + _alert_line(alert))
        lines += [f"    {k}: {v}" for k, v in sorted(alert["labels"].items())]
        if runbook := alert["annotations"].get("runbook_url"):
            lines.append(f"    runbook: {runbook}")
    if notice.get("external_url"):
        lines += ["", f"Alerts: {notice['external_url'].rstrip('/')}/api/cloud/monitoring/alerts"]
    message.set_content("\n".join(lines) + "\n")
    return message


# -- sending one try ----------------------------------------------------------------------------
def _post(url: str, body: dict[str, Any], notice_id: str, secret: str | None, settings: AlertSettings) -> int:
    try:
        return webhooks.post(
            url,
            body,
            message_id=notice_id,
            secret=secret,
            allow_private=settings.allow_private_targets,
            timeout=settings.timeout_seconds,
        )
    except webhooks.WebhookFailed as exc:  # a refusal (4xx) stands; a 5xx, 408 or 429 may pass later
        code = exc.status_code
        raise ChannelFailed(
            str(exc), code, final=code is not None and 400 <= code < 500 and code not in (408, 429)
        ) from None


def send_email(message: EmailMessage, settings: AlertSettings) -> int:
    """One SMTP session: EHLO, STARTTLS (verified), EHLO again, AUTH if configured, the message."""
    if settings.smtp_host is None:
        raise ChannelFailed(NO_SMTP, final=True)
    context = ssl.create_default_context(cafile=settings.smtp_ca_file)
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds) as smtp:
            smtp.ehlo()
            encrypted = smtp.has_extn("starttls")
            if encrypted:
                smtp.starttls(context=context)
                smtp.ehlo()
            elif settings.smtp_starttls:
                raise ChannelFailed(NO_STARTTLS, final=True)
            if settings.smtp_username:
                if not encrypted:
                    raise ChannelFailed(AUTH_IN_CLEAR, final=True)
                password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                smtp.login(settings.smtp_username, password)
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise ChannelFailed(f"SMTP {exc.smtp_code} {exc.smtp_error!r}", exc.smtp_code) from None
    except ssl.SSLError as exc:
        raise ChannelFailed(f"TLS: {exc}", final=isinstance(exc, ssl.SSLCertVerificationError)) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise ChannelFailed(f"{type(exc).__name__}: {exc}") from None
    return 250


def send(
    route: dict[str, Any],
    notice: dict[str, Any],
    *,
    rule_id: uuid.UUID,
    settings: AlertSettings,
    cipher: Cipher | None,
    secret: str | None,
) -> int:
    """One try of one notice to one route: the status code of the answer, or :class:`ChannelFailed`."""
    channel = route.get("type")
    if channel == "email":
        return send_email(email_message(notice, list(route["to"]), settings.smtp_sender), settings)
    try:
        url = routes.open_url(rule_id, route, cipher)
    except routes.RouteUnopened as exc:
        raise ChannelFailed(str(exc), final=True) from None
    if channel == "webhook":
        return _post(url, webhook_body(notice), notice["id"], secret, settings)
    if channel == "slack":
        return _post(url, slack_body(notice), notice["id"], None, settings)
    raise ChannelFailed(f"unknown route type {channel!r}", final=True)


def target_of(route: dict[str, Any]) -> str:
    """What a record shows of a route: a URL masked (its path is often the secret), or the addresses."""
    if route.get("type") == "email":
        return ", ".join(route.get("to") or [])[:512]
    return webhooks.mask_url(str(route.get("url", "")))[:512]


# -- with retries ---------------------------------------------------------------------------------
def deliver(
    sessions: sessionmaker[Session],
    notice: dict[str, Any],
    route: dict[str, Any],
    *,
    rule_id: uuid.UUID,
    settings: AlertSettings,
    cipher: Cipher | None,
    secret: str | None,
    now: datetime,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Send ``notice`` to ``route``, up to ``settings.attempts`` tries; True once one is taken.
    Attempts are stamped ``now`` plus the real time spent since the round began here."""
    started = time.monotonic()
    channel, target = str(route.get("type")), target_of(route)
    for attempt in range(1, settings.attempts + 1):
        status_code, error, final = None, None, False
        try:
            status_code = send(route, notice, rule_id=rule_id, settings=settings, cipher=cipher, secret=secret)
        except ChannelFailed as exc:
            status_code, error, final = exc.status_code, str(exc), exc.final
        with sessions.begin() as session:
            session.add(
                Notification(
                    group_key=notice["group_key"],
                    notice_id=notice["id"],
                    rule_id=rule_id,
                    reason=notice["reason"],
                    channel=channel,
                    target=target,
                    alert_ids=[a["id"] for a in notice["alerts"]],
                    attempt=attempt,
                    status_code=status_code,
                    error=error,
                    delivered=error is None,
                    attempted_at=now + timedelta(seconds=time.monotonic() - started),
                )
            )
        if error is None:
            return True
        log.warning(
            "notice %s to %s %s failed (attempt %d/%d): %s",
            notice["id"],
            channel,
            target,
            attempt,
            settings.attempts,
            error,
        )
        if final:
            return False
        if attempt < settings.attempts:
            sleep(settings.backoff_seconds * 2 ** (attempt - 1))
    return False
