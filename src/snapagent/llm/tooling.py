"""What the provider clients share for tool calling and structured output.

Anthropic and Bedrock have no JSON mode that every model supports, but every model with tool
use can be *made* to call a tool: a structured-output request becomes one more tool whose input
schema is the wanted schema, forced with the tool choice, and the call's arguments are the
answer (`structured_as_tool` before the call, `take_structured` after it). OpenAI has a native
``response_format``; its text is parsed with `parse_json_object`.

Streamed tool calls arrive as fragments of JSON; `ToolCallAccumulator` joins them per block.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snapagent.llm.errors import ProviderMalformedResponseError
from snapagent.workflow.services import ChatRequest, ToolCall, ToolChoice, ToolSpec

__all__ = [
    "ToolCallAccumulator",
    "parse_arguments",
    "parse_json_object",
    "structured_as_tool",
    "take_structured",
]


def structured_as_tool(request: ChatRequest) -> tuple[Sequence[ToolSpec], ToolChoice | None]:
    """The tools and tool choice to send: the request's own, plus its structured output as a
    forced tool when it asks for one."""
    fmt = request.response_format
    if fmt is None:
        return request.tools, request.tool_choice
    description = fmt.description or "Give the answer as this tool's input."
    answer_tool = ToolSpec(fmt.name, description, fmt.schema)
    return (*request.tools, answer_tool), ToolChoice.tool(fmt.name)


def take_structured(
    request: ChatRequest, calls: Sequence[ToolCall]
) -> tuple[tuple[ToolCall, ...], Mapping[str, Any] | None]:
    """Split the forced answer tool's call (its arguments are the structured data) from the
    real tool calls."""
    fmt = request.response_format
    if fmt is None:
        return tuple(calls), None
    data: Mapping[str, Any] | None = None
    rest: list[ToolCall] = []
    for call in calls:
        if data is None and call.name == fmt.name:
            data = call.arguments
        else:
            rest.append(call)
    return tuple(rest), data


def parse_json_object(text: str) -> dict[str, Any] | None:
    """A JSON object from a model's text (a ```json fence around it is tolerated), else None."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").strip()
        if stripped.lower().startswith("json"):
            stripped = stripped[4:]
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_arguments(raw: str | None, *, name: str, provider: str, model: str) -> dict[str, Any]:
    """A tool call's JSON arguments; an empty string means no arguments. Anything but a JSON
    object is a malformed response (retried like any other)."""
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ProviderMalformedResponseError(
            f"{provider} model {model!r}: the arguments of tool call {name!r} are not a JSON "
            "object",
            provider=provider,
            model=model,
        )
    return value


@dataclass(slots=True)
class _Partial:
    id: str = ""
    name: str = ""
    fragments: list[str] = field(default_factory=list)


class ToolCallAccumulator:
    """Joins streamed tool-call fragments, keyed by the stream's block/call index.

    acc = ToolCallAccumulator("openai", "gpt-x")
    acc.start(0, call_id="call_1", name="get_weather")
    acc.add(0, '{"city": "Pa')
    acc.add(0, 'ris"}')
    acc.calls()   # (ToolCall("call_1", "get_weather", {"city": "Paris"}),)
    """

    def __init__(self, provider: str, model: str) -> None:
        self._provider = provider
        self._model = model
        self._parts: dict[int, _Partial] = {}

    def start(self, index: int, *, call_id: str | None = None, name: str | None = None) -> None:
        part = self._parts.setdefault(index, _Partial())
        if call_id:
            part.id = call_id
        if name:
            part.name = part.name or name

    def add(self, index: int, fragment: str | None) -> None:
        if fragment:
            self._parts.setdefault(index, _Partial()).fragments.append(fragment)

    def calls(self) -> tuple[ToolCall, ...]:
        out = []
        for index in sorted(self._parts):
            part = self._parts[index]
            arguments = parse_arguments(
                "".join(part.fragments), name=part.name, provider=self._provider, model=self._model
            )
            out.append(ToolCall(part.id or f"call_{index}", part.name, arguments))
        return tuple(out)
