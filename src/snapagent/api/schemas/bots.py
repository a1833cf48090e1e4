"""Bots on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from snapagent.api.schemas.common import Name, RequestModel
from snapagent.db.pagination import Page

__all__ = ["BotCreate", "BotPublic", "BotUpdate", "BotsPublic", "LegacyWorkflowPublic"]

_ROLLOUT = (
    "Share of chat sessions, 0-100 percent, that run the published V2 version when "
    "`use_workflow_v2` is on; the rest run the legacy V1 workflow. A session is assigned by "
    "a hash of the bot and session ids, so it never switches engine mid-conversation."
)


class BotCreate(RequestModel):
    name: Name = Field(min_length=1, max_length=200, description="The bot's display name.")
    description: str = Field(
        default="", max_length=2000, description="Free text about the bot, for people."
    )
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
    v2_rollout_percent: int = Field(default=100, ge=0, le=100, description=_ROLLOUT)


class BotUpdate(RequestModel):
    """Every field optional: only the fields sent change."""

    name: Name | None = Field(
        default=None, min_length=1, max_length=200, description="A new display name."
    )
    description: str | None = Field(
        default=None, max_length=2000, description='A new description ("" clears it).'
    )
    default_model: str | None = Field(
        default=None, max_length=200, description="A new model for llm nodes that name none."
    )
    knowledge_base_ids: list[str] | None = Field(
        default=None,
        max_length=50,
        description="The new full list of knowledge bases the bot searches (yours only).",
    )
    use_workflow_v2: bool | None = Field(
        default=None, description="Switch between published V2 versions and the V1 workflow."
    )
    v2_rollout_percent: int | None = Field(default=None, ge=0, le=100, description=_ROLLOUT)


class BotPublic(BaseModel):
    id: str = Field(description="The bot's id (`bot_id` in chat and in paths).")
    name: str = Field(description="The bot's display name.")
    description: str = Field(description="Free text about the bot (may be empty).")
    default_model: str | None = Field(
        description="Model for llm nodes that name none; null: the provider's default."
    )
    knowledge_base_ids: list[str] = Field(description="Knowledge bases the bot searches.")
    use_workflow_v2: bool = Field(
        description="Whether chat runs published V2 versions (see `v2_rollout_percent`)."
    )
    v2_rollout_percent: int = Field(description=_ROLLOUT)
    has_legacy_workflow: bool = Field(
        description="Whether the bot stores a V1 workflow (`GET .../workflow` shows it)."
    )
    created_at: datetime = Field(description="When the bot was created (UTC).")
    updated_at: datetime = Field(description="When the bot was last changed (UTC).")


class BotsPublic(Page):
    data: list[BotPublic] = Field(description="Your bots on this page.")


class LegacyWorkflowPublic(BaseModel):
    workflow: dict[str, Any] | None = Field(description="The V1 graph, or null when none.")
    effect: str = Field(
        description="What chat does with it given the bot's `use_workflow_v2`, "
        "`v2_rollout_percent` and published versions: runs it for every session, for a share "
        "of them, or keeps it stored without running it.",
        examples=["chat runs this V1 workflow for every session (use_workflow_v2 is false)"],
    )
