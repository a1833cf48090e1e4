"""Accounts: the owner every tenant resource (knowledge bases, bots, keys) hangs from.

Kept minimal on purpose; the server's own revisions add columns (and `api_keys` lives in its
own module) without touching this file's first migration.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from snapagent.db.base import Base, UTCDateTime, id_column, utcnow

__all__ = ["User"]


class User(Base):
    """A person (or the local CLI owner) that owns resources.

    >>> User(email="ada@example.com")  # doctest: +ELLIPSIS
    User(...)
    """

    __tablename__ = "users"

    id: Mapped[str] = id_column()
    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    # Nullable: the local CLI owner and externally authenticated users have no password.
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    # Access tokens carry the version they were issued at; raising it (a password change, "log
    # out everywhere") revokes every earlier token. Checked on the row authentication reads.
    token_version: Mapped[int] = mapped_column(
        Integer, nullable=False, default=0, server_default="0"
    )

    def __repr__(self) -> str:
        return f"User(id={self.id!r}, email={self.email!r})"
