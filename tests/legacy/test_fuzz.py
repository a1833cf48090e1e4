"""Any JSON at all - random values and mutated real graphs - gets problems or a conversion,
never an unexpected exception."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from snapagent.errors import GraphValidationError
from snapagent.legacy import LegacyWorkflowError, load_v1_workflow, validate_v1_workflow
from snapagent.legacy.converter import validated_v2_graph
from snapagent.legacy.samples import rag_workflow

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
keys = st.sampled_from(
    [
        "id",
        "type",
        "data",
        "source",
        "target",
        "top_k",
        "knowledge_base_ids",
        "temperature",
        "model",
        "system_prompt",
        "nodes",
        "edges",
    ]
)


@st.composite
def mutated_graphs(draw: st.DrawFn) -> Any:
    graph: Any = copy.deepcopy(rag_workflow())
    for _ in range(draw(st.integers(1, 4))):
        container = draw(st.sampled_from(["nodes", "edges", "data", "root"]))
        if container == "root":
            graph[draw(keys)] = draw(json_values)
        elif container == "data":
            # An earlier "root" mutation may have replaced `nodes` with any JSON value.
            nodes = graph.get("nodes")
            node = (
                nodes[draw(st.integers(0, len(nodes) - 1))]
                if isinstance(nodes, list) and nodes
                else None
            )
            if isinstance(node, dict):
                node.setdefault("data", {})
                if isinstance(node["data"], dict):
                    node["data"][draw(keys)] = draw(json_values)
        else:
            items = graph.get(container)
            if isinstance(items, list) and items:
                index = draw(st.integers(0, len(items) - 1))
                if draw(st.booleans()) and isinstance(items[index], dict):
                    items[index][draw(keys)] = draw(json_values)
                else:
                    items[index] = draw(json_values)
    return graph


def check(raw: Any) -> None:
    problems = validate_v1_workflow(raw)
    assert all(p.code and p.message for p in problems)
    if problems:
        with pytest.raises(LegacyWorkflowError) as info:
            load_v1_workflow(raw)
        assert info.value.problems == problems
        return
    workflow = load_v1_workflow(raw)
    v2_problems: list[Any] | None = None
    try:
        validated_v2_graph(workflow)
    except GraphValidationError as exc:  # valid V1 that V2 cannot express: named problems
        v2_problems = list(exc.problems)
    assert v2_problems is None or v2_problems


@settings(max_examples=150, deadline=None)
@given(raw=json_values)
def test_random_json_never_raises_unexpectedly(raw: Any) -> None:
    check(raw)


@settings(max_examples=300, deadline=None)
@given(raw=mutated_graphs())
def test_mutated_graphs_never_raise_unexpectedly(raw: Any) -> None:
    check(raw)
