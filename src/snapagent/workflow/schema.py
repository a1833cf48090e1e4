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
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from snapagent.workflow.types import PortType

__all__ = [
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

    def input(self, name: str) -> PortDefinition | None:
        return next((p for p in self.inputs if p.name == name), None)

    def output(self, name: str) -> PortDefinition | None:
        return next((p for p in self.outputs if p.name == name), None)

    def describe_inputs(self) -> str:
        return ", ".join(p.describe() for p in self.inputs) or "none"

    def describe_outputs(self) -> str:
        names = [p.describe() for p in self.outputs] + [f"{b} (branch)" for b in self.branches]
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

    selector: ValueSelector


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

    max_retries: int = Field(default=0, ge=0, le=20)
    backoff_s: float = Field(default=0.0, ge=0.0, le=600.0)
    backoff_multiplier: float = Field(default=2.0, ge=1.0, le=10.0)
    max_backoff_s: float = Field(default=30.0, ge=0.0, le=3600.0)

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

    id: str = Field(min_length=1)
    type: str = Field(min_length=1)
    title: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    inputs: dict[str, VariableMapping] = Field(default_factory=dict)
    timeout_s: float | None = Field(default=None, gt=0)
    retry: RetryPolicy | None = None
    error_strategy: ErrorStrategy = ErrorStrategy.FAIL_RUN
    default_outputs: dict[str, Any] = Field(default_factory=dict)


class WorkflowEdge(BaseModel):
    """``source.source_port -> target.target_port``; without ``target_port`` a control edge."""

    model_config = ConfigDict(frozen=True, extra="allow")

    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    source_port: str | None = None
    target_port: str | None = None

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

    nodes: tuple[WorkflowNode, ...] = ()
    edges: tuple[WorkflowEdge, ...] = ()

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
