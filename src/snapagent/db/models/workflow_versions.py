"""`bot_workflow_versions`: the V2 graphs of a bot - one editable draft and numbered releases.

A draft has no number and a ``revision`` bumped on every save (optimistic concurrency). Publishing
gives it the next number (1, 2, 3...) and freezes it; the previously published version becomes
``archived``. A rollback publishes a copy of an earlier version under the next number
(``source = "rollback"``). Partial unique indexes keep at most one draft and at most one
published version per bot on both databases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from snapagent.db.base import Base, JSONType, UTCDateTime, id_column, utcnow

__all__ = ["BotWorkflowVersion", "VersionStatus"]

VersionStatus = Literal["draft", "published", "archived"]


class BotWorkflowVersion(Base):
    """One version of a bot's workflow graph.

    >>> BotWorkflowVersion(bot_id="b1", status="draft", graph={}, revision=1).version_number
    """

    __tablename__ = "bot_workflow_versions"
    __table_args__ = (
        UniqueConstraint("bot_id", "version_number"),
        Index(
            "uq_bot_workflow_versions_one_draft",
            "bot_id",
            unique=True,
            sqlite_where=text("status = 'draft'"),
            postgresql_where=text("status = 'draft'"),
        ),
        Index(
            "uq_bot_workflow_versions_one_published",
            "bot_id",
            unique=True,
            sqlite_where=text("status = 'published'"),
            postgresql_where=text("status = 'published'"),
        ),
    )

    id: Mapped[str] = id_column()
    bot_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("bots.id", ondelete="CASCADE"), index=True, nullable=False
    )
    version_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    graph: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    source: Mapped[str] = mapped_column(String(32), nullable=False, default="editor")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_by: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )
    published_by: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
