"""`TemplateNodeV2`: Jinja2 (sandboxed) over its inputs -> ``text``.

{"id": "fmt", "type": "template", "config": {"template": "Hello {{ name }}!"},
 "inputs": {"name": {"selector": ["start", "query"]}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from snapagent.nodes.templating import render, template_variables
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType

__all__ = ["TemplateNodeData", "TemplateNodeV2"]


class TemplateNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: str = Field(
        max_length=100_000,
        description="Jinja2 text; every variable it reads becomes an input port.",
    )


class TemplateNodeV2(BaseNodeV2[TemplateNodeData]):
    """Renders its template; every variable the template reads is an input port."""

    type_key = "template"
    config_model = TemplateNodeData
    title = "Template"
    category = "transform"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {"template": ""}
    description = "Render a Jinja2 template over the inputs."

    def port_schema(self) -> NodePortSchema:
        names = template_variables(self.config.template, field="config.template")
        return NodePortSchema(
            inputs=tuple(PortDefinition(name=n) for n in names),
            outputs=(PortDefinition(name="text", type=PortType.STRING),),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        return {"text": await render(ctx, self.config.template, inputs, node_id=self.node_id)}
