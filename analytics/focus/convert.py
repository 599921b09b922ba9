"""Convert billing files to one FOCUS 1.2 file, without Dagster (``wedcloud focus convert``).

Every input is read and normalised before anything is written; the output appears under its
final name only when it is complete, so a refused input leaves nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analytics.focus.normalise import focus_sql, open_source
from analytics.focus.schema import create_table_sql


@dataclass(frozen=True)
class Converted:
    path: Path
    rows: int
    formats: dict[str, str]  # input file -> detected format


# JSON columns as plain text: readers without DuckDB's JSON type (the FOCUS validator's
# Polars among them) cannot read Parquet's JSON extension type.
EXPORT_SELECT = (
    "SELECT * REPLACE (Tags::VARCHAR AS Tags, SkuPriceDetails::VARCHAR AS SkuPriceDetails, "
    "x_Extras::VARCHAR AS x_Extras) FROM focus_costs"
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def convert(inputs: list[Path], out: Path, *, fmt: str | None = None, source_id: str = "convert") -> Converted:
    suffix = "".join(out.suffixes[-1:]).lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"--out must end with .parquet or .csv, not {out.name!r}")
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(create_table_sql())
        sources = [open_source(con, path, fmt) for path in inputs]
        for source in sources:
            con.execute(f"INSERT INTO focus_costs BY NAME SELECT * FROM ({focus_sql(source, source_id=source_id)})")
        rows = con.execute("SELECT count(*) FROM focus_costs").fetchall()[0][0]
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        if suffix == ".parquet":
            con.execute(f"COPY ({EXPORT_SELECT}) TO {_literal(str(partial))} (FORMAT parquet, COMPRESSION zstd)")
        else:
            con.execute(
                f"COPY ({EXPORT_SELECT}) TO {_literal(str(partial))} "
                "(FORMAT csv, HEADER, TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%SZ')"
            )
        os.replace(partial, out)
    finally:
        con.close()
    return Converted(out, rows, {str(s.path): s.format_name for s in sources})
