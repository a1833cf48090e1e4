"""`EndNodeV2`: its inputs are the run's outputs (the chat answer is ``answer``).

{"id": "end", "type": "end", "config": {"outputs": ["answer"]}}
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition

__all__ = ["EndNodeData", "EndNodeV2"]


class EndNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outputs: list[str] = Field(
        default_factory=lambda: ["answer"],
        description="Names of the run's outputs, one input port each; the chat answer is 'answer'.",
    )

    @field_validator("outputs")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            PortDefinition(name=name)  # same naming rule as every port
            if names.count(name) > 1:
                raise ValueError(f"output {name!r} is listed twice")
        return names


class EndNodeV2(BaseNodeV2[EndNodeData]):
    """Collects the run's outputs: one input port (type any) per configured name."""

    type_key = "end"
    config_model = EndNodeData
    title = "End"
    category = "io"
    dynamic_ports = True
    description = "The run's outputs."
    is_output: ClassVar[bool] = True

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(inputs=tuple(PortDefinition(name=n) for n in self.config.outputs))

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {name: inputs.get(name) for name in self.config.outputs}
