"""Declarative base and column conventions shared by every table.

Ids are 32-char hex strings (uuid4) so they are portable between SQLite and PostgreSQL and safe
to show in URLs; their random bits come from the OS's CSPRNG, drawn in bulk (`new_id`). JSON
columns use JSONB on PostgreSQL and JSON (text) on SQLite. Timestamps are timezone-aware UTC.
Constraint names follow one convention so Alembic can diff and drop them on both databases.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, MetaData, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["Base", "JSONType", "TimestampMixin", "UTCDateTime", "id_column", "new_id", "utcnow"]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

JSONType = JSON().with_variant(JSONB(), "postgresql")


class _RandomIds:
    """uuid4s as hex, from ``os.urandom`` read ``batch`` ids at a time.

    ``uuid.uuid4()`` reads the OS's CSPRNG once per id (a system call; ~6% of the event
    loop's samples under chat load, many ids per turn). The bytes here are the same CSPRNG's,
    just read ahead, so ids stay as unguessable and collision-free as uuid4's (122 random
    bits). Thread-safe (``list.pop`` is atomic); a forked child drops its parent's unread ids
    (both would hand them out)."""

    def __init__(self, batch: int = 256) -> None:
        self.batch = batch
        # uuid4's fixed bits (version 4, RFC 4122 variant) for every id of a batch at once,
        # the batch read as one big integer.
        keep = (1 << 128) - 1 & ~(0xF000 << 64) & ~(0xC000 << 48)
        fixed = (0x4000 << 64) | (0x8000 << 48)
        self._keep = sum(keep << (128 * i) for i in range(batch))
        self._fixed = sum(fixed << (128 * i) for i in range(batch))
        self._lock = threading.Lock()
        self._ids: list[str] = []
        os.register_at_fork(after_in_child=self._ids.clear)

    def _refill(self) -> list[str]:
        bits = int.from_bytes(os.urandom(16 * self.batch)) & self._keep | self._fixed
        text = f"{bits:0{32 * self.batch}x}"
        return [text[at : at + 32] for at in range(0, len(text), 32)]

    def __call__(self) -> str:
        while True:
            try:
                return self._ids.pop()  # atomic: no two callers get one id
            except IndexError:
                with self._lock:  # one refill at a time
                    if not self._ids:
                        self._ids.extend(self._refill())


new_id = _RandomIds()
"""A new primary key: a random uuid4 as 32 hex digits."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases (SQLite drops tzinfo on read)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime: store timezone-aware UTC timestamps")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
        datetime: UTCDateTime,
    }


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


def id_column() -> Mapped[str]:
    """Primary key column: a uuid4 hex string."""
    return mapped_column(String(32), primary_key=True, default=new_id)
