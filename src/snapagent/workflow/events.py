"""Events a run emits, in order. Recording, metrics and SSE subscribe; the engine knows none.

    async for event in executor.stream(graph, {"query": "hi"}, {}):
        print(event.to_dict())            # {"event": "node_run_started", "node_id": ..., ...}

Every event carries ``ns``: `time.perf_counter_ns()` when it happened (hand-off latency is
``NodeRunStarted.ns`` of a successor minus ``NodeRunSucceeded.ns`` of its predecessor).
Node events from inside a container's body carry ``scope``: ``(("each", 2),)`` for item 2 of
``each`` (one pair per level of nesting, outermost first); empty for top-level nodes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from snapagent.workflow.result import RunError, WorkflowRunResult
from snapagent.workflow.services import TokenUsage

__all__ = [
    "NodeRunCancelled",
    "NodeRunFailed",
    "NodeRunRetrying",
    "NodeRunSkipped",
    "NodeRunStarted",
    "NodeRunSucceeded",
    "RunFinished",
    "RunStarted",
    "TextChunk",
    "WorkflowEvent",
]


def _jsonable(value: Any) -> Any:
    if isinstance(value, TokenUsage | RunError):
        return value.to_dict()
    if isinstance(value, WorkflowRunResult):
        return value.to_dict()
    return value


@dataclass(slots=True)
class WorkflowEvent:
    """Base of every event; ``event`` is the wire name used as the SSE event type."""

    event: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = {"event": self.event}
        for f in dataclasses.fields(self):
            data[f.name] = _jsonable(getattr(self, f.name))
        return data


@dataclass(slots=True)
class RunStarted(WorkflowEvent):
    event: ClassVar[str] = "run_started"
    run_id: str
    inputs: dict[str, Any]
    ns: int


@dataclass(slots=True)
class NodeRunStarted(WorkflowEvent):
    event: ClassVar[str] = "node_run_started"
    node_id: str
    node_type: str
    index: int
    inputs: dict[str, Any]
    ns: int
    scope: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class NodeRunSucceeded(WorkflowEvent):
    """A node finished; ``branch`` is the branch port it took (branch nodes), ``used_default``
    says the outputs are defaults after a failure (``default_value`` strategy)."""

    event: ClassVar[str] = "node_run_succeeded"
    node_id: str
    node_type: str
    outputs: dict[str, Any]
    elapsed_s: float
    usage: TokenUsage
    branch: str | None
    used_default: bool
    ns: int
    scope: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class NodeRunFailed(WorkflowEvent):
    """A node failed; ``routed_to_fail_branch`` tells whether the run continues on its `fail`
    port (``fail_branch`` strategy)."""

    event: ClassVar[str] = "node_run_failed"
    node_id: str
    node_type: str
    error: RunError
    elapsed_s: float
    routed_to_fail_branch: bool
    ns: int
    scope: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class NodeRunSkipped(WorkflowEvent):
    event: ClassVar[str] = "node_run_skipped"
    node_id: str
    node_type: str
    reason: str
    ns: int
    scope: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class NodeRunCancelled(WorkflowEvent):
    event: ClassVar[str] = "node_run_cancelled"
    node_id: str
    node_type: str
    reason: str
    ns: int
    scope: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class NodeRunRetrying(WorkflowEvent):
    """An attempt failed and the node will run again after ``delay_s`` (``retry`` is 1-based)."""

    event: ClassVar[str] = "node_run_retrying"
    node_id: str
    node_type: str
    retry: int
    delay_s: float
    error: RunError
    ns: int
    scope: tuple[tuple[str, int], ...] = ()


@dataclass(slots=True)
class TextChunk(WorkflowEvent):
    """A streamed piece of model output, forwarded as soon as the model produced it."""

    event: ClassVar[str] = "text_chunk"
    node_id: str
    text: str
    ns: int


@dataclass(slots=True)
class RunFinished(WorkflowEvent):
    event: ClassVar[str] = "run_finished"
    result: WorkflowRunResult
    ns: int
