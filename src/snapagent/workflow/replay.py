"""Debugging runs: replaying recorded outcomes, and running one node of a plan on its own.

Replay (rerun from a node): the nodes upstream of the chosen node do not run again - each
stands in with its recorded outcome (`ReplayedNode`: outputs and branch, or the recorded
failure, which the node's error strategy then handles as if it had just happened); the chosen
node and everything else run as usual. Outcomes spread exactly as in a normal run, so a
recorded branch skips what it skipped then::

    upstream = upstream_of(plan, "llm")                       # {"start", "kb"}
    replay = {node_id: ReplayedNode(outputs=recorded[node_id]) for node_id in upstream}
    result = await executor.start(plan, inputs, sys, replay=replay).result()
    result.nodes["kb"].replayed                               # True

One node alone: `isolate_node` makes a one-node plan of any node - at the top level or inside
an iteration/loop body (node ids are unique in the whole document, bodies included) - whose
input ports read the values given to the run under `GIVEN_INPUTS`::

    single = isolate_node(plan, "summarise", ports=["text"])
    run = executor.start(single, {}, sys, links={GIVEN_INPUTS: {"text": "..."}})

A container run alone runs its body as usual; body nodes that read nodes outside the container
find what ``links`` provides (the outputs recorded by a past run), else fail as missing values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from snapagent.errors import NodeExecutionError
from snapagent.workflow.plan import ExecutionPlan, PlanNode
from snapagent.workflow.subgraph import SubgraphNode

__all__ = [
    "GIVEN_INPUTS",
    "ReplayedFailure",
    "ReplayedNode",
    "find_node",
    "isolate_node",
    "upstream_of",
]

GIVEN_INPUTS = "\x00given"
"""The id under which an isolated node's input values are linked into its run's pool."""


@dataclass(frozen=True, slots=True)
class ReplayedNode:
    """A recorded outcome standing in for running a node: its outputs and the branch it took,
    or (``error`` set) the failure it ended with."""

    outputs: Mapping[str, Any]
    branch: str | None = None
    error: str | None = None


class ReplayedFailure(NodeExecutionError):
    """A node's recorded failure, replayed (its error strategy applies as it did then)."""


def _walk(plan: ExecutionPlan, path: tuple[str, ...]) -> Iterator[tuple[PlanNode, tuple[str, ...]]]:
    for pn in plan.nodes:
        yield pn, path
        node = pn.node
        if isinstance(node, SubgraphNode) and node.body_plan is not None:
            yield from _walk(node.body_plan, (*path, pn.node_id))


def find_node(plan: ExecutionPlan, node_id: str) -> tuple[PlanNode, tuple[str, ...]] | None:
    """The node ``node_id`` of the plan and the containers around it (outermost first; empty
    at the top level), or None when no node of the document has that id."""
    index = plan.index_of.get(node_id)
    if index is not None:
        return plan.nodes[index], ()
    for pn, path in _walk(plan, ()):
        if pn.node_id == node_id:
            return pn, path
    return None


def upstream_of(plan: ExecutionPlan, node_id: str) -> set[str]:
    """Every top-level node ``node_id`` waits for, directly or not: edges (data and control),
    selectors (a container's include what its body reads), answer order. Raises KeyError for
    a node that is not at the top level of ``plan``."""
    target = plan.index_of[node_id]
    parents: list[list[int]] = [[] for _ in plan.nodes]
    for pn in plan.nodes:
        followers = (
            *(edge[0] for edge in pn.out_edges),
            *pn.selector_dependents,
            *pn.order_dependents,
        )
        for follower in followers:
            parents[follower].append(pn.index)
    seen: set[int] = set()
    stack = list(parents[target])
    while stack:
        index = stack.pop()
        if index not in seen:
            seen.add(index)
            stack.extend(parents[index])
    return {plan.nodes[i].node_id for i in seen}


def isolate_node(plan: ExecutionPlan, node_id: str, ports: Iterable[str]) -> ExecutionPlan:
    """A plan of the one node ``node_id`` whose input ``ports`` read the values linked under
    `GIVEN_INPUTS` (ports left out take their defaults, or fail the run when required).
    Raises KeyError when the document has no such node."""
    found = find_node(plan, node_id)
    if found is None:
        raise KeyError(node_id)
    pn = found[0]
    alone = dataclasses.replace(
        pn,
        index=0,
        mappings=tuple((port, GIVEN_INPUTS, port, ()) for port in ports),
        out_edges=(),
        selector_dependents=(),
        order_dependents=(),
        dependency_count=0,
        gated_by_selectors=True,
    )
    # The document's graph stays: its conversation variables are the run's.
    return ExecutionPlan(plan.graph, (alone,), 0, {node_id: 0}, frozenset(), (0,))
