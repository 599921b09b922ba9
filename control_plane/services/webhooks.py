"""Budget webhooks: stored sealed, sent through the outbound guard, signed.

- **Stored sealed.** A webhook's URL often is its secret (a Slack or Teams hook's path), so a
  budget keeps it encrypted with the credential cipher (``control_plane.crypto``), bound to the
  budget's id, beside a masked copy that the API shows, logs and audits. A URL stored plain (a
  budget from before revision 0007) is sealed when the API starts (:func:`seal_plain_targets`)
  and is still delivered meanwhile.
- **Sent through the guard.** ``control_plane.outbound.fetch``: http(s) only, the name resolved
  once, every address checked against every special-purpose range, the connection made to a
  checked address, no redirects, a deadline and a size cap.
- **Signed.** The Standard Webhooks scheme: ``webhook-id`` (the alert's id, the same on every
  retry), ``webhook-timestamp`` (Unix seconds) and ``webhook-signature`` (``v1,`` and the
  base64 HMAC-SHA256 of ``id.timestamp.body`` under the budget's secret, ``whsec_`` and base64
  of 32 random bytes). The secret is shown once, when made (``POST .../webhook-secret``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.crypto import Cipher, SecretKeyError
from control_plane.outbound import OutboundRefused, OutboundSettings, fetch
from control_plane.store.models import Budget

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


class WebhookFailed(Exception):
    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def mask_url(url: str) -> str:
    """A webhook URL without its path and query, which often hold its secret (a Slack hook's)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.path.strip("/") or parts.query else url


# -- secrets and signatures ----------------------------------------------------------------
def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,`` + base64(HMAC-SHA256(key, "id.timestamp.body"))."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sealing_context(budget_id: uuid.UUID) -> str:
    """What a budget's sealed URLs and secret are bound to: they open for this budget only."""
    return f"budget-webhook:{budget_id}"


def sealed_secret(cipher: Cipher, context: str) -> tuple[str, bytes]:
    """A new signing secret and its sealed form, bound to ``context`` (a budget's, a rule's)."""
    secret = new_secret()
    return secret, cipher.encrypt({"secret": secret}, context=context)


def opened_secret(sealed: bytes, cipher: Cipher, context: str) -> str:
    """The signing secret sealed for ``context`` (SecretKeyError when it cannot be opened)."""
    return str(cipher.decrypt(sealed, context=context)["secret"])


def rotate_secret(budget: Budget, cipher: Cipher) -> str:
    """A new signing secret for the budget's webhooks, sealed in the store; returned once."""
    secret, budget.webhook_secret_ciphertext = sealed_secret(cipher, sealing_context(budget.id))
    return secret


def secret_of(budget: Budget, cipher: Cipher | None) -> str | None:
    if budget.webhook_secret_ciphertext is None or cipher is None:
        return None
    return opened_secret(budget.webhook_secret_ciphertext, cipher, sealing_context(budget.id))


# -- targets sealed at rest ----------------------------------------------------------------
def seal_targets(budget_id: uuid.UUID, targets: list[dict[str, Any]], cipher: Cipher) -> list[dict[str, Any]]:
    """``targets`` as stored: each webhook's URL sealed, with its masked form beside it."""
    sealed = []
    for target in targets:
        if target.get("type") == "webhook" and "url" in target and "sealed" not in target:
            target = {**target, **sealed_url(target["url"], cipher, sealing_context(budget_id))}
        sealed.append(target)
    return sealed


def sealed_url(url: str, cipher: Cipher, context: str) -> dict[str, str]:
    """A URL as stored: ``url`` masked for showing, ``sealed`` the real one bound to ``context``."""
    blob = cipher.encrypt({"url": url}, context=context)
    return {"url": mask_url(url), "sealed": base64.b64encode(blob).decode()}


def opened_url(item: dict[str, Any], cipher: Cipher | None, context: str, *, what: str) -> str:
    """``item``'s real URL, in memory only (one stored plain, from before sealing, as it is);
    :class:`WebhookFailed` naming ``what`` when it cannot be opened."""
    if "sealed" not in item:
        return str(item["url"])
    if cipher is None:
        raise WebhookFailed(f"{what} is sealed and no secret key is loaded to open it")
    try:
        return str(cipher.decrypt(base64.b64decode(item["sealed"]), context=context)["url"])
    except SecretKeyError as exc:
        raise WebhookFailed(f"{what} cannot be opened: {exc}") from None


def shown(target: dict[str, Any]) -> dict[str, Any]:
    """A target as the API shows it: a webhook masked, its sealed URL left out."""
    if target.get("type") != "webhook":
        return target
    return {k: (mask_url(v) if k == "url" else v) for k, v in target.items() if k != "sealed"}


def url_of(budget_id: uuid.UUID, target: dict[str, Any], cipher: Cipher | None) -> str:
    """The webhook's real URL, opened in memory only (a plain one from before 0007 as it is)."""
    return opened_url(target, cipher, sealing_context(budget_id), what="the webhook URL")


def seal_plain_targets(session: Session, cipher: Cipher) -> int:
    """Seal every webhook URL still stored plain, and give a signing secret to every budget
    with webhooks and none; returns how many budgets changed (run when the API starts)."""
    changed = 0
    for budget in session.scalars(select(Budget).order_by(Budget.id)):
        targets = list(budget.targets or [])
        touched = False
        if any(t.get("type") == "webhook" and "sealed" not in t for t in targets):
            budget.targets, touched = seal_targets(budget.id, targets, cipher), True
        if any(t.get("type") == "webhook" for t in targets) and budget.webhook_secret_ciphertext is None:
            rotate_secret(budget, cipher)
            touched = True
        changed += touched
    session.flush()
    return changed


# -- sending -------------------------------------------------------------------------------
def post(
    url: str,
    payload: dict[str, Any],
    *,
    message_id: str,
    secret: str | None,
    allow_private: bool = False,
    timeout: float = 5.0,
    clock: Callable[[], float] = time.time,
) -> int:
    """POST ``payload`` to ``url`` through the guard, signed when the budget has a secret; the
    status of a 2xx answer, else :class:`WebhookFailed` (a redirect is a failure, not followed)."""
    outbound = OutboundSettings()
    body = json.dumps(payload).encode()
    timestamp = int(clock())
    headers = {"Content-Type": "application/json", "User-Agent": "WedCloud-alerts",
               "webhook-id": message_id, "webhook-timestamp": str(timestamp)}  # fmt: skip
    if secret is not None:
        headers["webhook-signature"] = sign(secret, message_id, timestamp, body)
    try:
        answer = fetch("POST", url, body=body, headers=headers, timeout=timeout,
                       allow_private=allow_private or outbound.allow_private,
                       max_bytes=outbound.max_response_bytes)  # fmt: skip
    except OutboundRefused as exc:
        raise WebhookFailed(f"refused: {exc}") from None
    except (OSError, ValueError) as exc:
        raise WebhookFailed(f"{type(exc).__name__}: {exc}") from None
    if answer.redirect:
        raise WebhookFailed(f"HTTP {answer.status}: a redirect, not followed", answer.status)
    if not 200 <= answer.status < 300:
        raise WebhookFailed(f"HTTP {answer.status} {answer.reason}", answer.status)
    return answer.status
