"""The warehouse's schema version: stamped, stepped in order, never newer than the code."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.warehouse import ensure_schema
from analytics.warehouse_versions import (
    BASELINE,
    STEPS,
    Step,
    WarehouseTooNew,
    current_version,
    migrate,
    newest,
)
from assets.resources import LakeResource, WarehouseResource

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "warehouse"


def _columns(con: duckdb.DuckDBPyConnection) -> dict[str, list[list[object]]]:
    rows = con.execute(
        "SELECT table_name, column_name, data_type, is_nullable = 'YES' FROM information_schema.columns "
        "WHERE table_catalog = current_database() AND table_name <> 'schema_version' "
        "ORDER BY table_name, ordinal_position"
    ).fetchall()
    tables: dict[str, list[list[object]]] = {}
    for table, column, kind, nullable in rows:
        tables.setdefault(table, []).append([column, kind, nullable])
    return tables


def _versions(con: duckdb.DuckDBPyConnection) -> list[int]:
    return [row[0] for row in con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()]


def _add_column(name: str) -> Step:
    # not idempotent on purpose: a step that ran twice fails
    def apply(con: duckdb.DuckDBPyConnection) -> None:
        con.execute(f"ALTER TABLE cost_daily ADD COLUMN {name} VARCHAR")

    return Step(0, f"add {name}", apply)


def _numbered(*steps: Step) -> tuple[Step, ...]:
    return tuple(Step(BASELINE + 1 + i, step.description, step.apply) for i, step in enumerate(steps))


def _unversioned_with_a_row() -> duckdb.DuckDBPyConnection:
    """A warehouse as every open left it before versions existed: ensure_schema's tables."""
    con = duckdb.connect()
    ensure_schema(con)
    con.execute(
        "INSERT INTO cost_daily VALUES ('2026-01-05', 'AWS', 'acct', NULL, 'Compute', 'EC2', 'eu-west-1', "
        "'Usage', 'USD', 12.5, 12.5, 14, 3, 'src', '2026-01-01')"
    )
    return con


def test_a_new_warehouse_gets_todays_tables_stamped_with_the_newest_version() -> None:
    con = duckdb.connect()
    assert migrate(con) == newest()
    assert current_version(con) == newest()
    reference = duckdb.connect()
    ensure_schema(reference)
    assert _columns(con) == _columns(reference)


def test_a_warehouse_from_before_versions_is_stamped_baseline_and_keeps_its_rows() -> None:
    con = _unversioned_with_a_row()
    assert current_version(con) is None
    migrate(con, steps=())
    assert _versions(con) == [BASELINE]
    assert con.execute("SELECT ChargeDate, BilledCost FROM cost_daily").fetchall() == [
        (date(2026, 1, 5), Decimal("12.5"))
    ]


def test_steps_run_once_each_in_order_from_the_stored_version() -> None:
    con = _unversioned_with_a_row()
    migrate(con, steps=())
    steps = _numbered(_add_column("first"), _add_column("second"))
    assert migrate(con, steps=steps) == BASELINE + 2
    assert migrate(con, steps=steps) == BASELINE + 2  # a second open applies nothing again
    assert _versions(con) == [BASELINE, BASELINE + 1, BASELINE + 2]
    names = [column[0] for column in _columns(con)["cost_daily"]]
    assert names[-2:] == ["first", "second"]


def test_a_new_warehouse_is_stamped_newest_without_running_the_steps() -> None:
    con = duckdb.connect()
    steps = _numbered(_add_column("later"))
    assert migrate(con, steps=steps) == BASELINE + 1
    assert _versions(con) == [BASELINE + 1]
    assert "later" not in [column[0] for column in _columns(con)["cost_daily"]]


def test_a_failing_step_leaves_the_warehouse_at_the_last_step_that_finished() -> None:
    con = _unversioned_with_a_row()

    def half_then_fail(c: duckdb.DuckDBPyConnection) -> None:
        c.execute("ALTER TABLE cost_daily ADD COLUMN half VARCHAR")
        raise RuntimeError("disk full")

    steps = _numbered(_add_column("done"), Step(0, "fails", half_then_fail))
    with pytest.raises(RuntimeError, match="disk full"):
        migrate(con, steps=steps)
    assert current_version(con) == BASELINE + 1
    names = [column[0] for column in _columns(con)["cost_daily"]]
    assert "done" in names
    assert "half" not in names


def test_a_warehouse_newer_than_the_code_is_refused_and_left_as_it_was() -> None:
    con = duckdb.connect()
    migrate(con, steps=_numbered(_add_column("a"), _add_column("b")))
    with pytest.raises(WarehouseTooNew, match=f"schema version {BASELINE + 2} .* up to {BASELINE}"):
        migrate(con, steps=())
    assert current_version(con) == BASELINE + 2


def test_steps_not_numbered_in_order_after_the_baseline_are_refused() -> None:
    step = _add_column("x")
    for steps in ((Step(BASELINE, "baseline again", step.apply),), (Step(BASELINE + 2, "gap", step.apply),)):
        with pytest.raises(ValueError, match="numbered"):
            migrate(duckdb.connect(), steps=steps)


def test_the_baseline_brought_up_by_the_shipped_steps_has_exactly_a_new_warehouses_tables() -> None:
    """The version-1 tables are frozen in tests/fixtures/warehouse/schema_v1.json. A change to
    ensure_schema without a step that makes the same change fails here."""
    frozen = json.loads((FIXTURES / "schema_v1.json").read_text())
    assert frozen["version"] == BASELINE
    old = duckdb.connect()
    for table, columns in frozen["tables"].items():
        body = ", ".join(f'"{name}" {kind}{"" if nullable else " NOT NULL"}' for name, kind, nullable in columns)
        old.execute(f'CREATE TABLE "{table}" ({body})')
    migrate(old)
    assert _versions(old) == [BASELINE, *(step.version for step in STEPS)]
    fresh = duckdb.connect()
    migrate(fresh)
    assert _columns(old) == _columns(fresh)


def test_the_warehouse_resource_migrates_on_open_and_refuses_a_newer_warehouse(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    resource = WarehouseResource(path=str(path), lake_files=LakeResource(root=str(tmp_path / "lake")))
    with resource.connect() as con:
        assert current_version(con) == newest()
        kind = "SELECT table_type FROM information_schema.tables WHERE table_name = 'focus_costs'"
        assert con.execute(kind).fetchall() == [("VIEW",)]  # the lake's view, after the version's steps
    with duckdb.connect(str(path)) as con:
        con.execute("INSERT INTO schema_version (version, description) VALUES ($1, 'from the future')", [newest() + 1])
    with pytest.raises(WarehouseTooNew), resource.connect():
        pass
