"""Counts chat and upload requests per caller and answers 429 problem+json over the limit.

The caller is the API key (``sa_...``, keyed by its SHA-256 so the key itself is never stored)
or, for a login token with a valid signature, the user - so all of one user's tokens share one
limit. A bearer that is neither gets a bucket of its own and is then refused with 401 by the
route. Requests without credentials are not counted (they cannot reach a limited route).
It runs before routing and the database session of the route, so a throttled request costs one
statement. If the counter cannot be reached the request passes (the route will report the
database problem itself).

    app.add_middleware(RateLimitMiddleware, limiter=limiter, settings=settings, credentials=c)
"""

from __future__ import annotations

import hashlib
import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from snapagent.api.errors import problem_response
from snapagent.db.rate_limiter import DatabaseRateLimiter
from snapagent.errors import AuthenticationError
from snapagent.observability.routing import route_template
from snapagent.ratelimit.settings import RateLimitSettings
from snapagent.services.accounts import API_KEY_PREFIX, Credentials

__all__ = [
    "CHAT_ROUTE",
    "OPENAI_CHAT_ROUTE",
    "UPLOAD_ROUTE",
    "RateLimitMiddleware",
    "caller_identity",
]

log = logging.getLogger(__name__)

CHAT_ROUTE = "/api/v1/chat"
OPENAI_CHAT_ROUTE = "/v1/chat/completions"
UPLOAD_ROUTE = "/api/v1/knowledge-bases/{kb_id}/documents"


def caller_identity(scope: Scope, credentials: Credentials) -> str | None:
    """``key:<sha256>``, ``user:<id>`` or ``token:<sha256>``; None without a bearer."""
    header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), b"")
    scheme, _, token = header.decode("latin-1").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    digest = hashlib.sha256(token.encode()).hexdigest()[:40]
    if token.startswith(API_KEY_PREFIX):
        return f"key:{digest}"
    try:
        return f"user:{credentials.read_token(token)}"
    except AuthenticationError:
        return f"token:{digest}"


class RateLimitMiddleware:
    """Pure ASGI middleware; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limiter: DatabaseRateLimiter,
        settings: RateLimitSettings,
        credentials: Credentials,
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.credentials = credentials
        # The OpenAI-compatible chat shares the chat bucket: one limit per caller, however
        # they chat (MCP tool calls count against it too, in snapagent.api.mcp_server).
        self.limits = {
            CHAT_ROUTE: ("chat", settings.chat_per_minute),
            OPENAI_CHAT_ROUTE: ("chat", settings.chat_per_minute),
            UPLOAD_ROUTE: ("upload", settings.upload_per_minute),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        name, limit = self.limits.get(route_template(scope) or "", ("", 0))
        identity = caller_identity(scope, self.credentials) if limit else None
        if identity is not None:
            try:
                decision = await self.limiter.hit(f"{name}:{identity}", limit)
            except Exception as exc:  # the counter is best effort; the route reports the DB
                log.warning("rate limit counter unavailable: %s", type(exc).__name__)
            else:
                if not decision.allowed:
                    retry_after = str(int(decision.retry_after))
                    response = problem_response(
                        429,
                        f"more than {limit} {name} requests per {self.limiter.window_seconds} s;"
                        f" retry after {retry_after} s",
                        slug="rate-limited",
                        headers={"Retry-After": retry_after},
                        path=scope["path"],
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
