"""Detect a billing file's format from its header and produce FOCUS 1.2 rows from it.

Everything runs inside DuckDB: a format turns the file into SQL, so a ten-million-row export
is converted without passing through Python. Before any SQL is trusted the file is checked:
its format is recognised (or forced), the columns the format needs are there, every billing
currency is an ISO 4217 code, and its units are known.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import duckdb

from analytics.focus import csv_header
from analytics.focus.currencies import is_iso_4217
from analytics.focus.errors import NormalisationError, Notice
from analytics.focus.formats import FORMATS, by_name
from analytics.focus.formats.base import Context, Format, SourceInfo, UnitMap, literal, money_sql, quote
from analytics.focus.units import map_unit

_CSV = (".csv", ".csv.gz", ".csv.zst")


def read_sql(path: Path) -> str:
    """A DuckDB table expression reading a Parquet or JSON lines file as it is. (A CSV's
    relation comes from ``csv_header.layout``: ``inspect`` reads its header first.)"""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return f"read_parquet({literal(str(path))})"
    if name.endswith((".jsonl", ".ndjson", ".json", ".jsonl.gz", ".json.gz")):
        return f"read_json({literal(str(path))}, format = 'newline_delimited', sample_size = -1)"
    raise NormalisationError(str(path), None, "unsupported file type; expected .parquet, .csv(.gz) or .jsonl")


def inspect(con: duckdb.DuckDBPyConnection, path: Path, notices: list[Notice] | None = None) -> SourceInfo:
    """The file's columns and the relation reading it; for a CSV, what its header needed and
    its ragged rows are appended to ``notices``. A file that cannot be read (truncated or
    corrupt, rows that are not UTF-8, too many ragged rows) is refused naming it."""
    try:
        if path.name.lower().endswith(_CSV):
            layout, found = csv_header.layout(con, path)
            ragged = csv_header.ragged_rows(con, layout)
            if notices is not None:
                notices += found + ([ragged] if ragged else [])
            relation = layout.read_sql()
        else:
            relation = read_sql(path)
        rows = con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
    except (duckdb.Error, UnicodeError, OSError, EOFError, zlib.error, csv.Error) as exc:
        # EOFError: a truncated .gz; zlib.error: a corrupt one; csv.Error: a header it cannot parse
        raise NormalisationError(str(path), None, f"cannot be read: {exc}") from None
    return SourceInfo(path, relation, tuple(r[0] for r in rows), {r[0]: str(r[1]) for r in rows})


def missing_columns(info: SourceInfo, fmt: Format) -> list[str]:
    """The required columns of ``fmt`` the file lacks, each under its first known name."""
    return [r.names[0] for r in fmt.requirements if not info.has(*r.names)]


def _describe_missing(info: SourceInfo, missing: list[str]) -> str:
    """The missing names, each with the header names that contain it (two names run
    together, a name with a stray character) so the reader sees what to fix."""
    parts = []
    for name in missing:
        hidden = [c for c in info.columns if name.lower() in c.lower()]
        parts.append(f"{name} (the header has {', '.join(hidden)})" if hidden else name)
    return ", ".join(parts)


def detect_format(info: SourceInfo) -> Format:
    """The first format that recognises the file and finds every column it requires (a
    file is not refused for columns a format does not need); failing that, the first that
    recognises it, which ``open_source`` refuses naming the required columns it lacks."""
    recognised = [f for f in FORMATS if f.matches(info)]
    for candidate in recognised:
        if not missing_columns(info, candidate):
            return candidate
    if recognised:
        return recognised[0]  # refused by ``open_source``, naming the columns it lacks
    closest = min(FORMATS, key=lambda f: len(missing_columns(info, f)) / max(len(f.requirements), 1))
    raise NormalisationError(
        str(info.path),
        None,
        f"unrecognised billing layout (first columns: {', '.join(info.columns[:6])}); the closest is "
        f"{closest.name}, which lacks the required column(s) "
        f"{_describe_missing(info, missing_columns(info, closest))}; "
        f"pass the format, one of: {', '.join(f.name for f in FORMATS)}",
    )


@dataclass(frozen=True)
class SourceFile:
    """A checked billing file: its format and the SQL reading it in the format's canonical shape."""

    path: Path
    format: Format
    canonical_sql: str
    units: UnitMap
    #: what the checks found that does not refuse the file; later steps append theirs
    notices: list[Notice] = field(default_factory=list)

    @property
    def format_name(self) -> str:
        return self.format.name


def open_source(con: duckdb.DuckDBPyConnection, path: Path, fmt: str | None = None) -> SourceFile:
    notices: list[Notice] = []
    info = inspect(con, path, notices)
    if fmt is not None:
        try:
            chosen = by_name(fmt)
        except KeyError:
            names = ", ".join(f.name for f in FORMATS)
            raise NormalisationError(str(path), None, f"unknown format {fmt!r}; known formats: {names}") from None
    else:
        chosen = detect_format(info)
    missing = missing_columns(info, chosen)
    if missing:
        raise NormalisationError(
            str(path), missing[0], f"required column is missing for {chosen.name}: {_describe_missing(info, missing)}"
        )
    _check_costs_parse(con, info, chosen)
    own_check = getattr(chosen, "check", None)  # a format's own refusals, e.g. OCI's usage times
    if own_check is not None:
        own_check(con, info)
    canonical = chosen.canonical_sql(info)
    _check_currencies(con, info, chosen, canonical)
    refine = getattr(chosen, "refine", None)
    if fmt is None and refine is not None:
        chosen = refine(con, canonical)
    return SourceFile(path, chosen, canonical, _units(con, chosen, canonical, str(path), notices), notices)


_NUMBER_TYPES = ("DECIMAL", "DOUBLE", "FLOAT", "REAL", "BIGINT", "INTEGER", "SMALLINT", "TINYINT", "HUGEINT", "UBIGINT")


def _check_costs_parse(con: duckdb.DuckDBPyConnection, info: SourceInfo, fmt: Format) -> None:
    """Every non-empty value of the cost column must be a number: a cost the converter cannot
    read would silently drop money from the totals."""
    column = info.find(*fmt.cost_sources)
    if column is None:
        return
    ref = quote(column)
    if info.type_of(column).upper().startswith(_NUMBER_TYPES):
        # typed by the file (Parquet, JSON): the only values that are not amounts are NaN,
        # the infinities and magnitudes beyond what a MONEY column holds
        number = f"CAST({ref} AS DOUBLE)"
        unreadable = f"(NOT isfinite({number}) OR abs({number}) >= 1e20)"
    else:
        text = f"CAST({ref} AS VARCHAR)"
        unreadable = f"trim({text}) NOT IN ('', 'null', 'NULL') AND {money_sql(ref)} IS NULL"
    rows = con.execute(
        f"SELECT count(*), any_value(CAST({ref} AS VARCHAR)) FROM {info.relation} "
        f"WHERE {ref} IS NOT NULL AND {unreadable}"
    ).fetchall()
    count, example = rows[0]
    if count:
        raise NormalisationError(str(info.path), column, f"{count} value(s) are not numbers, e.g. {example!r}")


def _check_currencies(con: duckdb.DuckDBPyConnection, info: SourceInfo, fmt: Format, canonical: str) -> None:
    column = fmt.currency_column
    try:
        found = con.execute(f"SELECT DISTINCT {column} FROM ({canonical})").fetchall()
    except duckdb.Error as exc:
        raise NormalisationError(str(info.path), None, f"cannot be read as {fmt.name}: {exc}") from None
    for (code,) in found:
        if code is None or not is_iso_4217(str(code).strip()):
            problem = "empty billing currency" if code is None else f"{code!r} is not an ISO 4217 currency code"
            raise NormalisationError(str(info.path), _source_name(info, fmt, column), problem)


def _source_name(info: SourceInfo, fmt: Format, canonical: str) -> str:
    for requirement in fmt.requirements:
        if requirement.canonical == canonical:
            return info.find(*requirement.names) or requirement.names[0]
    return canonical


def _units(con: duckdb.DuckDBPyConnection, fmt: Format, canonical: str, file: str, notices: list[Notice]) -> UnitMap:
    """The file's units read as FOCUS; the units that fit no UnitFormat shape are kept as
    written and named, with their row counts, in one ``unit-unmapped`` notice."""
    counts: dict[str, int] = {}
    for column in fmt.unit_columns:
        for unit, rows in con.execute(f"SELECT {column}, count(*) FROM ({canonical}) GROUP BY ALL").fetchall():
            if unit:
                counts[unit] = counts.get(unit, 0) + rows
    mapped = {unit: map_unit(unit) for unit in counts}
    unmapped = sorted(unit for unit, reading in mapped.items() if reading is not None and not reading.mapped)
    if unmapped:
        named = ", ".join(f"{unit!r} ({counts[unit]} rows)" for unit in unmapped[:10])
        more = f" and {len(unmapped) - 10} more" if len(unmapped) > 10 else ""
        notices.append(
            Notice(
                file,
                "unit-unmapped",
                f"{len(unmapped)} unit(s) fit no FOCUS UnitFormat shape and are kept as written: {named}{more}",
                sum(counts[unit] for unit in unmapped),
            )
        )
    return UnitMap({unit: (r.unit, r.block) if r else (None, Decimal(1)) for unit, r in mapped.items()})


def insert_focus(
    con: duckdb.DuckDBPyConnection, source: SourceFile, *, source_id: str, month: object | None = None
) -> int:
    """Insert ``source``'s FOCUS rows into ``focus_costs`` (with ``x_BillingMonth`` when a month
    is given); the rows inserted. A value the mapping cannot convert refuses the file, naming it,
    instead of surfacing as a database error."""
    month_sql = ", $1::DATE AS x_BillingMonth" if month is not None else ""
    try:
        rows = con.execute(
            f"INSERT INTO focus_costs BY NAME SELECT *{month_sql} FROM ({focus_sql(source, source_id=source_id)})",
            [month] if month is not None else [],
        ).fetchall()
    except duckdb.Error as exc:
        problem = f"cannot be converted as {source.format_name}: {exc}"
        raise NormalisationError(str(source.path), None, problem) from None
    return int(rows[0][0])


def focus_sql(source: SourceFile, *, source_id: str) -> str:
    """FOCUS 1.2 rows of a source file."""
    context = Context(
        source_id=source_id, source_format=source.format.name, source_file=str(source.path), units=source.units
    )
    return source.format.focus_sql(source.canonical_sql, context)


def source_totals_sql(source: SourceFile) -> str:
    """The file's own cost column summed per UTC day and currency (columns day, currency,
    cost, line_items): what the FOCUS rows' ``source.format.reconciles_with`` must add up to."""
    return source.format.totals_sql(source.canonical_sql)
