"""Size limits of a graph document, checked on the raw JSON before anything else reads it.

Validation is ``O(n log n)`` in nodes plus edges, but ``n`` still has to be bounded for the
work per request to be bounded; and a deeply nested value (editor metadata, a config) must be
refused before pydantic or a JSON encoder recurses into it.

    problems = check_graph_size(raw_json, GraphLimits(max_nodes=1000))
    if problems:
        ...   # ``too_many_nodes``, ``too_many_edges``, ``too_deep``: nothing else was checked

The walk is iterative (no recursion to exhaust) and stops descending at the depth limit, so it
costs at most one step per JSON value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from snapagent.workflow.validation import ValidationProblem

__all__ = ["GraphLimits", "check_graph_size", "json_depth_problem"]


@dataclass(frozen=True, slots=True)
class GraphLimits:
    """How big a graph may be. Nodes and edges of sub-graphs (a container's body) count
    towards the same totals. ``max_depth`` counts JSON nesting from the graph object (1) down:
    ``{"nodes": [{"config": {"cases": [...]}}]}`` reaches 5 at the cases list."""

    max_nodes: int = 1_000
    max_edges: int = 5_000
    max_depth: int = 32


Trail = tuple[str | int, "Trail"] | None
"""Where a value sits, innermost key first (a linked list: O(1) per value walked)."""


def json_depth_problem(value: Any, max_depth: int) -> str | None:
    """The path of the first value nested deeper than ``max_depth`` levels, else None."""
    return _walk(value, max_depth)[0]


def _walk(value: Any, max_depth: int) -> tuple[str | None, dict[str, int]]:
    """The first too-deep path (or None), and how many items the lists under a ``nodes`` or
    ``edges`` key hold at any depth (sub-graphs of containers count too)."""
    counts = {"nodes": 0, "edges": 0}
    stack: list[tuple[Any, int, Trail]] = [(value, 1, None)]
    while stack:
        item, depth, trail = stack.pop()
        if isinstance(item, dict):
            children: Any = item.items()
        elif isinstance(item, list | tuple):
            children = enumerate(item)
            if trail is not None and trail[0] in counts:
                counts[str(trail[0])] += len(item)
        else:
            continue
        if depth > max_depth:
            return _path(trail), counts
        stack.extend((child, depth + 1, (key, trail)) for key, child in children)
    return None, counts


def _path(trail: Trail) -> str:
    parts: list[str] = []
    while trail is not None:
        key, trail = trail
        parts.append(f"[{key}]" if isinstance(key, int) else f".{str(key)[:40]}")
    return "".join(reversed(parts)).lstrip(".")


def check_graph_size(data: Any, limits: GraphLimits) -> list[ValidationProblem]:
    """Problems when ``data`` (a decoded graph document) is over a limit; empty otherwise."""
    if not isinstance(data, dict):
        return []  # not a graph at all: the schema check says so
    top = {key: len(data[key]) for key in ("nodes", "edges") if isinstance(data.get(key), list)}
    problems = _count_problems(top, limits, "")
    if problems:
        return problems  # too big to walk: the size alone is the answer
    deep, counts = _walk(data, limits.max_depth)
    if deep is None:
        return _count_problems(counts, limits, " in it and its sub-graphs")
    return [
        ValidationProblem(
            "too_deep",
            f"{deep} is nested more than {limits.max_depth} levels deep "
            "(graph, node config and editor metadata together)",
            node_id=_node_id_at(data, deep),
            path=deep,
        )
    ]


def _count_problems(
    counts: dict[str, int], limits: GraphLimits, scope: str
) -> list[ValidationProblem]:
    problems = []
    for key, limit, code in (
        ("nodes", limits.max_nodes, "too_many_nodes"),
        ("edges", limits.max_edges, "too_many_edges"),
    ):
        if counts.get(key, 0) > limit:
            message = f"the graph has {counts[key]} {key}{scope}; the limit is {limit}"
            problems.append(ValidationProblem(code, message, path=key))
    return problems


def _node_id_at(data: dict[str, Any], path: str) -> str | None:
    if not path.startswith("nodes["):
        return None
    index = int(path[len("nodes[") : path.index("]")])
    node = data["nodes"][index]
    node_id = node.get("id") if isinstance(node, dict) else None
    return node_id if isinstance(node_id, str) else None
