"""Which of an owner's bots use a knowledge base, and detaching it from them.

A knowledge base is *used* by a bot when its draft, its published version or its legacy (V1)
workflow names the knowledge base's id anywhere in a node's settings (any node type, so a
future node cannot hide a use). Only the owner's own bots are looked at: another account's
graph can never use the knowledge base (validation refuses it and retrieval ignores it), and
listing their bots would tell the owner about them.

Deleting a used knowledge base is a conflict unless forced; forcing *detaches* it: the bots'
settings drop its id and an untouched generated draft is regenerated without it. Other drafts
and published versions keep naming it: they retrieve nothing from it, and validating or
publishing them reports it as a knowledge base that does not exist.

    uses = await knowledge_base_uses(session, owner_id, kb_id)
    if uses and not force:
        raise conflict(kb_id, uses)
    await detach_knowledge_base(session, owner_id, kb_id)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, cast, select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.bots import Bot
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.errors import ConflictError
from snapagent.services.bots import default_graph
from snapagent.services.workflow_versions import refresh_default_draft

__all__ = ["KnowledgeBaseUse", "detach_knowledge_base", "in_use_error", "knowledge_base_uses"]


@dataclass(frozen=True, slots=True)
class KnowledgeBaseUse:
    """One bot that uses the knowledge base, and where: ``draft``, ``version 3``, ``v1``."""

    bot_id: str
    bot_name: str
    uses: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.bot_id, "name": self.bot_name, "uses": list(self.uses)}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for inner in value.values():
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def names(graph: Any, kb_id: str) -> bool:
    """True when a node of ``graph`` (V2 ``config`` or V1 ``data``) mentions ``kb_id``."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    if not isinstance(nodes, list):
        return False
    return any(
        kb_id in _strings([node.get("config"), node.get("data")])
        for node in nodes
        if isinstance(node, dict)
    )


async def knowledge_base_uses(
    session: AsyncSession, owner_id: str, kb_id: str
) -> list[KnowledgeBaseUse]:
    """The owner's bots whose draft, published version or V1 workflow uses ``kb_id``."""
    found: dict[str, tuple[str, list[str]]] = {}
    versions = BotWorkflowVersion
    # The text match narrows the rows in the database; `names` confirms it node by node.
    rows = await session.execute(
        select(Bot.id, Bot.name, versions.status, versions.version_number, versions.graph)
        .join(versions, versions.bot_id == Bot.id)
        .where(
            Bot.owner_id == owner_id,
            versions.status.in_(("draft", "published")),
            cast(versions.graph, Text).contains(kb_id),
        )
        .order_by(Bot.created_at, Bot.id, versions.version_number.nulls_first())
    )
    for bot_id, bot_name, status, number, graph in rows:
        if names(graph, kb_id):
            where = "draft" if status == "draft" else f"version {number}"
            found.setdefault(bot_id, (bot_name, []))[1].append(where)
    legacy = await session.execute(
        select(Bot.id, Bot.name, Bot.workflow).where(
            Bot.owner_id == owner_id, cast(Bot.workflow, Text).contains(kb_id)
        )
    )
    for bot_id, bot_name, workflow in legacy:
        if names(workflow, kb_id):
            found.setdefault(bot_id, (bot_name, []))[1].append("v1")
    return [KnowledgeBaseUse(bot_id, name, tuple(uses)) for bot_id, (name, uses) in found.items()]


def in_use_error(kb_id: str, uses: Sequence[KnowledgeBaseUse]) -> ConflictError:
    listed = ", ".join(f"{u.bot_name!r} ({', '.join(u.uses)})" for u in uses[:10])
    more = f" and {len(uses) - 10} more" if len(uses) > 10 else ""
    return ConflictError(
        f"knowledge base {kb_id} is used by {len(uses)} bot(s): {listed}{more}; change their "
        "workflows first, or delete with force=true to detach it",
        details={"bots": [u.to_dict() for u in uses]},
    )


async def detach_knowledge_base(session: AsyncSession, owner_id: str, kb_id: str) -> None:
    """Drop ``kb_id`` from the owner's bots' settings and regenerate their untouched default
    drafts without it (in the caller's transaction)."""
    bots = await session.scalars(
        select(Bot).where(
            Bot.owner_id == owner_id, cast(Bot.knowledge_base_ids, Text).contains(kb_id)
        )
    )
    for bot in bots:
        if kb_id in bot.knowledge_base_ids:
            bot.knowledge_base_ids = [k for k in bot.knowledge_base_ids if k != kb_id]
            await refresh_default_draft(session, bot.id, default_graph(bot.knowledge_base_ids))
    await session.flush()
