"""Which edges into one input port may both carry a value in the same run.

Two edges into one port are fine only when one branch node sends them down different ports
(an if/else's ``true`` and ``false``, a ``fail_branch`` node's ``fail`` and success paths).
A *decision* is one branch port of one node; the decisions that must have been taken for an
edge to carry a value are the decisions that **dominate** it: put a decision vertex on every
edge that leaves through a branch port, and the decisions an edge depends on are the decision
vertices on its path to the root in the dominator tree. Two edges are exclusive exactly when
their lowest common dominator is a branch node and they leave it through different decision
vertices.

On a DAG the immediate dominator of a vertex is the lowest common ancestor of its
predecessors, so the tree is built in one pass in topological order (lowest common ancestors by
binary lifting, ``O(log n)`` each). A set of edges is pairwise exclusive exactly when every two
edges that are *adjacent in the tree's preorder* are (a subtree is a contiguous preorder range),
so each port costs a sort, not a comparison of every pair: validation stays ``O(n log n)``.
"""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING

from snapagent.workflow.schema import WorkflowEdge

if TYPE_CHECKING:
    from snapagent.workflow.validation import GraphAnalysis

__all__ = ["ERROR_OUTPUT_PORT", "FAIL_BRANCH_PORT", "check_exclusive_bindings", "decision_label"]

FAIL_BRANCH_PORT = "fail"
ERROR_OUTPUT_PORT = "error"
_ROOT = 0


def decision_label(a: GraphAnalysis, edge: WorkflowEdge) -> str | None:
    """The branch port of its source that ``edge`` leaves through (None: no decision)."""
    schema = a.schemas.get(edge.source)
    if schema is None:
        return None
    port = edge.source_port
    if port is not None and port in schema.branches:
        return port
    if FAIL_BRANCH_PORT in schema.branches:
        return FAIL_BRANCH_PORT if port == ERROR_OUTPUT_PORT else "ok"
    return None


class _DominatorTree:
    """Vertices are ints (0 is a virtual root above every node without incoming edges);
    ``capacity`` bounds how many vertices will be added (it sizes the lifting tables)."""

    def __init__(self, capacity: int) -> None:
        self.levels = max(1, capacity.bit_length())
        self.depth = [0]
        self.up: list[list[int]] = [[_ROOT] * self.levels]  # up[v][k]: 2**k-th ancestor
        self.is_decision = [False]
        self.children: list[list[int]] = [[]]

    def add(self, parent: int, *, decision: bool = False) -> int:
        vertex = len(self.depth)
        up = [parent]
        for k in range(1, self.levels):
            up.append(self.up[up[k - 1]][k - 1])
        self.up.append(up)
        self.depth.append(self.depth[parent] + 1)
        self.is_decision.append(decision)
        self.children.append([])
        self.children[parent].append(vertex)
        return vertex

    def lift(self, vertex: int, steps: int) -> int:
        k = 0
        while steps:
            if steps & 1:
                vertex = self.up[vertex][k]
            steps >>= 1
            k += 1
        return vertex

    def lca(self, u: int, v: int) -> int:
        if self.depth[u] < self.depth[v]:
            u, v = v, u
        u = self.lift(u, self.depth[u] - self.depth[v])
        if u == v:
            return u
        for k in range(self.levels - 1, -1, -1):
            if self.up[u][k] != self.up[v][k]:
                u, v = self.up[u][k], self.up[v][k]
        return self.up[u][0]

    def preorder(self) -> list[int]:
        position = [0] * len(self.depth)
        stack, counter = [_ROOT], 0
        while stack:
            vertex = stack.pop()
            position[vertex] = counter
            counter += 1
            stack.extend(reversed(self.children[vertex]))
        return position

    def exclusive(self, u: int, v: int) -> bool:
        """Both leave their lowest common dominator through different decision vertices."""
        if u == v:
            return False
        common = self.lca(u, v)
        if common in (u, v):
            return False
        below_u = self.lift(u, self.depth[u] - self.depth[common] - 1)
        below_v = self.lift(v, self.depth[v] - self.depth[common] - 1)
        return self.is_decision[below_u] and self.is_decision[below_v]


def _edge_vertices(a: GraphAnalysis) -> tuple[_DominatorTree, list[int]]:
    """The dominator tree and, per edge of the graph, the vertex it carries a value from."""
    tree = _DominatorTree(len(a.order) + len(a.graph.edges) + 1)
    vertex_of: dict[str, int] = {}
    decisions: dict[tuple[str, str], int] = {}
    into: dict[str, list[int]] = {}
    for j, edge in enumerate(a.graph.edges):
        into.setdefault(edge.target, []).append(j)
    edge_vertex = [_ROOT] * len(a.graph.edges)

    def source_vertex(j: int) -> int:
        edge = a.graph.edges[j]
        source = vertex_of.get(edge.source)
        if source is None:  # an unknown node or one not ordered yet: nothing is decided
            return _ROOT
        label = decision_label(a, edge)
        if label is None:
            return source
        key = (edge.source, label)
        if key not in decisions:
            decisions[key] = tree.add(source, decision=True)
        return decisions[key]

    for node_id in a.order:  # topological: every edge's source comes before its target
        incoming = [source_vertex(j) for j in into.get(node_id, ())]
        dominator = incoming[0] if incoming else _ROOT
        for vertex in incoming[1:]:
            dominator = tree.lca(dominator, vertex)
        vertex_of[node_id] = tree.add(dominator)
    for j in range(len(a.graph.edges)):
        edge_vertex[j] = source_vertex(j)
    return tree, edge_vertex


def check_exclusive_bindings(a: GraphAnalysis) -> None:
    """Two edges into one port are fine only behind different ports of one branch node."""
    by_port: dict[tuple[str, str], list[int]] = {}
    for j, edge in enumerate(a.graph.edges):
        if edge.target_port is not None:
            by_port.setdefault((edge.target, edge.target_port), []).append(j)
    if all(len(edges) < 2 for edges in by_port.values()):
        return
    tree, vertex = _edge_vertices(a)
    position = tree.preorder()
    for (target, port), edges in by_port.items():
        ranked = sorted(edges, key=lambda j: (position[vertex[j]], j))
        conflicts = sorted(
            (min(j1, j2), max(j1, j2))
            for j1, j2 in pairwise(ranked)
            if not tree.exclusive(vertex[j1], vertex[j2])
        )
        for j1, j2 in conflicts:
            e1, e2 = a.graph.edges[j1], a.graph.edges[j2]
            a.add(
                "conflicting_inputs",
                f"input {target}.{port} gets values from {e1.describe()} (edge {j1}) "
                f"and {e2.describe()} (edge {j2}), which can both run; connect one, or "
                "put them behind different ports of one branch node",
                node_id=target,
                edge_index=j2,
                path=f"edges[{j2}]",
            )
