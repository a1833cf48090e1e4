"""A fake OpenAI-compatible server: ``POST /v1/chat/completions`` (JSON and streamed chunks
with usage in the last one) and ``POST /v1/embeddings`` (deterministic vectors).

    with OpenAIFakeServer(embedding_dimension=8) as server:
        model = OpenAIChatModel("gpt-x", api_key="k", base_url=server.base_url, ...)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import struct
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from snapagent.testing.providers.script import (
    ErrorReply,
    MalformedReply,
    RecordedRequest,
    Reply,
    ScriptedReply,
)
from snapagent.testing.providers.server import FakeProviderServer

__all__ = ["OpenAIFakeServer", "fake_embedding"]


def fake_embedding(text: str, dimension: int) -> list[float]:
    """A deterministic, not normalised vector for ``text`` (tests can recompute it)."""
    values: list[float] = []
    counter = 0
    while len(values) < dimension:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend(b / 255.0 - 0.5 for b in struct.unpack("32B", digest))
        counter += 1
    return values[:dimension]


def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _message(reply: Reply) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.tool_calls:
        message["content"] = reply.text or None
        message["tool_calls"] = [
            {
                "id": call.call_id(i),
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for i, call in enumerate(reply.tool_calls)
        ]
    return message


class OpenAIFakeServer(FakeProviderServer):
    """Speaks enough of the OpenAI API for ``openai.AsyncOpenAI`` to parse it."""

    def __init__(
        self,
        *,
        default_reply: ScriptedReply | None = None,
        responder: Callable[[RecordedRequest], ScriptedReply] | None = None,
        embedding_dimension: int = 8,
    ) -> None:
        super().__init__(default_reply=default_reply, responder=responder)
        self.embedding_dimension = embedding_dimension

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/v1/chat/completions", self._completions, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
        ]

    def _failure(self, reply: ErrorReply | MalformedReply) -> Response:
        if isinstance(reply, MalformedReply):
            return self.malformed_response(reply)
        body = {"error": {"message": reply.message, "type": "fake_error", "param": None}}
        return JSONResponse(body, status_code=reply.status, headers=self.retry_headers(reply))

    async def _completions(self, request: Request) -> Response:
        reply, received = await self.take(request)
        if not isinstance(reply, Reply):
            return self._failure(reply)
        payload = received.json()
        model = str(payload.get("model", "gpt-fake"))
        if payload.get("stream"):
            with_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            frames = self._frames(reply, model, with_usage)
            return StreamingResponse(self.tracked(frames), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": 1_700_000_000,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": _message(reply),
                        "finish_reason": "tool_calls" if reply.tool_calls else reply.finish,
                    }
                ],
                "usage": self._usage(reply),
            }
        )

    @staticmethod
    def _usage(reply: Reply) -> dict[str, int]:
        completion = reply.completion_tokens
        return {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": completion,
            "total_tokens": reply.input_tokens + completion,
        }

    async def _frames(self, reply: Reply, model: str, with_usage: bool) -> AsyncIterator[bytes]:
        def data(obj: dict[str, Any]) -> bytes:
            return f"data: {json.dumps(obj)}\n\n".encode()

        yield data(_chunk(model, {"role": "assistant", "content": ""}, None))
        for sent, piece in enumerate(reply.stream_chunks()):
            if reply.fail_after is not None and sent >= reply.fail_after:
                return  # the connection ends without [DONE], as when an upstream dies
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield data(_chunk(model, {"content": piece}, None))
        for index, call in enumerate(reply.tool_calls):
            function = {"name": call.name, "arguments": ""}
            opening = {"index": index, "id": call.call_id(index), "type": "function"}
            yield data(_chunk(model, {"tool_calls": [{**opening, "function": function}]}, None))
            for fragment in call.argument_fragments():
                piece_delta = {"index": index, "function": {"arguments": fragment}}
                yield data(_chunk(model, {"tool_calls": [piece_delta]}, None))
        finish = "tool_calls" if reply.tool_calls else reply.finish
        yield data(_chunk(model, {}, finish))
        if with_usage:
            last = _chunk(model, {}, None)
            last["choices"] = []
            last["usage"] = self._usage(reply)
            yield data(last)
        yield b"data: [DONE]\n\n"

    async def _embeddings(self, request: Request) -> Response:
        reply, received = await self.take(request)
        if not isinstance(reply, Reply):
            return self._failure(reply)
        payload = received.json()
        texts = payload["input"] if isinstance(payload["input"], list) else [payload["input"]]
        dimension = int(payload.get("dimensions") or self.embedding_dimension)
        tokens = sum(len(str(t).split()) for t in texts)
        return JSONResponse(
            {
                "object": "list",
                "model": payload.get("model", "embed-fake"),
                "data": [
                    {"object": "embedding", "index": i, "embedding": fake_embedding(t, dimension)}
                    for i, t in enumerate(texts)
                ],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )
