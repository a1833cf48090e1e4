"""API keys: long-lived bearer credentials a user creates, names and revokes.

The secret is shown once at creation. We store only its SHA-256 (the key is 256 random bits, so a
slow password hash buys nothing) and a short public ``prefix`` used to find the row in O(1).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from snapagent.db.base import Base, UTCDateTime, id_column, utcnow

__all__ = ["ApiKey"]


class ApiKey(Base):
    """One API key of one user.

    >>> ApiKey(user_id="u1", name="ci", prefix="sa_ab12cd34ef56", key_hash="...").revoked_at is None
    True
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
