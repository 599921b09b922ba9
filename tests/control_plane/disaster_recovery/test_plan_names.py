"""Two requests creating plans of one name at the same moment, on PostgreSQL: the second's
name check cannot see the first's uncommitted plan, so its insert waits on the unique index
until the first commits, then fails; it must be the same 409 as a name taken before, with
nothing written, not a 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from control_plane.disaster_recovery import plans
from control_plane.services.errors import Conflict
from control_plane.store.db import make_engine
from control_plane.store.recovery_models import RecoveryPlan
from tests.control_plane.disaster_recovery.support import Recovery, booking_recovery

pytestmark = pytest.mark.integration

WAITING = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")


@pytest.fixture
def dr(migrated_postgres_url: str, tmp_path: Path) -> Iterator[Recovery]:
    engine = make_engine(migrated_postgres_url)
    yield booking_recovery(engine, tmp_path)
    engine.dispose()


def _waiting_on_a_lock(engine: Engine) -> bool:
    deadline = time.monotonic() + 10
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            if connection.execute(WAITING).scalar_one():
                return True
            connection.rollback()  # a fresh snapshot of pg_stat_activity
            time.sleep(0.05)
    return False


def test_a_create_that_loses_the_race_for_a_plan_name_is_a_409_and_writes_nothing(dr: Recovery) -> None:
    outcome: dict[str, object] = {}
    with dr.cloud.sessions() as first:
        plans.create_plan(first, spec=dr.spec(), actor="tester:a", adapter_for=dr.cloud.adapters)

        def second_request() -> None:
            try:
                with dr.cloud.sessions() as second, second.begin():
                    plans.create_plan(second, spec=dr.spec(), actor="tester:b", adapter_for=dr.cloud.adapters)
            except Exception as exc:
                outcome["error"] = exc

        racer = threading.Thread(target=second_request)
        racer.start()
        assert _waiting_on_a_lock(first.get_bind().engine)  # the second insert waits on the first's name
        first.commit()
    racer.join(10)
    error = outcome.get("error")
    assert isinstance(error, Conflict), error
    assert "a plan named 'booking' exists" in str(error)
    with dr.cloud.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RecoveryPlan)) == 1
        assert session.scalar(select(RecoveryPlan.created_by)) == "tester:a"
