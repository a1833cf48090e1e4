"""Bots: create, list, read, update and delete one owner's chatbots.

A bot belongs to exactly one user; asking for another user's bot raises
:class:`~snapagent.errors.NotFoundError`, exactly as for a bot that never existed. A new bot
runs V2 (``use_workflow_v2`` true - V1 is only for bots imported from the legacy system) and
gets a ready draft, start -> knowledge -> llm -> end, so it can chat right after publishing.

    bots = BotService(session, default_registry())
    bot = await bots.create(user, name="Support", knowledge_base_ids=[kb.id])
    await bots.update(user, bot.id, {"default_model": "offline"})
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from snapagent.db.models.accounts import User
from snapagent.db.models.bots import Bot
from snapagent.db.models.knowledge import KnowledgeBase
from snapagent.db.models.workflow_versions import BotWorkflowVersion
from snapagent.db.pagination import MAX_PAGE_SIZE, SortKey, page_of, paginate
from snapagent.errors import GraphValidationError, InputValidationError, NotFoundError
from snapagent.legacy.validation import load_v1_workflow
from snapagent.names import readable_name
from snapagent.services.graph_resources import GraphResources, v1_knowledge_resources
from snapagent.services.rollout import legacy_workflow_effect
from snapagent.services.workflow_versions import (
    DEFAULT_DRAFT_SOURCE,
    WorkflowVersionService,
    get_owned_bot,
)
from snapagent.workflow.limits import GraphLimits, check_graph_size
from snapagent.workflow.node import NodeRegistryV2

__all__ = ["UPDATABLE_FIELDS", "BotService", "default_graph", "get_owned_bot"]

UPDATABLE_FIELDS = frozenset(
    {
        "name",
        "description",
        "default_model",
        "knowledge_base_ids",
        "use_workflow_v2",
        "v2_rollout_percent",
    }
)

DEFAULT_SYSTEM_PROMPT = (
    "You answer questions using the provided context. If the context does not contain the "
    "answer, say so briefly."
)
PLAIN_SYSTEM_PROMPT = "You are a helpful assistant. Answer briefly and accurately."
DEFAULT_PROMPT = "Context:\n{{ context }}\n\nQuestion: {{ query }}"


_BOT_ORDER = (
    SortKey(Bot.created_at, descending=True, kind=datetime),
    SortKey(Bot.id, descending=True),
)


def default_graph(knowledge_base_ids: Sequence[str]) -> dict[str, Any]:
    """The graph a new bot starts with. The llm node has no model: the bot's default applies.

    With knowledge bases: start -> knowledge -> llm -> end. Without any (a knowledge node needs
    at least one), start -> llm -> end, so every new bot can be published as it is.
    """
    start = {"id": "start", "type": "start", "title": "Start", "config": {}}
    end = {"id": "end", "type": "end", "title": "End", "config": {"outputs": ["answer"]}}
    answer = {"source": "llm", "source_port": "text", "target": "end", "target_port": "answer"}
    query_to_llm = {
        "source": "start",
        "source_port": "query",
        "target": "llm",
        "target_port": "query",
    }
    if not knowledge_base_ids:
        llm = {
            "id": "llm",
            "type": "llm",
            "title": "Answer",
            "config": {"system_prompt": PLAIN_SYSTEM_PROMPT, "prompt": "{{ query }}"},
        }
        return {"nodes": [start, llm, end], "edges": [query_to_llm, answer]}
    knowledge = {
        "id": "knowledge",
        "type": "knowledge",
        "title": "Knowledge retrieval",
        "config": {"knowledge_base_ids": list(knowledge_base_ids), "top_k": 4},
    }
    llm = {
        "id": "llm",
        "type": "llm",
        "title": "Answer",
        "config": {"system_prompt": DEFAULT_SYSTEM_PROMPT, "prompt": DEFAULT_PROMPT},
    }
    edges = [
        {"source": "start", "source_port": "query", "target": "knowledge", "target_port": "query"},
        query_to_llm,
        {
            "source": "knowledge",
            "source_port": "documents",
            "target": "llm",
            "target_port": "context",
        },
        answer,
    ]
    return {"nodes": [start, knowledge, llm, end], "edges": edges}


def _checked_v1(workflow: Mapping[str, Any], limits: GraphLimits) -> dict[str, Any]:
    too_big = check_graph_size(workflow, limits)
    if too_big:
        raise GraphValidationError(
            [p.to_dict() for p in too_big], "the workflow is over a size limit"
        )
    return load_v1_workflow(workflow).to_json()


def _clean_name(name: Any) -> str:
    if not isinstance(name, str):
        raise InputValidationError("name must be text", field="name")
    return readable_name(name)


class BotService:
    """Use cases of bots; each method commits its own transaction."""

    def __init__(
        self,
        session: AsyncSession,
        registry: NodeRegistryV2,
        resources: GraphResources | None = None,
    ) -> None:
        self.session = session
        self.versions = WorkflowVersionService(session, registry, resources)
        self.resources = self.versions.resources

    async def create(
        self,
        owner: User,
        *,
        name: str,
        description: str = "",
        default_model: str | None = None,
        knowledge_base_ids: Sequence[str] = (),
        use_workflow_v2: bool = True,
        v2_rollout_percent: int = 100,
    ) -> Bot:
        kb_ids = await self._owned_knowledge_bases(owner, knowledge_base_ids)
        bot = Bot(
            owner_id=owner.id,
            name=_clean_name(name),
            description=description,
            default_model=self._usable_model(default_model),
            knowledge_base_ids=kb_ids,
            use_workflow_v2=use_workflow_v2,
            v2_rollout_percent=_rollout(v2_rollout_percent),
        )
        self.session.add(bot)
        await self.session.flush()
        self.versions.add_draft(bot, owner, default_graph(kb_ids), source=DEFAULT_DRAFT_SOURCE)
        await self.session.commit()
        return bot

    async def list_bots(
        self, owner: User, *, limit: int = MAX_PAGE_SIZE, cursor: str | None = None
    ) -> tuple[list[Bot], str | None]:
        """A page of the owner's bots, newest first, and the next page's cursor."""
        query = paginate(
            select(Bot).where(Bot.owner_id == owner.id), _BOT_ORDER, limit=limit, cursor=cursor
        )
        rows = list(await self.session.scalars(query))
        return page_of(rows, limit=limit, key=lambda bot: (bot.created_at, bot.id))

    async def named(self, owner: User, name: str) -> list[Bot]:
        """The owner's bots called ``name`` (names need not be unique), newest first."""
        rows = await self.session.scalars(
            select(Bot)
            .where(Bot.owner_id == owner.id, Bot.name == name)
            .order_by(Bot.created_at.desc(), Bot.id.desc())
        )
        return list(rows)

    async def resolve(self, owner: User, ref: str) -> Bot:
        """One of the owner's bots by id, else by its name (which must then be unique)."""
        bot = await self.session.get(Bot, ref)
        if bot is not None and bot.owner_id == owner.id:
            return bot
        found = await self.named(owner, ref)
        if not found:
            raise NotFoundError(f"bot {ref!r} not found (give its id or its name)")
        if len(found) > 1:
            ids = ", ".join(b.id for b in found[:10])
            raise InputValidationError(
                f"{len(found)} bots are called {ref!r}; name one by id: {ids}", field="bot"
            )
        return found[0]

    async def get(self, owner: User, bot_id: str) -> Bot:
        return await get_owned_bot(self.session, owner, bot_id)

    async def update(self, owner: User, bot_id: str, changes: Mapping[str, Any]) -> Bot:
        """Apply a partial update; keys outside :data:`UPDATABLE_FIELDS` are rejected."""
        bot = await get_owned_bot(self.session, owner, bot_id)
        unknown = set(changes) - UPDATABLE_FIELDS
        if unknown:
            raise InputValidationError(
                f"cannot change {', '.join(sorted(unknown))}", field=sorted(unknown)[0]
            )
        if "name" in changes:
            bot.name = _clean_name(changes["name"])
        if "description" in changes:
            bot.description = changes["description"] or ""
        if "default_model" in changes:
            bot.default_model = self._usable_model(changes["default_model"])
        if "knowledge_base_ids" in changes:
            kb_ids = changes["knowledge_base_ids"] or []
            bot.knowledge_base_ids = await self._owned_knowledge_bases(owner, kb_ids)
            await self.versions.refresh_default_draft(bot, default_graph(bot.knowledge_base_ids))
        if "use_workflow_v2" in changes:
            bot.use_workflow_v2 = bool(changes["use_workflow_v2"])
        if "v2_rollout_percent" in changes:
            bot.v2_rollout_percent = _rollout(changes["v2_rollout_percent"])
        await self.session.commit()
        return bot

    async def delete(self, owner: User, bot_id: str) -> None:
        """Delete the bot; its versions, runs and sessions go with it (ON DELETE CASCADE)."""
        bot = await get_owned_bot(self.session, owner, bot_id)
        await self.session.execute(delete(Bot).where(Bot.id == bot.id))
        await self.session.commit()

    async def get_legacy_workflow(self, owner: User, bot_id: str) -> dict[str, Any] | None:
        bot = await get_owned_bot(self.session, owner, bot_id)
        return bot.workflow

    async def legacy_workflow_effect(self, owner: User, bot_id: str) -> str:
        """What chat does with the bot's V1 workflow now (`legacy_workflow_effect`)."""
        bot = await get_owned_bot(self.session, owner, bot_id)
        published = await self.session.scalar(
            select(BotWorkflowVersion.id)
            .where(BotWorkflowVersion.bot_id == bot.id, BotWorkflowVersion.status == "published")
            .limit(1)
        )
        return legacy_workflow_effect(
            use_workflow_v2=bot.use_workflow_v2,
            v2_rollout_percent=bot.v2_rollout_percent,
            has_published_v2=published is not None,
            v1_workflow=bot.workflow,
        )

    async def set_legacy_workflow(
        self, owner: User, bot_id: str, workflow: Mapping[str, Any]
    ) -> dict[str, Any]:
        """Replace the V1 workflow; it must pass the V1 validator (every problem reported) and
        name only knowledge bases of the bot's owner, and stay within the graph size limits
        (checked in a thread: a big workflow never stalls the loop)."""
        bot = await get_owned_bot(self.session, owner, bot_id)
        checked = await asyncio.to_thread(_checked_v1, workflow, self.versions.limits)
        problems = await self.resources.knowledge_base_problems(
            self.session, bot.owner_id, v1_knowledge_resources(checked)
        )
        if problems:
            raise GraphValidationError(
                problems, "the workflow names knowledge bases it may not use"
            )
        bot.workflow = checked
        await self.session.commit()
        return bot.workflow

    def _usable_model(self, model_id: str | None) -> str | None:
        """``model_id`` cleaned (blank: None, the server's default); 422 if unusable."""
        cleaned = (model_id or "").strip() or None
        if cleaned is not None and (error := self.resources.model_error(cleaned)):
            raise InputValidationError(
                f"default model {cleaned!r} cannot be used: {error}", field="default_model"
            )
        return cleaned

    async def _owned_knowledge_bases(self, owner: User, kb_ids: Sequence[str]) -> list[str]:
        wanted = list(dict.fromkeys(kb_ids))  # de-duplicate, keep order
        if not wanted:
            return []
        found = set(
            await self.session.scalars(
                select(KnowledgeBase.id).where(
                    KnowledgeBase.id.in_(wanted), KnowledgeBase.owner_id == owner.id
                )
            )
        )
        missing = [kb for kb in wanted if kb not in found]
        if missing:
            raise InputValidationError(
                f"knowledge base {missing[0]} not found", field="knowledge_base_ids"
            )
        return wanted


def _rollout(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InputValidationError(
            "v2_rollout_percent must be an integer from 0 to 100", field="v2_rollout_percent"
        )
    return value
