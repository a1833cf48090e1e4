"""The executor: branching, skipping, joins, concurrency, results and events."""

from __future__ import annotations

import asyncio
from typing import Any

from snapagent.testing import GraphBuilder, ScriptedChatModel, function_node_type
from snapagent.workflow import (
    NodeRegistryV2,
    NodeRunSkipped,
    NodeRunStarted,
    NodeRunSucceeded,
    NodeStatus,
    RunFinished,
    RunLimits,
    RunStarted,
    RunStatus,
    ServiceContainer,
    TextChunk,
    WorkflowEvent,
    WorkflowExecutorV2,
    WorkflowGraph,
)


def routed_graph() -> WorkflowGraph:
    """start -> if_else; true -> a -> a2, false -> b; a2 and b join into end.answer."""
    return (
        GraphBuilder()
        .node("start", "start")
        .node(
            "route",
            "if_else",
            inputs={"q": ["start", "query"]},
            cases=[{"conditions": [{"input": "q", "operator": "contains", "value": "x"}]}],
        )
        .node("a", "upper", inputs={"text": ["start", "query"]})
        .node("a2", "upper")
        .node("b", "count", inputs={"text": ["start", "query"]})
        .node("end", "end", outputs=["answer"])
        .edge("route.true", "a")
        .edge("a.text", "a2.text")
        .edge("route.false", "b")
        .edge("a2.text", "end.answer")
        .edge("b.n", "end.answer")
        .build()
    )


async def collect(
    executor: WorkflowExecutorV2, graph: WorkflowGraph, **inputs: Any
) -> list[WorkflowEvent]:
    return [event async for event in executor.stream(graph, inputs, {})]


async def test_true_branch_runs_and_false_branch_is_skipped(executor: WorkflowExecutorV2) -> None:
    result = await executor.run(routed_graph(), {"query": "xyz"}, {})
    assert result.status is RunStatus.SUCCEEDED
    assert result.outputs == {"answer": "XYZ"}
    status = {n: r.status for n, r in result.nodes.items()}
    assert status == {
        "start": NodeStatus.SUCCEEDED,
        "route": NodeStatus.SUCCEEDED,
        "a": NodeStatus.SUCCEEDED,
        "a2": NodeStatus.SUCCEEDED,
        "b": NodeStatus.SKIPPED,
        "end": NodeStatus.SUCCEEDED,
    }
    assert result.nodes["route"].branch == "true"


async def test_skipping_propagates_down_the_untaken_branch(executor: WorkflowExecutorV2) -> None:
    result = await executor.run(routed_graph(), {"query": "hello"}, {})
    assert result.outputs == {"answer": 5}
    assert result.nodes["a"].status is NodeStatus.SKIPPED
    assert result.nodes["a2"].status is NodeStatus.SKIPPED
    assert result.nodes["a2"].skip_reason
    assert "branch" in result.nodes["a2"].skip_reason
    assert result.nodes["end"].inputs == {"answer": 5}


async def test_events_are_ordered_and_serialisable(executor: WorkflowExecutorV2) -> None:
    events = await collect(executor, routed_graph(), query="hello")
    assert isinstance(events[0], RunStarted)
    assert isinstance(events[-1], RunFinished)
    skipped = {e.node_id for e in events if isinstance(e, NodeRunSkipped)}
    assert skipped == {"a", "a2"}
    started = [e.node_id for e in events if isinstance(e, NodeRunStarted)]
    assert started == ["start", "route", "b", "end"]
    for event in events:
        data = event.to_dict()
        assert data["event"] == event.event
        assert isinstance(data["ns"], int)
    finished = events[-1].to_dict()["result"]
    assert finished["status"] == "succeeded"
    assert [n["node_id"] for n in finished["nodes"]][:4] == ["start", "route", "b", "end"]


async def test_node_never_starts_before_its_inputs_finish(executor: WorkflowExecutorV2) -> None:
    events = await collect(executor, routed_graph(), query="xx")
    order = [(type(e).__name__, getattr(e, "node_id", None)) for e in events]
    assert order.index(("NodeRunSucceeded", "a")) < order.index(("NodeRunStarted", "a2"))
    assert order.index(("NodeRunSucceeded", "a2")) < order.index(("NodeRunStarted", "end"))


def rendezvous_registry(
    registry: NodeRegistryV2,
) -> tuple[NodeRegistryV2, dict[str, asyncio.Event]]:
    """Two node types that can only finish if they run at the same time: each signals its own
    event and then waits for the other's."""
    gates = {"left": asyncio.Event(), "right": asyncio.Event()}

    def meet(mine: str, other: str) -> Any:
        async def run(inputs: dict[str, Any]) -> dict[str, Any]:
            gates[mine].set()
            await gates[other].wait()
            return {"text": f"{mine}:{inputs['text']}"}

        return run

    registry.register(
        function_node_type("left", {"text": "string"}, {"text": "string"}, meet("left", "right"))
    )
    registry.register(
        function_node_type("right", {"text": "string"}, {"text": "string"}, meet("right", "left"))
    )
    return registry, gates


def parallel_graph() -> WorkflowGraph:
    return (
        GraphBuilder()
        .node("start", "start")
        .node("l", "left")
        .node("r", "right")
        .node("join", "template", template="{{ a }}|{{ b }}")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "l.text")
        .edge("start.query", "r.text")
        .edge("l.text", "join.a")
        .edge("r.text", "join.b")
        .edge("join.text", "end.answer")
        .build()
    )


async def test_independent_branches_run_concurrently(
    registry: NodeRegistryV2, services: ServiceContainer
) -> None:
    registry, _gates = rendezvous_registry(registry)
    executor = WorkflowExecutorV2(registry, services, limits=RunLimits(max_duration_s=10))
    events = await collect(executor, parallel_graph(), query="q")
    kinds = [(type(e).__name__, getattr(e, "node_id", None)) for e in events]
    # Both branches started before either finished: they were running at the same time.
    first_success = min(kinds.index(("NodeRunSucceeded", n)) for n in ("l", "r"))
    assert kinds.index(("NodeRunStarted", "l")) < first_success
    assert kinds.index(("NodeRunStarted", "r")) < first_success
    result = events[-1]
    assert isinstance(result, RunFinished)
    assert result.result.outputs == {"answer": "left:q|right:q"}
    assert result.result.nodes["join"].index == 3


async def test_result_records_inputs_outputs_usage_and_order(
    executor: WorkflowExecutorV2, model: ScriptedChatModel
) -> None:
    model.enqueue("Paris.")
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("llm", "llm", prompt="Q: {{ query }}")
        .node("end", "end", outputs=["answer", "usage"])
        .edge("start.query", "llm.query")
        .edge("llm.text", "end.answer")
        .edge("llm.usage", "end.usage")
        .build()
    )
    result = await executor.run(graph, {"query": "capital of France"}, {"run_id": "run-7"})
    assert result.succeeded
    assert result.run_id == "run-7"
    llm = result.nodes["llm"]
    assert llm.inputs["query"] == "capital of France"
    assert llm.outputs["text"] == "Paris."
    assert llm.usage.output_tokens == 1
    assert llm.usage.input_tokens == 4
    assert result.usage == llm.usage
    assert result.outputs["usage"]["total_tokens"] == 5
    assert [n.index for n in result.ordered_nodes()] == [0, 1, 2]
    assert all(n.finished_ns >= n.started_ns > 0 for n in result.nodes.values())
    assert result.to_dict()["nodes"][1]["usage"]["output_tokens"] == 1


async def test_text_chunks_stream_before_the_model_finishes(
    executor: WorkflowExecutorV2, model: ScriptedChatModel
) -> None:
    model.enqueue("one two three four", chunk_size=4, chunk_delay_s=0.01)
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("llm", "llm")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "llm.query")
        .edge("llm.text", "end.answer")
        .build()
    )
    chunks: list[str] = []
    usage_at_first_chunk = None
    async for event in executor.stream(graph, {"query": "count"}, {}):
        if isinstance(event, TextChunk):
            if not chunks:
                usage_at_first_chunk = model.total_usage.total_tokens
            chunks.append(event.text)
        if isinstance(event, NodeRunSucceeded) and event.node_id == "llm":
            assert "".join(chunks) == "one two three four"
    assert chunks == ["one ", "two ", "thre", "e fo", "ur"]
    assert usage_at_first_chunk == 0  # the model had not finished when the chunk arrived


async def test_plan_is_compiled_once_per_graph(executor: WorkflowExecutorV2) -> None:
    graph = routed_graph()
    assert executor.compile(graph) is executor.compile(graph)
    plan = executor.compile(graph)
    result = await executor.run(plan, {"query": "x"}, {})
    assert result.outputs == {"answer": "X"}


async def test_sys_values_are_readable_by_selector(executor: WorkflowExecutorV2) -> None:
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("t", "template", template="{{ bot }}/{{ q }}", inputs={"bot": ["sys", "bot_id"]})
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "t.q")
        .edge("t.text", "end.answer")
        .build()
    )
    result = await executor.run(graph, {"query": "hi"}, {"bot_id": "bot-1"})
    assert result.outputs == {"answer": "bot-1/hi"}


async def test_value_size_cap(registry: NodeRegistryV2, services: ServiceContainer) -> None:
    executor = WorkflowExecutorV2(registry, services, limits=RunLimits(max_value_bytes=10))
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "end.answer")
        .build()
    )
    result = await executor.run(graph, {"query": "x" * 11}, {})
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert "10 byte limit" in result.error.message
    assert (await executor.run(graph, {"query": "short"}, {})).succeeded


async def test_nodes_keep_their_own_task_across_awaits(registry: NodeRegistryV2) -> None:
    """Nodes start inline; one that suspends must stay in the task it started in, so
    `asyncio.timeout` / `current_task()` inside it keep referring to the right task."""
    seen: dict[str, bool] = {}

    def node(name: str) -> Any:
        async def run(inputs: dict[str, Any]) -> dict[str, Any]:
            before = asyncio.current_task()
            try:
                async with asyncio.timeout(0.01):
                    await asyncio.sleep(5)
            except TimeoutError:
                pass
            seen[name] = asyncio.current_task() is before
            return {"text": name}

        return run

    for name in ("p", "q", "r"):
        registry.register(
            function_node_type(name, {"text": "string"}, {"text": "string"}, node(name))
        )
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("p", "p")
        .node("q", "q")
        .node("r", "r")
        .node("end", "end", outputs=["a", "b", "c"])
        .edge("start.query", "p.text")
        .edge("start.query", "q.text")
        .edge("start.query", "r.text")
        .edge("p.text", "end.a")
        .edge("q.text", "end.b")
        .edge("r.text", "end.c")
        .build()
    )
    result = await WorkflowExecutorV2(registry).run(graph, {"query": "x"}, {})
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs == {"a": "p", "b": "q", "c": "r"}
    assert seen == {"p": True, "q": True, "r": True}


async def test_a_finished_run_leaves_no_reference_cycles() -> None:
    """Runs are freed by reference counting, not left to the cyclic GC (a cycle per run costs
    every chat a collection's work)."""
    import gc

    from snapagent.nodes import default_registry

    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("fmt", "template", template="{{ q }}!")
        .node("end", "end", outputs=["answer"])
        .edge("start.query", "fmt.q")
        .edge("fmt.text", "end.answer")
        .build()
    )
    executor = WorkflowExecutorV2(default_registry())
    await executor.run(graph, {"query": "warm"})
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            result = await executor.run(graph, {"query": "hi"})
        assert result.outputs == {"answer": "hi!"}
        assert gc.collect() == 0
    finally:
        gc.enable()
