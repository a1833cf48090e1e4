"""`PlaceholderNodeV2`: stands in for an imported node that has no SnapAgent equivalent.

    {"id": "search", "type": "placeholder",
     "config": {"message": "Dify tool google/google_search has no SnapAgent equivalent",
                "source": "dify:tool", "original": {...the node as it was...},
                "outputs": {"text": "string"}}}

It keeps the imported node's place in the graph - its declared outputs (so the nodes reading
them still validate) and branches (so its edges keep their ports) - and the original
definition, so an export back to the source format writes it out unchanged. It never does
anything: running it fails with its message, and the node's error strategy applies (with
``default_value`` the run goes on with the default outputs). Replace it with a node that does
the work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.errors import NodeExecutionError
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType

__all__ = ["PlaceholderNodeData", "PlaceholderNodeV2"]


class PlaceholderNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        min_length=1, max_length=2_000, description="Why the node cannot run (its run error)."
    )
    source: str = Field(
        default="", max_length=200, description="Where it came from (dify:tool, dify:agent...)."
    )
    original: dict[str, Any] = Field(
        default_factory=dict, description="The imported definition, kept for exports."
    )
    outputs: dict[str, PortType] = Field(
        default_factory=dict, description="Outputs the original had, so readers still validate."
    )
    branches: list[str] = Field(
        default_factory=list, max_length=64, description="Branch ports the original had."
    )

    @field_validator("outputs")
    @classmethod
    def _output_names(cls, outputs: dict[str, PortType]) -> dict[str, PortType]:
        if len(outputs) > 256:
            raise ValueError("at most 256 outputs")
        for name in outputs:
            PortDefinition(name=name)  # the port naming rule
        return outputs

    @field_validator("branches")
    @classmethod
    def _branch_names(cls, branches: list[str]) -> list[str]:
        for name in branches:
            PortDefinition(name=name)
            if name == "fail" or branches.count(name) > 1:
                raise ValueError(f"branch {name!r} is reserved or repeated")
        return branches


class PlaceholderNodeV2(BaseNodeV2[PlaceholderNodeData]):
    """Fails with its message when it runs (see the module docstring)."""

    type_key = "placeholder"
    config_model = PlaceholderNodeData
    title = "Placeholder"
    category = "tools"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "message": "this node stands in for one that could not be imported"
    }
    description = "Stands in for an imported node with no equivalent; fails with its message."

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            outputs=tuple(
                PortDefinition(name=name, type=kind) for name, kind in self.config.outputs.items()
            ),
            branches=tuple(self.config.branches),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        raise NodeExecutionError(
            f"node {self.node_id!r} is a placeholder: {self.config.message}",
            node_id=self.node_id,
        )
