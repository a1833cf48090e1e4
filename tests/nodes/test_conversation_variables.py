"""Conversation variables in the engine and the variable_assigner node: declared, read by
selector, written with each operation, type-checked, reported per write, seen by bodies."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.nodes import default_registry
from snapagent.workflow import (
    NodeStatus,
    RunStatus,
    ServiceContainer,
    WorkflowExecutorV2,
    WorkflowGraph,
    validate_graph,
)

VARIABLES = [
    {"name": "topics", "type": "array[string]", "default": []},
    {"name": "turns", "type": "integer", "default": 0},
    {"name": "language", "type": "string", "default": "en"},
    {"name": "profile", "type": "object", "default": {"tier": "free"}},
]


def graph(items: list[dict[str, Any]], **assigner: Any) -> dict[str, Any]:
    """start -> remember(items) -> report (reads the variables after the write) -> end."""
    uses_query = any(item.get("input") == "q" for item in items)
    reads = {"q": {"selector": ["start", "query"]}} if uses_query else {}
    return {
        "conversation_variables": VARIABLES,
        "nodes": [
            {"id": "start", "type": "start"},
            {"id": "remember", "type": "variable_assigner", "config": {"items": items},
             "inputs": reads, **assigner},
            {"id": "report", "type": "template",
             "config": {"template": "{{ turns }} {{ language }} {{ topics | join(',') }}"},
             "inputs": {"turns": {"selector": ["conversation", "turns"]},
                        "language": {"selector": ["conversation", "language"]},
                        "topics": {"selector": ["conversation", "topics"]}}},
            {"id": "end", "type": "end", "config": {"outputs": ["answer"]}},
        ],
        "edges": [
            {"source": "start", "target": "remember"},
            {"source": "remember", "target": "report"},
            {"source": "report", "source_port": "text", "target": "end", "target_port": "answer"},
        ],
    }  # fmt: skip


async def run(data: dict[str, Any], stored: dict[str, Any] | None = None, query: str = "hi") -> Any:
    executor = WorkflowExecutorV2(default_registry(), ServiceContainer())
    return await executor.run(WorkflowGraph.from_json(data), {"query": query}, conversation=stored)


async def test_writes_are_seen_downstream_and_reported() -> None:
    items = [
        {"variable": "topics", "operation": "append", "input": "q"},
        {"variable": "turns", "operation": "increment"},
        {"variable": "language", "operation": "overwrite", "value": "ko"},
    ]
    first = await run(graph(items), query="refunds")

    assert first.status is RunStatus.SUCCEEDED, first.error
    assert first.outputs == {"answer": "1 ko refunds"}
    assert first.conversation == {
        "topics": ["refunds"],
        "turns": 1,
        "language": "ko",
        "profile": {"tier": "free"},
    }
    assert first.conversation_writes == [
        {"node_id": "remember", "variable": "topics", "operation": "append", "value": ["refunds"]},
        {"node_id": "remember", "variable": "turns", "operation": "increment", "value": 1},
        {"node_id": "remember", "variable": "language", "operation": "overwrite", "value": "ko"},
    ]
    written = first.nodes["remember"].outputs["written"]
    assert [w["variable"] for w in written] == ["topics", "turns", "language"]

    # The next turn starts from what the first one stored.
    second = await run(graph(items), first.conversation, query="billing")
    assert second.outputs == {"answer": "2 ko refunds,billing"}


@pytest.mark.parametrize(
    ("item", "stored", "expected"),
    [
        ({"variable": "topics", "operation": "extend", "value": ["a", "b"]}, {"topics": ["x"]},
         ["x", "a", "b"]),
        ({"variable": "topics", "operation": "clear"}, {"topics": ["x"]}, []),
        ({"variable": "turns", "operation": "increment", "value": 5}, {"turns": 2}, 7),
        ({"variable": "turns", "operation": "clear"}, {"turns": 2}, 0),
        ({"variable": "turns", "operation": "overwrite", "value": "12"}, {}, 12),
        ({"variable": "profile", "operation": "overwrite", "value": {"tier": "pro"}}, {},
         {"tier": "pro"}),
    ],
)  # fmt: skip
async def test_each_operation(item: dict[str, Any], stored: dict[str, Any], expected: Any) -> None:
    result = await run(graph([item]), stored)
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.conversation[item["variable"]] == expected


async def test_stored_values_of_another_type_or_unknown_names_are_not_trusted() -> None:
    result = await run(
        graph([{"variable": "turns", "operation": "increment"}]),
        {"turns": "not a number", "ghost": 1, "language": 7},
    )
    assert result.conversation["turns"] == 1  # the stored value was unusable: default 0, +1
    assert result.conversation["language"] == "en"
    assert "ghost" not in result.conversation


@pytest.mark.parametrize("strategy", ["fail_run", "default_value", "fail_branch"])
async def test_a_value_of_the_wrong_type_fails_the_node(strategy: str) -> None:
    data = graph(
        [{"variable": "turns", "operation": "overwrite", "input": "q"}],
        error_strategy=strategy,
        **({"default_outputs": {"written": []}} if strategy == "default_value" else {}),
    )
    if strategy == "fail_branch":
        data["edges"][1] = {"source": "remember", "source_port": "fail", "target": "report"}
    result = await run(data, query="twelve")

    record = result.nodes["remember"]
    assert record.error is not None
    assert "items[0] (overwrite 'turns'): the value must be integer, got 'twelve'" in (
        record.error.message
    )
    assert result.conversation_writes == []
    if strategy == "fail_run":
        assert result.status is RunStatus.FAILED
    else:
        assert result.status is RunStatus.SUCCEEDED
        assert result.outputs == {"answer": "0 en "}


async def test_assigner_timeout_and_record() -> None:
    data = graph([{"variable": "turns", "operation": "increment"}], timeout_s=5)
    result = await run(data)
    record = result.nodes["remember"]
    assert record.status is NodeStatus.SUCCEEDED
    assert record.to_dict()["outputs"] == {
        "written": [{"variable": "turns", "operation": "increment", "value": 1}]
    }
    assert result.to_dict()["conversation_writes"][0]["node_id"] == "remember"


def test_validation_of_declarations_reads_and_writes() -> None:
    data = graph(
        [
            {"variable": "nope", "operation": "overwrite", "value": 1},
            {"variable": "language", "operation": "append", "value": "x"},
            {"variable": "topics", "operation": "increment"},
            {"variable": "turns", "operation": "clear", "value": 3},
        ]
    )
    data["conversation_variables"] = [*VARIABLES, {"name": "turns", "type": "string"}]
    data["nodes"][2]["inputs"]["turns"] = {"selector": ["conversation", "missing"]}
    data["nodes"].append({"id": "conversation", "type": "template", "config": {"template": "x"}})

    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    found = {p.path: p.message for p in problems if p.code != "unreachable_node"}

    assert "declared more than once" in found["conversation_variables[4].name"]
    assert "clearing 'turns' takes no value" in found["nodes[1].config"]
    assert "no conversation variable 'missing'" in found["nodes[2].inputs.turns.selector"]
    assert "is reserved" in found["nodes[4]"]

    data["nodes"][1]["config"]["items"].pop()  # the config error hid the write checks
    found = {
        p.path: p.message for p in validate_graph(WorkflowGraph.from_json(data), default_registry())
    }
    assert "no conversation variable 'nope'" in found["nodes[1].config.items[0].variable"]
    assert "append needs a list" in found["nodes[1].config.items[1].operation"]
    assert "increment needs a number" in found["nodes[1].config.items[2].operation"]


def test_a_default_must_be_a_value_of_its_type() -> None:
    data = graph([])
    data["conversation_variables"] = [
        {"name": "turns", "type": "integer", "default": "many"},
        {"name": "topics", "type": "array[string]", "default": ["a", 1]},
        {"name": "ok", "type": "integer", "default": "42"},  # text is parsed, as for inputs
        {"name": "none", "type": "object"},
        {"name": "flag", "type": "boolean", "default": "maybe"},
    ]
    problems = validate_graph(WorkflowGraph.from_json(data), default_registry())
    found = {p.path: p for p in problems if p.code == "invalid_conversation_default"}

    assert sorted(found) == [
        "conversation_variables[0].default",
        "conversation_variables[1].default",
        "conversation_variables[4].default",
    ]
    assert "'turns': the default must be integer, got 'many'" in (
        found["conversation_variables[0].default"].message
    )
    assert "item 1 must be string" in found["conversation_variables[1].default"].message


def test_reads_are_type_checked() -> None:
    data = graph([{"variable": "turns", "operation": "increment"}])
    data["nodes"].insert(
        2,
        {"id": "kb", "type": "knowledge", "config": {"knowledge_base_ids": ["k"]},
         "inputs": {"query": {"selector": ["conversation", "topics"]}}},
    )  # fmt: skip
    data["edges"].append({"source": "remember", "target": "kb"})
    [problem] = validate_graph(WorkflowGraph.from_json(data), default_registry())
    assert problem.code == "type_mismatch"
    assert "conversation.topics is array[string]" in problem.message


async def test_bodies_read_and_write_the_same_variables() -> None:
    body = {"nodes": [
        {"id": "count", "type": "variable_assigner",
         "config": {"items": [{"variable": "topics", "operation": "append", "input": "t"}]},
         "inputs": {"t": {"selector": ["each", "item"]}}}]}  # fmt: skip
    data = graph([{"variable": "turns", "operation": "increment"}])
    data["nodes"].insert(
        2,
        {"id": "each", "type": "iteration",
         "config": {"graph": body, "outputs": {"w": ["count", "written"]}},
         "inputs": {"items": {"selector": ["start", "words"]}}},
    )  # fmt: skip
    data["nodes"][0]["config"] = {"inputs": [{"name": "words", "type": "array[string]"}]}
    data["edges"] = [
        {"source": "start", "target": "remember"},
        {"source": "remember", "target": "each"},
        {"source": "each", "target": "report"},
        {"source": "report", "source_port": "text", "target": "end", "target_port": "answer"},
    ]
    executor = WorkflowExecutorV2(default_registry(), ServiceContainer())
    result = await executor.run(
        WorkflowGraph.from_json(data), {"query": "q", "words": ["a", "b"]}, conversation={}
    )
    assert result.status is RunStatus.SUCCEEDED, result.error
    assert result.outputs == {"answer": "1 en a,b"}
    assert [w["node_id"] for w in result.conversation_writes] == ["remember", "count", "count"]


async def test_a_failing_item_keeps_none_of_the_nodes_writes() -> None:
    items = [
        {"variable": "language", "operation": "overwrite", "value": "ko"},
        {"variable": "turns", "operation": "overwrite", "value": "many"},
    ]
    result = await run(
        graph(items, error_strategy="default_value", default_outputs={"written": []})
    )
    assert result.status is RunStatus.SUCCEEDED
    assert result.conversation["language"] == "en"
    assert result.conversation_writes == []
