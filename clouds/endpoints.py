"""Endpoints other than a cloud's own: sovereign clouds, S3-compatible storage, emulators."""

from __future__ import annotations

from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def is_local_http(url: str | None) -> bool:
    """A plain-http endpoint on this machine (an emulator): the only place an SDK may be told to
    send credentials without TLS, or to send none."""
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in LOOPBACK
