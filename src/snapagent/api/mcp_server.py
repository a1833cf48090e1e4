"""``/mcp``: an MCP server (Streamable HTTP, built with the official ``mcp`` SDK) where every
published bot of the caller is a tool.

- **Authentication** is the API's: ``Authorization: Bearer`` with an API key or a login token,
  checked on every HTTP request before the SDK sees it (401 problem+json otherwise). The server
  is stateless - no MCP session outlives a request - so a revoked key stops working at once and
  one caller can never reach a session opened by another.
- **tools/list**: the caller's published bots (`snapagent.services.published_bots`), each a
  tool named after the bot (`snapagent.api.mcp_tools.tool_names`), described by the bot's
  description, taking ``{message, session_id?}`` (the same schema for every tool).
- **tools/call** runs one chat turn through the app's `ChatService` (recorded like every chat)
  and answers the text with its sources and the session id to continue with; the structured
  content carries the same as JSON. A turn counts against the caller's chat rate limit, the
  bucket ``POST /api/v1/chat`` and ``POST /v1/chat/completions`` share. A failed turn (bad
  input, rate limit, provider failure) is a tool result with ``isError`` the model can read; an
  unknown tool - another account's bot included - is an MCP ``Invalid params`` error.

This module is the HTTP side and imports nothing of the SDK: `snapagent.api.mcp_tools` (the
SDK's server) is imported in a worker thread when the first MCP request arrives, and its
session manager runs from then until the app's lifespan ends.

    endpoint = McpEndpoint(state, chat_per_minute=0)
    app.router.routes.append(Route(MCP_PATH, endpoint, methods=["GET", "POST", "DELETE"]))
    async with endpoint.run(): ...      # in the app's lifespan
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from snapagent.api.errors import resolve_problem
from snapagent.api.state import AppState
from snapagent.errors import AuthenticationError, UnavailableError
from snapagent.ratelimit.middleware import caller_identity
from snapagent.services.accounts import AccountService

if TYPE_CHECKING:
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

__all__ = ["CALLER", "MCP_PATH", "Caller", "McpEndpoint"]

MCP_PATH = "/mcp"

CALLER = "snapagent.caller"
"""The ASGI scope key the authenticated `Caller` is passed to the SDK's handlers under."""


@dataclass(frozen=True, slots=True)
class Caller:
    user_id: str
    identity: str | None
    """The chat rate limit's key (`caller_identity`)."""


class McpEndpoint:
    """The ``/mcp`` ASGI endpoint: authenticates, then hands the request to the SDK's
    stateless Streamable HTTP transport (see the module docstring)."""

    def __init__(self, state: AppState, *, chat_per_minute: int) -> None:
        self.state = state
        self.chat_per_minute = chat_per_minute
        self._runs = 0
        self._manager: StreamableHTTPSessionManager | None = None
        self._stop: Callable[[], Awaitable[None]] | None = None
        self._starting = asyncio.Lock()

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """For the app's lifespan: MCP requests are served while it runs; the SDK's session
        manager (started by the first of them) stops when it ends. Lifespans that overlap
        (one app served twice) share it."""
        self._runs += 1
        try:
            yield
        finally:
            self._runs -= 1
            if self._runs == 0 and self._stop is not None:
                stop, self._stop, self._manager = self._stop, None, None
                await stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            scope[CALLER] = await self._authenticate(scope)
            manager = await self._running_manager()
        except Exception as exc:  # the one table answers: 401, or 503 when the DB is down
            await resolve_problem(request, exc).response()(scope, receive, send)
            return
        await manager.handle_request(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> Caller:
        header = Request(scope).headers.get("authorization", "")
        scheme, _, bearer = header.partition(" ")
        if scheme.lower() != "bearer" or not bearer.strip():
            raise AuthenticationError(
                "authentication required: send 'Authorization: Bearer <access token or API key>'"
            )
        async with self.state.database.session() as session:
            accounts = AccountService(
                session,
                self.state.credentials,
                self.state.account_guard,
                cache=self.state.credential_cache,
            )
            user = await accounts.authenticate(bearer.strip())
            user_id = user.id
        return Caller(user_id, caller_identity(scope, self.state.credentials))

    async def _running_manager(self) -> StreamableHTTPSessionManager:
        async with self._starting:
            if self._runs == 0:
                raise UnavailableError("the server is starting or stopping; retry")
            if self._manager is None:
                # The SDK's import takes seconds on a busy machine: never on the event loop.
                tools_module = await asyncio.to_thread(
                    importlib.import_module, "snapagent.api.mcp_tools"
                )
                tools = tools_module.BotTools(self.state, chat_per_minute=self.chat_per_minute)
                manager: StreamableHTTPSessionManager = tools.session_manager()
                self._stop = await _run_in_a_task(manager)
                self._manager = manager
            return self._manager


async def _run_in_a_task(manager: StreamableHTTPSessionManager) -> Callable[[], Awaitable[None]]:
    """Run ``manager`` (its task group) in a task of its own until the returned function is
    awaited: a task group must be left by the task that entered it, and the request that
    starts it and the lifespan that stops it are different tasks."""
    started, stopping = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with manager.run():
            started.set()
            await stopping.wait()

    # A context of its own: not the first request's (its request id would tag the SDK's logs).
    holder = asyncio.create_task(hold(), name="mcp-session-manager", context=contextvars.Context())
    ready = asyncio.create_task(started.wait())
    await asyncio.wait({holder, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if holder.done():
        holder.result()  # it failed to start: raise why

    async def stop() -> None:
        stopping.set()
        await holder

    return stop
