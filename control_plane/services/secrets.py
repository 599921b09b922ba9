"""Re-encrypting everything sealed with the credential cipher under the current key (``wedcloud
secrets rotate``): providers' credentials, budgets' webhook URLs and signing secrets, and the
requests kept by operations still in flight."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.orm import Session

from control_plane.crypto import Cipher, SecretKeyError
from control_plane.services import webhooks
from control_plane.services.audit_log import record_change
from control_plane.store.models import Budget, Operation, Provider


@dataclass(frozen=True)
class Rotation:
    resealed: int
    already_current: int


def reseal_all(session: Session, cipher: Cipher, *, actor: str = "system") -> Rotation:
    """Everything sealed under ``cipher``'s current key, in the caller's transaction: all of it
    or, if one blob cannot be opened, none; with the rotation's audit row. The counts are of
    providers' credentials (what operators rotate for); the rest is resealed alongside."""
    resealed = current = 0
    query = select(Provider).where(Provider.credentials_ciphertext.is_not(None)).order_by(Provider.name)
    for provider in session.scalars(query):
        blob = provider.credentials_ciphertext or b""
        if cipher.is_current(blob):
            current += 1
            continue
        provider.credentials_ciphertext = _reseal(cipher, blob, str(provider.id), f"provider {provider.name!r}")
        resealed += 1
    others = _reseal_budgets(session, cipher) + _reseal_operations(session, cipher)
    detail = {"key_id": cipher.key_id.hex(), "resealed": resealed, "already_current": current, "others": others}
    record_change(
        session, actor=actor, action="secrets.rotate", target="secrets", detail=detail, command="secrets rotate"
    )
    session.flush()
    return Rotation(resealed, current)


def _reseal(cipher: Cipher, blob: bytes, context: str, owner: str) -> bytes:
    try:
        return cipher.reseal(blob, context=context)
    except (SecretKeyError, InvalidTag) as exc:
        raise SecretKeyError(f"{owner}: {exc or 'the ciphertext does not open'}") from None


def _reseal_budgets(session: Session, cipher: Cipher) -> int:
    """Budgets' signing secrets and sealed webhook URLs; how many blobs were resealed."""
    count = 0
    for budget in session.scalars(select(Budget).order_by(Budget.id)):
        owner, context = f"budget {budget.id}", webhooks.sealing_context(budget.id)
        secret = budget.webhook_secret_ciphertext
        if secret is not None and not cipher.is_current(secret):
            budget.webhook_secret_ciphertext = _reseal(cipher, secret, context, owner)
            count += 1
        targets, changed = [], False
        for target in budget.targets or []:
            if "sealed" in target:
                blob = base64.b64decode(target["sealed"])
                if not cipher.is_current(blob):
                    fresh = _reseal(cipher, blob, context, owner)
                    target, changed = {**target, "sealed": base64.b64encode(fresh).decode()}, True
                    count += 1
            targets.append(target)
        if changed:
            budget.targets = targets
    return count


def _reseal_operations(session: Session, cipher: Cipher) -> int:
    """Requests kept by operations (in flight: an ended one drops its copy)."""
    count = 0
    for operation in session.scalars(select(Operation).where(Operation.sealed_request.is_not(None))):
        blob = operation.sealed_request or b""
        if not cipher.is_current(blob):
            operation.sealed_request = _reseal(cipher, blob, str(operation.id), f"operation {operation.id}")
            count += 1
    return count
