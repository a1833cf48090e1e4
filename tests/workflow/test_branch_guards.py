"""The exclusive-inputs check (dominator tree, preorder neighbours) agrees with the direct
definition: two edges into one port conflict unless some branch node sends them down different
ports. The reference below computes, for every edge, the full set of branch decisions it needs
and compares every pair - quadratic, fine for small random graphs."""

from __future__ import annotations

from itertools import combinations
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snapagent.nodes import default_registry
from snapagent.testing import function_node_type
from snapagent.workflow import NodeRegistryV2, WorkflowGraph
from snapagent.workflow.branch_guards import decision_label
from snapagent.workflow.validation import GraphAnalysis, analyse_graph

PORTS = ("in0", "in1")


def _registry() -> NodeRegistryV2:
    registry = default_registry()
    ins = dict.fromkeys(PORTS, "any")
    registry.register(
        function_node_type("work", ins, {"out": "any"}, lambda i: {}, optional_inputs=PORTS)
    )
    registry.register(
        function_node_type(
            "flip", ins, {"out": "any"}, lambda i: {}, branches=("a", "b"), optional_inputs=PORTS
        )
    )
    return registry


REGISTRY = _registry()


def _edge(source: str, target: str, source_port: str | None, target_port: str | None) -> Any:
    edge: dict[str, Any] = {"source": source, "target": target}
    if source_port is not None:
        edge["source_port"] = source_port
    if target_port is not None:
        edge["target_port"] = target_port
    return edge


@st.composite
def branchy_graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly a tree of branch and work nodes (each hangs off a recent node, through a branch
    port when it has one), plus joins: several values into one port, which may or may not be
    exclusive."""
    count = draw(st.integers(min_value=2, max_value=10))
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "start"}]
    edges: list[dict[str, Any]] = []
    for i in range(1, count + 1):
        kind = draw(st.sampled_from(["work", "flip"]))
        node: dict[str, Any] = {"id": f"n{i}", "type": kind}
        if kind == "work" and draw(st.integers(0, 3)) == 0:
            node["error_strategy"] = "fail_branch"
        nodes.append(node)
        parent = nodes[draw(st.integers(min_value=max(0, i - 4), max_value=i - 1))]
        ports: list[str | None] = [None]
        if parent["type"] == "flip":
            ports = ["a", "b"]
        elif parent.get("error_strategy") == "fail_branch":
            ports = [None, "fail"]
        edges.append(_edge(parent["id"], node["id"], draw(st.sampled_from(ports)), None))
        if i > 2 and draw(st.booleans()):  # a join into in0
            picked = draw(st.lists(st.integers(1, i - 1), min_size=2, max_size=3, unique=True))
            for j in picked:
                source = nodes[j]
                port = "out"
                if source.get("error_strategy") == "fail_branch" and draw(st.booleans()):
                    port = "error"
                edges.append(_edge(source["id"], node["id"], port, "in0"))
    nodes.append({"id": "end", "type": "end", "config": {"outputs": ["answer"]}})
    edges.append(_edge(f"n{count}", "end", "out", "answer"))
    return {"nodes": nodes, "edges": edges}


def _reference_guards(a: GraphAnalysis) -> list[frozenset[tuple[str, str]]]:
    """Per edge: every decision that must have been taken for it to carry a value."""
    guards: dict[str, frozenset[tuple[str, str]]] = {}

    def edge_guard(j: int) -> frozenset[tuple[str, str]]:
        edge = a.graph.edges[j]
        guard = guards.get(edge.source, frozenset())
        label = decision_label(a, edge)
        return guard | {(edge.source, label)} if label is not None else guard

    for node_id in a.order:
        incoming = [edge_guard(j) for j, e in enumerate(a.graph.edges) if e.target == node_id]
        guards[node_id] = frozenset.intersection(*incoming) if incoming else frozenset()
    return [edge_guard(j) for j in range(len(a.graph.edges))]


def _conflict(g1: frozenset[tuple[str, str]], g2: frozenset[tuple[str, str]]) -> bool:
    decided = dict(g1)
    return not any(node in decided and decided[node] != port for node, port in g2)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(branchy_graphs())
def test_conflicts_match_the_pairwise_definition(data: dict[str, Any]) -> None:
    analysis = analyse_graph(WorkflowGraph.from_json(data), REGISTRY)
    if not analysis.order:
        return
    guards = _reference_guards(analysis)
    by_port: dict[tuple[str, str], list[int]] = {}
    for j, edge in enumerate(analysis.graph.edges):
        if edge.target_port is not None:
            by_port.setdefault((edge.target, edge.target_port), []).append(j)
    expected_ports = {
        port
        for port, edges in by_port.items()
        if any(_conflict(guards[j1], guards[j2]) for j1, j2 in combinations(edges, 2))
    }
    reported = [p for p in analysis.problems if p.code == "conflicting_inputs"]
    reported_ports = set()
    for problem in reported:
        j2 = problem.edge_index
        assert j2 is not None
        edge = analysis.graph.edges[j2]
        assert edge.target_port is not None
        reported_ports.add((edge.target, edge.target_port))
        j1 = int(problem.message.split("(edge ")[1].split(")")[0])
        assert _conflict(guards[j1], guards[j2]), problem.message  # a real conflict
    assert reported_ports == expected_ports
