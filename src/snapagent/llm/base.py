"""What every remote chat model shares: retries around one attempt, and request shaping.

A provider module subclasses :class:`RemoteChatModel` and writes two methods - one attempt of
``complete`` and one attempt of ``stream`` - raising only :mod:`snapagent.llm.errors`. Retries,
the model-id label and turn normalisation live here once.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

from snapagent.errors import ProviderError
from snapagent.llm.errors import ProviderBadRequestError, forget_context, reraise_translated
from snapagent.llm.retry import RetryPolicy
from snapagent.workflow.services import ChatChunk, ChatMessage, ChatRequest, ChatResult, ToolCall

__all__ = ["RemoteChatModel", "Turn", "normalise_finish_reason", "split_system"]

# Provider vocabularies -> the engine's: "stop" (finished), "length" (hit max_tokens).
_FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "stop": "stop",
    "max_tokens": "length",
    "length": "length",
    "tool_use": "tool_calls",
    "tool_calls": "tool_calls",
}


def normalise_finish_reason(reason: str | None) -> str | None:
    if reason is None:
        return None
    return _FINISH_REASONS.get(reason, reason)


@dataclass(frozen=True, slots=True)
class Turn:
    """A user/assistant turn after normalisation (system text removed, same roles merged).

    An assistant turn may carry the ``tool_calls`` it made; a user turn may carry
    ``tool_results`` (the ``tool`` messages answering them, which every provider but OpenAI
    sends inside a user turn) before its own text.
    """

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_results: tuple[ChatMessage, ...] = ()


def _join(first: str, second: str) -> str:
    return f"{first}\n\n{second}" if first and second else first or second


def split_system(request: ChatRequest, *, provider: str, model: str) -> tuple[str, list[Turn]]:
    """The system prompt (request.system + any system messages) and alternating turns.

    Anthropic and Bedrock reject two user turns in a row and a conversation that starts with
    the assistant; merging here keeps history with such gaps usable on every provider. Tool
    results count as the user's side of the conversation.
    """
    system_parts = [request.system] if request.system else []
    turns: list[Turn] = []
    for message in request.messages:
        if message.role == "system":
            system_parts.append(message.content)
            continue
        role = "user" if message.role == "tool" else message.role
        results = (message,) if message.role == "tool" else ()
        text = "" if message.role == "tool" else message.content
        if turns and turns[-1].role == role:
            last = turns[-1]
            turns[-1] = Turn(
                role,
                _join(last.content, text),
                last.tool_calls + message.tool_calls,
                last.tool_results + results,
            )
        else:
            turns.append(Turn(role, text, message.tool_calls, results))
    if turns and turns[0].role == "assistant":
        turns.insert(0, Turn("user", "(conversation continues)"))
    if not turns or turns[-1].role != "user":
        raise ProviderBadRequestError(
            f"{provider} model {model!r}: the request needs a user message last",
            provider=provider,
            model=model,
        )
    return "\n\n".join(system_parts), turns


class RemoteChatModel(abc.ABC):
    """Base of the SDK-backed chat models: ``complete``/``stream`` with the retry policy."""

    provider: str = ""

    def __init__(self, model: str, *, retry: RetryPolicy, default_max_tokens: int) -> None:
        self.model = model
        self._retry = retry
        self._default_max_tokens = default_max_tokens

    @property
    def model_id(self) -> str:
        return f"{self.provider}:{self.model}"

    def __repr__(self) -> str:  # never show the client (its headers hold the key)
        return f"{type(self).__name__}({self.model_id!r})"

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the HTTP connections. Call before the event loop that used them closes."""

    def max_tokens(self, request: ChatRequest) -> int:
        return request.max_tokens or self._default_max_tokens

    async def complete(self, request: ChatRequest) -> ChatResult:
        try:
            return await self._retry.call(lambda: self._complete_once(request))
        except ProviderError as exc:
            forget_context(exc)
            raise

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        try:
            async for chunk in self._retry.stream(lambda: self._stream_once(request)):
                yield chunk
                # Let whoever forwards the chunk (the engine's event queue) run before we read
                # the next one: with several chunks already buffered we would otherwise parse
                # them all before the first reached the client.
                await asyncio.sleep(0)
        except ProviderError as exc:
            forget_context(exc)
            raise

    def provider_errors(self) -> AbstractContextManager[None]:
        """SDK/transport exceptions inside this block become our family (never chained)."""
        return reraise_translated(self.translate_error)

    @abc.abstractmethod
    def translate_error(self, exc: Exception) -> ProviderError | None:
        """Our error for an SDK exception, or None to let it propagate unchanged."""

    @abc.abstractmethod
    async def _complete_once(self, request: ChatRequest) -> ChatResult:
        """One attempt; raises only the provider error family."""

    @abc.abstractmethod
    def _stream_once(self, request: ChatRequest) -> AsyncGenerator[ChatChunk, None]:
        """One attempt; the last chunk carries finish_reason and usage."""
