"""Static validation of a `WorkflowGraph`: every problem at once, each with where and why.

    problems = validate_graph(graph, default_registry())
    for p in problems:
        print(p.path, p.message)     # "edges[2].target_port", "node 'llm' has no input ..."

`analyse_graph` is the same pass returning what it learned (node instances, effective ports,
topological order); the executor compiles its plan from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from snapagent.errors import DefinitionError
from snapagent.workflow.graph_checks import descendants, find_cycles, reaches, topological_order
from snapagent.workflow.node import BaseNodeV2, NodeRegistryV2
from snapagent.workflow.port_checks import (
    check_edges,
    check_mappings,
    check_required_inputs,
    node_ids,
)
from snapagent.workflow.schema import (
    SYS_NODE_ID,
    ErrorStrategy,
    NodePortSchema,
    PortDefinition,
    WorkflowEdge,
    WorkflowGraph,
    WorkflowNode,
)
from snapagent.workflow.types import PortType

__all__ = [
    "FAIL_BRANCH_PORT",
    "GraphAnalysis",
    "ValidationProblem",
    "analyse_graph",
    "build_node",
    "validate_graph",
]

FAIL_BRANCH_PORT = "fail"
ERROR_OUTPUT_PORT = "error"
_ERROR_PORT = PortDefinition(name=ERROR_OUTPUT_PORT, type=PortType.OBJECT, required=False)

Guard = frozenset[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ValidationProblem:
    """One problem: a stable ``code``, a readable ``message`` and where it is."""

    code: str
    message: str
    node_id: str | None = None
    edge_index: int | None = None
    path: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "node_id": self.node_id,
            "edge_index": self.edge_index,
            "path": self.path,
        }


@dataclass(slots=True)
class GraphAnalysis:
    """What validation learned. ``order`` is topological (empty when the graph has a cycle)."""

    graph: WorkflowGraph
    problems: list[ValidationProblem] = field(default_factory=list)
    instances: dict[str, BaseNodeV2[Any]] = field(default_factory=dict)
    schemas: dict[str, NodePortSchema] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    deps: dict[str, set[str]] = field(default_factory=dict)
    """Node -> the nodes it waits on (edges and selectors); set when there is no cycle."""

    def add(self, code: str, message: str, **where: Any) -> None:
        self.problems.append(ValidationProblem(code, message, **where))


def validate_graph(graph: WorkflowGraph, registry: NodeRegistryV2) -> list[ValidationProblem]:
    """Every problem of ``graph`` (an empty list means it can run)."""
    return analyse_graph(graph, registry).problems


def effective_ports(schema: NodePortSchema, strategy: ErrorStrategy) -> NodePortSchema:
    """The node type's ports plus the `fail` branch and `error` output of ``fail_branch``."""
    if strategy is not ErrorStrategy.FAIL_BRANCH:
        return schema
    return NodePortSchema(
        inputs=schema.inputs,
        outputs=(*schema.outputs, _ERROR_PORT),
        branches=(*schema.branches, FAIL_BRANCH_PORT),
    )


def analyse_graph(graph: WorkflowGraph, registry: NodeRegistryV2) -> GraphAnalysis:
    result = GraphAnalysis(graph)
    _check_nodes(result, registry)
    check_edges(result)
    check_mappings(result)
    check_required_inputs(result)
    _check_structure(result)
    return result


def _check_nodes(a: GraphAnalysis, registry: NodeRegistryV2) -> None:
    seen: set[str] = set()
    starts: list[str] = []
    ends = 0
    for i, node in enumerate(a.graph.nodes):
        where = {"node_id": node.id, "path": f"nodes[{i}]"}
        if node.id in seen:
            a.add("duplicate_node_id", f"node id {node.id!r} is used more than once", **where)
            continue
        seen.add(node.id)
        if node.id == SYS_NODE_ID:
            a.add(
                "reserved_node_id", f"node id {SYS_NODE_ID!r} is reserved for sys values", **where
            )
            continue
        starts += [node.id] if node.type == "start" else []
        ends += node.type == "end"
        created, schema, problems = build_node(registry, node, f"nodes[{i}]")
        a.problems.extend(problems)
        if created is None or schema is None:
            continue
        schema = effective_ports(schema, node.error_strategy)
        a.instances[node.id] = created
        a.schemas[node.id] = schema
        for port in node.default_outputs:
            if schema.output(port) is None:
                a.add(
                    "invalid_node_settings",
                    f"node {node.id!r}: default_outputs names {port!r}, which is not an output "
                    f"(outputs: {schema.describe_outputs()})",
                    node_id=node.id,
                    path=f"nodes[{i}].default_outputs.{port}",
                )
    if not starts:
        a.add("no_start_node", "the graph has no start node (a node of type 'start')")
    elif len(starts) > 1:
        a.add("multiple_start_nodes", f"the graph has {len(starts)} start nodes: {starts}")
    if not ends:
        a.add("no_end_node", "the graph has no end node (a node of type 'end')")


def build_node(
    registry: NodeRegistryV2, node: WorkflowNode, path: str
) -> tuple[BaseNodeV2[Any] | None, NodePortSchema | None, list[ValidationProblem]]:
    """Create one node and compute its ports; problems carry paths under ``path``
    (``nodes[3]`` -> ``nodes[3].config.top_k``). The ports exclude the error strategy's."""
    created = registry.try_create(node.id, node.type, node.config)
    label = f"node {node.id!r} ({node.type})"
    if created is None:
        known = ", ".join(registry.type_keys)
        message = f"node {node.id!r} has unknown type {node.type!r} (known types: {known})"
        return (
            None,
            None,
            [ValidationProblem("unknown_node_type", message, node.id, None, f"{path}.type")],
        )
    if isinstance(created, ValidationError):
        problems = []
        for err in created.errors():
            loc = ".".join(str(part) for part in err["loc"])
            problems.append(
                ValidationProblem(
                    "invalid_config",
                    f"{label}: config.{loc}: {err['msg']}"
                    if loc
                    else f"{label}: config: {err['msg']}",
                    node.id,
                    None,
                    f"{path}.config" + (f".{loc}" if loc else ""),
                )
            )
        return None, None, problems
    try:
        schema = created.port_schema()
    except DefinitionError as exc:
        problem = ValidationProblem(
            "invalid_config", f"{label}: {exc.message}", node.id, None, path
        )
        return None, None, [problem]
    except Exception as exc:  # a node type's own bug must not crash validation
        message = f"{label}: its ports cannot be computed ({exc})"
        return None, None, [ValidationProblem("invalid_config", message, node.id, None, path)]
    return created, schema, []


def _dependencies(a: GraphAnalysis) -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Edge dependencies (target -> sources) and selector dependencies (node, port, source)."""
    ids = node_ids(a)
    deps: dict[str, set[str]] = {node_id: set() for node_id in ids}
    for edge in a.graph.edges:
        if edge.source in ids and edge.target in ids:
            deps[edge.target].add(edge.source)
    selectors = [
        (node.id, port, m.selector.node_id)
        for node in a.graph.nodes
        for port, m in node.inputs.items()
        if not m.selector.is_sys and m.selector.node_id in ids
    ]
    return deps, selectors


def _check_structure(a: GraphAnalysis) -> None:
    deps, selectors = _dependencies(a)
    cycles = find_cycles(deps)
    for cycle in cycles:
        a.add(
            "cycle",
            "the edges form a cycle: " + " -> ".join([*cycle, cycle[0]]),
            node_id=cycle[0],
        )
    if cycles:
        return
    index_of = {node.id: i for i, node in enumerate(a.graph.nodes)}
    for node_id, port, source in selectors:
        # A selector creates a dependency; it must point to a node that can finish first.
        if source == node_id or reaches(deps, source=node_id, target=source):
            a.add(
                "selector_not_upstream",
                f"node {node_id!r} input {port!r} reads node {source!r}, which does not run "
                f"before {node_id!r}; a node can only read values of nodes upstream of it",
                node_id=node_id,
                path=f"nodes[{index_of[node_id]}].inputs.{port}.selector",
            )
        else:
            deps[node_id].add(source)
    a.order = topological_order(deps)
    a.deps = deps
    starts = [n.id for n in a.graph.nodes if n.type == "start"]
    if len(starts) == 1:
        reached = descendants(deps, starts[0])
        for node_id in a.order:
            if node_id != starts[0] and node_id not in reached:
                a.add(
                    "unreachable_node",
                    f"node {node_id!r} cannot be reached from the start node "
                    f"{starts[0]!r} (no edge or selector leads to it)",
                    node_id=node_id,
                    path=f"nodes[{index_of[node_id]}]",
                )
    _check_exclusive_bindings(a)


def edge_guard(a: GraphAnalysis, edge: WorkflowEdge, guards: dict[str, Guard]) -> Guard:
    """The branch decisions that must hold for ``edge`` to be taken."""
    guard = guards.get(edge.source, frozenset())
    schema = a.schemas.get(edge.source)
    if schema is None:
        return guard
    port = edge.source_port
    if port is not None and port in schema.branches:
        return guard | {(edge.source, port)}
    if FAIL_BRANCH_PORT in schema.branches:
        label = FAIL_BRANCH_PORT if port == ERROR_OUTPUT_PORT else "ok"
        return guard | {(edge.source, label)}
    return guard


def _exclusive(g1: Guard, g2: Guard) -> bool:
    decided = dict(g1)
    return any(node in decided and decided[node] != port for node, port in g2)


def _check_exclusive_bindings(a: GraphAnalysis) -> None:
    """Two edges into one port are fine only behind different ports of one branch node."""
    guards: dict[str, Guard] = {}
    into: dict[str, list[WorkflowEdge]] = {}
    for edge in a.graph.edges:
        into.setdefault(edge.target, []).append(edge)
    for node_id in a.order:
        incoming = [edge_guard(a, e, guards) for e in into.get(node_id, [])]
        guards[node_id] = _intersection(incoming)
    by_port: dict[tuple[str, str], list[tuple[int, WorkflowEdge]]] = {}
    for j, edge in enumerate(a.graph.edges):
        if edge.target_port is not None:
            by_port.setdefault((edge.target, edge.target_port), []).append((j, edge))
    for (target, port), edges in by_port.items():
        for k, (j1, e1) in enumerate(edges):
            for j2, e2 in edges[k + 1 :]:
                if not _exclusive(edge_guard(a, e1, guards), edge_guard(a, e2, guards)):
                    a.add(
                        "conflicting_inputs",
                        f"input {target}.{port} gets values from {e1.describe()} (edge {j1}) "
                        f"and {e2.describe()} (edge {j2}), which can both run; connect one, or "
                        "put them behind different ports of one branch node",
                        node_id=target,
                        edge_index=j2,
                        path=f"edges[{j2}]",
                    )


def _intersection(guards: Iterable[Guard]) -> Guard:
    items = list(guards)
    if not items:
        return frozenset()
    out = items[0]
    for g in items[1:]:
        out = out & g
    return out
