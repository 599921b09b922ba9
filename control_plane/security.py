"""Roles and API-key material. Keys are random; only their SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

KEY_PREFIX = "wck"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True)
class NewKey:
    """A freshly generated key: ``token`` is shown once, ``prefix`` and ``digest`` are stored."""

    token: str
    prefix: str
    digest: str


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def generate_key() -> NewKey:
    prefix = secrets.token_hex(6)
    token = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(token=token, prefix=prefix, digest=digest(token))


def parse_prefix(token: str) -> str | None:
    """The lookup prefix of a well-formed key, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def key_from_token(token: str) -> NewKey:
    """Accept an operator-chosen key (``WEDCLOUD_API_KEY``) if it has the key format."""
    prefix = parse_prefix(token)
    if prefix is None:
        raise ValueError(
            f"an API key looks like {KEY_PREFIX}_<12 hex characters>_<secret>; run `wedcloud keys create` to make one"
        )
    return NewKey(token=token, prefix=prefix, digest=digest(token))


def matches(token: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(token), stored_digest)
