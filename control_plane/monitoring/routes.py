"""Where an alert rule's notifications go, and how a route is kept.

A rule's ``routes`` is a list of:

- ``{"type": "webhook", "url": ...}``: a JSON POST signed as budget webhooks are (Standard
  Webhooks: ``webhook-id``, ``webhook-timestamp``, ``webhook-signature`` = ``v1,`` + base64
  HMAC-SHA256 of ``id.timestamp.body`` under the rule's ``whsec_`` secret);
- ``{"type": "slack", "url": ...}``: a Slack-compatible incoming webhook (``{"text": ...}``);
- ``{"type": "email", "to": ["ops@example.com", ...]}``: e-mail through the SMTP relay, with
  STARTTLS.

URLs are stored sealed with the credential cipher, bound to the rule's id, beside a masked copy
(a hook's path is often its secret); the API shows, logs and audits only the masked copy.
:func:`problems` checks a route list before anything is written (the outbound guard's URL
rules), each problem with the field it concerns.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from control_plane.crypto import Cipher, SecretKeyError
from control_plane.outbound import OutboundRefused
from control_plane.outbound.urls import check_url
from control_plane.services import webhooks

CHANNELS = ("webhook", "slack", "email")
URL_LIMIT = 2048
EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")


class RouteUnopened(Exception):
    """A sealed URL that cannot be opened (no key loaded, or the key changed)."""


def context(rule_id: uuid.UUID) -> str:
    return f"alert-rule:{rule_id}"


def problems(routes: list[dict[str, Any]], *, field: str = "routes") -> list[tuple[str, str]]:
    """(field, message) for each thing wrong with ``routes``; empty when they can be stored."""
    found: list[tuple[str, str]] = []
    for index, route in enumerate(routes):
        where = f"{field}.{index}"
        channel = route.get("type")
        if channel not in CHANNELS:
            found.append((f"{where}.type", f"must be one of {', '.join(CHANNELS)}"))
            continue
        if channel == "email":
            addresses = route.get("to")
            if not isinstance(addresses, list) or not addresses:
                found.append((f"{where}.to", "a list of at least one e-mail address"))
                continue
            found += [
                (f"{where}.to.{n}", "not an e-mail address")
                for n, a in enumerate(addresses)
                if not isinstance(a, str) or not EMAIL.match(a)
            ]
            continue
        url = route.get("url")
        if not isinstance(url, str) or not url:
            found.append((f"{where}.url", "an http or https URL is required"))
            continue
        if len(url) > URL_LIMIT:
            found.append((f"{where}.url", f"at most {URL_LIMIT} characters"))
            continue
        try:
            check_url(url)
        except OutboundRefused as exc:
            found.append((f"{where}.url", str(exc)))
    return found


def seal(rule_id: uuid.UUID, routes: list[dict[str, Any]], cipher: Cipher) -> list[dict[str, Any]]:
    """``routes`` as stored: each URL sealed, its masked form beside it. A route already sealed
    (sent back as GET showed it) is kept as it is."""
    return [
        {**route, **webhooks.sealed_url(route["url"], cipher, context(rule_id))}
        if "url" in route and "sealed" not in route
        else route
        for route in routes
    ]


def shown(route: dict[str, Any]) -> dict[str, Any]:
    """A route as the API shows it: its URL masked, the sealed copy left out."""
    return {k: (webhooks.mask_url(v) if k == "url" else v) for k, v in route.items() if k != "sealed"}


def open_url(rule_id: uuid.UUID, route: dict[str, Any], cipher: Cipher | None) -> str:
    """The route's real URL, in memory only."""
    try:
        return webhooks.opened_url(route, cipher, context(rule_id), what="the route's URL")
    except webhooks.WebhookFailed as exc:
        raise RouteUnopened(str(exc)) from None


def make_secret(rule_id: uuid.UUID, cipher: Cipher) -> tuple[str, bytes]:
    """A new signing secret for the rule's webhooks: (the secret, shown once; its sealed form)."""
    return webhooks.sealed_secret(cipher, context(rule_id))


def open_secret(rule_id: uuid.UUID, sealed: bytes | None, cipher: Cipher | None) -> str | None:
    if sealed is None or cipher is None:
        return None
    try:
        return webhooks.opened_secret(sealed, cipher, context(rule_id))
    except SecretKeyError:
        return None
