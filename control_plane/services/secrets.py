"""Re-encrypting every stored credential under the current key (``wedcloud secrets rotate``)."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.crypto import Cipher, SecretKeyError
from control_plane.services.audit_log import record_change
from control_plane.store.models import Provider


@dataclass(frozen=True)
class Rotation:
    resealed: int
    already_current: int


def reseal_all(session: Session, cipher: Cipher, *, actor: str = "system") -> Rotation:
    """Every provider's credentials under ``cipher``'s current key, in the caller's transaction:
    all of them or, if one cannot be opened, none; with the rotation's audit row."""
    resealed = current = 0
    query = select(Provider).where(Provider.credentials_ciphertext.is_not(None)).order_by(Provider.name)
    for provider in session.scalars(query):
        blob = provider.credentials_ciphertext or b""
        if cipher.is_current(blob):
            current += 1
            continue
        try:
            provider.credentials_ciphertext = cipher.reseal(blob, context=str(provider.id))
        except (SecretKeyError, InvalidTag) as exc:
            raise SecretKeyError(f"provider {provider.name!r}: {exc or 'the ciphertext does not open'}") from None
        resealed += 1
    detail = {"key_id": cipher.key_id.hex(), "resealed": resealed, "already_current": current}
    record_change(
        session, actor=actor, action="secrets.rotate", target="secrets", detail=detail, command="secrets rotate"
    )
    session.flush()
    return Rotation(resealed, current)
