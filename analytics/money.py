"""Money helpers: Decimal only, rounded once, at the edge."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")


def to_cents(amount: Decimal) -> Decimal:
    """Round an exact amount to cents (half up), for display and API responses."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal) -> str:
    """A decimal string with exactly two places, e.g. ``'1234.50'``."""
    return f"{to_cents(amount):f}"
