"""Shared pieces of the export writers: grouping charges by billing period, stable ids."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from clouds.sandbox.usage import Charge


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def by_billing_period(charges: Iterable[Charge]) -> dict[date, list[Charge]]:
    periods: dict[date, list[Charge]] = defaultdict(list)
    for charge in charges:
        periods[month_of(charge.day)].append(charge)
    for rows in periods.values():
        rows.sort(key=lambda c: (c.day, c.resource.id, c.usage_kind.value, c.size or ""))
    return dict(sorted(periods.items()))


def line_id(*parts: object, length: int = 52) -> str:
    """A stable, opaque line-item id derived from what makes the line unique."""
    digest = hashlib.blake2b("|".join(str(p) for p in parts).encode(), digest_size=32).hexdigest()
    return digest[:length]


def decimal_text(value: object) -> str:
    """A Decimal (or number) as plain text without exponent or trailing zeros."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
