"""The Dify exports written for these tests (newer DSL shapes the real corpus lacks, bad files):
each converts to a graph that validates and, where it can run offline, runs as the app did."""

from __future__ import annotations

import pytest

from snapagent.interop.conversion import ImportOptions, convert_document
from snapagent.interop.converted import ConvertedBot
from snapagent.interop.errors import ImportFormatError
from snapagent.testing.dify_corpus import FIXTURES

from .dify_docs import REGISTRY, find, messages, run

GOOD = [
    "v0_4_error_handling.yml",
    "v0_5_loops_and_lists.yml",
    "v0_6_chatflow.yml",
    "v0_6_trigger.yml",
    "chat_app.yml",
    "agent_chat_app.yml",
    "completion_app.yml",
]


def load(name: str, override: str | None = "offline") -> ConvertedBot:
    options = ImportOptions(model_override=override, node_types=frozenset(REGISTRY.type_keys))
    return convert_document((FIXTURES / name).read_bytes(), options)


@pytest.mark.parametrize("name", GOOD)
def test_fixture_converts_to_a_valid_graph(name: str) -> None:
    from snapagent.workflow import WorkflowGraph
    from snapagent.workflow.validation import validate_graph

    bot = load(name)
    problems = validate_graph(WorkflowGraph.from_json(bot.graph), REGISTRY)
    assert not problems, [p.message for p in problems]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("future_version.yml", "Dify DSL version 0.9.0 is newer than this importer knows"),
        ("rag_pipeline.yml", "a Dify knowledge pipeline, not an app"),
        ("broken.yml", "YAML error at line 8, column 5"),
    ],
)
def test_files_that_cannot_be_imported_say_why(name: str, reason: str) -> None:
    with pytest.raises(ImportFormatError) as caught:
        load(name)
    assert reason in caught.value.message


def test_error_strategies_retries_structured_output_and_inputs() -> None:
    bot = load("v0_4_error_handling.yml", override=None)
    summarise = find(bot.graph, "summarise")
    assert summarise["error_strategy"] == "fail_branch"
    assert summarise["retry"] == {"max_retries": 2, "backoff_s": 0.5, "backoff_multiplier": 1.0}
    assert summarise["config"]["model"] == "anthropic:claude-3-5-haiku-latest"
    assert summarise["config"]["structured_output"]["required"] == ["title"]
    assert summarise["config"]["system_prompt"] == (
        'Summarise in {{ count }} points. Keep JSON like {"a": 1} literal.'
    )
    fetch = find(bot.graph, "fetch")
    assert fetch["error_strategy"] == "default_value"
    assert fetch["default_outputs"] == {"body": "{}", "status_code": 0.0}
    assert fetch["config"]["headers"]["Authorization"] == "Bearer {{ api_key }}"
    assert fetch["config"]["body"]["content_type"] == "application/json"
    assert fetch["config"]["body"]["raw"] == '{"title": "{{ title }}", "n": {{ count }}}'
    assert fetch["inputs"]["title"] == {"selector": ["summarise", "structured_output", "title"]}
    assert fetch["config"]["timeout_s"] == 20
    apology = find(bot.graph, "apology")
    assert apology["inputs"]["why"] == {"selector": ["summarise", "error", "message"]}
    declared = {p["name"]: p["type"] for p in find(bot.graph, "start")["config"]["inputs"]}
    assert declared == {
        "count": "number",
        "strict": "boolean",
        "meta": "object",
        "env_api_base": "string",
        "env_api_key": "string",
    }
    [note] = bot.graph["notes"]
    assert note["text"] == "Fails over to an apology."
    assert bot.graph["viewport"]["zoom"] == 0.8
    said = messages(bot)
    assert "TLS certificate checks cannot be turned off" in said
    assert any("langgenius/anthropic" in m for m in said)


async def test_loop_variables_updates_break_conditions_and_the_list_operator() -> None:
    bot = load("v0_5_loops_and_lists.yml")
    loop = find(bot.graph, "count")["config"]
    assert loop["updates"]["num"] == ["bump__loop", "num"]
    assert loop["logic"] == "or"
    result = await run(bot.graph, "w")
    assert result.status.value == "succeeded", result.error
    assert result.outputs["rounds"] == 4
    # 3 rounds, each appended `text` before setting it to "x": "w", "x", "x"; the list
    # operator keeps non-empty items, sorts descending and keeps two.
    assert result.outputs["picked"] == ["x", "x"]
    assert result.outputs["answer"] == "big 4"
    assert any("loop-end" in m for m in messages(bot))


async def test_the_newest_chatflow_shapes() -> None:
    bot = load("v0_6_chatflow.yml")
    assert find(bot.graph, "approve")["type"] == "placeholder"
    assert find(bot.graph, "approve")["config"]["branches"] == ["approve", "reject"]
    agent = find(bot.graph, "agent")
    assert agent["type"] == "agent"
    assert agent["config"]["instruction"] == "Process the refund."
    assert agent["config"]["tools"] == []  # the Stripe tool has no equivalent (reported)
    assert agent["default_outputs"] == {"text": "The refund agent is unavailable."}
    assert any("langgenius/stripe/stripe/refund" in m for m in messages(bot))
    assert find(bot.graph, "search")["type"] == "http_request"
    assert find(bot.graph, "search")["config"]["url"] == (
        "https://r.jina.ai/https://example.com/refunds?q={{ query }}"
    )
    assert find(bot.graph, "kb")["config"]["knowledge_base_ids"] == [
        "dify-dataset:ds-1111",
        "dify-dataset:ds-2222",
    ]
    check = find(bot.graph, "check")["config"]["cases"]
    assert [c["name"] for c in check] == ["case_a", "case_2"]
    assert check[0]["conditions"][1:] == [
        {"input": "topics", "operator": "contains", "value": "a"},
        {"input": "topics", "operator": "contains", "value": "b"},
    ]
    said = messages(bot)
    for expected in (
        "metadata filtering is not carried over",
        "the opening statement is a chat-window feature with no equivalent here",
        "a condition on the attributes of files (type, name, size...) has no equivalent",
        "reasoning is not separated from the answer",
    ):
        assert expected in said
    # The product branch runs offline: knowledge (empty here) -> LLM -> answer.
    result = await run(bot.graph, "Tell me about product questions")
    assert result.status.value == "succeeded", result.error
    assert result.nodes["say"].outputs["text"]


async def test_triggers_become_the_start_node() -> None:
    bot = load("v0_6_trigger.yml")
    start = bot.graph["nodes"][0]
    assert (start["id"], start["type"]) == ("hook", "start")
    assert [p["name"] for p in start["config"]["inputs"]] == ["x_user", "message"]
    assert {e["source"] for e in bot.graph["edges"] if e["target"] == "greet"} == {"hook"}
    result = await run(bot.graph, inputs={"x_user": "Ada", "message": "hi"})
    assert result.outputs["answer"] == "Hi Ada: hi"


async def test_chat_completion_and_agent_apps_become_graphs() -> None:
    chat = load("chat_app.yml", override=None)
    llm = find(chat.graph, "llm")["config"]
    assert llm["model"] == "anthropic:claude-3-5-sonnet-latest"
    assert llm["system_prompt"].startswith(
        "You are {{ persona }}. Answer in {{ language }}. Keep {{ '{{' }}braces}} and "
        "{{ '{{' }}#unknown#}} as text."
    )
    assert "{{ context }}" in llm["system_prompt"]
    assert llm["use_run_history"] is True
    assert [n["type"] for n in chat.graph["nodes"]] == ["start", "knowledge", "llm", "end"]
    completion = load("completion_app.yml")
    config = find(completion.graph, "llm")["config"]
    assert config["prompt"] == "Write a haiku about {{ topic }}.\n"
    assert find(completion.graph, "llm")["inputs"]["topic"] == {"selector": ["start", "query"]}
    assert config["use_run_history"] is False
    result = await run(completion.graph, "autumn")
    assert result.status.value == "succeeded", result.error
    agent = load("agent_chat_app.yml")
    node = find(agent.graph, "llm")
    assert node["type"] == "agent"
    assert node["inputs"]["query"] == {"selector": ["start", "query"]}
    assert node["config"]["tools"] == []
    assert node["config"]["max_iterations"] == 5
    assert any("google/google_search (builtin provider) has no" in m for m in messages(agent))
    result = await run(agent.graph, "hello")  # the offline model answers without tools
    assert result.status.value == "succeeded", result.error
    assert result.outputs["answer"]
