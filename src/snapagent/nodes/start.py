"""`StartNodeV2`: the run's inputs become values (``query``, ``session_id``, ``history`` and
the declared input variables).

    {"id": "start", "type": "start",
     "config": {"inputs": [{"name": "lang", "type": "string", "required": false, "default": "en"}]}}
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.errors import InputValidationError
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType
from snapagent.workflow.values import coerce_value

__all__ = ["StartNodeData", "StartNodeV2"]

BUILTIN_OUTPUTS = (
    PortDefinition(name="query", type=PortType.STRING, description="the user's message"),
    PortDefinition(name="session_id", type=PortType.STRING, description="the chat session"),
    PortDefinition(name="history", type=PortType.MESSAGES, description="earlier turns"),
)
_BUILTIN_DEFAULTS: dict[str, Any] = {"query": "", "session_id": "", "history": []}


class StartNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    inputs: list[PortDefinition] = Field(
        default_factory=list,
        description="Extra input variables of the run (each an output port of the start node); "
        "query, session_id and history are always there.",
    )

    @field_validator("inputs")
    @classmethod
    def _unique(cls, inputs: list[PortDefinition]) -> list[PortDefinition]:
        names = [p.name for p in inputs]
        builtin = {p.name for p in BUILTIN_OUTPUTS}
        for name in names:
            if name in builtin:
                raise ValueError(f"input {name!r} is built in; declare a different name")
            if names.count(name) > 1:
                raise ValueError(f"input {name!r} is declared twice")
        return inputs


def coerce_input(port: PortDefinition, value: Any) -> Any:
    """Accept a value of the declared type; parse strings for numbers and booleans (the CLI and
    query strings send text). Raises `InputValidationError` naming the input."""
    try:
        return coerce_value(port.type, value)
    except ValueError as exc:
        raise InputValidationError(f"input {port.name!r} {exc}", field=port.name) from None


class StartNodeV2(BaseNodeV2[StartNodeData]):
    """The entry node; exactly one per graph. Its outputs are the run's inputs."""

    type_key = "start"
    config_model = StartNodeData
    title = "Start"
    category = "io"
    dynamic_ports = True
    description = "The run's inputs: query, session_id, history and declared variables."

    def port_schema(self) -> NodePortSchema:
        declared = tuple(p.model_copy(update={"required": False}) for p in self.config.inputs)
        return NodePortSchema(outputs=(*BUILTIN_OUTPUTS, *declared))

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        given = ctx.inputs
        outputs = {name: given.get(name, default) for name, default in _BUILTIN_DEFAULTS.items()}
        for port in self.config.inputs:
            if port.name in given:
                outputs[port.name] = coerce_input(port, given[port.name])
            elif port.has_default:
                outputs[port.name] = port.default
            elif port.required:
                raise InputValidationError(
                    f"the run needs input {port.name!r} ({port.type.value})", field=port.name
                )
            else:
                outputs[port.name] = None
        return outputs
