"""``wedcloud dr``: disaster recovery from the command line, against the state store directly
(for the day the API is down too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from control_plane.store.models import AuditEntry
from control_plane.store.recovery_models import RecoveryRun
from tests.control_plane.disaster_recovery.support import Recovery, booking_recovery
from wedcloud.cli.main import app


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], Recovery]:
    root = tmp_path / "home"
    root.mkdir()
    engine = make_engine(f"sqlite:///{root / 'state.db'}")
    upgrade(engine)
    dr = booking_recovery(engine, tmp_path)  # its sandbox home is tmp_path/home: the CLI's too
    dr.plan()
    return {"WEDCLOUD_HOME": str(root)}, dr


def test_a_backup_then_a_drill_from_the_command_line_report_their_outcome(
    home: tuple[dict[str, str], Recovery],
) -> None:
    env, dr = home
    backup = CliRunner().invoke(app, ["dr", "backup", "booking"], env=env)
    assert backup.exit_code == 0, backup.output
    assert "succeeded: 1 backup(s) taken" in backup.output
    drill = CliRunner().invoke(app, ["dr", "drill", "booking"], env=env)
    assert drill.exit_code == 0, drill.output
    assert "drill passed" in drill.output
    status = CliRunner().invoke(app, ["dr", "status"], env=env)
    assert "booking: " in status.output
    assert "last drill: succeeded" in status.output
    with dr.cloud.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.method == "CLI")))
    assert {"dr.backup", "dr.drill"} <= actions


def test_a_failover_without_confirm_is_refused_and_starts_nothing(home: tuple[dict[str, str], Recovery]) -> None:
    env, dr = home
    refused = CliRunner().invoke(app, ["dr", "failover", "booking", "--reason", "region down"], env=env)
    assert refused.exit_code == 2
    assert "--confirm" in refused.output
    unknown = CliRunner().invoke(app, ["dr", "drill", "no-such-plan"], env=env)
    assert unknown.exit_code == 2
    with dr.cloud.sessions() as session:
        assert session.scalar(select(func.count()).select_from(RecoveryRun)) == 0
