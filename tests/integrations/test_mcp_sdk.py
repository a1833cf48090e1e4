"""The MCP server as a user drives it: the official ``mcp`` SDK's client against ``/mcp`` on a
real uvicorn server, authenticated with one of our API keys.

Both protocol eras are driven: ``legacy`` (the initialize handshake most clients speak today)
and ``auto`` (the SDK's default: ``server/discover``, then per-request envelopes).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent

from snapagent.api.mcp_tools import TOOL_INPUT_SCHEMA
from snapagent.services.chat import ChatSettings
from snapagent.testing import ScriptedChatModel

from .helpers import ApiUser, api_key, knowledge_bot, publish_bot

Connect = Callable[..., AbstractAsyncContextManager[Client]]


@pytest.fixture
def chat_settings() -> ChatSettings:
    return ChatSettings(max_message_chars=500)


@pytest.fixture(params=["legacy", "auto"])
def connect(live: str, request: pytest.FixtureRequest) -> Connect:
    """``connect(key)``: an initialized MCP client on the live server's ``/mcp``."""

    @asynccontextmanager
    async def open_client(key: str | None) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
            transport = streamable_http_client(f"{live}/mcp", http_client=http)
            async with Client(transport, mode=request.param, read_timeout_seconds=30) as client:
                yield client

    return open_client


def text_of(content: list[object]) -> str:
    [block] = content
    assert isinstance(block, TextContent)
    return block.text


async def test_tools_are_the_callers_published_bots(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, connect: Connect
) -> None:
    support = await publish_bot(client, alice, "Support Desk", "Answers support questions")
    korean = await publish_bot(client, alice, "고객 지원")
    twin = await publish_bot(client, alice, "support desk")
    draft = await client.post("/api/v1/bots", json={"name": "draft"}, headers=alice.headers)
    assert draft.status_code == 201
    await publish_bot(client, bob, "Bob's bot")
    _, key = await api_key(client, alice)

    async with connect(key) as mcp:
        assert mcp.server_info is not None
        assert mcp.server_info.name == "snapagent"
        tools = (await mcp.list_tools()).tools

    # Oldest first; not the draft-only bot, not bob's; names a client accepts.
    assert [t.name for t in tools] == [
        "support_desk",
        f"bot_{korean[:8]}",
        f"support_desk_{twin[:8]}",
    ]
    first = tools[0]
    assert first.title == "Support Desk"
    assert first.description == "Answers support questions"
    assert first.input_schema == TOOL_INPUT_SCHEMA
    assert tools[1].description == "Ask the SnapAgent bot '고객 지원'."
    assert support != twin


async def test_calling_a_tool_runs_a_recorded_chat_turn_with_sources(
    client: httpx.AsyncClient,
    alice: ApiUser,
    api_knowledge: object,
    chat_model: ScriptedChatModel,
    connect: Connect,
) -> None:
    bot_id, kb_id = await knowledge_bot(client, alice, api_knowledge)  # type: ignore[arg-type]
    _, key = await api_key(client, alice)
    chat_model.enqueue("You have 25 days of paid leave [1].")
    chat_model.enqueue("Yes: until March.")

    async with connect(key) as mcp:
        first = await mcp.call_tool("handbook", {"message": "How many days of leave?"})
        session_id = first.structured_content["session_id"]  # type: ignore[index]
        second = await mcp.call_tool(
            "handbook", {"message": "Do they carry over?", "session_id": session_id}
        )

    assert not first.is_error
    text = text_of(first.content)  # type: ignore[arg-type]
    assert text.startswith("You have 25 days of paid leave [1].\n\nSources:\n[1] Leave policy: ")
    assert "25 days of paid leave per year" in text
    assert text.endswith(f"(session_id: {session_id})")
    structured = first.structured_content
    assert structured["answer"] == "You have 25 days of paid leave [1]."  # type: ignore[index]
    [source] = structured["sources"]  # type: ignore[index]
    assert source["knowledge_base_id"] == kb_id
    assert second.structured_content["session_id"] == session_id  # type: ignore[index]
    # The second turn saw the first as history: one conversation.
    seen = [(m.role, m.content) for m in chat_model.requests[1].messages]
    assert ("assistant", "You have 25 days of paid leave [1].") in seen
    # Recorded like every chat.
    runs = await client.get(f"/api/v1/bots/{bot_id}/workflow-executions", headers=alice.headers)
    assert [r["status"] for r in runs.json()["data"]] == ["succeeded", "succeeded"]
    assert {r["session_id"] for r in runs.json()["data"]} == {session_id}


async def test_unknown_and_foreign_tools_are_unknown(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, connect: Connect
) -> None:
    await publish_bot(client, bob, "Secret Bot")
    _, key = await api_key(client, alice)
    async with connect(key) as mcp:
        for name in ("no_such_tool", "secret_bot"):
            with pytest.raises(MCPError) as caught:
                await mcp.call_tool(name, {"message": "hi"})
            assert caught.value.message == f"Unknown tool: {name}"


async def test_failed_turns_are_tool_errors_the_model_can_read(
    client: httpx.AsyncClient, alice: ApiUser, connect: Connect
) -> None:
    await publish_bot(client, alice, "Strict")
    _, key = await api_key(client, alice)
    async with connect(key) as mcp:
        too_long = await mcp.call_tool("strict", {"message": "x" * 501})
        bad_session = await mcp.call_tool("strict", {"message": "hi", "session_id": "a b"})
    assert too_long.is_error
    assert "500 characters" in text_of(too_long.content)  # type: ignore[arg-type]
    assert bad_session.is_error
    assert "(session_id)" in text_of(bad_session.content)  # type: ignore[arg-type]


async def test_missing_or_revoked_keys_are_refused(
    live: str, client: httpx.AsyncClient, alice: ApiUser, connect: Connect
) -> None:
    await publish_bot(client, alice, "Guarded")
    key_id, key = await api_key(client, alice)
    async with connect(key) as mcp:
        assert [t.name for t in (await mcp.list_tools()).tools] == ["guarded"]
    revoked = await client.delete(f"/api/v1/api-keys/{key_id}", headers=alice.headers)
    assert revoked.status_code == 204

    for credential in (key, None):
        with pytest.raises(Exception):  # noqa: B017, PT011 (the SDK's error for a 401 varies by era)
            async with connect(credential) as mcp:
                await mcp.list_tools()
    # On the wire: the API's 401 problem.
    async with httpx.AsyncClient(base_url=live, timeout=30) as http:
        response = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
        )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"] == "Bearer"
