"""Hostile CSV files (issue 18 review): bytes that are not UTF-8, truncated gzip, values and
lines longer than a reader's limits. Each is read to the end or refused naming the file; none
loses a row silently and none ends in a traceback.

The files are derived from the written Azure MCA actual-cost case (tests/fixtures/README.md),
six rows in GBP; line 2 (subscription wedsync-eu-prod) costs 4.004352 GBP, the money the
reviewer saw vanish when that row was not UTF-8.
"""

from __future__ import annotations

import csv
import gzip
import io
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.focus.convert import convert
from analytics.focus.errors import NormalisationError

HEAD_BYTES = 8 * 2**20  # what csv_header reads at most for the header and its sample
MCA = Path(__file__).parents[1] / "fixtures/azure/mca_actual_2026-01.csv"


def _refused(path: Path, tmp_path: Path) -> str:
    """Convert ``path``, expecting a refusal naming it; nothing may be written."""
    out = tmp_path / "out.parquet"
    with pytest.raises(NormalisationError) as refused:
        convert([path], out)
    assert refused.value.file == str(path)
    assert str(path) in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no output, no partial file
    return refused.value.problem


def _billed(out: Path) -> dict[str, Decimal]:
    rows = duckdb.execute(
        f"SELECT BillingCurrency, sum(BilledCost::DECIMAL(38, 18)) FROM read_parquet('{out}') GROUP BY ALL"
    ).fetchall()
    return {currency: Decimal(str(total)).normalize() for currency, total in rows}


def _with_tags(tags: str) -> bytes:
    """The MCA case with line 2's tags replaced (written back with the csv module)."""
    records = list(csv.reader(io.StringIO(MCA.read_text(encoding="utf-8-sig"), newline="")))
    records[1][records[0].index("tags")] = tags
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(records)
    return text.getvalue().encode()


def test_a_row_that_is_not_utf8_refuses_the_file_naming_its_lines(tmp_path: Path) -> None:
    data = MCA.read_bytes().replace(b"wedsync-eu-prod", b"wed\xff\xfesync", 2)  # lines 2 and 3
    path = tmp_path / "latin.csv"
    path.write_bytes(data)
    problem = _refused(path, tmp_path)
    assert "2 row(s) cannot be read (invalid encoding): line(s) 2, 3;" in problem
    assert "UTF-8" in problem


def test_a_header_that_is_not_utf8_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "latin_header.csv"
    path.write_bytes(MCA.read_bytes().replace(b"quantity", b"quant\xffity", 1))
    assert "header (line 1) is not valid UTF-8" in _refused(path, tmp_path)


def test_a_truncated_gzip_file_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(gzip.compress(MCA.read_bytes())[:200])
    assert "cannot be read" in _refused(path, tmp_path)


def test_a_value_longer_than_the_csv_module_default_is_read(tmp_path: Path) -> None:
    tags = '{"note": "' + "x" * 200_000 + '"}'  # the csv module's default limit is 131072 characters
    path = tmp_path / "long_tags.csv"
    path.write_bytes(_with_tags(tags))
    converted = convert([path], tmp_path / "out.parquet")
    plain = convert([MCA], tmp_path / "plain.parquet")
    assert converted.inputs[0].rows == plain.inputs[0].rows == 6
    assert _billed(converted.path) == _billed(plain.path)
    stored = duckdb.execute(f"SELECT max(length(Tags::VARCHAR)) FROM read_parquet('{converted.path}')").fetchall()[0][0]
    assert stored >= 200_000


def test_a_line_longer_than_duckdb_reads_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "huge_line.csv"
    path.write_bytes(_with_tags('{"note": "' + "x" * 3 * 2**20 + '"}'))  # DuckDB reads lines up to 2 MB
    assert "1 row(s) cannot be read (line size over maximum): line(s) 2;" in _refused(path, tmp_path)


def test_a_first_line_longer_than_the_head_read_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "one_line.csv"
    path.write_bytes(b"x" * (HEAD_BYTES + 1024))  # no newline at all
    assert "first line is longer than 8 MiB" in _refused(path, tmp_path)


def _rewritten(source: Path, target: Path, column: str, value: str) -> Path:
    """``source`` with ``column`` of its first data row set to ``value``."""
    with source.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rows[0][column] = value
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_a_usage_date_that_is_no_date_refuses_the_file_instead_of_a_row_without_time(tmp_path: Path) -> None:
    written = _rewritten(MCA, tmp_path / "mca_bad_date.csv", "date", "garbage")
    assert "1 row(s) have no charge period" in _refused(written, tmp_path)


def test_a_google_usage_time_that_is_no_timestamp_is_refused_naming_the_file(tmp_path: Path) -> None:
    source = Path(__file__).parents[1] / "fixtures/gcp/gcp_bq_export_2020-11_koku.csv"
    written = _rewritten(source, tmp_path / "gcp_bad_time.csv", "usage_start_time", "not a time")
    assert "cannot be converted as gcp_billing_export" in _refused(written, tmp_path)
