"""Bots: a named chatbot of one owner with its knowledge bases and workflow settings.

``workflow`` holds the legacy V1 graph (port-less) and ``legacy_workflow`` its backup made by
the V1 -> V2 migration. New bots run V2 (``use_workflow_v2`` true): their graphs live in
``bot_workflow_versions``. ``v2_rollout_percent`` lets an operator send a share of a migrated
bot's traffic to V2 while the rest stays on V1.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from snapagent.db.base import Base, JSONType, TimestampMixin, id_column

__all__ = ["Bot"]


class Bot(TimestampMixin, Base):
    """A chatbot.

    >>> Bot(owner_id="u1", name="Support", knowledge_base_ids=[]).name
    'Support'
    """

    __tablename__ = "bots"
    __table_args__ = (
        CheckConstraint(
            "v2_rollout_percent >= 0 AND v2_rollout_percent <= 100", name="v2_rollout_percent"
        ),
    )

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("users.id", ondelete="CASCADE"), index=True, nullable=False
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    default_model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    knowledge_base_ids: Mapped[list[Any]] = mapped_column(JSONType, nullable=False, default=list)
    workflow: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    legacy_workflow: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    use_workflow_v2: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    v2_rollout_percent: Mapped[int] = mapped_column(Integer, nullable=False, default=100)
