"""The lake of FOCUS Parquet files (``analytics.lake``) against the ``focus_costs`` table it replaced.

The sandbox's three providers' exports over four months are loaded both ways: into a table by
``replace_month`` (the single-writer path) and into the lake by ``normalise_partition``; the
warehouse's view must then hold the same rows, typed the same, and the daily aggregates built
from it must be the same. Partitions land from two processes at once while the warehouse is
held open for writing, and the same partitions land in S3 (moto's server, through boto3 and
pyarrow's S3 client).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from datetime import date
from pathlib import Path

import boto3
import duckdb
import pytest

from analytics.focus.errors import NormalisationError
from analytics.ingest import LoadedMonth, normalise_partition, replace_month
from analytics.lake import Lake
from analytics.warehouse import ensure_schema, replace_cost_daily
from clouds.sandbox.billing_source import SandboxBillingSource
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world

FIRST, AS_OF = date(2026, 1, 1), date(2026, 4, 20)
Partition = tuple[str, date, list[tuple[Path, str | None]]]


@pytest.fixture(scope="module")
def partitions(tmp_path_factory: pytest.TempPathFactory) -> list[Partition]:
    """Every (source, month) of the sandbox's three providers, with its export files."""
    exports = tmp_path_factory.mktemp("exports")
    write_exports(build_world(7, AS_OF, FIRST), exports)
    found = []
    for flavour in FlavourKey:
        source = SandboxBillingSource(f"sandbox-{flavour.value}", exports, flavour)
        for month in sorted(source.months()):
            found.append((source.source_id, month, [(f.path, f.format) for f in source.fetch(month)]))
    return found


def _table_path(partitions: list[Partition]) -> tuple[duckdb.DuckDBPyConnection, list[LoadedMonth]]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ensure_schema(con)
    loaded = [replace_month(con, source_id=s, month=m, files=files) for s, m, files in partitions]
    return con, loaded


def _rows(con: duckdb.DuckDBPyConnection, table: str) -> list[tuple[object, ...]]:
    return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()


def test_the_lake_leaves_the_warehouse_row_for_row_as_the_table_did(
    partitions: list[Partition], tmp_path: Path
) -> None:
    assert {s for s, _, _ in partitions} == {"sandbox-aws", "sandbox-azure", "sandbox-gcp"}
    assert len({m for _, m, _ in partitions}) == 4
    reference, table_loads = _table_path(partitions)
    lake = Lake(str(tmp_path / "lake"))
    lake_loads = [normalise_partition(lake, source_id=s, month=m, files=files) for s, m, files in partitions]
    assert lake_loads == table_loads  # rows per file, notices, billed cost per currency
    assert lake.partitions() == sorted((s, m) for s, m, _ in partitions)

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as warehouse:
        warehouse.execute("SET TimeZone = 'UTC'")
        ensure_schema(warehouse, lake)
        described = warehouse.execute("DESCRIBE focus_costs").fetchall()
        assert described == reference.execute("DESCRIBE focus_costs").fetchall()
        expected = _rows(reference, "focus_costs")
        assert len(expected) > 1_000
        assert _rows(warehouse, "focus_costs") == expected
        for table in ("cost_daily", "cost_detail_daily"):
            for s, m, _ in partitions:
                built = replace_cost_daily(warehouse, source_id=s, month=m, table=table)
                assert built == replace_cost_daily(reference, source_id=s, month=m, table=table)
            assert _rows(warehouse, table) == _rows(reference, table)


def test_a_rerun_replaces_its_partition_and_never_adds_a_file(partitions: list[Partition], tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    source, month, files = partitions[0]
    first = normalise_partition(lake, source_id=source, month=month, files=files)
    again = normalise_partition(lake, source_id=source, month=month, files=files)
    assert again == first
    landed = sorted(p.relative_to(tmp_path / "lake") for p in (tmp_path / "lake").rglob("*.parquet"))
    assert [str(p) for p in landed] == sorted(
        [
            f"focus/provider={source}/month={month:%Y-%m}/part-0.parquet",
            "focus/provider=_schema/month=1970-01/part-0.parquet",
        ]
    )
    assert not list((tmp_path / "lake" / ".staging").iterdir())  # nothing left half-written
    with lake.reader() as con:
        assert con.execute("SELECT count(*) FROM focus_costs").fetchall()[0][0] == first.rows


def test_a_refused_file_leaves_the_partition_as_it_was(partitions: list[Partition], tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    source, month, files = partitions[0]
    loaded = normalise_partition(lake, source_id=source, month=month, files=files)
    broken = tmp_path / "broken.csv"
    broken.write_text("not,a,bill\n1,2,3\n")
    with pytest.raises(NormalisationError, match=r"broken\.csv"):
        normalise_partition(lake, source_id=source, month=month, files=[*files, (broken, None)])
    with lake.reader() as con:
        assert con.execute("SELECT count(*) FROM focus_costs").fetchall()[0][0] == loaded.rows


def test_an_empty_lake_reads_as_no_rows_with_every_column(tmp_path: Path) -> None:
    with Lake(str(tmp_path / "lake")).reader() as con:
        assert con.execute("SELECT count(*) FROM focus_costs").fetchall() == [(0,)]
        columns = [row[0] for row in con.execute("DESCRIBE focus_costs").fetchall()]
    reference = duckdb.connect()
    ensure_schema(reference)
    assert columns == [row[0] for row in reference.execute("DESCRIBE focus_costs").fetchall()]


def _normalise_in_child(root: str, partition: Partition, results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        source, month, files = partition
        results.put((source, normalise_partition(Lake(root), source_id=source, month=month, files=files).rows))
    except BaseException as exc:  # reported to the parent, which fails the test with it
        results.put((partition[0], repr(exc)))


def test_two_processes_land_two_partitions_at_once_while_the_warehouse_is_held_for_writing(
    partitions: list[Partition], tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    chosen = [next(p for p in partitions if p[0] == name) for name in ("sandbox-aws", "sandbox-gcp")]
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    warehouse = duckdb.connect(str(tmp_path / "warehouse.duckdb"))  # the single writer's lock, held throughout
    try:
        ensure_schema(warehouse, lake)
        workers = [context.Process(target=_normalise_in_child, args=(lake.root, p, results)) for p in chosen]
        for worker in workers:
            worker.start()
        outcome = dict(results.get(timeout=120) for _ in workers)
        for worker in workers:
            worker.join(timeout=30)
        assert all(isinstance(rows, int) and rows > 0 for rows in outcome.values()), outcome
        assert [w.exitcode for w in workers] == [0, 0]
        landed = dict(
            warehouse.execute("SELECT x_SourceId, count(*) FROM focus_costs GROUP BY ALL").fetchall()  # type: ignore[arg-type]
        )
        assert landed == outcome
    finally:
        warehouse.close()


@pytest.fixture
def s3_lake(moto_endpoint: str, aws_keys: dict[str, str]) -> Lake:
    bucket = "wedcloud-lake-test"
    boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id=aws_keys["access_key_id"],
        aws_secret_access_key=aws_keys["secret_access_key"],
    ).create_bucket(Bucket=bucket)
    return Lake(
        f"s3://{bucket}/warehouse",
        s3_endpoint=moto_endpoint,
        s3_region="us-east-1",
        access_key_id=aws_keys["access_key_id"],
        secret_access_key=aws_keys["secret_access_key"],
    )


def test_partitions_land_in_s3_and_the_warehouse_reads_them_through_its_view(
    partitions: list[Partition], s3_lake: Lake, tmp_path: Path
) -> None:
    chosen = [p for p in partitions if p[1] == date(2026, 2, 1)]
    reference, _ = _table_path(chosen)
    for source, month, files in [*chosen, chosen[0]]:  # the first one twice: replaced, not duplicated
        normalise_partition(s3_lake, source_id=source, month=month, files=files)
    assert s3_lake.partitions() == sorted((s, m) for s, m, _ in chosen)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as warehouse:
        warehouse.execute("SET TimeZone = 'UTC'")
        ensure_schema(warehouse, s3_lake)
        assert _rows(warehouse, "focus_costs") == _rows(reference, "focus_costs")
    s3_lake.remove(*chosen[0][:2])
    with s3_lake.reader() as con:
        sources = {row[0] for row in con.execute("SELECT DISTINCT x_SourceId FROM focus_costs").fetchall()}
    assert sources == {s for s, _, _ in chosen[1:]}


def test_a_warehouse_with_a_focus_costs_table_moves_it_to_the_lake_once(
    partitions: list[Partition], tmp_path: Path
) -> None:
    chosen = partitions[:2]
    path = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(path) as old:
        old.execute("SET TimeZone = 'UTC'")
        ensure_schema(old)  # a warehouse from before the lake
        for source, month, files in chosen:
            replace_month(old, source_id=source, month=month, files=files)
        expected = _rows(old, "focus_costs")
    lake = Lake(str(tmp_path / "lake"))
    for _ in range(2):  # the second opening finds the view and moves nothing
        with duckdb.connect(path) as upgraded:
            upgraded.execute("SET TimeZone = 'UTC'")
            ensure_schema(upgraded, lake)
            kind = upgraded.execute(
                "SELECT table_type FROM information_schema.tables WHERE table_name = 'focus_costs'"
            ).fetchall()
            assert kind == [("VIEW",)]
            assert _rows(upgraded, "focus_costs") == expected
    assert lake.partitions() == sorted((s, m) for s, m, _ in chosen)


def test_a_write_removes_staging_folders_a_crashed_writer_left_and_keeps_a_live_ones(
    partitions: list[Partition], tmp_path: Path
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    staging = tmp_path / "lake" / ".staging"
    crashed, live = staging / "crashed", staging / "live"
    for folder in (crashed, live):
        (folder / "spill").mkdir(parents=True)
        (folder / "part-0.parquet").write_bytes(b"PAR1 half a file")
    two_days_ago = time.time() - 2 * 86400
    for path in (crashed, crashed / "spill", crashed / "part-0.parquet", live):  # live's file is fresh
        os.utime(path, (two_days_ago, two_days_ago))
    source, month, files = partitions[0]
    normalise_partition(lake, source_id=source, month=month, files=files)
    assert sorted(p.name for p in staging.iterdir()) == ["live"]
    assert lake.sweep_staging() == []
