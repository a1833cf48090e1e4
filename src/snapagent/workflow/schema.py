"""The V2 graph JSON as pydantic models (the contract in ARCHITECTURE.md).

Models load the JSON exactly and dump it back unchanged (`WorkflowGraph.to_json()` leaves out
whatever the input left out, and keeps unknown keys such as editor positions)::

    graph = WorkflowGraph.model_validate(json.loads(text))
    assert graph.to_json() == json.loads(text)

Graphs are immutable (frozen models): the executor compiles a graph once and reuses the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from snapagent.workflow.conversation import CONVERSATION_NODE_ID, ConversationVariable
from snapagent.workflow.types import PortType

__all__ = [
    "RESERVED_NODE_IDS",
    "SYS_NODE_ID",
    "ErrorStrategy",
    "NodePortSchema",
    "PortDefinition",
    "RetryPolicy",
    "ValueSelector",
    "VariableMapping",
    "WorkflowEdge",
    "WorkflowGraph",
    "WorkflowNode",
]

SYS_NODE_ID = "sys"
"""Selectors starting with this id read run-level values (`["sys", "bot_id"]`)."""
RESERVED_NODE_IDS = frozenset({SYS_NODE_ID, CONVERSATION_NODE_ID})


class PortDefinition(BaseModel):
    """One typed port.

    ``PortDefinition(name="lang", type="string", required=False, default="en")``
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        min_length=1,
        pattern=r"^[^\W\d]\w*$",
        description="Port name: a letter or underscore, then letters, digits or underscores.",
    )
    type: PortType = Field(default=PortType.ANY, description="The type of value it carries.")
    required: bool = Field(default=True, description="Whether a value must arrive.")
    default: Any = Field(default=None, description="The value used when none arrives.")
    description: str = Field(default="", description="What the port is for (shown in editors).")

    @property
    def has_default(self) -> bool:
        """True when a default was given explicitly (a default of ``None`` counts)."""
        return "default" in self.model_fields_set

    def describe(self) -> str:
        return f"{self.name} ({self.type.value})"


class NodePortSchema(BaseModel):
    """A node's ports: data inputs, data outputs, and branch ports (control only, one is taken).

    ``NodePortSchema(inputs=(PortDefinition(name="query", type="string"),), outputs=(...,))``
    """

    model_config = ConfigDict(frozen=True)

    inputs: tuple[PortDefinition, ...] = ()
    outputs: tuple[PortDefinition, ...] = ()
    branches: tuple[str, ...] = ()

    @cached_property
    def _inputs_by_name(self) -> dict[str, PortDefinition]:
        return {p.name: p for p in reversed(self.inputs)}  # reversed: the first one wins

    @cached_property
    def _outputs_by_name(self) -> dict[str, PortDefinition]:
        return {p.name: p for p in reversed(self.outputs)}

    def input(self, name: str) -> PortDefinition | None:
        return self._inputs_by_name.get(name)

    def output(self, name: str) -> PortDefinition | None:
        return self._outputs_by_name.get(name)

    def describe_inputs(self) -> str:
        return _listing([p.describe() for p in self.inputs[: _LISTED + 1]], len(self.inputs))

    def describe_outputs(self) -> str:
        names = [p.describe() for p in self.outputs[: _LISTED + 1]]
        names += [f"{b} (branch)" for b in self.branches[: _LISTED + 1]]
        return _listing(names, len(self.outputs) + len(self.branches))


_LISTED = 20
"""Problem messages list at most this many ports (a node may have thousands)."""


def _listing(names: list[str], total: int) -> str:
    if total > _LISTED:
        return ", ".join(names[:_LISTED]) + f", ... ({total - _LISTED} more)"
    return ", ".join(names) or "none"


class ValueSelector(RootModel[tuple[str | int, ...]]):
    """Where a value lives: ``[node_id, port, *path]`` or ``["sys", name]``.

    >>> ValueSelector(("kb", "documents", 0, "text")).path
    (0, 'text')
    """

    model_config = ConfigDict(frozen=True)

    @field_validator("root")
    @classmethod
    def _shape(cls, value: tuple[str | int, ...]) -> tuple[str | int, ...]:
        if len(value) < 2:
            raise ValueError("a selector needs at least [node_id, port]")
        if not isinstance(value[0], str) or not isinstance(value[1], str):
            raise ValueError("the first two selector items (node id, port) must be strings")
        return value

    @property
    def node_id(self) -> str:
        return str(self.root[0])

    @property
    def port(self) -> str:
        return str(self.root[1])

    @property
    def path(self) -> tuple[str | int, ...]:
        return self.root[2:]

    @property
    def is_sys(self) -> bool:
        return self.root[0] == SYS_NODE_ID

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.root)


class VariableMapping(BaseModel):
    """An input fed from the variable pool: ``{"selector": ["start", "query"]}``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    selector: ValueSelector = Field(
        description="Where the value lives: [node_id, port, ...path] or ['sys', name]."
    )


class ErrorStrategy(StrEnum):
    """What a node failure means for the run."""

    FAIL_RUN = "fail_run"
    """The run fails (the default)."""
    DEFAULT_VALUE = "default_value"
    """The node succeeds with its `default_outputs` (and its port defaults)."""
    FAIL_BRANCH = "fail_branch"
    """The node's `fail` branch port is taken and its `error` output holds the error."""


class RetryPolicy(BaseModel):
    """Retries after a failure: ``{"max_retries": 2, "backoff_s": 0.5}`` waits 0.5 s, then 1 s."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_retries: int = Field(default=0, ge=0, le=20, description="Attempts after the first.")
    backoff_s: float = Field(
        default=0.0, ge=0.0, le=600.0, description="Wait before the first retry (seconds)."
    )
    backoff_multiplier: float = Field(
        default=2.0, ge=1.0, le=10.0, description="Each wait is this times the previous one."
    )
    max_backoff_s: float = Field(
        default=30.0, ge=0.0, le=3600.0, description="No wait is longer than this."
    )

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry number ``retry_number`` (1-based)."""
        raw = self.backoff_s * self.backoff_multiplier ** (retry_number - 1)
        return float(min(raw, self.max_backoff_s))


class WorkflowNode(BaseModel):
    """One node of the graph; ``type`` selects the node class, ``config`` is its settings.

    Optional run settings live on the node next to ``config`` (all round-trip):
    ``timeout_s`` (seconds per attempt), ``retry`` (a `RetryPolicy`), ``error_strategy``
    (`ErrorStrategy`) and ``default_outputs`` (used by ``default_value``).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1, description="Unique in its graph ('sys' is reserved).")
    type: str = Field(min_length=1, description="A registered node type.")
    title: str | None = Field(default=None, description="Display name.")
    config: dict[str, Any] = Field(
        default_factory=dict, description="The node type's settings (its own JSON Schema)."
    )
    inputs: dict[str, VariableMapping] = Field(
        default_factory=dict, description="Input port -> the value it reads (a selector)."
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="Seconds per attempt (none: no timeout)."
    )
    retry: RetryPolicy | None = Field(default=None, description="Retries after a failure.")
    error_strategy: ErrorStrategy = Field(
        default=ErrorStrategy.FAIL_RUN,
        description="What a failure means: fail_run, default_value or fail_branch.",
    )
    default_outputs: dict[str, Any] = Field(
        default_factory=dict, description="Outputs used by the default_value strategy."
    )


class WorkflowEdge(BaseModel):
    """``source.source_port -> target.target_port``; without ``target_port`` a control edge."""

    model_config = ConfigDict(frozen=True, extra="allow")

    source: str = Field(min_length=1, description="The node the edge leaves.")
    target: str = Field(min_length=1, description="The node it enters.")
    source_port: str | None = Field(
        default=None, description="An output or branch port (none: when the source succeeds)."
    )
    target_port: str | None = Field(
        default=None, description="The input port it feeds (none: a control edge)."
    )

    @property
    def is_control(self) -> bool:
        return self.target_port is None

    def describe(self) -> str:
        src = f"{self.source}.{self.source_port}" if self.source_port else self.source
        dst = f"{self.target}.{self.target_port}" if self.target_port else self.target
        return f"{src} -> {dst}"


class WorkflowGraph(BaseModel):
    """A whole workflow: nodes and edges. ``WorkflowGraph.from_json(data).to_json() == data``."""

    model_config = ConfigDict(frozen=True, extra="allow")

    nodes: tuple[WorkflowNode, ...] = Field(default=(), description="The nodes.")
    edges: tuple[WorkflowEdge, ...] = Field(default=(), description="Edges between them.")
    conversation_variables: tuple[ConversationVariable, ...] = Field(
        default=(),
        max_length=100,
        description="Values kept per chat session across turns, read by selector "
        "['conversation', name] and written by variable_assigner nodes.",
    )

    @model_validator(mode="before")
    @classmethod
    def _require_object(cls, data: Any) -> Any:
        if not isinstance(data, dict | WorkflowGraph):
            raise ValueError("a workflow graph is a JSON object with 'nodes' and 'edges'")
        return data

    @classmethod
    def from_json(cls, data: Any) -> WorkflowGraph:
        """Parse a decoded JSON object (raises pydantic ValidationError on a malformed shape)."""
        return cls.model_validate(data)

    def to_json(self) -> dict[str, Any]:
        """The JSON object, leaving out every key the source left out."""
        return self.model_dump(mode="json", exclude_unset=True)

    def node(self, node_id: str) -> WorkflowNode:
        for node in self.nodes:
            if node.id == node_id:
                return node
        raise KeyError(node_id)

    def iter_edges_into(self, node_id: str) -> Iterator[tuple[int, WorkflowEdge]]:
        return ((i, e) for i, e in enumerate(self.edges) if e.target == node_id)
