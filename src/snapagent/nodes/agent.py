"""`AgentNodeV2`: a tool-calling loop over the provider's native tool API.

    {"id": "agent", "type": "agent",
     "config": {"model": "anthropic:claude-sonnet-4-5",
                "instruction": "You are {{ company }}'s support agent. Be brief.",
                "tools": [{"type": "knowledge", "knowledge_base_ids": ["kb-1"]},
                          {"type": "mcp", "url": "https://mcp.example.com/mcp",
                           "tools": ["lookup_order"]}],
                "max_iterations": 5},
     "inputs": {"query": {"selector": ["start", "query"]},
                "company": {"selector": ["start", "company"]}}}

Each iteration is one model call: when the model asks for tools, every call is answered (the
calls of one turn run at once, a few at a time), the results go back, and the model is asked
again; when it answers in text, the loop ends. After ``max_iterations`` rounds of tool use the
model is asked once more with tools forbidden (``on_max_iterations: "answer"``, the default)
or the node fails (``"fail"``). A failing tool is an error result the model reads, never a
failed run; the node fails only when the model call fails, an MCP server cannot be reached at
the start, a call's arguments cannot be checked against its tool's schema within
``SNAPAGENT_AGENT_ARGUMENT_CHECK_TIMEOUT_S`` (the schema is too costly), or the whole loop
passes its ``timeout_s``.

Text streams out (``ctx.emit_text``) as the model writes it, in every turn; the ``text`` output
is what was streamed: the turns' texts joined by blank lines. ``tool_calls`` records every call
(name, arguments, result as the model read it, is_error, elapsed_s, iteration); ``documents``
holds what knowledge tools retrieved (for citations).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from snapagent.errors import NodeExecutionError, NodeTimeoutError
from snapagent.nodes.agent_tools.base import ToolEnv
from snapagent.nodes.agent_tools.config import HttpToolConfig, McpToolConfig, ToolConfig
from snapagent.nodes.agent_tools.toolbox import Toolbox, ToolboxLimits, ToolCallRecord
from snapagent.nodes.llm import HISTORY_PORT, history_messages
from snapagent.nodes.model_calls import QUERY_PORT, ModelSettings, resolve_model
from snapagent.nodes.settings import NodeSettings, get_node_settings
from snapagent.nodes.templating import render, template_variables
from snapagent.workflow.node import BaseNodeV2, NodeResult, ResourceRef, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.services import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    TokenUsage,
    ToolCall,
    ToolChoice,
)
from snapagent.workflow.system_names import CALL_DEPTH
from snapagent.workflow.types import PortType

__all__ = ["AgentNodeData", "AgentNodeV2"]

_TURN_SEPARATOR = "\n\n"
_LAST_CALL_NOTE = (
    "The tool budget of this answer is used up. Answer the user now with what the tools "
    "returned; do not ask for more tools."
)


class AgentNodeData(ModelSettings):
    """``model``, ``instruction`` (the system prompt) and ``temperature`` as the decision
    nodes have them, plus the tools and the loop's limits."""

    tools: list[ToolConfig] = Field(
        default_factory=list, max_length=32, description="The tools the model may call."
    )
    max_iterations: int = Field(
        default=5,
        ge=1,
        description="Most rounds of tool use (at most SNAPAGENT_AGENT_MAX_ITERATIONS).",
    )
    on_max_iterations: Literal["answer", "fail"] = Field(
        default="answer",
        description="When the rounds are used up: answer (one last call, tools forbidden) "
        "or fail the node.",
    )
    max_tokens: int | None = Field(
        default=None, ge=1, le=200_000, description="Longest answer per model call, in tokens."
    )
    timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Time limit of the whole loop (default and ceiling: "
        "SNAPAGENT_AGENT_TIMEOUT_S).",
    )
    tool_timeout_s: float | None = Field(
        default=None,
        gt=0,
        le=3600,
        description="Time limit of one tool call (default and ceiling: "
        "SNAPAGENT_AGENT_TOOL_TIMEOUT_S); a tool's own timeout_s wins.",
    )
    max_tool_result_chars: int | None = Field(
        default=None,
        ge=100,
        description="Longest tool result the model reads (default and ceiling: "
        "SNAPAGENT_AGENT_MAX_TOOL_RESULT_CHARS).",
    )
    parallel_tools: bool = Field(
        default=True,
        description="Run the calls of one model turn at once (a few at a time).",
    )
    use_run_history: bool = Field(
        default=True, description="With no history input wired, send the chat so far."
    )

    @field_validator("max_iterations")
    @classmethod
    def _bounded(cls, value: int) -> int:
        limit = get_node_settings().agent_max_iterations
        if value > limit:
            raise ValueError(
                f"max_iterations may be at most {limit} (SNAPAGENT_AGENT_MAX_ITERATIONS)"
            )
        return value

    @field_validator("tools")
    @classmethod
    def _unique_names(cls, tools: list[ToolConfig]) -> list[ToolConfig]:
        seen: dict[str, int] = {}
        for position, name in _static_names(tools):
            if name in seen:
                raise ValueError(
                    f"tools[{position}] is named {name!r} like tools[{seen[name]}]; "
                    "tool names must be unique"
                )
            seen[name] = position
        return tools


def _static_names(tools: Sequence[ToolConfig]) -> list[tuple[int, str]]:
    """The names known before any MCP server is asked: every named tool's, and the names an
    MCP tool lists in ``tools`` (with its prefix)."""
    names = []
    for position, tool in enumerate(tools):
        if isinstance(tool, McpToolConfig):
            names += [(position, f"{tool.prefix}{name}") for name in tool.tools or ()]
        else:
            names.append((position, tool.name))
    return names


@dataclass(slots=True)
class _Transcript:
    """What one run of the loop has said and done so far."""

    texts: list[str] = field(default_factory=list)
    records: list[ToolCallRecord] = field(default_factory=list)
    usage: TokenUsage = field(default_factory=TokenUsage)
    iterations: int = 0

    def summary(self) -> str:
        if not self.records:
            return "no tool call was made"
        names = ", ".join(r.name for r in self.records[:10])
        more = "..." if len(self.records) > 10 else ""
        return f"{len(self.records)} tool call(s) made: {names}{more}"

    def documents(self) -> list[dict[str, Any]]:
        seen: set[tuple[Any, Any]] = set()
        found = []
        for record in self.records:
            for doc in record.documents:
                key = (doc.get("document_id"), doc.get("chunk_id") or doc.get("chunk_index"))
                if key not in seen:
                    seen.add(key)
                    found.append(dict(doc))
        return found


class AgentNodeV2(BaseNodeV2[AgentNodeData]):
    """Calls tools in a loop until the model answers (see the module docstring)."""

    type_key = "agent"
    config_model = AgentNodeData
    title = "Agent"
    category = "model"
    dynamic_ports = True
    description = "A model that calls tools (HTTP APIs, MCP servers, knowledge, other bots)."
    default_config: ClassVar[Mapping[str, Any]] = {
        "instruction": "You are a helpful assistant. Use the tools when they help.",
        "tools": [],
        "max_iterations": 5,
    }

    @classmethod
    def resources(cls, config: Mapping[str, Any]) -> list[ResourceRef]:
        """The knowledge bases and model (the default rule), plus the bots workflow tools ask."""
        refs = super().resources(config)
        tools = config.get("tools")
        for position, tool in enumerate(tools if isinstance(tools, list) else []):
            if isinstance(tool, Mapping) and tool.get("type") == "workflow":
                bot_id = tool.get("bot_id")
                if isinstance(bot_id, str):
                    refs.append(ResourceRef("bot", bot_id, f"config.tools[{position}].bot_id"))
        return refs

    def _template_variables(self) -> set[str]:
        names = set(template_variables(self.config.instruction, "config.instruction"))
        for position, tool in enumerate(self.config.tools):
            if isinstance(tool, HttpToolConfig | McpToolConfig):
                for key, value in tool.headers.items():
                    field = f"config.tools[{position}].headers.{key}"
                    names |= set(template_variables(value, field))
        return names - {QUERY_PORT, HISTORY_PORT}

    def port_schema(self) -> NodePortSchema:
        inputs = [
            PortDefinition(name=QUERY_PORT, type=PortType.STRING, description="the user's request")
        ]
        inputs += [PortDefinition(name=n) for n in sorted(self._template_variables())]
        inputs.append(
            PortDefinition(name=HISTORY_PORT, type=PortType.MESSAGES, required=False, default=None)
        )
        return NodePortSchema(
            inputs=tuple(inputs),
            outputs=(
                PortDefinition(name="text", type=PortType.STRING),
                PortDefinition(name="tool_calls", type=PortType.ARRAY_OBJECT),
                PortDefinition(name="usage", type=PortType.OBJECT),
                PortDefinition(name="documents", type=PortType.DOCUMENTS),
                PortDefinition(name="iterations", type=PortType.INTEGER),
                PortDefinition(name="finish_reason", type=PortType.STRING),
            ),
        )

    def _limits(self, settings: NodeSettings) -> ToolboxLimits:
        """The node's own limits, never past the operator's (each setting is the default and
        the ceiling)."""
        config = self.config
        timeout = settings.agent_tool_timeout_s
        result_chars = settings.agent_max_tool_result_chars
        return ToolboxLimits(
            timeout_s=min(config.tool_timeout_s or timeout, timeout),
            result_chars=min(config.max_tool_result_chars or result_chars, result_chars),
            max_tools=settings.agent_max_tools,
            max_calls=settings.agent_max_tool_calls,
            parallel=settings.agent_max_parallel_tools if config.parallel_tools else 1,
            max_bot_depth=settings.agent_max_bot_depth,
            argument_chars=settings.agent_max_argument_chars,
            argument_check_timeout_s=settings.agent_argument_check_timeout_s,
        )

    def _error(self, message: str) -> NodeExecutionError:
        return NodeExecutionError(f"agent {self.node_id!r}: {message}", node_id=self.node_id)

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        query = inputs.get(QUERY_PORT)
        if not isinstance(query, str):
            raise self._error(f"query must be text, got {type(query).__name__}")
        settings = get_node_settings()
        values = {k: v for k, v in inputs.items() if k != HISTORY_PORT}
        system = (await render(ctx, self.config.instruction, values, node_id=self.node_id)).strip()
        history = inputs.get(HISTORY_PORT)
        if history is None and self.config.use_run_history:
            history = ctx.inputs.get("history")
        messages = [*history_messages(history, self.node_id), ChatMessage("user", query)]
        model = resolve_model(ctx, self.config.model)
        limits = self._limits(settings)
        depth = ctx.sys.get(CALL_DEPTH)
        env = ToolEnv(
            ctx, self.node_id, values, limits.timeout_s, depth if isinstance(depth, int) else 0
        )
        budget = min(self.config.timeout_s or settings.agent_timeout_s, settings.agent_timeout_s)
        transcript = _Transcript()
        deadline = asyncio.timeout(budget)
        try:
            async with deadline, Toolbox.open(self.config.tools, env, limits) as box:
                finish = await self._loop(model, box, messages, system or None, ctx, transcript)
        except TimeoutError:
            if not deadline.expired():  # a provider's own timeout: its error says more
                raise
            raise NodeTimeoutError(
                f"agent {self.node_id!r}: no answer within {budget:g} s ({transcript.summary()})",
                node_id=self.node_id,
            ) from None
        return NodeResult(
            {
                "text": _TURN_SEPARATOR.join(transcript.texts),
                "tool_calls": [record.to_dict() for record in transcript.records],
                "usage": transcript.usage.to_dict(),
                "documents": transcript.documents(),
                "iterations": transcript.iterations,
                "finish_reason": finish,
            },
            usage=transcript.usage,
        )

    async def _loop(
        self,
        model: ChatModel,
        box: Toolbox,
        messages: list[ChatMessage],
        system: str | None,
        ctx: RunContext,
        transcript: _Transcript,
    ) -> str:
        """Ask, answer the tool calls, ask again; returns the finish reason."""
        query = messages[-1].content
        for iteration in range(1, self.config.max_iterations + 1):
            transcript.iterations = iteration
            text, calls = await self._ask(model, self._request(messages, system, box, query), ctx,
                                          transcript)  # fmt: skip
            if not calls:
                return "stop"
            messages.append(ChatMessage("assistant", text, tool_calls=calls))
            records = await box.run_all(calls, iteration=iteration)
            transcript.records += records
            messages += [
                ChatMessage.tool_result(r.id, r.result, is_error=r.is_error) for r in records
            ]
        if self.config.on_max_iterations == "fail":
            raise self._error(
                f"the model still wanted tools after max_iterations={self.config.max_iterations} "
                f"rounds ({transcript.summary()})"
            )
        final_system = f"{system}\n\n{_LAST_CALL_NOTE}" if system else _LAST_CALL_NOTE
        request = self._request(messages, final_system, box, query, ToolChoice("none"))
        await self._ask(model, request, ctx, transcript)  # tool calls asked now are not run
        return "max_iterations"

    def _request(
        self,
        messages: Sequence[ChatMessage],
        system: str | None,
        box: Toolbox,
        query: str,
        choice: ToolChoice | None = None,
    ) -> ChatRequest:
        return ChatRequest(
            messages=tuple(messages),
            system=system,
            temperature=self.config.temperature,
            max_tokens=self.config.max_tokens,
            query=query,
            tools=box.specs,
            tool_choice=choice if box.specs else None,
        )

    async def _ask(
        self, model: ChatModel, request: ChatRequest, ctx: RunContext, transcript: _Transcript
    ) -> tuple[str, tuple[ToolCall, ...]]:
        """One streamed model call: its text goes out as it comes (after a blank line when an
        earlier turn spoke), its usage is counted; returns the text and the tool calls."""
        pieces: list[str] = []
        calls: tuple[ToolCall, ...] = ()
        usage: TokenUsage | None = None
        async for chunk in model.stream(request):
            if chunk.text:
                if not pieces and transcript.texts:
                    ctx.emit_text(self.node_id, _TURN_SEPARATOR)
                pieces.append(chunk.text)
                ctx.emit_text(self.node_id, chunk.text)
            if chunk.usage is not None:
                usage = chunk.usage
            if chunk.tool_calls:
                calls = chunk.tool_calls
        transcript.usage = transcript.usage + (usage or TokenUsage())
        text = "".join(pieces)
        if text:
            transcript.texts.append(text)
        return text, calls
