"""Silences, as in Alertmanager: label matchers and a window. An alert whose labels every
matcher of an active silence holds still changes state and is listed, but is not notified
(``notify`` asks :func:`silenced`). Matchers are ``{"name", "op", "value"}`` with ``op`` one of
``=``, ``!=``, ``=~`` and ``!~`` (regular expressions anchored at both ends, as Alertmanager's).
Deleting a silence expires it now; it stays readable.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from re import _constants, _parser  # type: ignore[attr-defined]  # the pattern's tree, to refuse nested repeats
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from control_plane.pagination import page_of, seek
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.store.monitoring_models import Silence

OPERATORS = ("=", "!=", "=~", "!~")
STATES = ("active", "pending", "expired")


REPEATS = {_constants.MAX_REPEAT, _constants.MIN_REPEAT, getattr(_constants, "POSSESSIVE_REPEAT", None)} - {None}
WIDE = 50  # a repeat allowing more than this many is treated as unbounded


def _children(op: Any, argument: Any) -> list[Any]:
    """The sub-patterns of a parsed node: a repeat's body, a group's, each alternative."""
    if op in REPEATS:
        return [argument[2]]
    if op is _constants.SUBPATTERN:
        return [argument[3]]
    if op is _constants.BRANCH:
        return list(argument[1])
    return []


def _repeats(items: Any, *, inside: bool) -> bool:
    """Whether the parsed pattern has an unbounded repeat (``inside``) or an unbounded repeat
    within another one (not ``inside``: the nesting that makes backtracking exponential)."""
    for op, argument in items:
        wide = op in REPEATS and (argument[1] == _constants.MAXREPEAT or argument[1] > WIDE)
        if wide and (inside or any(_repeats(sub, inside=True) for sub in _children(op, argument))):
            return True
        if any(_repeats(sub, inside=inside) for sub in _children(op, argument)):
            return True
    return False


def check_matchers(matchers: list[dict[str, Any]]) -> None:
    """Refuse a pattern that does not compile, and one with a repeat inside a repeat (``(a+)+``):
    Python's regular expressions backtrack, so such a pattern can take exponential time on a
    label value, and silences are matched in every notification round."""
    for index, matcher in enumerate(matchers):
        if matcher["op"] not in ("=~", "!~"):
            continue
        field = f"matchers.{index}.value"
        try:
            re.compile(matcher["value"])
        except re.error as exc:
            raise InvalidRequest(f"{field}: not a regular expression ({exc})",
                                 errors=[{"location": "body", "field": field,
                                          "message": f"not a regular expression ({exc})"}]) from None  # fmt: skip
        if _repeats(_parser.parse(matcher["value"]), inside=False):
            message = "a repeat inside a repeat (such as (a+)+) can backtrack for ever; write it without nesting"
            raise InvalidRequest(
                f"{field}: {message}", errors=[{"location": "body", "field": field, "message": message}]
            )


def matches(matcher: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Alertmanager's matcher: ``=``, ``!=``, ``=~``, ``!~``; a regex must match the whole value;
    a missing label is the empty string; a pattern that does not compile matches nothing (the API
    refuses to store one)."""
    value = str(labels.get(matcher.get("name", ""), ""))
    op, wanted = matcher.get("op", "="), str(matcher.get("value", ""))
    if op == "=":
        return value == wanted
    if op == "!=":
        return value != wanted
    try:
        found = re.fullmatch(wanted, value) is not None
    except re.error:
        return False
    return found if op == "=~" else not found


def state_of(silence: Silence, now: datetime) -> str:
    if silence.ends_at <= now:
        return "expired"
    return "active" if silence.starts_at <= now else "pending"


def silenced(silences: Iterable[Silence], labels: Mapping[str, Any], now: datetime) -> Silence | None:
    """The first active silence every matcher of which holds for ``labels``."""
    for silence in silences:
        if state_of(silence, now) == "active" and all(matches(m, labels) for m in silence.matchers):
            return silence
    return None


def active(session: Session, now: datetime) -> list[Silence]:
    return list(session.scalars(select(Silence).where(Silence.starts_at <= now, Silence.ends_at > now)))


def create(session: Session, fields: dict[str, Any], *, by: str | None, now: datetime) -> Silence:
    check_matchers(fields["matchers"])
    starts = fields.get("starts_at") or now
    if fields["ends_at"] <= starts:
        message = "must be after starts_at (or now)"
        raise InvalidRequest(
            f"ends_at: {message}", errors=[{"location": "body", "field": "ends_at", "message": message}]
        )
    silence = Silence(id=uuid.uuid4(), matchers=fields["matchers"], starts_at=starts, ends_at=fields["ends_at"],
                      comment=fields.get("comment") or "", created_by=by, created_at=now)  # fmt: skip
    session.add(silence)
    session.flush()
    return silence


def get(session: Session, silence_id: uuid.UUID) -> Silence:
    silence = session.get(Silence, silence_id)
    if silence is None:
        raise NotFound(f"no silence has the id {silence_id}")
    return silence


def expire(silence: Silence, now: datetime) -> None:
    """End the silence now (one not started yet ends before it starts)."""
    if silence.ends_at > now:
        silence.ends_at = now
        if silence.starts_at > now:
            silence.starts_at = now


def list_silences(
    session: Session, *, now: datetime, limit: int, cursor: str | None, state: str | None = None
) -> tuple[list[Silence], str | None]:
    query: Select[Any] = select(Silence)
    if state == "active":
        query = query.where(Silence.starts_at <= now, Silence.ends_at > now)
    elif state == "pending":
        query = query.where(Silence.starts_at > now)
    elif state == "expired":
        query = query.where(Silence.ends_at <= now)
    rows = list(session.scalars(seek(query, Silence.created_at, Silence.id, limit=limit, cursor=cursor,
                                     descending=True, decode=datetime.fromisoformat)))  # fmt: skip
    return page_of(rows, limit, lambda s: s.created_at.isoformat())


def view(silence: Silence, now: datetime) -> dict[str, Any]:
    return {"id": silence.id, "matchers": silence.matchers, "starts_at": silence.starts_at,
            "ends_at": silence.ends_at, "comment": silence.comment, "created_by": silence.created_by,
            "created_at": silence.created_at, "state": state_of(silence, now)}  # fmt: skip
