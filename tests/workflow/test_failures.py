"""Timeouts, retries, error strategies, run limits and cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from snapagent.errors import NodeExecutionError
from snapagent.testing import GraphBuilder, function_node_type
from snapagent.workflow import (
    NodeRegistryV2,
    NodeRunCancelled,
    NodeRunFailed,
    NodeRunRetrying,
    NodeRunStarted,
    NodeRunSucceeded,
    NodeStatus,
    RunError,
    RunFinished,
    RunLimits,
    RunStatus,
    ServiceContainer,
    WorkflowExecutorV2,
    WorkflowGraph,
)


class Script:
    """Behaviour of the `work` node type, set per test."""

    def __init__(self) -> None:
        self.failures_left = 0
        self.block: asyncio.Event | None = None
        self.started = asyncio.Event()
        self.cancelled = False
        self.calls = 0

    async def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        self.started.set()
        try:
            if self.block is not None:
                await self.block.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.failures_left:
            self.failures_left -= 1
            raise NodeExecutionError(f"attempt {self.calls} failed")
        return {"text": f"done:{inputs['text']}"}


@pytest.fixture
def script() -> Script:
    return Script()


@pytest.fixture
def fail_registry(registry: NodeRegistryV2, script: Script) -> NodeRegistryV2:
    registry.register(function_node_type("work", {"text": "string"}, {"text": "string"}, script))
    return registry


def work_graph(**settings: Any) -> WorkflowGraph:
    return (
        GraphBuilder()
        .node("start", "start")
        .node("w", "work", settings=settings)
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "w.text")
        .edge("w.text", "end.answer")
        .build()
    )


def make(registry: NodeRegistryV2, services: ServiceContainer, **limits: Any) -> WorkflowExecutorV2:
    return WorkflowExecutorV2(registry, services, limits=RunLimits(**limits))


async def test_timeout_fails_the_node(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()  # never set
    result = await make(fail_registry, services).run(work_graph(timeout_s=0.02), {"query": "q"})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "NodeTimeoutError"
    assert "timed out after 0.02 s" in result.error.message
    assert result.nodes["w"].status is NodeStatus.FAILED
    assert script.cancelled
    assert result.nodes["end"].status is NodeStatus.SKIPPED


async def test_retry_until_success(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.failures_left = 2
    executor = make(fail_registry, services)
    events = [
        e async for e in executor.stream(work_graph(retry={"max_retries": 3}), {"query": "q"})
    ]
    retries = [e for e in events if isinstance(e, NodeRunRetrying)]
    assert [(e.retry, e.error.message) for e in retries] == [
        (1, "attempt 1 failed"),
        (2, "attempt 2 failed"),
    ]
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.result.outputs == {"answer": "done:q"}
    assert final.result.nodes["w"].retries == 2


async def test_retries_exhausted_fail_the_run(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.failures_left = 5
    result = await make(fail_registry, services).run(
        work_graph(retry={"max_retries": 1}), {"query": "q"}
    )
    assert result.status is RunStatus.FAILED
    assert script.calls == 2
    assert result.nodes["w"].retries == 1


async def test_retry_backoff_does_not_block_other_branches(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.failures_left = 1
    other_ran = asyncio.Event()

    async def other(inputs: dict[str, Any]) -> dict[str, Any]:
        await script.started.wait()  # begins while `w` is failing / backing off
        other_ran.set()
        return {"text": "other"}

    fail_registry.register(
        function_node_type("other", {"text": "string"}, {"text": "string"}, other)
    )
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("w", "work", settings={"retry": {"max_retries": 1, "backoff_s": 0.2}})
        .node("o", "other")
        .node("end", "end", outputs=["a", "b"])
        .edge("start.query", "w.text")
        .edge("start.query", "o.text")
        .edge("w.text", "end.a")
        .edge("o.text", "end.b")
        .build()
    )
    order = [
        (type(e).__name__, getattr(e, "node_id", None))
        async for e in make(fail_registry, services).stream(graph, {"query": "q"})
    ]
    assert order.index(("NodeRunRetrying", "w")) < order.index(("NodeRunSucceeded", "o"))
    assert order.index(("NodeRunSucceeded", "o")) < order.index(("NodeRunSucceeded", "w"))


async def test_default_value_strategy(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.failures_left = 1
    graph = work_graph(error_strategy="default_value", default_outputs={"text": "fallback"})
    events = [e async for e in make(fail_registry, services).stream(graph, {"query": "q"})]
    failed = [e for e in events if isinstance(e, NodeRunFailed)]
    assert len(failed) == 1
    assert not failed[0].routed_to_fail_branch
    ok = next(e for e in events if isinstance(e, NodeRunSucceeded) and e.node_id == "w")
    assert ok.used_default
    assert ok.outputs == {"text": "fallback"}
    result = events[-1]
    assert isinstance(result, RunFinished)
    assert result.result.status is RunStatus.SUCCEEDED
    assert result.result.outputs == {"answer": "fallback"}
    record = result.result.nodes["w"]
    assert record.used_default
    assert record.error is not None
    assert record.status is NodeStatus.SUCCEEDED


async def test_fail_branch_strategy_routes_the_error(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("w", "work", settings={"error_strategy": "fail_branch"})
        .node("apology", "template", template="sorry ({{ e.message }})")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "w.text")
        .edge("w.error", "apology.e")
        .edge("w.text", "end.answer")
        .edge("apology.text", "end.answer")
        .build()
    )
    executor = make(fail_registry, services)
    script.failures_left = 1
    failed = await executor.run(graph, {"query": "q"})
    assert failed.status is RunStatus.SUCCEEDED
    assert failed.outputs == {"answer": "sorry (attempt 1 failed)"}
    assert failed.nodes["w"].status is NodeStatus.FAILED
    assert failed.nodes["w"].outputs["error"]["type"] == "NodeExecutionError"
    ok = await executor.run(graph, {"query": "q"})
    assert ok.outputs == {"answer": "done:q"}
    assert ok.nodes["apology"].status is NodeStatus.SKIPPED


async def test_fail_run_cancels_running_nodes_and_skips_the_rest(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()

    async def boom(inputs: dict[str, Any]) -> dict[str, Any]:
        await script.started.wait()
        raise NodeExecutionError("boom")

    fail_registry.register(function_node_type("boom", {"text": "string"}, {"text": "string"}, boom))
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("w", "work")
        .node("b", "boom")
        .node("after", "upper")
        .node("end", "end", outputs=["a", "b"])
        .edge("start.query", "w.text")
        .edge("start.query", "b.text")
        .edge("w.text", "after.text")
        .edge("after.text", "end.a")
        .edge("b.text", "end.b")
        .build()
    )
    result = await make(fail_registry, services).run(graph, {"query": "q"})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.message == "boom"
    assert result.error.node_id == "b"
    assert result.nodes["w"].status is NodeStatus.CANCELLED
    assert script.cancelled
    assert result.nodes["after"].status is NodeStatus.SKIPPED
    assert result.nodes["end"].status is NodeStatus.SKIPPED


async def test_max_steps(registry: NodeRegistryV2, services: ServiceContainer) -> None:
    builder = GraphBuilder().node("start", "start").node("end", "end", outputs=["answer"])
    previous = "start.query"
    for i in range(5):
        builder.node(f"u{i}", "upper").edge(previous, f"u{i}.text")
        previous = f"u{i}.text"
    graph = builder.edge(previous, "end.answer").build()
    assert (await make(registry, services, max_steps=7).run(graph, {"query": "q"})).succeeded
    result = await make(registry, services, max_steps=4).run(graph, {"query": "q"})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "RunLimitError"
    assert "maximum of 4 steps" in result.error.message
    assert result.nodes["u3"].status is NodeStatus.FAILED
    assert result.nodes["u4"].status is NodeStatus.SKIPPED


async def test_max_duration(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()
    result = await make(fail_registry, services, max_duration_s=0.02).run(
        work_graph(), {"query": "q"}
    )
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "maximum duration" in result.error.message
    assert result.nodes["w"].status is NodeStatus.CANCELLED
    assert script.cancelled


async def test_cancel_event_gives_a_cancelled_result(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()
    cancel = asyncio.Event()
    executor = make(fail_registry, services)
    task = asyncio.create_task(executor.run(work_graph(), {"query": "q"}, cancel_event=cancel))
    await script.started.wait()
    cancel.set()
    result = await task
    assert result.status is RunStatus.CANCELLED
    assert result.nodes["w"].status is NodeStatus.CANCELLED
    assert script.cancelled
    assert result.nodes["end"].status is NodeStatus.SKIPPED
    assert asyncio.current_task() is not None
    assert not asyncio.current_task().cancelling()


async def test_cancel_event_while_the_caller_is_running_the_node(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    """The node runs inside the awaiting task itself; the task must not stay cancelled."""
    script.block = asyncio.Event()
    cancel = asyncio.Event()
    asyncio.get_running_loop().call_later(0.01, cancel.set)
    result = await make(fail_registry, services).run(
        work_graph(), {"query": "q"}, cancel_event=cancel
    )
    assert result.status is RunStatus.CANCELLED
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0)  # would raise CancelledError if a cancel request leaked


async def test_task_cancellation_propagates_and_stops_nodes(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()
    task = asyncio.create_task(make(fail_registry, services).run(work_graph(), {"query": "q"}))
    await script.started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert script.cancelled


async def test_leaving_a_stream_early_cancels_the_run(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()
    stream = make(fail_registry, services).stream(work_graph(), {"query": "q"})
    async for event in stream:
        if isinstance(event, NodeRunStarted) and event.node_id == "w":
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert script.cancelled


async def test_stream_reports_cancelled_nodes(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()
    cancel = asyncio.Event()
    events = []
    async for event in make(fail_registry, services).stream(
        work_graph(), {"query": "q"}, cancel_event=cancel
    ):
        events.append(event)
        if isinstance(event, NodeRunStarted) and event.node_id == "w":
            cancel.set()
    assert any(isinstance(e, NodeRunCancelled) and e.node_id == "w" for e in events)
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.result.status is RunStatus.CANCELLED


async def test_cancel_event_set_before_the_run(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    cancel = asyncio.Event()
    cancel.set()
    result = await make(fail_registry, services).run(
        work_graph(), {"query": "q"}, cancel_event=cancel
    )
    assert result.status is RunStatus.CANCELLED
    assert {r.status for r in result.nodes.values()} == {NodeStatus.SKIPPED}
    assert script.calls == 0


async def test_a_node_that_swallows_cancellation_leaves_the_caller_clean(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    async def stubborn(inputs: dict[str, Any]) -> dict[str, Any]:
        with contextlib.suppress(asyncio.CancelledError):  # a badly behaved node
            await asyncio.sleep(10)
        return {"text": "ignored the cancel"}

    async def boom(inputs: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0)
        raise NodeExecutionError("boom")

    fail_registry.register(
        function_node_type("stubborn", {"text": "string"}, {"text": "string"}, stubborn)
    )
    fail_registry.register(function_node_type("boom", {"text": "string"}, {"text": "string"}, boom))
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("b", "boom")
        .node("s", "stubborn")
        .node("end", "end", outputs=["a", "b"])
        # Edge order makes `s` run in the caller's own task (ready nodes are taken last-first).
        .edge("start.query", "b.text")
        .edge("start.query", "s.text")
        .edge("s.text", "end.a")
        .edge("b.text", "end.b")
        .build()
    )
    result = await make(fail_registry, services).run(graph, {"query": "q"})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.message == "boom"
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0
    await asyncio.sleep(0)


async def test_a_raising_event_sink_surfaces_and_stops_the_run(
    fail_registry: NodeRegistryV2, services: ServiceContainer, script: Script
) -> None:
    script.block = asyncio.Event()

    def sink(event: Any) -> None:
        if isinstance(event, NodeRunStarted) and event.node_id == "w":
            raise RuntimeError("sink broke")

    with pytest.raises(RuntimeError, match="sink broke"):
        await make(fail_registry, services).run(work_graph(), {"query": "q"}, on_event=sink)
    assert script.calls == 0


async def test_required_input_left_without_a_value_fails_the_node(
    registry: NodeRegistryV2, services: ServiceContainer
) -> None:
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node(
            "route",
            "if_else",
            inputs={"q": ["start", "query"]},
            cases=[{"conditions": [{"input": "q", "operator": "is_empty"}]}],
        )
        .node("a", "upper", inputs={"text": ["start", "query"]})
        .node("t", "template", template="{{ x }}", inputs={"x": ["a", "text"]})
        .node("end", "end", outputs=["answer"])
        .edge("route.true", "a")
        .edge("start", "t")
        .edge("t.text", "end.answer")
        .build()
    )
    events = [e async for e in make(registry, services).stream(graph, {"query": "q"})]
    about_t = [type(e).__name__ for e in events if getattr(e, "node_id", None) == "t"]
    assert about_t == ["NodeRunStarted", "NodeRunFailed"]
    final = events[-1]
    assert isinstance(final, RunFinished)
    assert final.result.status is RunStatus.FAILED
    error = final.result.error
    assert error is not None
    assert error.type == "VariableError"
    assert error.node_id == "t"
    assert "required input 'x'" in error.message


async def test_max_duration_also_stops_a_run_that_never_waits(
    registry: NodeRegistryV2, services: ServiceContainer
) -> None:
    """A timer cannot interrupt nodes that never suspend; the step check still stops the run."""

    def busy(inputs: dict[str, Any]) -> dict[str, Any]:
        time.sleep(0.12)  # blocking on purpose: no await, no timer can fire
        return {"text": inputs["text"]}

    registry.register(function_node_type("busy", {"text": "string"}, {"text": "string"}, busy))
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("b1", "busy")
        .node("b2", "busy")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "b1.text")
        .edge("b1.text", "b2.text")
        .edge("b2.text", "end.answer")
        .build()
    )
    result = await make(registry, services, max_duration_s=0.06).run(graph, {"query": "q"})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "maximum duration" in result.error.message
    assert result.nodes["b1"].status is NodeStatus.SUCCEEDED
    assert result.nodes["b2"].status is NodeStatus.FAILED


async def test_a_node_returning_a_non_mapping_fails_clearly(
    registry: NodeRegistryV2, services: ServiceContainer
) -> None:
    registry.register(
        function_node_type("bad", {"text": "string"}, {"text": "string"}, lambda i: "oops")
    )
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("b", "bad")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "b.text")
        .edge("b.text", "end.answer")
        .build()
    )
    result = await make(registry, services).run(graph, {"query": "q"})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "returned str" in result.error.message
    assert result.error.node_id == "b"


def test_long_error_messages_are_truncated() -> None:
    error = RunError.from_exception(RuntimeError("x" * 10_000))
    assert len(error.message) < 4_100
    assert error.message.endswith("(truncated)")
