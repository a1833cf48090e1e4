"""The offline model classifies, extracts and calls tools deterministically (no keys)."""

from __future__ import annotations

from snapagent.llm.offline import OfflineChatModel
from snapagent.llm.offline_tools import fill_schema
from snapagent.workflow.services import (
    ChatMessage,
    ChatRequest,
    StructuredOutput,
    ToolCall,
    ToolChoice,
    ToolSpec,
)

CLASSES = {
    "type": "object",
    "properties": {
        "category": {
            "type": "string",
            "enum": ["billing and invoices", "technical problem or error", "something else"],
        }
    },
}
TICKET = {
    "type": "object",
    "properties": {
        "order_id": {"type": "integer", "description": "the order number"},
        "quantity": {"type": "integer"},
        "email": {"type": "string", "description": "customer e-mail"},
        "urgent": {"type": "boolean"},
        "city": {"type": "string"},
        "missing": {"type": "number"},
    },
}
WEATHER = ToolSpec(
    "get_weather",
    "Current weather and temperature of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}},
)
STOCK = ToolSpec(
    "stock_price",
    "Latest stock price of a company",
    {"type": "object", "properties": {"ticker": {"type": "string"}}},
)


def test_an_enum_takes_the_option_sharing_most_words() -> None:
    assert fill_schema(CLASSES, "I was charged twice on my invoice") == {
        "category": "billing and invoices"
    }
    assert fill_schema(CLASSES, "The app shows an error on start") == {
        "category": "technical problem or error"
    }
    # Nothing in common: the last option, where lists keep "other".
    assert fill_schema(CLASSES, "Tell me a joke") == {"category": "something else"}


def test_korean_classification() -> None:
    schema = {"type": "object", "properties": {"c": {"enum": ["환불 문의", "배송 문의"]}}}
    assert fill_schema(schema, "배송은 언제 오나요? 배송 조회") == {"c": "배송 문의"}


def test_fields_are_found_next_to_their_names() -> None:
    text = "Order 1234: please send quantity 3 to ana@example.com, city: Lisbon. Not urgent."
    assert fill_schema(TICKET, text) == {
        "order_id": 1234,
        "quantity": 3,
        "email": "ana@example.com",
        "urgent": False,
        "city": "Lisbon",
    }


def test_a_single_string_takes_the_whole_text() -> None:
    schema = {
        "type": "object",
        "properties": {"topic": {"type": "string"}, "n": {"type": "integer"}},
    }
    assert fill_schema(schema, "  quantum computing  ") == {"topic": "quantum computing"}


async def test_structured_output_through_the_model() -> None:
    model = OfflineChatModel()
    request = ChatRequest(
        [ChatMessage("user", "Classify: my invoice is wrong")],
        query="my invoice is wrong",
        response_format=StructuredOutput("classification", CLASSES),
    )
    result = await model.complete(request)
    assert result.data == {"category": "billing and invoices"}
    assert result.text == '{"category": "billing and invoices"}'
    chunks = [chunk async for chunk in model.stream(request)]
    assert chunks[-1].data == result.data
    assert "".join(c.text for c in chunks) == result.text


async def test_a_tool_loop_calls_the_matching_tool_then_answers() -> None:
    model = OfflineChatModel()
    messages = [ChatMessage("user", "What is the weather in city: Paris?")]
    first = await model.complete(ChatRequest(messages, tools=(STOCK, WEATHER)))
    assert first.finish_reason == "tool_calls"
    assert first.tool_calls == (ToolCall("offline_call_1", "get_weather", {"city": "Paris"}),)

    messages += [first.as_message(), ChatMessage.tool_result("offline_call_1", "18 C, sunny")]
    second = await model.complete(ChatRequest(messages, tools=(STOCK, WEATHER)))
    assert second.tool_calls == ()
    assert second.text == "From the tools:\n- get_weather: 18 C, sunny"

    streamed = [c async for c in model.stream(ChatRequest(messages[:1], tools=(STOCK, WEATHER)))]
    assert streamed[-1].tool_calls == first.tool_calls


async def test_tool_choice_is_honoured() -> None:
    model = OfflineChatModel()
    joke = [ChatMessage("user", "tell me a joke")]
    unmatched = await model.complete(ChatRequest(joke, tools=(STOCK, WEATHER)))
    assert unmatched.tool_calls == ()  # no tool fits: a plain answer
    required = await model.complete(
        ChatRequest(joke, tools=(STOCK, WEATHER), tool_choice=ToolChoice("required"))
    )
    assert [c.name for c in required.tool_calls] == ["stock_price"]
    named = await model.complete(
        ChatRequest(joke, tools=(STOCK, WEATHER), tool_choice=ToolChoice.tool("get_weather"))
    )
    assert [c.name for c in named.tool_calls] == ["get_weather"]
    weather = [ChatMessage("user", "weather in Rome")]
    none = await model.complete(
        ChatRequest(weather, tools=(WEATHER,), tool_choice=ToolChoice("none"))
    )
    assert none.tool_calls == ()


async def test_failed_tools_are_reported_in_the_answer() -> None:
    model = OfflineChatModel()
    call = ToolCall("c1", "get_weather", {"city": "Rome"})
    messages = [
        ChatMessage("user", "로마 날씨는?"),
        ChatMessage("assistant", "", tool_calls=(call,)),
        ChatMessage.tool_result("c1", "timeout", is_error=True),
    ]
    result = await model.complete(ChatRequest(messages, tools=(WEATHER,)))
    assert result.text == "도구 실행 결과입니다:\n- get_weather (실패): timeout"
