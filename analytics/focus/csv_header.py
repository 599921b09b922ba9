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
side only. That holds for a few ragged rows only: more refuse the file, as does any row that
cannot be decoded (money may be in its bytes). See docs/focus-mapping.md.
"""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analytics.focus.errors import NormalisationError, Notice
from analytics.focus.formats.base import literal

#: how many data records decide the field count of the data
SAMPLE_RECORDS = 1000
#: at most this many bytes are read for the header and the sample
HEAD_BYTES = 8 * 2**20
#: delimiters a billing export is written with (AWS, Azure, Google, OCI write commas)
DELIMITERS = (",", ";", "\t", "|")
NULL_STRINGS = "['', 'null', 'NULL']"
_MAX_LINES_LISTED = 20
#: ragged rows are left out with a warning while they are at most this many ...
RAGGED_FEW = 3
#: ... or at most this share of the file's records (a percentage); more refuses the file
RAGGED_PERCENT = 1
#: reject-table error types of a row whose field count or quoting is wrong (a ragged row);
#: any other (a byte sequence that is not UTF-8, a line over DuckDB's maximum) refuses the file
_RAGGED_KINDS = frozenset({"MISSING COLUMNS", "TOO MANY COLUMNS", "UNQUOTED VALUE"})
_NOT_UTF8 = re.compile("[\udc80-\udcff]")
_NOT_UTF8_ADVICE = "what is written there cannot be read, and money may be in it; export the file again as UTF-8"


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


def _head_bytes(path: Path, con: duckdb.DuckDBPyConnection) -> bytes:
    """The first lines of the file (enough for the header and the sample), at most
    ``HEAD_BYTES``: a line cut by that cap is dropped, and a first line longer than it refuses
    the file (one multi-gigabyte line must not be read into memory)."""
    lines: list[bytes] = []
    size = 0
    if path.name.lower().endswith(".zst"):
        # no zstd in the standard library: DuckDB decompresses, one line per row
        result = con.execute(
            f"SELECT line FROM read_csv({literal(str(path))}, auto_detect = false, header = false, "
            "delim = '\x01', quote = '', escape = '', columns = {'line': 'VARCHAR'}, compression = 'zstd') "
            f"LIMIT {SAMPLE_RECORDS + 1}"
        )
        while size <= HEAD_BYTES and (row := result.fetchone()) is not None:
            lines.append((row[0] or "").encode() + b"\n")
            size += len(lines[-1])
    else:
        opener = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as handle:
            while size <= HEAD_BYTES and len(lines) <= SAMPLE_RECORDS:
                line = handle.readline(HEAD_BYTES + 1 - size)
                if not line:
                    break
                lines.append(line)
                size += len(line)
    if size > HEAD_BYTES:
        lines.pop()  # cut by the cap
        if not lines:
            raise NormalisationError(
                str(path), None, f"its first line is longer than {HEAD_BYTES // 2**20} MiB: it is not a CSV header"
            )
    return b"".join(lines)


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
    if csv.field_size_limit() < HEAD_BYTES:
        csv.field_size_limit(HEAD_BYTES)  # a value may be as long as the head read (Azure tags can be long)
    # bytes that are not UTF-8 become lone surrogates, so the header can be checked for them
    text = _head_bytes(path, con).decode("utf-8-sig", errors="surrogateescape")
    first_line = text.split("\n", 1)[0]
    delimiter = _delimiter(first_line)
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"'))
    header = [_clean(n) for n in records[0]] if records else []
    if any(_NOT_UTF8.search(n) for n in header):
        raise NormalisationError(str(path), None, f"its header (line 1) is not valid UTF-8: {_NOT_UTF8_ADVICE}")
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


def _lines(lines: list[int]) -> str:
    listed = ", ".join(str(line) for line in lines[:_MAX_LINES_LISTED])
    more = f" and {len(lines) - _MAX_LINES_LISTED} more" if len(lines) > _MAX_LINES_LISTED else ""
    return f"line(s) {listed}{more}"


def ragged_rows(con: duckdb.DuckDBPyConnection, source: CsvLayout) -> Notice | None:
    """One scan of the file, decoding every value, keeping the lines DuckDB cannot read with
    ``source``'s names. Ragged rows (another field count) are reported by line number while
    they are few (see ``RAGGED_FEW`` and ``RAGGED_PERCENT``); more of them, or any line that
    cannot be decoded, refuses the file with a ``NormalisationError``."""
    n = next(_scans)
    table, scans = f"wedcloud_rejects_{n}", f"wedcloud_reject_scans_{n}"
    try:
        # count(COLUMNS(*)) makes DuckDB decode every value: a plain count(*) skips decoding,
        # so a row that is not UTF-8 would be neither counted nor rejected here
        read = con.execute(f"SELECT count(*), count(COLUMNS(*)) FROM {source.read_sql(rejects=(table, scans))}")
        rows_read = int(read.fetchall()[0][0])
        kinds = ", ".join(literal(k) for k in sorted(_RAGGED_KINDS))
        found = con.execute(
            f"SELECT line, string_agg(DISTINCT error_type::VARCHAR, ', ' ORDER BY error_type::VARCHAR), "
            f"bool_or(error_type::VARCHAR NOT IN ({kinds})) FROM {table} GROUP BY line ORDER BY line"
        ).fetchall()
    finally:
        con.execute(f"DROP TABLE IF EXISTS {table}")
        con.execute(f"DROP TABLE IF EXISTS {scans}")
    if not found:
        return None
    file = str(source.path)
    unreadable = [r for r in found if r[2]]
    if unreadable:
        what = sorted(
            {str(k).lower() for r in unreadable for k in str(r[1]).split(", ")} - {k.lower() for k in _RAGGED_KINDS}
        )
        raise NormalisationError(
            file,
            None,
            f"{len(unreadable)} row(s) cannot be read ({', '.join(what)}): {_lines([int(r[0]) for r in unreadable])}; "
            + (
                _NOT_UTF8_ADVICE
                if "invalid encoding" in what
                else "their values cannot be read, and money may be in them"
            ),
        )
    width = len(source.names)
    lines = [int(r[0]) for r in found]
    records = rows_read + len(lines)
    kinds_found = ", ".join(sorted({str(k).lower() for r in found for k in str(r[1]).split(", ")}))
    counted = f"{len(lines)} row(s) do not have {width} fields ({kinds_found}): {_lines(lines)}"
    few = len(lines) <= RAGGED_FEW or len(lines) * 100 <= RAGGED_PERCENT * records
    if not few or len(lines) >= rows_read:
        raise NormalisationError(
            file,
            None,
            f"{counted}; that is {len(lines)} of its {records} rows. More than {RAGGED_FEW} ragged rows that are "
            f"also more than {RAGGED_PERCENT}% of the rows, or as many ragged rows as rows read, mean the field count "
            "taken from its first rows does not fit the file: it is refused rather than that money left out; "
            "check these lines in the source",
        )
    return Notice(
        file,
        "ragged-rows",
        f"{counted}; they are left out of the output and of the file's own totals, since their values cannot be "
        "matched to the columns: check these lines in the source",
        len(lines),
    )
