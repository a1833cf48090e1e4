"""`CancelSignal`: a run given one stops when it is set - without a watcher task - and
forgets it afterwards; it still behaves as the `asyncio.Event` it is."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from snapagent.testing import GraphBuilder, function_node_type
from snapagent.workflow import (
    CancelSignal,
    NodeRegistryV2,
    NodeStatus,
    RunEnd,
    RunStatus,
    WorkflowEvent,
    WorkflowExecutorV2,
    WorkflowGraph,
)


class Block:
    """The `block` node type: waits until cancelled (or ``open`` is set)."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.entered = asyncio.Event()
        self.cancelled = False

    async def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.entered.set()
        try:
            await self.open.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return {"text": inputs["text"]}


@pytest.fixture
def block() -> Block:
    return Block()


@pytest.fixture
def executor(registry: NodeRegistryV2, block: Block) -> WorkflowExecutorV2:
    registry.register(function_node_type("block", {"text": "string"}, {"text": "string"}, block))
    return WorkflowExecutorV2(registry)


def graph() -> WorkflowGraph:
    return (
        GraphBuilder()
        .node("start", "start")
        .node("b", "block")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "b.text")
        .edge("b.text", "end.answer")
        .build()
    )


def _tasks() -> int:
    return len(asyncio.all_tasks())


async def test_setting_the_signal_stops_the_run_without_a_watcher_task(
    executor: WorkflowExecutorV2, block: Block
) -> None:
    cancel = CancelSignal()
    before = _tasks()
    task = asyncio.create_task(executor.run(graph(), {"query": "q"}, cancel_event=cancel))
    await block.entered.wait()
    assert _tasks() == before + 1  # the run's own task only: nothing waits on the signal
    cancel.set()
    result = await asyncio.wait_for(task, 5)
    assert result.status is RunStatus.CANCELLED
    assert result.nodes["b"].status is NodeStatus.CANCELLED
    assert block.cancelled
    assert cancel._callbacks == []  # the run forgot the signal when it ended


async def test_a_run_that_ended_is_not_touched_by_a_later_set(
    executor: WorkflowExecutorV2, block: Block
) -> None:
    block.open.set()
    cancel = CancelSignal()
    result = await executor.run(graph(), {"query": "q"}, cancel_event=cancel)
    assert result.status is RunStatus.SUCCEEDED
    assert cancel._callbacks == []
    cancel.set()  # nothing left to call
    assert cancel.is_set()


async def test_a_signal_set_by_a_node_of_the_run_itself_stops_it(
    registry: NodeRegistryV2,
) -> None:
    """The run is stopped from the loop's next turn, not inside whoever set the signal."""
    cancel = CancelSignal()
    reached: list[str] = []

    async def cancel_then_wait(inputs: dict[str, Any]) -> dict[str, Any]:
        cancel.set()
        reached.append("set")  # setting it did not interrupt this node on the spot
        await asyncio.sleep(60)
        return {"text": inputs["text"]}

    registry.register(
        function_node_type("block", {"text": "string"}, {"text": "string"}, cancel_then_wait)
    )
    result = await asyncio.wait_for(
        WorkflowExecutorV2(registry).run(graph(), {"query": "q"}, cancel_event=cancel), 5
    )
    assert reached == ["set"]
    assert result.status is RunStatus.CANCELLED
    assert result.nodes["b"].status is NodeStatus.CANCELLED


async def test_a_plain_event_still_works(executor: WorkflowExecutorV2, block: Block) -> None:
    cancel = asyncio.Event()
    task = asyncio.create_task(executor.run(graph(), {"query": "q"}, cancel_event=cancel))
    await block.entered.wait()
    cancel.set()
    assert (await asyncio.wait_for(task, 5)).status is RunStatus.CANCELLED


async def test_it_is_an_event_and_a_broken_callback_does_not_stop_the_others() -> None:
    signal = CancelSignal()
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("callback down")

    signal.add_callback(broken)
    signal.add_callback(lambda: calls.append("second"))
    waiter = asyncio.create_task(signal.wait())
    await asyncio.sleep(0)
    signal.set()
    signal.set()  # once only
    await asyncio.wait_for(waiter, 5)
    assert calls == ["second"]
    signal.remove_callback(broken)
    signal.remove_callback(broken)  # no error
    signal.clear()
    assert not signal.is_set()


class _SlowEnd:
    """An observer whose end waits a while, as a group commit does."""

    def __init__(self) -> None:
        self.ends: list[RunEnd] = []
        self.finished = False

        self.ending = asyncio.Event()

    def on_event(self, event: WorkflowEvent) -> None:
        return None

    async def on_end(self, end: RunEnd) -> None:
        self.ends.append(end)
        self.ending.set()
        await asyncio.sleep(0.1)
        self.finished = True


async def test_a_caller_cancelled_during_the_end_still_gets_the_end_finished(
    executor: WorkflowExecutorV2, block: Block
) -> None:
    """A signal-cancelled run whose caller is then cancelled while the observers end: the
    end runs to completion, then the caller's cancellation is delivered."""
    cancel = CancelSignal()
    observer = _SlowEnd()
    handle = executor.start(graph(), {"query": "q"}, observers=[observer], cancel_event=cancel)
    task = asyncio.create_task(handle.result())
    await block.entered.wait()
    cancel.set()
    await asyncio.wait_for(observer.ending.wait(), 5)
    task.cancel()  # while the observer's end is running
    with pytest.raises(asyncio.CancelledError):
        await task
    assert observer.finished
    (end,) = observer.ends
    assert end.result is not None
    assert end.result.status is RunStatus.CANCELLED
