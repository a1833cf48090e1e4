"""The MCP side of ``/mcp``: the official ``mcp`` SDK's server whose tools are the caller's
published bots (rules in `snapagent.api.mcp_server`). Imported when the first MCP request
arrives, so the SDK costs nothing at startup.

    tools = BotTools(state, chat_per_minute=0)
    manager = tools.session_manager()      # run it, hand it requests
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import INVALID_PARAMS
from starlette.requests import Request

from snapagent.api.errors import problem_of
from snapagent.api.mcp_server import CALLER, Caller
from snapagent.api.state import AppState
from snapagent.errors import InputValidationError, RateLimitedError
from snapagent.services.accounts import AccountService
from snapagent.services.chat import ChatAnswer
from snapagent.services.published_bots import PublishedBot, list_published_bots

__all__ = ["TOOL_INPUT_SCHEMA", "BotTools", "tool_names"]

log = logging.getLogger(__name__)

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

_NAME_LIMIT = 64  # MCP tool names: 1-64 of A-Z a-z 0-9 _ - (clients enforce it)
_ID_SUFFIX = 8


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


class BotTools:
    """The SDK server: tools/list and tools/call for the request's caller."""

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
        # Stateless: the transport logs "Terminating session: None" at INFO after every request.
        logging.getLogger("mcp.server.streamable_http").setLevel(logging.WARNING)

    def session_manager(self) -> StreamableHTTPSessionManager:
        """A new manager (each runs once): stateless, JSON answers."""
        return StreamableHTTPSessionManager(self.server, json_response=True, stateless=True)

    @staticmethod
    def _caller(ctx: ServerRequestContext[Any]) -> Caller:
        request = ctx.request
        caller = request.scope.get(CALLER) if isinstance(request, Request) else None
        if not isinstance(caller, Caller):  # only reachable through McpEndpoint
            raise MCPError(INVALID_PARAMS, "unauthenticated request")
        return caller

    async def _tools(self, caller: Caller) -> dict[str, PublishedBot]:
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

    async def _count_chat(self, caller: Caller) -> None:
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
        self, caller: Caller, bot: PublishedBot, message: str, session_id: str | None
    ) -> ChatAnswer:
        chat = self.state.chat
        async with self.state.database.session() as session:
            accounts = AccountService(
                session, self.state.credentials, cache=self.state.credential_cache
            )
            found = await accounts.user_snapshot(caller.user_id)
            if found is None:  # deleted between authentication and now
                raise InputValidationError("the account no longer exists")
            turn = await chat.prepare(session, found.as_user(), bot.id, message, session_id)
        return await chat.answer(turn)
