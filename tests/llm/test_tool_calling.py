"""Tool calling and structured output through the real SDK clients against the wire fakes.

Each test runs once per provider (the ``case`` fixture): Anthropic ``tool_use`` blocks, OpenAI
``tool_calls``, Bedrock Converse ``toolUse`` - sent and parsed, plain and streamed.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from snapagent.llm.errors import ProviderMalformedResponseError
from snapagent.llm.tooling import ToolCallAccumulator, parse_json_object
from snapagent.testing.providers import Reply, ToolUse
from snapagent.workflow.services import (
    ChatMessage,
    ChatRequest,
    StructuredOutput,
    ToolCall,
    ToolChoice,
    ToolSpec,
)

from .cases import ProviderCase

WEATHER = ToolSpec(
    "get_weather",
    "Current weather of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
CLOCK = ToolSpec("get_time", "The time now")
ASK = ChatRequest(messages=[ChatMessage("user", "Weather in Paris and Rome?")], tools=(WEATHER,))
CALLS = (
    ToolUse("get_weather", {"city": "Paris"}, id="tu_1"),
    ToolUse("get_weather", {"city": "Rome", "units": {"temp": "C", "wind": "km/h"}}, id="tu_2"),
)
EXPECTED = (
    ToolCall("tu_1", "get_weather", {"city": "Paris"}),
    ToolCall("tu_2", "get_weather", {"city": "Rome", "units": {"temp": "C", "wind": "km/h"}}),
)


def _sent_tools(case: ProviderCase, sent: dict[str, Any]) -> tuple[list[str], Any]:
    """Tool names and the tool choice as the provider's wire format spells them."""
    if case.name == "anthropic":
        assert sent["tools"][0]["input_schema"] == dict(WEATHER.parameters)
        return [t["name"] for t in sent["tools"]], sent.get("tool_choice")
    if case.name == "openai":
        assert sent["tools"][0]["type"] == "function"
        assert sent["tools"][0]["function"]["parameters"] == dict(WEATHER.parameters)
        return [t["function"]["name"] for t in sent["tools"]], sent.get("tool_choice")
    config = sent["toolConfig"]
    assert config["tools"][0]["toolSpec"]["inputSchema"] == {"json": dict(WEATHER.parameters)}
    return [t["toolSpec"]["name"] for t in config["tools"]], config.get("toolChoice")


async def test_complete_sends_tools_and_parses_the_calls(case: ProviderCase) -> None:
    case.server.enqueue(Reply("Let me check.", tool_calls=CALLS))

    result = await case.model().complete(ASK)

    assert result.tool_calls == EXPECTED
    assert result.finish_reason == "tool_calls"
    assert result.text == "Let me check."
    names, choice = _sent_tools(case, case.server.requests[0].json())
    assert names == ["get_weather"]
    assert choice is None  # auto: the provider's default, nothing sent


async def test_stream_joins_argument_fragments_into_calls(case: ProviderCase) -> None:
    case.server.enqueue(Reply("Checking", tool_calls=CALLS))

    chunks = [chunk async for chunk in case.model().stream(ASK)]

    assert "".join(c.text for c in chunks) == "Checking"
    assert chunks[-1].tool_calls == EXPECTED
    assert chunks[-1].finish_reason == "tool_calls"
    assert all(not c.tool_calls for c in chunks[:-1])


async def test_a_tool_only_answer_has_no_text(case: ProviderCase) -> None:
    case.server.enqueue(Reply("", tool_calls=CALLS[:1]))
    case.server.enqueue(Reply("", tool_calls=CALLS[:1]))
    model = case.model()

    result = await model.complete(ASK)
    chunks = [chunk async for chunk in model.stream(ASK)]

    assert (result.text, result.tool_calls) == ("", EXPECTED[:1])
    assert "".join(c.text for c in chunks) == ""
    assert chunks[-1].tool_calls == EXPECTED[:1]


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        (ToolChoice("required"), {"anthropic": {"type": "any"}, "openai": "required",
                                  "bedrock": {"any": {}}}),
        (ToolChoice.tool("get_time"), {"anthropic": {"type": "tool", "name": "get_time"},
                                       "openai": {"type": "function",
                                                  "function": {"name": "get_time"}},
                                       "bedrock": {"tool": {"name": "get_time"}}}),
        (ToolChoice("none"), {"anthropic": {"type": "none"}, "openai": "none", "bedrock": None}),
    ],
    ids=["required", "named", "none"],
)  # fmt: skip
async def test_tool_choice_in_each_protocol(
    case: ProviderCase, choice: ToolChoice, wire: dict[str, Any]
) -> None:
    request = ChatRequest(ASK.messages, tools=(WEATHER, CLOCK), tool_choice=choice)

    await case.model().complete(request)

    sent = case.server.requests[0].json()
    if case.name == "bedrock" and choice.mode == "none":
        assert "toolConfig" not in sent  # Converse has no "none": no tools are offered
        return
    names, sent_choice = _sent_tools(case, sent)
    assert names == ["get_weather", "get_time"]
    assert sent_choice == wire[case.name]


async def test_tool_results_go_back_in_each_protocol(case: ProviderCase) -> None:
    case.server.enqueue(Reply("Paris: 18 C. Rome could not be checked."))
    asked = ChatMessage("assistant", "Let me check.", tool_calls=EXPECTED)
    request = ChatRequest(
        messages=[
            ChatMessage("user", "Weather in Paris and Rome?"),
            asked,
            ChatMessage.tool_result("tu_1", "18 C, sunny"),
            ChatMessage.tool_result("tu_2", "service down", is_error=True),
        ],
        system="Be brief.",
        tools=(WEATHER,),
    )

    result = await case.model().complete(request)

    assert result.text == "Paris: 18 C. Rome could not be checked."
    assert result.tool_calls == ()
    messages = case.server.requests[0].json()["messages"]
    if case.name == "anthropic":
        assert messages[1] == {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "tu_1", "name": "get_weather",
                 "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "tu_2", "name": "get_weather",
                 "input": {"city": "Rome", "units": {"temp": "C", "wind": "km/h"}}},
            ],
        }  # fmt: skip
        assert messages[2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "tu_1", "content": "18 C, sunny",
                 "is_error": False},
                {"type": "tool_result", "tool_use_id": "tu_2", "content": "service down",
                 "is_error": True},
            ],
        }  # fmt: skip
    elif case.name == "openai":
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool"]
        call = messages[2]["tool_calls"][1]
        assert call["id"] == "tu_2"
        assert json.loads(call["function"]["arguments"]) == dict(EXPECTED[1].arguments)
        assert messages[3] == {"role": "tool", "tool_call_id": "tu_1", "content": "18 C, sunny"}
        assert messages[4]["content"] == "Error: service down"
    else:
        assert messages[1]["content"][0] == {"text": "Let me check."}
        assert messages[1]["content"][1] == {
            "toolUse": {"toolUseId": "tu_1", "name": "get_weather", "input": {"city": "Paris"}}
        }
        assert messages[2] == {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tu_1", "content": [{"text": "18 C, sunny"}],
                                "status": "success"}},
                {"toolResult": {"toolUseId": "tu_2", "content": [{"text": "service down"}],
                                "status": "error"}},
            ],
        }  # fmt: skip


PLACE = StructuredOutput(
    "place",
    {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
    "The trip's destination",
)


def _structured_reply(case: ProviderCase, data: dict[str, Any]) -> Reply:
    if case.name == "openai":  # native JSON mode: the object is the answer's text
        return Reply(json.dumps(data))
    return Reply("", tool_calls=(ToolUse("place", data),))  # a forced tool call elsewhere


@pytest.mark.parametrize("streamed", [False, True], ids=["complete", "stream"])
async def test_structured_output_is_native_to_each_provider(
    case: ProviderCase, streamed: bool
) -> None:
    wanted = {"city": "Lisbon", "days": 3}
    case.server.enqueue(_structured_reply(case, wanted))
    request = ChatRequest([ChatMessage("user", "Three days in Lisbon")], response_format=PLACE)
    model = case.model()

    if streamed:
        last = [chunk async for chunk in model.stream(request)][-1]
        data, calls = last.data, last.tool_calls
    else:
        result = await model.complete(request)
        data, calls = result.data, result.tool_calls

    assert data == wanted
    assert calls == ()  # the forced answer tool is not a tool call for the caller
    sent = case.server.requests[0].json()
    if case.name == "openai":
        assert sent["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "place", "schema": dict(PLACE.schema), "strict": False,
                            "description": "The trip's destination"},
        }  # fmt: skip
        assert "tools" not in sent
    elif case.name == "anthropic":
        assert sent["tool_choice"] == {"type": "tool", "name": "place"}
        assert sent["tools"] == [
            {"name": "place", "description": "The trip's destination",
             "input_schema": dict(PLACE.schema)}
        ]  # fmt: skip
    else:
        assert sent["toolConfig"]["toolChoice"] == {"tool": {"name": "place"}}


async def test_structured_output_that_is_not_an_object_leaves_data_empty(
    case: ProviderCase,
) -> None:
    case.server.enqueue(Reply("Lisbon, I think"))  # prose, and on Anthropic/Bedrock no tool call
    request = ChatRequest([ChatMessage("user", "Where?")], response_format=PLACE)

    result = await case.model().complete(request)

    assert result.data is None
    assert result.text == "Lisbon, I think"


def test_json_objects_from_text() -> None:
    assert parse_json_object('```json\n{"a": 1}\n```') == {"a": 1}
    assert parse_json_object(' {"a": [1, 2]} ') == {"a": [1, 2]}
    assert parse_json_object("[1, 2]") is None
    assert parse_json_object("not json") is None


def test_accumulated_arguments_must_be_an_object() -> None:
    acc = ToolCallAccumulator("openai", "gpt-x")
    acc.start(0, call_id="c1", name="get_time")
    assert acc.calls() == (ToolCall("c1", "get_time", {}),)  # no arguments at all
    acc.add(0, '{"city": ')
    with pytest.raises(ProviderMalformedResponseError, match="get_time"):
        acc.calls()
