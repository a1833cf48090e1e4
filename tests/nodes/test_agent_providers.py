"""The agent node with the real provider clients (the official SDKs) against the local wire
fakes: Anthropic ``tool_use`` blocks, OpenAI ``tool_calls``, Bedrock Converse ``toolUse`` -
the tools offered, the calls parsed from the stream, every result sent back in the protocol's
own form, several rounds, a failing tool, and the final text streamed out."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llm.cases import AWS_KEY_ID, AWS_SECRET, ProviderCase, SleepRecorder, make_case
from snapagent.nodes import default_registry
from snapagent.testing import InMemoryRetriever
from snapagent.testing.http_server import LocalHttpServer
from snapagent.testing.providers import (
    AnthropicFakeServer,
    BedrockFakeServer,
    OpenAIFakeServer,
    Reply,
    ToolUse,
)
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2
from snapagent.workflow.result import RunStatus
from snapagent.workflow.services import ChatModel

from .agent_support import agent_graph, http_tool, knowledge_tool, run_agent

SERVERS = {
    "anthropic": AnthropicFakeServer,
    "openai": OpenAIFakeServer,
    "bedrock": BedrockFakeServer,
}


@pytest.fixture(params=sorted(SERVERS))
async def case(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[ProviderCase]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    with SERVERS[request.param]() as server:
        provider_case = make_case(request.param, server, SleepRecorder())
        yield provider_case
        await provider_case.aclose()


class OneModel:
    """A model provider answering every id with the provider client under test."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model

    def resolve(self, model_id: str | None) -> ChatModel:
        return self.model


def services_for(case: ProviderCase) -> ServiceContainer:
    retriever = InMemoryRetriever()
    retriever.add("kb-1", "Refunds are paid within 30 days.", title="Refunds", owner_id="u1")
    return ServiceContainer(chat_models=OneModel(case.model()), retriever=retriever)


def _tool_names(case: ProviderCase, sent: dict[str, Any]) -> list[str]:
    if case.name == "anthropic":
        return [t["name"] for t in sent["tools"]]
    if case.name == "openai":
        return [t["function"]["name"] for t in sent["tools"]]
    return [t["toolSpec"]["name"] for t in sent["toolConfig"]["tools"]]


def _results_sent(case: ProviderCase, sent: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(call id, content, is_error) of every tool result in a request, as the wire says it."""
    found = []
    for message in sent["messages"]:
        if case.name == "openai":
            if message["role"] == "tool":
                content = message["content"]
                error = content.startswith("Error: ")
                found.append((message["tool_call_id"], content.removeprefix("Error: "), error))
            continue
        for block in message["content"] if isinstance(message["content"], list) else []:
            if case.name == "anthropic" and block.get("type") == "tool_result":
                found.append((block["tool_use_id"], block["content"], block["is_error"]))
            elif case.name == "bedrock" and "toolResult" in block:
                result = block["toolResult"]
                text = result["content"][0]["text"]
                found.append((result["toolUseId"], text, result["status"] == "error"))
    return found


async def test_a_two_round_loop_over_the_native_tool_api(
    case: ProviderCase, local_server: LocalHttpServer
) -> None:
    case.server.enqueue(
        Reply("Let me look.", tool_calls=(ToolUse("search_policies", {"query": "refunds"}, "t1"),)),
        Reply("", tool_calls=(
            ToolUse("get_order", {"order_id": 7}, "t2"),
            ToolUse("get_order", {"order_id": 8}, "t3"),
        )),
        Reply("Refunds take 30 days, and both orders are known."),
    )  # fmt: skip
    config = {"tools": [knowledge_tool(), http_tool(local_server)], "instruction": "Be brief."}

    run = await run_agent(services_for(case), config, "Refund for orders 7 and 8?")

    out = run.outputs
    assert out["text"] == "Let me look.\n\nRefunds take 30 days, and both orders are known."
    assert run.streamed == out["text"]
    assert len(run.chunks) > 3  # streamed word by word, not in one piece
    assert [(c["id"], c["name"], c["arguments"]) for c in out["tool_calls"]] == [
        ("t1", "search_policies", {"query": "refunds"}),
        ("t2", "get_order", {"order_id": 7}),
        ("t3", "get_order", {"order_id": 8}),
    ]
    assert not any(c["is_error"] for c in out["tool_calls"])
    assert out["usage"]["total_tokens"] > 0
    first, second, third = (r.json() for r in case.server.requests)
    assert _tool_names(case, first) == ["search_policies", "get_order"]
    assert _results_sent(case, first) == []
    assert _results_sent(case, second) == [("t1", out["tool_calls"][0]["result"], False)]
    assert [r[0] for r in _results_sent(case, third)] == ["t1", "t2", "t3"]
    orders = [json.loads(r[1])["query"]["order_id"] for r in _results_sent(case, third)[1:]]
    assert orders == ["7", "8"]


async def test_a_failing_tool_goes_back_as_the_protocol_s_error_result(
    case: ProviderCase, local_server: LocalHttpServer
) -> None:
    case.server.enqueue(
        Reply("", tool_calls=(ToolUse("get_order", {"order_id": 7}, "t1"),)),
        Reply("The order service is failing."),
    )
    config = {"tools": [http_tool(local_server, "/status/500")]}

    run = await run_agent(services_for(case), config)

    (call,) = run.outputs["tool_calls"]
    assert call["is_error"] is True
    [(call_id, content, is_error)] = _results_sent(case, case.server.requests[1].json())
    assert (call_id, content, is_error) == ("t1", call["result"], True)
    assert run.outputs["text"] == "The order service is failing."


async def test_max_iterations_ends_with_a_call_that_forbids_tools(
    case: ProviderCase, local_server: LocalHttpServer
) -> None:
    case.server.enqueue(
        Reply("", tool_calls=(ToolUse("get_order", {"order_id": 1}, "t1"),)),
        Reply("Here is what I found."),
    )
    config = {"tools": [http_tool(local_server)], "max_iterations": 1}

    run = await run_agent(services_for(case), config)

    assert run.outputs["finish_reason"] == "max_iterations"
    final = case.server.requests[1].json()
    if case.name == "anthropic":
        assert final["tool_choice"] == {"type": "none"}
    elif case.name == "openai":
        assert final["tool_choice"] == "none"
    else:  # Converse has no "none", and wants tools declared once tool turns exist
        assert "toolChoice" not in final["toolConfig"]
    assert run.outputs["text"] == "Here is what I found."


async def test_the_agent_in_a_recorded_run_with_a_provider(case: ProviderCase) -> None:
    case.server.enqueue(
        Reply("", tool_calls=(ToolUse("search_policies", {"query": "refunds"}, "t1"),)),
        Reply("Within 30 days."),
    )
    graph = agent_graph({"tools": [knowledge_tool()]})

    result = await WorkflowExecutorV2(default_registry(), services_for(case)).run(
        graph, {"query": "refunds?"}, {"owner_id": "u1"}
    )

    assert result.status is RunStatus.SUCCEEDED
    assert result.outputs["answer"] == "Within 30 days."
    record = result.nodes["agent"]
    assert record.outputs["tool_calls"][0]["result"].startswith("[1] Refunds")
    assert record.usage.total_tokens == record.outputs["usage"]["total_tokens"] > 0
