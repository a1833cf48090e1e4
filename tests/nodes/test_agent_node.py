"""The agent node's loop with a scripted model: tool rounds, streaming, failing tools,
limits (iterations, time, result size, call budget), validation, error strategies, records.
The tools are real: HTTP tools call a local server through the SSRF guard, knowledge tools
search an in-memory retriever scoped to the run's owner."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from snapagent.errors import NodeExecutionError, NodeTimeoutError, NotFoundError, ProviderError
from snapagent.llm.errors import ProviderTimeoutError
from snapagent.nodes import default_registry
from snapagent.nodes.settings import get_node_settings
from snapagent.testing import InMemoryRetriever, ScriptedChatModel, ScriptedChatModels
from snapagent.testing.http_server import LocalHttpServer
from snapagent.workflow import ServiceContainer, WorkflowExecutorV2
from snapagent.workflow.result import NodeStatus, RunStatus
from snapagent.workflow.services import BotAnswer, BotCall, ToolCall, ToolChoice
from snapagent.workflow.validation import validate_graph

from .agent_support import (
    ORDER_SCHEMA,
    agent_graph,
    http_tool,
    knowledge_tool,
    run_agent,
)


@pytest.fixture
def shop() -> InMemoryRetriever:
    retriever = InMemoryRetriever()
    retriever.add(
        "kb-1", "Refunds are paid within 30 days of delivery.", title="Refunds", owner_id="u1"
    )
    retriever.add("kb-2", "Mallory's notes: the vault code is 4711.", title="Notes", owner_id="u2")
    return retriever


@pytest.fixture
def agent_services(provider: ScriptedChatModels, shop: InMemoryRetriever) -> ServiceContainer:
    return ServiceContainer(chat_models=provider, retriever=shop)


async def test_a_multi_step_loop_calls_the_tools_then_answers(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "search_policies", {"query": "refunds"}))
    model.enqueue_tool_calls(ToolCall("c2", "get_order", {"order_id": 7}), text="Checking.")
    model.enqueue("Refunds take 30 days; order 7 is on its way.")
    config = {"tools": [knowledge_tool(), http_tool(local_server)], "instruction": "Be brief."}

    run = await run_agent(agent_services, config, "Refund for order 7?")

    out = run.outputs
    assert out["text"] == "Checking.\n\nRefunds take 30 days; order 7 is on its way."
    assert run.streamed == out["text"]
    assert (out["iterations"], out["finish_reason"]) == (3, "stop")
    first, second = out["tool_calls"]
    assert first["name"] == "search_policies"
    assert first["type"] == "knowledge"
    assert first["arguments"] == {"query": "refunds"}
    assert first["result"] == "[1] Refunds\nRefunds are paid within 30 days of delivery."
    assert (first["is_error"], first["iteration"], first["truncated"]) == (False, 1, False)
    assert second["type"] == "http"
    assert second["iteration"] == 2
    assert json.loads(second["result"])["query"] == {"order_id": "7"}
    assert all(call["elapsed_s"] >= 0 for call in out["tool_calls"])
    assert [d["document_title"] for d in out["documents"]] == ["Refunds"]
    assert out["usage"]["total_tokens"] == run.result.usage.total_tokens > 0  # type: ignore[union-attr]
    # The model saw every result, paired with its call, and the instruction as the system.
    last = model.requests[-1]
    assert last.system == "Be brief."
    assert [m.role for m in last.messages] == ["user", "assistant", "tool", "assistant", "tool"]
    assert last.messages[2].tool_call_id == "c1"
    assert last.messages[4].content == second["result"]
    assert [t.name for t in last.tools] == ["search_policies", "get_order"]
    assert last.tool_choice is None


async def test_a_failing_tool_is_an_error_result_and_the_run_goes_on(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 7}))
    model.enqueue("The order service is down.")
    config = {"tools": [http_tool(local_server, "/status/503")]}

    run = await run_agent(agent_services, config)

    (call,) = run.outputs["tool_calls"]
    assert call["is_error"] is True
    assert call["result"].startswith("HTTP 503: ")
    told = model.requests[1].messages[-1]
    assert (told.role, told.is_error, told.content) == ("tool", True, call["result"])
    assert run.outputs["text"] == "The order service is down."


async def test_unknown_tools_and_bad_arguments_are_told_without_calling_anything(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(
        ToolCall("c1", "delete_everything", {}),
        ToolCall("c2", "get_order", {"order_id": "seven"}),
        ToolCall("c3", "get_order", {}),
    )
    model.enqueue("Sorry.")

    run = await run_agent(agent_services, {"tools": [http_tool(local_server)]})

    unknown, wrong_type, missing = run.outputs["tool_calls"]
    assert unknown["type"] == "unknown"
    assert "no tool named 'delete_everything' (tools: get_order)" in unknown["result"]
    assert "order_id: 'seven' is not of type 'integer'" in wrong_type["result"]
    assert "'order_id' is a required property" in missing["result"]
    assert all(call["is_error"] for call in run.outputs["tool_calls"])
    assert local_server.requests == []


CODE_SCHEMA = {
    "type": "object",
    "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
    "required": ["code"],
}
"""``^(a+)+$`` backtracks exponentially on ``aaa...a!`` in Python's ``re``."""


async def test_argument_patterns_are_checked_and_big_arguments_refused(
    local_server: LocalHttpServer,
    agent_services: ServiceContainer,
    model: ScriptedChatModel,
    node_settings: pytest.MonkeyPatch,
) -> None:
    node_settings.setenv("SNAPAGENT_AGENT_MAX_ARGUMENT_CHARS", "1000")
    get_node_settings.cache_clear()
    model.enqueue_tool_calls(
        ToolCall("c1", "get_order", {"code": "b"}),
        ToolCall("c2", "get_order", {"code": "a" * 2_000}),
        ToolCall("c3", "get_order", {"code": "aaa"}),
    )
    model.enqueue("Done.")
    config = {"tools": [http_tool(local_server, parameters=CODE_SCHEMA)]}

    run = await run_agent(agent_services, config)

    mismatch, too_big, fine = run.outputs["tool_calls"]
    assert "code: 'b' does not match '^(a+)+$'" in mismatch["result"]
    assert "2012 characters of JSON, over the limit of 1000" in too_big["result"]
    assert "SNAPAGENT_AGENT_MAX_ARGUMENT_CHARS" in too_big["result"]
    assert (mismatch["is_error"], too_big["is_error"], fine["is_error"]) == (True, True, False)
    assert len(local_server.requests) == 1  # only the good call went out


async def test_a_catastrophic_schema_fails_the_node_within_the_deadline_off_the_loop(
    local_server: LocalHttpServer,
    agent_services: ServiceContainer,
    model: ScriptedChatModel,
    node_settings: pytest.MonkeyPatch,
) -> None:
    node_settings.setenv("SNAPAGENT_AGENT_ARGUMENT_CHECK_TIMEOUT_S", "1")
    get_node_settings.cache_clear()
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"code": "a" * 40 + "!"}))
    model.enqueue("never asked")
    config = {"tools": [http_tool(local_server, parameters=CODE_SCHEMA)]}
    gaps: list[float] = []

    async def tick() -> None:  # the loop's longest stall while the check runs
        while True:
            began = time.perf_counter()
            await asyncio.sleep(0.01)
            gaps.append(time.perf_counter() - began)

    ticker = asyncio.create_task(tick())
    began = time.perf_counter()
    with pytest.raises(NodeExecutionError) as failed:
        await run_agent(agent_services, config)
    elapsed = time.perf_counter() - began
    ticker.cancel()

    message = failed.value.message
    assert "checking the arguments of tool 'get_order' against its schema took longer" in message
    assert "SNAPAGENT_AGENT_ARGUMENT_CHECK_TIMEOUT_S" in message
    assert 1.0 <= elapsed < 10.0
    assert max(gaps) < 0.5, max(gaps)
    assert local_server.requests == []
    assert len(model.requests) == 1


async def test_max_iterations_then_one_last_answer_without_tools(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    for n in range(2):
        model.enqueue_tool_calls(ToolCall(f"c{n}", "get_order", {"order_id": n}))
    model.enqueue_tool_calls(ToolCall("c9", "get_order", {"order_id": 9}), text="Best I can do.")
    config = {"tools": [http_tool(local_server)], "max_iterations": 2, "instruction": "Help."}

    run = await run_agent(agent_services, config)

    assert run.outputs["finish_reason"] == "max_iterations"
    assert run.outputs["iterations"] == 2
    assert len(run.outputs["tool_calls"]) == 2  # the last turn's call is not run
    assert len(local_server.requests) == 2
    assert run.outputs["text"] == "Best I can do."
    final = model.requests[-1]
    assert final.tool_choice == ToolChoice("none")
    assert final.system is not None
    assert final.system.startswith("Help.\n\nThe tool budget of this answer is used up.")


async def test_max_iterations_can_fail_the_node_instead(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 1}))
    config = {"tools": [http_tool(local_server)], "max_iterations": 1, "on_max_iterations": "fail"}

    with pytest.raises(NodeExecutionError, match=r"max_iterations=1 .*1 tool call\(s\) made"):
        await run_agent(agent_services, config)


async def test_tool_results_are_cut_to_the_limit_and_say_so(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 1}))
    model.enqueue("ok")
    config = {"tools": [http_tool(local_server, "/big?size=5000")], "max_tool_result_chars": 100}

    run = await run_agent(agent_services, config)

    (call,) = run.outputs["tool_calls"]
    assert call["truncated"] is True
    assert call["result"] == "x" * 100 + "\n... [cut: 4900 more characters]"
    assert model.requests[1].messages[-1].content == call["result"]


async def test_the_response_size_limit_of_http_tools_holds(
    local_server: LocalHttpServer,
    agent_services: ServiceContainer,
    model: ScriptedChatModel,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SNAPAGENT_HTTP_MAX_RESPONSE_BYTES", "2048")
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 1}))
    model.enqueue("too big")

    run = await run_agent(agent_services, {"tools": [http_tool(local_server, "/big?size=100000")]})

    (call,) = run.outputs["tool_calls"]
    assert call["is_error"] is True
    assert call["result"] == "the response is larger than 2048 bytes"


async def test_a_slow_tool_times_out_and_the_model_is_told(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 1}))
    model.enqueue("It is slow today.")
    config = {"tools": [http_tool(local_server, "/slow?s=5")], "tool_timeout_s": 0.3}

    started = time.monotonic()
    run = await run_agent(agent_services, config)

    assert time.monotonic() - started < 3
    (call,) = run.outputs["tool_calls"]
    assert (call["is_error"], call["result"]) == (True, "the tool did not answer within 0.3 s")
    assert run.outputs["text"] == "It is slow today."


async def test_a_tool_s_own_timeout_is_capped_by_the_setting(
    local_server: LocalHttpServer,
    agent_services: ServiceContainer,
    model: ScriptedChatModel,
    node_settings: pytest.MonkeyPatch,
) -> None:
    node_settings.setenv("SNAPAGENT_AGENT_TOOL_TIMEOUT_S", "0.3")
    get_node_settings.cache_clear()
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 1}))
    model.enqueue("slow")
    config = {"tools": [http_tool(local_server, "/slow?s=5", timeout_s=60)]}

    run = await run_agent(agent_services, config)

    assert run.outputs["tool_calls"][0]["result"] == "the tool did not answer within 0.3 s"


async def test_the_whole_loop_has_a_deadline(
    agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "search_policies", {"query": "refunds"}))
    model.enqueue("too late", delay_s=5)
    config = {"tools": [knowledge_tool()], "timeout_s": 0.3}

    started = time.monotonic()
    with pytest.raises(NodeTimeoutError, match=r"within 0.3 s \(1 tool call\(s\) made"):
        await run_agent(agent_services, config)
    assert time.monotonic() - started < 3


async def test_a_provider_timeout_stays_a_provider_error(
    agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_error(ProviderTimeoutError("no answer", provider="scripted", model="m"))

    with pytest.raises(ProviderTimeoutError, match="no answer"):  # not the loop's deadline
        await run_agent(agent_services, {"timeout_s": 60})


async def test_the_calls_of_one_turn_run_at_once_unless_asked_not_to(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    calls = [ToolCall(f"c{n}", "get_order", {"order_id": n}) for n in range(3)]
    tool = http_tool(local_server, "/slow?s=0.6")
    model.enqueue_tool_calls(*calls)
    model.enqueue("together")
    model.enqueue_tool_calls(*calls)
    model.enqueue("one by one")

    started = time.monotonic()
    together = await run_agent(agent_services, {"tools": [tool]})
    parallel_s = time.monotonic() - started
    started = time.monotonic()
    one_by_one = await run_agent(agent_services, {"tools": [tool], "parallel_tools": False})
    sequential_s = time.monotonic() - started

    assert sequential_s >= 1.8  # three calls of 0.6 s, one after another
    assert parallel_s < sequential_s - 0.5
    for run in (together, one_by_one):  # results keep the order of the calls
        assert [c["id"] for c in run.outputs["tool_calls"]] == ["c0", "c1", "c2"]


async def test_the_tool_call_budget_per_run(
    local_server: LocalHttpServer,
    agent_services: ServiceContainer,
    model: ScriptedChatModel,
    node_settings: pytest.MonkeyPatch,
) -> None:
    node_settings.setenv("SNAPAGENT_AGENT_MAX_TOOL_CALLS", "2")
    get_node_settings.cache_clear()
    model.enqueue_tool_calls(*(ToolCall(f"c{n}", "get_order", {"order_id": n}) for n in range(3)))
    model.enqueue("enough")

    run = await run_agent(
        agent_services, {"tools": [http_tool(local_server)], "parallel_tools": False}
    )

    results = [(c["is_error"], c["result"][:30]) for c in run.outputs["tool_calls"]]
    assert results[2] == (True, "the limit of 2 tool calls per ")
    assert len(local_server.requests) == 2


async def test_knowledge_tools_search_only_the_run_owner_s_knowledge_bases(
    agent_services: ServiceContainer, model: ScriptedChatModel, shop: InMemoryRetriever
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "search_policies", {"query": "vault code"}))
    model.enqueue("Nothing found.")

    run = await run_agent(agent_services, {"tools": [knowledge_tool("kb-1", "kb-2")]})

    (call,) = run.outputs["tool_calls"]
    assert call["result"] == "No relevant passages were found."
    assert "4711" not in json.dumps(run.outputs)
    (query,) = shop.queries
    assert query.owner_id == "u1"
    assert query.knowledge_base_ids == ("kb-1", "kb-2")


async def test_history_and_the_query_make_the_conversation(
    agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue("hello again")
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]

    await run_agent(agent_services, {}, "and now?", run_inputs={"history": history})
    model.enqueue("fresh")
    await run_agent(agent_services, {"use_run_history": False}, "and now?",
                    run_inputs={"history": history})  # fmt: skip

    assert [(m.role, m.content) for m in model.requests[0].messages] == [
        ("user", "hi"),
        ("assistant", "hello"),
        ("user", "and now?"),
    ]
    assert [m.content for m in model.requests[1].messages] == ["and now?"]
    assert model.requests[0].tools == ()


class RecordingBots:
    """A `BotRunner` that answers from a table and records every call."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.calls: list[BotCall] = []

    async def run_bot(self, call: BotCall) -> BotAnswer:
        self.calls.append(call)
        if call.bot_id not in self.answers:
            raise NotFoundError(f"bot {call.bot_id!r} not found")
        return BotAnswer(self.answers[call.bot_id], run_id="nested-run")


WORKFLOW_TOOL = {
    "type": "workflow",
    "bot_id": "billing",
    "name": "ask_billing",
    "description": "Ask the billing bot about invoices",
}


async def test_workflow_tools_ask_another_bot_one_level_deeper(
    agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    bots = RecordingBots({"billing": "Invoice 12 is paid."})
    services = agent_services.replace(bots=bots)
    model.enqueue_tool_calls(ToolCall("c1", "ask_billing", {"query": "invoice 12?"}))
    model.enqueue("Paid.")

    run = await run_agent(services, {"tools": [WORKFLOW_TOOL]}, sys={"run_id": "r1"})

    assert run.outputs["tool_calls"][0]["result"] == "Invoice 12 is paid."
    (call,) = bots.calls
    assert (call.bot_id, call.query, call.owner_id, call.depth) == (
        "billing",
        "invoice 12?",
        "u1",
        1,
    )
    assert call.caller_run_id == "r1"


async def test_bots_calling_bots_stop_at_the_depth_limit(
    agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    bots = RecordingBots({"billing": "never asked"})
    model.enqueue_tool_calls(ToolCall("c1", "ask_billing", {"query": "loop?"}))
    model.enqueue("stopped")
    max_depth = get_node_settings().agent_max_bot_depth

    run = await run_agent(
        agent_services.replace(bots=bots), {"tools": [WORKFLOW_TOOL]},
        sys={"call_depth": max_depth},
    )  # fmt: skip

    (call,) = run.outputs["tool_calls"]
    assert call["is_error"] is True
    assert f"only {max_depth} levels deep" in call["result"]
    assert bots.calls == []


async def test_a_missing_bot_or_no_bot_runner_is_an_error_result(
    agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "ask_billing", {"query": "x"}))
    model.enqueue("a")
    model.enqueue_tool_calls(ToolCall("c1", "ask_billing", {"query": "x"}))
    model.enqueue("b")

    missing = await run_agent(
        agent_services.replace(bots=RecordingBots({})), {"tools": [WORKFLOW_TOOL]}
    )
    nowhere = await run_agent(agent_services, {"tools": [WORKFLOW_TOOL]})

    assert missing.outputs["tool_calls"][0]["result"] == "bot 'billing': bot 'billing' not found"
    assert "no bot runner is configured" in nowhere.outputs["tool_calls"][0]["result"]


# --- validation ------------------------------------------------------------------------


def _problems(config: dict[str, Any]) -> dict[str, str]:
    problems = validate_graph(agent_graph(config), default_registry())
    return {p.path or "": p.message for p in problems}


BAD_CONFIGS: dict[str, tuple[dict[str, Any], str, str]] = {
    "duplicate names": (
        {"tools": [knowledge_tool(name="lookup"), {**WORKFLOW_TOOL, "name": "lookup"}]},
        "nodes[1].config.tools",
        "named 'lookup' like tools[0]",
    ),
    "a name some provider refuses": (
        {"tools": [{**WORKFLOW_TOOL, "name": "ask.billing"}]},
        "nodes[1].config.tools[0].workflow.name",
        "not valid for every provider",
    ),
    "a name starting with a digit": (
        {"tools": [{**WORKFLOW_TOOL, "name": "1ask"}]},
        "nodes[1].config.tools[0].workflow.name",
        "must start with a letter",
    ),
    "a malformed schema": (
        {"tools": [{"type": "http", "name": "f", "description": "d",
                    "url": "https://api.example.com/x",
                    "parameters": {"type": "object", "properties": {"a": {"type": "strin"}}}}]},
        "nodes[1].config.tools[0].http.parameters",
        "not a valid JSON Schema at properties/a/type",
    ),
    "a schema that is not an object": (
        {"tools": [{"type": "http", "name": "f", "description": "d",
                    "url": "https://api.example.com/x", "parameters": {"type": "array"}}]},
        "nodes[1].config.tools[0].http.parameters",
        'must describe an object ("type": "object")',
    ),
    "a remote $ref": (
        {"tools": [{"type": "http", "name": "f", "description": "d",
                    "url": "https://api.example.com/x",
                    "parameters": {"type": "object", "$ref": "https://evil.test/s.json"}}]},
        "nodes[1].config.tools[0].http.parameters",
        "only local $ref",
    ),
    "a placeholder that is no argument": (
        {"tools": [{"type": "http", "name": "f", "description": "d",
                    "url": "https://api.example.com/orders/{id}", "parameters": ORDER_SCHEMA}]},
        "nodes[1].config.tools[0].http",
        "placeholder {id} is not among the parameters",
    ),
    "a placeholder in the host": (
        {"tools": [{"type": "http", "name": "f", "description": "d",
                    "url": "https://{order_id}.example.com/", "parameters": ORDER_SCHEMA}]},
        "nodes[1].config.tools[0].http.url",
        "never the host",
    ),
    "an MCP tool named twice": (
        {"tools": [{"type": "mcp", "url": "https://mcp.example.com/mcp", "tools": ["a", "a"]}]},
        "nodes[1].config.tools[0].mcp.tools",
        "lists a name twice",
    ),
    "a template syntax error in the instruction": (
        {"instruction": "You work for {% if %}."},
        "nodes[1].config.instruction",
        "syntax error",
    ),
    "a template syntax error in a header": (
        {"tools": [{"type": "mcp", "url": "https://mcp.example.com/mcp",
                    "headers": {"Authorization": "Bearer {{ token"}}]},
        "nodes[1].config.tools[0].headers.Authorization",
        "syntax error",
    ),
    "an unknown tool type": (
        {"tools": [{"type": "shell", "command": "rm -rf /"}]},
        "nodes[1].config.tools[0]",
        "does not match any of the expected tags",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_tool_configs_are_validation_problems_naming_the_field(case: str) -> None:
    config, path, message = BAD_CONFIGS[case]
    problems = _problems(config)
    assert path in problems, problems
    assert message in problems[path]


def test_max_iterations_is_bounded_by_the_setting(node_settings: pytest.MonkeyPatch) -> None:
    node_settings.setenv("SNAPAGENT_AGENT_MAX_ITERATIONS", "3")
    get_node_settings.cache_clear()
    assert _problems({"max_iterations": 3}) == {}
    problems = _problems({"max_iterations": 4})
    assert (
        "at most 3 (SNAPAGENT_AGENT_MAX_ITERATIONS)" in problems["nodes[1].config.max_iterations"]
    )


def test_template_variables_of_the_instruction_and_headers_are_input_ports() -> None:
    config = {
        "instruction": "You work for {{ company }}.",
        "tools": [{"type": "mcp", "url": "https://mcp.example.com/mcp",
                   "headers": {"Authorization": "Bearer {{ token }}"}}],
    }  # fmt: skip
    node = default_registry().create("agent", "agent", config)
    ports = node.port_schema()
    assert [p.name for p in ports.inputs] == ["query", "company", "token", "history"]
    assert [p.name for p in ports.outputs] == [
        "text", "tool_calls", "usage", "documents", "iterations", "finish_reason",
    ]  # fmt: skip


def test_the_resources_named_include_knowledge_bases_and_bots() -> None:
    node_type = default_registry().get("agent")
    assert node_type is not None
    refs = node_type.resources(
        {"model": "offline", "tools": [knowledge_tool("kb-9"), WORKFLOW_TOOL]}
    )
    assert {(r.kind, r.value, r.path) for r in refs} == {
        ("knowledge_base", "kb-9", "config.tools[0].knowledge_base_ids[0]"),
        ("chat_model", "offline", "config.model"),
        ("bot", "billing", "config.tools[1].bot_id"),
    }


# --- in a run: error strategies and records ---------------------------------------------


@pytest.mark.parametrize(
    ("strategy", "status", "answer"),
    [
        ("fail_run", RunStatus.FAILED, None),
        ("default_value", RunStatus.SUCCEEDED, "unavailable"),
        ("fail_branch", RunStatus.SUCCEEDED, "recovered"),
    ],
)
async def test_a_failing_model_under_each_error_strategy(
    agent_services: ServiceContainer,
    model: ScriptedChatModel,
    strategy: str,
    status: RunStatus,
    answer: str | None,
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "search_policies", {"query": "refunds"}))
    model.enqueue_error(ProviderError("overloaded", provider="scripted", model="m"))
    graph = agent_graph(
        {"tools": [knowledge_tool()]},
        settings={
            "error_strategy": strategy,
            "default_outputs": {"text": "unavailable", "tool_calls": []},
        },
        fail_branch=strategy == "fail_branch",
    )

    result = await WorkflowExecutorV2(default_registry(), agent_services).run(
        graph, {"query": "refund?"}, {"owner_id": "u1"}
    )

    assert result.status is status
    record = result.nodes["agent"]
    assert record.error is not None
    assert "overloaded" in record.error.message
    if answer is not None:
        assert result.outputs["answer"] == answer


async def test_the_run_record_holds_every_tool_call(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 5}), text="One moment.")
    model.enqueue("Order 5 shipped.")
    graph = agent_graph({"tools": [http_tool(local_server)]})

    events = []
    async for event in WorkflowExecutorV2(default_registry(), agent_services).stream(
        graph, {"query": "order 5?"}, {"owner_id": "u1"}
    ):
        events.append(event)
    result = events[-1].result  # type: ignore[attr-defined]

    assert result.status is RunStatus.SUCCEEDED
    record = result.nodes["agent"]
    assert record.status is NodeStatus.SUCCEEDED
    (call,) = record.outputs["tool_calls"]
    assert (call["name"], call["arguments"], call["is_error"]) == (
        "get_order",
        {"order_id": 5},
        False,
    )
    assert result.outputs["calls"] == record.outputs["tool_calls"]
    assert record.usage.total_tokens > 0
    text = "".join(e.text for e in events if type(e).__name__ == "TextChunk")
    assert text == result.outputs["answer"] == "One moment.\n\nOrder 5 shipped."


async def test_the_engine_timeout_of_the_node_stops_a_hanging_tool(
    local_server: LocalHttpServer, agent_services: ServiceContainer, model: ScriptedChatModel
) -> None:
    model.enqueue_tool_calls(ToolCall("c1", "get_order", {"order_id": 5}))
    graph = agent_graph(
        {"tools": [http_tool(local_server, "/slow?s=5")]}, settings={"timeout_s": 0.5}
    )

    started = time.monotonic()
    result = await WorkflowExecutorV2(default_registry(), agent_services).run(
        graph, {"query": "order 5?"}, {"owner_id": "u1"}
    )

    assert time.monotonic() - started < 3
    assert result.status is RunStatus.FAILED
    assert result.error is not None
    assert result.error.type == "NodeTimeoutError"
    await asyncio.sleep(0)  # nothing of the agent is left running
