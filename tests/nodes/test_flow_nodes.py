"""answer, question_classifier, parameter_extractor and variable_aggregator in real graphs:
success, bad config, failures under each error strategy, timeouts, and what each run records."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.errors import GraphValidationError, ProviderError
from snapagent.llm.offline import OfflineChatModel
from snapagent.nodes import default_registry
from snapagent.testing import GraphBuilder, ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import (
    NodeStatus,
    RunStatus,
    ServiceContainer,
    TextChunk,
    WorkflowExecutorV2,
    WorkflowGraph,
    validate_graph,
)
from snapagent.workflow.services import ChatModel

CLASSES = [
    {"id": "billing", "name": "billing, invoices and refunds"},
    {"id": "tech", "name": "technical problems and errors"},
    {"id": "other", "name": "anything else"},
]


class OfflineModels:
    def resolve(self, model_id: str | None) -> ChatModel:
        return OfflineChatModel()


def executor(model: ScriptedChatModel | None = None) -> WorkflowExecutorV2:
    models: Any = ScriptedChatModels(model) if model is not None else OfflineModels()
    return WorkflowExecutorV2(default_registry(), ServiceContainer(chat_models=models))


def router(settings: dict[str, Any] | None = None) -> GraphBuilder:
    """start -> classifier -> one template per class -> aggregator -> end."""
    builder = (
        GraphBuilder()
        .node("start", "start")
        .node(
            "route",
            "question_classifier",
            classes=CLASSES,
            inputs={"query": ["start", "query"]},
            settings=settings,
        )
    )
    for spec in CLASSES:
        builder.node(f"say_{spec['id']}", "template", template=f"{spec['id']} team: {{{{ q }}}}",
                     inputs={"q": ["start", "query"]})  # fmt: skip
        builder.edge(f"route.{spec['id']}", f"say_{spec['id']}")
    return (
        builder.node(
            "join",
            "variable_aggregator",
            variables=[f"from_{c['id']}" for c in CLASSES],
            output_type="string",
        )
        .edge("say_billing.text", "join.from_billing")
        .edge("say_tech.text", "join.from_tech")
        .edge("say_other.text", "join.from_other")
        .node("end", "end", outputs=["answer"])
        .edge("join.output", "end.answer")
    )


@pytest.mark.parametrize(
    ("query", "branch"),
    [
        ("I want a refund for my invoice", "billing"),
        ("The app crashes with an error", "tech"),
        ("What's the weather like?", "other"),
    ],
)
async def test_offline_classifier_routes_and_the_aggregator_joins(query: str, branch: str) -> None:
    result = await executor().run(router().build(), {"query": query})

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs["answer"] == f"{branch} team: {query}"
    route = result.nodes["route"]
    assert route.branch == branch
    assert route.outputs["class_id"] == branch
    assert route.outputs["class_name"] == next(c["name"] for c in CLASSES if c["id"] == branch)
    assert route.inputs == {"query": query}
    skipped = {f"say_{c['id']}" for c in CLASSES} - {f"say_{branch}"}
    assert {n for n in skipped if result.nodes[n].status is NodeStatus.SKIPPED} == skipped
    assert result.nodes["join"].inputs[f"from_{branch}"] == f"{branch} team: {query}"


async def test_classifier_asks_with_structured_output_and_matches_loosely() -> None:
    model = ScriptedChatModel()
    model.enqueue_data({"class_name": "Technical problems and errors"})  # other case
    model.enqueue_data(None, text="I'd say: billing, invoices and refunds.")  # prose only
    graph = router({"timeout_s": 5}).build()

    first = await executor(model).run(graph, {"query": "it broke"})
    second = await executor(model).run(graph, {"query": "pay"})

    assert first.nodes["route"].branch == "tech"
    assert second.nodes["route"].branch == "billing"
    sent = model.requests[0]
    assert sent.response_format is not None
    enum = sent.response_format.schema["properties"]["class_name"]["enum"]
    assert enum == [c["name"] for c in CLASSES]
    assert sent.query == "it broke"
    assert "- technical problems and errors" in sent.messages[-1].content


async def test_classifier_answer_outside_the_classes_follows_the_error_strategy() -> None:
    def run_with(strategy: str, **extra: Any) -> Any:
        model = ScriptedChatModel()
        model.enqueue_data({"class_name": "sports"})
        settings = {"error_strategy": strategy, **extra}
        graph = router(settings)
        if strategy == "fail_branch":
            graph.node("sorry", "template", template="sorry").edge("route.fail", "sorry")
            graph = _end_also_from(graph, "sorry")
        return executor(model).run(graph.build(), {"query": "football"})

    failed = await run_with("fail_run")
    assert failed.status is RunStatus.FAILED
    assert "none of the classes" in failed.error.message  # type: ignore[union-attr]
    assert failed.nodes["route"].status is NodeStatus.FAILED

    defaulted = await run_with(
        "default_value", default_outputs={"class_name": "anything else", "class_id": "other"}
    )
    assert defaulted.status is RunStatus.SUCCEEDED
    assert defaulted.nodes["route"].used_default is True
    assert defaulted.nodes["route"].branch == "other"  # the last class
    assert defaulted.outputs["answer"] == "other team: football"

    routed = await run_with("fail_branch")
    assert routed.status is RunStatus.SUCCEEDED
    assert routed.nodes["sorry"].status is NodeStatus.SUCCEEDED
    assert routed.nodes["route"].outputs["error"]["type"] == "NodeExecutionError"


def _end_also_from(builder: GraphBuilder, extra: str) -> GraphBuilder:
    """Route an extra branch into the aggregator too (a fourth alternative)."""
    data = builder.to_json()
    join = next(n for n in data["nodes"] if n["id"] == "join")
    join["config"]["variables"].append("from_fail")
    data["edges"].append(
        {"source": extra, "source_port": "text", "target": "join", "target_port": "from_fail"}
    )
    rebuilt = GraphBuilder()
    rebuilt._nodes, rebuilt._edges = data["nodes"], data["edges"]
    return rebuilt


async def test_model_failure_and_timeout_of_a_classifier() -> None:
    model = ScriptedChatModel()
    model.enqueue_error(ProviderError("overloaded", provider="x", model="y"))
    failed = await executor(model).run(router().build(), {"query": "x"})
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None
    assert failed.error.type == "ProviderError"

    slow = ScriptedChatModel()
    slow.enqueue_data({"class_name": "anything else"})
    slow._script[0] = slow._script[0].__class__(  # the same reply, answered after 5 s
        '{"class_name": "anything else"}', delay_s=5.0, data={"class_name": "anything else"}
    )
    timed_out = await executor(slow).run(router({"timeout_s": 0.05}).build(), {"query": "x"})
    assert timed_out.status is RunStatus.FAILED
    assert timed_out.nodes["route"].error is not None
    assert timed_out.nodes["route"].error.type == "NodeTimeoutError"


def test_bad_classifier_configs_name_the_field() -> None:
    data = router().to_json()
    route = data["nodes"][1]
    route["config"]["classes"] = [{"id": "a b", "name": "x"}, {"id": "fail", "name": "y"}]
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    assert [p.path for p in problems] == ["nodes[1].config.classes[0].id"]
    route["config"]["classes"] = [{"id": "a", "name": "x"}, {"id": "fail", "name": "y"}]
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    assert [p.path for p in problems] == ["nodes[1].config"]
    assert "'fail' is reserved" in problems[0].message
    route["config"]["classes"] = [{"id": "a", "name": "x"}, {"id": "b", "name": "X"}]
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    assert any("names must be unique" in p.message for p in problems)
    # An edge from a class id that does not exist is caught like any unknown port.
    data = router().to_json()
    data["edges"].append({"source": "route", "source_port": "sales", "target": "end"})
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    assert any(p.code == "unknown_port" and "sales" in p.message for p in problems)


def extractor_graph(settings: dict[str, Any] | None = None) -> WorkflowGraph:
    return (
        GraphBuilder()
        .node("start", "start")
        .node(
            "extract",
            "parameter_extractor",
            instruction="Orders come from the {{ shop }} shop.",
            parameters=[
                {"name": "order_id", "type": "integer", "description": "the order number"},
                {"name": "email", "type": "string", "description": "customer e-mail"},
                {"name": "urgent", "type": "boolean", "required": False},
                {"name": "items", "type": "array[string]", "required": False},
            ],
            inputs={"query": ["start", "query"], "shop": ["sys", "bot_id"]},
            settings=settings,
        )
        .node("end", "end", outputs=["order", "ok", "why"])
        .edge("extract.order_id", "end.order")
        .edge("extract.is_success", "end.ok")
        .edge("extract.reason", "end.why")
        .build()
    )


async def test_offline_extractor_fills_typed_parameters() -> None:
    query = "Order 4411 never arrived, write to ana@example.com - urgent: yes"
    result = await executor().run(extractor_graph(), {"query": query}, {"bot_id": "acme"})

    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs == {"order": 4411, "ok": True, "why": ""}
    outputs = result.nodes["extract"].outputs
    assert outputs["email"] == "ana@example.com"
    assert outputs["urgent"] is True
    assert outputs["items"] is None  # not found, not required


async def test_extractor_checks_types_and_reports_what_is_missing() -> None:
    model = ScriptedChatModel()
    model.enqueue_data({"order_id": "12", "email": "a@b.c", "items": ["x", 3]})
    model.enqueue_data({"order_id": "twelve", "urgent": "yes"})
    model.enqueue_data(None, text="I cannot help with that.")
    graph = extractor_graph()

    first = await executor(model).run(graph, {"query": "q"}, {"bot_id": "acme"})
    second = await executor(model).run(graph, {"query": "q"}, {"bot_id": "acme"})
    third = await executor(model).run(graph, {"query": "q"}, {"bot_id": "acme"})

    assert first.outputs["order"] == 12  # text parsed to the declared integer
    assert first.outputs["ok"] is False
    assert first.outputs["why"] == "items: item 1 must be string, got 3"
    assert first.nodes["extract"].outputs["items"] is None
    assert second.outputs["ok"] is False
    assert "order_id: must be integer" in second.outputs["why"]
    assert "email: not found" in second.outputs["why"]
    assert second.nodes["extract"].outputs["urgent"] is True
    assert "did not answer with an object" in third.outputs["why"]
    schema = model.requests[0].response_format.schema  # type: ignore[union-attr]
    assert schema["required"] == ["order_id", "email"]
    assert schema["properties"]["items"] == {"type": "array", "items": {"type": "string"}}
    assert model.requests[0].system is not None
    assert "Orders come from the acme shop." in model.requests[0].system


@pytest.mark.parametrize("strategy", ["fail_run", "default_value", "fail_branch"])
async def test_extractor_model_failure_under_each_strategy(strategy: str) -> None:
    model = ScriptedChatModel()
    model.enqueue_error(ProviderError("down", provider="x", model="y"))
    settings: dict[str, Any] = {"error_strategy": strategy}
    if strategy == "default_value":
        settings["default_outputs"] = {"order_id": 0, "is_success": False, "reason": "no model"}
    graph = extractor_graph(settings)
    if strategy == "fail_branch":
        data = graph.to_json()
        data["nodes"][-1]["config"]["outputs"] = ["order", "ok", "why", "err"]
        data["edges"].append(
            {"source": "extract", "source_port": "error", "target": "end", "target_port": "err"}
        )
        graph = WorkflowGraph.from_json(data)

    result = await executor(model).run(graph, {"query": "q"}, {"bot_id": "acme"})

    record = result.nodes["extract"]
    assert record.error is not None
    assert record.error.message == "down"
    if strategy == "fail_run":
        assert result.status is RunStatus.FAILED
    elif strategy == "default_value":
        assert result.outputs == {"order": 0, "ok": False, "why": "no model"}
        assert record.used_default
    else:
        # The end node needs order/ok/why, which a failed extractor does not give.
        assert result.nodes["end"].status in (NodeStatus.FAILED, NodeStatus.SKIPPED)


def test_bad_extractor_configs_name_the_field() -> None:
    data = extractor_graph().to_json()
    data["nodes"][1]["config"]["parameters"] = [{"name": "n", "type": "decimal"}]
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    assert [p.path for p in problems] == ["nodes[1].config.parameters[0].type"]
    data["nodes"][1]["config"]["parameters"] = [
        {"name": "is_success"},
        {"name": "a"},
        {"name": "a"},
    ]
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    [problem] = problems
    assert problem.path == "nodes[1].config.parameters"
    assert "'is_success' is taken by an output" in problem.message


def test_extractor_ports_are_typed_for_downstream_checks() -> None:
    data = extractor_graph().to_json()
    data["nodes"].insert(
        2,
        {
            "id": "needs_text",
            "type": "knowledge",
            "config": {"knowledge_base_ids": ["k"]},
            "inputs": {"query": {"selector": ["extract", "items"]}},
        },
    )
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    [mismatch] = [p for p in problems if p.code == "type_mismatch"]
    assert "expects string but extract.items is array[string]" in mismatch.message


async def test_answer_nodes_stream_in_graph_order_and_alone() -> None:
    model = ScriptedChatModel()
    model.enqueue("The LLM's words.", chunk_size=4, delay_s=0.05)
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("llm", "llm", prompt="{{ query }}")
        .node(
            "first", "answer", answer="Looking into {{ q }}... ", inputs={"q": ["start", "query"]}
        )
        .node("second", "answer", answer="Answer: {{ text }}")
        .node("parallel", "answer", answer="[{{ q }}] ", inputs={"q": ["start", "query"]})
        .node("end", "end", outputs=[])
        .edge("start.query", "llm.query")
        .edge("llm.text", "second.text")
        .edge("second", "end")
        .build()
    )
    events = [e async for e in executor(model).stream(graph, {"query": "refunds"})]

    texts = [(e.node_id, e.text) for e in events if isinstance(e, TextChunk)]
    speakers = [node for node, _ in texts]
    # Only answer nodes stream; "parallel" could start first, but waits its turn in list order.
    assert set(speakers) == {"first", "second", "parallel"}
    assert speakers == sorted(speakers, key=["first", "second", "parallel"].index)
    said = "".join(t for _, t in texts)
    assert said == "Looking into refunds... Answer: The LLM's words.[refunds] "
    result = events[-1].result  # type: ignore[attr-defined]
    assert result.nodes["second"].outputs == {"text": "Answer: The LLM's words."}


async def test_answer_failures_and_bad_templates() -> None:
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("say", "answer", answer="{{ q.missing.deeper }}", inputs={"q": ["start", "query"]},
              settings={"error_strategy": "default_value", "default_outputs": {"text": "(none)"}})
        .node("end", "end", outputs=["said"])
        .edge("say.text", "end.said")
        .build()
    )  # fmt: skip
    result = await executor().run(graph, {"query": "hi"})
    assert result.outputs == {"said": "(none)"}
    assert result.nodes["say"].used_default
    assert result.nodes["say"].error is not None

    bad = graph.to_json()
    bad["nodes"][1]["config"] = {"answer": "{% if %}"}
    problems = validate_graph(WorkflowGraph.from_json(bad), default_registry())
    assert any(p.path == "nodes[1].config.answer" and "syntax error" in p.message for p in problems)


async def test_aggregator_with_nothing_to_give_fails_and_bad_config() -> None:
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("join", "variable_aggregator", variables=["x", "y"], output_type="string",
              settings={"error_strategy": "fail_branch"})
        .node("end", "end", outputs=["out"])
        .edge("start.a", "join.x")
        .node("fallback", "template", template="nothing")
        .edge("join.fail", "fallback")
        .edge("fallback.text", "end.out")
        .build()
    )  # fmt: skip
    data = graph.to_json()
    data["nodes"][0]["config"] = {"inputs": [{"name": "a", "type": "string", "required": False}]}
    graph = WorkflowGraph.from_json(data)
    result = await executor().run(graph, {"query": "q"})
    assert result.outputs == {"out": "nothing"}
    assert "none of its inputs (x, y)" in result.nodes["join"].error.message  # type: ignore[union-attr]

    data = graph.to_json()
    data["nodes"][1]["config"] = {"variables": ["x", "x"], "output_type": "text"}
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    paths = {p.path for p in problems}
    assert "nodes[1].config.output_type" in paths
    data["nodes"][1]["config"] = {"variables": ["x", "x"]}
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    assert any(p.path == "nodes[1].config.variables" and "twice" in p.message for p in problems)


def test_aggregator_inputs_are_type_checked() -> None:
    data = router().to_json()
    join = next(n for n in data["nodes"] if n["id"] == "join")
    join["config"]["output_type"] = "number"
    with pytest.raises(GraphValidationError) as caught:
        executor().compile(WorkflowGraph.from_json(data))
    assert {p.code for p in caught.value.problems} == {"type_mismatch"}
