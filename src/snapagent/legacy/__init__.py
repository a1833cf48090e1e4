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
    "V1EdgeModel",
    "V1KnowledgeData",
    "V1LLMData",
    "V1NodeModel",
    "V1Problem",
    "V1Workflow",
    "execution_order",
    "load_v1_workflow",
    "validate_v1_workflow",
]
