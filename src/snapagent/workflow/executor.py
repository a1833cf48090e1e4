"""`WorkflowExecutorV2`: runs graphs, as a result (`run`) or as events (`stream`).

    executor = WorkflowExecutorV2(default_registry(), services, limits=RunLimits(max_steps=200))
    result = await executor.run(graph, {"query": "What is SnapAgent?"}, {"bot_id": "b1"})
    async for event in executor.stream(graph, {"query": "hi"}, {}):
        ...

Cancellation, exactly:

- ``cancel_event`` (an `asyncio.Event` passed to `run`/`stream`): setting it stops the running
  nodes and the run *returns* a result with status ``cancelled`` (``stream`` ends with its
  `RunFinished`).
- Cancelling the task that awaits `run()` (or consumes `stream()`): the running nodes are
  cancelled and awaited, then `asyncio.CancelledError` propagates as asyncio expects; no
  result is produced.

An invalid graph raises `GraphValidationError` (with every problem) before anything runs; every
failure after that is reported in the result, never raised.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from random import getrandbits
from typing import Any

from snapagent.workflow.conversation import ConversationState
from snapagent.workflow.events import WorkflowEvent
from snapagent.workflow.node import NodeRegistryV2
from snapagent.workflow.plan import ExecutionPlan, compile_plan
from snapagent.workflow.result import RunLimits, WorkflowRunResult
from snapagent.workflow.runner import EventSink, Run
from snapagent.workflow.schema import WorkflowGraph
from snapagent.workflow.services import ServiceContainer

__all__ = ["WorkflowExecutorV2"]

_PLAN_CACHE_SIZE = 128
_END: Any = object()


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

        ``inputs``: ``query``, ``session_id``, ``history`` and the start node's declared
        inputs. ``sys``: ``bot_id``, ``run_id`` (generated if absent), ``user_id``,
        ``default_model``. ``conversation``: the session's stored conversation variables
        (the graph's defaults fill the rest; the result carries them after the run).
        """
        plan = graph if isinstance(graph, ExecutionPlan) else self.compile(graph)
        sys_values = dict(sys or {})
        if not sys_values.get("run_id"):
            sys_values["run_id"] = new_run_id()
        state = ConversationState(plan.graph.conversation_variables, conversation)
        run = Run(
            plan,
            self.services,
            dict(inputs or {}),
            sys_values,
            self.limits,
            on_event,
            conversation=state,
        )
        if cancel_event is None:
            return await run.execute()
        if cancel_event.is_set():
            run.cancel()  # nothing starts; the result says cancelled
        watcher = asyncio.get_running_loop().create_task(_cancel_when_set(cancel_event, run))
        try:
            return await run.execute()
        finally:
            watcher.cancel()

    async def stream(
        self,
        graph: WorkflowGraph | ExecutionPlan,
        inputs: Mapping[str, Any] | None = None,
        sys: Mapping[str, Any] | None = None,
        *,
        cancel_event: asyncio.Event | None = None,
        conversation: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[WorkflowEvent]:
        """Yield the run's events as they happen, ending with `RunFinished`.

        The run itself executes in a task; leaving the loop early (``break``, ``aclose()``,
        cancellation) cancels it.
        """
        plan = graph if isinstance(graph, ExecutionPlan) else self.compile(graph)
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.get_running_loop().create_task(
            self.run(
                plan,
                inputs,
                sys,
                on_event=queue.put_nowait,
                cancel_event=cancel_event,
                conversation=conversation,
            )
        )
        task.add_done_callback(lambda _t: queue.put_nowait(_END))
        try:
            while True:
                event = await queue.get()
                if event is _END:
                    break
                yield event
            task.result()  # surfaces an unexpected engine error instead of ending silently
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})


def new_run_id() -> str:
    """A random UUID4 as 32 hex digits. `random` (seeded per process from the OS) instead of
    `uuid.uuid4()`: ids need uniqueness, not secrecy, and this skips a system call per run."""
    bits = getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48)
    return f"{bits | (0x4000 << 64) | (0x8000 << 48):032x}"


async def _cancel_when_set(cancel_event: asyncio.Event, run: Run) -> None:
    await cancel_event.wait()
    run.cancel()
