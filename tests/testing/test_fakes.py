"""The fakes in `snapagent.testing` behave like the real parts they stand in for."""

from __future__ import annotations

import asyncio

import pytest

import snapagent.testing as testing
from snapagent.errors import NotFoundError, ProviderError
from snapagent.testing import (
    GraphBuilder,
    InMemoryRetriever,
    ScriptedChatModel,
    ScriptedChatModels,
    rag_graph,
)
from snapagent.workflow.services import (
    ChatMessage,
    ChatModel,
    ChatRequest,
    RetrievalQuery,
    ToolCall,
)


def request(text: str = "hello there") -> ChatRequest:
    return ChatRequest(messages=[ChatMessage("user", text)], system="be nice")


def test_public_names() -> None:
    assert testing.__all__ == sorted(testing.__all__)
    assert all(hasattr(testing, name) for name in testing.__all__)


async def test_scripted_model_replies_in_order_and_records_requests() -> None:
    model = ScriptedChatModel().enqueue("first answer").enqueue("second", chunk_size=2)
    assert isinstance(model, ChatModel)
    result = await model.complete(request("one"))
    assert (result.text, result.model, result.usage.output_tokens) == (
        "first answer",
        "scripted",
        2,
    )
    chunks = [c async for c in model.stream(request("two"))]
    assert [c.text for c in chunks] == ["se", "co", "nd", ""]
    assert chunks[-1].usage is not None
    assert chunks[-1].finish_reason == "stop"
    assert [r.messages[-1].content for r in model.requests] == ["one", "two"]
    assert model.total_usage.input_tokens == 6  # "be nice one" + "be nice two"
    with pytest.raises(ProviderError, match="no scripted reply"):
        await model.complete(request())


async def test_scripted_errors_gates_and_default_reply() -> None:
    gate = asyncio.Event()
    model = ScriptedChatModel(default_reply="fallback")
    model.enqueue_error(ProviderError("rate limited", status_code=429))
    model.enqueue("gated", wait_for=gate)
    with pytest.raises(ProviderError, match="rate limited"):
        await model.complete(request())
    task = asyncio.create_task(model.complete(request()))
    await asyncio.sleep(0)
    assert not task.done()
    gate.set()
    assert (await task).text == "gated"
    assert (await model.complete(request())).text == "fallback"
    assert model.pending == 0


def test_provider_resolution() -> None:
    default, other = ScriptedChatModel(), ScriptedChatModel("other")
    provider = ScriptedChatModels(default, {"other": other}, any_id=False)
    assert provider.resolve(None) is default
    assert provider.resolve("other") is other
    with pytest.raises(NotFoundError):
        provider.resolve("missing")
    assert ScriptedChatModels(default).resolve("anything") is default


async def test_in_memory_retriever_scores_and_filters() -> None:
    r = InMemoryRetriever()
    r.add("kb1", "cats and dogs", title="Pets")
    r.add("kb1", "dogs only", document_id="d-dogs")
    r.add("kb2", "cats and dogs and birds")
    found = await r.retrieve(RetrievalQuery("cats dogs", ["kb1"], top_k=5, owner_id="u"))
    assert [(d.document_title, d.score) for d in found] == [("Pets", 1.0), ("Document 1", 0.5)]
    top_one = RetrievalQuery("cats dogs", ["kb1"], top_k=1, owner_id="u")
    assert await r.retrieve(top_one) == found[:1]
    strict = await r.retrieve(
        RetrievalQuery("cats dogs", ["kb1"], score_threshold=0.75, owner_id="u")
    )
    assert [d.document_title for d in strict] == ["Pets"]
    by_doc = await r.retrieve(
        RetrievalQuery("dogs", ["kb1", "kb2"], document_ids=["d-dogs"], owner_id="u")
    )
    assert [d.document_id for d in by_doc] == ["d-dogs"]
    assert await r.retrieve(RetrievalQuery("zebra", ["kb1"], owner_id="u")) == []
    assert len(r.queries) == 5


async def test_in_memory_retriever_answers_only_the_owner_of_a_knowledge_base() -> None:
    r = InMemoryRetriever()
    r.add("kb-a", "alice's secret recipe", owner_id="alice")
    r.add("kb-any", "a shared recipe")  # no owner: every owner sees it
    asked_by_bob = RetrievalQuery("recipe", ["kb-a", "kb-any"], owner_id="bob")
    assert [d.knowledge_base_id for d in await r.retrieve(asked_by_bob)] == ["kb-any"]
    asked_by_alice = RetrievalQuery("recipe", ["kb-a"], owner_id="alice")
    assert [d.text for d in await r.retrieve(asked_by_alice)] == ["alice's secret recipe"]


def test_graph_builder_and_rag_graph() -> None:
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("end", "end", outputs=["answer"], settings={"timeout_s": 1})
        .edge("start.query", "end.answer")
        .edge("start", "end")
        .build()
    )
    assert graph.edges[0].target_port == "answer"
    assert graph.edges[1].is_control
    assert graph.nodes[1].timeout_s == 1
    rag = rag_graph(["kb-9"], model="offline")
    assert rag.node("kb").config["knowledge_base_ids"] == ["kb-9"]
    assert rag.node("llm").config["model"] == "offline"


async def test_scripted_model_answers_tool_calls_and_structured_data() -> None:
    model = ScriptedChatModel()
    call = ToolCall("c1", "get_weather", {"city": "Paris"})
    model.enqueue_tool_calls(call, text="checking").enqueue_data({"city": "Paris"})
    model.enqueue_tool_calls(call)
    request = ChatRequest([ChatMessage("user", "Weather in Paris?")])

    first = await model.complete(request)
    second = await model.complete(request)
    streamed = [chunk async for chunk in model.stream(request)]

    assert (first.text, first.tool_calls, first.finish_reason) == (
        "checking",
        (call,),
        "tool_calls",
    )
    assert first.as_message() == ChatMessage("assistant", "checking", tool_calls=(call,))
    assert (second.data, second.text) == ({"city": "Paris"}, '{"city": "Paris"}')
    assert streamed[-1].tool_calls == (call,)
    assert streamed[-1].finish_reason == "tool_calls"
