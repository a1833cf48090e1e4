"""What the container nodes (``iteration``, ``loop``) share: reading a value out of a body
run, turning a failed body run into the container's failure, and checking what a config's
selectors name inside the body.
"""

from __future__ import annotations

from typing import Any

from snapagent.errors import DefinitionError, NodeExecutionError, RunLimitError
from snapagent.workflow.result import RunStatus, WorkflowRunResult
from snapagent.workflow.schema import PortDefinition, ValueSelector
from snapagent.workflow.subgraph import SubgraphNode

__all__ = ["body_failure", "body_output_port", "body_value"]


def body_value(result: WorkflowRunResult, selector: ValueSelector) -> Any:
    """The value at ``selector`` after a body run; None when that node produced nothing (a
    branch not taken) or the path does not exist."""
    record = result.nodes.get(selector.node_id)
    if record is None or selector.port not in record.outputs:
        return None
    value: Any = record.outputs[selector.port]
    for step in selector.path:
        try:
            value = value[step]
        except (KeyError, IndexError, TypeError):
            return None
    return value


def body_failure(container: str, what: str, result: WorkflowRunResult) -> Exception | None:
    """The container's error for a body run that did not succeed (None if it did). Run
    limits stay run limits: they stop the whole run, whatever the container's strategy."""
    if result.status is RunStatus.SUCCEEDED:
        return None
    error = result.error
    message = error.message if error is not None else result.status.value
    if error is not None and error.type == "RunLimitError":
        return RunLimitError(message)
    where = f" at node {error.node_id!r}" if error is not None and error.node_id else ""
    return NodeExecutionError(
        f"node {container!r}: {what} {result.status.value}{where}: {message}",
        node_id=container,
        details={"error": error.to_dict() if error is not None else None},
    )


def body_output_port(
    container: SubgraphNode[Any], field: str, selector: ValueSelector
) -> PortDefinition:
    """The body port a config selector (``config.<field>``) names; `DefinitionError` naming the
    field when the body has no such node or port. A node of the body whose own config is
    invalid has no known ports: its values count as ``any`` (its problem is reported)."""
    where = {"path": f"config.{field}"}
    ids = {node.id for node in container.body_graph().nodes}
    if selector.node_id not in ids:
        raise DefinitionError(
            f"config.{field}: {selector} names no node of the sub-graph "
            f"(its nodes: {', '.join(sorted(ids)) or 'none'})",
            details=where,
        )
    port = container.body_port(selector)
    analysis = container.body_analysis
    schema = analysis.schemas.get(selector.node_id) if analysis is not None else None
    if port is None and schema is not None:
        raise DefinitionError(
            f"config.{field}: node {selector.node_id!r} has no output {selector.port!r}; its "
            f"outputs: {schema.describe_outputs()}",
            details=where,
        )
    return port or PortDefinition(name=selector.port)
