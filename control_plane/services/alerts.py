"""Alerts: raised when a budget crosses a threshold (and, in a round, for each cost anomaly),
then delivered to the budget's targets (webhooks, e-mail) with retries, every attempt recorded.

After each serving snapshot the Dagster sensor (``pipelines.budgets``) runs
``raise_from_snapshot``, which only records alerts as pending (the queue), and asks for a
``deliver_alerts`` run, which sends them with ``deliver_pending``. Budgets are evaluated by
``services.budgets``, the same rules as the status the API shows, so each threshold is raised
once per period (a unique alert key). A period that closes over its amount raises its
``actual:100`` alert at the close if nothing raised it before (the spend arrived after the period,
or the budget has no 100% threshold): an overrun is always reported, once.
"""

from __future__ import annotations

import json
import logging
import smtplib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import duckdb
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from analytics.budgets import Crossing, Evaluation
from analytics.money import format_amount
from analytics.overview import Queryable, latest_charge_date
from control_plane.crypto import Cipher, SecretKeyError
from control_plane.services import webhooks
from control_plane.services.anomalies import raise_anomaly_alerts
from control_plane.services.budgets import evaluate_budget, evaluate_last_closed, read_series, status_view
from control_plane.services.webhooks import mask_url as mask_url  # where callers have found it
from control_plane.store.models import Alert, Budget, Delivery
from wedcloud import snapshots
from wedcloud.sqltypes import utcnow

log = logging.getLogger(__name__)

NO_SMTP = "not sent: no SMTP relay configured"


class AlertSettings(BaseSettings):
    """How alerts are delivered (environment variables prefixed ``WEDCLOUD_ALERTS_``)."""

    model_config = SettingsConfigDict(env_prefix="WEDCLOUD_ALERTS_", extra="ignore")

    attempts: int = Field(default=3, ge=1, le=10, description="Tries per target before giving up.")
    backoff_seconds: float = Field(default=1.0, ge=0, description="Wait before the 2nd try; doubled each time.")
    timeout_seconds: float = Field(default=5.0, gt=0, description="Per HTTP request or SMTP session.")
    smtp_host: str | None = Field(default=None, description="SMTP relay; e-mail targets are not sent without one.")
    smtp_port: int = 25
    smtp_sender: str = "wedcloud@localhost"
    smtp_starttls: bool = Field(
        default=True,
        description="Monitoring e-mail: send only over STARTTLS (the relay's certificate verified); refuse otherwise.",
    )
    smtp_username: str | None = Field(default=None, description="Monitoring e-mail: AUTH after STARTTLS, if set.")
    smtp_password: SecretStr | None = Field(default=None, description="The AUTH password; never logged or shown.")
    smtp_ca_file: str | None = Field(
        default=None, description="A CA bundle (PEM) to verify the relay's certificate; the system store if unset."
    )
    allow_private_targets: bool = Field(
        default=False,
        description="Let webhooks reach loopback and private addresses (tests, a receiver on the same "
        "network; also WEDCLOUD_OUTBOUND_ALLOW_PRIVATE); link-local, metadata and the other special-purpose "
        "ranges stay refused (docs/outbound.md).",
    )


# -- raising -------------------------------------------------------------------------------------
def alert_key(budget_id: uuid.UUID, period_start: date, crossing: Crossing) -> str:
    return f"budget:{budget_id}:{period_start.isoformat()}:{crossing.kind}:{crossing.percent}"


def _severity(crossing: Crossing) -> str:
    if crossing.kind == "actual":
        return "critical" if crossing.percent >= 100 else "warning" if crossing.percent >= 80 else "info"
    return "warning" if crossing.percent >= 100 else "info"


def _title(budget: Budget, evaluation: Evaluation, crossing: Crossing) -> str:
    limit = f"{crossing.percent}% of {format_amount(budget.amount)} {budget.currency}"
    period = f"{evaluation.start.isoformat()} to {evaluation.end.isoformat()}"
    if crossing.kind == "actual":
        return f"{budget.name}: spend reached {limit} ({period})"
    return f"{budget.name}: forecast to reach {limit} by {evaluation.end.isoformat()} ({period})"


def raise_alerts(session: Session, budget: Budget, evaluation: Evaluation, snapshot_version: str) -> list[Alert]:
    """An alert for each threshold crossed that has none yet this period; the unique key makes
    a second evaluation, even a concurrent one, raise nothing again."""
    raised = []
    for crossing in evaluation.crossings:
        if crossing.crossed and (alert := _raise(session, budget, evaluation, crossing, snapshot_version)):
            raised.append(alert)
    return raised


def raise_close_alert(session: Session, budget: Budget, evaluation: Evaluation, snapshot_version: str) -> Alert | None:
    """At a period's close (``evaluation`` complete), if its spend reached the amount: the
    ``actual:100`` alert, unless that was raised already (during the period, or by an earlier
    round). Whatever the budget's thresholds, an overrun is reported once."""
    if not evaluation.complete or evaluation.spent < evaluation.amount:
        return None
    crossing = Crossing("actual", 100, evaluation.amount, True, _overrun_day(evaluation))
    return _raise(session, budget, evaluation, crossing, snapshot_version, closed=True)


def _overrun_day(evaluation: Evaluation) -> date | None:
    return next((c.crosses_on for c in evaluation.crossings if (c.kind, c.percent) == ("actual", 100)), None)


def _raise(session: Session, budget: Budget, evaluation: Evaluation, crossing: Crossing, snapshot_version: str,
           *, closed: bool = False) -> Alert | None:  # fmt: skip
    key = alert_key(budget.id, evaluation.start, crossing)
    if session.scalar(select(Alert.id).where(Alert.key == key)) is not None:
        return None
    alert = Alert(
        kind="budget", key=key, budget_id=budget.id,
        title=_closed_title(budget, evaluation) if closed else _title(budget, evaluation, crossing),
        severity=_severity(crossing), status="pending" if budget.targets else "no_targets",
        detail={**status_view(evaluation, snapshot_version), "kind": crossing.kind, "threshold": crossing.percent,
                "closed": closed,
                "budget": {"id": str(budget.id), "name": budget.name, "amount": format_amount(budget.amount),
                           "currency": budget.currency, "period": budget.period}},
    )  # fmt: skip
    alert.detail = json.loads(json.dumps(alert.detail, default=str))
    try:
        with session.begin_nested():
            session.add(alert)
    except IntegrityError:
        return None  # another evaluation raised it first
    return alert


def _closed_title(budget: Budget, evaluation: Evaluation) -> str:
    period = f"{evaluation.start.isoformat()} to {evaluation.end.isoformat()}"
    return (
        f"{budget.name}: the period {period} closed at {format_amount(evaluation.spent)} {budget.currency}, "
        f"{evaluation.percent_used}% of {format_amount(budget.amount)} {budget.currency}"
    )


# -- delivering ----------------------------------------------------------------------------------
class DeliveryFailed(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "id": str(alert.id), "kind": alert.kind, "key": alert.key, "title": alert.title,
        "severity": alert.severity, "created_at": alert.created_at.isoformat(), "detail": alert.detail,
    }  # fmt: skip


def _post_webhook(target: dict[str, Any] | str, payload: dict[str, Any], settings: AlertSettings, *,
                  message_id: str | None = None, secret: str | None = None) -> int:  # fmt: skip
    """Through the outbound guard (``services.webhooks.post``): resolved once, every address
    checked, connected to a checked one, never redirected; signed when the budget has a secret."""
    target = {"url": target} if isinstance(target, str) else target
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    if "unopened" in target:
        raise DeliveryFailed(target["unopened"])
    try:
        return webhooks.post(
            target["url"], payload, message_id=message_id, secret=secret,
            allow_private=settings.allow_private_targets, timeout=settings.timeout_seconds,
        )  # fmt: skip
    except webhooks.WebhookFailed as exc:
        raise DeliveryFailed(str(exc), exc.status_code) from None


def _send_email(address: str, payload: dict[str, Any], settings: AlertSettings) -> int:
    if settings.smtp_host is None:
        raise DeliveryFailed(NO_SMTP)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.smtp_sender, address, payload["title"]
    message.set_content(json.dumps(payload, indent=2))
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.timeout_seconds) as smtp:
            smtp.send_message(message)
    except smtplib.SMTPResponseException as exc:
        raise DeliveryFailed(f"SMTP {exc.smtp_code} {exc.smtp_error!r}", exc.smtp_code) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    return 250


def _record(sessions: sessionmaker[Session], **fields: Any) -> None:
    """Each attempt in its own short transaction: nothing is held open while a target answers."""
    with sessions.begin() as session:
        session.add(Delivery(**fields))


def _deliver_to(sessions: sessionmaker[Session], alert_id: uuid.UUID, target: dict[str, Any],
                payload: dict[str, Any], settings: AlertSettings, sleep: Callable[[float], None],
                secret: str | None = None) -> bool:  # fmt: skip
    """Try one target up to ``settings.attempts`` times, waiting ``backoff * 2**(n-1)`` seconds
    after the n-th failure; every attempt is recorded. E-mail without a relay is tried once."""
    channel = target["type"]
    address = target["url"] if channel == "webhook" else target["address"]
    attempts = 1 if channel == "email" and settings.smtp_host is None else settings.attempts
    for attempt in range(1, attempts + 1):
        attempted_at, status_code, error = utcnow(), None, None
        try:
            if channel == "webhook":
                status_code = _post_webhook(target, payload, settings, message_id=str(alert_id), secret=secret)
            else:
                status_code = _send_email(address, payload, settings)
        except DeliveryFailed as exc:
            status_code, error = exc.status_code, str(exc)
        delay = settings.backoff_seconds * 2 ** (attempt - 1) if error and attempt < attempts else None
        _record(sessions, alert_id=alert_id, channel=channel,
                target=mask_url(address) if channel == "webhook" else address, attempt=attempt,
                status_code=status_code, error=error, delivered=error is None, attempted_at=attempted_at,
                next_attempt_at=attempted_at + timedelta(seconds=delay) if delay is not None else None)  # fmt: skip
        if error is None:
            return True
        shown = mask_url(address) if channel == "webhook" else address
        log.warning("alert %s to %s %s failed (attempt %d/%d): %s", alert_id, channel, shown, attempt, attempts, error)
        if delay is not None:
            sleep(delay)
    return False


def deliver_alert(sessions: sessionmaker[Session], alert_id: uuid.UUID, settings: AlertSettings,
                  sleep: Callable[[float], None] = time.sleep, cipher: Cipher | None = None) -> str:  # fmt: skip
    """Send a pending alert to its budget's targets; its status becomes delivered (all took it),
    failed (one never did) or no_targets."""
    with sessions() as session:
        alert = session.get(Alert, alert_id)
        if alert is None:
            return "missing"
        budget = session.get(Budget, alert.budget_id) if alert.budget_id else None
        targets = [_opened(budget, t, cipher) for t in budget.targets] if budget is not None else []
        secret = _secret(budget, cipher)
        payload = alert_payload(alert)
    outcomes = [_deliver_to(sessions, alert_id, target, payload, settings, sleep, secret) for target in targets]
    status = "no_targets" if not targets else "delivered" if all(outcomes) else "failed"
    with sessions.begin() as session:
        stored = session.get(Alert, alert_id)
        if stored is not None:
            stored.status = status
    return status


def _opened(budget: Budget, target: dict[str, Any], cipher: Cipher | None) -> dict[str, Any]:
    """A webhook target with its real URL, in memory only (or why it cannot be opened)."""
    if target.get("type") != "webhook":
        return target
    try:
        return {**target, "url": webhooks.url_of(budget.id, target, cipher)}
    except webhooks.WebhookFailed as exc:
        return {**target, "unopened": str(exc)}


def _secret(budget: Budget | None, cipher: Cipher | None) -> str | None:
    try:
        return webhooks.secret_of(budget, cipher) if budget is not None else None
    except SecretKeyError:
        log.warning("budget %s: its webhook secret cannot be opened; deliveries go unsigned", budget and budget.id)
        return None


# -- one round, as the sensor runs it ------------------------------------------------------------
@dataclass(frozen=True)
class Round:
    snapshot_version: str | None
    budgets: int
    raised: list[str]  # alert keys
    delivered: dict[str, str]  # alert key -> status
    skipped: dict[str, str]  # budget name -> why it could not be evaluated


@contextmanager
def _snapshot_query(path: Path) -> Iterator[Queryable]:
    with duckdb.connect(str(path), read_only=True) as connection:
        connection.execute("SET TimeZone = 'UTC'")

        def query(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
            return connection.execute(sql, params).fetchall()

        yield query


def raise_from_snapshot(sessions: sessionmaker[Session], serving_dir: Path) -> Round:
    """Evaluate every budget against the current serving snapshot and raise what is new."""
    info = snapshots.current(serving_dir)
    if info is None:
        return Round(None, 0, [], {}, {})
    raised: list[str] = []
    skipped: dict[str, str] = {}
    with _snapshot_query(info.path) as query, sessions.begin() as session:
        data_through = latest_charge_date(query)
        budgets = list(session.scalars(select(Budget).order_by(Budget.created_at, Budget.id)))
        for budget in budgets:
            if data_through is None:
                skipped[budget.name] = "the snapshot has no cost data"
                continue
            try:
                evaluation = evaluate_budget(budget, data_through, read_series(query, budget, data_through))
                closed = evaluation if evaluation.complete else evaluate_last_closed(query, budget, data_through)
            except (ValueError, duckdb.Error) as exc:  # a scope the snapshot cannot answer
                skipped[budget.name] = str(exc)
                continue
            raised += [a.key for a in raise_alerts(session, budget, evaluation, info.version)]
            if overrun := raise_close_alert(session, budget, closed, info.version):
                raised.append(overrun.key)
        raised += raise_anomaly_alerts(session, query, info.version)
    return Round(info.version, len(budgets), raised, {}, skipped)


def pending_alerts(sessions: sessionmaker[Session]) -> list[tuple[uuid.UUID, str]]:
    """The alerts waiting for delivery (id, key): the queue the sensor fills and the
    ``deliver_alerts`` job empties."""
    with sessions() as session:
        query = select(Alert.id, Alert.key).where(Alert.status == "pending").order_by(Alert.created_at, Alert.key)
        return [(alert_id, key) for alert_id, key in session.execute(query)]


def deliver_pending(
    sessions: sessionmaker[Session],
    settings: AlertSettings,
    sleep: Callable[[float], None] = time.sleep,
    cipher: Cipher | None = None,
) -> dict[str, str]:
    """Deliver every pending alert (new, or left pending by a crash): alert key -> status.
    ``cipher`` opens sealed webhook URLs and signing secrets."""
    return {
        key: deliver_alert(sessions, alert_id, settings, sleep, cipher) for alert_id, key in pending_alerts(sessions)
    }


def run_round(sessions: sessionmaker[Session], serving_dir: Path, settings: AlertSettings,
              sleep: Callable[[float], None] = time.sleep, cipher: Cipher | None = None) -> Round:  # fmt: skip
    """Raise new alerts, then deliver every pending one, in one call (the CLI and tests; the
    sensor only raises, and the ``deliver_alerts`` job delivers)."""
    result = raise_from_snapshot(sessions, serving_dir)
    delivered = deliver_pending(sessions, settings, sleep, cipher)
    return Round(result.snapshot_version, result.budgets, result.raised, delivered, result.skipped)
