"""A fake Bedrock runtime: Converse (JSON), ConverseStream (AWS event-stream frames) and
InvokeModel for Titan text embeddings v2, reached by ``boto3`` through ``endpoint_url``.

    with BedrockFakeServer() as server:
        client = boto3.client("bedrock-runtime", region_name="us-east-1",
                              endpoint_url=server.base_url, aws_access_key_id="x", ...)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from snapagent.testing.providers.eventstream import encode_event, encode_exception
from snapagent.testing.providers.openai_server import fake_embedding
from snapagent.testing.providers.script import ErrorReply, MalformedReply, Reply
from snapagent.testing.providers.server import FakeProviderServer

__all__ = ["BedrockFakeServer"]

# Bedrock's error codes travel in the x-amzn-ErrorType header; botocore maps them to classes.
_ERROR_CODES = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


def _stop_reason(reply: Reply) -> str:
    return "tool_use" if reply.tool_calls else _STOP_REASONS.get(reply.finish, reply.finish)


class BedrockFakeServer(FakeProviderServer):
    """Speaks enough of bedrock-runtime for botocore to parse it (signatures are not checked)."""

    @property
    def base_url(self) -> str:
        return self.origin

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/model/{model_id:path}/converse", self._converse, methods=["POST"]),
            Route("/model/{model_id:path}/converse-stream", self._stream, methods=["POST"]),
            Route("/model/{model_id:path}/invoke", self._invoke, methods=["POST"]),
        ]

    def _failure(self, reply: ErrorReply | MalformedReply) -> Response:
        if isinstance(reply, MalformedReply):
            return self.malformed_response(reply)
        headers = self.retry_headers(reply)
        headers["x-amzn-ErrorType"] = _ERROR_CODES.get(reply.status, "InternalServerException")
        return JSONResponse({"message": reply.message}, status_code=reply.status, headers=headers)

    @staticmethod
    def _usage(reply: Reply) -> dict[str, int]:
        output = reply.completion_tokens
        return {
            "inputTokens": reply.input_tokens,
            "outputTokens": output,
            "totalTokens": reply.input_tokens + output,
        }

    async def _converse(self, request: Request) -> Response:
        reply, _ = await self.take(request)
        if not isinstance(reply, Reply):
            return self._failure(reply)
        content: list[dict[str, Any]] = []
        if reply.text or not reply.tool_calls:
            content.append({"text": reply.text})
        content += [
            {"toolUse": {"toolUseId": call.call_id(i), "name": call.name, "input": call.arguments}}
            for i, call in enumerate(reply.tool_calls)
        ]
        return JSONResponse(
            {
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": _stop_reason(reply),
                "usage": self._usage(reply),
                "metrics": {"latencyMs": 1},
            }
        )

    async def _stream(self, request: Request) -> Response:
        reply, _ = await self.take(request)
        if not isinstance(reply, Reply):
            return self._failure(reply)
        return StreamingResponse(
            self.tracked(self._frames(reply)), media_type="application/vnd.amazon.eventstream"
        )

    async def _frames(self, reply: Reply) -> AsyncIterator[bytes]:
        yield encode_event("messageStart", {"role": "assistant"})
        for sent, piece in enumerate(reply.stream_chunks()):
            if reply.fail_after is not None and sent >= reply.fail_after:
                yield encode_exception("serviceUnavailableException", "stream broke")
                return
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield encode_event(
                "contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": piece}}
            )
        yield encode_event("contentBlockStop", {"contentBlockIndex": 0})
        for index, call in enumerate(reply.tool_calls, start=1):
            use = {"toolUseId": call.call_id(index - 1), "name": call.name}
            yield encode_event(
                "contentBlockStart", {"contentBlockIndex": index, "start": {"toolUse": use}}
            )
            for fragment in call.argument_fragments():
                delta = {"toolUse": {"input": fragment}}
                yield encode_event(
                    "contentBlockDelta", {"contentBlockIndex": index, "delta": delta}
                )
            yield encode_event("contentBlockStop", {"contentBlockIndex": index})
        stop = _stop_reason(reply)
        yield encode_event("messageStop", {"stopReason": stop})
        metadata: dict[str, Any] = {"usage": self._usage(reply), "metrics": {"latencyMs": 1}}
        yield encode_event("metadata", metadata)

    async def _invoke(self, request: Request) -> Response:
        """Titan text embeddings v2: one text in, one vector out."""
        reply, received = await self.take(request)
        if not isinstance(reply, Reply):
            return self._failure(reply)
        payload = received.json()
        text = str(payload.get("inputText", ""))
        dimension = int(payload.get("dimensions", 1024))
        return JSONResponse(
            {
                "embedding": fake_embedding(text, dimension),
                "inputTextTokenCount": len(text.split()),
            }
        )
