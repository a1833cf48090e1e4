"""Answer nodes speak in graph order: which waits for which, and whose text reaches the chat.

Nodes whose class sets ``streams_answer = True`` (the ``answer`` node) stream text to the
chat. Two of them on parallel branches would interleave, so each one also waits - without
being gated - until the previous one in graph order has finished or been skipped: "previous" is
by dependencies first (an upstream answer node always speaks first), then by position in the
graph's node list. When a graph has answer nodes, they alone stream: an LLM node feeding one
would otherwise send the same text twice.

    pairs = answer_order(analysis)      # [(earlier index, later index), ...]
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

from snapagent.workflow.graph_checks import descendants

if TYPE_CHECKING:
    from snapagent.workflow.validation import GraphAnalysis

__all__ = ["answer_nodes", "answer_order"]


def answer_nodes(a: GraphAnalysis) -> list[str]:
    """Ids of the answer-streaming nodes, in node-list order."""
    return [
        node.id
        for node in a.graph.nodes
        if getattr(a.instances.get(node.id), "streams_answer", False)
    ]


def answer_order(a: GraphAnalysis, deps: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Consecutive pairs of answer nodes in speaking order (``deps``: node -> what it waits
    on). Adding ``earlier -> later`` never makes a cycle: a later node is never upstream of
    an earlier one."""
    pending = answer_nodes(a)
    if len(pending) < 2:
        return []
    downstream = {node: descendants(deps, node) for node in pending}
    ordered: list[str] = []
    while pending:
        # The first in list order that no other pending answer node must precede.
        first = next(n for n in pending if not any(n in downstream[m] for m in pending if m != n))
        ordered.append(first)
        pending.remove(first)
    return list(itertools.pairwise(ordered))
