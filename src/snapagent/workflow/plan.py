"""A graph compiled once into flat, index-based tables the executor walks with no lookups.

    plan = compile_plan(graph, registry)     # raises GraphValidationError with every problem
    plan.nodes[0].out_edges                  # (target index, target port, source port, kind, label)

A plan is immutable and shared by every run of its graph (the executor caches it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snapagent.errors import GraphValidationError
from snapagent.workflow.branch_guards import ERROR_OUTPUT_PORT, FAIL_BRANCH_PORT
from snapagent.workflow.node import BaseNodeV2, NodeRegistryV2
from snapagent.workflow.schema import ErrorStrategy, RetryPolicy, WorkflowGraph
from snapagent.workflow.stream_order import answer_nodes, answer_order
from snapagent.workflow.subgraph import SubgraphNode
from snapagent.workflow.validation import GraphAnalysis, analyse_graph

__all__ = ["EDGE_BRANCH", "EDGE_FAIL", "EDGE_SUCCESS", "ExecutionPlan", "PlanNode", "compile_plan"]

EDGE_SUCCESS = 0
"""Taken when the source succeeds (data ports and plain control edges)."""
EDGE_BRANCH = 1
"""Taken when the source succeeds and picks this branch port."""
EDGE_FAIL = 2
"""Taken when the source fails under the ``fail_branch`` strategy (`fail` / `error` ports)."""

OutEdge = tuple[int, str | None, str | None, int, str | None]
Mapping_ = tuple[str, str, str, tuple[str | int, ...]]


@dataclass(slots=True)
class PlanNode:
    """One node, ready to run: its instance, settings, input sources and out-edges."""

    index: int
    node_id: str
    node_type: str
    node: BaseNodeV2[Any]
    is_output: bool
    timeout_s: float | None
    retry: RetryPolicy | None
    error_strategy: ErrorStrategy
    default_outputs: dict[str, Any]
    default_branch: str | None
    branches: frozenset[str]
    input_defaults: tuple[tuple[str, Any], ...]
    required_inputs: tuple[str, ...]
    mappings: tuple[Mapping_, ...]
    out_edges: tuple[OutEdge, ...]
    selector_dependents: tuple[int, ...]
    order_dependents: tuple[int, ...]
    """Nodes that wait (ungated) for this one to be decided: the next answer node."""
    dependency_count: int
    gated_by_selectors: bool


@dataclass(frozen=True, slots=True)
class ExecutionPlan:
    """The compiled graph. ``start_index`` is the start node; ``nodes`` are in graph order."""

    graph: WorkflowGraph
    nodes: tuple[PlanNode, ...]
    start_index: int
    index_of: dict[str, int]
    answer_nodes: frozenset[str] = frozenset()
    """The answer-streaming nodes; when there are any, only their text is streamed."""
    roots: tuple[int, ...] = ()
    """Where a run starts: the start node; in a container's body, every node that waits
    for nothing inside the body."""


def compile_plan(graph: WorkflowGraph, registry: NodeRegistryV2) -> ExecutionPlan:
    """Validate and compile; raises `GraphValidationError` carrying every problem."""
    analysis = analyse_graph(graph, registry)
    if analysis.problems:
        raise GraphValidationError(analysis.problems)
    return _build(analysis)


def _build(a: GraphAnalysis) -> ExecutionPlan:
    graph = a.graph
    index_of = {node.id: i for i, node in enumerate(graph.nodes)}
    out_edges: list[list[OutEdge]] = [[] for _ in graph.nodes]
    edge_count = [0] * len(graph.nodes)
    for edge in graph.edges:
        src, dst = index_of[edge.source], index_of[edge.target]
        schema = a.schemas[edge.source]
        port = edge.source_port
        if port in (FAIL_BRANCH_PORT, ERROR_OUTPUT_PORT) and FAIL_BRANCH_PORT in schema.branches:
            kind = EDGE_FAIL
        elif port is not None and port in schema.branches:
            kind = EDGE_BRANCH
        else:
            kind = EDGE_SUCCESS
        out_edges[src].append((dst, edge.target_port, port, kind, port))
        edge_count[dst] += 1

    edge_count_ungated = [0] * len(graph.nodes)
    selector_sources: list[set[int]] = [set() for _ in graph.nodes]
    dependents: list[list[int]] = [[] for _ in graph.nodes]
    for i, node in enumerate(graph.nodes):
        sources = [m.selector.node_id for m in node.inputs.values() if not m.selector.is_sys]
        # A container also waits for the nodes its body reads.
        sources += sorted(a.body_refs.get(node.id, ()))
        for source in sources:
            j = index_of.get(source)  # absent: outside this graph (a body reading further out)
            if j is not None and j not in selector_sources[i]:
                selector_sources[i].add(j)
                dependents[j].append(i)

    order_dependents: list[list[int]] = [[] for _ in graph.nodes]
    for earlier, later in answer_order(a, a.deps):
        order_dependents[index_of[earlier]].append(index_of[later])
        edge_count_ungated[index_of[later]] += 1
    answers = frozenset(answer_nodes(a))

    nodes: list[PlanNode] = []
    for i, node in enumerate(graph.nodes):
        instance = a.instances[node.id]
        schema = a.schemas[node.id]
        port_defaults = {p.name: p.default for p in schema.outputs if p.has_default}
        nodes.append(
            PlanNode(
                index=i,
                node_id=node.id,
                node_type=node.type,
                node=instance,
                is_output=bool(getattr(instance, "is_output", False)),
                timeout_s=node.timeout_s,
                retry=node.retry if node.retry and node.retry.max_retries > 0 else None,
                error_strategy=node.error_strategy,
                default_outputs={**port_defaults, **node.default_outputs},
                default_branch=instance.default_branch(),
                branches=frozenset(b for b in schema.branches if b != FAIL_BRANCH_PORT),
                input_defaults=tuple((p.name, p.default) for p in schema.inputs if p.has_default),
                required_inputs=tuple(
                    p.name for p in schema.inputs if p.required and not p.has_default
                ),
                mappings=tuple(
                    (port, m.selector.node_id, m.selector.port, m.selector.path)
                    for port, m in node.inputs.items()
                ),
                out_edges=tuple(out_edges[i]),
                selector_dependents=tuple(dependents[i]),
                order_dependents=tuple(order_dependents[i]),
                dependency_count=edge_count[i] + len(selector_sources[i]) + edge_count_ungated[i],
                gated_by_selectors=edge_count[i] == 0,
            )
        )
    for instance in a.instances.values():
        if isinstance(instance, SubgraphNode) and instance.body_analysis is not None:
            instance.attach_plan(_build(instance.body_analysis))
    roots = tuple(pn.index for pn in nodes if pn.dependency_count == 0)
    start = next((i for i, node in enumerate(graph.nodes) if node.type == "start"), roots[0])
    return ExecutionPlan(graph, tuple(nodes), start, index_of, answers, roots)
