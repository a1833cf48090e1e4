"""`WorkflowExecutorV2`: runs graphs, as a result (`run`), as events (`stream`), or through a
run handle (`start`) that observers watch.

    executor = WorkflowExecutorV2(default_registry(), services, limits=RunLimits(max_steps=200))
    result = await executor.run(graph, {"query": "What is SnapAgent?"}, {"bot_id": "b1"})
    async for event in executor.stream(graph, {"query": "hi"}, {}):
        ...
    handle = executor.start(graph, {"query": "hi"}, {}, observers=[recorder])
    result = await handle.result()

Cancellation, exactly:

- ``cancel_event`` (an `asyncio.Event` passed to `run`/`stream`): setting it stops the running
  nodes and the run *returns* a result with status ``cancelled`` (``stream`` ends with its
  `RunFinished`). A `CancelSignal` (an `asyncio.Event` that calls back when set) does the
  same without the watcher task a plain event needs per run.
- ``handle.cancel()`` on a handle from `start` does the same as the event.
- Cancelling the task that awaits `run()`: the running nodes are cancelled and awaited, then
  `asyncio.CancelledError` propagates as asyncio expects; no result is produced. Leaving
  `stream()` early cancels the run the polite way (its result, had anyone waited, says
  ``cancelled``).

An invalid graph raises `GraphValidationError` (with every problem) before anything runs; every
failure after that is reported in the result, never raised.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from random import getrandbits
from typing import Any

from snapagent.workflow.conversation import ConversationState
from snapagent.workflow.events import WorkflowEvent
from snapagent.workflow.handle import RunObserver, WorkflowRun
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.plan import ExecutionPlan, compile_plan
from snapagent.workflow.replay import ReplayedNode
from snapagent.workflow.result import RunLimits, WorkflowRunResult
from snapagent.workflow.runner import EventSink
from snapagent.workflow.schema import WorkflowGraph
from snapagent.workflow.services import ServiceContainer
from snapagent.workflow.system_names import RUN_ID

__all__ = ["WorkflowExecutorV2"]

_PLAN_CACHE_SIZE = 128


class WorkflowExecutorV2:
    """Runs V2 graphs with the given node registry, services and limits.

    Compiled plans are cached per graph object (graphs are frozen), so running the same graph
    again skips validation and compilation. Pass an `ExecutionPlan` from `compile()` to hold
    on to a plan yourself.
    """

    def __init__(
        self,
        registry: NodeRegistryV2,
        services: ServiceContainer | None = None,
        *,
        limits: RunLimits | None = None,
    ) -> None:
        self.registry = registry
        self.services = services or ServiceContainer()
        self.limits = limits or RunLimits()
        # id(graph) -> (graph, plan); holding the graph keeps its id from being reused.
        self._plans: OrderedDict[int, tuple[WorkflowGraph, ExecutionPlan]] = OrderedDict()

    def compile(self, graph: WorkflowGraph) -> ExecutionPlan:
        """Validate and compile ``graph`` (cached); raises `GraphValidationError`."""
        cached = self._plans.get(id(graph))
        if cached is not None and cached[0] is graph:
            self._plans.move_to_end(id(graph))
            return cached[1]
        plan = compile_plan(graph, self.registry)
        self._plans[id(graph)] = (graph, plan)
        if len(self._plans) > _PLAN_CACHE_SIZE:
            self._plans.popitem(last=False)
        return plan

    def start(
        self,
        graph: WorkflowGraph | ExecutionPlan,
        inputs: Mapping[str, Any] | None = None,
        sys: Mapping[str, Any] | None = None,
        *,
        observers: Sequence[RunObserver] = (),
        on_event: EventSink | None = None,
        cancel_event: asyncio.Event | None = None,
        services: ServiceContainer | None = None,
        conversation: Mapping[str, Any] | None = None,
        links: Mapping[str, Mapping[str, Any]] | None = None,
        replay: Mapping[str, ReplayedNode] | None = None,
    ) -> WorkflowRun:
        """A handle on a new run of ``graph`` (see `snapagent.workflow.handle`): nothing
        executes until its `result()` or `events()` is called.

        ``inputs``: ``query``, ``session_id``, ``history`` and the start node's declared
        inputs. ``sys``: the run-level values (names in `snapagent.workflow.system_names`;
        ``run_id`` generated if absent). ``services`` replaces the executor's for this run (a
        retriever scoped to the run's owner, say). ``conversation``: the session's stored
        conversation variables (the graph's defaults fill the rest). For debugging
        (`snapagent.workflow.replay`): ``links`` makes values of nodes outside the plan
        readable (``{node id: outputs}``), ``replay`` puts recorded outcomes in place of
        running those nodes. Raises `GraphValidationError` for an invalid graph.
        """
        plan = graph if isinstance(graph, ExecutionPlan) else self.compile(graph)
        sys_values = dict(sys or {})
        if not sys_values.get(RUN_ID):
            sys_values[RUN_ID] = new_run_id()
        return WorkflowRun(
            plan,
            services or self.services,
            dict(inputs or {}),
            sys_values,
            self.limits,
            conversation=ConversationState(plan.graph.conversation_variables, conversation),
            observers=observers,
            on_event=on_event,
            cancel_event=cancel_event,
            links=links,
            replay=replay,
        )

    async def run(
        self,
        graph: WorkflowGraph | ExecutionPlan,
        inputs: Mapping[str, Any] | None = None,
        sys: Mapping[str, Any] | None = None,
        *,
        on_event: EventSink | None = None,
        cancel_event: asyncio.Event | None = None,
        conversation: Mapping[str, Any] | None = None,
    ) -> WorkflowRunResult:
        """Run to the end and return the result; ``on_event`` sees every event as it happens.
        ``conversation``: the session's stored conversation variables (the graph's defaults
        fill the rest; the result carries them after the run). ``await start(...).result()``.
        """
        handle = self.start(
            graph,
            inputs,
            sys,
            on_event=on_event,
            cancel_event=cancel_event,
            conversation=conversation,
        )
        return await handle.result()

    async def stream(
        self,
        graph: WorkflowGraph | ExecutionPlan,
        inputs: Mapping[str, Any] | None = None,
        sys: Mapping[str, Any] | None = None,
        *,
        cancel_event: asyncio.Event | None = None,
        conversation: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[WorkflowEvent]:
        """Yield the run's events as they happen, ending with `RunFinished` (the run executes
        in a task of its own; leaving the loop early cancels it). ``start(...).events()``."""
        handle = self.start(
            graph, inputs, sys, cancel_event=cancel_event, conversation=conversation
        )
        events = handle.events()
        try:
            async for event in events:
                yield event
        finally:
            await events.aclose()


def new_run_id() -> str:
    """A random UUID4 as 32 hex digits. `random` (seeded per process from the OS) instead of
    `uuid.uuid4()`: ids need uniqueness, not secrecy, and this skips a system call per run."""
    bits = getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)
    return f"{bits | (0x4000 << 64) | (0x8000 << 48):032x}"
