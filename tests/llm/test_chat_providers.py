"""The same behaviour, checked for every SDK-backed provider against its fake server."""

from __future__ import annotations

import asyncio
import logging

import pytest

from snapagent.errors import ProviderError
from snapagent.llm.errors import (
    ProviderAuthenticationError,
    ProviderBadRequestError,
    ProviderMalformedResponseError,
    ProviderRateLimitError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from snapagent.llm.openai_model import OpenAIChatModel
from snapagent.llm.retry import RetryPolicy
from snapagent.testing.providers import ErrorReply, HangReply, MalformedReply, Reply
from snapagent.workflow.services import ChatChunk, ChatMessage, ChatModel, ChatRequest

from .cases import ProviderCase

REQUEST = ChatRequest(
    messages=[ChatMessage("user", "What is SnapAgent?")],
    system="Be brief.",
    temperature=0.1,
    max_tokens=64,
    stop=["###"],
)


async def _collect(model: ChatModel, request: ChatRequest = REQUEST) -> list[ChatChunk]:
    return [chunk async for chunk in model.stream(request)]


async def test_complete_returns_text_finish_reason_and_usage(case: ProviderCase) -> None:
    case.server.enqueue(Reply("SnapAgent serves RAG bots.", input_tokens=21, output_tokens=6))
    model = case.model()
    assert isinstance(model, ChatModel)

    result = await model.complete(REQUEST)

    assert result.text == "SnapAgent serves RAG bots."
    assert result.finish_reason == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (21, 6)
    assert result.model == model.model_id
    assert model.model_id.startswith(f"{case.name}:")
    assert len(case.server.requests) == 1


async def test_stream_yields_text_pieces_then_finish_and_usage(case: ProviderCase) -> None:
    case.server.enqueue(Reply("one two three", input_tokens=9, output_tokens=3, finish="length"))

    chunks = await _collect(case.model())

    assert [c.text for c in chunks[:-1]] == ["one ", "two ", "three"]
    assert chunks[-1].finish_reason == "length"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.to_dict() == {"input_tokens": 9, "output_tokens": 3, "total_tokens": 12}
    assert all(c.usage is None for c in chunks[:-1])


async def test_authentication_failure_is_not_retried(case: ProviderCase) -> None:
    case.server.enqueue(ErrorReply(401, "invalid key"))

    with pytest.raises(ProviderAuthenticationError) as caught:
        await case.model().complete(REQUEST)

    assert caught.value.status_code == 401
    assert caught.value.provider == case.name
    assert len(case.server.requests) == 1
    assert case.sleeps.waits == []


async def test_bad_request_is_not_retried(case: ProviderCase) -> None:
    case.server.enqueue(ErrorReply(400, "max_tokens is too large"))

    with pytest.raises(ProviderBadRequestError, match="too large"):
        await case.model().complete(REQUEST)
    assert len(case.server.requests) == 1


async def test_rate_limit_retries_after_the_servers_retry_after(case: ProviderCase) -> None:
    case.server.enqueue(ErrorReply(429, "slow down", retry_after=2), Reply("finally"))

    result = await case.model().complete(REQUEST)

    assert result.text == "finally"
    assert case.sleeps.waits == [2.0]
    assert len(case.server.requests) == 2


async def test_server_errors_retry_with_backoff_then_succeed(case: ProviderCase) -> None:
    case.server.enqueue(ErrorReply(500), ErrorReply(500), Reply("third time"))

    result = await case.model(max_attempts=3).complete(REQUEST)

    assert result.text == "third time"
    assert len(case.sleeps.waits) == 2
    # equal jitter: between half and all of 0.05 s, then of 0.1 s
    assert 0.025 <= case.sleeps.waits[0] <= 0.05
    assert 0.05 <= case.sleeps.waits[1] <= 0.1


async def test_persistent_server_error_gives_up_after_max_attempts(case: ProviderCase) -> None:
    case.server.enqueue(*[ErrorReply(500)] * 5)

    with pytest.raises(ProviderUnavailableError) as caught:
        await case.model(max_attempts=3).complete(REQUEST)

    assert caught.value.status_code == 500
    assert len(case.server.requests) == 3


async def test_retry_after_beyond_the_budget_fails_at_once(case: ProviderCase) -> None:
    case.server.enqueue(ErrorReply(429, retry_after=120), Reply("never"))

    with pytest.raises(ProviderRateLimitError) as caught:
        await case.model(budget=30).complete(REQUEST)

    assert caught.value.retry_after == 120
    assert case.sleeps.waits == []
    assert len(case.server.requests) == 1


async def test_malformed_body_is_a_malformed_response_error(case: ProviderCase) -> None:
    case.server.enqueue(MalformedReply(), MalformedReply('{"unexpected": true}'))
    model = case.model()

    with pytest.raises(ProviderMalformedResponseError):
        await model.complete(REQUEST)
    with pytest.raises(ProviderMalformedResponseError):
        await model.complete(REQUEST)
    assert len(case.server.requests) == 2  # not retried


async def test_hanging_server_times_out(case: ProviderCase) -> None:
    case.server.enqueue(HangReply(30))

    with pytest.raises(ProviderTimeoutError) as caught:
        await case.model(max_attempts=1, timeout=0.3).complete(REQUEST)
    assert isinstance(caught.value, TimeoutError)


async def test_stream_error_after_first_chunk_is_not_retried(case: ProviderCase) -> None:
    case.server.enqueue(Reply("a b c d", fail_after=2), Reply("must not be used"))
    received: list[str] = []

    async def consume() -> None:
        async for chunk in case.model().stream(REQUEST):
            received.append(chunk.text)

    with pytest.raises(ProviderError):
        await consume()

    assert received == ["a ", "b "]
    assert len(case.server.requests) == 1


async def test_stream_retries_before_the_first_chunk(case: ProviderCase) -> None:
    case.server.enqueue(ErrorReply(503), Reply("ok then"))

    chunks = await _collect(case.model())

    assert "".join(c.text for c in chunks) == "ok then"
    assert len(case.server.requests) == 2


async def test_cancelling_mid_stream_closes_the_connection(case: ProviderCase) -> None:
    words = " ".join(f"w{i}" for i in range(50))
    case.server.enqueue(Reply(words, chunk_delay=0.1))
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in case.model().stream(REQUEST):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await asyncio.to_thread(case.server.disconnected.wait, 10)
    assert case.server.streams_completed == 0


async def test_no_key_in_errors_even_when_the_provider_echoes_it(case: ProviderCase) -> None:
    case.server.enqueue(
        ErrorReply(500, f"upstream said {case.secret}"),
        ErrorReply(401, f"key {case.secret} is not valid"),
    )

    with pytest.raises(ProviderError) as caught:
        await case.model().complete(REQUEST)

    error = caught.value
    assert isinstance(error, ProviderAuthenticationError)
    assert error.__cause__ is None
    assert error.__context__ is None  # the SDK exception (auth header inside) is not reachable
    for surface in [str(error), repr(error), str(error.details), str(error.args)]:
        assert case.secret not in surface
    assert "[redacted]" in str(error)


async def test_no_key_in_logs_with_sdk_debug_logging(
    case: ProviderCase, caplog: pytest.LogCaptureFixture
) -> None:
    # botocore at DEBUG prints raw response bodies, so the server does not echo the key here:
    # what is checked is that neither we nor the SDKs log the credentials we send.
    caplog.set_level(logging.DEBUG)
    case.server.enqueue(ErrorReply(500, "busy"), ErrorReply(401, "nope"), Reply("x"))

    with pytest.raises(ProviderAuthenticationError):
        await case.model().complete(REQUEST)
    await _collect(case.model())

    assert "retry 1/2" in caplog.text  # our retry warning was logged
    assert case.secret not in caplog.text


async def test_request_carries_system_history_and_sampling_settings(case: ProviderCase) -> None:
    request = ChatRequest(
        messages=[
            ChatMessage("user", "Hi"),
            ChatMessage("assistant", "Hello!"),
            ChatMessage("user", "What is SnapAgent?"),
        ],
        system="Be brief.",
        temperature=0.1,
        max_tokens=64,
        stop=["###"],
    )
    await case.model().complete(request)
    sent = case.server.requests[0].json()

    if case.name == "anthropic":
        assert sent["system"] == "Be brief."
        assert sent["messages"][-1] == {"role": "user", "content": "What is SnapAgent?"}
        assert (sent["temperature"], sent["max_tokens"], sent["stop_sequences"]) == (
            0.1,
            64,
            ["###"],
        )
    elif case.name == "openai":
        assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
        assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
        assert (sent["temperature"], sent["max_tokens"], sent["stop"]) == (0.1, 64, ["###"])
    else:
        assert sent["system"] == [{"text": "Be brief."}]
        assert sent["messages"][1] == {"role": "assistant", "content": [{"text": "Hello!"}]}
        assert sent["inferenceConfig"] == {
            "maxTokens": 64,
            "temperature": 0.1,
            "stopSequences": ["###"],
        }
    assert len(sent["messages"]) == (4 if case.name == "openai" else 3)


async def test_cancelling_a_waiting_complete_stops_it(case: ProviderCase) -> None:
    case.server.enqueue(HangReply(30))
    task = asyncio.create_task(case.model(timeout=20).complete(REQUEST))
    # Wait until the request reached the server, which now holds it without answering.
    assert await asyncio.to_thread(case.server.request_received.wait, 10)

    task.cancel()

    # Cancelled, not timed out: the caller stopped waiting at once.
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_openai_uses_the_current_token_limit_field_only_on_openai_itself() -> None:
    official = OpenAIChatModel("gpt-4o-mini", api_key="sk-x", retry=RetryPolicy())
    compatible = OpenAIChatModel(
        "llama3", api_key=None, base_url="http://127.0.0.1:9/v1", retry=RetryPolicy()
    )
    request = ChatRequest(messages=[ChatMessage("user", "hi")], max_tokens=32)

    assert official._params(request)["max_completion_tokens"] == 32
    assert "max_tokens" not in official._params(request)
    assert compatible._params(request)["max_tokens"] == 32
    await official.aclose()
    await compatible.aclose()
