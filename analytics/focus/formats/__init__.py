"""One module per billing format; ``FORMATS`` is the detection order (most specific first)."""

from __future__ import annotations

from analytics.focus.formats.aws_cur import AwsCur2, AwsCurLegacy
from analytics.focus.formats.base import Format

FORMATS: tuple[Format, ...] = (AwsCur2(), AwsCurLegacy())


def by_name(name: str) -> Format:
    for candidate in FORMATS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)
