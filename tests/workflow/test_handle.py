"""The run handle: observers see every event and the end exactly once, however a run ends."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from snapagent.testing import GraphBuilder, function_node_type
from snapagent.workflow import (
    NodeRegistryV2,
    NodeRunStarted,
    RunEnd,
    RunFinished,
    RunStarted,
    RunStatus,
    WorkflowEvent,
    WorkflowExecutorV2,
    WorkflowGraph,
)


class Gate:
    """The `wait` node type: blocks until ``open`` is set (or it is cancelled)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = asyncio.Event()

    async def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.entered.set()
        await self.open.wait()
        return {"text": inputs["text"]}


class Watcher:
    """An observer that keeps what it saw; ``slow_end`` makes its end take a while."""

    def __init__(self, slow_end: float = 0.0, *, broken: bool = False) -> None:
        self.events: list[WorkflowEvent] = []
        self.ends: list[RunEnd] = []
        self.slow_end = slow_end
        self.broken = broken
        self.finished_ending = False

    def on_event(self, event: WorkflowEvent) -> None:
        self.events.append(event)

    async def on_end(self, end: RunEnd) -> None:
        self.ends.append(end)
        if self.broken:
            raise RuntimeError("observer down")
        await asyncio.sleep(self.slow_end)
        self.finished_ending = True


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def executor(registry: NodeRegistryV2, gate: Gate) -> WorkflowExecutorV2:
    registry.register(function_node_type("wait", {"text": "string"}, {"text": "string"}, gate))
    return WorkflowExecutorV2(registry)


def graph() -> WorkflowGraph:
    return (
        GraphBuilder()
        .node("start", "start")
        .node("w", "wait")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "w.text")
        .edge("w.text", "end.answer")
        .build()
    )


async def test_result_drives_the_run_and_observers_see_all_then_the_end_once(
    executor: WorkflowExecutorV2, gate: Gate
) -> None:
    gate.open.set()
    first, second = Watcher(), Watcher()
    handle = executor.start(graph(), {"query": "hi"}, {"run_id": "r1"}, observers=[first, second])
    assert handle.run_id == "r1"
    result = await handle.result()
    assert result.outputs == {"answer": "hi"}
    for watcher in (first, second):
        assert isinstance(watcher.events[0], RunStarted)
        assert isinstance(watcher.events[-1], RunFinished)
        assert [e.result for e in watcher.ends] == [result]
    assert await handle.result() is result  # asking again answers the same


async def test_events_and_result_of_one_run_agree(executor: WorkflowExecutorV2, gate: Gate) -> None:
    gate.open.set()
    watcher = Watcher()
    handle = executor.start(graph(), {"query": "hi"}, observers=[watcher])
    events = [event async for event in handle.events()]
    assert events == watcher.events
    finished = events[-1]
    assert isinstance(finished, RunFinished)
    assert await handle.result() is finished.result
    assert len(watcher.ends) == 1
    with pytest.raises(RuntimeError, match="already started"):
        [e async for e in handle.events()]


async def test_cancelling_the_waiting_task_still_ends_every_observer(
    executor: WorkflowExecutorV2, gate: Gate
) -> None:
    watcher = Watcher(slow_end=0.2)
    task = asyncio.create_task(
        executor.start(graph(), {"query": "hi"}, observers=[watcher]).result()
    )
    await gate.entered.wait()
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()  # a second cancellation while the observer is still ending
    with pytest.raises(asyncio.CancelledError):
        await task
    (end,) = watcher.ends
    assert end.result is None
    assert isinstance(end.exception, asyncio.CancelledError)
    assert watcher.finished_ending  # the observer's end ran to completion first


async def test_leaving_events_early_cancels_politely_and_waits_for_the_observers(
    executor: WorkflowExecutorV2, gate: Gate
) -> None:
    watcher = Watcher(slow_end=0.1)
    handle = executor.start(graph(), {"query": "hi"}, observers=[watcher])
    events = handle.events()
    async for event in events:
        if isinstance(event, NodeRunStarted) and event.node_id == "w":
            break
    await events.aclose()
    assert watcher.finished_ending  # closed only once the end was observed
    (end,) = watcher.ends
    assert end.result is not None
    assert end.result.status is RunStatus.CANCELLED
    assert end.result.nodes["w"].status == "cancelled"


async def test_cancel_before_the_start_runs_nothing(
    executor: WorkflowExecutorV2, gate: Gate
) -> None:
    watcher = Watcher()
    handle = executor.start(graph(), {"query": "hi"}, observers=[watcher])
    handle.cancel("not needed after all")
    result = await handle.result()
    assert result.status is RunStatus.CANCELLED
    assert not gate.entered.is_set()
    assert watcher.ends[0].result is result


async def test_a_broken_observer_does_not_keep_the_others_from_the_end(
    executor: WorkflowExecutorV2, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    gate.open.set()
    broken, healthy = Watcher(broken=True), Watcher()
    result = await executor.start(graph(), {"query": "x"}, observers=[broken, healthy]).result()
    assert result.status is RunStatus.SUCCEEDED
    assert [e.result for e in healthy.ends] == [result]
    assert "run observer" in caplog.text
