"""The benchmark shapes in our engine: graph JSON, three tiny node types, hand-off stamps.

The start and end nodes are the real `start` / `end` types of `snapagent.nodes`; the work in
between is done by three tiny registered node types that call the same stub functions as the
LangGraph and Haystack nodes (`_engine_shapes`), so no model or retriever is involved.

    run = build_ours(Shape.fanout())      # validates and compiles the graph once, here
    outputs = await run()                 # {"b0": "What is SnapAgent?+", ..., "b7": ...}
    gaps = await handoff_latencies_ns(Shape.chain(20), runs=100)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from _engine_harness import RunOnce, gc_paused
from _engine_shapes import QUERY, Shape, answer, branch_port, retrieve, step
from snapagent.nodes import default_registry
from snapagent.workflow.events import NodeRunStarted, NodeRunSucceeded
from snapagent.workflow.executor import WorkflowExecutorV2
from snapagent.workflow.node import BaseNodeV2, NodeRegistryV2, RunContext
from snapagent.workflow.result import RunStatus, WorkflowRunResult
from snapagent.workflow.schema import NodePortSchema, PortDefinition, WorkflowGraph
from snapagent.workflow.services import ServiceContainer
from snapagent.workflow.types import PortType

OURS = "ours"


class NoConfig(BaseModel):
    """The bench node types take no settings."""


def _ports(inputs: dict[str, PortType], outputs: dict[str, PortType]) -> NodePortSchema:
    return NodePortSchema(
        inputs=tuple(PortDefinition(name=n, type=t) for n, t in inputs.items()),
        outputs=tuple(PortDefinition(name=n, type=t) for n, t in outputs.items()),
    )


class RetrieveStubNode(BaseNodeV2[NoConfig]):
    """`query` -> fixed `documents` (the retrieval stub)."""

    type_key = "bench_retrieve"
    config_model = NoConfig

    def port_schema(self) -> NodePortSchema:
        return _ports({"query": PortType.STRING}, {"documents": PortType.DOCUMENTS})

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        return {"documents": retrieve(inputs["query"])}


class AnswerStubNode(BaseNodeV2[NoConfig]):
    """`query` + `documents` -> fixed-form `text` (the LLM stub)."""

    type_key = "bench_llm"
    config_model = NoConfig

    def port_schema(self) -> NodePortSchema:
        return _ports(
            {"query": PortType.STRING, "documents": PortType.DOCUMENTS}, {"text": PortType.STRING}
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        return {"text": answer(inputs["query"], inputs["documents"])}


class StepNode(BaseNodeV2[NoConfig]):
    """`value` -> `value` + "+" (a chain link or a fan-out branch)."""

    type_key = "bench_step"
    config_model = NoConfig

    def port_schema(self) -> NodePortSchema:
        return _ports({"value": PortType.STRING}, {"value": PortType.STRING})

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> Mapping[str, Any]:
        return {"value": step(inputs["value"])}


def bench_registry() -> NodeRegistryV2:
    """The default node types plus the three bench stubs."""
    registry = default_registry()
    for node_type in (RetrieveStubNode, AnswerStubNode, StepNode):
        registry.register(node_type)
    return registry


def _edge(source: str, source_port: str, target: str, target_port: str) -> dict[str, str]:
    return {
        "source": source,
        "source_port": source_port,
        "target": target,
        "target_port": target_port,
    }


def graph_for(shape: Shape) -> WorkflowGraph:
    """The shape as V2 graph JSON (the ARCHITECTURE.md contract), parsed."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "start", "config": {}},
        {"id": "end", "type": "end", "config": {"outputs": list(shape.output_names)}},
    ]
    edges: list[dict[str, str]] = []
    if shape.kind == "pipeline":
        nodes += [{"id": "kb", "type": "bench_retrieve"}, {"id": "llm", "type": "bench_llm"}]
        edges += [
            _edge("start", "query", "kb", "query"),
            _edge("start", "query", "llm", "query"),
            _edge("kb", "documents", "llm", "documents"),
            _edge("llm", "text", "end", "answer"),
        ]
    elif shape.kind == "chain":
        previous = ("start", "query")
        for index in range(shape.steps):
            nodes.append({"id": f"s{index}", "type": "bench_step"})
            edges.append(_edge(*previous, f"s{index}", "value"))
            previous = (f"s{index}", "value")
        edges.append(_edge(*previous, "end", "result"))
    else:
        for index in range(shape.size):
            name = branch_port(index)
            nodes.append({"id": name, "type": "bench_step"})
            edges += [_edge("start", "query", name, "value"), _edge(name, "value", "end", name)]
    return WorkflowGraph.from_json({"nodes": nodes, "edges": edges})


def executor() -> WorkflowExecutorV2:
    return WorkflowExecutorV2(bench_registry(), ServiceContainer())


def build_ours(shape: Shape) -> RunOnce:
    """Our engine running `shape`; the returned callable returns the run's outputs."""
    engine = executor()
    plan = engine.compile(graph_for(shape))  # validated and compiled once, outside the timing
    inputs = {"query": QUERY}
    sys_values: dict[str, Any] = {}

    async def run() -> dict[str, Any]:
        result = await engine.run(plan, inputs, sys_values)
        if result.status is not RunStatus.SUCCEEDED:
            raise RuntimeError(f"our engine failed {shape.name}: {result.error}")
        return result.outputs

    return run


def _predecessors(graph: WorkflowGraph) -> dict[str, set[str]]:
    before: dict[str, set[str]] = {node.id: set() for node in graph.nodes}
    for edge in graph.edges:
        before[edge.target].add(edge.source)
    return before


def result_handoffs_ns(graph: WorkflowGraph, result: WorkflowRunResult) -> list[int]:
    """Per node with predecessors: its `started_ns` minus the latest `finished_ns` among them
    (the predecessor whose finishing released it)."""
    gaps = []
    for node_id, sources in _predecessors(graph).items():
        if sources:
            released = max(result.nodes[source].finished_ns for source in sources)
            gaps.append(result.nodes[node_id].started_ns - released)
    return gaps


async def handoff_latencies_ns(shape: Shape, runs: int) -> dict[str, list[int]]:
    """Hand-off gaps over `runs` runs of `shape`, from `run()` result stamps (`"run"`) and from
    `stream()` events (`"stream"`: `NodeRunSucceeded.ns` -> successor `NodeRunStarted.ns`)."""
    engine = executor()
    graph = graph_for(shape)
    plan = engine.compile(graph)
    before = _predecessors(graph)
    gaps: dict[str, list[int]] = {"run": [], "stream": []}
    with gc_paused():  # as in the timed runs
        for _ in range(runs):
            result = await engine.run(plan, {"query": QUERY}, {})
            gaps["run"] += result_handoffs_ns(graph, result)
            finished: dict[str, int] = {}
            async for event in engine.stream(plan, {"query": QUERY}, {}):
                if isinstance(event, NodeRunSucceeded):
                    finished[event.node_id] = event.ns
                elif isinstance(event, NodeRunStarted) and before[event.node_id]:
                    released = max(finished[source] for source in before[event.node_id])
                    gaps["stream"].append(event.ns - released)
    return gaps
