"""Small graph algorithms over a dependency map ``{node: {nodes it depends on}}``, each linear
(or ``n log n``) in nodes plus dependencies, so validating a big graph stays fast.

deps = {"a": set(), "b": {"a"}, "c": {"b"}}
topological_order(deps)               # ["a", "b", "c"]
descendants(deps, "a")                # {"b", "c"}
find_cycles({"a": {"b"}, "b": {"a"}})  # [["a", "b"]]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Set

__all__ = ["cyclic_components", "descendants", "find_cycles", "topological_order"]

Deps = Mapping[str, Set[str]]


def _successors(deps: Deps) -> dict[str, list[str]]:
    succ: dict[str, list[str]] = {node: [] for node in deps}
    for node in sorted(deps):
        for dep in sorted(deps[node]):
            succ.setdefault(dep, []).append(node)
    return succ


def descendants(deps: Deps, source: str) -> set[str]:
    """Every node reachable from ``source`` (not including it unless on a cycle)."""
    succ = _successors(deps)
    seen: set[str] = set()
    stack = list(succ.get(source, ()))
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(succ.get(node, ()))
    return seen


def topological_order(deps: Deps) -> list[str]:
    """Dependencies first; ties in sorted order so the result is deterministic."""
    remaining = {node: len(d) for node, d in deps.items()}
    succ = _successors(deps)
    ready = deque(sorted(node for node, n in remaining.items() if n == 0))
    order: list[str] = []
    while ready:
        node = ready.popleft()
        order.append(node)
        for nxt in succ.get(node, ()):
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                ready.append(nxt)
    return order


def cyclic_components(deps: Deps) -> dict[str, int]:
    """``{node: component number}`` for every node that lies on a cycle (Tarjan's strongly
    connected components, iterative: a long chain cannot exhaust the recursion limit)."""
    succ = _successors(deps)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: dict[str, int] = {}
    components = 0
    for root in sorted(succ):
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(succ[root]))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(succ.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] != index[node]:
                continue
            members = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                members.append(member)
                if member == node:
                    break
            if len(members) > 1 or node in deps.get(node, ()):
                for member in members:
                    found[member] = components
                components += 1
    return found


def find_cycles(deps: Deps) -> list[list[str]]:
    """One cycle (a node path in edge direction) per group of nodes that lie on cycles together,
    starting at the group's first node in sorted order; the shortest such cycle."""
    component = cyclic_components(deps)
    succ = _successors(deps)
    roots: dict[int, str] = {}
    for node in sorted(component):
        roots.setdefault(component[node], node)
    return [_shortest_cycle(succ, component, root) for root in roots.values()]


def _shortest_cycle(succ: dict[str, list[str]], component: dict[str, int], root: str) -> list[str]:
    """Breadth-first from ``root`` inside its component, back to ``root``."""
    group = component[root]
    parent: dict[str, str] = {}
    queue = deque([root])
    while queue:
        node = queue.popleft()
        for nxt in succ.get(node, ()):
            if nxt == root:
                path = [node]
                while path[-1] != root:
                    path.append(parent[path[-1]])
                return path[::-1]
            if nxt not in parent and component.get(nxt) == group:
                parent[nxt] = node
                queue.append(nxt)
    raise AssertionError(f"{root!r} is on a cycle but none was found")  # pragma: no cover
