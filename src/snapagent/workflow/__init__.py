"""The V2 workflow engine: a pure library (no web framework, database or provider SDK).

    from snapagent.nodes import default_registry
    from snapagent.workflow import WorkflowExecutorV2, WorkflowGraph

    graph = WorkflowGraph.from_json(json.loads(path.read_text()))
    executor = WorkflowExecutorV2(default_registry(), services)
    result = await executor.run(graph, {"query": "hi"}, {"bot_id": "b1"})

See docs/workflow.md for the graph format, node types, error strategies, events and limits.
"""

from __future__ import annotations

from snapagent.errors import GraphValidationError
from snapagent.workflow.cancel_signal import CancelSignal
from snapagent.workflow.events import (
    NodeRunCancelled,
    NodeRunFailed,
    NodeRunRetrying,
    NodeRunSkipped,
    NodeRunStarted,
    NodeRunSucceeded,
    RunFinished,
    RunStarted,
    TextChunk,
    WorkflowEvent,
)
from snapagent.workflow.executor import WorkflowExecutorV2
from snapagent.workflow.handle import RunEnd, RunObserver, WorkflowRun
from snapagent.workflow.node import (
    BaseNodeV2,
    NodeRegistryV2,
    NodeResult,
    ResourceRef,
    RunContext,
)
from snapagent.workflow.plan import ExecutionPlan, compile_plan
from snapagent.workflow.pool import VariablePool
from snapagent.workflow.result import (
    NodeRunResult,
    NodeStatus,
    RunError,
    RunLimits,
    RunStatus,
    WorkflowRunResult,
)
from snapagent.workflow.schema import (
    ErrorStrategy,
    NodePortSchema,
    PortDefinition,
    RetryPolicy,
    ValueSelector,
    VariableMapping,
    WorkflowEdge,
    WorkflowGraph,
    WorkflowNode,
)
from snapagent.workflow.services import ServiceContainer
from snapagent.workflow.subgraph import SubgraphNode
from snapagent.workflow.types import PortType, fits
from snapagent.workflow.validation import ValidationProblem, validate_graph

__all__ = [
    "BaseNodeV2",
    "CancelSignal",
    "ErrorStrategy",
    "ExecutionPlan",
    "GraphValidationError",
    "NodePortSchema",
    "NodeRegistryV2",
    "NodeResult",
    "NodeRunCancelled",
    "NodeRunFailed",
    "NodeRunResult",
    "NodeRunRetrying",
    "NodeRunSkipped",
    "NodeRunStarted",
    "NodeRunSucceeded",
    "NodeStatus",
    "PortDefinition",
    "PortType",
    "ResourceRef",
    "RetryPolicy",
    "RunContext",
    "RunEnd",
    "RunError",
    "RunFinished",
    "RunLimits",
    "RunObserver",
    "RunStarted",
    "RunStatus",
    "ServiceContainer",
    "SubgraphNode",
    "TextChunk",
    "ValidationProblem",
    "ValueSelector",
    "VariableMapping",
    "VariablePool",
    "WorkflowEdge",
    "WorkflowEvent",
    "WorkflowExecutorV2",
    "WorkflowGraph",
    "WorkflowNode",
    "WorkflowRun",
    "WorkflowRunResult",
    "compile_plan",
    "fits",
    "validate_graph",
]
