"""Building small Dify exports in tests, converting them, running the result.

doc = workflow_doc([start(), llm_node("llm", "{{#start.q#}}"), end_node("end", ["llm", "text"])],
                   chain("start", "llm", "end"))
bot = convert(doc)                     # ConvertedBot (graph validated by `valid`)
result = await run(bot.graph, "hello") # WorkflowRunResult with the offline model
"""

from __future__ import annotations

import itertools
from typing import Any

from snapagent.interop.converted import ConvertedBot
from snapagent.interop.dify.context import ConvertOptions
from snapagent.interop.dify.reader import read_dify
from snapagent.llm import ChatModelRegistry
from snapagent.nodes import default_registry
from snapagent.testing import InMemoryRetriever
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2, WorkflowGraph
from snapagent.workflow.result import WorkflowRunResult
from snapagent.workflow.validation import validate_graph

REGISTRY = default_registry()


def node(node_id: str, kind: str, **data: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "position": {"x": 0, "y": 0},
        "data": {"type": kind, "title": node_id, **data},
    }


def start(*variables: dict[str, Any], node_id: str = "start") -> dict[str, Any]:
    return node(node_id, "start", variables=list(variables))


def variable(name: str, kind: str = "text-input", **extra: Any) -> dict[str, Any]:
    return {"variable": name, "label": name, "type": kind, **extra}


def end_node(node_id: str, **outputs: list[str]) -> dict[str, Any]:
    return node(
        node_id,
        "end",
        outputs=[{"variable": k, "value_selector": v} for k, v in outputs.items()],
    )


def edge(source: str, target: str, handle: str = "source") -> dict[str, Any]:
    return {
        "id": f"{source}-{handle}-{target}",
        "source": source,
        "sourceHandle": handle,
        "target": target,
        "targetHandle": "target",
        "type": "custom",
    }


def chain(*ids: str) -> list[dict[str, Any]]:
    return [edge(a, b) for a, b in itertools.pairwise(ids)]


def workflow_doc(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    *,
    mode: str = "workflow",
    version: str = "0.3.1",
    **workflow: Any,
) -> dict[str, Any]:
    return {
        "app": {"name": "Test app", "mode": mode, "description": "d"},
        "kind": "app",
        "version": version,
        "workflow": {"graph": {"nodes": nodes, "edges": edges}, **workflow},
    }


def convert(
    doc: dict[str, Any], *, override: str | None = "offline", valid: bool = True
) -> ConvertedBot:
    bot = read_dify(
        doc, ConvertOptions(model_override=override, node_types=frozenset(REGISTRY.type_keys))
    )
    if valid:
        problems = validate_graph(WorkflowGraph.from_json(bot.graph), REGISTRY)
        assert not problems, [p.message for p in problems]
    return bot


def messages(bot: ConvertedBot) -> list[str]:
    return [item.message for item in bot.report.items]


def find(graph: dict[str, Any], node_id: str) -> dict[str, Any]:
    for item in graph["nodes"]:
        if item["id"] == node_id:
            return item
        body = item.get("config", {}).get("graph")
        if isinstance(body, dict):
            try:
                return find(body, node_id)
            except KeyError:
                pass
    raise KeyError(node_id)


async def run(
    graph: dict[str, Any],
    query: str = "hello",
    *,
    inputs: dict[str, Any] | None = None,
    conversation: dict[str, Any] | None = None,
) -> WorkflowRunResult:
    """Run a converted graph with the offline model (code nodes in the real sandbox)."""
    services = ServiceContainer(chat_models=ChatModelRegistry(), retriever=InMemoryRetriever())
    executor = WorkflowExecutorV2(REGISTRY, services)
    values = {"query": query, "session_id": "s", "history": [], **(inputs or {})}
    sys = {"bot_id": "b", "run_id": "r", "user_id": "u", "owner_id": "o"}
    return await executor.run(
        WorkflowGraph.from_json(graph), values, sys, conversation=conversation
    )
