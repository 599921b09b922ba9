"""Detect a billing file's format from its header and produce FOCUS 1.2 rows from it.

Everything runs inside DuckDB: the normaliser returns SQL over the file, so a ten-million-row
export is converted without passing through Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from analytics.focus import aws
from analytics.focus.errors import NormalisationError
from analytics.focus.schema import DECIMAL

AWS_CUR2 = "aws_cur2"
AWS_CUR_LEGACY = "aws_cur_legacy"
FORMATS = (AWS_CUR2, AWS_CUR_LEGACY)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def read_sql(path: Path) -> str:
    """A DuckDB table expression reading ``path`` as it is (CSV read as text)."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return f"read_parquet({_literal(str(path))})"
    if name.endswith((".csv", ".csv.gz", ".csv.zst")):
        return f"read_csv({_literal(str(path))}, header = true, all_varchar = true)"
    raise NormalisationError(str(path), None, "unsupported file type; expected .parquet, .csv or .csv.gz")


def columns_of(con: duckdb.DuckDBPyConnection, path: Path) -> list[str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {read_sql(path)}").fetchall()
    except duckdb.Error as exc:
        raise NormalisationError(str(path), None, f"cannot be read: {exc}") from None
    return [row[0] for row in rows]


def detect_format(columns: list[str], path: Path) -> str:
    names = set(columns)
    if "line_item_unblended_cost" in names or "line_item_line_item_type" in names:
        return AWS_CUR2
    if "lineItem/UnblendedCost" in names or "lineItem/LineItemType" in names:
        return AWS_CUR_LEGACY
    raise NormalisationError(
        str(path), None, f"unrecognised billing layout (first columns: {', '.join(columns[:6])}); pass the format"
    )


@dataclass(frozen=True)
class SourceFile:
    """A billing file, its detected format and the SQL that reads it in CUR 2.0 shape."""

    path: Path
    format: str
    source_sql: str


def open_source(con: duckdb.DuckDBPyConnection, path: Path, fmt: str | None = None) -> SourceFile:
    columns = columns_of(con, path)
    fmt = fmt or detect_format(columns, path)
    if fmt not in FORMATS:
        raise NormalisationError(str(path), None, f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}")
    legacy = fmt == AWS_CUR_LEGACY
    missing = aws.missing_required(columns, legacy=legacy)
    if missing:
        raise NormalisationError(str(path), missing[0], f"required column is missing ({len(missing)} missing in all)")
    builder = aws.legacy_source_sql if legacy else aws.cur2_source_sql
    return SourceFile(path, fmt, builder(columns, read_sql(path)))


def focus_sql(source: SourceFile, *, source_id: str) -> str:
    """FOCUS 1.2 rows of a source file."""
    return aws.focus_sql(
        source.source_sql, source_id=source_id, source_format=source.format, source_file=str(source.path)
    )


def source_totals_sql(source: SourceFile) -> str:
    """The source's own cost column summed per UTC day of usage start and currency: what the
    FOCUS rows' BilledCost must add up to."""
    return (
        f"SELECT CAST(line_item_usage_start_date AS DATE) AS day, line_item_currency_code AS currency, "
        f"sum(CAST({aws.SOURCE_COST_COLUMN} AS {DECIMAL})) AS cost, count(*) AS line_items "
        f"FROM ({source.source_sql}) GROUP BY ALL"
    )
