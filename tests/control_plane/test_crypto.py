"""Credentials are sealed with AES-GCM under the deployment's key and bound to their owner."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from control_plane.crypto import Cipher, SecretKeyError, load_cipher, new_key_text

SECRET = {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCY"}


def test_credentials_round_trip_and_never_appear_in_the_ciphertext() -> None:
    cipher = Cipher(os.urandom(32))
    sealed = cipher.encrypt(SECRET, context="provider-1")
    assert b"wJalrXUtnFEMI" not in sealed
    assert cipher.decrypt(sealed, context="provider-1") == SECRET
    assert cipher.encrypt(SECRET, context="provider-1") != sealed  # a fresh nonce each time


def test_a_ciphertext_moved_to_another_provider_does_not_open() -> None:
    cipher = Cipher(os.urandom(32))
    with pytest.raises(InvalidTag):
        cipher.decrypt(cipher.encrypt(SECRET, context="provider-1"), context="provider-2")


def test_another_key_is_recognised_and_named() -> None:
    sealed = Cipher(os.urandom(32)).encrypt(SECRET, context="p")
    with pytest.raises(SecretKeyError, match="a key this deployment does not have"):
        Cipher(os.urandom(32)).decrypt(sealed, context="p")


def test_development_generates_a_private_key_file_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY", raising=False)
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY_FILE", raising=False)
    first = load_cipher(tmp_path)
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600
    assert load_cipher(tmp_path).key == first.key


def test_production_refuses_to_invent_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY", raising=False)
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY_FILE", raising=False)
    with pytest.raises(SecretKeyError, match="production"):
        load_cipher(tmp_path, environment="production")
    monkeypatch.setenv("WEDCLOUD_SECRET_KEY", new_key_text())
    assert len(load_cipher(tmp_path, environment="production").key) == 32
    monkeypatch.setenv("WEDCLOUD_SECRET_KEY", "not base64!")
    with pytest.raises(SecretKeyError, match="base64"):
        load_cipher(tmp_path)


def test_earlier_keys_still_open_their_credentials_until_resealed() -> None:
    old, new = os.urandom(32), os.urandom(32)
    sealed = Cipher(old).encrypt(SECRET, context="p")
    ring = Cipher(new, (old,))
    assert ring.decrypt(sealed, context="p") == SECRET
    assert not ring.is_current(sealed)
    resealed = ring.reseal(sealed, context="p")
    assert ring.is_current(resealed)
    assert Cipher(new).decrypt(resealed, context="p") == SECRET


def test_a_key_file_lists_the_current_key_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY", raising=False)
    path = tmp_path / "keys"
    path.write_text(f"{new_key_text()}\n{new_key_text()}\n")
    monkeypatch.setenv("WEDCLOUD_SECRET_KEY_FILE", str(path))
    assert len(load_cipher(tmp_path).previous) == 1
    monkeypatch.delenv("WEDCLOUD_SECRET_KEY_FILE")
    monkeypatch.setenv("WEDCLOUD_SECRET_KEY", new_key_text())
    monkeypatch.setenv("WEDCLOUD_SECRET_KEY_PREVIOUS", f"{new_key_text()},{new_key_text()}")
    assert len(load_cipher(tmp_path).previous) == 2
