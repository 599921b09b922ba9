"""Two requests with one Idempotency-Key at the same moment, on PostgreSQL: the second's insert
waits on the unique index until the first commits, then fails; ``operations.begin`` must answer
it with the first's operation, not an error (as when two API processes race)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from control_plane.services import operations
from control_plane.store.db import make_engine
from control_plane.store.models import Operation

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(migrated_postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_postgres_url)
    yield engine
    engine.dispose()


def test_a_request_that_loses_the_race_for_an_idempotency_key_gets_the_winner_s_operation(engine: Engine) -> None:
    request = {"what": "sync everything"}
    outcome: dict[str, object] = {}
    with Session(engine) as first:
        won, created = operations.begin(first, kind="sync", actor="key:a", request=request, idempotency_key="k-1")
        assert created
        winner = won.id

        def second_request() -> None:
            try:
                with Session(engine) as second, second.begin():
                    found, again = operations.begin(
                        second, kind="sync", actor="key:a", request=request, idempotency_key="k-1"
                    )
                    outcome["answer"] = (found.id, again)
            except Exception as exc:
                outcome["error"] = exc

        racer = threading.Thread(target=second_request)
        racer.start()
        time.sleep(0.5)  # the second insert now waits for the first transaction
        assert racer.is_alive()
        first.commit()
    racer.join(10)
    assert "error" not in outcome, outcome
    assert outcome["answer"] == (winner, False)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Operation)) == 1
