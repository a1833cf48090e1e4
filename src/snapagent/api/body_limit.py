"""Request body size limits enforced while the body streams in: one app-wide (it must admit a
whole document upload) and a tighter one for JSON bodies.

A declared ``Content-Length`` over the limit is refused before a byte is read; a body without
one (chunked) is counted as it arrives and refused as soon as it passes the limit. Either way the
answer is a 413 problem (problem+json, or OpenAI's error shape under ``/v1``), and an oversized
upload is never buffered whole. (Starlette's own
limiter answers text/plain when the length is declared, so we keep this small one.)

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=20 * 1024 * 1024)
    app.add_middleware(JsonBodyLimitMiddleware, max_bytes=1024 * 1024)

A JSON body (a chat message, a workflow graph) has no business being as large as an upload:
requests whose ``Content-Type`` is JSON get the JSON limit, enforced the same way; every other
request passes to the app-wide limit.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from snapagent.api.errors import problem_response

__all__ = ["BodySizeLimitMiddleware", "JsonBodyLimitMiddleware"]


class BodySizeLimitMiddleware:
    """Pure ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _detail(self) -> str:
        return f"the request body exceeds the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            response = problem_response(
                413, self._detail(), slug="payload-too-large", path=scope.get("path", "")
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes FastAPI's body parsing untouched and reaches the
                    # problem+json handler (any other error would become a 400 there).
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return bool(media == "application/json" or media.endswith("+json"))
    return False


class JsonBodyLimitMiddleware:
    """Pure ASGI middleware: the JSON body limit (see the module docstring)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.limited = BodySizeLimitMiddleware(app, max_bytes=max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_json(scope):
            await self.limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)
