"""Load a billing source's month into ``focus_costs``: replace it whole, or not at all.

Two ways, with the same rows:
- ``normalise_partition`` (what the pipeline runs) writes the month as one Parquet file of the
  lake (``analytics.lake``) and replaces the partition's file in one step. It opens no
  warehouse, so several workers can normalise different partitions at once.
- ``replace_month`` loads into a ``focus_costs`` table of a DuckDB database: the month's
  previous rows for the source are deleted and the new ones inserted in one transaction.

Either way every file is opened and checked (format, required columns, currencies, numbers)
before anything is written, a reader sees the old month or the new one, never a mix, and a
re-run never duplicates a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from analytics.focus import source_rules
from analytics.focus.errors import NormalisationError, Notice
from analytics.focus.formats.base import literal
from analytics.focus.normalise import SourceFile, focus_sql, insert_focus, open_source
from analytics.focus.reconcile import Reconciliation, reconcile
from analytics.lake import PART, Lake, typed_select


@dataclass(frozen=True)
class LoadedFile:
    path: Path
    format: str
    metric: str  # the FOCUS metric that must equal the file's own cost column
    rows: int
    notices: tuple[Notice, ...] = ()


@dataclass(frozen=True)
class LoadedMonth:
    source_id: str
    month: date
    files: list[LoadedFile] = field(default_factory=list)
    billed: dict[str, Decimal] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)


def replace_month(
    con: duckdb.DuckDBPyConnection,
    *,
    source_id: str,
    month: date,
    files: list[tuple[Path, str | None]],
) -> LoadedMonth:
    """Replace ``source_id``'s rows for ``month`` with the normalised ``files``."""
    sources = [open_source(con, path, fmt) for path, fmt in files]
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM focus_costs WHERE x_SourceId = $1 AND x_BillingMonth = $2", [source_id, month])
        loaded = []
        for source in sources:
            count = insert_focus(con, source, source_id=source_id, month=month)
            source.notices.extend(source_rules.check(con, source, x_SourceId=source_id, x_BillingMonth=month))
            loaded.append(
                LoadedFile(
                    source.path, source.format_name, source.format.reconciles_with, int(count), tuple(source.notices)
                )
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    billed = dict(
        con.execute(
            "SELECT BillingCurrency, sum(BilledCost) FROM focus_costs WHERE x_SourceId = $1 AND x_BillingMonth = $2 "
            "GROUP BY ALL ORDER BY 1",
            [source_id, month],
        ).fetchall()
    )
    return LoadedMonth(source_id, month, loaded, billed)


def normalise_partition(
    lake: Lake, *, source_id: str, month: date, files: list[tuple[Path, str | None]]
) -> LoadedMonth:
    """Replace the lake's partition (``source_id``, ``month``) with the normalised ``files``.

    Runs in a DuckDB of its own (in memory, spilling under the partition's staging folder):
    every file is checked, converted and written into one staged Parquet file, the source
    rules run on it (a file they refuse leaves the partition as it was), then the staged file
    replaces the partition's (``Lake.publish``)."""
    lake.ensure()
    with lake.staging() as folder, duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"SET temp_directory = {literal(str(folder / 'spill'))}")
        sources = [open_source(con, path, fmt) for path, fmt in files]
        staged = folder / PART
        _write(con, staged, [_typed_focus(con, source, source_id, month) for source in sources], sources)
        con.execute(f"CREATE VIEW focus_costs AS SELECT * FROM read_parquet({literal(str(staged))})")
        counts = dict(con.execute("SELECT x_SourceFile, count(*) FROM focus_costs GROUP BY ALL").fetchall())
        loaded = []
        for source in sources:
            source.notices.extend(source_rules.check(con, source, x_SourceId=source_id, x_BillingMonth=month))
            loaded.append(
                LoadedFile(
                    source.path,
                    source.format_name,
                    source.format.reconciles_with,
                    int(counts.get(str(source.path), 0)),
                    tuple(source.notices),
                )
            )
        billed = dict(
            con.execute("SELECT BillingCurrency, sum(BilledCost) FROM focus_costs GROUP BY ALL ORDER BY 1").fetchall()
        )
        lake.publish(staged, source_id, month)
    return LoadedMonth(source_id, month, loaded, billed)


def _typed_focus(con: duckdb.DuckDBPyConnection, source: SourceFile, source_id: str, month: date) -> str:
    """``source``'s FOCUS rows with every ``focus_costs`` column typed and in place, as
    ``insert_focus`` would insert them."""
    focus = focus_sql(source, source_id=source_id)
    rows = f"SELECT *, DATE {literal(month.isoformat())} AS x_BillingMonth FROM ({focus})"
    try:
        present = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE {rows}").fetchall()}
    except duckdb.Error as exc:
        problem = f"cannot be converted as {source.format_name}: {exc}"
        raise NormalisationError(str(source.path), None, problem) from None
    return f"SELECT {typed_select(present)} FROM ({rows})"


def _write(con: duckdb.DuckDBPyConnection, staged: Path, selects: list[str], sources: list[SourceFile]) -> None:
    """Write the files' rows into ``staged`` in one pass; a value that cannot be converted
    refuses its file, naming it (found by converting the files one by one, only then)."""
    union = " UNION ALL ".join(selects) or f"SELECT {typed_select({})} WHERE false"
    try:
        con.execute(f"COPY ({union}) TO {literal(str(staged))} (FORMAT parquet)")
    except duckdb.Error as exc:
        for source, select in zip(sources, selects, strict=True):
            try:
                con.execute(f"COPY ({select}) TO {literal(str(staged.with_name('probe.parquet')))} (FORMAT parquet)")
            except duckdb.Error as culprit:
                problem = f"cannot be converted as {source.format_name}: {culprit}"
                raise NormalisationError(str(source.path), None, problem) from None
        raise NormalisationError(", ".join(str(s.path) for s in sources), None, f"cannot be written: {exc}") from None


def reconcile_file(
    con: duckdb.DuckDBPyConnection, source: SourceFile, *, source_id: str, month: date
) -> Reconciliation:
    """The source-month's rows of one file against the file's own figures (see
    ``analytics.focus.reconcile``): exact per currency, differences with a known cause explained."""
    return reconcile(
        con,
        source,
        focus_where="x_SourceId = $1 AND x_BillingMonth = $2 AND x_SourceFile = $3",
        params=[source_id, month, str(source.path)],
    )
