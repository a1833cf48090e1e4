"""One list shape for every collection of the API: ``{"data": [...], "next_cursor": ...}``.

Every list (bots, knowledge bases, documents, workflow versions, executions, sessions, API
keys, node types) answers a page of at most ``limit`` items and an opaque ``next_cursor`` -
``null`` on the last page; pass it back as ``cursor`` for the next one. Pages are keyset pages
(the cursor holds the sort key of the last item, never an offset), so a page boundary never
skips or repeats an item while items are added or removed between requests.

    keys = (SortKey(Bot.created_at, descending=True), SortKey(Bot.id, descending=True))
    query = paginate(select(Bot).where(Bot.owner_id == owner.id), keys, limit=20, cursor=cursor)
    rows, next_cursor = page_of(list(await session.scalars(query)), limit=20,
                                key=lambda bot: (bot.created_at, bot.id))
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar, TypeVarTuple

from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, or_
from sqlalchemy.sql.elements import ColumnElement

from snapagent.errors import InputValidationError

__all__ = [
    "MAX_PAGE_SIZE",
    "Page",
    "SortKey",
    "check_limit",
    "decode_cursor",
    "encode_cursor",
    "page_of",
    "paginate",
]

MAX_PAGE_SIZE = 100
T = TypeVar("T")
Ts = TypeVarTuple("Ts")
_CURSOR_CHARS = 1000
_INT4_MAX = 2**31 - 1


class Page(BaseModel):
    """The base of every list answer; subclasses add ``data: list[...]``."""

    next_cursor: str | None = Field(
        description="Pass it as `cursor` for the next page; null on the last page."
    )


@dataclass(frozen=True, slots=True)
class SortKey:
    """One column of a list's order. The last key of a list must be unique (an id)."""

    column: ColumnElement[Any] | Any
    descending: bool = False
    kind: type = str
    """How its cursor value is read back: ``str``, ``int`` (a 32-bit column) or ``datetime``."""


def check_limit(limit: int) -> None:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InputValidationError(f"limit must be 1..{MAX_PAGE_SIZE}", field="limit")


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    """An opaque cursor holding a sort key."""
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _bad_cursor() -> InputValidationError:
    return InputValidationError("cursor is not one this API returned", field="cursor")


def _decode_value(value: Any, kind: type) -> Any:
    if kind is datetime:
        if not isinstance(value, str):
            raise _bad_cursor()
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise _bad_cursor()
        return parsed.astimezone(UTC)
    if kind is int:
        # Integer sort keys are INTEGER (int4) columns: PostgreSQL refuses anything wider.
        if not isinstance(value, int) or isinstance(value, bool) or abs(value) > _INT4_MAX:
            raise _bad_cursor()
        return value
    if not isinstance(value, str):
        raise _bad_cursor()
    return value


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> tuple[Any, ...]:
    """The sort key a cursor holds, checked against ``keys``; 422 for anything else."""
    if len(cursor) > _CURSOR_CHARS:
        raise _bad_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        if not isinstance(values, list) or len(values) != len(keys):
            raise _bad_cursor()
        return tuple(_decode_value(v, key.kind) for v, key in zip(values, keys, strict=True))
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError) as exc:
        raise _bad_cursor() from exc


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after ``values`` in the order of ``keys``: (k1 after v1) or (k1 = v1 and k2 after
    v2) or ... - written out, so keys may mix directions on both databases."""
    clauses = []
    for i, key in enumerate(keys):
        column = key.column
        beyond = column < values[i] if key.descending else column > values[i]
        equal = [keys[j].column == values[j] for j in range(i)]
        clauses.append(and_(*equal, beyond) if equal else beyond)
    return or_(*clauses)


def paginate(
    query: Select[*Ts], keys: Sequence[SortKey], *, limit: int, cursor: str | None
) -> Select[*Ts]:
    """``query`` ordered by ``keys``, after ``cursor``, one row more than ``limit`` (so
    `page_of` knows whether another page follows)."""
    check_limit(limit)
    if cursor is not None:
        query = query.where(_after(keys, decode_cursor(cursor, keys)))
    order = [key.column.desc() if key.descending else key.column.asc() for key in keys]
    return query.order_by(*order).limit(limit + 1)


def page_of(
    rows: list[T], *, limit: int, key: Callable[[T], Sequence[Any]]
) -> tuple[list[T], str | None]:
    """The page's rows and the cursor of the next page (None when this is the last)."""
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(key(rows[-1]))
