"""`ScriptedChatModel`: a chat model that answers from a script and records every request.

    model = ScriptedChatModel()
    model.enqueue("Paris is the capital.", chunk_size=5)    # streamed in 5-character chunks
    model.enqueue_error(ProviderError("overloaded"))        # the next call raises
    gate = asyncio.Event()
    model.enqueue("late", wait_for=gate)                     # blocks until gate.set()
    model.enqueue_tool_calls(ToolCall("c1", "get_weather", {"city": "Paris"}))
    model.enqueue_data({"city": "Paris"})                    # a structured-output answer
    services = ServiceContainer(chat_models=ScriptedChatModels(model))
    ...
    assert model.requests[0].messages[-1].content == "Q: capital of France?"

Usage is counted in whitespace-separated words (input: system + messages; output: the reply).
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from snapagent.errors import NotFoundError, ProviderError
from snapagent.workflow.services import (
    ChatChunk,
    ChatModel,
    ChatRequest,
    ChatResult,
    TokenUsage,
    ToolCall,
)

__all__ = ["ScriptedChatModel", "ScriptedChatModels", "ScriptedReply"]


@dataclass(frozen=True, slots=True)
class ScriptedReply:
    """One scripted answer: text (or an error to raise), how to stream it, when to release it."""

    text: str = ""
    error: BaseException | None = None
    chunk_size: int = 8
    delay_s: float = 0.0
    """Wait this long before the first chunk (and between chunks when ``chunk_delay_s``)."""
    chunk_delay_s: float = 0.0
    wait_for: asyncio.Event | None = None
    """Block before answering until this event is set (deterministic concurrency tests)."""
    finish_reason: str = "stop"
    tool_calls: tuple[ToolCall, ...] = ()
    data: Mapping[str, Any] | None = None


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


class ScriptedChatModel:
    """A `ChatModel` fake. Unscripted calls get ``default_reply`` or raise `ProviderError`."""

    def __init__(self, model_id: str = "scripted", *, default_reply: str | None = None) -> None:
        self._model_id = model_id
        self.default_reply = default_reply
        self.requests: list[ChatRequest] = []
        self._script: deque[ScriptedReply] = deque()
        self.total_usage = TokenUsage()

    @property
    def model_id(self) -> str:
        return self._model_id

    def enqueue(
        self,
        text: str,
        *,
        chunk_size: int = 8,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        wait_for: asyncio.Event | None = None,
    ) -> ScriptedChatModel:
        self._script.append(ScriptedReply(text, None, chunk_size, delay_s, chunk_delay_s, wait_for))
        return self

    def enqueue_tool_calls(
        self, *calls: ToolCall, text: str = "", delay_s: float = 0.0
    ) -> ScriptedChatModel:
        """The next call asks for these tool calls (finish reason ``tool_calls``)."""
        reply = ScriptedReply(text, delay_s=delay_s, finish_reason="tool_calls", tool_calls=calls)
        self._script.append(reply)
        return self

    def enqueue_data(
        self, data: Mapping[str, Any] | None, *, text: str | None = None
    ) -> ScriptedChatModel:
        """The next call answers with this structured output (``text`` defaults to its JSON;
        ``None`` data stands for a model that did not produce an object)."""
        shown = text if text is not None else json.dumps(data)
        self._script.append(ScriptedReply(shown, data=data))
        return self

    def enqueue_error(
        self, error: BaseException, *, delay_s: float = 0.0, wait_for: asyncio.Event | None = None
    ) -> ScriptedChatModel:
        self._script.append(ScriptedReply("", error, 8, delay_s, 0.0, wait_for))
        return self

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        return len(self._script)

    def usage_for(self, request: ChatRequest, reply: str) -> TokenUsage:
        words = _words(request.system) + sum(_words(m.content) for m in request.messages)
        return TokenUsage(words, _words(reply))

    async def _next(self, request: ChatRequest) -> ScriptedReply:
        self.requests.append(request)
        if self._script:
            reply = self._script.popleft()
        elif self.default_reply is not None:
            reply = ScriptedReply(self.default_reply)
        else:
            raise ProviderError(
                "ScriptedChatModel has no scripted reply left",
                provider="scripted",
                model=self._model_id,
            )
        if reply.wait_for is not None:
            await reply.wait_for.wait()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.error is not None:
            raise reply.error
        return reply

    async def complete(self, request: ChatRequest) -> ChatResult:
        reply = await self._next(request)
        usage = self.usage_for(request, reply.text)
        self.total_usage = self.total_usage + usage
        return ChatResult(
            reply.text, self._model_id, reply.finish_reason, usage, reply.tool_calls, reply.data
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        reply = await self._next(request)
        size = max(1, reply.chunk_size)
        for start in range(0, len(reply.text), size):
            if reply.chunk_delay_s and start:
                await asyncio.sleep(reply.chunk_delay_s)
            yield ChatChunk(reply.text[start : start + size])
        usage = self.usage_for(request, reply.text)
        self.total_usage = self.total_usage + usage
        yield ChatChunk("", reply.finish_reason, usage, reply.tool_calls, reply.data)


class ScriptedChatModels:
    """A `ChatModelProvider` over scripted models: ``resolve(None)`` gives ``default``;
    an id not registered gives ``default`` too when ``any_id`` is set, else `NotFoundError`."""

    def __init__(
        self,
        default: ScriptedChatModel | None = None,
        models: Mapping[str, ScriptedChatModel] | None = None,
        *,
        any_id: bool = True,
    ) -> None:
        self.default = default or ScriptedChatModel()
        self.models = dict(models or {})
        self.any_id = any_id
        self.resolved: list[str | None] = []

    def resolve(self, model_id: str | None) -> ChatModel:
        self.resolved.append(model_id)
        if model_id is not None and model_id in self.models:
            return self.models[model_id]
        if model_id is None or self.any_id:
            return self.default
        raise NotFoundError(f"no scripted chat model {model_id!r}")
