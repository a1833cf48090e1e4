"""`VariableAggregatorNodeV2`: the first available value among alternatives -> ``output``.

Joins the branches of an ``if_else`` or a classifier: each branch's result feeds one input, and
whichever branch ran gives the value (inputs are tried in the configured order; a branch not
taken leaves its input empty).

    {"id": "join", "type": "variable_aggregator",
     "config": {"variables": ["from_billing", "from_support"], "output_type": "string"},
     "inputs": {"from_billing": {"selector": ["billing_llm", "text"]},
                "from_support": {"selector": ["support_llm", "text"]}}}

With only selectors (no edges) the node runs as soon as one of its sources ran and the others
were decided, so it never waits on a skipped branch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.errors import NodeExecutionError
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType

__all__ = ["VariableAggregatorNodeData", "VariableAggregatorNodeV2"]

OUTPUT_PORT = "output"


class VariableAggregatorNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variables: list[str] = Field(
        min_length=1,
        max_length=64,
        description="Its input port names, in priority order: the first holding a value wins.",
    )
    output_type: PortType = Field(
        default=PortType.ANY,
        description="The type of every input and of the output (checked against what is wired).",
    )

    @field_validator("variables")
    @classmethod
    def _names(cls, names: list[str]) -> list[str]:
        for name in names:
            PortDefinition(name=name)  # the port naming rule
            if names.count(name) > 1:
                raise ValueError(f"input {name!r} is listed twice")
        return names


class VariableAggregatorNodeV2(BaseNodeV2[VariableAggregatorNodeData]):
    """Outputs the first of its inputs that has a value (not null)."""

    type_key = "variable_aggregator"
    config_model = VariableAggregatorNodeData
    title = "Variable aggregator"
    category = "logic"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {"variables": ["first", "second"]}
    description = "Join alternative branches: the first input that has a value."

    def port_schema(self) -> NodePortSchema:
        kind = self.config.output_type
        return NodePortSchema(
            inputs=tuple(
                PortDefinition(name=name, type=kind, required=False, default=None)
                for name in self.config.variables
            ),
            outputs=(PortDefinition(name=OUTPUT_PORT, type=kind),),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        for name in self.config.variables:
            value = inputs.get(name)
            if value is not None:
                return {OUTPUT_PORT: value}
        names = ", ".join(self.config.variables)
        raise NodeExecutionError(
            f"node {self.node_id!r}: none of its inputs ({names}) has a value",
            node_id=self.node_id,
        )
