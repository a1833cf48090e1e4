"""Static validation of a `WorkflowGraph`: every problem at once, each with where and why.

    problems = validate_graph(graph, default_registry())
    for p in problems:
        print(p.path, p.message)     # "edges[2].target_port", "node 'llm' has no input ..."

`analyse_graph` is the same pass returning what it learned (node instances, effective ports,
topological order); the executor compiles its plan from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from snapagent.errors import DefinitionError
from snapagent.workflow.body_checks import Surroundings, analyse_body
from snapagent.workflow.branch_guards import (
    ERROR_OUTPUT_PORT,
    FAIL_BRANCH_PORT,
    check_exclusive_bindings,
)
from snapagent.workflow.conversation import ConversationVariable
from snapagent.workflow.graph_checks import (
    cyclic_components,
    descendants,
    find_cycles,
    topological_order,
)
from snapagent.workflow.node import BaseNodeV2, NodeRegistryV2
from snapagent.workflow.port_checks import (
    check_edges,
    check_mappings,
    check_required_inputs,
    node_ids,
)
from snapagent.workflow.schema import (
    RESERVED_NODE_IDS,
    ErrorStrategy,
    NodePortSchema,
    PortDefinition,
    WorkflowGraph,
    WorkflowNode,
)
from snapagent.workflow.subgraph import Scope, SubgraphNode
from snapagent.workflow.types import PortType
from snapagent.workflow.values import coerce_value

__all__ = [
    "FAIL_BRANCH_PORT",
    "GraphAnalysis",
    "ValidationProblem",
    "analyse_graph",
    "build_node",
    "format_loc",
    "validate_graph",
]

_ERROR_PORT = PortDefinition(name=ERROR_OUTPUT_PORT, type=PortType.OBJECT, required=False)
_CYCLE_SHOWN = 12
"""A cycle message names at most this many nodes (a cycle through 4,000 nodes is one line)."""

Built = tuple[BaseNodeV2[Any] | None, NodePortSchema | None, list["ValidationProblem"]]
BODY_PORT = "config.graph"
"""Stands for "the container's body" where a dependency is usually an input port."""


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
    scope: Scope | None = None
    """Set when this is a container's body: what it sees from outside."""
    external_refs: set[str] = field(default_factory=set)
    """Ids outside this graph that its nodes (or their bodies) read."""
    body_refs: dict[str, set[str]] = field(default_factory=dict)
    """Container id -> the nodes of this graph its body reads (it waits for them)."""
    conversation: dict[str, ConversationVariable] = field(default_factory=dict)
    """The conversation variables this graph (or, for a body, the whole document) declares."""

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


def analyse_graph(
    graph: WorkflowGraph, registry: NodeRegistryV2, *, scope: Scope | None = None
) -> GraphAnalysis:
    """Validate ``graph`` (a container's body when ``scope`` is given) and say what was learned."""
    result = GraphAnalysis(graph, scope=scope)
    _check_conversation_variables(result)
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
    containers: list[tuple[int, WorkflowNode]] = []
    taken = a.scope.outer_ids | {a.scope.container_id} if a.scope is not None else frozenset()
    for i, node in enumerate(a.graph.nodes):
        where = {"node_id": node.id, "path": f"nodes[{i}]"}
        # Counted before the id checks: a start or end node whose id is wrong is reported as
        # that, not also as a missing start or end.
        starts += [node.id] if node.type == "start" else []
        ends += node.type == "end"
        if node.id in seen:
            a.add("duplicate_node_id", f"node id {node.id!r} is used more than once", **where)
            continue
        seen.add(node.id)
        if node.id in RESERVED_NODE_IDS:
            a.add(
                "reserved_node_id",
                f"node id {node.id!r} is reserved (selectors [{node.id!r}, name] read "
                f"{node.id} values)",
                **where,
            )
            continue
        if node.id in taken:
            message = f"node id {node.id!r} is already used outside this sub-graph"
            a.add("duplicate_node_id", message, **where)
            continue
        if a.scope is not None and node.type in ("start", "end"):
            message = (
                f"node {node.id!r}: a sub-graph has no {node.type} node (its container is both)"
            )
            a.add("misplaced_node", message, node_id=node.id, path=f"nodes[{i}].type")
            continue
        node_type = registry.get(node.type)
        if node_type is not None and issubclass(node_type, SubgraphNode):
            containers.append((i, node))  # after the others: its body reads their ports
            continue
        _add_node(a, i, node, build_node(registry, node, f"nodes[{i}]"))
    for i, node in containers:
        _add_node(a, i, node, build_node(registry, node, f"nodes[{i}]", around=_view(a)))
    if a.scope is not None:
        if not a.graph.nodes:
            a.add("empty_subgraph", "the sub-graph has no nodes")
        return
    if not starts:
        a.add("no_start_node", "the graph has no start node (a node of type 'start')")
    elif len(starts) > 1:
        a.add("multiple_start_nodes", f"the graph has {len(starts)} start nodes: {starts}")
    if not ends:
        a.add("no_end_node", "the graph has no end node (a node of type 'end')")


def _check_conversation_variables(a: GraphAnalysis) -> None:
    if a.scope is not None:
        a.conversation = dict(a.scope.conversation)
        if a.graph.conversation_variables:
            a.add(
                "misplaced_conversation_variables",
                "a sub-graph cannot declare conversation variables; declare them on the workflow",
                path="conversation_variables",
            )
        return
    for i, variable in enumerate(a.graph.conversation_variables):
        if variable.name in a.conversation:
            a.add(
                "duplicate_conversation_variable",
                f"conversation variable {variable.name!r} is declared more than once",
                path=f"conversation_variables[{i}].name",
            )
        a.conversation[variable.name] = variable
        # A new session starts from the default: one that is no value of the type would reach
        # the nodes reading the variable as it is.
        if variable.default is not None:
            try:
                coerce_value(variable.type, variable.default)
            except ValueError as exc:
                a.add(
                    "invalid_conversation_default",
                    f"conversation variable {variable.name!r}: the default {exc}",
                    path=f"conversation_variables[{i}].default",
                )


def _add_node(a: GraphAnalysis, i: int, node: WorkflowNode, built: Built) -> None:
    created, schema, problems = built
    a.problems.extend(problems)
    if created is None or schema is None:
        return
    for where, message in created.check_conversation(a.conversation):
        a.add(
            "invalid_conversation_write",
            f"node {node.id!r}: {message}",
            node_id=node.id,
            path=f"nodes[{i}].{where}",
        )
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


def _view(a: GraphAnalysis) -> Surroundings:
    """What a body inside this graph sees: this graph's nodes and everything this graph sees."""
    outer: dict[str, NodePortSchema] = {}
    ids = {n.id for n in a.graph.nodes}
    depth, is_open = 0, False
    if a.scope is not None:
        outer.update(a.scope.outer)
        outer[a.scope.container_id] = a.scope.ports
        ids |= a.scope.outer_ids | {a.scope.container_id}
        depth, is_open = a.scope.depth, a.scope.open
    outer.update(a.schemas)
    for instance in a.instances.values():
        if isinstance(instance, SubgraphNode):  # ids stay unique across sibling bodies too
            ids |= body_node_ids(instance.body_graph())
    return Surroundings(outer, frozenset(ids), depth, is_open, a.conversation)


def body_node_ids(graph: WorkflowGraph) -> set[str]:
    """Every node id in ``graph`` and in the bodies nested in its nodes' configs (raw JSON:
    the bodies may not be valid)."""
    ids: set[str] = set()
    stack = [graph.to_json()]
    while stack:
        current = stack.pop()
        for node in current.get("nodes", ()) if isinstance(current, dict) else ():
            if isinstance(node, dict):
                ids.add(str(node.get("id")))
                body = (
                    node.get("config", {}).get("graph")
                    if isinstance(node.get("config"), dict)
                    else None
                )
                if isinstance(body, dict):
                    stack.append(body)
    return ids


def build_node(
    registry: NodeRegistryV2,
    node: WorkflowNode,
    path: str,
    *,
    around: Surroundings | None = None,
) -> Built:
    """Create one node and compute its ports; problems carry paths under ``path``
    (``nodes[3]`` -> ``nodes[3].config.top_k``). The ports exclude the error strategy's.
    A container's body is analysed first, seeing ``around`` (by default nothing is known and
    any read of an outside node is accepted)."""
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
        config_problems = []
        for err in created.errors():
            where = format_loc(err["loc"], "config")
            config_problems.append(
                ValidationProblem(
                    "invalid_config",
                    f"{label}: {where}: {err['msg']}",
                    node.id,
                    None,
                    f"{path}.{where}",
                )
            )
        return None, None, config_problems
    problems: list[ValidationProblem] = []
    if isinstance(created, SubgraphNode):
        problems = analyse_body(created, registry, path, around or Surroundings.unknown())
    try:
        schema = created.port_schema()
    except DefinitionError as exc:
        where = f"{path}.{exc.details['path']}" if exc.details.get("path") else path
        problem = ValidationProblem(
            "invalid_config", f"{label}: {exc.message}", node.id, None, where
        )
        return None, None, [*problems, problem]
    except Exception as exc:  # a node type's own bug must not crash validation
        message = f"{label}: its ports cannot be computed ({exc})"
        problem = ValidationProblem("invalid_config", message, node.id, None, path)
        return None, None, [*problems, problem]
    return created, schema, problems


def format_loc(loc: Sequence[str | int], prefix: str = "") -> str:
    """A location in the one path style of every problem, V1 and V2 alike: indexes in
    brackets, names after dots (``nodes[1].config.cases[0].name``), under ``prefix``."""
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


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
    for node_id, instance in a.instances.items():
        body = instance.body_analysis if isinstance(instance, SubgraphNode) else None
        if body is None:
            continue
        for ref in body.external_refs - {node_id}:
            if ref in ids:  # the body reads a node of this graph: the container waits for it
                a.body_refs.setdefault(node_id, set()).add(ref)
                selectors.append((node_id, BODY_PORT, ref))
            else:  # a node further out: whoever contains this graph waits for it
                a.external_refs.add(ref)
    return deps, selectors


def _describe_cycle(cycle: list[str]) -> str:
    shown = cycle if len(cycle) <= _CYCLE_SHOWN else cycle[: _CYCLE_SHOWN - 2]
    more = f" -> ... ({len(cycle) - len(shown)} more)" if len(shown) < len(cycle) else ""
    return " -> ".join(shown) + more + f" -> {cycle[0]}"


def _check_structure(a: GraphAnalysis) -> None:
    deps, selectors = _dependencies(a)
    cycles = find_cycles(deps)
    for cycle in cycles:
        a.add("cycle", "the edges form a cycle: " + _describe_cycle(cycle), node_id=cycle[0])
    if cycles:
        return
    # A selector creates a dependency; it must point to a node that can finish first. The
    # edges alone are acyclic, so a selector is wrong exactly when it lies on a cycle of edges
    # plus selectors (or reads its own node): one linear pass instead of a search per selector.
    combined = {node_id: set(sources) for node_id, sources in deps.items()}
    for node_id, _port, source in selectors:
        combined[node_id].add(source)
    component = cyclic_components(combined)
    index_of = {node.id: i for i, node in enumerate(a.graph.nodes)}
    for node_id, port, source in selectors:
        group = component.get(node_id)
        if source == node_id or (group is not None and component.get(source) == group):
            reader = f"input {port!r}" if port != BODY_PORT else "(its sub-graph)"
            where = f"inputs.{port}.selector" if port != BODY_PORT else "config"
            a.add(
                "selector_not_upstream",
                f"node {node_id!r} {reader} reads node {source!r}, which does not run "
                f"before {node_id!r}; a node can only read values of nodes upstream of it",
                node_id=node_id,
                path=f"nodes[{index_of[node_id]}].{where}",
            )
        else:
            deps[node_id].add(source)
    a.order = topological_order(deps)
    a.deps = deps
    starts = [n.id for n in a.graph.nodes if n.type == "start"]
    if len(starts) == 1 and a.scope is None:
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
    check_exclusive_bindings(a)
