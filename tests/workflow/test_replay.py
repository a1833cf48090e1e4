"""Replaying recorded outcomes and running one node alone (`snapagent.workflow.replay`)."""

from __future__ import annotations

from typing import Any

import pytest

from snapagent.testing import GraphBuilder, function_node_type
from snapagent.workflow import (
    NodeRegistryV2,
    NodeResult,
    NodeStatus,
    RunStatus,
    WorkflowExecutorV2,
)
from snapagent.workflow.replay import (
    GIVEN_INPUTS,
    ReplayedNode,
    find_node,
    isolate_node,
    upstream_of,
)
from snapagent.workflow.schema import WorkflowGraph


@pytest.fixture
def calls() -> list[str]:
    return []


@pytest.fixture
def executor(registry: NodeRegistryV2, calls: list[str]) -> WorkflowExecutorV2:
    def shout(inputs: dict[str, Any]) -> dict[str, Any]:
        calls.append("shout")
        return {"text": inputs["text"] + "!"}

    def route(inputs: dict[str, Any]) -> NodeResult:
        calls.append("route")
        return NodeResult({}, "long" if len(inputs["text"]) > 3 else "short")

    registry.register(function_node_type("shout", {"text": "string"}, {"text": "string"}, shout))
    registry.register(
        function_node_type("route", {"text": "string"}, {}, route, branches=("long", "short"))
    )
    return WorkflowExecutorV2(registry)


def chain() -> WorkflowGraph:
    return (
        GraphBuilder()
        .node("start", "start")
        .node("a", "shout")
        .node("b", "shout")
        .node("side", "shout")
        .node("end", "end", outputs=["answer", "side"])
        .edge("start.query", "a.text")
        .edge("a.text", "b.text")
        .edge("start.query", "side.text")
        .edge("b.text", "end.answer")
        .edge("side.text", "end.side")
        .build()
    )


async def test_upstream_nodes_reuse_their_outcomes_and_the_rest_runs(
    executor: WorkflowExecutorV2, calls: list[str]
) -> None:
    plan = executor.compile(chain())
    assert upstream_of(plan, "b") == {"start", "a"}
    replay = {
        "start": ReplayedNode({"query": "hi", "session_id": None, "history": []}),
        "a": ReplayedNode({"text": "RECORDED"}),
    }
    result = await executor.start(plan, {"query": "ignored"}, {}, replay=replay).result()
    assert result.status is RunStatus.SUCCEEDED
    assert result.outputs == {"answer": "RECORDED!", "side": "hi!"}
    assert calls == ["shout", "shout"]  # b and side; "a" was not run again
    assert result.nodes["a"].replayed
    assert result.nodes["start"].replayed
    assert not result.nodes["b"].replayed


async def test_a_recorded_branch_routes_and_a_recorded_failure_is_handled_again(
    executor: WorkflowExecutorV2, calls: list[str]
) -> None:
    graph = WorkflowGraph.from_json(
        {
            "nodes": [
                {"id": "start", "type": "start"},
                {"id": "r", "type": "route", "inputs": {"text": {"selector": ["start", "query"]}}},
                {"id": "l", "type": "shout", "inputs": {"text": {"selector": ["start", "query"]}}},
                {"id": "s", "type": "shout", "inputs": {"text": {"selector": ["start", "query"]}}},
                {"id": "end", "type": "end", "config": {"outputs": ["x"]},
                 "inputs": {"x": {"selector": ["l", "text"]}}},
            ],
            "edges": [
                {"source": "r", "source_port": "long", "target": "l"},
                {"source": "r", "source_port": "short", "target": "s"},
            ],
        }
    )  # fmt: skip
    plan = executor.compile(graph)
    start = ReplayedNode({"query": "hi", "session_id": None, "history": []})
    # "hi" is short, but the recorded branch says long: the record wins.
    result = await executor.start(
        plan, {}, {}, replay={"start": start, "r": ReplayedNode({}, branch="long")}
    ).result()
    assert result.outputs == {"x": "hi!"}
    assert result.nodes["s"].status is NodeStatus.SKIPPED
    assert "route" not in calls

    failed = await executor.start(
        plan, {}, {}, replay={"start": start, "r": ReplayedNode({}, error="it broke then")}
    ).result()
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None
    assert failed.error.message == "it broke then"
    assert failed.error.type == "ReplayedFailure"


async def test_isolated_node_reads_the_given_inputs(
    executor: WorkflowExecutorV2, calls: list[str]
) -> None:
    plan = executor.compile(chain())
    single = isolate_node(plan, "b", ["text"])
    run = executor.start(single, {}, {}, links={GIVEN_INPUTS: {"text": "given"}})
    result = await run.result()
    assert result.status is RunStatus.SUCCEEDED
    assert list(result.nodes) == ["b"]
    assert result.nodes["b"].outputs == {"text": "given!"}
    assert result.nodes["b"].inputs == {"text": "given"}
    assert calls == ["shout"]

    missing = await executor.start(isolate_node(plan, "b", []), {}, {}).result()
    assert missing.status is RunStatus.FAILED
    assert missing.error is not None
    assert "required input 'text'" in missing.error.message
    with pytest.raises(KeyError):
        isolate_node(plan, "nope", [])


async def test_body_nodes_are_found_and_run_alone(executor: WorkflowExecutorV2) -> None:
    graph = WorkflowGraph.from_json(
        {
            "nodes": [
                {"id": "start", "type": "start",
                 "config": {"inputs": [{"name": "words", "type": "array[string]"}]}},
                {"id": "each", "type": "iteration",
                 "config": {
                     "graph": {"nodes": [{"id": "inner", "type": "upper",
                                          "inputs": {"text": {"selector": ["each", "item"]}}}],
                               "edges": []},
                     "outputs": {"texts": ["inner", "text"]}},
                 "inputs": {"items": {"selector": ["start", "words"]}}},
                {"id": "end", "type": "end", "config": {"outputs": ["out"]},
                 "inputs": {"out": {"selector": ["each", "texts"]}}},
            ],
            "edges": [],
        }
    )  # fmt: skip
    plan = executor.compile(graph)
    found = find_node(plan, "inner")
    assert found is not None
    assert found[1] == ("each",)
    assert upstream_of(plan, "end") == {"start", "each"}
    with pytest.raises(KeyError):
        upstream_of(plan, "inner")  # not a top-level node
    result = await executor.start(
        isolate_node(plan, "inner", ["text"]), {}, {}, links={GIVEN_INPUTS: {"text": "abc"}}
    ).result()
    assert result.nodes["inner"].outputs == {"text": "ABC"}
    whole = await executor.start(
        isolate_node(plan, "each", ["items"]), {}, {}, links={GIVEN_INPUTS: {"items": ["x", "y"]}}
    ).result()
    assert whole.nodes["each"].outputs["texts"] == ["X", "Y"]
