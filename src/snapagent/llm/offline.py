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
from snapagent.llm.quotable import SentenceCache
from snapagent.llm.tokens import estimate_tokens
from snapagent.workflow.services import ChatChunk, ChatRequest, ChatResult, TokenUsage

__all__ = ["OFFLINE_MODEL_ID", "OfflineChatModel"]

OFFLINE_MODEL_ID = "offline"
_STREAM_PIECE = 24  # characters per streamed chunk (whole words)
_WORD = re.compile(r"\S+\s*|\s+")


class OfflineChatModel:
    """The extractive answerer; see the module docstring. Stateless and safe to share.

    ``inline_chars``: a plain request (no tools, no structured output) of at most this many
    characters in all (system prompt, messages, documents) is answered on the calling thread;
    anything larger in a worker thread (`SNAPAGENT_OFFLINE_INLINE_CHARS`). ``sentence_cache``:
    how many retrieved texts keep their analysed sentences (`snapagent.llm.quotable`,
    `SNAPAGENT_OFFLINE_SENTENCE_CACHE`).
    """

    def __init__(
        self, *, max_sentences: int = 3, inline_chars: int = 1000, sentence_cache: int = 1024
    ) -> None:
        self._answerer = ExtractiveAnswerer(
            max_sentences=max_sentences, sentence_cache=SentenceCache(sentence_cache)
        )
        self.inline_chars = inline_chars

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
    # in a thread so that no message, however long or odd, can hold up the event loop - unless
    # the request is small enough that its answer costs less than the thread hop (the work is
    # linear in the text: ~10 us for a chat without documents, ~0.4 ms per 1,000 characters of
    # documents), which is most chats of a bot without knowledge.
    async def complete(self, request: ChatRequest) -> ChatResult:
        if self._small(request):
            return self._result(request)
        return await asyncio.to_thread(self._result, request)

    def _small(self, request: ChatRequest) -> bool:
        if request.tools or request.response_format is not None:
            return False  # tool choice and schema filling read more than the text
        budget = self.inline_chars - len(request.system or "")
        for message in request.messages:
            budget -= len(message.content)
        for doc in request.documents:
            budget -= len(doc.text) + len(doc.document_title) + len(doc.heading or "")
        return budget >= 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[ChatChunk]:
        result = await self.complete(request)
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
