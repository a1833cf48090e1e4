"""Dify agent nodes over HTTP: odd or hostile agent data imports with report items (or a 422
saying why), never a 500; what was imported is an agent node the server accepts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from .conftest import ApiUser
from .test_bot_import import import_file, publish, version_graph

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _app(agent_data: dict[str, Any]) -> bytes:
    agent = {"type": "agent", "title": "Agent", "agent_strategy_name": "function_calling",
             "agent_strategy_provider_name": "langgenius/agent/agent", **agent_data}  # fmt: skip
    nodes = [
        {"id": "start", "data": {"type": "start", "title": "Start", "variables": []}},
        {"id": "agent", "data": agent},
        {"id": "say", "data": {"type": "answer", "title": "Say", "answer": "{{#agent.text#}}"}},
    ]
    edges = [
        {"id": "e1", "source": "start", "target": "agent"},
        {"id": "e2", "source": "agent", "target": "say"},
    ]
    doc = {
        "app": {"name": "Agent app", "mode": "advanced-chat"},
        "kind": "app",
        "version": "0.3.0",
        "workflow": {"graph": {"nodes": nodes, "edges": edges}},
    }
    return yaml.safe_dump(doc, allow_unicode=True).encode()


HOSTILE: list[dict[str, Any]] = [
    {"agent_parameters": "not a mapping"},
    {"agent_parameters": {"tools": {"type": "constant", "value": "all"}, "query": 5}},
    {"agent_parameters": {"mcp_server": {"type": "constant", "value": "http://169.254.169.254/"}}},
    {"agent_parameters": {"mcp_servers_config": {"type": "constant", "value": "{" * 5000}}},
    {"agent_parameters": {"maximum_iterations": {"type": "constant", "value": 10**30}}},
    {"agent_parameters": {"tools": {"type": "constant", "value": [
        {"provider_name": "p", "tool_name": f"t{i}", "type": "plugin"} for i in range(3000)
    ]}}},
]  # fmt: skip


@sqlite_only
async def test_odd_agent_nodes_import_with_reasons_never_a_500(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    for data in HOSTILE:
        response = await import_file(client, alice, _app(data), model_override="offline")
        assert response.status_code == 201, (data, response.text[:500])
        body = response.json()
        items = [i for i in body["report"]["items"] if i.get("node_id") == "agent"]
        assert items, data
        assert len(body["report"]["items"]) < 120
        graph = await version_graph(client, alice, body["bot_id"], body["version_id"])
        agent = next(n for n in graph["nodes"] if n["id"] == "agent")
        if data["agent_parameters"] == "not a mapping":
            assert agent["type"] == "placeholder"
        else:
            assert agent["type"] == "agent"
            assert len(agent["config"]["tools"]) <= 32
        assert (await publish(client, alice, body)).status_code == 200


@sqlite_only
async def test_an_agent_with_an_mcp_server_imports_as_one(
    client: httpx.AsyncClient, alice: ApiUser
) -> None:
    params = {
        "instruction": {"type": "constant", "value": "Use the tools."},
        "query": {"type": "constant", "value": "{{#sys.query#}}"},
        "mcp_server": {"type": "constant", "value": "https://mcp.example.com/mcp"},
        "maximum_iterations": {"type": "constant", "value": 3},
    }
    response = await import_file(client, alice, _app({"agent_parameters": params}))
    assert response.status_code == 201, response.text
    body = response.json()
    graph = await version_graph(client, alice, body["bot_id"], body["version_id"])
    agent = next(n for n in graph["nodes"] if n["id"] == "agent")
    assert agent["config"]["tools"] == [{"type": "mcp", "url": "https://mcp.example.com/mcp"}]
    assert agent["config"]["max_iterations"] == 3
    assert agent["inputs"]["query"]["selector"][1] == "query"
