"""The bots an owner can talk to from other tools: the OpenAI-compatible API's models and the
MCP server's tools.

A bot is *published* when a chat can run on it: it has a published V2 version with V2 switched
on, or a legacy V1 workflow (the rule `snapagent.services.rollout.choose_engine` applies).
Everything here is scoped to one owner; another owner's bot is never listed and is "not found".

    bots = await list_published_bots(session, user.id)
    raise bot_not_found("b1f0...", field="model")   # a missing bot and another owner's alike
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.errors import NotFoundError
from snapagent.services.rollout import has_v1_workflow

__all__ = [
    "MAX_REFERENCE_CHARS",
    "PublishedBot",
    "bot_not_found",
    "list_published_bots",
]

MAX_REFERENCE_CHARS = 200


@dataclass(frozen=True, slots=True)
class PublishedBot:
    """What other tools are told about a bot."""

    id: str
    name: str
    description: str
    created_at: datetime


async def list_published_bots(session: AsyncSession, owner_id: str) -> list[PublishedBot]:
    """The owner's bots a chat can run on, oldest first (a stable order for naming)."""
    published = (
        exists()
        .where(BotWorkflowVersion.bot_id == Bot.id, BotWorkflowVersion.status == "published")
        .correlate(Bot)
    )
    rows = await session.execute(
        select(
            Bot.id,
            Bot.name,
            Bot.description,
            Bot.created_at,
            Bot.use_workflow_v2,
            Bot.workflow,
            published.label("published"),
        )
        .where(Bot.owner_id == owner_id)
        .order_by(Bot.created_at, Bot.id)
    )
    return [
        PublishedBot(row.id, row.name, row.description or "", row.created_at)
        for row in rows
        if (row.use_workflow_v2 and row.published) or has_v1_workflow(row.workflow)
    ]


def bot_not_found(reference: str, *, field: str) -> NotFoundError:
    """The error for a ``reference`` that names no bot of the caller's, missing or another
    owner's alike."""
    shown = reference if len(reference) <= 100 else reference[:100] + "..."
    return NotFoundError(
        f"The model '{shown}' does not exist or you do not have access to it",
        details={"field": field},
    )
