"""Read a billing CSV's header ourselves, so DuckDB's sniffer never guesses it.

A sniffer guesses the dialect, and whether the first line is a header, from a sample. Real
exports defeat it: a header with two names run together, rows spliced by a broken writer, a
``#`` inside a value (taken for a comment character, after which every row is read wrong) or
a value with a comma (taken for a field separator when the quote is guessed away). A guess
that is wrong reads zero rows or shifted values, and nothing says so.

So the first record is parsed here (byte-order mark, gzip and zstd, quoted names, CRLF), the
field count of the data is taken from the first rows, and DuckDB gets every name, the
delimiter and the quote explicitly. Rows with another field count than the data's are
*ragged*: their values cannot be matched to the names, so they are left out of the relation
(``ignore_errors``), found by one scan with DuckDB's reject tables, and reported by line
number; the file's own totals are summed from the same relation, so nothing is counted on one
side only.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analytics.focus.errors import Notice
from analytics.focus.formats.base import literal

#: how many data records decide the field count of the data
SAMPLE_RECORDS = 1000
#: delimiters a billing export is written with (AWS, Azure, Google, OCI write commas)
DELIMITERS = (",", ";", "\t", "|")
NULL_STRINGS = "['', 'null', 'NULL']"
_MAX_LINES_LISTED = 20


@dataclass(frozen=True)
class CsvLayout:
    """What DuckDB is told about a CSV file: its column names and dialect."""

    path: Path
    names: tuple[str, ...]  # one per field of the data, unique, cleaned
    delimiter: str
    header_names: tuple[str, ...]  # the header as written (BOM and padding removed)

    def read_sql(self, *, rejects: tuple[str, str] | None = None) -> str:
        """A DuckDB table expression reading the file with these names, every value text."""
        columns = ", ".join(f"{literal(n)}: 'VARCHAR'" for n in self.names)
        options = [
            literal(str(self.path)),
            "auto_detect = false",
            "header = true",
            f"delim = {literal(self.delimiter)}",
            "quote = '\"'",
            "escape = '\"'",
            "comment = ''",
            f"columns = {{{columns}}}",
            f"nullstr = {NULL_STRINGS}",
            "ignore_errors = true",
        ]
        if rejects is not None:
            options += ["store_rejects = true", f"rejects_table = {literal(rejects[0])}"]
            options.append(f"rejects_scan = {literal(rejects[1])}")
        return f"read_csv({', '.join(options)})"


def _head_text(path: Path, con: duckdb.DuckDBPyConnection) -> str:
    """The first lines of the file as text (enough for the header and the sample)."""
    name = path.name.lower()
    if name.endswith(".zst"):
        # no zstd in the standard library: DuckDB decompresses, one line per row
        rows = con.execute(
            f"SELECT line FROM read_csv({literal(str(path))}, auto_detect = false, header = false, "
            "delim = '\x01', quote = '', escape = '', columns = {'line': 'VARCHAR'}, compression = 'zstd') "
            f"LIMIT {SAMPLE_RECORDS + 1}"
        ).fetchall()
        return "\n".join(r[0] or "" for r in rows) + "\n"
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8-sig", newline="", errors="replace") as handle:
        return "".join(itertools.islice(handle, SAMPLE_RECORDS + 1))


def _delimiter(header_line: str) -> str:
    outside = []
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted:
            outside.append(char)
    counts = {d: "".join(outside).count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _clean(name: str) -> str:
    """A header name without byte-order mark, padding or stray quotes."""
    return name.replace("\ufeff", "").strip().strip('"').strip()


def _unique(names: list[str]) -> list[str]:
    """Names as DuckDB must have them: none empty, none twice (case-insensitively)."""
    seen: set[str] = set()
    result = []
    for position, name in enumerate(names, start=1):
        candidate = name or f"column_{position}"
        suffix = 2
        while candidate.lower() in seen:
            candidate = f"{name or 'column'}_{suffix}"
            suffix += 1
        seen.add(candidate.lower())
        result.append(candidate)
    return result


def layout(con: duckdb.DuckDBPyConnection, path: Path) -> tuple[CsvLayout, list[Notice]]:
    """The file's names and dialect, and notices for what had to be repaired in its header."""
    text = _head_text(path, con)
    first_line = text.split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"'))
    header = [_clean(n) for n in records[0]] if records else []
    data = [r for r in records[1:] if r]
    width = len(header)
    if data:
        counts = Counter(len(r) for r in data)
        width = max(counts, key=lambda w: (counts[w], w))
    written = header
    while len(header) > width and header and not header[-1]:
        header = header[:-1]  # a trailing delimiter in the header names nothing
    notices = []
    if width > len(header):
        extra = [f"column_{i}" for i in range(len(header) + 1, width + 1)]
        notices.append(
            Notice(
                str(path),
                "header-repaired",
                f"the header has {len(header)} names but the rows have {width} fields: "
                f"the last {width - len(header)} field(s) are read as {', '.join(extra)}",
            )
        )
        header = header + [""] * (width - len(header))
    elif width < len(header):
        dropped = header[width:]
        notices.append(
            Notice(
                str(path),
                "header-repaired",
                f"the header has {len(header)} names but the rows have {width} fields: "
                f"{', '.join(dropped)} have no values",
            )
        )
        header = header[:width]
    names = _unique(header)
    duplicated = sorted({n for n in header if n and sum(h.lower() == n.lower() for h in header) > 1})
    if duplicated:
        notices.append(
            Notice(
                str(path),
                "header-repaired",
                f"duplicated column name(s) {', '.join(duplicated)}: the first of each is read under its "
                "name, the others with a _2, _3 ... suffix",
            )
        )
    return CsvLayout(path, tuple(names), delimiter, tuple(written)), notices


_scans = itertools.count(1)


def ragged_rows(con: duckdb.DuckDBPyConnection, source: CsvLayout) -> Notice | None:
    """One scan of the file, keeping the lines DuckDB cannot read with ``source``'s names:
    rows with another field count (and any other unreadable line), by line number."""
    n = next(_scans)
    table, scans = f"wedcloud_rejects_{n}", f"wedcloud_reject_scans_{n}"
    try:
        con.execute(f"SELECT count(*) FROM {source.read_sql(rejects=(table, scans))}").fetchall()
        found = con.execute(
            f"SELECT line, any_value(error_type)::VARCHAR, any_value(csv_line) FROM {table} GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"DROP TABLE IF EXISTS {scans}")
    if not found:
        return None
    width = len(source.names)
    lines = [int(r[0]) for r in found]
    listed = ", ".join(str(line) for line in lines[:_MAX_LINES_LISTED])
    more = f" and {len(lines) - _MAX_LINES_LISTED} more" if len(lines) > _MAX_LINES_LISTED else ""
    kinds = sorted({str(r[1]).lower() for r in found})
    return Notice(
        str(source.path),
        "ragged-rows",
        f"{len(lines)} row(s) do not have {width} fields ({', '.join(kinds)}): line(s) {listed}{more}; "
        "they are left out of the output and of the file's own totals, since their values cannot be "
        "matched to the columns: check these lines in the source",
        len(lines),
    )
