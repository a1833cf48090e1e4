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
    run = runtime.start(compiled, {"query": "hi"}, {"bot_id": bot.id}, owner_id=bot.owner_id)
    result = await run.result()

Debugging runs compile drafts, which change, under a key that includes their revision
(`compile_off_loop`, in a worker thread: a user's graph is never compiled on the event loop),
and may pass ``links`` and ``replay`` (`snapagent.workflow.replay`) to `start`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from snapagent.services.system_values import with_owner
from snapagent.workflow.executor import WorkflowExecutorV2
from snapagent.workflow.handle import RunObserver, WorkflowRun
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.plan import ExecutionPlan, compile_plan
from snapagent.workflow.replay import ReplayedNode
from snapagent.workflow.result import RunLimits
from snapagent.workflow.schema import WorkflowGraph
from snapagent.workflow.services import (
    BotRunner,
    ChatModelProvider,
    Clock,
    CodeRunner,
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
        code_runner: CodeRunner | None = None,
    ) -> None:
        from snapagent.legacy.adapter import legacy_registry

        if registry is None:
            from snapagent.nodes import default_registry

            registry = default_registry()
        self.registry = registry.freeze()
        self.legacy_registry = legacy_registry(self.registry)
        # Only `start` hands the retriever out, wrapped for one owner: the shared services
        # carry none, so no executor of this runtime can retrieve unscoped.
        self._retriever = retriever
        self.services = ServiceContainer(
            chat_models=chat_models,
            clock=clock or SystemClock(),
            settings=dict(settings or {}),
        )
        if documents is not None:
            self.services = self.services.replace(documents=documents)
        if code_runner is not None:  # None: code nodes use the process-wide sandbox
            self.services = self.services.replace(code_runner=code_runner)
        self.limits = limits or RunLimits()
        self._compiler = WorkflowExecutorV2(self.registry, self.services, limits=self.limits)
        self._legacy_compiler = WorkflowExecutorV2(
            self.legacy_registry, self.services, limits=self.limits
        )
        self._plans: OrderedDict[str, CompiledVersion] = OrderedDict()
        self._plan_cache_size = plan_cache_size
        # compile_off_loop fills the cache from worker threads.
        self._plans_lock = threading.Lock()

    def compile(self, version_id: str, graph: Mapping[str, Any]) -> CompiledVersion:
        """The compiled plan of a published V2 version; raises `GraphValidationError`."""
        return self._compile(self._compiler, version_id, graph)

    def compile_legacy(self, key: str, graph: Mapping[str, Any]) -> CompiledVersion:
        """The compiled plan of a V1 workflow's adapter graph (cached under ``key``, which
        must differ from every version id), with the legacy registry."""
        return self._compile(self._legacy_compiler, key, graph)

    async def compile_off_loop(self, key: str, graph: Mapping[str, Any]) -> CompiledVersion:
        """`compile` in a worker thread (for drafts and other graphs not compiled before;
        ``key`` must change whenever the graph does: a draft's id and revision)."""
        with self._plans_lock:
            cached = self._cached(key)
        if cached is not None:
            return cached
        return await asyncio.to_thread(self._compile, self._compiler, key, graph)

    def cached(self, key: str) -> CompiledVersion | None:
        """The plan compiled before under ``key``, if still held (no thread hop to ask)."""
        with self._plans_lock:
            return self._cached(key)

    def _cached(self, key: str) -> CompiledVersion | None:
        cached = self._plans.get(key)
        if cached is not None:
            self._plans.move_to_end(key)
        return cached

    def _compile(
        self, compiler: WorkflowExecutorV2, key: str, graph: Mapping[str, Any]
    ) -> CompiledVersion:
        with self._plans_lock:
            cached = self._cached(key)
        if cached is not None:
            return cached
        parsed = WorkflowGraph.model_validate(dict(graph))
        compiled = CompiledVersion(
            # Not the executor's cache (keyed by graph object: a parsed graph is always new),
            # which is not safe to fill from worker threads either.
            plan=compile_plan(parsed, compiler.registry),
            titles={node.id: node.title for node in parsed.nodes},
        )
        with self._plans_lock:
            self._plans[key] = compiled
            if len(self._plans) > self._plan_cache_size:
                self._plans.popitem(last=False)
        return compiled

    def bind_bots(self, bots: BotRunner) -> None:
        """Let runs call other bots (the agent's workflow tools) through ``bots``. Set once by
        the composition root: the runner needs this runtime, so it comes after it."""
        self.services = self.services.replace(bots=bots)

    async def aclose(self) -> None:
        """Release what the services hold (the document reader's worker process, the code
        sandbox's zygotes)."""
        for service in (self.services.documents, self.services.code_runner):
            close = getattr(service, "close", None)
            if close is not None:
                await close()

    def start(
        self,
        compiled: CompiledVersion,
        inputs: Mapping[str, Any],
        sys: Mapping[str, Any],
        *,
        owner_id: str,
        observers: Sequence[RunObserver] = (),
        cancel_event: asyncio.Event | None = None,
        conversation: Mapping[str, Any] | None = None,
        plan: ExecutionPlan | None = None,
        links: Mapping[str, Mapping[str, Any]] | None = None,
        replay: Mapping[str, ReplayedNode] | None = None,
    ) -> WorkflowRun:
        """A run of ``compiled`` for a bot of ``owner_id``: its retrieval sees only that
        account's knowledge bases (``sys.owner_id`` is set to it as well). ``conversation``:
        the session's stored conversation variables. Debugging runs may run another ``plan``
        made from ``compiled``'s (one node of it) with ``links`` and ``replay``."""
        scoped = self.services.replace(retriever=OwnerScopedRetriever(self._retriever, owner_id))
        return self._compiler.start(
            plan or compiled.plan,
            inputs,
            with_owner(sys, owner_id),
            services=scoped,
            observers=observers,
            cancel_event=cancel_event,
            conversation=conversation,
            links=links,
            replay=replay,
        )
