"""Irregular CSV headers and ragged rows (issue 18, class 1).

The real case is koku's November 2023 legacy CUR test extract: ``pricing/OfferingClass`` and
``pricing/PurchaseOption`` run together in its header, a ``# notsecret`` comment after every
row, a tab inside a value and two rows spliced by the writer (lines 7 and 22). DuckDB's sniffer
read it as zero rows. The written cases derive from one small, regular legacy CUR file.
"""

from __future__ import annotations

import csv
import gzip
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from analytics.focus.convert import convert
from analytics.focus.errors import NormalisationError
from analytics.focus.normalise import open_source, source_totals_sql
from wedcloud.cli.main import app

KOKU = Path(__file__).parents[1] / "fixtures/aws/aws_cur_legacy_2023-11_koku.csv"

HEADER = [
    "identity/LineItemId", "bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate",
    "lineItem/UsageAccountId", "lineItem/LineItemType", "lineItem/UsageStartDate", "lineItem/UsageEndDate",
    "lineItem/ProductCode", "lineItem/UsageAmount", "lineItem/CurrencyCode", "lineItem/UnblendedRate",
    "lineItem/UnblendedCost", "lineItem/BlendedRate", "lineItem/BlendedCost", "pricing/unit",
]  # fmt: skip
ROWS = [
    ["a1", "111", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "222", "Usage", "2026-01-03T00:00:00Z",
     "2026-01-03T01:00:00Z", "AmazonEC2", "1", "USD", "0.096", "0.0960000001", "0.096", "0.096", "Hrs"],
    ["a2", "111", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "222", "Usage", "2026-01-03T01:00:00Z",
     "2026-01-03T02:00:00Z", "AmazonS3", "10", "USD", "0.023", "0.23", "0.023", "0.23", "GB-Mo"],
    ["a3", "111", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "222", "Tax", "2026-01-03T00:00:00Z",
     "2026-01-04T00:00:00Z", "AmazonEC2", "", "USD", "", "0.07", "", "0.07", ""],
    ["a4", "111", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "222", "Usage", "2026-01-05T00:00:00Z",
     "2026-01-05T01:00:00Z", "AmazonEC2", "2", "EUR", "0.1", "0.2", "0.1", "0.2", "Hrs"],
]  # fmt: skip
EXPECTED = {"USD": Decimal("0.3960000001"), "EUR": Decimal("0.2")}


def _write(path: Path, header: list[str], rows: list[list[str]], *, newline: str = "\n", prefix: str = "") -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_bytes((prefix + newline.join(lines) + newline).encode())
    return path


def _totals(result_rows: list[tuple[str, Decimal]]) -> dict[str, Decimal]:
    return {currency: Decimal(str(total)).normalize() for currency, total in result_rows}


def _converted_totals(out: Path) -> dict[str, Decimal]:
    rows = duckdb.execute(
        f"SELECT BillingCurrency, sum(BilledCost::DECIMAL(38, 18)) FROM read_parquet('{out}') GROUP BY ALL"
    ).fetchall()
    return _totals(rows)


def _expected() -> dict[str, Decimal]:
    return {k: v.normalize() for k, v in EXPECTED.items()}


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    return connection


# --- the real export -------------------------------------------------------------------------


def test_koku_extract_is_detected_and_its_rows_are_read_despite_the_comment_marks(
    con: duckdb.DuckDBPyConnection,
) -> None:
    source = open_source(con, KOKU)
    assert source.format_name == "aws_cur_legacy"
    read = con.execute(f"SELECT count(*) FROM ({source.canonical_sql})").fetchall()[0][0]
    assert read == 24  # 26 data lines, 2 of them spliced


def test_koku_extract_reports_its_spliced_rows_by_line_number(con: duckdb.DuckDBPyConnection) -> None:
    notices = open_source(con, KOKU).notices
    ragged = [n for n in notices if n.code == "ragged-rows"]
    assert len(ragged) == 1
    assert ragged[0].rows == 2
    assert "line(s) 7, 22" in ragged[0].message
    assert "200 fields" in ragged[0].message


def test_koku_extract_totals_are_the_unblended_costs_of_its_whole_rows(con: duckdb.DuckDBPyConnection) -> None:
    with KOKU.open(newline="") as handle:
        records = list(csv.reader(handle))
    header, data = records[0], records[1:]
    cost = header.index("lineItem/UnblendedCost")
    by_hand: dict[str, Decimal] = {}
    for record in data:
        if len(record) == len(header):
            currency = record[header.index("lineItem/CurrencyCode")]
            # to MONEY's 18 places, as the converter reads each value (one has 19 decimals)
            amount = Decimal(record[cost]).quantize(Decimal("1e-18"), rounding=ROUND_HALF_UP)
            by_hand[currency] = by_hand.get(currency, Decimal(0)) + amount
    source = open_source(con, KOKU)
    found = con.execute(f"SELECT currency, sum(cost) FROM ({source_totals_sql(source)}) GROUP BY ALL").fetchall()
    assert _totals(found) == {k: v.normalize() for k, v in by_hand.items()}


def test_koku_extract_converts_and_says_why_its_billed_cost_is_below_its_unblended_sum(tmp_path: Path) -> None:
    converted = convert([KOKU], tmp_path / "out.parquet")
    codes = [n.code for n in converted.notices]
    assert "ragged-rows" in codes
    explained = [n for n in converted.notices if n.code == "difference-explained"]
    assert len(explained) == 1
    assert "SavingsPlanCoveredUsage" in explained[0].message
    assert explained[0].rows >= 1


# --- written cases ---------------------------------------------------------------------------


def test_two_names_run_together_convert_and_the_extra_field_gets_a_name(tmp_path: Path) -> None:
    header = [*HEADER[:13], "lineItem/BlendedRatelineItem/BlendedCost", "pricing/unit"]
    path = _write(tmp_path / "run_together.csv", header, ROWS)
    converted = convert([path], tmp_path / "out.parquet")
    assert _converted_totals(converted.path) == _expected()
    # the names after the run-together one are a field to the left: "pricing/unit" holds a
    # rate or cost, and the converter says so rather than inventing units
    assert [n.code for n in converted.notices] == ["header-repaired", "unit-unmapped"]
    assert "column_16" in converted.notices[0].message
    assert "'0.23' (1 rows)" in converted.notices[1].message
    assert converted.notices[1].rows == len(ROWS)
    extras = duckdb.execute(
        f"SELECT DISTINCT x_Extras::JSON->'UnknownColumns' FROM read_parquet('{converted.path}') "
        "WHERE x_SourceLineId = 'a2'"
    ).fetchall()
    assert extras == [('{"lineItem/BlendedRatelineItem/BlendedCost":"0.023","column_16":"GB-Mo"}',)]


def test_a_required_name_hidden_in_a_run_together_name_is_named_in_the_refusal(tmp_path: Path) -> None:
    header = [*HEADER[:11], "lineItem/UnblendedRatelineItem/UnblendedCost", *HEADER[13:]]
    path = _write(tmp_path / "hidden.csv", header, ROWS)
    with pytest.raises(NormalisationError) as refused:
        convert([path], tmp_path / "out.parquet")
    assert refused.value.column == "lineItem/UnblendedCost"
    assert "the header has lineItem/UnblendedRatelineItem/UnblendedCost" in refused.value.problem


def test_a_hidden_required_name_is_named_when_the_format_is_forced(tmp_path: Path) -> None:
    header = [HEADER[0], "bill/PayerAccountIdbill/BillingPeriodStartDate", *HEADER[3:]]
    path = _write(tmp_path / "forced.csv", header, ROWS)
    with pytest.raises(NormalisationError) as refused:
        convert([path], tmp_path / "out.parquet", fmt="aws_cur_legacy")
    assert "bill/PayerAccountId (the header has bill/PayerAccountIdbill/BillingPeriodStartDate)" in str(refused.value)


def test_an_irregular_header_converts_with_the_format_forced(tmp_path: Path) -> None:
    header = [*HEADER[:13], "lineItem/BlendedRatelineItem/BlendedCost", "pricing/unit"]
    path = _write(tmp_path / "run_together.csv", header, ROWS)
    converted = convert([path], tmp_path / "out.parquet", fmt="aws_cur_legacy")
    assert converted.formats == {str(path): "aws_cur_legacy"}
    assert _converted_totals(converted.path) == _expected()


def test_bom_padding_quotes_and_crlf_in_the_header_read_like_a_clean_header(tmp_path: Path) -> None:
    header = [f'"{HEADER[0]}"', f"  {HEADER[1]} "] + [f'"{n} "' for n in HEADER[2:]]
    path = _write(tmp_path / "dressed.csv", header, ROWS, newline="\r\n", prefix="\ufeff")
    converted = convert([path], tmp_path / "out.parquet")
    assert converted.notices == []
    assert converted.inputs[0].rows == 4
    assert _converted_totals(converted.path) == _expected()


def test_gzip_files_are_read_with_the_same_header_handling(tmp_path: Path) -> None:
    header = [*HEADER[:13], "lineItem/BlendedRatelineItem/BlendedCost", "pricing/unit"]
    plain = _write(tmp_path / "run_together.csv", header, ROWS)
    packed = tmp_path / "run_together.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    converted = convert([packed], tmp_path / "out.parquet")
    assert _converted_totals(converted.path) == _expected()
    assert [n.code for n in converted.notices] == ["header-repaired", "unit-unmapped"]


def test_duplicated_names_keep_the_first_and_say_so(tmp_path: Path) -> None:
    header = [*HEADER[:13], "lineItem/UnblendedCost", *HEADER[14:]]  # BlendedRate's name written twice
    path = _write(tmp_path / "duplicated.csv", header, ROWS)
    converted = convert([path], tmp_path / "out.parquet")
    assert _converted_totals(converted.path) == _expected()
    assert [n.code for n in converted.notices] == ["header-repaired"]
    assert "lineItem/UnblendedCost" in converted.notices[0].message


def test_names_beyond_the_rows_fields_are_reported_as_without_values(tmp_path: Path) -> None:
    header = [*HEADER, "pricing/term", "product/region"]
    path = _write(tmp_path / "long_header.csv", header, ROWS)
    converted = convert([path], tmp_path / "out.parquet")
    assert _converted_totals(converted.path) == _expected()
    assert [n.code for n in converted.notices] == ["header-repaired"]
    assert "pricing/term, product/region have no values" in converted.notices[0].message


def test_a_ragged_row_in_the_middle_is_left_out_reported_and_totals_still_reconcile(tmp_path: Path) -> None:
    ragged = ROWS[1][:9] + ROWS[1][10:]  # one field lost: its cost would be read from the wrong column
    path = _write(tmp_path / "ragged.csv", HEADER, [ROWS[0], ragged, ROWS[2], ROWS[3]])
    converted = convert([path], tmp_path / "out.parquet")
    assert [n.code for n in converted.notices] == ["ragged-rows"]
    assert "1 row(s) do not have 16 fields" in converted.notices[0].message
    assert "line(s) 3;" in converted.notices[0].message
    assert converted.inputs[0].rows == 3
    left = {"USD": Decimal("0.1660000001"), "EUR": Decimal("0.2")}  # a2's 0.23 USD is out
    assert _converted_totals(converted.path) == left
    assert {k: v.normalize() for k, v in converted.inputs[0].totals.items()} == left


def test_a_row_with_a_field_too_many_is_reported_too(tmp_path: Path) -> None:
    path = _write(tmp_path / "long_row.csv", HEADER, [*ROWS, [*ROWS[0][:5], "extra", *ROWS[0][5:]]])
    converted = convert([path], tmp_path / "out.parquet")
    assert [(n.code, n.rows) for n in converted.notices] == [("ragged-rows", 1)]
    assert "line(s) 6;" in converted.notices[0].message
    assert _converted_totals(converted.path) == _expected()


def test_an_unrecognised_layout_names_the_closest_format_and_what_it_lacks(tmp_path: Path) -> None:
    header = [n for n in HEADER if n not in ("lineItem/UnblendedCost", "lineItem/LineItemType")]
    rows = [[v for n, v in zip(HEADER, r, strict=True) if n in header] for r in ROWS]
    path = _write(tmp_path / "unknown.csv", header, rows)
    with pytest.raises(NormalisationError) as refused:
        convert([path], tmp_path / "out.parquet")
    problem = refused.value.problem
    assert "unrecognised billing layout" in problem
    assert "the closest is aws_cur_legacy, which lacks the required column(s) lineItem/LineItemType, " in problem
    assert "lineItem/UnblendedCost" in problem


def test_the_cli_prints_ragged_rows_as_a_warning(tmp_path: Path) -> None:
    ragged = ROWS[1][:9] + ROWS[1][10:]
    path = _write(tmp_path / "ragged.csv", HEADER, [ROWS[0], ragged, ROWS[2], ROWS[3]])
    out = tmp_path / "focus.parquet"
    result = CliRunner().invoke(app, ["focus", "convert", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning ragged-rows: 1 row(s) do not have 16 fields" in result.stderr
    assert "line(s) 3;" in result.stderr


# --- how many ragged rows may be left out (RAGGED_FEW rows, or RAGGED_PERCENT of the rows) ---------


def _rows(good: int, ragged: int, *, ragged_first: bool = False) -> list[list[str]]:
    """``good`` copies of a2 (0.23 USD each) and ``ragged`` copies with one field lost."""
    whole = [[f"g{i}", *ROWS[1][1:]] for i in range(good)]
    lost = [[f"r{i}", *ROWS[1][1:9], *ROWS[1][10:]] for i in range(ragged)]
    return lost + whole if ragged_first else whole + lost


def test_three_ragged_rows_are_left_out_with_a_warning_even_above_one_percent(tmp_path: Path) -> None:
    path = _write(tmp_path / "few.csv", HEADER, _rows(7, 3))
    converted = convert([path], tmp_path / "out.parquet")
    assert [(n.code, n.rows) for n in converted.notices] == [("ragged-rows", 3)]
    assert converted.inputs[0].rows == 7


def test_four_ragged_rows_above_one_percent_refuse_the_file_naming_counts_and_lines(tmp_path: Path) -> None:
    path = _write(tmp_path / "many.csv", HEADER, _rows(20, 4))
    with pytest.raises(NormalisationError) as refused:
        convert([path], tmp_path / "out.parquet")
    assert refused.value.file == str(path)
    assert "4 row(s) do not have 16 fields (missing columns): line(s) 22, 23, 24, 25;" in refused.value.problem
    assert "that is 4 of its 24 rows" in refused.value.problem
    assert not (tmp_path / "out.parquet").exists()


def test_ragged_rows_within_one_percent_are_left_out_with_a_warning(tmp_path: Path) -> None:
    path = _write(tmp_path / "share.csv", HEADER, _rows(396, 4))  # 4 of 400 rows: exactly 1%
    converted = convert([path], tmp_path / "out.parquet")
    assert [(n.code, n.rows) for n in converted.notices] == [("ragged-rows", 4)]
    assert converted.inputs[0].rows == 396


def test_ragged_rows_just_above_one_percent_refuse_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "share.csv", HEADER, _rows(395, 5))  # 5 of 400 rows
    with pytest.raises(NormalisationError, match="that is 5 of its 400 rows"):
        convert([path], tmp_path / "out.parquet")


def test_as_many_ragged_rows_as_rows_read_refuse_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "half.csv", HEADER, _rows(2, 2))
    with pytest.raises(NormalisationError, match="that is 2 of its 4 rows"):
        convert([path], tmp_path / "out.parquet")


def test_a_field_count_of_the_first_rows_that_most_rows_lack_refuses_the_file(tmp_path: Path) -> None:
    # the first 1000 rows (the sample) have 15 fields, the 1500 after them 16: the layout is misread
    path = _write(tmp_path / "misread.csv", HEADER, _rows(1500, 1000, ragged_first=True))
    with pytest.raises(NormalisationError) as refused:
        convert([path], tmp_path / "out.parquet")
    assert "1500 row(s) do not have 15 fields (too many columns): line(s) 1002, 1003," in refused.value.problem
    assert "and 1480 more" in refused.value.problem
