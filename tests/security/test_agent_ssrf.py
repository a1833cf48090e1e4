"""SSRF through the agent's HTTP and MCP tools: refused destinations - literal addresses in any
spelling (at validation), host names resolving to loopback, redirects to metadata or other
local addresses, arguments trying to move the request - never reach anything. Real servers on
loopback play the victims and must see nothing (or only the allowed first hop)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest

from snapagent.errors import NodeExecutionError
from snapagent.netguard import get_http_settings
from snapagent.nodes import default_registry
from snapagent.testing import ScriptedChatModel, ScriptedChatModels
from snapagent.testing.http_server import LocalHttpServer
from snapagent.testing.mcp_server import LocalMcpServer
from snapagent.workflow import RunContext, ServiceContainer, WorkflowGraph
from snapagent.workflow.services import ToolCall
from snapagent.workflow.validation import validate_graph

SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}


@pytest.fixture
def victim() -> Iterator[LocalHttpServer]:
    get_http_settings.cache_clear()
    with LocalHttpServer() as server:
        yield server
    get_http_settings.cache_clear()


def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAPAGENT_HTTP_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_http_settings.cache_clear()


def http_tool(url: str) -> dict[str, Any]:
    return {"type": "http", "name": "fetch", "description": "Fetch", "parameters": SCHEMA,
            "url": url}  # fmt: skip


def graph(tool: dict[str, Any]) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "agent", "type": "agent", "config": {"tools": [tool]},
             "inputs": {"query": {"selector": ["start", "query"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [{"source": "agent", "source_port": "text", "target": "end",
                   "target_port": "answer"}],
    }  # fmt: skip


async def run_tool(tool: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """One agent run whose model calls the tool once with ``arguments``; the call's record."""
    model = ScriptedChatModel()
    model.enqueue_tool_calls(ToolCall("c1", "fetch", arguments))
    model.enqueue("done")
    node = default_registry().create("agent", "agent", {"tools": [tool]})
    services = ServiceContainer(chat_models=ScriptedChatModels(model))
    result = await node.run({"query": "go"}, RunContext(services, {}, {"owner_id": "u1"}))
    [call] = result.outputs["tool_calls"]  # type: ignore[union-attr]
    return dict(call)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/admin",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/latest",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::1]:8000/",
        "http://10.0.0.5/internal",
        "file:///etc/passwd",
    ],
)
@pytest.mark.parametrize("kind", ["http", "mcp"])
def test_literal_refused_addresses_are_validation_problems(url: str, kind: str) -> None:
    tool = http_tool(url) if kind == "http" else {"type": "mcp", "url": url}
    problems = validate_graph(WorkflowGraph.from_json(graph(tool)), default_registry())
    paths = {p.path: p.message for p in problems}
    where = f"nodes[1].config.tools[0].{kind}.url"
    assert where in paths, paths
    assert "refused" in paths[where] or "only http and https" in paths[where]


async def test_an_http_tool_cannot_reach_loopback_by_host_name(victim: LocalHttpServer) -> None:
    call = await run_tool(http_tool(f"http://localhost:{victim.port}/echo"), {"id": "1"})

    assert call["is_error"] is True
    assert "refused: loopback address" in call["result"]
    assert victim.requests == []


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[::ffff:169.254.169.254]/latest",
        "http://127.0.0.2:{port}/echo",
        "http://10.0.0.1/",
    ],
)
async def test_every_redirect_hop_of_an_http_tool_is_checked(
    victim: LocalHttpServer, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    allow_loopback(monkeypatch)  # the first hop (127.0.0.1) is allowed, nothing after it
    start = victim.url("/redirect?to=" + target.format(port=victim.port))

    call = await run_tool(http_tool(start), {"id": "1"})

    assert call["is_error"] is True
    assert "refused" in call["result"]
    assert [r.path.split("?")[0] for r in victim.requests] == ["/redirect"]


@pytest.mark.parametrize(
    "value", ["../admin", "..%2Fadmin", "x/../../admin", "//evil.test/", "@evil.test", "?x=1#"]
)
async def test_arguments_cannot_move_an_http_tool_s_request(
    victim: LocalHttpServer, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    allow_loopback(monkeypatch)
    tool = http_tool(victim.url("/orders/{id}"))

    call = await run_tool(tool, {"id": value})

    assert call["is_error"] is False, call["result"]
    [request] = victim.requests
    path = request.path
    assert path.startswith("/orders/")
    assert "/" not in path.removeprefix("/orders/")  # one path segment, whatever the value
    assert unquote(path.removeprefix("/orders/")) == value


async def test_dot_segments_are_refused_as_arguments(
    victim: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    call = await run_tool(http_tool(victim.url("/orders/{id}/items")), {"id": ".."})

    assert call["is_error"] is True
    assert "cannot be '..'" in call["result"]
    assert victim.requests == []


async def test_an_mcp_tool_cannot_reach_loopback_by_host_name() -> None:
    get_http_settings.cache_clear()
    with LocalMcpServer() as server:
        tool = {"type": "mcp", "url": f"http://localhost:{server.port}/mcp"}
        with pytest.raises(NodeExecutionError, match="refused: loopback address"):
            await run_tool(tool, {})
        assert server.requests == []


async def test_an_mcp_server_cannot_redirect_the_connection_elsewhere(
    victim: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    allow_loopback(monkeypatch)
    url = victim.url("/redirect?to=http://169.254.169.254/mcp")

    with pytest.raises(NodeExecutionError, match="not reachable"):
        await run_tool({"type": "mcp", "url": url}, {})

    assert {r.path.split("?")[0] for r in victim.requests} == {"/redirect"}
