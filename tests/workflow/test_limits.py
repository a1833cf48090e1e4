"""Graph size limits on the raw JSON, and validation of big graphs staying exact."""

from __future__ import annotations

import json
from typing import Any

from snapagent.nodes import default_registry
from snapagent.testing import GraphBuilder
from snapagent.workflow import WorkflowGraph, validate_graph
from snapagent.workflow.limits import GraphLimits, check_graph_size, json_depth_problem


def _nested(depth: int) -> Any:
    return json.loads('{"a":' * depth + "1" + "}" * depth)


def _graph(node_count: int = 2, edge_count: int = 0, **extra: Any) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "type": "start", **extra} for i in range(node_count)]
    edges = [{"source": "n0", "target": "n1"}] * edge_count
    return {"nodes": nodes, "edges": edges}


def test_within_the_limits_nothing_is_reported() -> None:
    limits = GraphLimits(max_nodes=3, max_edges=3, max_depth=8)
    assert check_graph_size(_graph(3, 3, meta=_nested(4)), limits) == []


def test_too_many_nodes_and_edges_are_each_reported_without_walking_further() -> None:
    limits = GraphLimits(max_nodes=3, max_edges=2, max_depth=8)
    problems = check_graph_size(_graph(4, 3, meta=_nested(50)), limits)
    assert [(p.code, p.path) for p in problems] == [
        ("too_many_nodes", "nodes"),
        ("too_many_edges", "edges"),
    ]
    assert problems[0].message == "the graph has 4 nodes; the limit is 3"


def test_deep_editor_metadata_names_the_node_and_the_path() -> None:
    graph = _graph(2)
    graph["nodes"][1]["position"] = {"x": 1, "y": 2, "extra": _nested(40)}
    (problem,) = check_graph_size(graph, GraphLimits(max_depth=32))
    assert problem.code == "too_deep"
    assert problem.node_id == "n1"
    assert problem.path.startswith("nodes[1].position.extra.a.a")
    assert "more than 32 levels" in problem.message


def test_depth_counts_lists_and_objects_and_stops_at_the_limit() -> None:
    assert json_depth_problem([[[1]]], 3) is None
    assert json_depth_problem([[[[1]]]], 3) == "[0][0][0]"
    assert json_depth_problem({"k": "scalar values do not nest"}, 1) is None
    # Far deeper than the recursion limit: the walk is iterative.
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    assert json_depth_problem(deep, 32) is not None


def test_a_long_key_does_not_make_the_path_long() -> None:
    graph = {"nodes": [{"id": "n", "k" * 100_000: _nested(40)}]}
    (problem,) = check_graph_size(graph, GraphLimits(max_depth=10))
    assert len(problem.path) < 500


def test_cycle_through_many_nodes_is_one_short_message() -> None:
    builder = GraphBuilder().node("start", "start").node("end", "end", outputs=["answer"])
    count = 500
    for i in range(count):
        builder.node(f"t{i}", "template", template="{{ x }}")
    builder.edge("start.query", "t0.x")
    for i in range(count):
        builder.edge(f"t{i}.text", f"t{(i + 1) % count}.x")
    builder.edge("t0.text", "end.answer")
    problems = [p for p in validate_graph(builder.build(), default_registry()) if p.code == "cycle"]
    assert len(problems) == 1
    assert "more)" in problems[0].message
    assert len(problems[0].message) < 300


def test_every_selector_on_a_cycle_is_reported_and_others_are_not() -> None:
    # a reads b and b reads a (neither can run first); c reads a, which is fine.
    graph = (
        GraphBuilder()
        .node("start", "start")
        .node("a", "template", template="{{ x }}", inputs={"x": ["b", "text"]})
        .node("b", "template", template="{{ x }}", inputs={"x": ["a", "text"]})
        .node("c", "template", template="{{ x }}", inputs={"x": ["a", "text"]})
        .node("end", "end", outputs=["answer"])
        .edge("start", "a")
        .edge("start", "b")
        .edge("c.text", "end.answer")
        .build()
    )
    found = [p for p in validate_graph(graph, default_registry()) if p.code != "unreachable_node"]
    assert sorted((p.code, p.node_id) for p in found) == [
        ("selector_not_upstream", "a"),
        ("selector_not_upstream", "b"),
    ]


def test_a_big_valid_graph_validates_clean() -> None:
    builder = GraphBuilder().node("start", "start").node("end", "end", outputs=["answer"])
    previous = "start"
    for i in range(2_000):
        builder.node(f"t{i}", "template", template="{{ x }}", inputs={"x": ["start", "query"]})
        builder.edge(previous, f"t{i}")
        previous = f"t{i}"
    builder.edge(f"{previous}.text", "end.answer")
    assert validate_graph(WorkflowGraph.from_json(builder.to_json()), default_registry()) == []


def test_nodes_and_edges_of_sub_graphs_count_towards_the_limits() -> None:
    body = {"nodes": [{"id": f"b{i}", "type": "template"} for i in range(3)], "edges": []}
    graph = _graph(2)
    graph["nodes"][1]["config"] = {"graph": body}
    assert check_graph_size(graph, GraphLimits(max_nodes=5)) == []
    (problem,) = check_graph_size(graph, GraphLimits(max_nodes=4))
    assert problem.code == "too_many_nodes"
    assert problem.message == "the graph has 5 nodes in it and its sub-graphs; the limit is 4"
