"""Our agent node written as a Dify agent node (`snapagent.interop.dify.writer_agent`): the six
real Dify agent exports round trip (Dify -> ours -> Dify -> ours) keeping the agent, a natively
built agent comes back with what Dify can hold and a report item for what it cannot, and odd or
hostile agent configs never make the writer raise."""

from __future__ import annotations

import json
from typing import Any

import pytest

from snapagent.interop.conversion import ImportOptions, convert_document
from snapagent.interop.converted import ConvertedBot
from snapagent.interop.dify.writer import write_dify
from snapagent.interop.dumping import dump_yaml
from snapagent.interop.report import ImportReport
from snapagent.testing.dify_corpus import require_corpus
from snapagent.workflow import WorkflowGraph
from snapagent.workflow.validation import validate_graph

from .dify_docs import REGISTRY, find

# file -> the agent node's id
REAL = {
    "旅行Demo.yml": "1737536410434",
    "Agent工具调用.yml": "1739781971571",
    "MCP-amap.yml": "1742957995972",
    "MCP.yml": "1742957995972",
    "Demo-tod_agent.yml": "1742523567258",
    "AgentFlow.yml": "1740645185279",
}
_OPTIONS = ImportOptions(node_types=frozenset(REGISTRY.type_keys))


def _to_dify(graph: dict[str, Any]) -> tuple[dict[str, Any], ImportReport]:
    return write_dify(bot={"name": "Agent"}, graph=graph)


def _back(document: dict[str, Any]) -> ConvertedBot:
    bot = convert_document(dump_yaml(document).encode(), _OPTIONS)
    assert not validate_graph(WorkflowGraph.from_json(bot.graph), REGISTRY)
    return bot


def _dify_agent(document: dict[str, Any], node_id: str) -> dict[str, Any]:
    nodes = document["workflow"]["graph"]["nodes"]
    data: dict[str, Any] = next(n["data"] for n in nodes if n["id"] == node_id)
    return data


def _selector(node: dict[str, Any], port: str) -> list[Any]:
    return list(node["inputs"][port]["selector"])


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_agent_files_round_trip_through_dify(name: str) -> None:
    files = {p.name: p for p in require_corpus()}
    first = convert_document(files[name].read_bytes(), _OPTIONS)
    node_id = REAL[name]
    document, _report = _to_dify(first.graph)
    data = _dify_agent(document, node_id)
    assert data["type"] == "agent"
    assert data["agent_strategy_name"] == "function_calling"
    model = data["agent_parameters"]["model"]["value"]
    assert model["type"] == "model-selector"
    assert model["model_type"] == "llm"
    assert model["provider"] == "langgenius/openai/openai"
    second = _back(document)
    before, after = find(first.graph, node_id), find(second.graph, node_id)
    assert after["type"] == "agent"
    for key in ("model", "instruction", "max_iterations", "use_run_history"):
        assert after["config"][key] == before["config"][key], key
    assert [t for t in after["config"]["tools"] if t["type"] == "mcp"] == [
        t for t in before["config"]["tools"] if t["type"] == "mcp"
    ]
    assert _selector(after, "query") == _selector(before, "query")
    # The query read through a template (旅行Demo: a list value) reads the same thing again.
    head = _selector(before, "query")[0]
    if head.endswith("__query"):
        assert find(second.graph, head)["inputs"] == find(first.graph, head)["inputs"]


def test_real_mcp_agent_keeps_its_server_and_strategy() -> None:
    files = {p.name: p for p in require_corpus()}
    bot = convert_document(files["MCP-amap.yml"].read_bytes(), _OPTIONS)
    document, report = _to_dify(bot.graph)
    data = _dify_agent(document, REAL["MCP-amap.yml"])
    assert data["agent_strategy_provider_name"] == "hjlarry/agent/mcp_agent"
    assert data["agent_parameters"]["mcp_server"]["value"] == "https://mcp.amap.com/sse?key="
    assert data["agent_parameters"]["query"]["value"] == "{{#sys.query#}}"
    assert any("hjlarry/agent/mcp_agent" in i.message for i in report.items)


def _native_graph() -> dict[str, Any]:
    agent = {
        "id": "agent",
        "type": "agent",
        "title": "Helper",
        "config": {
            "model": "anthropic:claude-sonnet-4-5",
            "temperature": 0.3,
            "instruction": "You work for {{ company }}. Be brief.",
            "max_iterations": 7,
            "use_run_history": True,
            "tools": [
                {"type": "mcp", "url": "https://mcp.example.com/mcp"},
                {
                    "type": "mcp",
                    "url": "https://other.example.com/mcp",
                    "headers": {"Authorization": "Bearer {{ token }}"},
                    "tools": ["lookup"],
                },
                {
                    "type": "http",
                    "name": "create_ticket",
                    "description": "Open a ticket",
                    "url": "https://helpdesk.example.com/api/tickets",
                    "method": "POST",
                },
                {"type": "knowledge", "knowledge_base_ids": ["kb-1"]},
                {
                    "type": "workflow",
                    "bot_id": "b-1",
                    "name": "ask_billing",
                    "description": "Ask the billing bot",
                },
            ],
        },
        "inputs": {
            "query": {"selector": ["start", "question"]},
            "company": {"selector": ["start", "company"]},
            "token": {"selector": ["start", "company"]},
        },
    }
    return {
        "nodes": [
            {"id": "start", "type": "start", "title": "Start", "config": {"inputs": [
                {"name": "question", "type": "string"}, {"name": "company", "type": "string"}]}},
            agent,
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [{"source": "agent", "source_port": "text", "target": "end",
                   "target_port": "answer"}],
    }  # fmt: skip


def test_native_agent_round_trips_with_a_report_of_what_dify_cannot_hold() -> None:
    graph = _native_graph()
    assert not validate_graph(WorkflowGraph.from_json(graph), REGISTRY)
    document, report = _to_dify(graph)
    data = _dify_agent(document, "agent")
    params = data["agent_parameters"]
    assert params["instruction"]["value"] == "You work for {{#start.company#}}. Be brief."
    assert params["query"]["value"] == "{{#start.question#}}"
    assert params["maximum_iterations"]["value"] == 7
    assert params["model"]["value"]["provider"] == "langgenius/anthropic/anthropic"
    assert params["model"]["value"]["completion_params"] == {"temperature": 0.3}
    servers = json.loads(params["mcp_server"]["value"])
    assert [s["url"] for s in servers.values()] == [
        "https://mcp.example.com/mcp", "https://other.example.com/mcp"]  # fmt: skip
    assert all(s["headers"] == {} for s in servers.values())  # secrets stay here
    said = [i.message for i in report.items if i.node_id == "agent"]
    for text in ("'create_ticket' (http tool) has no Dify equivalent",
                 "'search_knowledge' (knowledge bases kb-1) (knowledge tool)",
                 "'ask_billing' (workflow tool)",
                 "headers of MCP server 'https://other.example.com/mcp' are not written",
                 "offers only some of its tools"):  # fmt: skip
        assert any(text in m for m in said), (text, said)
    back = find(_back(document).graph, "agent")
    config = back["config"]
    assert config["model"] == "anthropic:claude-sonnet-4-5"
    assert config["instruction"] == "You work for {{ company }}. Be brief."
    assert config["max_iterations"] == 7
    assert [t["url"] for t in config["tools"]] == [
        "https://mcp.example.com/mcp", "https://other.example.com/mcp"]  # fmt: skip
    assert _selector(back, "query") == ["start", "question"]
    assert _selector(back, "company") == ["start", "company"]


def test_native_chat_agent_keeps_its_memory_and_reads_the_message() -> None:
    graph = _native_graph()
    graph["nodes"][0]["config"] = {}
    graph["nodes"][1]["inputs"] = {"query": {"selector": ["start", "query"]}}
    graph["nodes"][1]["config"]["instruction"] = "{% if x %}y{% endif %}"
    graph["nodes"][1]["config"]["tools"] = []
    document, report = _to_dify(graph)
    data = _dify_agent(document, "agent")
    assert document["app"]["mode"] == "advanced-chat"
    assert data["agent_strategy_provider_name"] == "langgenius/agent/agent"
    assert "mcp_server" not in data["agent_parameters"]
    assert data["agent_parameters"]["query"]["value"] == "{{#sys.query#}}"
    assert "memory" in data
    assert any("beyond substitutions" in i.message for i in report.items)
    back = find(_back(document).graph, "agent")
    assert back["config"]["use_run_history"] is True
    assert back["config"]["tools"] == []


def test_many_tools_are_counted_not_listed_one_by_one() -> None:
    graph = _native_graph()
    graph["nodes"][1]["config"]["tools"] = [{"type": "http", "name": f"t{i}"} for i in range(200)]
    _document, report = _to_dify(graph)
    said = [i.message for i in report.items if "no Dify equivalent" in i.message]
    assert len(said) == 33
    assert "168 more agent tools have no Dify equivalent" in said[-1]


_HOSTILE: list[Any] = [
    {"tools": "not a list", "instruction": 5, "max_iterations": "many", "model": 12},
    {"tools": [None, 5, "x", {"type": "mcp"}, {"type": "mcp", "url": 7}, {"type": None}]},
    {"tools": [{"type": "mcp", "url": "  "}, {"type": "knowledge", "knowledge_base_ids": 3}]},
    {"max_iterations": True, "temperature": "hot", "max_tokens": [1], "use_run_history": None},
    {"instruction": "{{ " * 5_000, "tools": [{"type": "mcp", "url": "x" * 20_000}] * 3},
    {"instruction": "{{ missing }} and {{ '{{' }}", "on_max_iterations": {"a": 1}},
    {"tools": [{"type": "mcp", "url": f"https://h{i}.example.com/mcp"} for i in range(100)]},
]


@pytest.mark.parametrize("config", _HOSTILE)
def test_odd_or_hostile_agent_config_never_raises(config: dict[str, Any]) -> None:
    graph = _native_graph()
    graph["nodes"][1]["config"] = config
    document, report = _to_dify(graph)
    assert _dify_agent(document, "agent")["type"] == "agent"
    assert report.items
    # And what was written imports again, as an agent or with a clear report.
    bot = convert_document(dump_yaml(document).encode(), _OPTIONS)
    assert find(bot.graph, "agent")["type"] == "agent"


def test_odd_inputs_never_raise() -> None:
    graph = _native_graph()
    graph["nodes"][1]["inputs"] = {"query": {"selector": ["start", "history"]}}
    document, report = _to_dify(graph)
    # The chat history has no Dify selector: the agent reads the message instead, reported.
    assert _dify_agent(document, "agent")["agent_parameters"]["query"]["value"] == (
        "{{#sys.query#}}"
    )
    assert any("chat history" in i.message for i in report.items)
