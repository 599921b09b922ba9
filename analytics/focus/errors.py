"""Why a billing file was refused."""

from __future__ import annotations


class NormalisationError(ValueError):
    """A file the normaliser cannot map correctly; nothing of it is written."""

    def __init__(self, file: str, column: str | None, problem: str) -> None:
        where = f"column {column!r} of {file}" if column else file
        super().__init__(f"{where}: {problem}")
        self.file = file
        self.column = column
        self.problem = problem
