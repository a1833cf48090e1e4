"""Bots on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from snapagent.api.schemas.common import Name, RequestModel
from snapagent.db.pagination import Page

__all__ = ["BotCreate", "BotPublic", "BotUpdate", "BotsPublic", "LegacyWorkflowPublic"]


class BotCreate(RequestModel):
    name: Name = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    default_model: str | None = Field(
        default=None, max_length=200, description="Model for llm nodes that name none."
    )
    knowledge_base_ids: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Knowledge bases the bot searches (yours only).",
    )
    use_workflow_v2: bool = Field(
        default=True, description="Run published V2 versions (V1 is for legacy bots)."
    )
    v2_rollout_percent: int = Field(default=100, ge=0, le=100)


class BotUpdate(RequestModel):
    """Every field optional: only the fields sent change."""

    name: Name | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    default_model: str | None = Field(default=None, max_length=200)
    knowledge_base_ids: list[str] | None = Field(default=None, max_length=50)
    use_workflow_v2: bool | None = None
    v2_rollout_percent: int | None = Field(default=None, ge=0, le=100)


class BotPublic(BaseModel):
    id: str
    name: str
    description: str
    default_model: str | None
    knowledge_base_ids: list[str]
    use_workflow_v2: bool
    v2_rollout_percent: int
    has_legacy_workflow: bool
    created_at: datetime
    updated_at: datetime


class BotsPublic(Page):
    data: list[BotPublic]


class LegacyWorkflowPublic(BaseModel):
    workflow: dict[str, Any] | None = Field(description="The V1 graph, or null when none.")
    effect: str = Field(
        description="What chat does with it given the bot's `use_workflow_v2`, "
        "`v2_rollout_percent` and published versions: runs it for every session, for a share "
        "of them, or keeps it stored without running it.",
        examples=["chat runs this V1 workflow for every session (use_workflow_v2 is false)"],
    )
