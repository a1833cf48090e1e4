"""``offline``: a deterministic extractive answerer - the default model, no key, no network.

It answers from the retrieved documents in the request (``ChatRequest.documents``; without
them, from the context part of the prompt) by quoting the sentences that answer the question,
each with its document's ``[n]`` citation, and says plainly when it has nothing to answer from
or nothing relevant. The answering itself is `snapagent.llm.extractive.ExtractiveAnswerer`;
this module makes it a chat model (usage, ``max_tokens``, streaming).

    model = OfflineChatModel()
    result = await model.complete(ChatRequest(messages=[ChatMessage("user", "설치 방법은?")],
                                              documents=docs))
    result.model  # "offline"
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from snapagent.llm.extractive import ExtractiveAnswerer
from snapagent.llm.offline_tools import offline_tool_answer
from snapagent.llm.tokens import estimate_tokens
from snapagent.workflow.services import ChatChunk, ChatRequest, ChatResult, TokenUsage

__all__ = ["OFFLINE_MODEL_ID", "OfflineChatModel"]

OFFLINE_MODEL_ID = "offline"
_STREAM_PIECE = 24  # characters per streamed chunk (whole words)
_WORD = re.compile(r"\S+\s*|\s+")


class OfflineChatModel:
    """The extractive answerer; see the module docstring. Stateless and safe to share."""

    def __init__(self, *, max_sentences: int = 3) -> None:
        self._answerer = ExtractiveAnswerer(max_sentences=max_sentences)

    @property
    def model_id(self) -> str:
        return OFFLINE_MODEL_ID

    def __repr__(self) -> str:
        return "OfflineChatModel()"

    def answer(self, request: ChatRequest) -> str:
        """The answer text (what ``complete`` returns and ``stream`` streams)."""
        return self._answerer.answer(request)

    def _result(self, request: ChatRequest) -> ChatResult:
        # Tool calls, answers from tool results and structured output: see offline_tools.
        special = offline_tool_answer(request)
        if special is not None:
            return special
        answer = self.answer(request)
        finish = "stop"
        if request.max_tokens is not None and estimate_tokens(answer) > request.max_tokens:
            answer = _truncate_to_tokens(answer, request.max_tokens)
            finish = "length"
        prompt = [request.system or "", *(m.content for m in request.messages)]
        prompt += [d.text for d in request.documents]
        usage = TokenUsage(estimate_tokens("\n".join(prompt)), estimate_tokens(answer))
        return ChatResult(text=answer, model=OFFLINE_MODEL_ID, finish_reason=finish, usage=usage)

    # The answer is pure CPU work on user text (message, prompt, retrieved documents): it runs
    # in a thread so that no message, however long or odd, can hold up the event loop.
    async def complete(self, request: ChatRequest) -> ChatResult:
        return await asyncio.to_thread(self._result, request)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        result = await asyncio.to_thread(self._result, request)
        for piece in _pieces(result.text):
            yield ChatChunk(text=piece)
            await asyncio.sleep(0)  # let the consumer forward each piece as it arrives
        yield ChatChunk(
            finish_reason=result.finish_reason,
            usage=result.usage,
            tool_calls=result.tool_calls,
            data=result.data,
        )


def _truncate_to_tokens(text: str, max_tokens: int) -> str:
    while text and estimate_tokens(text) > max_tokens:
        text = text[: max(0, len(text) - max(1, len(text) // 10))]
    return text


def _pieces(text: str) -> list[str]:
    """Stream pieces of about ``_STREAM_PIECE`` characters that end after whitespace."""
    pieces: list[str] = []
    current = ""
    for word in _WORD.findall(text):
        current += word
        if len(current) >= _STREAM_PIECE or "\n" in word:
            pieces.append(current)
            current = ""
    if current:
        pieces.append(current)
    return pieces
