"""Debug sessions: the conversations of debug runs, kept apart from users' chat sessions.

A debug run of a workflow version (``POST .../workflow-versions/{id}/run``) continues a debug
session named by its ``session_id``: its recent messages are the run's history and its
``variables`` the run's conversation variables. Nothing here is ever read by a chat, listed
with a bot's sessions, or counted anywhere, and a debug session never reads or writes a row
of ``chat_sessions`` - even when a client reuses a real session's id.

``messages`` holds the latest turns only (``[{"role", "content"}]``, capped by the chat's
history setting); ``revision`` guards every write (compare-and-set), so two replicas appending
to one debug session never lose a message.

    DebugSession(bot_id=bot.id, session_key="try-1", messages=[], revision=1)
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from snapagent.db.base import Base, TimestampMixin, id_column

__all__ = ["DebugSession"]


class DebugSession(TimestampMixin, Base):
    """One debug conversation with a bot (table ``debug_sessions``)."""

    __tablename__ = "debug_sessions"
    __table_args__ = (UniqueConstraint("bot_id", "session_key"),)

    id: Mapped[str] = id_column()
    bot_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("bots.id", ondelete="CASCADE"), nullable=False
    )
    session_key: Mapped[str] = mapped_column(String(64), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    messages: Mapped[list[Any]] = mapped_column(nullable=False, default=list)
    variables: Mapped[dict[str, Any] | None] = mapped_column(nullable=True)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
