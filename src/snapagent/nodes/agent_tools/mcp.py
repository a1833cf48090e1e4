"""MCP servers as agent tools: `McpConnection` (one server, one run) and `McpTool`.

The official ``mcp`` SDK's `Client` talks to the server over Streamable HTTP through
`guarded_mcp_client` (the SSRF guard and a response size cap). When a connection breaks, the
SDK cancels the task group it runs in - which would be the agent's own task. So each
connection lives in a task of its own: the agent sends it calls and awaits their answers, and a
server that refuses, goes away or answers too much fails the calls in flight (error results
the model reads) and nothing else.

    connection = McpConnection(url, headers={}, timeout_s=10)
    listing = await connection.open()              # the server's tools (ToolError if it cannot)
    outcome = await connection.call("lookup_order", {"order_id": 1}, timeout_s=10)
    await connection.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import anyio
import httpx2
import mcp_types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from snapagent.netguard.mcp_transport import guarded_mcp_client
from snapagent.netguard.transport import load_tls_context
from snapagent.nodes.agent_tools.base import AgentTool, ToolError, ToolOutcome
from snapagent.workflow.services import ToolSpec

__all__ = ["McpConnection", "McpTool", "McpToolInfo", "mcp_specs"]

log = logging.getLogger(__name__)

_MAX_PAGES: Final = 20
_MAX_DESCRIPTION: Final = 4_000


@dataclass(frozen=True, slots=True)
class McpToolInfo:
    """A tool as the server lists it."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(slots=True)
class _Job:
    name: str
    arguments: Mapping[str, Any]
    timeout_s: float
    answer: asyncio.Future[ToolOutcome]


def _describe_failure(exc: BaseException) -> str:
    """The first real cause inside what the SDK raised (task groups wrap it in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {message}"[:500]


def _text_of(result: mcp_types.CallToolResult) -> str:
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.ImageContent | mcp_types.AudioContent):
            parts.append(f"[{block.type} {block.mime_type}, {len(block.data)} base64 characters]")
        elif isinstance(block, mcp_types.EmbeddedResource):
            inner = block.resource
            if isinstance(inner, mcp_types.TextResourceContents):
                parts.append(inner.text)
            else:
                parts.append(f"[resource {inner.uri}]")
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource link {block.uri}]")
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)


class McpConnection:
    """One MCP server for one agent run (see the module docstring)."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        timeout_s: float,
        max_tools: int = 128,
        max_response_bytes: int | None = None,
    ) -> None:
        self.url = url
        self.headers = dict(headers)
        self.timeout_s = timeout_s
        self.max_tools = max_tools
        self.max_response_bytes = max_response_bytes
        self._jobs: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._listing: asyncio.Future[list[McpToolInfo]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._failure: str | None = None

    async def open(self) -> list[McpToolInfo]:
        """Connect and list the server's tools; `ToolError` saying why when it cannot."""
        loop = asyncio.get_running_loop()
        self._listing = loop.create_future()
        self._task = loop.create_task(self._serve(), name=f"mcp:{self.url[:80]}")
        try:
            async with asyncio.timeout(self.timeout_s):
                return await asyncio.shield(self._listing)
        except TimeoutError:
            raise ToolError(
                f"MCP server {self.url}: no tool list within {self.timeout_s:g} s"
            ) from None

    async def call(
        self, name: str, arguments: Mapping[str, Any], *, timeout_s: float
    ) -> ToolOutcome:
        """Call one tool; a broken connection or a timeout is a `ToolError`."""
        if self._failure is not None or self._task is None or self._task.done():
            raise ToolError(f"MCP server {self.url} is not reachable: {self._failure or 'closed'}")
        answer: asyncio.Future[ToolOutcome] = asyncio.get_running_loop().create_future()
        await self._jobs.put(_Job(name, arguments, timeout_s, answer))
        return await answer

    async def close(self) -> None:
        """Stop the connection (ending the server's session) and wait for it."""
        task = self._task
        if task is None or task.done():
            return
        self._jobs.put_nowait(None)
        try:
            async with asyncio.timeout(max(self.timeout_s, 1.0)):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except Exception:
            pass  # _serve never raises; a failure is kept in _failure

    # --- the connection's own task ----------------------------------------------------

    async def _serve(self) -> None:
        try:
            await load_tls_context()
            async with (
                guarded_mcp_client(
                    headers=self.headers,
                    # No read timeout: an answer may take as long as its call's own limit,
                    # which each call enforces (a transport timeout would end the session).
                    timeout=httpx2.Timeout(self.timeout_s, read=None),
                    max_response_bytes=self.max_response_bytes,
                ) as http,
                Client(
                    streamable_http_client(self.url, http_client=http),
                    read_timeout_seconds=self.timeout_s,
                    cache=None,
                ) as client,
            ):
                listing = await self._list(client)
                assert self._listing is not None
                if not self._listing.done():
                    self._listing.set_result(listing)
                async with anyio.create_task_group() as calls:
                    while (job := await self._jobs.get()) is not None:
                        calls.start_soon(self._run, client, job)
                    calls.cancel_scope.cancel()  # closing: calls still running are abandoned
        except asyncio.CancelledError:
            self._fail("the connection was closed")
            raise
        except (Exception, BaseExceptionGroup) as exc:  # the SDK's task group: refused, broken
            self._fail(_describe_failure(exc))
        else:
            self._fail("the connection was closed")

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
        error = ToolError(f"MCP server {self.url} is not reachable: {self._failure}")
        if self._listing is not None and not self._listing.done():
            self._listing.set_exception(error)
        while not self._jobs.empty():
            job = self._jobs.get_nowait()
            if job is not None and not job.answer.done():
                job.answer.set_exception(error)

    async def _list(self, client: Client) -> list[McpToolInfo]:
        found: list[McpToolInfo] = []
        cursor: str | None = None
        for _page in range(_MAX_PAGES):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                description = tool.description or tool.title or tool.name
                found.append(
                    McpToolInfo(tool.name, description[:_MAX_DESCRIPTION], dict(tool.input_schema))
                )
            cursor = page.next_cursor
            if cursor is None or len(found) > self.max_tools:
                break
        return found

    async def _run(self, client: Client, job: _Job) -> None:
        try:
            with anyio.fail_after(job.timeout_s):
                result = await client.call_tool(
                    job.name, dict(job.arguments), read_timeout_seconds=job.timeout_s
                )
            outcome = ToolOutcome(_text_of(result), is_error=bool(result.is_error))
        except TimeoutError:
            outcome = ToolOutcome(f"the tool did not answer within {job.timeout_s:g} s", True)
        except MCPError as exc:
            outcome = ToolOutcome(f"the MCP server answered an error: {exc.message}", True)
        except BaseException as exc:
            if not job.answer.done():
                reason = _describe_failure(exc)
                if isinstance(exc, anyio.get_cancelled_exc_class()):
                    reason = "the connection to the MCP server broke during the call"
                job.answer.set_exception(ToolError(f"MCP server {self.url}: {reason}"))
            raise
        if not job.answer.done():
            job.answer.set_result(outcome)


class McpTool(AgentTool):
    """One tool of a connected MCP server, under the name the model sees."""

    kind = "mcp"

    def __init__(
        self, spec: ToolSpec, timeout_s: float, connection: McpConnection, remote_name: str
    ) -> None:
        super().__init__(spec, timeout_s)
        self.connection = connection
        self.remote_name = remote_name

    @property
    def check_arguments(self) -> bool:
        return False  # the server validates its own arguments

    async def call(self, arguments: Mapping[str, Any]) -> ToolOutcome:
        return await self.connection.call(self.remote_name, arguments, timeout_s=self.timeout_s)


def mcp_specs(
    listing: Sequence[McpToolInfo], wanted: Sequence[str] | None, url: str
) -> list[McpToolInfo]:
    """The listed tools the config asks for (all when ``wanted`` is None), in its order;
    `ToolError` naming a wanted tool the server does not offer."""
    if wanted is None:
        return list(listing)
    by_name = {tool.name: tool for tool in listing}
    missing = [name for name in wanted if name not in by_name]
    if missing:
        offered = ", ".join(sorted(by_name)[:20]) or "none"
        raise ToolError(f"MCP server {url} offers no tool {missing[0]!r} (it offers: {offered})")
    return [by_name[name] for name in wanted]
