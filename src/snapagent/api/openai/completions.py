"""A chat turn's result as OpenAI's ``chat.completion``, or its events as a stream of
``chat.completion.chunk`` Server-Sent Events.

The stream: a first chunk with ``delta.role`` (and the ``snapagent`` extension: session and run
ids), one chunk per piece of text the workflow streams, a last chunk with ``finish_reason:
"stop"`` (its extension carries the sources), then - with ``stream_options.include_usage`` - a
chunk with empty ``choices`` and the ``usage``, and ``data: [DONE]``. Frames are bare ``data:``
lines; keep-alive pings are SSE comments, which clients skip. A failure after the stream began
ends it with ``data: {"error": {...}}`` (the problem from the one table, in OpenAI's shape) and
no ``[DONE]``: the SDKs raise it.

If the workflow's answer is not what its nodes streamed (a template after the model), the part
of the answer that was not streamed is sent as a last delta when the answer continues the
streamed text; text from intermediate model nodes cannot be taken back, as in
``POST /api/v1/chat``'s ``text`` events.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from snapagent.api.errors import problem_of
from snapagent.api.sse import PING, with_pings
from snapagent.services.chat import ChatAnswer, ChatError, ChatEvent

__all__ = ["DONE", "completion_body", "completion_frames", "openai_usage"]

DONE = b"data: [DONE]\n\n"
_PING_FRAME = b": ping\n\n"


def openai_usage(usage: Mapping[str, int]) -> dict[str, int]:
    prompt = int(usage.get("input_tokens", 0))
    completion = int(usage.get("output_tokens", 0))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": int(usage.get("total_tokens", prompt + completion)),
    }


def _extension(bot_id: str, answer: ChatAnswer) -> dict[str, Any]:
    return {
        "bot_id": bot_id,
        "session_id": answer.session_id,
        "run_id": answer.run_id,
        "version": answer.version,
        "sources": answer.sources,
    }


def completion_body(model: str, bot_id: str, answer: ChatAnswer) -> dict[str, Any]:
    """The ``chat.completion`` of a finished turn."""
    return {
        "id": f"chatcmpl-{answer.run_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.answer, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": openai_usage(answer.usage),
        "system_fingerprint": None,
        "snapagent": _extension(bot_id, answer),
    }


def _frame(payload: Mapping[str, Any]) -> bytes:
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"data: {data}\n\n".encode()


class _Chunks:
    """Builds the chunks of one stream (they share id, created and model)."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = "chatcmpl-pending"
        self.created = int(time.time())

    def chunk(
        self,
        delta: Mapping[str, Any],
        finish_reason: str | None = None,
        **extra: Any,
    ) -> bytes:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": dict(delta), "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        if self.include_usage:
            body["usage"] = None
        body.update(extra)
        return _frame(body)

    def usage(self, usage: Mapping[str, int]) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [],
            "usage": openai_usage(usage),
        }
        return _frame(body)


async def completion_frames(
    events: AsyncGenerator[ChatEvent | ChatError, None],
    *,
    model: str,
    bot_id: str,
    include_usage: bool,
    ping_interval_s: float,
) -> AsyncIterator[bytes]:
    """The chat's events (`ChatService.stream`) as OpenAI stream frames; closing this closes
    the chat's stream, which stops (and records) its run."""
    chunks = _Chunks(model, include_usage)
    streamed: list[str] = []
    async with aclosing(with_pings(events, ping_interval_s)) as paced:
        async for item in paced:
            if item == PING:
                yield _PING_FRAME
            elif isinstance(item, ChatError):
                problem = problem_of(item.error)
                body = problem.openai_body()
                if problem.unexpected:
                    body["error"]["message"] = "internal error (logged)"
                yield _frame(body)
                return
            elif isinstance(item, ChatEvent):
                frame = _event_frame(chunks, item, streamed, bot_id)
                if frame:
                    yield frame
    yield DONE


def _event_frame(chunks: _Chunks, item: ChatEvent, streamed: list[str], bot_id: str) -> bytes:
    name, data = item
    if name == "session":
        chunks.id = f"chatcmpl-{data['run_id']}"
        extension = {
            "bot_id": bot_id,
            "session_id": data["session_id"],
            "run_id": data["run_id"],
            "version": data.get("version"),
        }
        return chunks.chunk({"role": "assistant", "content": ""}, snapagent=extension)
    if name == "text":
        text = str(data.get("text", ""))
        if not text:
            return b""
        streamed.append(text)
        return chunks.chunk({"content": text})
    if name == "message":
        answer = str(data.get("answer", ""))
        sent = "".join(streamed)
        frames = b""
        if answer != sent and answer.startswith(sent):
            frames += chunks.chunk({"content": answer[len(sent) :]})
        extension = {
            "bot_id": bot_id,
            "session_id": data["session_id"],
            "run_id": data["run_id"],
            "version": data.get("version"),
            "sources": data.get("sources", []),
        }
        frames += chunks.chunk({}, "stop", snapagent=extension)
        if chunks.include_usage:
            frames += chunks.usage(data.get("usage", {}))
        return frames
    return b""  # node events and the separate sources event: the last chunk carries sources
