"""Legacy (V1) workflows: the port-less format, its validation, the V1 -> V2 converter and
`NodeAdapter`, which runs V1 nodes inside `WorkflowExecutorV2`.

    >>> from snapagent.legacy import load_v1_workflow
    >>> wf = load_v1_workflow({
    ...     "nodes": [{"id": "s", "type": "start"}, {"id": "l", "type": "llm"},
    ...               {"id": "e", "type": "end"}],
    ...     "edges": [{"source": "s", "target": "l"}, {"source": "l", "target": "e"}]})
    >>> len(wf.nodes)
    3
"""

from __future__ import annotations

from snapagent.legacy.adapter import NodeAdapter, legacy_registry, prepare_v1_run
from snapagent.legacy.converter import convert_v1_to_v2, convert_v1_to_v2_json
from snapagent.legacy.schema import (
    V1_NODE_TYPES,
    V1EdgeModel,
    V1KnowledgeData,
    V1LLMData,
    V1NodeModel,
    V1Workflow,
)
from snapagent.legacy.validation import (
    LegacyWorkflowError,
    V1Problem,
    execution_order,
    load_v1_workflow,
    validate_v1_workflow,
)

__all__ = [
    "V1_NODE_TYPES",
    "LegacyWorkflowError",
    "NodeAdapter",
    "V1EdgeModel",
    "V1KnowledgeData",
    "V1LLMData",
    "V1NodeModel",
    "V1Problem",
    "V1Workflow",
    "convert_v1_to_v2",
    "convert_v1_to_v2_json",
    "execution_order",
    "legacy_registry",
    "load_v1_workflow",
    "prepare_v1_run",
    "validate_v1_workflow",
]
