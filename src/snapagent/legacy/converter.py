"""The V1 -> V2 converter: the implicit context becomes explicit ports and variable mappings.

    >>> from snapagent.legacy.samples import rag_workflow
    >>> graph = convert_v1_to_v2_json(rag_workflow(kb_ids=["kb1"], top_k=3))
    >>> [(e["source"], e["source_port"], e["target"], e["target_port"]) for e in graph["edges"]]
    ... # doctest: +NORMALIZE_WHITESPACE
    [('n1', 'query', 'n2', 'query'), ('n2', 'documents', 'n3', 'context'),
     ('n3', 'text', 'n4', 'answer')]
    >>> graph["nodes"][2]["inputs"]
    {'query': {'selector': ['n1', 'query']}, 'history': {'selector': ['n1', 'history']}}

Rules (deterministic: the same V1 graph always gives the same V2 JSON):

- Node ids, order, prompts, models, temperature, knowledge base ids and top_k are kept; the V2
  ``config`` comes from :func:`snapagent.legacy.semantics.v2_config`.
- Nodes are walked in the legacy execution order. Each context key a node reads comes from the
  node that last wrote it: through an edge when that writer is the node's V1 predecessor,
  otherwise through a ``VariableMapping`` selector (``inputs``). Both are dependencies for the
  V2 engine, so the V1 ordering holds.
- A V1 edge that carries no value stays as a control edge (no ports), so ordering is never lost.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from snapagent.errors import GraphValidationError
from snapagent.legacy.schema import V1NodeModel, V1Workflow
from snapagent.legacy.semantics import input_port, reads, v2_config, writes
from snapagent.legacy.validation import execution_order, load_v1_workflow
from snapagent.workflow import NodeRegistryV2, WorkflowGraph, validate_graph

__all__ = ["convert_v1_to_v2", "convert_v1_to_v2_json", "validated_v2_graph"]

_TITLES = {"start": "Start", "knowledge": "Knowledge", "llm": "LLM", "end": "End"}


def _as_workflow(v1: V1Workflow | Mapping[str, Any]) -> V1Workflow:
    return v1 if isinstance(v1, V1Workflow) else load_v1_workflow(v1)


def _title(node: V1NodeModel) -> str:
    extra = node.model_extra or {}
    for key in ("title", "label", "name"):
        value = extra.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return _TITLES.get(node.type, node.type)


def convert_v1_to_v2_json(v1: V1Workflow | Mapping[str, Any]) -> dict[str, Any]:
    """The V2 graph JSON (ARCHITECTURE.md format) equivalent to a V1 graph.

    A raw mapping is validated first (:class:`LegacyWorkflowError` lists every problem).
    """
    workflow = _as_workflow(v1)
    predecessors: dict[str, list[str]] = defaultdict(list)
    for edge in workflow.edges:
        if edge.source not in predecessors[edge.target]:
            predecessors[edge.target].append(edge.source)

    last_writer: dict[str, tuple[str, str]] = {}
    converted: dict[str, dict[str, Any]] = {}
    edges: list[dict[str, Any]] = []
    for node in execution_order(workflow):
        v2_node: dict[str, Any] = {
            "id": node.id,
            "type": node.type,
            "title": _title(node),
            "config": v2_config(node, has_context="context" in last_writer),
        }
        inputs: dict[str, Any] = {}
        fed_by: set[str] = set()
        for key in reads(node.type):
            if key not in last_writer:
                continue  # `context` is optional: no knowledge node ran before this one
            writer, port = last_writer[key]
            target_port = input_port(node.type, key)
            if writer in predecessors[node.id]:
                edges.append(
                    {
                        "source": writer,
                        "source_port": port,
                        "target": node.id,
                        "target_port": target_port,
                    }
                )
                fed_by.add(writer)
            else:
                inputs[target_port] = {"selector": [writer, port]}
        for pred in predecessors[node.id]:
            if pred not in fed_by:
                edges.append({"source": pred, "target": node.id})
        if inputs:
            v2_node["inputs"] = inputs
        converted[node.id] = v2_node
        for key, port in writes(node.type).items():
            last_writer[key] = (node.id, port)

    return {"nodes": [converted[n.id] for n in workflow.nodes], "edges": edges}


def convert_v1_to_v2(v1: V1Workflow | Mapping[str, Any]) -> WorkflowGraph:
    """The V2 :class:`~snapagent.workflow.WorkflowGraph` equivalent to a V1 graph."""
    return WorkflowGraph.model_validate(convert_v1_to_v2_json(v1))


def validated_v2_graph(
    v1: V1Workflow | Mapping[str, Any], registry: NodeRegistryV2 | None = None
) -> WorkflowGraph:
    """Convert, then validate with the V2 engine: :class:`GraphValidationError` carries the
    engine's own problems (a V1 graph V2 cannot express, such as a prompt over its limit)."""
    from snapagent.nodes import default_registry

    graph = convert_v1_to_v2(v1)
    problems = validate_graph(graph, registry or default_registry())
    if problems:
        raise GraphValidationError(list(problems))
    return graph
