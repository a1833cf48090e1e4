"""The chat rate limit holds however a caller chats: the OpenAI-compatible API shares the
chat bucket with ``POST /api/v1/chat``, and the SDK sees OpenAI's 429 (``RateLimitError``, with
``Retry-After``)."""

from __future__ import annotations

import httpx
import openai
import pytest
from fastapi import FastAPI

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
