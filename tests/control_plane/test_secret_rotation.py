"""`wedcloud secrets rotate` reseals everything the credential cipher sealed, not only providers'
credentials: after the old key is dropped, webhook URLs, signing secrets and the requests kept
by operations in flight still open; an ended operation keeps no copy of its request."""

from __future__ import annotations

import os
from decimal import Decimal

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from control_plane.crypto import Cipher
from control_plane.services import operations, webhooks
from control_plane.services.secrets import reseal_all
from control_plane.store.db import make_sessionmaker
from control_plane.store.models import Budget, Operation

HOOK = "https://hooks.example.com/services/T000/B000/very-secret-path"
REQUEST = {"name": "web-1", "tags": {"api-token": "s3cr3t-value"}}


def test_rotating_to_a_new_key_reseals_webhooks_and_kept_requests(engine: Engine) -> None:
    old_key, new_key = os.urandom(32), os.urandom(32)
    old = Cipher(old_key)
    with Session(engine) as session, session.begin():
        budget = Budget(name="hooks", amount=Decimal("100"), currency="USD")
        session.add(budget)
        session.flush()
        budget.targets = webhooks.seal_targets(budget.id, [{"type": "webhook", "url": HOOK}], old)
        secret = webhooks.rotate_secret(budget, old)
        operation, _ = operations.begin(session, kind="provision", actor="t", request=REQUEST, cipher=old)
        budget_id, operation_id = budget.id, operation.id

    with Session(engine) as session, session.begin():
        reseal_all(session, Cipher(new_key, (old_key,)), actor="cli:test")

    only_new = Cipher(new_key)  # the old key is gone, as after `secrets rotate --new-key`
    with Session(engine) as session:
        budget = session.get(Budget, budget_id)
        assert budget is not None
        assert webhooks.url_of(budget_id, budget.targets[0], only_new) == HOOK
        assert webhooks.secret_of(budget, only_new) == secret
        kept = session.get(Operation, operation_id)
        assert kept is not None
        assert operations.unsealed(kept, only_new) == REQUEST


def test_an_ended_operation_drops_its_sealed_request(engine: Engine) -> None:
    cipher = Cipher(os.urandom(32))
    with Session(engine) as session, session.begin():
        operation, _ = operations.begin(session, kind="provision", actor="t", request=REQUEST, cipher=cipher)
        operation_id = operation.id
    with Session(engine) as session:
        assert session.get(Operation, operation_id).sealed_request is not None  # type: ignore[union-attr]
    ended = operations.finish(
        make_sessionmaker(engine), operation_id, status=operations.SUCCEEDED, result={}, error=None
    )
    assert ended
    with Session(engine) as session:
        assert session.get(Operation, operation_id).sealed_request is None  # type: ignore[union-attr]
