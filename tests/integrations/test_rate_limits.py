"""The chat rate limit holds however a caller chats: the OpenAI-compatible API and MCP tool
calls share the chat bucket with ``POST /api/v1/chat``; the OpenAI SDK sees OpenAI's 429
(``RateLimitError``, with ``Retry-After``), an MCP client a tool error the model can read."""

from __future__ import annotations

import httpx
import httpx2
import openai
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp_types import TextContent

from snapagent.api.app import create_app
from snapagent.db.session import Database
from snapagent.ratelimit.settings import RateLimitSettings
from snapagent.server_settings import ServerSettings
from snapagent.services.knowledge import KnowledgeService
from snapagent.settings import CoreSettings
from snapagent.testing import ScriptedChatModel, ScriptedChatModels

from .helpers import ApiUser, api_key, publish_bot


@pytest.fixture
def app(
    migrated_db: Database,
    server_settings: ServerSettings,
    core_settings: CoreSettings,
    api_knowledge: KnowledgeService,
    chat_model: ScriptedChatModel,
) -> FastAPI:
    return create_app(
        server_settings,
        migrated_db,
        core_settings=core_settings,
        knowledge=api_knowledge,
        chat_models=ScriptedChatModels(chat_model),
        rate_limits=RateLimitSettings(chat_per_minute=2),
    )


async def test_openai_chat_shares_the_chat_limit(
    live: str, client: httpx.AsyncClient, alice: ApiUser, chat_model: ScriptedChatModel
) -> None:
    bot_id = await publish_bot(client, alice, "Limited")
    _, key = await api_key(client, alice)
    bearer = {"Authorization": f"Bearer {key}"}
    chat_model.enqueue("one").enqueue("two")
    native = await client.post(
        "/api/v1/chat", json={"bot_id": bot_id, "message": "hi"}, headers=bearer
    )
    assert native.status_code == 200, native.text
    messages = [{"role": "user", "content": "hi"}]
    async with openai.AsyncOpenAI(base_url=f"{live}/v1", api_key=key, max_retries=0) as sdk:
        second = await sdk.chat.completions.create(model=bot_id, messages=messages)  # type: ignore[arg-type]
        assert second.choices[0].message.content == "two"

        with pytest.raises(openai.RateLimitError) as caught:
            await sdk.chat.completions.create(model=bot_id, messages=messages)  # type: ignore[arg-type]
        # Listing models is not a chat: it is not limited.
        assert [m.id for m in (await sdk.models.list()).data] == [bot_id]
    error = caught.value
    assert error.code == "rate_limit_exceeded"
    assert error.type == "rate_limit_error"
    assert 1 <= int(error.response.headers["retry-after"]) <= 60
    # The native chat is refused too: one bucket.
    refused = await client.post(
        "/api/v1/chat", json={"bot_id": bot_id, "message": "hi"}, headers=bearer
    )
    assert refused.status_code == 429


async def test_mcp_tool_calls_count_against_the_chat_limit(
    live: str, client: httpx.AsyncClient, alice: ApiUser, chat_model: ScriptedChatModel
) -> None:
    await publish_bot(client, alice, "Limited")
    _, key = await api_key(client, alice)
    chat_model.enqueue("one").enqueue("two")
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{live}/mcp", http_client=http), mode="legacy") as mcp,
    ):
        answers = [await mcp.call_tool("limited", {"message": "hi"}) for _ in range(3)]
        # Listing tools is not a chat: it is not limited.
        assert [t.name for t in (await mcp.list_tools()).tools] == ["limited"]
    assert [a.is_error for a in answers] == [False, False, True]
    [refusal] = answers[2].content
    assert isinstance(refusal, TextContent)
    assert "more than 2 chat requests per 60 s" in refusal.text
    # The OpenAI-compatible chat is refused too: one bucket.
    async with openai.AsyncOpenAI(base_url=f"{live}/v1", api_key=key, max_retries=0) as sdk:
        [model] = (await sdk.models.list()).data
        with pytest.raises(openai.RateLimitError):
            await sdk.chat.completions.create(
                model=model.id, messages=[{"role": "user", "content": "hi"}]
            )
