"""Convert billing files to one FOCUS 1.2 file, and export the lake's line items as FOCUS Parquet.

Every input is read, normalised and reconciled (``analytics.focus.reconcile``: each FOCUS
metric against the source's own figure, per currency, exactly) before anything is written;
the output appears under its final name only when it is complete, so a refused input leaves
nothing behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from analytics.focus import source_rules
from analytics.focus.errors import Notice
from analytics.focus.normalise import insert_focus, open_source
from analytics.focus.reconcile import reconcile
from analytics.focus.schema import create_table_sql
from analytics.lake import Lake

# JSON columns as plain text: readers without DuckDB's JSON type (the FOCUS validator's
# Polars among them) cannot read Parquet's JSON extension type.
JSON_AS_TEXT = "Tags::VARCHAR AS Tags, SkuPriceDetails::VARCHAR AS SkuPriceDetails, x_Extras::VARCHAR AS x_Extras"
EXPORT_SELECT = f"SELECT * REPLACE ({JSON_AS_TEXT}) FROM focus_costs"


@dataclass(frozen=True)
class InputSummary:
    path: Path
    format: str
    rows: int
    totals: dict[str, Decimal]  # per currency, the metric the format reconciles
    metric: str
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class Converted:
    path: Path
    rows: int
    inputs: list[InputSummary] = field(default_factory=list)

    @property
    def formats(self) -> dict[str, str]:
        return {str(i.path): i.format for i in self.inputs}

    @property
    def notices(self) -> list[Notice]:
        return [notice for item in self.inputs for notice in item.notices]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def convert(inputs: list[Path], out: Path, *, fmt: str | None = None, source_id: str = "convert") -> Converted:
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"--out must end with .parquet or .csv, not {out.name!r}")
    con = duckdb.connect()
    summaries = []
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(create_table_sql())
        for path in inputs:
            source = open_source(con, path, fmt)
            rows = insert_focus(con, source, source_id=source_id)
            check = reconcile(con, source, focus_where="x_SourceFile = $1", params=[str(path)])
            refusal = check.error()
            if refusal is not None:
                raise refusal
            source.notices.extend(check.notices)
            source.notices.extend(source_rules.check(con, source))
            metric = source.format.reconciles_with
            found = next((c.focus for c in check.checks if c.metric == metric), {})
            summaries.append(InputSummary(path, source.format_name, rows, found, metric, tuple(source.notices)))
        total_rows = con.execute("SELECT count(*) FROM focus_costs").fetchall()[0][0]
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(f".{out.name}.partial")
        options = (
            "FORMAT parquet, COMPRESSION zstd"
            if suffix == ".parquet"
            else "FORMAT csv, HEADER, TIMESTAMPFORMAT '%Y-%m-%dT%H:%M:%SZ'"
        )
        try:
            con.execute(f"COPY ({EXPORT_SELECT}) TO {_literal(str(partial))} ({options})")
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    finally:
        con.close()
    return Converted(out, total_rows, summaries)


@dataclass(frozen=True)
class Exported:
    folder: Path
    rows: int
    partitions: list[tuple[str, str, int]]  # provider, month, rows


def export_lake(lake: Lake, out_dir: Path, *, provider: str | None = None) -> Exported:
    """Write the lake's FOCUS line items as Parquet, ``provider=<ProviderName>/month=<YYYY-MM>/``
    folders. Reads the lake's files alone: no warehouse, so no wait for a run that writes one."""
    with lake.reader() as con:
        where = "WHERE ProviderName = " + _literal(provider) if provider else ""
        select = (
            f"SELECT * REPLACE ({JSON_AS_TEXT}), ProviderName AS provider, "
            f"strftime(BillingPeriodStart, '%Y-%m') AS month FROM focus_costs {where}"
        )
        partitions = con.execute(
            f"SELECT provider, month, count(*) FROM ({select}) GROUP BY ALL ORDER BY ALL"
        ).fetchall()
        out_dir.mkdir(parents=True, exist_ok=True)
        con.execute(
            f"COPY ({select}) TO {_literal(str(out_dir))} "
            "(FORMAT parquet, COMPRESSION zstd, PARTITION_BY (provider, month), OVERWRITE_OR_IGNORE)"
        )
    return Exported(out_dir, sum(p[2] for p in partitions), [(p[0], p[1], p[2]) for p in partitions])
