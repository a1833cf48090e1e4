"""Static validation of V1 graphs: every problem at once, each with a JSON path.

    >>> problems = validate_v1_workflow({"nodes": [{"id": "a", "type": "sarch"}], "edges": []})
    >>> sorted(p.code for p in problems)
    ['no_end_node', 'no_start_node', 'unknown_node_type']

Codes and paths are V2's vocabulary (`snapagent.workflow.validation`) wherever the two mean
the same thing: ``schema`` for a malformed shape, ``invalid_config`` for bad node ``data``,
``unknown_node`` for an edge to no node, ``no_start_node``... V1 adds the rules only it has
(``multiple_end_nodes``, ``edge_into_start``, ``edge_from_end``, ``no_response``).

`load_v1_workflow` returns a checked :class:`V1Workflow` or raises
:class:`LegacyWorkflowError` (a :class:`GraphValidationError`) carrying the problems.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from snapagent.errors import GraphValidationError
from snapagent.legacy.schema import (
    V1_NODE_TYPES,
    V1EdgeModel,
    V1NodeModel,
    V1Workflow,
    data_model_for,
)
from snapagent.workflow.graph_checks import cyclic_components
from snapagent.workflow.validation import format_loc

__all__ = [
    "LegacyWorkflowError",
    "V1Problem",
    "execution_order",
    "load_v1_workflow",
    "typed_data",
    "validate_v1_workflow",
]


@dataclass(frozen=True, slots=True)
class V1Problem:
    """One thing wrong with a V1 graph; ``path`` points into the JSON (``nodes[2].data.top_k``)."""

    code: str
    message: str
    path: str = ""
    node_id: str | None = None
    edge_index: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LegacyWorkflowError(GraphValidationError):
    """A V1 workflow is invalid; ``problems`` holds every :class:`V1Problem`."""

    def __init__(self, problems: Sequence[V1Problem]) -> None:
        listed = "; ".join(f"{p.path or '<root>'}: {p.message}" for p in problems[:5])
        more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(
            list(problems), f"V1 workflow is invalid ({len(problems)} problem(s)): {listed}{more}"
        )
        self.details = {"problems": [p.to_dict() for p in problems]}


def _pydantic_problems(
    exc: ValidationError, prefix: str, code: str, **where: Any
) -> list[V1Problem]:
    return [
        V1Problem(code, f"{err['msg']}", format_loc(err["loc"], prefix), **where)
        for err in exc.errors()
    ]


def _parse_nodes(raw: Sequence[Any], problems: list[V1Problem]) -> list[V1NodeModel]:
    nodes: list[V1NodeModel] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        path = f"nodes[{i}]"
        try:
            node = V1NodeModel.model_validate(item)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, path, "schema"))
            continue
        if node.id in seen:
            problems.append(
                V1Problem("duplicate_node_id", f"node id {node.id!r} is used twice", path, node.id)
            )
            continue
        seen.add(node.id)
        data_model = data_model_for(node.type)
        if data_model is None:
            known = ", ".join(V1_NODE_TYPES)
            problems.append(
                V1Problem(
                    "unknown_node_type",
                    f"unknown node type {node.type!r} (known: {known})",
                    f"{path}.type",
                    node.id,
                )
            )
        else:
            try:
                data_model.model_validate(node.data)
            except ValidationError as exc:
                problems.extend(
                    _pydantic_problems(exc, f"{path}.data", "invalid_config", node_id=node.id)
                )
        nodes.append(node)
    return nodes


def _parse_edges(raw: Sequence[Any], ids: set[str], problems: list[V1Problem]) -> list[V1EdgeModel]:
    edges: list[V1EdgeModel] = []
    for i, item in enumerate(raw):
        path = f"edges[{i}]"
        try:
            edge = V1EdgeModel.model_validate(item)
        except ValidationError as exc:
            problems.extend(_pydantic_problems(exc, path, "schema", edge_index=i))
            continue
        dangling = False
        for end in ("source", "target"):
            node_id = getattr(edge, end)
            if node_id not in ids:
                dangling = True
                problems.append(
                    V1Problem(
                        "unknown_node",
                        f"edge {end} {node_id!r} is not a node of this workflow",
                        f"{path}.{end}",
                        edge_index=i,
                    )
                )
        if not dangling:
            edges.append(edge)
    return edges


def _cycles(node_ids: Sequence[str], edges: Sequence[V1EdgeModel]) -> list[list[str]]:
    """Groups of nodes that lie on cycles together, each in workflow order."""
    deps: dict[str, set[str]] = {node_id: set() for node_id in node_ids}
    for e in edges:
        deps.setdefault(e.target, set()).add(e.source)
    position = {node_id: i for i, node_id in enumerate(node_ids)}
    groups: dict[int, list[str]] = defaultdict(list)
    for node_id, group in cyclic_components(deps).items():
        groups[group].append(node_id)
    found = [sorted(members, key=position.__getitem__) for members in groups.values()]
    return sorted(found, key=lambda members: position[members[0]])


def _structure_problems(
    nodes: Sequence[V1NodeModel], edges: Sequence[V1EdgeModel]
) -> list[V1Problem]:
    problems: list[V1Problem] = []
    pos = {n.id: i for i, n in enumerate(nodes)}
    by_type: dict[str, list[V1NodeModel]] = defaultdict(list)
    for n in nodes:
        by_type[n.type].append(n)
    for kind, code_missing, code_several in (
        ("start", "no_start_node", "multiple_start_nodes"),
        ("end", "no_end_node", "multiple_end_nodes"),
    ):
        found = by_type[kind]
        if not found:
            problems.append(V1Problem(code_missing, f"the workflow has no {kind} node", "nodes"))
        elif len(found) > 1:
            ids = ", ".join(repr(n.id) for n in found)
            for n in found[1:]:
                problems.append(
                    V1Problem(
                        code_several,
                        f"a workflow has exactly one {kind} node; found {ids}",
                        f"nodes[{pos[n.id]}]",
                        n.id,
                    )
                )
    for i, e in enumerate(edges):
        if e.target in {n.id for n in by_type["start"]}:
            problems.append(
                V1Problem(
                    "edge_into_start",
                    "no edge may lead into the start node",
                    f"edges[{i}]",
                    e.target,
                    i,
                )
            )
        if e.source in {n.id for n in by_type["end"]}:
            problems.append(
                V1Problem(
                    "edge_from_end", "no edge may leave the end node", f"edges[{i}]", e.source, i
                )
            )
    cycles = _cycles([n.id for n in nodes], edges)
    for component in cycles:
        problems.append(
            V1Problem(
                "cycle",
                "these nodes form a cycle: " + " -> ".join(component + component[:1]),
                f"nodes[{pos[component[0]]}]",
                component[0],
            )
        )
    if len(by_type["start"]) == 1 and not cycles:
        if len(by_type["end"]) == 1 and not _llm_runs_before_end(nodes, edges):
            problems.append(
                V1Problem(
                    "no_response",
                    "no llm node runs before the end node, so there is no response to answer with",
                    f"nodes[{pos[by_type['end'][0].id]}]",
                    by_type["end"][0].id,
                )
            )
        reached = _reachable(by_type["start"][0].id, edges)
        for n in nodes:
            if n.id not in reached:
                problems.append(
                    V1Problem(
                        "unreachable_node",
                        f"node {n.id!r} cannot be reached from the start node",
                        f"nodes[{pos[n.id]}]",
                        n.id,
                    )
                )
    return problems


def _llm_runs_before_end(nodes: Sequence[V1NodeModel], edges: Sequence[V1EdgeModel]) -> bool:
    for node in execution_order(V1Workflow(nodes=list(nodes), edges=list(edges))):
        if node.type == "llm":
            return True
        if node.type == "end":
            return False
    return False


def _reachable(root: str, edges: Sequence[V1EdgeModel]) -> set[str]:
    succ: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        succ[e.source].append(e.target)
    seen = {root}
    todo = [root]
    while todo:
        for nxt in succ[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def validate_v1_workflow(raw: Any) -> list[V1Problem]:
    """Every problem of a stored/submitted V1 graph (any JSON value); empty when it is valid."""
    if not isinstance(raw, Mapping):
        return [V1Problem("schema", "a V1 workflow is a JSON object with nodes and edges")]
    problems: list[V1Problem] = []
    raw_nodes = raw.get("nodes")
    raw_edges = raw.get("edges", [])
    if not isinstance(raw_nodes, list):
        problems.append(V1Problem("schema", "nodes must be a list of nodes", "nodes"))
        raw_nodes = []
    if not isinstance(raw_edges, list):
        problems.append(V1Problem("schema", "edges must be a list of edges", "edges"))
        raw_edges = []
    nodes = _parse_nodes(raw_nodes, problems)
    edges = _parse_edges(raw_edges, {n.id for n in nodes}, problems)
    problems.extend(_structure_problems(nodes, edges))
    return problems


def load_v1_workflow(raw: Any) -> V1Workflow:
    """A validated V1 workflow, or :class:`LegacyWorkflowError` listing every problem."""
    problems = validate_v1_workflow(raw)
    if problems:
        raise LegacyWorkflowError(problems)
    return V1Workflow.model_validate(raw)


def execution_order(workflow: V1Workflow) -> list[V1NodeModel]:
    """The order the legacy engine ran nodes in: topological, ties by position in ``nodes``.

    V1 nodes share one context, so the order fully defines a run; both the adapter and the
    converter use this one function so they cannot disagree.
    """
    pos = {n.id: i for i, n in enumerate(workflow.nodes)}
    indegree = {n.id: 0 for n in workflow.nodes}
    succ: dict[str, list[str]] = defaultdict(list)
    for e in {(e.source, e.target) for e in workflow.edges}:
        succ[e[0]].append(e[1])
        indegree[e[1]] += 1
    ready = [(pos[i], i) for i, d in indegree.items() if d == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, current = heapq.heappop(ready)
        order.append(current)
        for nxt in succ[current]:
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                heapq.heappush(ready, (pos[nxt], nxt))
    if len(order) != len(workflow.nodes):
        raise LegacyWorkflowError([V1Problem("cycle", "the workflow has a cycle", "edges")])
    return [workflow.nodes[pos[i]] for i in order]


def typed_data(node: V1NodeModel) -> BaseModel:
    """A node's ``data`` parsed with its type's model (the node must be validated already)."""
    model = data_model_for(node.type)
    if model is None:
        raise LegacyWorkflowError(
            [V1Problem("unknown_node_type", f"unknown node type {node.type!r}", node_id=node.id)]
        )
    return model.model_validate(node.data)
