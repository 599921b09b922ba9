"""Why a billing file was refused, and what a converted file's reader should know."""

from __future__ import annotations

from dataclasses import dataclass


class NormalisationError(ValueError):
    """A file the normaliser cannot map correctly; nothing of it is written."""

    def __init__(self, file: str, column: str | None, problem: str) -> None:
        where = f"column {column!r} of {file}" if column else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.column = column
        self.problem = problem


@dataclass(frozen=True)
class Notice:
    """Something about a converted file that does not stop it converting but that its reader
    must know: a ragged row, a unit kept as written, a difference with a known cause, a rule the
    provider's own data breaks. ``code`` is short and stable (``ragged-rows``, ``unit-unmapped``,
    ``difference-explained``, ``source-rule``); ``rows`` counts the lines it concerns."""

    file: str
    code: str
    message: str
    rows: int = 0

    def __str__(self) -> str:
        return f"{self.file}: {self.code}: {self.message}"
