"""Encryption of provider credentials at rest: AES-256-GCM under a key from the environment.

The key comes from ``WEDCLOUD_SECRET_KEY`` (32 bytes, base64) or the file named by
``WEDCLOUD_SECRET_KEY_FILE``. In development, without either, a key is generated once into
``WEDCLOUD_HOME/secret.key`` (mode 0600); in production a missing key is an error, never a
default. Each ciphertext records a fingerprint of the key that made it, so a rotation can find
and re-encrypt what an older key wrote. Plaintext credentials exist only in memory.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
NONCE_BYTES = 12


class SecretKeyError(RuntimeError):
    pass


def fingerprint(key: bytes) -> bytes:
    return hashlib.sha256(b"wedcloud-key:" + key).digest()[:8]


@dataclass(frozen=True)
class Cipher:
    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 32:
            raise SecretKeyError("the secret key must be 32 bytes (base64 of 32 random bytes)")

    @property
    def key_id(self) -> bytes:
        return fingerprint(self.key)

    def encrypt(self, payload: dict[str, Any], *, context: str) -> bytes:
        """Encrypt ``payload``; ``context`` (e.g. the provider id) is bound to the ciphertext."""
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(self.key).encrypt(nonce, json.dumps(payload).encode(), context.encode())
        return VERSION + self.key_id + nonce + sealed

    def decrypt(self, blob: bytes, *, context: str) -> dict[str, Any]:
        if blob[:1] != VERSION:
            raise SecretKeyError("unknown ciphertext version")
        if blob[1:9] != self.key_id:
            raise SecretKeyError("these credentials were encrypted under another key; run `wedcloud secrets rotate`")
        nonce, sealed = blob[9 : 9 + NONCE_BYTES], blob[9 + NONCE_BYTES :]
        value: dict[str, Any] = json.loads(AESGCM(self.key).decrypt(nonce, sealed, context.encode()))
        return value


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise SecretKeyError(f"the secret key is not valid base64: {exc}") from None


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def load_cipher(home: Path, *, environment: str = "development") -> Cipher:
    """The cipher for this deployment (see the module docstring for where the key comes from)."""
    if text := os.environ.get("WEDCLOUD_SECRET_KEY"):
        return Cipher(_decode(text))
    if path := os.environ.get("WEDCLOUD_SECRET_KEY_FILE"):
        return Cipher(_decode(Path(path).read_text()))
    local = home / "secret.key"
    if local.exists():
        return Cipher(_decode(local.read_text()))
    if environment == "production":
        raise SecretKeyError("set WEDCLOUD_SECRET_KEY or WEDCLOUD_SECRET_KEY_FILE; production never generates a key")
    home.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(new_key_text())
    return Cipher(_decode(local.read_text()))
