"""`ParameterExtractorNodeV2`: a model fills typed ``parameters`` from ``query``.

    {"id": "extract", "type": "parameter_extractor",
     "config": {"model": "offline",
                "parameters": [
                    {"name": "order_id", "type": "integer", "description": "the order number"},
                    {"name": "email", "type": "string", "description": "customer e-mail",
                     "required": false}]},
     "inputs": {"query": {"selector": ["start", "query"]}}}

The model answers through its native structured output (tool calling where that is the
provider's way); every value is checked against its declared type (text is parsed for numbers
and booleans). One output port per parameter, plus ``is_success`` (every required parameter
found and every value of its type) and ``reason`` (what was missing or wrong, else empty);
a parameter not found or not of its type outputs null. An unusable answer is not a node
failure: route on ``is_success``. A failing model call is, and follows the error strategy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.nodes.model_calls import QUERY_PORT, ModelSettings, ask_structured, decision_inputs
from snapagent.workflow.node import BaseNodeV2, NodeResult, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.services import StructuredOutput
from snapagent.workflow.types import PortType
from snapagent.workflow.values import coerce_value, json_schema_of

__all__ = ["ParameterExtractorNodeData", "ParameterExtractorNodeV2", "ParameterSpec"]

RESERVED_OUTPUTS = frozenset({"is_success", "reason", "usage"})
ParameterType = Literal[
    "string",
    "number",
    "integer",
    "boolean",
    "object",
    "array[string]",
    "array[number]",
    "array[object]",
]
_TASK = (
    "You extract the requested parameters from the user's text. Use only what the text says; "
    "leave out a parameter the text does not give."
)


class ParameterSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[^\W\d]\w*$", max_length=64, description="The output port of this parameter."
    )
    type: ParameterType = Field(default="string", description="The type its value must have.")
    description: str = Field(default="", max_length=2_000, description="What it is, for the model.")
    required: bool = Field(default=True, description="Without it, is_success is false.")


class ParameterExtractorNodeData(ModelSettings):
    parameters: list[ParameterSpec] = Field(
        min_length=1, max_length=64, description="What to extract; one output port each."
    )

    @field_validator("parameters")
    @classmethod
    def _names(cls, parameters: list[ParameterSpec]) -> list[ParameterSpec]:
        names = [p.name for p in parameters]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"parameter {name!r} is declared twice")
            if name in RESERVED_OUTPUTS:
                raise ValueError(f"parameter name {name!r} is taken by an output of the node")
        return parameters


class ParameterExtractorNodeV2(BaseNodeV2[ParameterExtractorNodeData]):
    """Outputs each parameter's value (or null), ``is_success`` and ``reason``."""

    type_key = "parameter_extractor"
    config_model = ParameterExtractorNodeData
    title = "Parameter extractor"
    category = "model"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "parameters": [{"name": "value", "type": "string", "description": "what to extract"}]
    }
    description = "A model fills typed parameters from the query (native structured output)."

    def port_schema(self) -> NodePortSchema:
        params = tuple(
            PortDefinition(name=p.name, type=PortType(p.type), description=p.description)
            for p in self.config.parameters
        )
        return NodePortSchema(
            inputs=decision_inputs(self.config),
            outputs=(
                *params,
                PortDefinition(name="is_success", type=PortType.BOOLEAN),
                PortDefinition(name="reason", type=PortType.STRING),
                PortDefinition(name="usage", type=PortType.OBJECT),
            ),
        )

    def _schema(self) -> dict[str, Any]:
        parameters = self.config.parameters
        return {
            "type": "object",
            "properties": {
                p.name: json_schema_of(PortType(p.type), p.description) for p in parameters
            },
            "required": [p.name for p in parameters if p.required],
        }

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        result = await ask_structured(
            self.config,
            ctx,
            inputs,
            node_id=self.node_id,
            task=_TASK,
            prompt=f"Text: {inputs.get(QUERY_PORT)}",
            output=StructuredOutput("parameters", self._schema(), "The extracted parameters."),
        )
        outputs: dict[str, Any] = {p.name: None for p in self.config.parameters}
        problems: list[str] = []
        data = result.data
        if data is None:
            problems.append(f"the model did not answer with an object ({result.text[:200]!r})")
        else:
            for spec in self.config.parameters:
                value = data.get(spec.name)
                if value is None:
                    if spec.required:
                        problems.append(f"{spec.name}: not found")
                    continue
                try:
                    outputs[spec.name] = coerce_value(PortType(spec.type), value)
                except ValueError as exc:
                    problems.append(f"{spec.name}: {exc}")
        outputs["is_success"] = not problems
        outputs["reason"] = "; ".join(problems)
        outputs["usage"] = result.usage.to_dict()
        return NodeResult(outputs, usage=result.usage)
