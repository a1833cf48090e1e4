"""`Toolbox`: the tools of one agent run, by the name the model sees, and the one place a
tool call is made - looked up, its arguments checked, under its time limit, its result cut to
size, timed and recorded. Whatever goes wrong in a call becomes an error result for the model.

    async with Toolbox.open(config.tools, env, limits) as box:
        result = await model.complete(ChatRequest(messages, tools=box.specs))
        records = await box.run_all(result.tool_calls, iteration=1)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING, Any

from snapagent.errors import NodeExecutionError, SnapAgentError
from snapagent.nodes.agent_tools.argument_check import default_checker
from snapagent.nodes.agent_tools.base import AgentTool, ToolEnv, ToolError, ToolOutcome
from snapagent.nodes.agent_tools.config import (
    HttpToolConfig,
    KnowledgeToolConfig,
    McpToolConfig,
    ToolConfig,
    WorkflowToolConfig,
)
from snapagent.nodes.agent_tools.http import HttpTool
from snapagent.nodes.agent_tools.knowledge import KnowledgeTool
from snapagent.nodes.agent_tools.schemas import MAX_SCHEMA_CHARS, provider_safe_name
from snapagent.nodes.agent_tools.workflow import WorkflowTool
from snapagent.nodes.templating import render
from snapagent.workflow.services import ToolCall, ToolSpec

if TYPE_CHECKING:  # the MCP SDK (it imports starlette) loads only when a graph uses MCP
    from snapagent.nodes.agent_tools.mcp import McpConnection, McpToolInfo

__all__ = ["ToolCallRecord", "Toolbox", "ToolboxLimits", "cut", "load_mcp"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolboxLimits:
    """The operator's bounds on one agent run's tools (`snapagent.nodes.settings`)."""

    timeout_s: float = 30.0
    result_chars: int = 20_000
    max_tools: int = 128
    max_calls: int = 50
    parallel: int = 4
    max_bot_depth: int = 3
    argument_chars: int = 100_000
    argument_check_timeout_s: float = 2.0


@dataclass(slots=True)
class ToolCallRecord:
    """One tool call as the node's ``tool_calls`` output records it."""

    id: str
    name: str
    kind: str
    arguments: Mapping[str, Any]
    result: str
    is_error: bool
    elapsed_s: float
    iteration: int
    truncated: bool = False
    documents: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.kind,
            "arguments": dict(self.arguments),
            "result": self.result,
            "is_error": self.is_error,
            "elapsed_s": round(self.elapsed_s, 6),
            "iteration": self.iteration,
            "truncated": self.truncated,
        }


async def load_mcp() -> None:
    """Import the MCP SDK on a thread, once: it takes a second or more, so a server pays it at
    the first run with MCP tools, never at start-up (``/health`` answers at once) and never on
    the event loop."""
    if "snapagent.nodes.agent_tools.mcp" not in sys.modules:
        await asyncio.to_thread(importlib.import_module, "snapagent.nodes.agent_tools.mcp")


def cut(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, saying so; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    return f"{text[:limit]}\n... [cut: {len(text) - limit} more characters]", True


class Toolbox:
    """See the module docstring. Built by `open`, which connects MCP servers for the run."""

    def __init__(self, tools: Sequence[AgentTool], limits: ToolboxLimits, node_id: str) -> None:
        self.tools = {tool.spec.name: tool for tool in tools}
        self.limits = limits
        self.node_id = node_id
        self.calls_made = 0
        # Serialized once per run: the worker that checks arguments receives it as text.
        self._schemas = {tool.spec.name: json.dumps(tool.spec.parameters) for tool in tools}
        self._slots = asyncio.Semaphore(limits.parallel)

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self.tools.values())

    # --- building ---------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, configs: Sequence[ToolConfig], env: ToolEnv, limits: ToolboxLimits
    ) -> AsyncIterator[Toolbox]:
        """The run's tools; MCP servers are connected (all at once) and closed on exit. A
        server that cannot be reached, a name used twice or too many tools fail the node."""
        connections: list[tuple[McpToolConfig, McpConnection]] = []
        if any(isinstance(config, McpToolConfig) for config in configs):
            await load_mcp()
        try:
            pending: list[tuple[int, AgentTool | None]] = []
            for position, config in enumerate(configs):
                if isinstance(config, McpToolConfig):
                    from snapagent.nodes.agent_tools.mcp import McpConnection

                    connection = McpConnection(
                        config.url,
                        headers=await cls._headers(config.headers, env),
                        timeout_s=cls._timeout(config.timeout_s, limits),
                        max_tools=limits.max_tools,
                    )
                    connections.append((config, connection))
                    pending.append((position, None))
                else:
                    pending.append((position, await cls._local_tool(config, env, limits)))
            listings = await cls._connect([c for _config, c in connections], env.node_id)
            tools: list[AgentTool] = []
            remote = iter(zip(connections, listings, strict=True))
            for _position, tool in pending:
                if tool is not None:
                    tools.append(tool)
                    continue
                (config, connection), listing = next(remote)
                tools += cls._mcp_tools(config, connection, listing, env.node_id, limits)
            yield cls(cls._checked(tools, env.node_id, limits), limits, env.node_id)
        finally:
            await asyncio.gather(*(c.close() for _config, c in connections))

    @staticmethod
    def _timeout(own: float | None, limits: ToolboxLimits) -> float:
        return min(own or limits.timeout_s, limits.timeout_s)

    @staticmethod
    async def _headers(headers: Mapping[str, str], env: ToolEnv) -> dict[str, str]:
        return {
            k: await render(env.ctx, v, env.values, node_id=env.node_id) for k, v in headers.items()
        }

    @classmethod
    async def _local_tool(
        cls, config: ToolConfig, env: ToolEnv, limits: ToolboxLimits
    ) -> AgentTool:
        if isinstance(config, HttpToolConfig):
            return HttpTool(
                config,
                headers=await cls._headers(config.headers, env),
                timeout_s=cls._timeout(config.timeout_s, limits),
            )
        if isinstance(config, KnowledgeToolConfig):
            return KnowledgeTool(config, env.ctx, limits.timeout_s)
        assert isinstance(config, WorkflowToolConfig)
        return WorkflowTool(
            config,
            env.ctx,
            cls._timeout(config.timeout_s, limits),
            depth=env.depth + 1,
            max_depth=limits.max_bot_depth,
        )

    @staticmethod
    async def _connect(connections: Sequence[McpConnection], node_id: str) -> list[Any]:
        results = await asyncio.gather(*(c.open() for c in connections), return_exceptions=True)
        for result in results:
            if isinstance(result, ToolError):
                raise NodeExecutionError(f"agent {node_id!r}: {result.message}", node_id=node_id)
            if isinstance(result, BaseException):
                raise result
        return list(results)

    @staticmethod
    def _mcp_tools(
        config: McpToolConfig,
        connection: McpConnection,
        listing: Sequence[McpToolInfo],
        node_id: str,
        limits: ToolboxLimits,
    ) -> list[AgentTool]:
        from snapagent.nodes.agent_tools.mcp import McpTool, mcp_specs

        try:
            chosen = mcp_specs(listing, config.tools, config.url)
        except ToolError as exc:
            raise NodeExecutionError(f"agent {node_id!r}: {exc.message}", node_id=node_id) from None
        tools: list[AgentTool] = []
        for info in chosen:
            schema = dict(info.input_schema)
            if schema.get("type") != "object":
                schema = {"type": "object", "properties": {}}
            if len(json.dumps(schema)) > MAX_SCHEMA_CHARS:
                raise NodeExecutionError(
                    f"agent {node_id!r}: MCP tool {info.name!r} of {config.url} has an argument "
                    f"schema over {MAX_SCHEMA_CHARS} characters (leave it out with 'tools')",
                    node_id=node_id,
                )
            spec = ToolSpec(provider_safe_name(info.name, config.prefix), info.description, schema)
            timeout = min(config.timeout_s or limits.timeout_s, limits.timeout_s)
            tools.append(McpTool(spec, timeout, connection, info.name))
        return tools

    @staticmethod
    def _checked(
        tools: Sequence[AgentTool], node_id: str, limits: ToolboxLimits
    ) -> Sequence[AgentTool]:
        seen: dict[str, AgentTool] = {}
        for tool in tools:
            other = seen.get(tool.spec.name)
            if other is not None:
                raise NodeExecutionError(
                    f"agent {node_id!r}: two tools are named {tool.spec.name!r} (a "
                    f"{other.kind} tool and a {tool.kind} tool; an MCP tool's 'prefix' tells "
                    "them apart)",
                    node_id=node_id,
                )
            seen[tool.spec.name] = tool
        if len(tools) > limits.max_tools:
            raise NodeExecutionError(
                f"agent {node_id!r}: {len(tools)} tools, over the limit of {limits.max_tools} "
                "(name the MCP tools to offer in 'tools'; SNAPAGENT_AGENT_MAX_TOOLS)",
                node_id=node_id,
            )
        return tools

    # --- calling ----------------------------------------------------------------------

    async def run_all(self, calls: Sequence[ToolCall], *, iteration: int) -> list[ToolCallRecord]:
        """Answer every call of one model turn (at most ``limits.parallel`` at once), in the
        order the model made them. A `NodeExecutionError` (arguments that cannot be checked
        within their limits) fails the node."""
        if len(calls) == 1:
            return [await self.run(calls[0], iteration=iteration)]
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._slotted(c, iteration)) for c in calls]
        except* NodeExecutionError as failed:
            raise failed.exceptions[0] from None
        return [task.result() for task in tasks]

    async def _slotted(self, call: ToolCall, iteration: int) -> ToolCallRecord:
        async with self._slots:
            return await self.run(call, iteration=iteration)

    async def run(self, call: ToolCall, *, iteration: int) -> ToolCallRecord:
        """One call, never raising (but for cancellation, and a `NodeExecutionError` when its
        arguments cannot be checked within their limits): see the module docstring."""
        started = perf_counter()
        tool = self.tools.get(call.name)
        self.calls_made += 1
        outcome = await self._outcome(tool, call)
        text, truncated = cut(outcome.content, self.limits.result_chars)
        return ToolCallRecord(
            call.id,
            call.name,
            tool.kind if tool is not None else "unknown",
            call.arguments,
            text,
            outcome.is_error,
            perf_counter() - started,
            iteration,
            truncated,
            outcome.documents,
        )

    async def _outcome(self, tool: AgentTool | None, call: ToolCall) -> ToolOutcome:
        if tool is None:
            names = ", ".join(self.tools) or "none"
            return ToolOutcome(f"there is no tool named {call.name!r} (tools: {names})", True)
        if self.calls_made > self.limits.max_calls:
            return ToolOutcome(
                f"the limit of {self.limits.max_calls} tool calls per run is reached; "
                "answer with what you have",
                True,
            )
        refused = await self._argument_problem(tool, call)
        if refused is not None:
            return ToolOutcome(refused, True)
        try:
            async with asyncio.timeout(tool.timeout_s):
                return await tool.call(call.arguments)
        except TimeoutError:
            return ToolOutcome(f"the tool did not answer within {tool.timeout_s:g} s", True)
        except ToolError as exc:
            return ToolOutcome(exc.message, True)
        except SnapAgentError as exc:
            return ToolOutcome(exc.message, True)
        except Exception as exc:
            log.warning("agent %s: tool %r failed", self.node_id, call.name, exc_info=True)
            return ToolOutcome(f"{type(exc).__name__}: {exc}"[:1_000], True)

    async def _argument_problem(self, tool: AgentTool, call: ToolCall) -> str | None:
        """What is wrong with the call's arguments, for the model: over the size limit (for
        every tool), or not matching the schema (checked in a worker: `argument_check`)."""
        try:
            arguments = json.dumps(dict(call.arguments))
        except (TypeError, ValueError, RecursionError):
            return "the arguments are not plain JSON"
        limit = self.limits.argument_chars
        if len(arguments) > limit:
            return (
                f"the arguments are {len(arguments)} characters of JSON, over the limit of "
                f"{limit} (SNAPAGENT_AGENT_MAX_ARGUMENT_CHARS); send less"
            )
        if not tool.check_arguments:
            return None
        problem = await default_checker().problem(
            self._schemas[tool.spec.name],
            arguments,
            tool=tool.spec.name,
            node_id=self.node_id,
            timeout_s=self.limits.argument_check_timeout_s,
        )
        return None if problem is None else f"the arguments do not match the schema: {problem}"
