"""`QuestionClassifierNodeV2`: a model picks one of ``classes`` for ``query`` and the run
follows that class's branch port.

    {"id": "route", "type": "question_classifier",
     "config": {"model": "offline",
                "classes": [{"id": "billing", "name": "billing, invoices and refunds"},
                            {"id": "tech", "name": "technical problems and errors"},
                            {"id": "other", "name": "anything else"}]},
     "inputs": {"query": {"selector": ["start", "query"]}}}
    {"source": "route", "source_port": "billing", "target": "billing_llm"}

The model answers through its native structured output, choosing among the class *names*
(what it can understand); an answer that names no class is matched loosely (case, id, a name
inside the text) and otherwise fails the node - its error strategy decides what happens
(``default_value`` takes the last class's branch). Outputs: ``class_name``, ``class_id``,
``usage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snapagent.errors import NodeExecutionError
from snapagent.nodes.model_calls import QUERY_PORT, ModelSettings, ask_structured, decision_inputs
from snapagent.workflow.node import BaseNodeV2, NodeResult, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.services import StructuredOutput
from snapagent.workflow.types import PortType

__all__ = ["ClassSpec", "QuestionClassifierNodeData", "QuestionClassifierNodeV2"]

_RESERVED_BRANCHES = frozenset({"fail"})
_TASK = (
    "You classify the user's text into exactly one of the given classes. Answer with the class "
    "name exactly as written."
)


class ClassSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        pattern=r"^[A-Za-z0-9_\-]{1,64}$",
        description="The branch port of this class (letters, digits, _ and -).",
    )
    name: str = Field(
        min_length=1,
        max_length=500,
        description="What the class covers, in words the model understands.",
    )


class QuestionClassifierNodeData(ModelSettings):
    classes: list[ClassSpec] = Field(
        min_length=1, max_length=50, description="The classes, each with its own branch port."
    )

    @model_validator(mode="after")
    def _unique(self) -> QuestionClassifierNodeData:
        ids = [c.id for c in self.classes]
        names = [c.name.strip().casefold() for c in self.classes]
        if len(set(ids)) != len(ids):
            raise ValueError("class ids must be unique")
        if len(set(names)) != len(names):
            raise ValueError("class names must be unique")
        reserved = _RESERVED_BRANCHES & set(ids)
        if reserved:
            raise ValueError(f"class id {sorted(reserved)[0]!r} is reserved (the fail branch)")
        return self


def _match(answer: str, classes: list[ClassSpec]) -> ClassSpec | None:
    wanted = answer.strip().strip("\"'.").casefold()
    for spec in classes:
        if wanted in (spec.name.strip().casefold(), spec.id.casefold()):
            return spec
    inside = [c for c in classes if c.name.strip().casefold() in answer.casefold()]
    return max(inside, key=lambda c: len(c.name)) if inside else None


class QuestionClassifierNodeV2(BaseNodeV2[QuestionClassifierNodeData]):
    """Routes on the class a model picks; one branch port per class id."""

    type_key = "question_classifier"
    config_model = QuestionClassifierNodeData
    title = "Question classifier"
    category = "model"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "classes": [{"id": "class_1", "name": "first topic"}, {"id": "other", "name": "other"}]
    }
    description = "A model picks one of the classes for the query; each class is a branch."

    def port_schema(self) -> NodePortSchema:
        return NodePortSchema(
            inputs=decision_inputs(self.config),
            outputs=(
                PortDefinition(name="class_name", type=PortType.STRING),
                PortDefinition(name="class_id", type=PortType.STRING),
                PortDefinition(name="usage", type=PortType.OBJECT),
            ),
            branches=tuple(c.id for c in self.config.classes),
        )

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
        classes = self.config.classes
        names = [c.name for c in classes]
        listing = "\n".join(f"- {name}" for name in names)
        schema = {
            "type": "object",
            "properties": {
                "class_name": {
                    "type": "string",
                    "enum": names,
                    "description": "The class that fits the text best.",
                }
            },
            "required": ["class_name"],
        }
        result = await ask_structured(
            self.config,
            ctx,
            inputs,
            node_id=self.node_id,
            task=_TASK,
            prompt=f"Classes:\n{listing}\n\nText: {inputs.get(QUERY_PORT)}",
            output=StructuredOutput("classification", schema, "The chosen class."),
        )
        answer = result.data.get("class_name") if result.data is not None else None
        chosen = _match(str(answer) if answer is not None else result.text, classes)
        if chosen is None:
            said = str(answer) if answer is not None else result.text
            raise NodeExecutionError(
                f"node {self.node_id!r}: the model answered {said[:200]!r}, which is none of "
                f"the classes ({', '.join(names)})",
                node_id=self.node_id,
            )
        outputs = {
            "class_name": chosen.name,
            "class_id": chosen.id,
            "usage": result.usage.to_dict(),
        }
        return NodeResult(outputs, branch=chosen.id, usage=result.usage)
