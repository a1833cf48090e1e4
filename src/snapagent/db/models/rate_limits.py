"""Rate-limit counters shared by every server process: one row per caller and limit.

A fixed-window counter: ``window_start`` (epoch seconds) and the ``hits`` counted in it. The
limiter (`snapagent.db.rate_limiter`) bumps a row with one upsert per request, so processes on
one database agree on the count without talking to each other.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from snapagent.db.base import Base

__all__ = ["RateLimitCounter"]


class RateLimitCounter(Base):
    """The current window of one caller's limit.

    >>> RateLimitCounter(key="chat:user:ab12", window_start=1_700_000_040, hits=1).hits
    1
    """

    __tablename__ = "rate_limit_counters"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, nullable=False, index=True)
    hits: Mapped[int] = mapped_column(Integer, nullable=False)
