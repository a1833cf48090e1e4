"""A tighter body limit for JSON requests than for uploads.

The app-wide limit (`snapagent.api.body_limit`) must admit a whole document upload; a JSON body
(a chat message, a workflow graph) has no business being that large. Requests whose
``Content-Type`` is JSON get ``json_max_bytes``, enforced the same way (413 problem+json, before
or while the body streams in); every other request passes to the app-wide limit.

    app.add_middleware(JsonBodyLimitMiddleware, max_bytes=1024 * 1024)
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from snapagent.api.body_limit import BodySizeLimitMiddleware

__all__ = ["JsonBodyLimitMiddleware"]


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            media = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return bool(media == "application/json" or media.endswith("+json"))
    return False


class JsonBodyLimitMiddleware:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.limited = BodySizeLimitMiddleware(app, max_bytes=max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_json(scope):
            await self.limited(scope, receive, send)
        else:
            await self.app(scope, receive, send)
