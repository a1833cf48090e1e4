"""Small graph algorithms over a dependency map ``{node: {nodes it depends on}}``.

deps = {"a": set(), "b": {"a"}, "c": {"b"}}
topological_order(deps)               # ["a", "b", "c"]
reaches(deps, source="a", target="c")  # True
"""

from __future__ import annotations

from collections.abc import Mapping, Set

__all__ = ["descendants", "find_cycles", "reaches", "topological_order"]

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


def reaches(deps: Deps, *, source: str, target: str) -> bool:
    return target in descendants(deps, source)


def topological_order(deps: Deps) -> list[str]:
    """Dependencies first; ties in sorted order so the result is deterministic."""
    remaining = {node: len(d) for node, d in deps.items()}
    succ = _successors(deps)
    ready = sorted(node for node, n in remaining.items() if n == 0)
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for nxt in succ.get(node, ()):
            remaining[nxt] -= 1
            if remaining[nxt] == 0:
                ready.append(nxt)
    return order


def find_cycles(deps: Deps) -> list[list[str]]:
    """One cycle (as a node path in edge direction) per distinct set of nodes on a cycle."""
    succ = _successors(deps)
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = finished
    found: list[list[str]] = []
    seen_sets: set[frozenset[str]] = set()
    for root in sorted(succ):
        if root in state:
            continue
        path: list[str] = [root]
        iters = [iter(succ[root])]
        state[root] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
                continue
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                key = frozenset(cycle)
                if key not in seen_sets:
                    seen_sets.add(key)
                    found.append(cycle)
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(succ.get(nxt, ())))
    return found
