"""Request body size limits enforced while the body streams in: one app-wide (it must admit a
whole document upload) and a tighter one for JSON bodies, in one middleware layer.

A declared ``Content-Length`` over the limit is refused before a byte is read; a body without
one (chunked) is counted as it arrives and refused as soon as it passes the limit. Either way the
answer is a 413 problem (problem+json, or OpenAI's error shape under ``/v1``), and an oversized
upload is never buffered whole. (Starlette's own
limiter answers text/plain when the length is declared, so we keep this small one.)

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=20 * 1024 * 1024, json_max_bytes=2**20)

A JSON body (a chat message, a workflow graph) has no business being as large as an upload:
requests whose ``Content-Type`` is JSON get the JSON limit, enforced the same way; every other
request gets the app-wide limit. Both are decided in one pass over the headers (every request
pays for this layer, so it is one layer, not two).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from snapagent.api.errors import problem_response

__all__ = ["BodySizeLimitMiddleware"]


class BodySizeLimitMiddleware:
    """Pure ASGI middleware: see the module docstring (``json_max_bytes`` None: one limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int, json_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # A JSON body is a body too: it never gets more than the app-wide limit.
        self.json_max_bytes = min(max_bytes, json_max_bytes or max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, is_json = _length_and_json(scope)
        limit = self.json_max_bytes if is_json else self.max_bytes
        if declared is not None and declared > limit:
            response = problem_response(
                413, _detail(limit), slug="payload-too-large", path=scope.get("path", "")
            )
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # An HTTPException passes FastAPI's body parsing untouched and reaches the
                    # problem+json handler (any other error would become a 400 there).
                    raise HTTPException(413, _detail(limit))
            return message

        await self.app(scope, limited_receive, send)


def _detail(limit: int) -> str:
    return f"the request body exceeds the limit of {limit} bytes"


def _length_and_json(scope: Scope) -> tuple[int | None, bool]:
    """The first ``Content-Length`` (None: none or unreadable) and whether the first
    ``Content-Type`` is JSON (``application/json`` or ``*+json``)."""
    declared: int | None = None
    content_type: bytes | None = None
    length_seen = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and not length_seen:
            length_seen = True
            try:
                declared = int(value)
            except ValueError:
                declared = None
        elif name == b"content-type" and content_type is None:
            content_type = value
    if content_type is None:
        return declared, False
    media = content_type.decode("latin-1").split(";", 1)[0].strip().lower()
    return declared, media == "application/json" or media.endswith("+json")
