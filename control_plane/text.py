"""Free text the API takes from its callers (a description, a reason), as pydantic types.

PostgreSQL's text cannot hold a NUL byte: one in a request body reached the store as a
``psycopg.DataError`` and a 500. Other control characters are no better: they forge lines in
logs and terminals. Lone UTF-16 surrogates cannot be encoded to store (the API's JSON parser
refuses them already; a model built in Python would not). So free text refuses them at the
door, as a 422 naming the field: :data:`Line` is one line (a tab is allowed), :data:`Text` may
also hold line breaks. Use them with the field's own ``Field(max_length=...)``.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# C0 and C1 controls and DEL, the surrogates, Unicode's line and paragraph separators (lines too)
# and the bidirectional overrides and isolates (they reorder what a reader sees); tab, line feed
# and carriage return are decided per type
_CONTROL = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u202a-\u202e\u2066-\u2069"
_LINE = re.compile(rf"[{_CONTROL}\n\r]")
_TEXT = re.compile(rf"[{_CONTROL}]")


def _refuse(pattern: re.Pattern[str], allowed: str) -> AfterValidator:
    def check(value: str) -> str:
        found = pattern.search(value)
        if found is not None:
            raise ValueError(f"contains the control character U+{ord(found.group()):04X} at position "
                             f"{found.start()}; {allowed}")  # fmt: skip
        return value

    return AfterValidator(check)


Line = Annotated[str, _refuse(_LINE, "only printable characters and tabs are allowed")]
Text = Annotated[str, _refuse(_TEXT, "only printable characters, tabs and line breaks are allowed")]
