"""Chat sessions and their messages.

A session belongs to one bot; clients name it with ``session_key`` (the ``session_id`` of the
chat API: either their own string such as ``"test_session"`` or one we generate), unique per
bot. Messages are numbered by ``seq`` inside their session; the unique ``(session_id, seq)``
pair keeps the order total even when two requests write to the same session at once.

    chat = ChatSession(bot_id=bot.id, session_key="test_session", title="Hello")
    chat.messages  # ordered by seq (load with selectinload)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from snapagent.db.base import Base, TimestampMixin, UTCDateTime, id_column, utcnow

__all__ = ["ChatMessageRecord", "ChatSession"]


class ChatSession(TimestampMixin, Base):
    """A conversation with one bot (table ``chat_sessions``).

    Message counts and last activity are read from ``chat_messages`` rather than kept here:
    a chat turn then writes no session row after the first message (chat is benchmarked).
    """

    __tablename__ = "chat_sessions"
    # Also the index for "a bot's sessions" (bot_id is its first column).
    __table_args__ = (UniqueConstraint("bot_id", "session_key"),)

    id: Mapped[str] = id_column()
    bot_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("bots.id", ondelete="CASCADE"), nullable=False
    )
    session_key: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # The graph's conversation variables after the last successful turn that wrote one
    # ({name: value}); NULL until then. Read with the history at the start of each turn.
    variables: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)


class ChatMessageRecord(Base):
    """One stored message (table ``chat_messages``); ``role`` is ``user`` or ``assistant``."""

    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("session_id", "seq"),)

    id: Mapped[str] = id_column()
    session_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sources: Mapped[list[Any]] = mapped_column(nullable=False, default=list)
    usage: Mapped[dict[str, Any]] = mapped_column(nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
