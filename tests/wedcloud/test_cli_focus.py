"""``wedcloud focus``: convert, export and refuse, from the command line."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from analytics.focus.convert import export_lake
from analytics.ingest import normalise_partition
from analytics.lake import Lake
from tests.conftest import require
from wedcloud import focus_validator
from wedcloud.cli.main import app

FIXTURES = Path(__file__).parents[1] / "fixtures"


def test_convert_reports_each_input_and_writes_one_file(tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    inputs = [FIXTURES / "azure/mca_actual_2026-01.csv", FIXTURES / "gcp/detailed_export_2026-01.jsonl"]
    result = CliRunner().invoke(app, ["focus", "convert", *map(str, inputs), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "azure_cost_details, 6 rows" in result.stderr
    assert "gcp_billing_export, 7 rows" in result.stderr
    rows = duckdb.sql(f"SELECT count(*), count(DISTINCT x_SourceFile) FROM read_csv('{out}')").fetchall()
    assert rows == [(13, 2)]
    header = out.read_text().splitlines()[0].split(",")
    assert header[:3] == ["AvailabilityZone", "BilledCost", "BillingAccountId"]


def test_a_refused_input_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("what,when\nsomething,today\n")
    out = tmp_path / "focus.parquet"
    result = CliRunner().invoke(
        app, ["focus", "convert", str(FIXTURES / "azure/mca_actual_2026-01.csv"), str(bad), "--out", str(out)]
    )
    assert result.exit_code == 2
    assert "unrecognised billing layout" in result.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [bad]


def test_export_writes_the_lake_by_provider_and_month_while_a_run_holds_the_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    lake = Lake(str(home / "lake"))
    normalise_partition(
        lake, source_id="a", month=date(2026, 1, 1), files=[(FIXTURES / "azure/mca_actual_2026-01.csv", None)]
    )
    normalise_partition(
        lake, source_id="g", month=date(2026, 1, 1), files=[(FIXTURES / "gcp/detailed_export_2026-01.jsonl", None)]
    )
    monkeypatch.setenv("WEDCLOUD_HOME", str(home))
    monkeypatch.delenv("WEDCLOUD_LAKE", raising=False)
    out = tmp_path / "out"
    with duckdb.connect(str(home / "warehouse.duckdb")):  # a Dagster run writing the warehouse
        result = CliRunner().invoke(app, ["focus", "export", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "provider=Google Cloud/month=2026-01: 7 rows" in result.output
    assert "wrote 13 rows" in result.output
    files = sorted(p.relative_to(out).parts[:2] for p in out.rglob("*.parquet"))
    assert files == [
        ("provider=Google%20Cloud", "month=2026-01"),
        ("provider=Microsoft", "month=2026-01"),
    ]  # hive-encoded
    with duckdb.connect() as con:
        assert con.execute(f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet')").fetchall() == [(13,)]
    only = export_lake(lake, tmp_path / "microsoft", provider="Microsoft")
    assert only.partitions == [("Microsoft", "2026-01", 6)]


@pytest.mark.integration  # uv, and the validator's own environment (about 12 s once installed)
@pytest.mark.slow
def test_validate_finds_uv_where_its_installer_put_it_when_the_path_has_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        real_uv = focus_validator.uv_executable()
    except focus_validator.ValidatorUnavailable as exc:
        require(False, str(exc))
    # uv's installer put it in $XDG_BIN_HOME, which this shell's PATH lacks (and `uv run` did not start us)
    bin_dir, calls = tmp_path / "bin", tmp_path / "uv-calls"
    bin_dir.mkdir()
    (bin_dir / "uv").write_text(f'#!/bin/sh\necho "$@" >> "{calls}"\nexec "{real_uv}" "$@"\n')
    (bin_dir / "uv").chmod(0o755)
    path = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "uv").exists()]
    monkeypatch.setenv("PATH", os.pathsep.join(path))
    monkeypatch.delenv("UV", raising=False)
    monkeypatch.setenv("XDG_BIN_HOME", str(bin_dir))

    out = tmp_path / "focus.parquet"
    runner = CliRunner()
    converted = runner.invoke(
        app, ["focus", "convert", str(FIXTURES / "azure/mca_actual_2026-01.csv"), "--out", str(out)]
    )
    assert converted.exit_code == 0, converted.output
    result = runner.invoke(app, ["focus", "validate", str(out), "--workdir", str(tmp_path / "validator")])
    assert result.exit_code == 0, result.output
    assert " rules, " in result.stderr
    assert "tool run" in calls.read_text()  # the validator ran through the uv found there
