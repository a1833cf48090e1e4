"""`VariableAssignerNodeV2`: write conversation variables (kept per chat session).

    {"id": "remember", "type": "variable_assigner",
     "config": {"items": [
        {"variable": "topics", "operation": "append", "input": "topic"},
        {"variable": "turns", "operation": "increment", "value": 1},
        {"variable": "language", "operation": "overwrite", "value": "ko"}]},
     "inputs": {"topic": {"selector": ["classify", "class_name"]}}}

Operations: ``overwrite`` (the value), ``append`` (one item to a list), ``extend`` (every item
of a list), ``clear`` (back to empty: ``""``, ``0``, ``false``, ``[]``, ``{}`` or null by the
variable's type), ``increment`` (add a number; default 1). The value comes from the item's
``input`` port when it names one, else from its constant ``value``. Values are checked against
the variable's declared type; the items apply in order. Output ``written``: every write,
also in the run's record (and `WorkflowRunResult.conversation_writes`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from snapagent.errors import NodeExecutionError
from snapagent.workflow.conversation import ConversationVariable
from snapagent.workflow.node import BaseNodeV2, RunContext
from snapagent.workflow.schema import NodePortSchema, PortDefinition
from snapagent.workflow.types import PortType
from snapagent.workflow.values import coerce_value

__all__ = ["AssignItem", "VariableAssignerNodeData", "VariableAssignerNodeV2"]

Operation = Literal["overwrite", "append", "extend", "clear", "increment"]
_LISTS = frozenset(
    {PortType.ARRAY_STRING, PortType.ARRAY_NUMBER, PortType.ARRAY_OBJECT, PortType.ANY}
)
_NUMBERS = frozenset({PortType.NUMBER, PortType.INTEGER, PortType.ANY})
_ITEM_OF = {
    PortType.ARRAY_STRING: PortType.STRING,
    PortType.ARRAY_NUMBER: PortType.NUMBER,
    PortType.ARRAY_OBJECT: PortType.OBJECT,
}
_EMPTY: dict[PortType, Any] = {
    PortType.STRING: "",
    PortType.NUMBER: 0,
    PortType.INTEGER: 0,
    PortType.BOOLEAN: False,
    PortType.OBJECT: {},
    PortType.ARRAY_STRING: [],
    PortType.ARRAY_NUMBER: [],
    PortType.ARRAY_OBJECT: [],
}


class AssignItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    variable: str = Field(min_length=1, max_length=64, description="The conversation variable.")
    operation: Operation = Field(
        default="overwrite",
        description="overwrite, append (one item), extend (a list), clear, increment.",
    )
    input: str | None = Field(
        default=None,
        pattern=r"^[^\W\d]\w*$",
        description="The input port giving the value (empty: use 'value').",
    )
    value: Any = Field(default=None, description="The constant value when no input is named.")


class VariableAssignerNodeData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[AssignItem] = Field(
        min_length=1, max_length=32, description="The writes, applied in order."
    )

    @model_validator(mode="after")
    def _values(self) -> VariableAssignerNodeData:
        for item in self.items:
            if item.operation == "clear" and (item.input or item.value is not None):
                raise ValueError(f"clearing {item.variable!r} takes no value")
        return self


class VariableAssignerNodeV2(BaseNodeV2[VariableAssignerNodeData]):
    """Writes conversation variables; outputs ``written`` (the writes, in order)."""

    type_key = "variable_assigner"
    config_model = VariableAssignerNodeData
    title = "Variable assigner"
    category = "transform"
    dynamic_ports = True
    default_config: ClassVar[Mapping[str, Any]] = {
        "items": [{"variable": "name", "operation": "overwrite", "input": "value"}]
    }
    description = "Write conversation variables: overwrite, append, extend, clear, increment."

    def port_schema(self) -> NodePortSchema:
        names = sorted({item.input for item in self.config.items if item.input})
        return NodePortSchema(
            inputs=tuple(PortDefinition(name=n) for n in names),
            outputs=(PortDefinition(name="written", type=PortType.ARRAY_OBJECT),),
        )

    def check_conversation(
        self, declared: Mapping[str, ConversationVariable]
    ) -> list[tuple[str, str]]:
        problems = []
        for i, item in enumerate(self.config.items):
            where = f"config.items[{i}]"
            variable = declared.get(item.variable)
            if variable is None:
                names = ", ".join(sorted(declared)) or "none"
                message = f"no conversation variable {item.variable!r} (declared: {names})"
                problems.append((f"{where}.variable", message))
            elif item.operation in ("append", "extend") and variable.type not in _LISTS:
                message = f"{item.operation} needs a list, but {item.variable!r} is {variable.type}"
                problems.append((f"{where}.operation", message))
            elif item.operation == "increment" and variable.type not in _NUMBERS:
                message = f"increment needs a number, but {item.variable!r} is {variable.type}"
                problems.append((f"{where}.operation", message))
        return problems

    def _new_value(
        self, item: AssignItem, variable: ConversationVariable, current: Any, given: Any
    ) -> Any:
        kind = variable.type
        if item.operation == "clear":
            return _EMPTY.get(kind)
        if item.operation == "overwrite":
            return coerce_value(kind, given) if given is not None else None
        if item.operation == "increment":
            step = coerce_value(PortType.NUMBER, 1 if given is None else given)
            total = coerce_value(PortType.NUMBER, current or 0) + step
            return coerce_value(kind, total) if kind is PortType.INTEGER else total
        items = list(current) if isinstance(current, list) else []
        item_kind = _ITEM_OF.get(kind, PortType.ANY)
        if item.operation == "append":
            return [*items, coerce_value(item_kind, given)]
        return [*items, *coerce_value(kind, given if isinstance(given, list) else [given])]

    async def run(self, inputs: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        state = ctx.conversation
        current = dict(state.values)  # applied only once every item has its value: all or none
        written = []
        for i, item in enumerate(self.config.items):
            variable = state.declared.get(item.variable)
            if variable is None:  # validation prevents it; a graph run without it cannot
                raise NodeExecutionError(
                    f"node {self.node_id!r}: no conversation variable {item.variable!r}",
                    node_id=self.node_id,
                )
            given = inputs.get(item.input) if item.input else item.value
            try:
                value = self._new_value(item, variable, current.get(item.variable), given)
            except ValueError as exc:
                raise NodeExecutionError(
                    f"node {self.node_id!r}: items[{i}] ({item.operation} {item.variable!r}): "
                    f"the value {exc}",
                    node_id=self.node_id,
                ) from None
            current[item.variable] = value
            written.append({"variable": item.variable, "operation": item.operation, "value": value})
        for write in written:
            state.write(self.node_id, write["variable"], write["operation"], write["value"])
        return {"written": written}
