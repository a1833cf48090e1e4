"""`BotRuntime`: the one place that wires what a bot's workflow runs with.

It owns the node registry, the compiled plans of published versions (cached by version id:
published versions are immutable, so a plan compiled once serves every later chat), and the
`ServiceContainer` (chat models, knowledge retriever, clock) handed to the engine. Retrieval is
scoped to the bot owner's knowledge bases, so a graph naming someone else's knowledge base id
finds nothing.

    runtime = BotRuntime(chat_models=ChatModelRegistry(settings), retriever=retriever)
    compiled = runtime.compile(version.id, version.graph)
    executor = runtime.executor(allowed_kb_ids=frozenset({"kb1"}))
    result = await executor.run(compiled.plan, {"query": "hi"}, {"bot_id": bot.id})
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snapagent.workflow.executor import WorkflowExecutorV2
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.plan import ExecutionPlan
from snapagent.workflow.result import RunLimits
from snapagent.workflow.schema import WorkflowGraph
from snapagent.workflow.services import (
    ChatModelProvider,
    Clock,
    RetrievalQuery,
    RetrievedDocument,
    Retriever,
    ServiceContainer,
    SystemClock,
)

__all__ = ["BotRuntime", "CompiledVersion", "OwnerScopedRetriever"]

log = logging.getLogger(__name__)

KNOWLEDGE_NODE_TYPE = "knowledge"


class OwnerScopedRetriever:
    """Passes queries on with only the knowledge bases the bot's owner owns."""

    def __init__(self, inner: Retriever, allowed_kb_ids: frozenset[str]) -> None:
        self.inner = inner
        self.allowed = allowed_kb_ids

    async def retrieve(self, query: RetrievalQuery) -> list[RetrievedDocument]:
        kb_ids = [kb for kb in query.knowledge_base_ids if kb in self.allowed]
        if len(kb_ids) < len(query.knowledge_base_ids):
            log.warning("ignored knowledge bases not owned by the bot's owner in a retrieval")
        if not kb_ids:
            return []
        return await self.inner.retrieve(dataclasses.replace(query, knowledge_base_ids=kb_ids))


@dataclass(frozen=True, slots=True)
class CompiledVersion:
    """A published version, compiled: its plan, node titles, and whether it retrieves."""

    plan: ExecutionPlan
    titles: Mapping[str, str | None]
    uses_knowledge: bool


class BotRuntime:
    """See the module docstring. One per app; safe to share between requests."""

    def __init__(
        self,
        *,
        chat_models: ChatModelProvider,
        retriever: Retriever,
        registry: NodeRegistryV2 | None = None,
        clock: Clock | None = None,
        limits: RunLimits | None = None,
        settings: Mapping[str, Any] | None = None,
        plan_cache_size: int = 256,
    ) -> None:
        if registry is None:
            from snapagent.nodes import default_registry

            registry = default_registry()
        self.registry = registry
        self.retriever = retriever
        self.services = ServiceContainer(
            chat_models=chat_models,
            retriever=retriever,
            clock=clock or SystemClock(),
            settings=dict(settings or {}),
        )
        self.limits = limits or RunLimits()
        self._compiler = WorkflowExecutorV2(registry, self.services, limits=self.limits)
        self._plans: OrderedDict[str, CompiledVersion] = OrderedDict()
        self._plan_cache_size = plan_cache_size

    def compile(self, version_id: str, graph: Mapping[str, Any]) -> CompiledVersion:
        """The compiled plan of a published version; raises `GraphValidationError`."""
        cached = self._plans.get(version_id)
        if cached is not None:
            self._plans.move_to_end(version_id)
            return cached
        parsed = WorkflowGraph.model_validate(dict(graph))
        compiled = CompiledVersion(
            plan=self._compiler.compile(parsed),
            titles={node.id: node.title for node in parsed.nodes},
            uses_knowledge=any(node.type == KNOWLEDGE_NODE_TYPE for node in parsed.nodes),
        )
        self._plans[version_id] = compiled
        if len(self._plans) > self._plan_cache_size:
            self._plans.popitem(last=False)
        return compiled

    def executor(self, allowed_kb_ids: frozenset[str] | None = None) -> WorkflowExecutorV2:
        """An executor whose retrieval sees only ``allowed_kb_ids`` (None: no retrieval scope)."""
        if allowed_kb_ids is None:
            return self._compiler
        scoped = self.services.replace(
            retriever=OwnerScopedRetriever(self.retriever, allowed_kb_ids)
        )
        return WorkflowExecutorV2(self.registry, scoped, limits=self.limits)
