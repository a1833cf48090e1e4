"""``/mcp``: an MCP server (Streamable HTTP, built with the official ``mcp`` SDK) where every
published bot of the caller is a tool.

- **Authentication** is the API's: ``Authorization: Bearer`` with an API key or a login token,
  checked on every HTTP request before the SDK sees it (401 problem+json otherwise). The server
  is stateless - no MCP session outlives a request - so a revoked key stops working at once and
  one caller can never reach a session opened by another.
- **tools/list**: the caller's published bots (`snapagent.services.published_bots`), each a
  tool named after the bot (:func:`tool_names`), described by the bot's description, taking
  ``{message, session_id?}`` (:data:`TOOL_INPUT_SCHEMA`, the same for every tool).
- **tools/call** runs one chat turn through the app's `ChatService` (recorded like every chat)
  and answers the text with its sources and the session id to continue with; the structured
  content carries the same as JSON. A turn counts against the caller's chat rate limit, the
  bucket ``POST /api/v1/chat`` and ``POST /v1/chat/completions`` share. A failed turn (bad
  input, rate limit, provider failure) is a tool result with ``isError`` the model can read; an
  unknown tool - another account's bot included - is an MCP ``Invalid params`` error.

    endpoint = McpEndpoint(state, chat_per_minute=0)
    app.router.routes.append(Route(MCP_PATH, endpoint, methods=["GET", "POST", "DELETE"]))
    async with endpoint.run(): ...      # in the app's lifespan
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from snapagent.api.errors import problem_of, resolve_problem
from snapagent.api.state import AppState
from snapagent.db.models.accounts import User
from snapagent.errors import AuthenticationError, InputValidationError, RateLimitedError
from snapagent.ratelimit.middleware import caller_identity
from snapagent.services.accounts import AccountService
from snapagent.services.chat import ChatAnswer
from snapagent.services.published_bots import PublishedBot, list_published_bots

__all__ = ["MCP_PATH", "TOOL_INPUT_SCHEMA", "McpEndpoint", "tool_names"]

log = logging.getLogger(__name__)

MCP_PATH = "/mcp"

TOOL_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "Your message to the bot: one chat turn."},
        "session_id": {
            "type": "string",
            "description": "Continue a conversation: the session id an earlier answer gave.",
        },
    },
    "required": ["message"],
    "additionalProperties": False,
}

_CALLER = "snapagent.caller"
_NAME_LIMIT = 64  # MCP tool names: 1-64 of A-Z a-z 0-9 _ - (clients enforce it)
_ID_SUFFIX = 8


@dataclass(frozen=True, slots=True)
class _Caller:
    user_id: str
    identity: str | None
    """The chat rate limit's key (`caller_identity`)."""


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def tool_names(bots: Sequence[PublishedBot]) -> dict[str, PublishedBot]:
    """Each bot's tool name: its name in lowercase ASCII letters, digits and ``_``; a bot
    whose name gives nothing usable (Korean, emoji) or one already taken by an older bot gets
    a part of its id as well, so a bot's tool name never changes when another bot is made.
    ``bots`` come oldest first (`list_published_bots`)."""
    named: dict[str, PublishedBot] = {}
    for bot in bots:
        base = _slug(bot.name)[: _NAME_LIMIT - _ID_SUFFIX - 1]
        name = base or "bot"
        if not base or name in named:
            name = f"{name}_{bot.id[:_ID_SUFFIX]}"
        while name in named:  # ids sharing a prefix: unlikely, but names must be unique
            name = f"{name[: _NAME_LIMIT - 2]}_x"
        named[name] = bot
    return named


def _tool(name: str, bot: PublishedBot) -> types.Tool:
    description = bot.description or f"Ask the SnapAgent bot '{bot.name}'."
    return types.Tool(
        name=name, title=bot.name, description=description, input_schema=TOOL_INPUT_SCHEMA
    )


def _answer_text(answer: ChatAnswer) -> str:
    lines = [answer.answer]
    if answer.sources:
        lines += ["", "Sources:"]
        for number, source in enumerate(answer.sources, start=1):
            title = source.get("document_title") or source.get("document_id") or "document"
            shown = source.get("heading")
            heading = f" - {shown}" if shown and shown != title else ""
            snippet = " ".join(str(source.get("snippet", "")).split())[:300]
            lines.append(f"[{number}] {title}{heading}: {snippet}")
    lines += ["", f"(session_id: {answer.session_id})"]
    return "\n".join(lines)


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


class McpEndpoint:
    """The ``/mcp`` ASGI endpoint: authenticates, then hands the request to the SDK's
    stateless Streamable HTTP transport (see the module docstring)."""

    def __init__(self, state: AppState, *, chat_per_minute: int) -> None:
        self.state = state
        self.chat_per_minute = chat_per_minute
        self.server: Server[Any] = Server(
            "snapagent",
            version=version("snapagent"),
            instructions="Each tool is a SnapAgent bot: send it a message, get its answer.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            # Every tool takes the same input: the schema never depends on the caller.
            get_tool_input_schema=lambda _name: TOOL_INPUT_SCHEMA,
        )
        self.manager = self._new_manager()
        self._runs = 0
        self._holder: Callable[[], Awaitable[None]] | None = None
        # Stateless: the transport logs "Terminating session: None" at INFO after every request.
        logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)

    @asynccontextmanager
    async def run(self) -> AsyncIterator[None]:
        """The SDK's task group, for the app's lifespan. It lives in a task of its own: a
        task group must be left by the task that entered it, and a lifespan's start and end
        may run in different tasks (test fixtures do). A manager runs once, so each run has a
        new one; lifespans that overlap (one app served twice) share the running one."""
        self._runs += 1
        try:
            if self._runs == 1:
                self.manager = self._new_manager()
                self._holder = await self._hold(self.manager)
            yield
        finally:
            self._runs -= 1
            if self._runs == 0 and self._holder is not None:
                stop, self._holder = self._holder, None
                await stop()

    def _new_manager(self) -> StreamableHTTPSessionManager:
        return StreamableHTTPSessionManager(self.server, json_response=True, stateless=True)

    @staticmethod
    async def _hold(manager: StreamableHTTPSessionManager) -> Callable[[], Awaitable[None]]:
        """Run ``manager`` in a task until the returned function is awaited."""
        started, stopping = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with manager.run():
                started.set()
                await stopping.wait()

        holder = asyncio.create_task(hold(), name="mcp-session-manager")
        ready = asyncio.create_task(started.wait())
        await asyncio.wait({holder, ready}, return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if holder.done():
            holder.result()  # it failed to start: raise why

        async def stop() -> None:
            stopping.set()
            await holder

        return stop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            scope[_CALLER] = await self._authenticate(scope)
        except Exception as exc:  # the one table answers: 401, or 503 when the DB is down
            await resolve_problem(request, exc).response()(scope, receive, send)
            return
        await self.manager.handle_request(scope, receive, send)

    async def _authenticate(self, scope: Scope) -> _Caller:
        header = Request(scope).headers.get("authorization", "")
        scheme, _, bearer = header.partition(" ")
        if scheme.lower() != "bearer" or not bearer.strip():
            raise AuthenticationError(
                "authentication required: send 'Authorization: Bearer <access token or API key>'"
            )
        async with self.state.database.session() as session:
            accounts = AccountService(session, self.state.credentials, self.state.account_guard)
            user = await accounts.authenticate(bearer.strip())
            user_id = user.id
        return _Caller(user_id, caller_identity(scope, self.state.credentials))

    @staticmethod
    def _caller(ctx: ServerRequestContext[Any]) -> _Caller:
        request = ctx.request
        caller = request.scope.get(_CALLER) if isinstance(request, Request) else None
        if not isinstance(caller, _Caller):  # only reachable through McpEndpoint.__call__
            raise MCPError(INVALID_PARAMS, "unauthenticated request")
        return caller

    async def _tools(self, caller: _Caller) -> dict[str, PublishedBot]:
        async with self.state.database.session() as session:
            return tool_names(await list_published_bots(session, caller.user_id))

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = await self._tools(self._caller(ctx))
        return types.ListToolsResult(tools=[_tool(name, bot) for name, bot in tools.items()])

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        caller = self._caller(ctx)
        bot = (await self._tools(caller)).get(params.name)
        if bot is None:  # missing, unpublished or another account's: the same answer
            raise MCPError(INVALID_PARAMS, f"Unknown tool: {params.name[:100]}")
        arguments = params.arguments or {}
        message, session_id = arguments.get("message"), arguments.get("session_id")
        if not isinstance(message, str) or not isinstance(session_id, str | None):
            return _error_result("message must be text, and session_id text if given")
        try:
            await self._count_chat(caller)
            answer = await self._chat(caller, bot, message, session_id)
        except Exception as exc:
            problem = problem_of(exc)
            if problem.unexpected:
                log.exception("MCP tool call failed: %s", params.name[:100])
                return _error_result("internal error (logged)")
            field = f" ({problem.param})" if problem.param else ""
            return _error_result(f"{problem.detail}{field}")
        return types.CallToolResult(
            content=[types.TextContent(text=_answer_text(answer))],
            structured_content=answer.to_dict(),
        )

    async def _count_chat(self, caller: _Caller) -> None:
        limiter = self.state.rate_limiter
        if limiter is None or not self.chat_per_minute or caller.identity is None:
            return
        try:
            decision = await limiter.hit(f"chat:{caller.identity}", self.chat_per_minute)
        except Exception as exc:  # best effort, as in RateLimitMiddleware: the chat reports the DB
            log.warning("rate limit counter unavailable: %s", type(exc).__name__)
            return
        if not decision.allowed:
            raise RateLimitedError(
                f"more than {self.chat_per_minute} chat requests per {limiter.window_seconds} s;"
                f" retry after {int(decision.retry_after)} s",
                retry_after=decision.retry_after,
            )

    async def _chat(
        self, caller: _Caller, bot: PublishedBot, message: str, session_id: str | None
    ) -> ChatAnswer:
        chat = self.state.chat
        async with self.state.database.session() as session:
            user = await session.get(User, caller.user_id)
            if user is None:  # deleted between authentication and now
                raise InputValidationError("the account no longer exists")
            turn = await chat.prepare(session, user, bot.id, message, session_id)
        return await chat.answer(turn)
