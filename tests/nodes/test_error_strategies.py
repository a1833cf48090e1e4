"""Every node of this catalogue part fails the same way under each error strategy, and the
ones that wait on something stop at their timeout. One table, one graph shape:
start -> [the node] -> end, with a `fail` branch to a template when the strategy routes."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import pytest

from snapagent.errors import ProviderError
from snapagent.nodes import default_registry
from snapagent.testing import ScriptedChatModel, ScriptedChatModels
from snapagent.workflow import (
    NodeStatus,
    RunStatus,
    ServiceContainer,
    WorkflowExecutorV2,
    WorkflowGraph,
)
from snapagent.workflow.services import FileText


@dataclass
class Case:
    """A node that fails (``failing``) or hangs (``hanging``, None: it never waits)."""

    node_type: str
    config: dict[str, Any]
    output: str
    inputs: dict[str, Any] = field(default_factory=dict)
    hangs: bool = True
    variables: list[dict[str, Any]] = field(default_factory=list)


QUERY = {"query": {"selector": ["start", "query"]}}
BODY = {"nodes": [{"id": "inner", "type": "template", "config": {"template": "{{ x.a.b }}"},
                   "inputs": {"x": {"selector": ["start", "query"]}}}]}  # fmt: skip
CASES = {
    "answer": Case("answer", {"answer": "{{ q.a.b }}"}, "text",
                   {"q": {"selector": ["start", "query"]}}, hangs=False),
    "question_classifier": Case("question_classifier",
                                {"classes": [{"id": "a", "name": "alpha"}]}, "class_name", QUERY),
    "parameter_extractor": Case("parameter_extractor", {"parameters": [{"name": "n"}]}, "n",
                                QUERY),
    "variable_aggregator": Case("variable_aggregator", {"variables": ["x"]}, "output",
                                {"x": {"selector": ["start", "missing"]}}, hangs=False),
    "variable_assigner": Case("variable_assigner",
                              {"items": [{"variable": "n", "input": "v"}]}, "written",
                              {"v": {"selector": ["start", "query"]}}, hangs=False,
                              variables=[{"name": "n", "type": "integer"}]),
    "iteration": Case("iteration", {"graph": BODY, "outputs": {"out": ["inner", "text"]}},
                      "out", {"items": {"selector": ["start", "list"]}}),
    "loop": Case("loop", {"graph": BODY, "max_iterations": 2}, "rounds"),
    "document_extractor": Case("document_extractor", {}, "text",
                               {"files": {"selector": ["start", "file"]}}),
}  # fmt: skip


class Reader:
    def __init__(self, hang: bool) -> None:
        self.hang = hang

    async def read(self, data: bytes, name: str, content_type: str | None = None) -> FileText:
        if self.hang:
            await asyncio.sleep(30)
        raise ProviderError("no reader here")  # any SnapAgentError fails the node


def graph(case: Case, strategy: str, **settings: Any) -> WorkflowGraph:
    node: dict[str, Any] = {
        "id": "it",
        "type": case.node_type,
        "config": case.config,
        "inputs": case.inputs,
        "error_strategy": strategy,
        **settings,
    }
    if strategy == "default_value":
        node["default_outputs"] = {case.output: "fallback"}
    nodes = [
        {"id": "start", "type": "start", "config": {"inputs": [
            {"name": "missing", "type": "any", "required": False},
            {"name": "list", "type": "any", "required": False, "default": [1]},
            {"name": "file", "type": "any", "required": False,
             "default": {"name": "a.txt", "data": base64.b64encode(b"x").decode()}}]}},
        node,
        {"id": "end", "type": "end", "config": {"outputs": ["out"]}},
    ]  # fmt: skip
    edges: list[dict[str, Any]] = [{"source": "start", "target": "it"}]
    if strategy == "fail_branch":
        nodes.append({"id": "sorry", "type": "template", "config": {"template": "routed"}})
        edges += [
            {"source": "it", "source_port": "fail", "target": "sorry"},
            {"source": "sorry", "source_port": "text", "target": "end", "target_port": "out"},
        ]
    else:
        edges.append({"source": "it", "source_port": case.output, "target": "end",
                      "target_port": "out"})  # fmt: skip
    data: dict[str, Any] = {"nodes": nodes, "edges": edges}
    if case.variables:
        data["conversation_variables"] = case.variables
    return WorkflowGraph.from_json(data)


async def run(case: Case, strategy: str, *, hang: bool = False, **settings: Any) -> Any:
    model = ScriptedChatModel()
    if hang:
        model.enqueue("{}", delay_s=30)
    else:
        model.enqueue_error(ProviderError("the model is down", provider="x", model="y"))
    services = ServiceContainer(chat_models=ScriptedChatModels(model), documents=Reader(hang))
    executor = WorkflowExecutorV2(default_registry(), services)
    query = "not a number" if case.node_type != "loop" or not hang else "q"
    return await executor.run(graph(case, strategy, **settings), {"query": query})


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("strategy", ["fail_run", "default_value", "fail_branch"])
async def test_failure_under_each_strategy(name: str, strategy: str) -> None:
    result = await run(CASES[name], strategy)

    record = result.nodes["it"]
    assert record.error is not None, record
    if strategy == "fail_run":
        assert result.status is RunStatus.FAILED
        assert record.status is NodeStatus.FAILED
        assert result.error.node_id == "it"
    elif strategy == "default_value":
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert record.used_default
        assert result.outputs == {"out": "fallback"}
    else:
        assert result.status is RunStatus.SUCCEEDED, result.error
        assert result.outputs == {"out": "routed"}
        assert record.outputs["error"]["message"] == record.error.message


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.hangs))
async def test_timeout(name: str) -> None:
    case = CASES[name]
    if name in ("iteration", "loop"):  # a body that waits: a classifier on a hanging model
        body = {"nodes": [{"id": "inner", "type": "question_classifier",
                           "config": {"classes": [{"id": "a", "name": "alpha"}]},
                           "inputs": {"query": {"selector": ["start", "query"]}}}]}  # fmt: skip
        config = {**case.config, "graph": body}
        if name == "iteration":
            config["outputs"] = {"out": ["inner", "class_name"]}
        case = Case(case.node_type, config, case.output, case.inputs)
    result = await asyncio.wait_for(run(case, "fail_run", hang=True, timeout_s=0.1), 10)

    assert result.status is RunStatus.FAILED
    assert result.nodes["it"].error.type == "NodeTimeoutError"  # type: ignore[union-attr]
