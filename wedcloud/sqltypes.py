"""SQLAlchemy column types that keep the state store's conventions on every engine."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every engine.

    PostgreSQL stores ``timestamptz``; SQLite has no timezone type and hands back naive
    values, so they are stored as UTC and re-tagged on the way out. Naive datetimes are
    refused on the way in: a time without a zone is a bug, not a default.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if stored.tzinfo is None:
            return stored.replace(tzinfo=UTC)
        return stored.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An exact Decimal amount with six decimal places, never a float.

    PostgreSQL stores NUMERIC(18, 6). SQLite would store NUMERIC as a REAL and keep only 15
    significant digits, so there the value is stored as text and parsed back.
    """

    impl = Numeric(18, 6, asdecimal=True)
    cache_ok = True
    _QUANTUM = Decimal("0.000001")

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(24))
        return dialect.type_descriptor(Numeric(18, 6, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Decimal | str | None:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be Decimal, got {type(value).__name__}")
        quantized = value.quantize(self._QUANTUM)
        return str(quantized) if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(self._QUANTUM)


def utcnow() -> datetime:
    return datetime.now(UTC)
