"""Property: validation never crashes on arbitrary (mostly broken) graphs; it reports problems,
deterministically, and compiling raises them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapagent.nodes import default_registry
from snapagent.workflow import (
    GraphValidationError,
    WorkflowExecutorV2,
    WorkflowGraph,
    validate_graph,
)

IDS = ["start", "kb", "llm", "t", "route", "end", "x"]
TYPES = ["start", "knowledge", "llm", "template", "if_else", "end", "nope"]
PORTS = ["query", "documents", "text", "usage", "answer", "history", "true", "false", "a", "fail"]
CONFIGS: dict[str, list[dict[str, Any]]] = {
    "start": [{}, {"inputs": [{"name": "lang", "required": False, "default": "en"}]}],
    "knowledge": [{"knowledge_base_ids": ["kb"]}, {"top_k": 0}],
    "llm": [{}, {"prompt": "{{ a }} {{ query }}"}, {"prompt": "{{ oops"}],
    "template": [{"template": "{{ text }}!"}, {"template": "{{ a }}{{ b }}"}],
    "if_else": [{"cases": [{"conditions": [{"input": "query", "operator": "is_empty"}]}]}, {}],
    "end": [{"outputs": ["answer"]}, {"outputs": []}],
    "nope": [{}],
}


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    nodes = []
    for node_id in draw(st.lists(st.sampled_from(IDS), min_size=1, max_size=7)):
        node_type = draw(st.sampled_from(TYPES))
        node: dict[str, Any] = {
            "id": node_id,
            "type": node_type,
            "config": draw(st.sampled_from(CONFIGS[node_type])),
        }
        if draw(st.booleans()):
            node["inputs"] = {
                draw(st.sampled_from(PORTS)): {
                    "selector": [draw(st.sampled_from([*IDS, "sys"])), draw(st.sampled_from(PORTS))]
                }
            }
        if draw(st.booleans()):
            node["error_strategy"] = draw(st.sampled_from(["fail_branch", "default_value"]))
        nodes.append(node)
    edges = []
    for _ in range(draw(st.integers(0, 8))):
        edge: dict[str, Any] = {
            "source": draw(st.sampled_from(IDS)),
            "target": draw(st.sampled_from(IDS)),
        }
        for key in ("source_port", "target_port"):
            if draw(st.booleans()):
                edge[key] = draw(st.sampled_from(PORTS))
        edges.append(edge)
    return {"nodes": nodes, "edges": edges}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_validation_never_crashes_on_arbitrary_graphs(data: dict[str, Any]) -> None:
    graph = WorkflowGraph.from_json(data)
    registry = default_registry()
    problems = validate_graph(graph, registry)
    if not problems:
        return  # rare here; valid graphs are exercised by the random DAG tests
    for problem in problems:
        assert problem.code
        assert problem.message
        assert problem.node_id is None or isinstance(problem.node_id, str)
    assert validate_graph(graph, registry) == problems  # deterministic
    with pytest.raises(GraphValidationError) as info:
        WorkflowExecutorV2(registry).compile(graph)
    assert info.value.problems == problems
