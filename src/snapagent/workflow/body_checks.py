"""Validation of a container's body (see `snapagent.workflow.subgraph`): depth, scope, paths.

    problems = analyse_body(container, registry, "nodes[3]", Surroundings(...))
    # [ValidationProblem(path="nodes[3].config.graph.nodes[1].config.prompt", ...)]

The body is analysed like any graph (`analyse_graph` with a `Scope`); its problems come back
with the container's path in front, so they point into the graph the user edits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snapagent.workflow.conversation import ConversationVariable
from snapagent.workflow.schema import NodePortSchema
from snapagent.workflow.subgraph import Scope, SubgraphNode

if TYPE_CHECKING:
    from snapagent.workflow.node import NodeRegistryV2
    from snapagent.workflow.validation import ValidationProblem

__all__ = ["Surroundings", "analyse_body"]


@dataclass(frozen=True, slots=True)
class Surroundings:
    """What is visible around a container: node ports by id, ids in use, nesting depth."""

    outer: Mapping[str, NodePortSchema]
    ids: frozenset[str]
    depth: int = 0
    open: bool = False
    conversation: Mapping[str, ConversationVariable] = field(default_factory=dict)

    @classmethod
    def unknown(cls) -> Surroundings:
        """No graph around (describing a config on its own): outside reads are accepted."""
        return cls({}, frozenset(), 0, True)


def analyse_body(
    container: SubgraphNode[Any],
    registry: NodeRegistryV2,
    path: str,
    around: Surroundings,
) -> list[ValidationProblem]:
    """Analyse ``container``'s body, attach what was learned, return its problems."""
    from snapagent.workflow.validation import ValidationProblem, analyse_graph

    body_path = f"{path}.config.{container.body_field}"
    depth = around.depth + 1
    limit = container.max_depth()
    if depth > limit:  # refused before recursing: a hostile graph cannot nest us to death
        message = (
            f"node {container.node_id!r}: sub-graphs nest at most {limit} deep; this one "
            f"would be {depth} deep"
        )
        return [ValidationProblem("nesting_too_deep", message, container.node_id, None, body_path)]
    scope = Scope(
        container_id=container.node_id,
        ports=NodePortSchema(outputs=container.scope_ports()),
        outer=around.outer,
        outer_ids=around.ids,
        depth=depth,
        open=around.open,
        conversation=around.conversation,
    )
    analysis = analyse_graph(container.body_graph(), registry, scope=scope)
    container.attach_analysis(analysis)
    return [
        ValidationProblem(
            p.code,
            p.message,
            p.node_id,
            None,  # an edge index would point into the outer graph's edges
            f"{body_path}.{p.path}" if p.path else body_path,
        )
        for p in analysis.problems
    ]
