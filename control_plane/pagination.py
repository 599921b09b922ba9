"""Cursor pagination: stable under inserts, opaque to callers."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_

from control_plane.services.errors import InvalidRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MONEY_LIMIT = Decimal(10) ** 12  # the state store's money is NUMERIC(18, 6)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; absent on the last page."
    )


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise InvalidRequest("the cursor is not one this API issued; start again without `cursor`")
    return values


def seek(
    query: Select[Any],
    key: Any,  # a column or an SQL expression
    id_column: Any,
    *,
    limit: int,
    cursor: str | None = None,
    descending: bool = False,
    decode: Callable[[Any], Any] = lambda value: value,
) -> Select[Any]:
    """``query`` ordered by (``key``, id) and cut to one page plus one row, starting after the
    row ``cursor`` names (a cursor ``page_of`` made; ``decode`` turns its key back into a value)."""
    order = (key.desc(), id_column.desc()) if descending else (key.asc(), id_column.asc())
    query = query.order_by(*order).limit(limit + 1)
    if cursor:
        raw_key, raw_id = decode_cursor(cursor, 2)
        try:
            value, last_id = _bindable(decode(raw_key)), uuid.UUID(raw_id)
        except (TypeError, ValueError, ArithmeticError):
            raise InvalidRequest("the cursor is not one this API issued; start again without `cursor`") from None
        if descending:
            query = query.where(or_(key < value, and_(key == value, id_column < last_id)))
        else:
            query = query.where(or_(key > value, and_(key == value, id_column > last_id)))
    return query


def _bindable(value: Any) -> Any:
    """``value`` if the store can compare a column with it: a cursor is the caller's text, so a
    naive or out-of-range time, or a decimal that is not a finite number of money's size, is
    refused (ValueError) rather than failing in the database driver."""
    if isinstance(value, datetime):
        value.astimezone(UTC)  # OverflowError near year 1 or 9999
        if value.tzinfo is None:
            raise ValueError("a cursor's time has its zone")
    if isinstance(value, Decimal) and not (value.is_finite() and abs(value) < MONEY_LIMIT):
        raise ValueError("a cursor's amount is a finite number of money's size")
    return value


def page_of(rows: list[T], limit: int, key_of: Callable[[T], Any]) -> tuple[list[T], str | None]:
    """The page among the rows ``seek`` fetched, and the cursor of the next one (None: no more)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(key_of(last), str(last.id))  # type: ignore[attr-defined]
