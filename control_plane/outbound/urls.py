"""The shape a URL the server fetches must have, before any name is resolved."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


class OutboundRefused(ValueError):
    """The server will not fetch this URL; the message says why (safe to show: no secret)."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case; an IPv6 literal without its brackets
    port: int
    path: str  # path and query, at least "/"


def check_url(url: str, *, schemes: tuple[str, ...] = ("http", "https")) -> Target:
    """``url`` taken apart, or :class:`OutboundRefused`: a scheme other than ``schemes``
    (``file:``, ``data:``, ``gopher:``...), credentials in it (``user:pw@``), no host, a bad
    port, or control characters and spaces (request splitting)."""
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise OutboundRefused("the URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise OutboundRefused(f"not a URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise OutboundRefused(f"the scheme must be {' or '.join(schemes)}, not {scheme or 'none'!r}")
    if "@" in parts.netloc:
        raise OutboundRefused("the URL must not carry credentials (user:password@)")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise OutboundRefused("the URL has no host")
    if "%" in host:  # an IPv6 zone id ([fe80::1%25eth0]) names one of this machine's links
        raise OutboundRefused("the URL's host carries an IPv6 zone id (%...): it names a link of this machine")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def literal_addresses(host: str, port: int = 80) -> list[str]:
    """The addresses ``host`` names when it is written as an address, read as the resolver reads
    it (``::1``, ``169.254.169.254``, and ``127.1``, ``2130706433``, ``0x7f.1`` too); none for a
    name. Nothing is looked up (``AI_NUMERICHOST``): a name's addresses are checked when it is
    fetched (:func:`control_plane.outbound.fetch.checked_addresses`)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (OSError, UnicodeError):  # a name (or no address at all)
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
