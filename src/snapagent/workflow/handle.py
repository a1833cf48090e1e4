"""`WorkflowRun`: the handle of one started run - its events, its result, its cancellation -
and the `RunObserver` s that watch it.

    run = executor.start(plan, {"query": "hi"}, {"bot_id": "b1"}, observers=[recording])
    async for event in run.events():       # or: result = await run.result()
        ...
    run.cancel()                           # from anywhere; the result says cancelled

`WorkflowExecutorV2.run` is ``await start(...).result()`` and ``stream`` iterates
``start(...).events()``, so every way of running a graph goes through here.

What observers are promised, exactly:

- ``on_event`` sees every engine event as it happens (synchronously, in order). It is only
  called when the run has observers or listeners: a run nobody watches builds no events.
- ``on_end`` is awaited exactly once per started run, however it ends: with its result, or -
  when its task was cancelled from outside or the engine itself broke - with the exception
  and no result. It runs to completion even if the task driving the run is cancelled
  meanwhile (that cancellation is delivered afterwards), so a recording observer always
  records. Observers are awaited one after another in the given order; one that raises is
  logged and the next still runs.
- `result()` and the end of `events()` come after every ``on_end`` finished.

Leaving `events()` early (``break``, ``aclose()``, the consumer's cancellation) cancels the
run the polite way (`cancel()`: the result says ``cancelled``, with each node's record) and
waits for it and its observers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from snapagent.workflow.cancel_signal import CancelSignal
from snapagent.workflow.conversation import ConversationState
from snapagent.workflow.events import WorkflowEvent
from snapagent.workflow.plan import ExecutionPlan
from snapagent.workflow.replay import ReplayedNode
from snapagent.workflow.result import RunLimits, WorkflowRunResult
from snapagent.workflow.runner import EventSink, Run
from snapagent.workflow.services import ServiceContainer
from snapagent.workflow.system_names import RUN_ID

__all__ = ["RunEnd", "RunObserver", "WorkflowRun"]

log = logging.getLogger(__name__)

_END: Any = object()


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a run ended: its ``result``, or (when it produced none) the ``exception`` that
    stopped it - `asyncio.CancelledError` when its task was cancelled from outside."""

    run_id: str
    result: WorkflowRunResult | None
    exception: BaseException | None = None


class RunObserver(Protocol):
    """Watches one run; see the module docstring for what is promised."""

    def on_event(self, event: WorkflowEvent) -> None: ...

    async def on_end(self, end: RunEnd) -> None: ...


async def _finish_uncancelled(work: Awaitable[Any]) -> None:
    """Await ``work`` to its end even if the current task is cancelled meanwhile; then
    re-deliver that cancellation."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done() and task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


class WorkflowRun:
    """One run, started by `WorkflowExecutorV2.start` (which validates and compiles first).

    Nothing executes until `result()` or `events()` is called: `result()` drives the run in
    the calling task (the cheapest way: a run whose nodes never suspend costs no task
    switch), `events()` drives it in a task of its own and yields its events.
    """

    __slots__ = (
        "_args",
        "_cancel_event",
        "_cancelled",
        "_conversation",
        "_driver",
        "_extras",
        "_listeners",
        "_observers",
        "_result",
        "_run",
        "run_id",
    )

    def __init__(
        self,
        plan: ExecutionPlan,
        services: ServiceContainer,
        inputs: dict[str, Any],
        sys: dict[str, Any],
        limits: RunLimits,
        *,
        conversation: ConversationState | None = None,
        observers: Sequence[RunObserver] = (),
        on_event: EventSink | None = None,
        cancel_event: asyncio.Event | None = None,
        links: Mapping[str, Mapping[str, Any]] | None = None,
        replay: Mapping[str, ReplayedNode] | None = None,
    ) -> None:
        self.run_id = str(sys[RUN_ID])
        # The engine's run is built when it starts, once every listener is known (a run
        # without listeners builds no events at all).
        self._args = (plan, services, inputs, sys, limits)
        self._conversation = conversation
        # Debugging runs only (`snapagent.workflow.replay`): values from outside the plan and
        # recorded outcomes standing in for nodes.
        self._extras = (links, replay) if links or replay else None
        self._run: Run | None = None
        self._cancelled: str | None = None
        self._observers = tuple(observers)
        self._listeners: list[EventSink] = [o.on_event for o in self._observers]
        if on_event is not None:
            self._listeners.append(on_event)
        self._cancel_event = cancel_event
        self._driver: asyncio.Task[WorkflowRunResult] | None = None
        self._result: WorkflowRunResult | None = None

    def cancel(self, reason: str = "the run was cancelled") -> None:
        """Stop the run; it ends with status ``cancelled`` (safe from any callback, before
        the run starts too: then nothing runs)."""
        if self._run is None:
            self._cancelled = self._cancelled or reason
        else:
            self._run.cancel(reason)

    async def result(self) -> WorkflowRunResult:
        """Run to the end (or wait for the run `events()` drives) and return the result."""
        if self._result is not None:
            return self._result
        if self._driver is None:
            return await self._drive()
        try:
            return await asyncio.shield(self._driver)
        except asyncio.CancelledError:
            if self._driver.done():
                raise
            self.cancel("the caller stopped waiting for the run")
            await _finish_uncancelled(asyncio.wait({self._driver}))
            raise

    async def events(self) -> AsyncGenerator[WorkflowEvent, None]:
        """The run's events as they happen, ending with `RunFinished` (see the module doc)."""
        if self._driver is not None or self._result is not None:
            raise RuntimeError("this run was already started")
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._listeners.append(queue.put_nowait)
        driver = self._driver = asyncio.get_running_loop().create_task(self._drive())
        driver.add_done_callback(lambda _task: queue.put_nowait(_END))
        try:
            while (event := await queue.get()) is not _END:
                yield event
            driver.result()  # an unexpected engine error surfaces instead of ending silently
        finally:
            if not driver.done():
                self.cancel("the run's events were no longer read")
                await _finish_uncancelled(asyncio.wait({driver}))

    def _sink(self) -> EventSink | None:
        listeners = self._listeners
        if not listeners:
            return None
        if len(listeners) == 1:
            return listeners[0]

        def fan_out(event: WorkflowEvent) -> None:
            for listener in listeners:
                listener(event)

        return fan_out

    async def _drive(self) -> WorkflowRunResult:
        extras = self._extras
        if extras is None:
            run = Run(*self._args, self._sink(), conversation=self._conversation)
        else:
            run = Run(
                *self._args,
                self._sink(),
                conversation=self._conversation,
                links=extras[0],
                replay=extras[1],
            )
        self._run = run
        if self._cancelled is not None:
            run.cancel(self._cancelled)  # nothing starts; the result says cancelled
        cancel_event = self._cancel_event
        watcher: asyncio.Task[None] | None = None
        on_set: Callable[[], object] | None = None
        if cancel_event is not None:
            if cancel_event.is_set():
                run.cancel()
            elif isinstance(cancel_event, CancelSignal):
                # No watcher task: the signal calls back when set. The run is stopped from
                # the loop's next turn, as the watcher did, never inside whoever set it.
                on_set = partial(run.loop.call_soon, run.cancel)
                cancel_event.add_callback(on_set)
            else:
                watcher = asyncio.get_running_loop().create_task(
                    _cancel_when_set(cancel_event, run)
                )
        try:
            result = await run.execute()
        except BaseException as exc:
            await self._notify_end(RunEnd(run.run_id, None, exc))
            raise
        finally:
            if watcher is not None:
                watcher.cancel()
            elif on_set is not None:
                cancel_event.remove_callback(on_set)  # type: ignore[union-attr]
        self._result = result
        await self._notify_end(RunEnd(run.run_id, result))
        return result

    async def _notify_end(self, end: RunEnd) -> None:
        if self._observers:
            await _finish_uncancelled(_each(self._observers, end))


async def _each(observers: Sequence[RunObserver], end: RunEnd) -> None:
    for observer in observers:
        try:
            await observer.on_end(end)
        except Exception:  # one broken observer must not keep the others from the end
            log.exception("run observer %r failed at the end of run %s", observer, end.run_id)


async def _cancel_when_set(cancel_event: asyncio.Event, run: Run) -> None:
    await cancel_event.wait()
    run.cancel()
