"""Structural diff of two workflow graphs (the JSON of ARCHITECTURE.md).

Nodes are matched by id: a node in only one graph is added or removed; a node in both is
changed when any of its fields differs, and each difference is reported with its dotted path
(``config.prompt``, ``inputs.query.selector``, ``title``) and both values. Edges have no id, so
an edge is its ``(source, source_port, target, target_port)``: rewiring shows as one edge
removed and one added.

    diff = diff_graphs(old_graph, new_graph)
    diff.nodes_added            # ["kb2"]
    diff.nodes_changed[0].changes[0].field   # "config.top_k"
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EdgeKey", "FieldChange", "GraphDiff", "NodeChange", "diff_graphs"]

_MISSING = object()


@dataclass(frozen=True, slots=True)
class EdgeKey:
    source: str
    target: str
    source_port: str | None = None
    target_port: str | None = None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field that differs; ``before``/``after`` are None when the field is absent."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class NodeChange:
    node_id: str
    changes: list[FieldChange]

    @property
    def changed_fields(self) -> list[str]:
        return [c.field for c in self.changes]


@dataclass(frozen=True, slots=True)
class GraphDiff:
    """What changed from one graph to another; ``is_empty`` when they are the same."""

    nodes_added: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    nodes_changed: list[NodeChange] = field(default_factory=list)
    edges_added: list[EdgeKey] = field(default_factory=list)
    edges_removed: list[EdgeKey] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.nodes_added
            or self.nodes_removed
            or self.nodes_changed
            or self.edges_added
            or self.edges_removed
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes_added": list(self.nodes_added),
            "nodes_removed": list(self.nodes_removed),
            "nodes_changed": [
                {
                    "node_id": n.node_id,
                    "changed_fields": n.changed_fields,
                    "changes": [asdict(c) for c in n.changes],
                }
                for n in self.nodes_changed
            ],
            "edges_added": [asdict(e) for e in self.edges_added],
            "edges_removed": [asdict(e) for e in self.edges_removed],
        }


def _nodes_by_id(graph: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    nodes = graph.get("nodes") or []
    return {
        str(n["id"]): n for n in nodes if isinstance(n, Mapping) and isinstance(n.get("id"), str)
    }


def _edge_key(edge: Mapping[str, Any]) -> EdgeKey:
    return EdgeKey(
        source=str(edge.get("source", "")),
        target=str(edge.get("target", "")),
        source_port=edge.get("source_port"),
        target_port=edge.get("target_port"),
    )


def _field_changes(before: Any, after: Any, prefix: str) -> list[FieldChange]:
    """Differences between two JSON values; objects are descended into key by key.

    An object that appears or disappears is descended into as well, so each of its leaves is
    reported (``inputs.history.selector``) rather than the whole object at once.
    """
    old = {} if before is _MISSING and isinstance(after, Mapping) and after else before
    new = {} if after is _MISSING and isinstance(before, Mapping) and before else after
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[FieldChange] = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{prefix}.{key}" if prefix else str(key)
            changes.extend(_field_changes(old.get(key, _MISSING), new.get(key, _MISSING), sub))
        return changes
    if before == after:
        return []
    return [
        FieldChange(
            field=prefix,
            before=None if before is _MISSING else before,
            after=None if after is _MISSING else after,
        )
    ]


def _multiset_difference(left: list[EdgeKey], right: list[EdgeKey]) -> list[EdgeKey]:
    remaining = Counter(right)
    out = []
    for edge in left:
        if remaining[edge]:
            remaining[edge] -= 1
        else:
            out.append(edge)
    return out


def diff_graphs(before: Mapping[str, Any], after: Mapping[str, Any]) -> GraphDiff:
    """The structural difference from ``before`` to ``after`` (both graph JSON objects).

    >>> a = {"nodes": [{"id": "s", "type": "start"}], "edges": []}
    >>> b = {"nodes": [{"id": "s", "type": "start", "title": "Go"}], "edges": []}
    >>> diff_graphs(a, b).nodes_changed[0].changed_fields
    ['title']
    """
    old_nodes, new_nodes = _nodes_by_id(before), _nodes_by_id(after)
    changed = []
    for node_id in old_nodes.keys() & new_nodes.keys():
        changes = _field_changes(old_nodes[node_id], new_nodes[node_id], "")
        if changes:
            changed.append(NodeChange(node_id=node_id, changes=changes))
    old_edges = [_edge_key(e) for e in before.get("edges") or [] if isinstance(e, Mapping)]
    new_edges = [_edge_key(e) for e in after.get("edges") or [] if isinstance(e, Mapping)]
    return GraphDiff(
        nodes_added=[n for n in new_nodes if n not in old_nodes],
        nodes_removed=[n for n in old_nodes if n not in new_nodes],
        nodes_changed=sorted(changed, key=lambda c: c.node_id),
        edges_added=_multiset_difference(new_edges, old_edges),
        edges_removed=_multiset_difference(old_edges, new_edges),
    )
