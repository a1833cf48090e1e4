"""MCP tools against a real MCP server (the official SDK's `MCPServer` over Streamable HTTP on
loopback, allowed by the network allow-list): listing, calling, errors, timeouts, a server
that goes away or never was, and the offline model running the loop end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from snapagent.cli.workflow import offline_chat_models
from snapagent.errors import NodeExecutionError
from snapagent.netguard import get_http_settings
from snapagent.testing import InMemoryRetriever, ScriptedChatModel
from snapagent.testing.mcp_server import LocalMcpServer
from snapagent.workflow import ServiceContainer
from snapagent.workflow.services import ChatChunk, ChatRequest, ToolCall

from .agent_support import knowledge_tool, run_agent


@pytest.fixture
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SNAPAGENT_HTTP_ALLOWED_NETWORKS", "127.0.0.1/32")
    get_http_settings.cache_clear()
    yield
    get_http_settings.cache_clear()


@pytest.fixture(params=["sse", "json"])
def mcp(request: pytest.FixtureRequest, allow_loopback: None) -> Iterator[LocalMcpServer]:
    """The demo MCP server, answering in SSE streams or in plain JSON (both are the spec's)."""
    with LocalMcpServer(json_response=request.param == "json") as server:
        yield server


def mcp_tool(server: LocalMcpServer, **config: Any) -> dict[str, Any]:
    return {"type": "mcp", "url": server.url, **config}


async def test_every_tool_of_the_server_is_offered_with_its_schema(
    mcp: LocalMcpServer, services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue("no tools needed")

    await run_agent(services, {"tools": [mcp_tool(mcp)]})

    offered = {tool.name: tool for tool in model.requests[0].tools}
    assert sorted(offered) == ["add", "big", "echo", "fail", "lookup_order", "slow"]
    assert offered["add"].description == "Add two integers."
    assert offered["add"].parameters["required"] == ["a", "b"]
    assert offered["add"].parameters["properties"]["a"]["type"] == "integer"


async def test_named_tools_under_a_prefix_are_called_by_their_own_names(
    mcp: LocalMcpServer, services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(
        ToolCall("c1", "shop_add", {"a": 2, "b": 3}),
        ToolCall("c2", "shop_lookup_order", {"order_id": 12345}),
    )
    model.enqueue("5, and the order shipped.")
    config = {"tools": [mcp_tool(mcp, tools=["lookup_order", "add"], prefix="shop_")]}

    run = await run_agent(services, config)

    assert [t.name for t in model.requests[0].tools] == ["shop_lookup_order", "shop_add"]
    add, order = run.outputs["tool_calls"]
    assert (add["type"], add["result"], add["is_error"]) == ("mcp", "5", False)
    assert json.loads(order["result"])["status"] == "shipped"
    assert sorted(mcp.calls) == [("add", {"a": 2, "b": 3}), ("lookup_order", {"order_id": 12345})]


async def test_a_tool_error_is_an_error_result_and_the_connection_lives_on(
    mcp: LocalMcpServer, services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(
        ToolCall("c1", "fail", {"message": "the warehouse is closed"}),
        ToolCall("c2", "lookup_order", {"order_id": 1}),
        ToolCall("c3", "add", {"a": "x"}),
    )
    model.enqueue_tool_calls(ToolCall("c4", "echo", {"text": "still here"}))
    model.enqueue("done")

    run = await run_agent(services, {"tools": [mcp_tool(mcp)], "parallel_tools": False})

    failed, missing, invalid, echo = run.outputs["tool_calls"]
    assert failed["is_error"]
    assert "the warehouse is closed" in failed["result"]
    assert missing["is_error"]
    assert "no order 1" in missing["result"]
    assert invalid["is_error"]  # the server validated the arguments itself
    assert (echo["is_error"], echo["result"]) == (False, "still here")


async def test_a_slow_tool_times_out_and_the_next_call_still_works(
    mcp: LocalMcpServer, services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "slow", {"seconds": 5}))
    model.enqueue_tool_calls(ToolCall("c2", "echo", {"text": "after"}))
    model.enqueue("ok")

    run = await run_agent(services, {"tools": [mcp_tool(mcp, timeout_s=0.5)]})

    slow, echo = run.outputs["tool_calls"]
    assert (slow["is_error"], slow["result"]) == (True, "the tool did not answer within 0.5 s")
    assert slow["elapsed_s"] < 3
    assert (echo["is_error"], echo["result"]) == (False, "after")


async def test_a_result_past_the_response_cap_is_an_error_result(
    mcp: LocalMcpServer,
    services: ServiceContainer,
    model: ScriptedChatModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SNAPAGENT_HTTP_MAX_RESPONSE_BYTES", "4096")
    get_http_settings.cache_clear()
    model.enqueue_tool_calls(ToolCall("c1", "big", {"size": 50_000}))
    model.enqueue("too big")

    run = await run_agent(services, {"tools": [mcp_tool(mcp)]})

    (call,) = run.outputs["tool_calls"]
    assert call["is_error"] is True
    assert "MCP server" in call["result"]
    assert run.outputs["text"] == "too big"


async def test_a_result_past_the_character_limit_is_cut(
    mcp: LocalMcpServer, services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "big", {"size": 500}))
    model.enqueue("cut")

    run = await run_agent(services, {"tools": [mcp_tool(mcp)], "max_tool_result_chars": 100})

    (call,) = run.outputs["tool_calls"]
    assert call["truncated"] is True
    assert call["result"].startswith("x" * 100 + "\n... [cut: 400 more")


class StopsTheServer(ScriptedChatModel):
    """Stops the MCP server before its first answer: the server goes away mid-run."""

    def __init__(self, server: LocalMcpServer) -> None:
        super().__init__()
        self.server = server

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        if len(self.requests) == 0:
            await asyncio.to_thread(self.server.stop)
        async for chunk in super().stream(request):
            yield chunk


async def test_a_server_that_goes_away_mid_run_fails_only_its_calls(
    mcp: LocalMcpServer, services: ServiceContainer
) -> None:
    model = StopsTheServer(mcp)
    model.enqueue_tool_calls(ToolCall("c1", "echo", {"text": "anyone?"}))
    model.enqueue_tool_calls(ToolCall("c2", "search_policies", {"query": "refunds"}))
    model.enqueue("The order system is down; refunds take 30 days.")
    retriever = InMemoryRetriever()
    retriever.add("kb-1", "Refunds take 30 days.", title="Refunds", owner_id="u1")
    services = services.replace(chat_models=type(services.chat_models)(model), retriever=retriever)

    run = await run_agent(services, {"tools": [mcp_tool(mcp), knowledge_tool()]})

    gone, policy = run.outputs["tool_calls"]
    assert gone["is_error"] is True
    assert "MCP server" in gone["result"]
    assert policy["is_error"] is False
    assert run.outputs["text"] == "The order system is down; refunds take 30 days."


async def test_a_server_that_cannot_be_reached_fails_the_node_saying_why(
    allow_loopback: None, services: ServiceContainer
) -> None:
    server = LocalMcpServer().start()
    server.stop()  # a port nobody answers on any more

    with pytest.raises(NodeExecutionError, match=r"MCP server .* is not reachable: ConnectError"):
        await run_agent(services, {"tools": [mcp_tool(server)]})


async def test_a_named_tool_the_server_lacks_fails_the_node_listing_what_it_has(
    mcp: LocalMcpServer, services: ServiceContainer
) -> None:
    with pytest.raises(NodeExecutionError, match=r"offers no tool 'refund' \(it offers: add,"):
        await run_agent(services, {"tools": [mcp_tool(mcp, tools=["refund"])]})


async def test_a_name_clash_between_servers_fails_the_node(
    mcp: LocalMcpServer, services: ServiceContainer
) -> None:
    named_twice = {"tools": [mcp_tool(mcp, tools=["echo"]), mcp_tool(mcp, tools=["echo"])]}
    with pytest.raises(ValidationError, match=r"tools\[1\] is named 'echo' like tools\[0\]"):
        await run_agent(services, named_twice)  # known before connecting: a config problem
    with pytest.raises(NodeExecutionError, match="two tools are named 'add'"):
        await run_agent(services, {"tools": [mcp_tool(mcp), mcp_tool(mcp)]})
    model = services.chat_models.resolve(None)
    assert isinstance(model, ScriptedChatModel)
    model.enqueue("prefixed apart")
    await run_agent(services, {"tools": [mcp_tool(mcp), mcp_tool(mcp, prefix="second_")]})


async def test_the_offline_model_runs_the_loop_against_the_real_server(
    mcp: LocalMcpServer,
) -> None:
    services = ServiceContainer(chat_models=offline_chat_models())
    config = {"tools": [mcp_tool(mcp, tools=["lookup_order"])]}

    run = await run_agent(services, config, "Where is my order 12345?")

    (call,) = run.outputs["tool_calls"]
    assert (call["name"], call["arguments"]) == ("lookup_order", {"order_id": 12345})
    assert "shipped" in run.outputs["text"]
    assert mcp.calls == [("lookup_order", {"order_id": 12345})]
