"""`BotRuntime`: the one place that wires what a bot's workflow runs with.

It owns the two node registries, built once and frozen: the V2 registry (what drafts are
validated and published versions compiled with; it never holds a ``v1_*`` type) and the legacy
registry (the V2 types plus the V1 adapters, used only for bots' V1 workflows). It caches the
compiled plans of published versions (by version id: published versions are immutable, so a
plan compiled once serves every later chat) and holds the `ServiceContainer` (chat models,
knowledge retriever, clock) handed to the engine.

Retrieval is always scoped to the bot owner: every run gets an `OwnerScopedRetriever` that
stamps the owner onto each `RetrievalQuery`, whatever node builds it, and the real retriever
filters on it in its database query. There is no unscoped retriever on the chat path.

    runtime = BotRuntime(chat_models=ChatModelRegistry(settings), retriever=retriever)
    compiled = runtime.compile(version.id, version.graph)
    executor = runtime.executor(owner_id=bot.owner_id)
    result = await executor.run(compiled.plan, {"query": "hi"}, {"bot_id": bot.id, ...})
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
    DocumentReader,
    RetrievalQuery,
    RetrievedDocument,
    Retriever,
    ServiceContainer,
    SystemClock,
)

__all__ = ["BotRuntime", "CompiledVersion", "OwnerScopedRetriever"]

log = logging.getLogger(__name__)


class OwnerScopedRetriever:
    """The retriever one run sees: every query goes on with the run's owner, whatever owner
    (if any) the node that built it named."""

    __slots__ = ("inner", "owner_id")

    def __init__(self, inner: Retriever, owner_id: str) -> None:
        self.inner = inner
        self.owner_id = owner_id

    async def retrieve(self, query: RetrievalQuery) -> list[RetrievedDocument]:
        if query.owner_id != self.owner_id:
            log.warning("a node asked to retrieve for another owner; the run's owner applies")
            query = dataclasses.replace(query, owner_id=self.owner_id)
        return await self.inner.retrieve(query)


@dataclass(frozen=True, slots=True)
class CompiledVersion:
    """A published version (or a bot's V1 workflow), compiled: its plan and node titles."""

    plan: ExecutionPlan
    titles: Mapping[str, str | None]


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
        documents: DocumentReader | None = None,
    ) -> None:
        from snapagent.legacy.adapter import legacy_registry

        if registry is None:
            from snapagent.nodes import default_registry

            registry = default_registry()
        self.registry = registry.freeze()
        self.legacy_registry = legacy_registry(self.registry)
        self.retriever = retriever
        self.services = ServiceContainer(
            chat_models=chat_models,
            retriever=retriever,
            clock=clock or SystemClock(),
            settings=dict(settings or {}),
        )
        if documents is not None:
            self.services = self.services.replace(documents=documents)
        self.limits = limits or RunLimits()
        self._compiler = WorkflowExecutorV2(self.registry, self.services, limits=self.limits)
        self._legacy_compiler = WorkflowExecutorV2(
            self.legacy_registry, self.services, limits=self.limits
        )
        self._plans: OrderedDict[str, CompiledVersion] = OrderedDict()
        self._plan_cache_size = plan_cache_size

    def compile(self, version_id: str, graph: Mapping[str, Any]) -> CompiledVersion:
        """The compiled plan of a published V2 version; raises `GraphValidationError`."""
        return self._compile(self._compiler, version_id, graph)

    def compile_legacy(self, key: str, graph: Mapping[str, Any]) -> CompiledVersion:
        """The compiled plan of a V1 workflow's adapter graph (cached under ``key``, which
        must differ from every version id), with the legacy registry."""
        return self._compile(self._legacy_compiler, key, graph)

    def _compile(
        self, compiler: WorkflowExecutorV2, key: str, graph: Mapping[str, Any]
    ) -> CompiledVersion:
        cached = self._plans.get(key)
        if cached is not None:
            self._plans.move_to_end(key)
            return cached
        parsed = WorkflowGraph.model_validate(dict(graph))
        compiled = CompiledVersion(
            plan=compiler.compile(parsed),
            titles={node.id: node.title for node in parsed.nodes},
        )
        self._plans[key] = compiled
        if len(self._plans) > self._plan_cache_size:
            self._plans.popitem(last=False)
        return compiled

    async def aclose(self) -> None:
        """Release what the services hold (the document reader's worker process)."""
        close = getattr(self.services.documents, "close", None)
        if close is not None:
            await close()

    def executor(self, owner_id: str) -> WorkflowExecutorV2:
        """An executor whose retrieval sees only ``owner_id``'s knowledge bases."""
        scoped = self.services.replace(retriever=OwnerScopedRetriever(self.retriever, owner_id))
        return WorkflowExecutorV2(self.registry, scoped, limits=self.limits)
