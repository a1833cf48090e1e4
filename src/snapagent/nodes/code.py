"""`CodeNodeV2`: run the user's ``main(...)`` in the sandbox; its dict becomes the outputs.

    {"id": "calc", "type": "code",
     "config": {"language": "python3",
                "code": "def main(price, qty):\\n    return {'total': price * qty}",
                "inputs": [{"name": "price", "type": "number"}, "qty"],
                "outputs": {"total": "number"}},
     "inputs": {"price": {"selector": ["start", "price"]}, "qty": {"selector": ["start", "qty"]}}}

``inputs`` declares the input ports (a name, or a port definition); ``main`` receives them as
keyword arguments (``main({price, qty})`` in JavaScript: one object). It must return a dict
(an object) holding every declared output with a value of the declared type; a missing key or
a wrong type is a node error naming the key (extra keys are dropped). The code never runs in
the server process: see `snapagent.sandbox` and docs/sandbox.md for the isolation, and
``SNAPAGENT_CODE_*`` for its limits (time, memory, output and input size, concurrency).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from snapagent.errors import NodeExecutionError, NodeTimeoutError
from snapagent.isolation.errors import IsolationError, WorkerTimeoutError
from snapagent.sandbox.service import default_sandbox
from snapagent.sandbox.settings import get_code_sandbox_settings
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType
from snapagent.workflow.values import describe_value, value_matches

__all__ = ["CodeNodeData", "CodeNodeV2"]

_NAME = re.compile(r"^[^\W\d]\w*$")


class CodeNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    language: Literal["python3", "javascript"] = Field(
        default="python3", description="python3, or javascript (QuickJS)."
    )
    code: str = Field(
        min_length=1,
        max_length=100_000,
        description="Source defining main(...); it gets the inputs and returns the outputs.",
    )
    inputs: list[PortDefinition] = Field(
        default_factory=list,
        max_length=64,
        description="Input ports (names, or port definitions); main() receives them by name.",
    )
    outputs: dict[str, PortType] = Field(
        default_factory=dict,
        description='Declared outputs {"name": "type"}; main() must return each of them.',
    )

    @field_validator("inputs", mode="before")
    @classmethod
    def _names_are_ports(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("inputs")
    @classmethod
    def _unique_inputs(cls, ports: list[PortDefinition]) -> list[PortDefinition]:
        names = [p.name for p in ports]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"input {name!r} is declared twice")
        return ports

    @field_validator("outputs")
    @classmethod
    def _output_names(cls, outputs: dict[str, PortType]) -> dict[str, PortType]:
        if len(outputs) > 64:
            raise ValueError("at most 64 outputs")
        for name in outputs:
            if not _NAME.match(name) or len(name) > 64:
                raise ValueError(f"output name {name!r} is not an identifier")
        return outputs


class CodeNodeV2(BaseNodeV2[CodeNodeData]):
    """Runs sandboxed user code; declared inputs in, declared (type-checked) outputs out."""

    type_key = "code"
    config_model = CodeNodeData
    title = "Code"
    category = "transform"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "language": "python3",
        "code": "def main(text):\n    return {'result': text.upper()}\n",
        "inputs": [{"name": "text", "type": "string"}],
        "outputs": {"result": "string"},
    }
    description = "Run Python or JavaScript in a sandbox: main(inputs) -> outputs."

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            inputs=tuple(self.config.inputs),
            outputs=tuple(
                PortDefinition(name=name, type=kind) for name, kind in self.config.outputs.items()
            ),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        runner = ctx.services.code_runner or default_sandbox()
        timeout_s = get_code_sandbox_settings().timeout_s
        arguments = {port.name: inputs.get(port.name) for port in self.config.inputs}
        try:
            result = await runner.execute(
                self.config.language, self.config.code, arguments, timeout_s=timeout_s
            )
        except WorkerTimeoutError as exc:
            message = f"code node {self.node_id!r}: {exc}"
            raise NodeTimeoutError(message, node_id=self.node_id) from None
        except IsolationError as exc:
            raise NodeExecutionError(
                f"code node {self.node_id!r}: {exc}", node_id=self.node_id
            ) from None
        return self._outputs(result)

    def _outputs(self, result: Any) -> dict[str, Any]:
        if not isinstance(result, dict):
            raise NodeExecutionError(
                f"code node {self.node_id!r}: main() must return a dict of the outputs, "
                f"got {describe_value(result)}",
                node_id=self.node_id,
            )
        outputs: dict[str, Any] = {}
        for name, kind in self.config.outputs.items():
            if name not in result:
                raise NodeExecutionError(
                    f"code node {self.node_id!r}: main() returned no output {name!r}",
                    node_id=self.node_id,
                    details={"key": name},
                )
            value = result[name]
            if not value_matches(kind, value):
                raise NodeExecutionError(
                    f"code node {self.node_id!r}: output {name!r} must be {kind.value}, "
                    f"got {describe_value(value)}",
                    node_id=self.node_id,
                    details={"key": name},
                )
            outputs[name] = value
        return outputs
