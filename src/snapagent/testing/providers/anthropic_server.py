"""A fake Anthropic Messages API: ``POST /v1/messages``, JSON and the SSE event sequence.

with AnthropicFakeServer() as server:
    model = AnthropicChatModel("claude-x", api_key="k", base_url=server.base_url, ...)
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from snapagent.testing.providers.script import ErrorReply, MalformedReply, Reply
from snapagent.testing.providers.server import FakeProviderServer

__all__ = ["AnthropicFakeServer"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_calls else _STOP_REASONS.get(reply.finish, reply.finish)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class AnthropicFakeServer(FakeProviderServer):
    """Speaks enough of the Messages API for ``anthropic.AsyncAnthropic`` to parse it."""

    @property
    def base_url(self) -> str:
        return self.origin

    def routes(self) -> Sequence[BaseRoute]:
        return [Route("/v1/messages", self._messages, methods=["POST"])]

    async def _messages(self, request: Request) -> Response:
        reply, received = await self.take(request)
        if isinstance(reply, ErrorReply):
            headers = self.retry_headers(reply)
            error_type = _ERROR_TYPES.get(reply.status, "api_error")
            body = {"type": "error", "error": {"type": error_type, "message": reply.message}}
            return JSONResponse(body, status_code=reply.status, headers=headers)
        if isinstance(reply, MalformedReply):
            return self.malformed_response(reply)
        payload = received.json()
        model = str(payload.get("model", "claude-fake"))
        if payload.get("stream"):
            return StreamingResponse(
                self.tracked(self._events(reply, model)), media_type="text/event-stream"
            )
        content: list[dict[str, Any]] = []
        if reply.text or not reply.tool_calls:
            content.append({"type": "text", "text": reply.text})
        content += [
            {"type": "tool_use", "id": call.call_id(i), "name": call.name, "input": call.arguments}
            for i, call in enumerate(reply.tool_calls)
        ]
        return JSONResponse(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": _stop_reason(reply),
                "stop_sequence": None,
                "usage": {
                    "input_tokens": reply.input_tokens,
                    "output_tokens": reply.completion_tokens,
                },
            }
        )

    async def _events(self, reply: Reply, model: str) -> AsyncIterator[bytes]:
        start: dict[str, Any] = {
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": 1},
        }
        yield _sse("message_start", {"type": "message_start", "message": start})
        yield _sse("ping", {"type": "ping"})
        index = 0
        chunks = reply.stream_chunks()
        if chunks or not reply.tool_calls:
            block = {"type": "text", "text": ""}
            yield _sse(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            )
            for sent, chunk in enumerate(chunks):
                if reply.fail_after is not None and sent >= reply.fail_after:
                    error = {"type": "overloaded_error", "message": "stream broke"}
                    yield _sse("error", {"type": "error", "error": error})
                    return
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                delta = {"type": "text_delta", "text": chunk}
                yield _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            index = 1
        for position, call in enumerate(reply.tool_calls, start=index):
            block = {"type": "tool_use", "id": call.call_id(position - index), "name": call.name}
            yield _sse(
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": position,
                    "content_block": {**block, "input": {}},
                },
            )
            for fragment in call.argument_fragments():
                delta = {"type": "input_json_delta", "partial_json": fragment}
                yield _sse(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": position, "delta": delta},
                )
            yield _sse("content_block_stop", {"type": "content_block_stop", "index": position})
        stop = {"stop_reason": _stop_reason(reply), "stop_sequence": None}
        usage = {"output_tokens": reply.completion_tokens}
        yield _sse("message_delta", {"type": "message_delta", "delta": stop, "usage": usage})
        yield _sse("message_stop", {"type": "message_stop"})
