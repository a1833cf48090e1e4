"""The OpenAI-compatible API as a user drives it: the official ``openai`` SDK against a real
uvicorn server, ``base_url=<server>/v1`` and one of our API keys.

Each test checks what a client relies on: the answer and usage, the stream's chunk sequence,
a conversation keeping its session (and its history reaching the model), and each error
raising the SDK's own exception with OpenAI's error body.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from snapagent.errors import ProviderError
from snapagent.services.chat import ChatSettings
from snapagent.testing import ScriptedChatModel

from .helpers import ApiUser, api_key, knowledge_bot, publish_bot

ClientFactory = Callable[[str], AsyncOpenAI]


@pytest.fixture
def chat_settings() -> ChatSettings:
    return ChatSettings(max_message_chars=500)


@pytest.fixture
async def sdk(live: str) -> AsyncIterator[ClientFactory]:
    """An SDK client on the live server for an API key (no retries: errors surface at once);
    every client made is closed at the end."""
    made: list[AsyncOpenAI] = []

    def make(key: str) -> AsyncOpenAI:
        made.append(AsyncOpenAI(base_url=f"{live}/v1", api_key=key, max_retries=0, timeout=30))
        return made[-1]

    yield make
    for sdk_client in made:
        await sdk_client.close()


async def test_models_are_the_callers_published_bots(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, sdk: ClientFactory
) -> None:
    support = await publish_bot(client, alice, "Support", "Answers support questions")
    draft_only = await client.post("/api/v1/bots", json={"name": "draft"}, headers=alice.headers)
    assert draft_only.status_code == 201
    await publish_bot(client, bob, "Bob's bot")
    _, key = await api_key(client, alice)

    models = await sdk(key).models.list()

    assert [m.id for m in models.data] == [support]  # not the draft-only bot, not bob's
    model = models.data[0]
    assert model.object == "model"
    assert model.owned_by == "snapagent"
    assert model.model_extra == {"name": "Support", "description": "Answers support questions"}


async def test_completion_answers_with_usage_sources_and_a_recorded_run(
    client: httpx.AsyncClient,
    alice: ApiUser,
    api_knowledge: object,
    chat_model: ScriptedChatModel,
    sdk: ClientFactory,
) -> None:
    bot_id, kb_id = await knowledge_bot(client, alice, api_knowledge)  # type: ignore[arg-type]
    _, key = await api_key(client, alice)
    chat_model.enqueue("You have 25 days of paid leave [1].")

    completion = await sdk(key).chat.completions.create(
        model=bot_id,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "How many days of leave do I get?"},
        ],
    )

    assert completion.object == "chat.completion"
    assert completion.model == bot_id
    [choice] = completion.choices
    assert choice.message.role == "assistant"
    assert choice.message.content == "You have 25 days of paid leave [1]."
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 8  # the scripted model counts words
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    extension = completion.model_extra["snapagent"]  # type: ignore[index]
    assert extension["bot_id"] == bot_id
    [source] = extension["sources"]
    assert source["knowledge_base_id"] == kb_id
    assert "25 days of paid leave" in source["snippet"]
    # The client's system message reached the model after the bot's own system prompt.
    request = chat_model.requests[-1]
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].content == "Be brief."
    # Recorded like every chat: the run is in the bot's workflow executions.
    runs = await client.get(f"/api/v1/bots/{bot_id}/workflow-executions", headers=alice.headers)
    [run] = runs.json()["data"]
    assert run["id"] == extension["run_id"]
    assert completion.id == f"chatcmpl-{run['id']}"
    assert run["status"] == "succeeded"
    assert run["session_id"] == extension["session_id"]


async def test_streaming_sends_role_deltas_finish_and_usage_then_done(
    client: httpx.AsyncClient, alice: ApiUser, chat_model: ScriptedChatModel, sdk: ClientFactory
) -> None:
    bot_id = await publish_bot(client, alice, "Streamer")
    _, key = await api_key(client, alice)
    answer = "Streaming answers arrive in several small pieces."
    chat_model.enqueue(answer, chunk_size=6)

    stream = await sdk(key).chat.completions.create(
        model=bot_id,
        messages=[{"role": "user", "content": "Tell me something"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks[1:]}) == 1
    first, *middle, finish, usage = chunks
    assert first.choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta.content for c in middle]
    assert len(deltas) == len(range(0, len(answer), 6))  # one chunk per streamed piece
    assert "".join(d or "" for d in deltas) == answer
    assert all(c.choices[0].finish_reason is None for c in [first, *middle])
    assert finish.choices[0].finish_reason == "stop"
    assert finish.model_extra["snapagent"]["sources"] == []  # type: ignore[index]
    assert usage.choices == []
    assert usage.usage is not None
    assert usage.usage.completion_tokens == len(answer.split())
    assert all(c.usage is None for c in chunks[:-1])


async def test_stream_wire_format_ends_with_done(
    live: str, client: httpx.AsyncClient, alice: ApiUser, chat_model: ScriptedChatModel
) -> None:
    bot_id = await publish_bot(client, alice, "Wire")
    _, key = await api_key(client, alice)
    chat_model.enqueue("ok")
    body = {"model": bot_id, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    async with httpx.AsyncClient(base_url=live, timeout=30) as http:
        response = await http.post(
            "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = [f for f in response.text.split("\n\n") if f]
    assert all(f.startswith("data: ") for f in frames)
    assert frames[-1] == "data: [DONE]"
    assert response.headers["x-snapagent-session-id"].startswith("oai-")


async def test_a_conversation_keeps_its_session_and_its_history(
    client: httpx.AsyncClient, alice: ApiUser, chat_model: ScriptedChatModel, sdk: ClientFactory
) -> None:
    bot_id = await publish_bot(client, alice, "Memory")
    _, key = await api_key(client, alice)
    openai_client = sdk(key)
    chat_model.enqueue("Nice to meet you, Ada.")
    chat_model.enqueue("Your name is Ada.")
    chat_model.enqueue("Hello again.")

    messages: list[dict[str, str]] = [{"role": "user", "content": "My name is Ada."}]
    first = await openai_client.chat.completions.create(model=bot_id, messages=messages)  # type: ignore[arg-type]
    messages += [
        {"role": "assistant", "content": first.choices[0].message.content or ""},
        {"role": "user", "content": "What is my name?"},
    ]
    second = await openai_client.chat.completions.create(model=bot_id, messages=messages)  # type: ignore[arg-type]
    # Another end user opening with the same words is another conversation.
    other = await openai_client.chat.completions.create(
        model=bot_id, messages=[{"role": "user", "content": "My name is Ada."}], user="someone-else"
    )

    session = first.model_extra["snapagent"]["session_id"]  # type: ignore[index]
    assert second.model_extra["snapagent"]["session_id"] == session  # type: ignore[index]
    assert other.model_extra["snapagent"]["session_id"] != session  # type: ignore[index]
    assert second.choices[0].message.content == "Your name is Ada."
    # The second turn's model call saw the first turn as history.
    seen = [(m.role, m.content) for m in chat_model.requests[1].messages]
    assert seen[:2] == [("user", "My name is Ada."), ("assistant", "Nice to meet you, Ada.")]
    transcript = await client.get(
        f"/api/v1/bots/{bot_id}/sessions/{session}", headers=alice.headers
    )
    assert transcript.status_code == 200, transcript.text
    stored = [(m["role"], m["content"]) for m in transcript.json()["messages"]]
    assert stored == [
        ("user", "My name is Ada."),
        ("assistant", "Nice to meet you, Ada."),
        ("user", "What is my name?"),
        ("assistant", "Your name is Ada."),
    ]


async def test_an_explicit_session_id_gives_server_side_memory(
    client: httpx.AsyncClient, alice: ApiUser, chat_model: ScriptedChatModel, sdk: ClientFactory
) -> None:
    bot_id = await publish_bot(client, alice, "Explicit")
    _, key = await api_key(client, alice)
    openai_client = sdk(key)
    chat_model.enqueue("Noted: blue.")
    chat_model.enqueue("Blue.")

    first = await openai_client.chat.completions.create(
        model=bot_id,
        messages=[{"role": "user", "content": "My favourite colour is blue."}],
        extra_body={"session_id": "desk-42"},
    )
    second = await openai_client.chat.completions.create(
        model=bot_id,
        messages=[{"role": "user", "content": "Which colour?"}],
        metadata={"session_id": "desk-42"},
    )

    assert first.model_extra["snapagent"]["session_id"] == "desk-42"  # type: ignore[index]
    assert second.model_extra["snapagent"]["session_id"] == "desk-42"  # type: ignore[index]
    seen = [(m.role, m.content) for m in chat_model.requests[1].messages]
    assert seen == [
        ("user", "My favourite colour is blue."),
        ("assistant", "Noted: blue."),
        ("user", "Which colour?"),
    ]


async def test_unknown_and_foreign_models_are_model_not_found(
    client: httpx.AsyncClient, alice: ApiUser, bob: ApiUser, sdk: ClientFactory
) -> None:
    bobs_bot = await publish_bot(client, bob, "Bob's")
    _, key = await api_key(client, alice)
    for model in ("no-such-bot", bobs_bot):
        with pytest.raises(openai.NotFoundError) as caught:
            await sdk(key).chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
        error = caught.value
        assert error.status_code == 404
        assert error.code == "model_not_found"
        assert error.param == "model"
        assert error.type == "invalid_request_error"
        assert model in error.message


async def test_a_revoked_key_stops_working(
    client: httpx.AsyncClient, alice: ApiUser, sdk: ClientFactory
) -> None:
    bot_id = await publish_bot(client, alice, "Revoked")
    key_id, key = await api_key(client, alice)
    assert [m.id for m in (await sdk(key).models.list()).data] == [bot_id]

    revoked = await client.delete(f"/api/v1/api-keys/{key_id}", headers=alice.headers)
    assert revoked.status_code == 204

    for call in (
        sdk(key).models.list(),
        sdk(key).chat.completions.create(
            model=bot_id, messages=[{"role": "user", "content": "hi"}]
        ),
    ):
        with pytest.raises(openai.AuthenticationError) as caught:
            await call
        assert caught.value.status_code == 401
        assert caught.value.code == "invalid_api_key"
        assert caught.value.response.headers["www-authenticate"] == "Bearer"
    with pytest.raises(openai.AuthenticationError):
        await sdk("sa_0000_not-a-key").models.list()


@pytest.mark.parametrize(
    ("kwargs", "param", "reason"),
    [
        ({"messages": [{"role": "assistant", "content": "hi"}]}, "messages[0]", "last message"),
        ({"messages": []}, "messages", "at least one message"),
        ({"n": 2}, "n", "n=1"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]},
            "tools",
            "tool calling",
        ),
        ({"response_format": {"type": "json_object"}}, "response_format", "json_object"),
        (
            {"messages": [{"role": "tool", "content": "42", "tool_call_id": "c1"}]},
            "messages[0]",
            "tool",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {"type": "image_url", "image_url": {"url": "data:,"}},
                        ],
                    }
                ]
            },
            "messages[0].content[1]",
            "image_url",
        ),
        ({"messages": [{"role": "user", "content": "x" * 501}]}, "message", "500 characters"),
        ({"extra_body": {"session_id": "no spaces allowed"}}, "session_id", "session_id"),
    ],
)
async def test_bad_requests_name_the_parameter(
    client: httpx.AsyncClient,
    alice: ApiUser,
    sdk: ClientFactory,
    kwargs: dict[str, object],
    param: str,
    reason: str,
) -> None:
    bot_id = await publish_bot(client, alice, "Strict")
    _, key = await api_key(client, alice)
    request: dict[str, object] = {"messages": [{"role": "user", "content": "hi"}], **kwargs}
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        await sdk(key).chat.completions.create(model=bot_id, **request)  # type: ignore[call-overload]
    error = caught.value
    assert error.status_code == 422
    assert error.type == "invalid_request_error"
    assert error.param == param
    assert reason in error.message


async def test_provider_failures_are_server_errors_and_recorded(
    client: httpx.AsyncClient, alice: ApiUser, chat_model: ScriptedChatModel, sdk: ClientFactory
) -> None:
    bot_id = await publish_bot(client, alice, "Flaky")
    _, key = await api_key(client, alice)
    chat_model.enqueue_error(ProviderError("upstream overloaded", provider="x", model="m"))
    chat_model.enqueue_error(ProviderError("upstream overloaded", provider="x", model="m"))
    messages = [{"role": "user", "content": "hi"}]

    with pytest.raises(openai.InternalServerError) as caught:
        await sdk(key).chat.completions.create(model=bot_id, messages=messages)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert caught.value.type == "server_error"
    assert caught.value.code == "provider_error"

    stream = await sdk(key).chat.completions.create(
        model=bot_id,
        messages=messages,
        stream=True,  # type: ignore[arg-type]
    )
    with pytest.raises(openai.APIError) as streamed:
        async for _chunk in stream:
            pass
    assert "upstream overloaded" in streamed.value.message
    runs = await client.get(f"/api/v1/bots/{bot_id}/workflow-executions", headers=alice.headers)
    assert [r["status"] for r in runs.json()["data"]] == ["failed", "failed"]
