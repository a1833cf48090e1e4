"""What the agent tests share: graphs around one agent node, the tools they configure against
the local servers, and a run of one agent node with its streamed text collected."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from snapagent.netguard import get_http_settings
from snapagent.nodes import default_registry
from snapagent.nodes.settings import get_node_settings
from snapagent.testing.http_server import LocalHttpServer
from snapagent.workflow import NodeResult, RunContext, ServiceContainer, WorkflowGraph

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_id": {"type": "integer", "description": "the order number"}},
    "required": ["order_id"],
}


def http_tool(server: LocalHttpServer, path: str = "/echo", **config: Any) -> dict[str, Any]:
    """An HTTP tool named ``get_order`` calling ``path`` on the local server."""
    return {
        "type": "http",
        "name": "get_order",
        "description": "Look up an order by its number",
        "parameters": ORDER_SCHEMA,
        "url": server.url(path),
        **config,
    }


def knowledge_tool(*kb_ids: str, **config: Any) -> dict[str, Any]:
    return {
        "type": "knowledge",
        "knowledge_base_ids": list(kb_ids or ["kb-1"]),
        "name": "search_policies",
        "description": "Search the shop's refund and shipping policies",
        **config,
    }


@dataclass
class AgentRun:
    """One agent node run: its result and the text it streamed."""

    result: NodeResult
    chunks: list[str] = field(default_factory=list)

    @property
    def outputs(self) -> dict[str, Any]:
        return dict(self.result.outputs)

    @property
    def streamed(self) -> str:
        return "".join(self.chunks)


async def run_agent(
    services: ServiceContainer,
    config: dict[str, Any],
    query: str = "Where is order 7?",
    *,
    inputs: dict[str, Any] | None = None,
    sys: dict[str, Any] | None = None,
    run_inputs: dict[str, Any] | None = None,
) -> AgentRun:
    node = default_registry().create("agent", "agent", config)
    chunks: list[str] = []
    ctx = RunContext(
        services,
        run_inputs or {},
        {"owner_id": "u1", **(sys or {})},
        lambda _node, text: chunks.append(text),
    )
    result = await node.run({"query": query, **(inputs or {})}, ctx)
    assert isinstance(result, NodeResult)
    return AgentRun(result, chunks)


def agent_graph(
    config: dict[str, Any], *, settings: dict[str, Any] | None = None, fail_branch: bool = False
) -> WorkflowGraph:
    """start -> agent(config) -> end(answer = text, calls = tool_calls); with ``fail_branch``
    the agent's fail port leads to a template answering "recovered"."""
    nodes: list[dict[str, Any]] = [
        {"id": "start", "type": "start"},
        {
            "id": "agent",
            "type": "agent",
            "config": config,
            "inputs": {"query": {"selector": ["start", "query"]}},
            **(settings or {}),
        },
        {"id": "end", "type": "end", "config": {"outputs": ["answer", "calls"]}},
    ]
    edges: list[dict[str, Any]] = [
        {"source": "agent", "source_port": "text", "target": "end", "target_port": "answer"},
        {"source": "agent", "source_port": "tool_calls", "target": "end", "target_port": "calls"},
    ]
    if fail_branch:
        nodes[2]["config"] = {"outputs": ["answer"]}
        edges.pop(1)
        nodes.append({"id": "sorry", "type": "template", "config": {"template": "recovered"}})
        edges.append({"source": "agent", "source_port": "fail", "target": "sorry"})
        edges.append(
            {"source": "sorry", "source_port": "text", "target": "end", "target_port": "answer"}
        )
    return WorkflowGraph.from_json({"nodes": nodes, "edges": edges})


@pytest.fixture
def local_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHttpServer]:
    """A local HTTP server, and an allow-list naming exactly its address."""
    monkeypatch.setenv("SNAPAGENT_HTTP_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_http_settings.cache_clear()
    with LocalHttpServer() as server:
        yield server
    get_http_settings.cache_clear()


@pytest.fixture
def node_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set ``SNAPAGENT_AGENT_*`` variables through the returned monkeypatch; the settings
    are read again after each change (call ``get_node_settings.cache_clear()``)."""
    get_node_settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    get_node_settings.cache_clear()
