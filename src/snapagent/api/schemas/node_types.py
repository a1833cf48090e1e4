"""The node catalogue on the wire (``/api/v1/node-types``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from snapagent.api.schemas.common import RequestModel
from snapagent.db.pagination import Page
from snapagent.services.system_values import RunKind
from snapagent.workflow.schema import ErrorStrategy
from snapagent.workflow.types import PortType

__all__ = [
    "NodeTypePublic",
    "NodeTypesPublic",
    "PortPublic",
    "PortsPublic",
    "PortsRequest",
    "SystemValuePublic",
]


class PortPublic(BaseModel):
    name: str = Field(description="Port name, as edges and selectors spell it.")
    type: str = Field(description="Port type: string, number, integer, boolean, object, ...")
    required: bool = Field(description="Whether a value must arrive (inputs).")
    default: Any = Field(description="The value used when none arrives.")
    description: str = Field(description="What the port carries.")


class PortsPublic(BaseModel):
    inputs: list[PortPublic] = Field(
        description="Ports the node reads (edges or selectors feed them)."
    )
    outputs: list[PortPublic] = Field(description="Ports the node writes, for later nodes to read.")
    branches: list[str] = Field(
        description="Branch ports (control only; the node takes exactly one)."
    )


class NodeTypePublic(PortsPublic):
    type: str = Field(description="The type key used in graph JSON (a stable contract).")
    version: int = Field(description="Bumped when the type's config or port contract changes.")
    title: str = Field(description="Display name.")
    description: str = Field(description="What the node does, in a sentence or two.")
    category: str = Field(
        description="Palette group: io, model, knowledge, logic, transform, tools."
    )
    config_schema: dict[str, Any] = Field(description="JSON Schema of the node's `config`.")
    default_config: dict[str, Any] = Field(
        description="The config a new node starts with; the listed ports are this config's."
    )
    dynamic_ports: bool = Field(
        description="True when the ports depend on the config (ask POST /node-types/ports)."
    )


class SystemValuePublic(BaseModel):
    name: str = Field(description='Read by selector `["sys", name]`.')
    type: PortType = Field(description="Its port type.")
    description: str = Field(description="What it is.")
    runs: list[RunKind] = Field(
        description="Which runs get it: `chat` (a chat turn, or a debug run of one node) and "
        "`tool` (a bot called by another bot's agent)."
    )


class NodeTypesPublic(Page):
    """The whole catalogue in one page (``next_cursor`` is always null), with the run-level
    values selectors may read."""

    data: list[NodeTypePublic] = Field(description="Every node type this server runs.")
    system_values: list[SystemValuePublic] = Field(
        description="The `sys.*` values a run gets (snapagent.services.system_values)."
    )


class PortsRequest(RequestModel):
    type: str = Field(min_length=1, max_length=100, description="A node type key.")
    config: dict[str, Any] = Field(default_factory=dict, description="The node's config.")
    error_strategy: ErrorStrategy = Field(
        default=ErrorStrategy.FAIL_RUN,
        description="With fail_branch the node also has a `fail` branch and an `error` output.",
    )
