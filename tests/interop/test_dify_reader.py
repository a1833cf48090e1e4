"""The Dify reader node by node: what each shape becomes, what the report says, and - run
with the offline model - that the converted graph does what the Dify app did."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.interop.dify.reader import dsl_version
from snapagent.interop.errors import ImportFormatError
from snapagent.nodes.templating import default_renderer

from .dify_docs import (
    chain,
    convert,
    edge,
    end_node,
    find,
    messages,
    node,
    run,
    start,
    variable,
    workflow_doc,
)


def answer_app(text: str, *extra: dict[str, Any], **workflow: Any) -> dict[str, Any]:
    nodes = [start(), *extra, node("say", "answer", answer=text)]
    ids = ["start", *(n["id"] for n in extra), "say"]
    return workflow_doc(nodes, chain(*ids), mode="advanced-chat", **workflow)


async def test_references_become_ports_and_literal_braces_stay_literal() -> None:
    text = "Q: {{#sys.query#}} / {{ not a var }} {% raw %} {#x#} {{#start.query#}}"
    bot = convert(answer_app(text))
    say = find(bot.graph, "say")
    assert say["inputs"] == {"query": {"selector": ["start", "query"]}}
    rendered = await default_renderer().render(
        say["config"]["answer"], {"query": "hi {{ 7*7 }}"}, node_id="say"
    )
    assert rendered == ("Q: hi {{ 7*7 }} / {{ not a var }} {% raw %} {#x#} hi {{ 7*7 }}")
    result = await run(bot.graph, "hello")
    assert result.nodes["say"].outputs["text"].startswith("Q: hello / {{ not a var }}")


def test_run_values_map_to_ours_and_the_rest_is_reported() -> None:
    text = (
        "{{#sys.conversation_id#}} {{#sys.user_id#}} {{#sys.app_id#}} {{#sys.workflow_run_id#}} "
        "{{#sys.files#}} {{#sys.dialogue_count#}} {{#ghost.text#}}"
    )
    bot = convert(answer_app(text))
    selectors = [m["selector"] for m in find(bot.graph, "say")["inputs"].values()]
    assert selectors == [
        ["start", "session_id"],
        ["sys", "user_id"],
        ["sys", "bot_id"],
        ["sys", "run_id"],
        ["sys", "files"],
    ]
    said = messages(bot)
    assert any("sys.dialogue_count has no SnapAgent equivalent" in m for m in said)
    assert any("names node 'ghost', which is not in the file" in m for m in said)


def test_environment_variables_become_start_inputs_and_secrets_are_reported() -> None:
    env = [
        {"name": "base", "value_type": "string", "value": "https://x.example"},
        {"name": "limit", "value_type": "number", "value": 3},
        {"name": "token", "value_type": "secret", "value": ""},
    ]
    bot = convert(
        answer_app("{{#env.base#}} {{#env.limit#}} {{#env.token#}}", environment_variables=env)
    )
    declared = {p["name"]: p for p in find(bot.graph, "start")["config"]["inputs"]}
    assert declared["env_base"]["default"] == "https://x.example"
    assert declared["env_limit"] == {**declared["env_limit"], "type": "number", "default": 3}
    assert "default" not in declared["env_token"]
    secret = [i for i in bot.report.items if "secret environment variable 'token'" in i.message]
    assert secret[0].severity == "action"


def test_workflow_forms_read_the_chat_message_and_answer_with_their_output() -> None:
    doc = workflow_doc(
        [
            start(
                variable("title", required=True),
                variable("tone", "select", options=["a", "b"]),
                variable("n", "number", default=2),
                variable("doc", "file"),
            ),
            node(
                "fmt",
                "template-transform",
                template="{{ t }}/{{ tone }}/{{ n }}",
                variables=[
                    {"variable": "t", "value_selector": ["start", "title"]},
                    {"variable": "tone", "value_selector": ["start", "tone"]},
                    {"variable": "n", "value_selector": ["start", "n"]},
                ],
            ),
            end_node("end", result=["fmt", "output"]),
        ],
        chain("start", "fmt", "end"),
    )
    bot = convert(doc)
    assert find(bot.graph, "fmt")["inputs"]["t"] == {"selector": ["start", "query"]}
    declared = find(bot.graph, "start")["config"]["inputs"]
    assert [p["name"] for p in declared] == ["tone", "n"]
    assert declared[0]["description"] == "(one of: a, b)"
    end = find(bot.graph, "end")
    assert end["config"]["outputs"] == ["result", "answer"]
    assert end["inputs"]["answer"] == end["inputs"]["result"]


@pytest.mark.parametrize(
    ("operator", "value", "var_type", "ours", "our_value"),
    [
        ("contains", "x", "string", "contains", "x"),
        ("not contains", "x", "string", "not_contains", "x"),
        ("start with", "x", "string", "starts_with", "x"),
        ("end with", "x", "string", "ends_with", "x"),
        ("is", "x", "string", "equals", "x"),
        ("is not", "x", "string", "not_equals", "x"),
        ("empty", "", "string", "is_empty", None),
        ("not empty", "", "string", "is_not_empty", None),
        ("=", "5", "number", "equals", 5),
        ("≠", "5.5", "number", "not_equals", 5.5),
        (">", "5", "number", "greater_than", 5),
        ("<", "5", "number", "less_than", 5),
        ("≥", "5", "number", "greater_or_equal", 5),
        ("≤", "5", "number", "less_or_equal", 5),
        ("in", ["a", "b"], "string", "in", ["a", "b"]),
        ("not in", "a", "string", "not_in", ["a"]),
        ("null", "", "string", "is_empty", None),
        ("not null", "", "string", "is_not_empty", None),
        ("exists", "", "file", "is_not_empty", None),
        ("is", "true", "boolean", "equals", True),
    ],
)
def test_every_comparison_operator_maps(
    operator: str, value: Any, var_type: str, ours: str, our_value: Any
) -> None:
    condition = {
        "variable_selector": ["sys", "query"],
        "comparison_operator": operator,
        "value": value,
        "varType": var_type,
    }
    branch = node(
        "check",
        "if-else",
        cases=[{"case_id": "true", "logical_operator": "and", "conditions": [condition]}],
    )
    bot = convert(answer_app("ok", branch))
    [converted] = find(bot.graph, "check")["config"]["cases"][0]["conditions"]
    assert converted["operator"] == ours
    assert converted.get("value") == our_value


async def test_if_else_cases_and_legacy_conditions_route_like_dify() -> None:
    cases = [
        {
            "case_id": "true",
            "logical_operator": "and",
            "conditions": [
                {
                    "variable_selector": ["sys", "query"],
                    "comparison_operator": "start with",
                    "value": "a",
                }
            ],
        },
        {
            "case_id": "3f1c-uuid",
            "logical_operator": "or",
            "conditions": [
                {
                    "variable_selector": ["sys", "query"],
                    "comparison_operator": "contains",
                    "value": "b",
                },
                {
                    "variable_selector": ["sys", "query"],
                    "comparison_operator": "all of",
                    "value": ["x", "y"],
                },
            ],
        },
    ]
    nodes = [
        start(),
        node("check", "if-else", cases=cases),
        node("say_a", "answer", answer="A"),
        node("say_b", "answer", answer="B"),
        node("say_else", "answer", answer="ELSE"),
    ]
    edges = [
        edge("start", "check"),
        edge("check", "say_a", "true"),
        edge("check", "say_b", "3f1c-uuid"),
        edge("check", "say_else", "false"),
    ]
    bot = convert(workflow_doc(nodes, edges, mode="advanced-chat"))
    names = [c["name"] for c in find(bot.graph, "check")["config"]["cases"]]
    assert names == ["true", "case_2"]
    ports = {(e["source"], e["target"]): e.get("source_port") for e in bot.graph["edges"]}
    assert ports[("check", "say_b")] == "case_2"
    assert ports[("check", "say_else")] == "else"
    for query, said in (("apple", "A"), ("bob", "B"), ("xy", "B"), ("zzz", "ELSE")):
        result = await run(bot.graph, query)
        spoken = [n for n in ("say_a", "say_b", "say_else") if result.nodes[n].outputs]
        assert [result.nodes[n].outputs["text"] for n in spoken] == [said], query
    legacy = node(
        "check",
        "if-else",
        logical_operator="or",
        conditions=[
            {"variable_selector": ["sys", "query"], "comparison_operator": "is", "value": "x"}
        ],
    )
    old = convert(answer_app("ok", legacy))
    assert find(old.graph, "check")["config"]["cases"][0].get("name") is None  # true / false


def test_classifier_classes_keep_their_handles_and_get_usable_names() -> None:
    classifier = node(
        "route",
        "question-classifier",
        query_variable_selector=["sys", "query"],
        model={"provider": "openai", "name": "gpt-4o"},
        instruction="Mood: {{#start.query#}}",
        classes=[
            {"id": "1", "name": "Billing"},
            {"id": "fail", "name": "billing"},
            {"id": "3", "name": ""},
        ],
    )
    nodes = [start(), classifier, node("a", "answer", answer="a"), node("b", "answer", answer="b")]
    edges = [edge("start", "route"), edge("route", "a", "1"), edge("route", "b", "fail")]
    bot = convert(workflow_doc(nodes, edges, mode="advanced-chat"))
    config = find(bot.graph, "route")["config"]
    assert [c["id"] for c in config["classes"]] == ["1", "fail_2", "3"]
    assert [c["name"] for c in config["classes"]] == ["Billing", "billing (2)", "class 3"]
    assert config["instruction"] == "Mood: {{ query }}"
    ports = {
        e["target"]: e.get("source_port") for e in bot.graph["edges"] if e["source"] == "route"
    }
    assert ports == {"a": "1", "b": "fail_2"}


def test_llm_messages_memory_context_and_settings() -> None:
    retrieval = node(
        "kb",
        "knowledge-retrieval",
        query_variable_selector=["sys", "query"],
        dataset_ids=["d1"],
        retrieval_mode="multiple",
        multiple_retrieval_config={
            "top_k": 7,
            "score_threshold": 0.3,
            "score_threshold_enabled": True,
        },
    )
    llm = node(
        "llm",
        "llm",
        model={
            "provider": "langgenius/anthropic/anthropic",
            "name": "claude-x",
            "mode": "chat",
            "completion_params": {"temperature": 0.4, "max_tokens": 99, "top_p": 0.5},
        },
        prompt_template=[
            {"role": "system", "text": "Context: {{#context#}}"},
            {"role": "user", "text": "Q1"},
            {"role": "assistant", "text": "A1"},
            {"role": "user", "text": "Now: {{#sys.query#}}"},
        ],
        context={"enabled": True, "variable_selector": ["kb", "result"]},
        memory={"window": {"enabled": True, "size": 5}, "query_prompt_template": "{{#sys.query#}}"},
        vision={"enabled": True},
        structured_output_enabled=True,
        structured_output={"schema": {"type": "object", "properties": {"a": {"type": "string"}}}},
    )
    bot = convert(answer_app("{{#llm.text#}}", retrieval, llm), override=None)
    config = find(bot.graph, "llm")["config"]
    assert config["model"] == "anthropic:claude-x"
    assert (config["temperature"], config["max_tokens"]) == (0.4, 99)
    assert (
        config["system_prompt"]
        == "Context: {{ context }}\n\nExample conversation:\nUser: Q1\nAssistant: A1"
    )
    assert config["prompt"] == "Now: {{ query }}\n\n{{ query }}"
    assert config["use_run_history"] is True
    assert config["structured_output"] == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
    }
    assert find(bot.graph, "llm")["inputs"]["context"] == {"selector": ["kb", "documents"]}
    kb = find(bot.graph, "kb")["config"]
    assert kb == {"knowledge_base_ids": ["dify-dataset:d1"], "top_k": 7, "score_threshold": 0.3}
    said = messages(bot)
    assert "vision is not carried over: images are not sent to the model" in said
    assert "model parameters top_p have no setting here" in said
    assert bot.knowledge[0].token == "dify-dataset:d1"


def test_jinja2_templates_keep_their_variables_and_unknown_ones_render_empty() -> None:
    template = node(
        "fmt",
        "template-transform",
        template="{{ a }}-{{ b }}-{% for x in items %}{{ x }}{% endfor %}",
        variables=[
            {"variable": "a", "value_selector": ["sys", "query"]},
            {"variable": "unused", "value_selector": ["sys", "query"]},
        ],
    )
    bot = convert(answer_app("{{#fmt.output#}}", template))
    fmt = find(bot.graph, "fmt")
    assert fmt["inputs"] == {"a": {"selector": ["start", "query"]}}
    assert fmt["config"]["template"].startswith('{% set b = "" %}{% set items = "" %}')
    assert find(bot.graph, "say")["inputs"] == {"output": {"selector": ["fmt", "text"]}}


def test_error_strategies_retries_and_default_values() -> None:
    code = node(
        "calc",
        "code",
        code="def main(x):\n    return {'out': 1 / 0}\n",
        code_language="python3",
        variables=[{"variable": "x", "value_selector": ["sys", "query"]}],
        outputs={"out": {"type": "number"}, "items": {"type": "array[object]"}},
        error_strategy="default-value",
        default_value=[
            {"key": "out", "type": "number", "value": "7"},
            {"key": "items", "type": "array[object]", "value": '[{"a": 1}]'},
        ],
        retry_config={"retry_enabled": True, "max_retries": 2, "retry_interval": 250},
    )
    bot = convert(answer_app("{{#calc.out#}}", code))
    calc = find(bot.graph, "calc")
    assert calc["error_strategy"] == "default_value"
    assert calc["default_outputs"] == {"out": 7.0, "items": [{"a": 1}]}
    assert calc["retry"] == {"max_retries": 2, "backoff_s": 0.25, "backoff_multiplier": 1.0}
    branch = node(
        "fetch",
        "http-request",
        method="get",
        url="https://example.com",
        authorization={"type": "no-auth"},
        headers="",
        params="",
        error_strategy="fail-branch",
    )
    nodes = [
        start(),
        branch,
        node("ok", "answer", answer="{{#fetch.body#}}"),
        node("bad", "answer", answer="{{#fetch.error_message#}} {{#fetch.error_type#}}"),
    ]
    edges = [
        edge("start", "fetch"),
        edge("fetch", "ok", "success-branch"),
        edge("fetch", "bad", "fail-branch"),
    ]
    failing = convert(workflow_doc(nodes, edges, mode="advanced-chat"))
    ports = {
        e["target"]: e.get("source_port") for e in failing.graph["edges"] if e["source"] == "fetch"
    }
    assert ports == {"ok": None, "bad": "fail"}
    selectors = [m["selector"] for m in find(failing.graph, "bad")["inputs"].values()]
    assert selectors == [["fetch", "error", "message"], ["fetch", "error", "type"]]


def test_iterations_old_and_new_shapes() -> None:
    def doc(with_start_node: bool) -> dict[str, Any]:
        body = node(
            "shout",
            "template-transform",
            template="{{ x }}!",
            variables=[{"variable": "x", "value_selector": ["each", "item"]}],
        )
        body["parentId"] = "each"
        nodes = [
            start(),
            node(
                "split",
                "code",
                code="def main(q):\n    return {'parts': q.split()}\n",
                variables=[{"variable": "q", "value_selector": ["sys", "query"]}],
                outputs={"parts": {"type": "array[string]"}},
            ),
            node(
                "each",
                "iteration",
                iterator_selector=["split", "parts"],
                output_selector=["shout", "output"],
                is_parallel=True,
                parallel_nums=3,
                error_handle_mode="remove-abnormal-output",
                start_node_id="eachstart" if with_start_node else "shout",
            ),
            body,
            node("say", "answer", answer="{{#each.output#}}"),
        ]
        edges = chain("start", "split", "each", "say")
        if with_start_node:
            inner = node("eachstart", "iteration-start")
            inner["parentId"] = "each"
            nodes.append(inner)
            edges.append(edge("eachstart", "shout"))
        else:
            body["data"]["isIterationStart"] = True
        return workflow_doc(nodes, edges, mode="advanced-chat")

    for shape in (True, False):
        bot = convert(doc(shape))
        each = find(bot.graph, "each")["config"]
        assert [n["id"] for n in each["graph"]["nodes"]] == ["shout"]
        assert each["graph"]["edges"] == []
        assert each["outputs"] == {"output": ["shout", "text"]}
        assert (each["parallelism"], each["on_item_error"]) == (3, "drop")


def test_models_map_to_our_providers() -> None:
    def model(provider: str) -> dict[str, Any]:
        llm = node(
            "llm",
            "llm",
            model={"provider": provider, "name": "m1", "mode": "chat"},
            prompt_template=[{"role": "user", "text": "hi"}],
            context={"enabled": False},
        )
        bot = convert(answer_app("{{#llm.text#}}", llm), override=None)
        return {"model": find(bot.graph, "llm")["config"].get("model"), "said": messages(bot)}

    assert model("anthropic")["model"] == "anthropic:m1"
    assert model("langgenius/openai/openai")["model"] == "openai:m1"
    assert model("bedrock")["model"] == "bedrock:m1"
    deepseek = model("langgenius/deepseek/deepseek")
    assert deepseek["model"] == "openai:m1"
    assert any("OpenAI-compatible" in m for m in deepseek["said"])


def test_nodes_without_equivalent_are_placeholders_with_their_outputs() -> None:
    mystery = node("mystery", "magic-node", spell="x")
    tool = node(
        "search",
        "tool",
        provider_id="google",
        provider_name="google",
        provider_type="builtin",
        tool_name="google_search",
        tool_parameters={},
    )
    bot = convert(
        answer_app("{{#mystery.result#}} {{#search.text#}} {{#search.json#}}", mystery, tool)
    )
    placeholder = find(bot.graph, "mystery")
    assert placeholder["type"] == "placeholder"
    assert placeholder["config"]["outputs"] == {"result": "any"}
    assert placeholder["config"]["original"]["spell"] == "x"
    assert find(bot.graph, "search")["config"]["outputs"]["json"] == "array[object]"
    actions = [i.message for i in bot.report.items if i.severity == "action"]
    assert "Dify node type 'magic-node' has no SnapAgent equivalent" in actions
    assert bot.report.node_types == {
        "start": "start",
        "mystery": "placeholder",
        "search": "placeholder",
        "say": "answer",
    }


async def test_a_placeholder_fails_at_run_time_unless_its_strategy_says_otherwise() -> None:
    tool = node(
        "search",
        "tool",
        provider_name="google",
        tool_name="google_search",
        tool_parameters={},
        error_strategy="default-value",
        default_value=[{"key": "text", "type": "string", "value": "no results"}],
    )
    bot = convert(answer_app("{{#search.text#}}", tool))
    result = await run(bot.graph)
    assert result.nodes["say"].outputs["text"] == "no results"
    assert "has no SnapAgent equivalent" in result.nodes["search"].error.message  # type: ignore[union-attr]


async def test_conversation_variables_and_assigner_operations() -> None:
    conversation = [
        {"name": "topics", "value_type": "array[string]", "value": ["t0"]},
        {"name": "turns", "value_type": "number", "value": 1},
        {"name": "mood", "value_type": "string", "value": "calm"},
    ]
    items = [
        {
            "variable_selector": ["conversation", "topics"],
            "input_type": "variable",
            "operation": "append",
            "value": ["sys", "query"],
        },
        {
            "variable_selector": ["conversation", "turns"],
            "input_type": "constant",
            "operation": "+=",
            "value": "4",
        },
        {
            "variable_selector": ["conversation", "turns"],
            "input_type": "constant",
            "operation": "-=",
            "value": 1,
        },
        {
            "variable_selector": ["conversation", "topics"],
            "input_type": "constant",
            "operation": "remove-first",
        },
        {
            "variable_selector": ["conversation", "mood"],
            "input_type": "constant",
            "operation": "clear",
        },
    ]
    assigner = node("remember", "assigner", version="2", items=items)
    bot = convert(answer_app("done", assigner, conversation_variables=conversation))
    assert [v["name"] for v in bot.graph["conversation_variables"]] == ["topics", "turns", "mood"]
    # remove-first has no equivalent: a code node applies the writes in order, the assigner
    # stores the results (so the append before it is not lost).
    written = find(bot.graph, "remember")["config"]["items"]
    assert [(i["variable"], i["operation"]) for i in written] == [
        ("topics", "overwrite"),
        ("turns", "overwrite"),
        ("mood", "overwrite"),
    ]
    assert find(bot.graph, "remember__compute")["type"] == "code"
    result = await run(bot.graph, "new topic")
    assert result.conversation == {"topics": ["new topic"], "turns": 4, "mood": ""}
    # Only operations it has: the variable_assigner does them itself.
    direct = node("remember", "assigner", version="2", items=[*items[:3], items[4]])
    plain = convert(answer_app("done", direct, conversation_variables=conversation))
    written = find(plain.graph, "remember")["config"]["items"]
    assert [(i["variable"], i["operation"], i.get("value")) for i in written] == [
        ("topics", "append", None),
        ("turns", "increment", 4),
        ("turns", "increment", -1),
        ("mood", "clear", None),
    ]
    result = await run(plain.graph, "new topic")
    assert result.conversation == {"topics": ["t0", "new topic"], "turns": 4, "mood": ""}


def test_aggregator_groups_become_one_node_per_group() -> None:
    settings = {
        "group_enabled": True,
        "groups": [
            {"group_name": "text", "output_type": "string", "variables": [["a", "text"]]},
            {"group_name": "n-2", "output_type": "number", "variables": [["a", "usage"]]},
        ],
    }
    llm = node(
        "a",
        "llm",
        model={"provider": "openai", "name": "x"},
        prompt_template=[{"role": "user", "text": "hi"}],
        context={"enabled": False},
    )
    join = node(
        "join",
        "variable-aggregator",
        output_type="string",
        variables=[],
        advanced_settings=settings,
    )
    bot = convert(answer_app("{{#join.text.output#}}", llm, join), valid=False)
    ids = [n["id"] for n in bot.graph["nodes"]]
    assert "join__text" in ids
    assert "join__n_2" in ids
    assert find(bot.graph, "say")["inputs"]["output"] == {"selector": ["join__text", "output"]}
    targets = sorted(e["target"] for e in bot.graph["edges"] if e["source"] == "a")
    assert targets == ["join__n_2", "join__text"]


@pytest.mark.parametrize(
    ("version", "expected"),
    [(None, "0.1.0"), ("0.1.5", "0.1.5"), ("0.6.0", "0.6.0"), ("0.6.3", "0.6.3"), (0.3, "0.3")],
)
def test_versions_we_read(version: Any, expected: str) -> None:
    assert dsl_version({"version": version}) == expected


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        ({"version": "0.7.0"}, "newer than this importer knows"),
        ({"version": "1.0.0"}, "newer than this importer knows"),
        ({"version": "latest"}, "not a version number"),
        ({"kind": "rag_pipeline", "version": "0.1.0"}, "knowledge pipeline, not an app"),
        ({"kind": "plugin", "app": {"mode": "workflow"}}, "of kind 'plugin' is not an app"),
        ({"app": {"mode": "channel"}, "version": "0.1.0"}, "mode 'channel' cannot be imported"),
        ({"app": {"mode": "workflow"}, "version": "0.1.0"}, "has no workflow graph"),
        ({"app": {"mode": "chat"}, "version": "0.1.0"}, "has no 'model_config'"),
    ],
)
def test_files_we_refuse_say_why(doc: dict[str, Any], reason: str) -> None:
    from snapagent.interop.dify.context import ConvertOptions
    from snapagent.interop.dify.reader import read_dify

    with pytest.raises(ImportFormatError) as caught:
        read_dify(doc, ConvertOptions())
    assert reason in caught.value.message
