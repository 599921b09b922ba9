"""Encryption of provider credentials at rest: AES-256-GCM under a key from the environment.

The key comes from ``WEDCLOUD_SECRET_KEY`` (32 bytes, base64) or the file named by
``WEDCLOUD_SECRET_KEY_FILE``. In development, without either, a key is generated once into
``WEDCLOUD_HOME/secret.key`` (mode 0600); in production a missing key is an error, never a
default. Each ciphertext records a fingerprint of the key that made it.

Rotation without downtime: earlier keys stay readable while everything is re-encrypted under
the new one. They are listed after the current key (the key file's later lines, or
``WEDCLOUD_SECRET_KEY_PREVIOUS``, comma-separated); ``wedcloud secrets rotate`` re-encrypts
every credential, then the old keys can go. Plaintext credentials exist only in memory.
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
    """The current key (encrypts and decrypts) and earlier keys (decrypt only, until rotated)."""

    key: bytes
    previous: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if any(len(k) != 32 for k in (self.key, *self.previous)):
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
        key = next((k for k in (self.key, *self.previous) if fingerprint(k) == blob[1:9]), None)
        if key is None:
            raise SecretKeyError(
                "these credentials were encrypted under a key this deployment does not have; "
                "add it as a previous key and run `wedcloud secrets rotate`"
            )
        nonce, sealed = blob[9 : 9 + NONCE_BYTES], blob[9 + NONCE_BYTES :]
        value: dict[str, Any] = json.loads(AESGCM(key).decrypt(nonce, sealed, context.encode()))
        return value

    def is_current(self, blob: bytes) -> bool:
        """Whether ``blob`` is sealed under the current key (else rotation re-encrypts it)."""
        return blob[1:9] == self.key_id

    def reseal(self, blob: bytes, *, context: str) -> bytes:
        """``blob`` re-encrypted under the current key."""
        return self.encrypt(self.decrypt(blob, context=context), context=context)


def _decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except ValueError as exc:
        raise SecretKeyError(f"the secret key is not valid base64: {exc}") from None


def new_key_text() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _keyring(text: str) -> Cipher:
    """A cipher from key text: the current key first, earlier keys after it (one per line or
    comma-separated)."""
    keys = [_decode(part) for part in text.replace(",", "\n").split() if part.strip()]
    if not keys:
        raise SecretKeyError("the secret key is empty")
    return Cipher(keys[0], tuple(keys[1:]))


def cipher_from_keys(text: str) -> Cipher:
    """A cipher from key text (WEDCLOUD_SECRET_KEY's form: the current key first, then earlier ones,
    comma- or line-separated), for callers handed the key rather than reading the environment."""
    return _keyring(text)


def key_file(home: Path) -> Path | None:
    """The key file in use (None when the key comes from WEDCLOUD_SECRET_KEY)."""
    if os.environ.get("WEDCLOUD_SECRET_KEY"):
        return None
    if path := os.environ.get("WEDCLOUD_SECRET_KEY_FILE"):
        return Path(path)
    return home / "secret.key"


def load_cipher(home: Path, *, environment: str = "development") -> Cipher:
    """The cipher for this deployment (see the module docstring for where the keys come from)."""
    if text := os.environ.get("WEDCLOUD_SECRET_KEY"):
        return _keyring(text + "," + os.environ.get("WEDCLOUD_SECRET_KEY_PREVIOUS", ""))
    if path := os.environ.get("WEDCLOUD_SECRET_KEY_FILE"):
        return _keyring(Path(path).read_text())
    local = home / "secret.key"
    if local.exists():
        return _keyring(local.read_text())
    if environment == "production":
        raise SecretKeyError("set WEDCLOUD_SECRET_KEY or WEDCLOUD_SECRET_KEY_FILE; production never generates a key")
    home.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(new_key_text())
    return _keyring(local.read_text())


def cipher_if_available(home: Path, *, environment: str = "development") -> Cipher | None:
    """:func:`load_cipher`, or None when no key can be had (production without one): for work
    that can go on without opening secrets and records why where it needs one."""
    try:
        return load_cipher(home, environment=environment)
    except SecretKeyError:
        return None


def write_key_file(path: Path, cipher: Cipher) -> None:
    """Replace a key file atomically (mode 0600): the current key, then the earlier ones."""
    lines = [base64.b64encode(k).decode() for k in (cipher.key, *cipher.previous)]
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    os.replace(temporary, path)
