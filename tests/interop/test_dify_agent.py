"""Dify agent nodes become our agent node: the six real exports that have one, and hand-made
odd or hostile agent data (a clear report item or import error, never a crash)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from snapagent.interop.conversion import ImportOptions, convert_document
from snapagent.interop.converted import ConvertedBot
from snapagent.interop.dify.context import ConvertOptions
from snapagent.interop.dify.reader import read_dify
from snapagent.nodes.settings import get_node_settings
from snapagent.testing.dify_corpus import require_corpus
from snapagent.workflow import WorkflowGraph
from snapagent.workflow.validation import validate_graph

from .dify_docs import (
    REGISTRY,
    chain,
    convert,
    end_node,
    find,
    messages,
    node,
    start,
    workflow_doc,
)

# file -> (agent node id, model, instruction starts with, query selector head, tool URLs,
#          report messages expected (substrings))
REAL: dict[str, tuple[str, str, str, list[str], list[str], list[str]]] = {
    "旅行Demo.yml": (
        "1737536410434", "openai:gpt-4o-mini", "## 角色：旅行顾问",
        ["1737536410434__query", "text"], [],
        ["duckduckgo/ddgo_search (builtin provider) has no SnapAgent equivalent"],
    ),
    "Agent工具调用.yml": (
        "1739781971571", "openai:gpt-4o-mini", "根据用户的需求", ["1739781961838", "query"], [],
        ["time/current_time (builtin provider) has no SnapAgent equivalent",
         "ddgo_search (builtin provider) has no SnapAgent equivalent",
         "openweather/weather is disabled in Dify"],
    ),
    "MCP-amap.yml": (
        "1742957995972", "openai:gpt-4o-mini", "通过amap的服务", ["1742957989303", "query"],
        ["https://mcp.amap.com/sse?key="],
        ["is an SSE endpoint", "empty or masked value", "time/current_time (builtin provider)"],
    ),
    "MCP.yml": (
        "1742957995972", "openai:gpt-4o-mini", "调用MCP服务", ["1742957989303", "query"],
        ["https://router.mcp.so/sse/*********"], ["is an SSE endpoint", "empty or masked value"],
    ),
    "Demo-tod_agent.yml": (
        "1742523567258", "openai:o1-mini", "", ["1742523552659", "query"], [],
        ["strategy 'TOD' (svcvit/agent/agent) is a plugin SnapAgent does not have",
         "strategy parameter 'information_schema'", "strategy parameter 'storage_key'"],
    ),
    "AgentFlow.yml": (
        "1740645185279", "openai:gpt-4o-mini", "", ["1740638793787", "query"], [],
        ["is a plugin SnapAgent does not have", "strategy parameter 'task_schema'"],
    ),
}  # fmt: skip


def _options() -> ImportOptions:
    return ImportOptions(node_types=frozenset(REGISTRY.type_keys))


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_agent_nodes_become_agent_nodes(name: str) -> None:
    files = {p.name: p for p in require_corpus()}
    bot = convert_document(files[name].read_bytes(), _options())
    assert not validate_graph(WorkflowGraph.from_json(bot.graph), REGISTRY)
    node_id, model, instruction, query, urls, expected = REAL[name]
    agent = find(bot.graph, node_id)
    assert agent["type"] == "agent"
    assert bot.report.node_types[node_id] == "agent"
    config = agent["config"]
    assert config["model"] == model
    assert config["instruction"].startswith(instruction)
    assert agent["inputs"]["query"]["selector"][:2] == query
    assert [t["url"] for t in config["tools"] if t["type"] == "mcp"] == urls
    assert all(t["type"] in ("mcp", "http") for t in config["tools"])
    found = [i.message for i in bot.report.items if i.node_id == node_id]
    for text in expected:
        assert any(text in m for m in found), (text, found)
    assert "placeholder" not in {n["type"] for n in bot.graph["nodes"]}


def test_travel_demo_limits_and_prompt_text() -> None:
    files = {p.name: p for p in require_corpus()}
    bot = convert_document(files["旅行Demo.yml"].read_bytes(), _options())
    config = find(bot.graph, "1737536410434")["config"]
    assert config["max_iterations"] == 4
    assert config["use_run_history"] is False  # Dify's node had no memory
    # The query is a list (conversation.History): Dify renders it as text, so does a template.
    query = find(bot.graph, "1737536410434__query")
    assert query["type"] == "template"
    assert [v["selector"] for v in query["inputs"].values()] == [["conversation", "History"]]
    # Dify's own {{destination}} is literal text there, never one of our variables.
    assert "{{destination}}" not in config["instruction"].replace("{{ '{{' }}", "")


def test_without_the_agent_node_it_stays_a_placeholder() -> None:
    files = {p.name: p for p in require_corpus()}
    bot = convert_document(files["MCP.yml"].read_bytes(), ImportOptions())
    assert bot.report.node_types["1742957995972"] == "placeholder"


def _agent(**data: Any) -> dict[str, Any]:
    return node("agent", "agent", agent_strategy_name="function_calling",
                agent_strategy_provider_name="langgenius/agent/agent", **data)  # fmt: skip


def _doc(agent: dict[str, Any], *reads: str, mode: str = "workflow") -> dict[str, Any]:
    outputs = {r: ["agent", r] for r in reads} or {"answer": ["agent", "text"]}
    return workflow_doc(
        [start({"variable": "city", "label": "city", "type": "text-input"}), agent,
         end_node("end", **outputs)],
        chain("start", "agent", "end"),
        mode=mode,
    )  # fmt: skip


def _param(value: Any, kind: str = "constant") -> dict[str, Any]:
    return {"type": kind, "value": value}


_PARAMETERS = (
    "model", "instruction", "query", "tools", "maximum_iterations", "mcp_server",
    "mcp_servers_config",
)  # fmt: skip


def _items(bot: ConvertedBot) -> list[tuple[str, str, str | None]]:
    return [(i.severity, i.message, i.field) for i in bot.report.items]


def test_references_tools_and_outputs_are_rewritten() -> None:
    params = {
        "model": _param({"provider": "langgenius/anthropic/anthropic", "model": "claude-x"}),
        "instruction": _param("Answer about {{#start.city#}}."),
        "query": _param("Weather in {{#start.city#}} today?"),
        "maximum_iterations": _param(3),
        "tools": _param([
            {"provider_name": "jina", "tool_name": "jina_reader", "type": "builtin",
             "extra": {"description": "Read a web page"}},
            {"provider_name": "x/y", "tool_name": "secret", "type": "api"},
        ]),
        "mcp_servers_config": _param(
            '{"mcpServers": {"a": {"url": "https://mcp.example.com/mcp"}, "b": {"url": 3}}}'
        ),
    }  # fmt: skip
    bot = convert(_doc(_agent(agent_parameters=params), "text", "json"), override=None)
    agent = find(bot.graph, "agent")
    config = agent["config"]
    assert config["max_iterations"] == 3
    assert "{{ city }}" in config["instruction"]
    assert agent["inputs"]["city"]["selector"][0] == "start"
    # A query with text around the reference is written by a template node first.
    assert agent["inputs"]["query"]["selector"] == ["agent__query", "text"]
    template = find(bot.graph, "agent__query")
    assert template["type"] == "template"
    assert {"source": "agent__query", "target": "agent"} in bot.graph["edges"]
    assert {"source": "start", "target": "agent__query"} in bot.graph["edges"]
    tools = config["tools"]
    assert tools[0] == {"type": "mcp", "url": "https://mcp.example.com/mcp"}
    assert tools[1]["type"] == "http"
    assert tools[1]["url"] == "https://r.jina.ai/{url}"
    assert len(tools) == 2
    items = _items(bot)
    assert any(s == "action" and "x/y/secret (api provider)" in m for s, m, _ in items)
    assert any("not a fixed text" in m for _, m, _ in items)  # server b has no URL
    assert any("agent's json output has no equivalent" in m for _, m, _ in items)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"model": "gpt", "instruction": 7, "query": ["x"], "tools": "all of them"},
        {"model": _param(None), "query": _param(["nowhere", "x"], "variable")},
        {"maximum_iterations": _param("ten")},
        {"maximum_iterations": _param(10**9)},
        {"maximum_iterations": _param(True)},
        {"tools": _param([1, None, "x", {"enabled": False}, {"tool_name": ["a"]}])},
        {"mcp_server": _param("http://127.0.0.1:8080/mcp")},
        {"mcp_server": _param("file:///etc/passwd")},
        {"mcp_server": _param(["start", "city"], "variable")},
        {"mcp_servers_config": _param("{not json")},
        {"mcp_servers_config": _param('{"a": 1}')},
        {"instruction": _param("x" * 100_000)},
        {"instruction": _param("x" * 19_995 + "{{#start.city#}}" * 10)},
        {"weird": {"type": "constant", "value": {"deep": [1, 2, {"x": None}]}}},
    ],
)
def test_odd_agent_data_converts_with_report_items(params: dict[str, Any]) -> None:
    bot = convert(_doc(_agent(agent_parameters=params)))
    assert find(bot.graph, "agent")["type"] == "agent"
    assert [i for i in bot.report.items if i.node_id == "agent"]  # what happened is said


def test_huge_tool_lists_are_bounded_and_counted() -> None:
    tools = [{"provider_name": "p", "tool_name": f"t{i}", "type": "builtin"} for i in range(5000)]
    tools += [{"provider_name": "jina", "tool_name": "jina_search"}] * 3
    servers = {f"s{i}": {"url": f"https://mcp{i}.example.com/mcp"} for i in range(100)}
    params = {"tools": _param(tools), "mcp_servers_config": _param(json.dumps(servers))}
    bot = convert(_doc(_agent(agent_parameters=params)))
    config = find(bot.graph, "agent")["config"]
    assert len(config["tools"]) == 32
    agent_items = [i for i in bot.report.items if i.node_id == "agent"]
    assert len(agent_items) < 120
    assert any("4968 more Dify tools" in i.message for i in agent_items)
    assert any("an agent node takes at most 32" in i.message for i in agent_items)


def test_unreadable_agent_parameters_are_a_placeholder() -> None:
    bot = convert(_doc(_agent(agent_parameters="nope"), "text", "files"))
    assert find(bot.graph, "agent")["type"] == "placeholder"
    assert any(s == "action" and "not a mapping" in m for s, m, _ in _items(bot))


def test_memory_in_a_chatflow_sends_the_history() -> None:
    agent = _agent(agent_parameters={}, memory={"window": {"enabled": True, "size": 10}})
    doc = workflow_doc(
        [start(), agent, node("answer", "answer", answer="{{#agent.text#}}")],
        chain("start", "agent", "answer"),
        mode="advanced-chat",
    )
    bot = convert(doc)
    config = find(bot.graph, "agent")["config"]
    assert config["use_run_history"] is True
    answer = find(bot.graph, "answer")
    assert ["agent", "text"] in [v["selector"] for v in answer["inputs"].values()]


def test_junk_of_every_type_in_every_parameter_converts() -> None:
    """Through the reader directly with every type of junk at every level."""
    for junk in (None, 0, [], "x", {"a": {"b": {}}}, [[["deep"]]]):
        data = {"agent_parameters": dict.fromkeys(_PARAMETERS, junk)}
        doc = _doc(_agent(**data))
        bot = read_dify(doc, ConvertOptions(node_types=frozenset(REGISTRY.type_keys)))
        assert not validate_graph(WorkflowGraph.from_json(bot.graph), REGISTRY)


def _agent_chat(**model_config: Any) -> dict[str, Any]:
    return {
        "app": {"name": "Agent chat", "mode": "agent-chat"},
        "kind": "app",
        "version": "0.1.2",
        "model_config": {
            "model": {"provider": "openai", "name": "gpt-4o", "mode": "chat"},
            "user_input_form": [{"text-input": {"variable": "persona", "label": "Persona"}}],
            **model_config,
        },
    }


def test_an_agent_chat_app_becomes_an_agent_with_its_knowledge_and_variables() -> None:
    agent_mode = {
        "enabled": True,
        "strategy": "react",
        "max_iteration": 99,
        "tools": [
            {"dataset": {"enabled": True, "id": "ds-1"}},
            {"provider_type": "builtin", "provider_name": "jina", "tool_name": "jina_search"},
            {"provider_type": "api", "provider_id": "uuid-1", "tool_name": "crm"},
        ],
    }
    doc = _agent_chat(pre_prompt="You are {{persona}}.", agent_mode=agent_mode)
    bot = convert(doc)
    agent = find(bot.graph, "llm")
    assert agent["type"] == "agent"
    config = agent["config"]
    assert config["instruction"] == "You are {{ persona }}."
    assert agent["inputs"]["persona"]["selector"] == ["start", "persona"]
    assert agent["inputs"]["query"]["selector"] == ["start", "query"]
    assert config["max_iterations"] == get_node_settings().agent_max_iterations  # the ceiling
    assert [t["type"] for t in config["tools"]] == ["knowledge", "http"]
    assert config["tools"][0]["knowledge_base_ids"] == ["dify-dataset:ds-1"]
    assert [k.source_id for k in bot.knowledge] == ["ds-1"]
    assert any("uuid-1/crm (api provider) has no SnapAgent equivalent" in m for m in messages(bot))


def test_an_agent_chat_app_with_an_advanced_prompt_writes_the_query_first() -> None:
    doc = _agent_chat(
        prompt_type="advanced",
        chat_prompt_config={"prompt": [
            {"role": "system", "text": "Be {{persona}}."},
            {"role": "user", "text": "Question: {{#query#}}"},
        ]},
        agent_mode={"enabled": True, "tools": [{"provider_name": "x", "tool_name": "y"}]},
    )  # fmt: skip
    bot = convert(doc)
    assert find(bot.graph, "llm")["inputs"]["query"]["selector"] == ["llm__query", "text"]
    assert find(bot.graph, "llm__query")["type"] == "template"
    assert {"source": "llm__query", "target": "llm"} in bot.graph["edges"]


@pytest.mark.parametrize(
    "agent_mode",
    [
        {"tools": [{"dataset": "x"}, {"dataset": {"id": ["a"]}}, 5, {"tool_name": None}]},
        {"max_iteration": "many", "strategy": ["x"], "tools": [{"tool_name": "t"}] * 500},
        {"tools": [{"dataset": {"id": "d" * 10_000}}, {"tool_name": "t"}]},
    ],
)
def test_odd_agent_chat_apps_convert(agent_mode: dict[str, Any]) -> None:
    bot = convert(_agent_chat(pre_prompt="Hi.", agent_mode=agent_mode))
    assert find(bot.graph, "llm")["type"] == "agent"
    assert len(find(bot.graph, "llm")["config"]["tools"]) <= 32


def test_mcp_server_takes_one_url_or_the_json_of_several() -> None:
    servers = {"one": {"url": "https://a.example.com/mcp", "headers": {}, "timeout": 5},
               "two": {"url": "https://b.example.com/mcp"}}  # fmt: skip
    params = {"query": _param("{{#sys.query#}}"), "mcp_server": _param(json.dumps(servers))}
    bot = convert(_doc(_agent(agent_parameters=params)), override=None)
    assert [t["url"] for t in find(bot.graph, "agent")["config"]["tools"]] == [
        "https://a.example.com/mcp",
        "https://b.example.com/mcp",
    ]


def test_hostile_nesting_in_the_mcp_server_json_is_reported() -> None:
    params = {"mcp_server": _param('{"a": ' + "[" * 200_000)}
    bot = convert(_doc(_agent(agent_parameters=params)), override=None)
    assert find(bot.graph, "agent")["config"]["tools"] == []
    assert any("not a JSON object" in m for _, m, _ in _items(bot))
