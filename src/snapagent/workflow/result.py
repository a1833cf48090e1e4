"""What a run returns (`WorkflowRunResult`, one `NodeRunResult` per node) and its limits.

result = await executor.run(graph, {"query": "hi"}, {"run_id": "r1"})
if result.status == "succeeded":
    print(result.outputs["answer"], result.usage.total_tokens)
for node in result.ordered_nodes():
    print(node.index, node.node_id, node.status, node.elapsed_s)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from snapagent.workflow.pool import DEFAULT_MAX_VALUE_BYTES
from snapagent.workflow.services import TokenUsage

__all__ = ["NodeRunResult", "NodeStatus", "RunError", "RunLimits", "RunStatus", "WorkflowRunResult"]


MAX_ERROR_MESSAGE = 4_000


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class NodeStatus(StrEnum):
    """A node's terminal state; every node of a finished run has exactly one."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    """Behind a branch not taken, or never reached because the run stopped."""
    CANCELLED = "cancelled"
    """Was running when the run stopped (failure elsewhere, limit, cancellation)."""


@dataclass(frozen=True, slots=True)
class RunError:
    """A failure as data: the exception class name, its message, and where it happened.

    ``exception`` keeps the exception itself for the caller of the run (so a service can answer
    with the status its family calls for); it is never serialized or compared.
    """

    type: str
    message: str
    node_id: str | None = None
    exception: BaseException | None = field(default=None, compare=False, repr=False)

    @classmethod
    def from_exception(cls, exc: BaseException, node_id: str | None = None) -> RunError:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        if len(message) > MAX_ERROR_MESSAGE:  # errors are recorded and streamed: keep them small
            message = message[:MAX_ERROR_MESSAGE] + "... (truncated)"
        return cls(type(exc).__name__, message, node_id, exc)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "message": self.message, "node_id": self.node_id}


@dataclass(frozen=True, slots=True)
class RunLimits:
    """Per-run guards. ``None`` disables a limit.

    ``max_steps`` counts node attempts (retries included); ``max_duration_s`` is wall time for
    the whole run; ``max_value_bytes`` caps each value written to the pool.
    """

    max_steps: int | None = 1_000
    max_duration_s: float | None = 600.0
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES


@dataclass(slots=True)
class NodeRunResult:
    """One node's record. ``index`` is its start order in the run (-1 if it never started);
    ``started_ns``/``finished_ns`` are `time.perf_counter_ns()` stamps (0 if not applicable)."""

    node_id: str
    node_type: str
    status: NodeStatus
    index: int = -1
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: RunError | None = None
    branch: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)
    retries: int = 0
    elapsed_s: float = 0.0
    started_ns: int = 0
    finished_ns: int = 0
    skip_reason: str | None = None
    used_default: bool = False
    """True when the node failed and its default outputs stand in (``default_value``)."""
    replayed: bool = False
    """True when its recorded outcome stood in for running it (a replay, `workflow.replay`)."""
    scope: tuple[tuple[str, int], ...] = ()
    """Inside a container's body: which run of it (``(("each", 2),)``); empty at top level."""
    children: tuple[NodeRunResult, ...] = ()
    """A container's body runs: every node of every item/round, in order. (A tuple default:
    a record is made per node of every run, and a list factory would cost each one.)"""

    def to_dict(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "node_type": self.node_type,
            "status": self.status.value,
            "index": self.index,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "error": self.error.to_dict() if self.error else None,
            "branch": self.branch,
            "usage": self.usage.to_dict(),
            "retries": self.retries,
            "elapsed_s": self.elapsed_s,
            "skip_reason": self.skip_reason,
            "used_default": self.used_default,
            **({"replayed": True} if self.replayed else {}),
            **({"scope": [list(level) for level in self.scope]} if self.scope else {}),
            **({"children": [c.to_dict() for c in self.children]} if self.children else {}),
        }


@dataclass(slots=True)
class WorkflowRunResult:
    """The outcome of a run: status, the end nodes' values, the first error, every node."""

    run_id: str
    status: RunStatus
    outputs: dict[str, Any]
    error: RunError | None
    nodes: dict[str, NodeRunResult]
    elapsed_s: float
    usage: TokenUsage = field(default_factory=TokenUsage)
    conversation: dict[str, Any] = field(default_factory=dict)
    """The conversation variables after the run (what to store with the session)."""
    conversation_writes: list[dict[str, Any]] = field(default_factory=list)
    """Every write, in order: ``{"node_id", "variable", "operation", "value"}``."""

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def ordered_nodes(self) -> list[NodeRunResult]:
        """Nodes in start order; nodes that never started come last."""
        return sorted(self.nodes.values(), key=lambda n: (n.index < 0, n.index))

    def flattened_nodes(self) -> list[NodeRunResult]:
        """`ordered_nodes`, each container followed by its body runs' nodes (item by item,
        recursively): the order a reader follows the run in."""
        return _flatten(self.ordered_nodes())

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status.value,
            "outputs": self.outputs,
            "error": self.error.to_dict() if self.error else None,
            "elapsed_s": self.elapsed_s,
            "usage": self.usage.to_dict(),
            "nodes": [n.to_dict() for n in self.ordered_nodes()],
            **({"conversation": self.conversation} if self.conversation else {}),
            **(
                {"conversation_writes": self.conversation_writes}
                if self.conversation_writes
                else {}
            ),
        }


def _flatten(nodes: Sequence[NodeRunResult]) -> list[NodeRunResult]:
    flat: list[NodeRunResult] = []
    for node in nodes:
        flat.append(node)
        if node.children:
            flat += _flatten(node.children)
    return flat
