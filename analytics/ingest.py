"""Load a billing source's month into ``focus_costs``: replace it whole, or not at all.

Every file is opened and checked (format, required columns, currencies, numbers) before the
transaction starts; the month's previous rows for the source are deleted and the new ones
inserted in one transaction, so a reader sees the old month or the new one, never a mix, and a
re-run never duplicates a row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from analytics.focus import source_rules
from analytics.focus.errors import Notice
from analytics.focus.normalise import SourceFile, insert_focus, open_source
from analytics.focus.reconcile import Reconciliation, reconcile


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
