"""The benchmark shapes built in LangGraph and in Haystack, the frameworks we measure against.

Both are installed only in the benchmark virtualenv (`make bench-venv`, the `bench` extra).
Each builder compiles its graph once, outside any timed loop (LangGraph `compile()`, one
Haystack `Pipeline`), and returns an async callable that runs it on the caller's event loop
and returns the run's outputs in the same dict shape our engine returns.

Every node is an `async def` that calls the shared stub from `_engine_shapes`, and every
graph has real start and end nodes, as ours does, so each framework executes the same number
of nodes doing the same work.

    run = build_langgraph(Shape.chain(20))
    outputs = await run()  # {"result": "What is SnapAgent?++++++++++++++++++"}
"""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

# Set before the imports: no telemetry or tracing calls leave the machine, and neither
# framework pays for tracing our engine does not do.
os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
os.environ.setdefault("LANGSMITH_TRACING", "false")
os.environ.setdefault("LANGCHAIN_TRACING_V2", "false")

from _engine_harness import RunOnce
from _engine_shapes import QUERY, Shape, answer, branch_port, retrieve, step

PEERS = ("langgraph", "haystack")


class PeerMissingError(RuntimeError):
    """A peer framework is not importable in this interpreter."""


def build_peer(framework: str, shape: Shape) -> RunOnce:
    """Build `shape` in `framework` ("langgraph" or "haystack")."""
    if framework == "langgraph":
        return build_langgraph(shape)
    if framework == "haystack":
        return build_haystack(shape)
    raise ValueError(f"unknown peer framework {framework!r}; expected one of {PEERS}")


def _missing(name: str, module: str, error: ImportError) -> PeerMissingError:
    if error.name is not None and error.name.split(".")[0] == module:
        return PeerMissingError(
            f"{name} is not installed in {sys.prefix}: run `make bench-venv` and use "
            f".bench-venv/bin/python (or pass --frameworks ours)"
        )
    # Installed, but something it imports failed (e.g. a shadowed stdlib module).
    return PeerMissingError(f"{name} is installed but could not be imported: {error!r}")


# --- LangGraph -----------------------------------------------------------------------------


def build_langgraph(shape: Shape) -> RunOnce:
    """Compile `shape` as a LangGraph `StateGraph` with one async function per node."""
    try:
        from langgraph.graph import END, START, StateGraph
    except ImportError as error:
        raise _missing("langgraph", "langgraph", error) from error

    # Which state key the end node publishes under each output name.
    sources: dict[str, str]
    if shape.kind == "pipeline":
        sources = {"answer": "text"}
    elif shape.kind == "chain":
        sources = {"result": "value"}
    else:
        sources = {name: name for name in shape.output_names}
    keys: dict[str, Any] = {"query": str, "outputs": dict, "documents": list, "text": str}
    keys.update(dict.fromkeys(sources.values(), str))
    # The state's keys depend on the shape, hence the functional TypedDict form.
    state_type: Any = TypedDict("BenchState", keys, total=False)  # type: ignore[misc]
    graph = StateGraph(state_type, output_schema=_LangGraphOutput)

    async def start(state: dict[str, Any]) -> dict[str, Any]:
        return {"query": state["query"]}

    async def end(state: dict[str, Any]) -> dict[str, Any]:
        return {"outputs": {name: state[key] for name, key in sources.items()}}

    graph.add_node("start", start)
    graph.add_node("end", end)
    graph.add_edge(START, "start")
    graph.add_edge("end", END)

    if shape.kind == "pipeline":

        async def kb(state: dict[str, Any]) -> dict[str, Any]:
            return {"documents": retrieve(state["query"])}

        async def llm(state: dict[str, Any]) -> dict[str, Any]:
            return {"text": answer(state["query"], state["documents"])}

        graph.add_node("kb", kb)
        graph.add_node("llm", llm)
        graph.add_edge("start", "kb")
        graph.add_edge("kb", "llm")
        graph.add_edge("llm", "end")
    elif shape.kind == "chain":
        previous = "start"
        for index in range(shape.steps):
            node = f"s{index}"
            graph.add_node(node, _langgraph_step("query" if index == 0 else "value", "value"))
            graph.add_edge(previous, node)
            previous = node
        graph.add_edge(previous, "end")
    else:
        for name in shape.output_names:
            graph.add_node(name, _langgraph_step("query", name))
            graph.add_edge("start", name)
        graph.add_edge(list(shape.output_names), "end")  # a join: waits for every branch

    compiled = graph.compile()
    inputs = shape.inputs()

    async def run() -> dict[str, Any]:
        result = await compiled.ainvoke(inputs)
        return dict(result["outputs"])

    return run


class _LangGraphOutput(TypedDict, total=False):
    """What a run returns: only the end node's outputs, as our engine returns."""

    outputs: dict[str, Any]


def _langgraph_step(
    source: str, target: str
) -> Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]:
    async def step_node(state: dict[str, Any]) -> dict[str, Any]:
        return {target: step(state[source])}

    return step_node


# --- Haystack ------------------------------------------------------------------------------


def build_haystack(shape: Shape) -> RunOnce:
    """Build `shape` as one Haystack `Pipeline` of async components, run with `run_async`."""
    try:
        from haystack import Pipeline, component
    except ImportError as error:
        raise _missing("haystack-ai", "haystack", error) from error

    @component
    class Start:
        @component.output_types(query=str)
        def run(self, query: str) -> dict[str, Any]:
            return {"query": query}

        @component.output_types(query=str)
        async def run_async(self, query: str) -> dict[str, Any]:
            return {"query": query}

    @component
    class Retrieve:
        @component.output_types(documents=list)
        def run(self, query: str) -> dict[str, Any]:
            return {"documents": retrieve(query)}

        @component.output_types(documents=list)
        async def run_async(self, query: str) -> dict[str, Any]:
            return {"documents": retrieve(query)}

    @component
    class Answer:
        @component.output_types(text=str)
        def run(self, query: str, documents: list) -> dict[str, Any]:  # type: ignore[type-arg]
            return {"text": answer(query, documents)}

        @component.output_types(text=str)
        async def run_async(self, query: str, documents: list) -> dict[str, Any]:  # type: ignore[type-arg]
            return {"text": answer(query, documents)}

    @component
    class Step:
        @component.output_types(value=str)
        def run(self, value: str) -> dict[str, Any]:
            return {"value": step(value)}

        @component.output_types(value=str)
        async def run_async(self, value: str) -> dict[str, Any]:
            return {"value": step(value)}

    @component
    class End:
        def __init__(self, names: tuple[str, ...]) -> None:
            self.names = names
            component.set_input_types(self, **dict.fromkeys(names, str))

        @component.output_types(outputs=dict)
        def run(self, **values: Any) -> dict[str, Any]:
            return {"outputs": values}

        @component.output_types(outputs=dict)
        async def run_async(self, **values: Any) -> dict[str, Any]:
            return {"outputs": values}

    pipeline = Pipeline()
    pipeline.add_component("start", Start())
    pipeline.add_component("end", End(shape.output_names))
    if shape.kind == "pipeline":
        pipeline.add_component("kb", Retrieve())
        pipeline.add_component("llm", Answer())
        pipeline.connect("start.query", "kb.query")
        pipeline.connect("start.query", "llm.query")
        pipeline.connect("kb.documents", "llm.documents")
        pipeline.connect("llm.text", "end.answer")
    elif shape.kind == "chain":
        previous = "start.query"
        for index in range(shape.steps):
            pipeline.add_component(f"s{index}", Step())
            pipeline.connect(previous, f"s{index}.value")
            previous = f"s{index}.value"
        pipeline.connect(previous, "end.result")
    else:
        for index in range(shape.size):
            name = branch_port(index)
            pipeline.add_component(name, Step())
            pipeline.connect("start.query", f"{name}.value")
            pipeline.connect(f"{name}.value", f"end.{name}")

    data = {"start": {"query": QUERY}}
    # Let every fan-out branch be in flight at once, as in the other two frameworks.
    concurrency = max(4, shape.node_count)

    async def run() -> dict[str, Any]:
        result = await pipeline.run_async(data, concurrency_limit=concurrency)
        return dict(result["end"]["outputs"])

    return run
